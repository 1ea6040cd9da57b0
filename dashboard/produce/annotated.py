"""The Annotated Files ZIP (SPEC 3.5): each file of an order drawn with its annotations.

A pure producer: it takes ``AnnotatedItem``s (from ``ExportQuery.annotated_items``), reads the
original bytes, draws them in a pool of worker processes (both CPU cores) in order, and
writes a ZIP with the same naming and manifest rules as the Files ZIP
(``dashboard.produce.archive``).
A file whose bytes are missing or cannot be decoded is skipped and listed in the manifest.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, BinaryIO

from dashboard.errors import InvalidGeometryError, MissingImageError
from dashboard.produce.archive import MANIFEST_NAME, ZipStreamWriter, manifest
from dashboard.produce.drawing import (
    UndecodableImageError,
    draw_annotations,
    keep_freed_image_blocks,
)
from dashboard.spec.naming import record_member_name, unique_names
from dashboard.spec.records import AnnotatedItem, Overlay
from dashboard.store.files import FileStorage
from dashboard.streams import InlineExecutor, window

Progress = Callable[[int, int], None]


def _draw(data: bytes, overlays: tuple[Overlay, ...]) -> tuple[bytes, str]:
    return draw_annotations(data, overlays)


def _start_drawing_process(parent: int) -> None:
    """A drawing process's initializer: Pillow keeps freed image blocks, and the process ends
    when the process that started it is gone.

    A pool's processes wait on a queue whose write end they hold themselves, so a parent that
    was killed (SIGKILL, out of memory) would leave them waiting forever."""
    import threading

    keep_freed_image_blocks()
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _drawn(
    items: Iterable[AnnotatedItem], storage: FileStorage, workers: int
) -> Iterator[tuple[AnnotatedItem, bytes | None, Exception | None]]:
    """Items with their drawn bytes (or the error), in input order, a few in flight."""
    pool = (
        ProcessPoolExecutor(workers, initializer=_start_drawing_process, initargs=(os.getpid(),))
        if workers > 1
        else InlineExecutor()
    )

    def submitted() -> Iterator[tuple[AnnotatedItem, Future | None, Exception | None]]:
        for item in items:
            try:
                data = storage.read(item.record.storage_key) if item.record.storage_key else None
                if data is None:
                    raise MissingImageError("no image bytes are stored for this file")
                yield item, pool.submit(_draw, data, item.overlays), None
            except (OSError, ValueError) as exc:
                yield item, None, exc

    with pool, contextlib.closing(window(submitted(), 2 * workers)) as drawn:
        for entry in drawn:
            yield _result(entry)


def _result(entry) -> tuple[AnnotatedItem, bytes | None, Exception | None]:
    item, future, error = entry
    if future is None:
        return item, None, error
    try:
        return item, future.result()[0], None
    except (UndecodableImageError, InvalidGeometryError) as exc:
        return item, None, exc


def write_annotated_zip(
    items: Iterable[AnnotatedItem],
    storage: FileStorage,
    out: BinaryIO,
    *,
    filters: dict[str, Any],
    tool_version: str,
    with_stage: bool,
    total: int = 0,
    progress: Progress | None = None,
    workers: int | None = None,
    skipped: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Stream the Annotated Files ZIP to ``out``; returns the number of images written.
    ``skipped(entry)`` hears of each file that could not be drawn (as the manifest lists it)."""
    members: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    # Names are given in input order, as in the Files ZIP: a skipped file keeps its name.
    for_drawing, for_naming = itertools.tee(items)
    names = unique_names(
        (record_member_name(i.record, i.stage if with_stage else None) for i in for_naming),
        reserved=(MANIFEST_NAME,),
    )
    with ZipStreamWriter(out) as writer:
        drawn_items = _drawn(for_drawing, storage, workers or default_workers())
        for done, (item, drawn, error) in enumerate(drawn_items, start=1):
            name = next(names)
            entry = {
                "name": name,
                "file_id": item.record.file_id,
                "assessment_id": item.assessment_id,
                "stage": item.stage,
                "original_name": item.record.file_name,
            }
            if drawn is None:
                unreadable.append({**entry, "error": str(error)})
                if skipped is not None:
                    skipped(unreadable[-1])
            else:
                info = writer.add_bytes(name, drawn, compress=False)
                members.append({**entry, "byte_size": info.byte_size, "sha256": info.sha256})
            if progress is not None:
                progress(done, total)
        writer.close(manifest("annotated", filters, tool_version, members, unreadable))
    return len(members)
