"""ZIP archives of data files: member naming (SPEC 3.4) and a streaming ZIP writer.

A pure producer: it takes :class:`~dashboard.spec.records.FileRecord` objects and a
:class:`~dashboard.store.files.FileStorage` and writes bytes to a binary stream. No SQL,
no UI.

Naming (SPEC 3.4, 3.5) and uniqueness are :mod:`dashboard.spec.naming`'s.

Archive format
    The output stream is only ever written to (never seeked or read), so a pipe, a socket
    or an HTTP response body works; every archive is therefore written with data
    descriptors, and identical inputs give identical bytes whatever the stream is.
    Member times are fixed (1980-01-01 by default), permissions 0644, creator "Unix".
    Images and other already-compressed formats are ZIP_STORED; other members and
    ``manifest.json`` are ZIP_DEFLATED. ZIP64 is used for members whose size is unknown
    or above 1 GiB, and for the central directory whenever needed.

Faults (SPEC 7)
    Up to ``read_ahead`` bytes (8 MiB) of each file are read before its member is
    started, so a missing or unreadable file (or any file that fails within its first
    8 MiB) never creates a member: it is skipped and listed under ``unreadable`` in the
    manifest, and the export goes on. A larger file that fails after its member was
    started cannot be taken back on a stream: the writer stops, writes nothing more (no
    central directory, so every ZIP reader reports the archive as broken) and raises
    :class:`ArchiveIncompleteError`. An archive is therefore either complete, with a
    manifest that lists what is missing, or visibly broken.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from dashboard.errors import AssessError
from dashboard.spec.naming import clash_key, record_member_name, suffix_of, unique_names
from dashboard.spec.records import FileRecord
from dashboard.store.files import FileStorage
from dashboard.streams import InlineExecutor, window

__all__ = [
    "CHUNK",
    "MANIFEST_NAME",
    "TOOL_NAME",
    "ArchiveIncompleteError",
    "MemberInfo",
    "ZipStreamWriter",
    "ZipSummary",
    "files_members",
    "is_compressible",
    "preview_member_names",
    "manifest",
    "write_files_zip",
]

TOOL_NAME = "assessment-export-dashboard"
MANIFEST_NAME = "manifest.json"
CHUNK = 1 << 20
READ_AHEAD = 8 << 20
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Members declared larger than this (or of unknown size) get ZIP64 headers. Well below
# zipfile's 2 GiB limit, so a somewhat wrong declared size still cannot break a member.
ZIP64_THRESHOLD = 1 << 30

# Formats that are already compressed: DEFLATE costs ~35x the time for <1% (PERF-NOTES).
STORED_SUFFIXES = frozenset(
    {
        *("jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "avif", "heic", "heif", "jxl"),
        *("jp2", "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar"),
        *("mp4", "m4v", "mov", "webm", "mkv", "avi", "mp3", "m4a", "aac", "ogg", "opus", "flac"),
    }
)
# image/* types that are not compressed (or are text) and do shrink under DEFLATE.
COMPRESSIBLE_IMAGE_TYPES = frozenset({"image/svg+xml", "image/bmp", "image/x-ms-bmp"})


class ArchiveIncompleteError(AssessError, OSError):
    """The archive could not be completed; what was written so far is not a valid ZIP."""


# --------------------------------------------------------------------------- naming


def files_members(records: Iterable[FileRecord]) -> Iterator[tuple[FileRecord, str]]:
    """Each record with its unique member name, in input order (Files layout)."""
    first, second = itertools.tee(records)
    names = unique_names(map(record_member_name, first), reserved=(MANIFEST_NAME,))
    return zip(second, names, strict=True)


def preview_member_names(records: Iterable[FileRecord], limit: int) -> list[tuple[str, int]]:
    """``(member name, byte size)`` of the first ``limit`` members, exactly as exported.

    Names depend only on the records before them, so these are the first names of the full
    archive (unreadable files aside, which are not known without reading their bytes).
    """
    return [
        (name, record.byte_size)
        for record, name in itertools.islice(files_members(records), max(limit, 0))
    ]


def is_compressible(file_name: str, content_type: str | None) -> bool:
    """False for images and other already-compressed formats (stored), True otherwise."""
    content_type = (content_type or "").split(";", 1)[0].strip().lower()
    if content_type in COMPRESSIBLE_IMAGE_TYPES:
        return True
    if content_type.startswith("image/"):
        return False
    return suffix_of(file_name).lower() not in STORED_SUFFIXES


# --------------------------------------------------------------------------- writing


class _Sink:
    """A write-only view of ``out`` that counts bytes and never seeks.

    It has ``tell()`` but no ``seek()``, so zipfile writes data descriptors instead of
    seeking back, whatever ``out`` is. After :meth:`discard` nothing more reaches ``out``.
    """

    def __init__(self, out: IO[bytes]) -> None:
        self._write = out.write
        self._flush = getattr(out, "flush", None)
        self.offset = 0
        self.discarding = False

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if not self.discarding:
            done = self._write(data)
            # A raw (unbuffered) stream may take only part of the data; None means all of it.
            if done is not None and done < size:
                view = memoryview(data).cast("B")
                while done is not None and done < view.nbytes:
                    if done <= 0:
                        raise OSError("the output stream accepted no bytes")
                    view = view[done:]
                    done = self._write(view)
        self.offset += size
        return size

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        if self._flush is not None and not self.discarding:
            self._flush()

    def discard(self) -> None:
        self.discarding = True


@dataclass(frozen=True)
class MemberInfo:
    """One member as written: its name, size and the sha256 of its bytes."""

    name: str
    byte_size: int
    sha256: str
    compressed: bool


class _Hasher:
    """sha256 on a helper thread, overlapping the main thread's CRC and write.

    hashlib and zlib.crc32 release the GIL on large buffers, so on two cores the hash is
    nearly free. Chunks are hashed in order; at most two are in flight.
    """

    def __init__(self, executor: ThreadPoolExecutor | None, initial=None) -> None:
        self._executor = executor
        self._hash = initial if initial is not None else hashlib.sha256()
        self._pending: list[Future] = []

    def update(self, chunk) -> None:
        # Only immutable bytes go to the thread: a reused buffer could change under it.
        if self._executor is None or type(chunk) is not bytes or len(chunk) < 65536:
            self._wait()
            self._hash.update(chunk)
            return
        if len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._executor.submit(self._hash.update, chunk))

    def _wait(self) -> None:
        while self._pending:
            self._pending.pop(0).result()

    def hexdigest(self) -> str:
        self._wait()
        return self._hash.hexdigest()


class ZipStreamWriter:
    """Writes a ZIP archive member by member to a write-only binary stream.

    ``out`` needs only ``write()`` (``flush()`` is used if present); it is never seeked,
    read or closed. Use :meth:`add_bytes` / :meth:`add_stream` for members, then
    :meth:`close` with the manifest (written last, as ``manifest.json``). On any error
    call :meth:`abort` (the context manager does): nothing more is written and the
    archive, lacking its central directory, is recognisably incomplete.
    """

    def __init__(
        self,
        out: IO[bytes],
        *,
        date_time: tuple[int, int, int, int, int, int] = FIXED_DATE_TIME,
        hash_thread: bool = True,
    ) -> None:
        self._sink = _Sink(out)
        self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_STORED, allowZip64=True)
        self._date_time = tuple(date_time)
        self._executor = ThreadPoolExecutor(1, "zip-sha256") if hash_thread else None
        self._names: set[str] = set()
        self._member = None
        self.closed = False

    @property
    def bytes_written(self) -> int:
        return self._sink.offset

    def __enter__(self) -> ZipStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self.closed:
            self.close()

    def _zinfo(self, name: str, compress: bool) -> zipfile.ZipInfo:
        if self.closed:
            raise ValueError("the archive is closed")
        if (
            not name
            or name.startswith("/")
            or name.endswith("/")
            or "\\" in name
            or ".." in name.split("/")
            or any(unicodedata.category(c) == "Cc" for c in name)
        ):
            raise ValueError(f"unsafe archive member name {name!r}")
        key = clash_key(name)
        if key in self._names:
            raise ValueError(f"duplicate archive member name {name!r}")
        self._names.add(key)
        zinfo = zipfile.ZipInfo(name, date_time=self._date_time)
        zinfo.create_system = 3  # Unix, on every platform: same bytes everywhere
        zinfo.external_attr = 0o100644 << 16
        zinfo.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        return zinfo

    def add_stream(
        self,
        name: str,
        chunks: Iterable[bytes],
        *,
        compress: bool,
        size_hint: int | None = None,
        sha256: bool = True,
    ) -> MemberInfo:
        """Add one member from an iterable of byte chunks; returns its size and sha256.

        ``sha256=False`` skips the hash (``MemberInfo.sha256`` is then ``""``) for callers
        that hash the bytes themselves.

        ``size_hint`` (the expected size) only chooses the header format: ZIP64 if unknown
        (None or negative) or above 1 GiB. An error raised by ``chunks`` after the member was
        started aborts the archive and raises :class:`ArchiveIncompleteError`.
        """
        zinfo = self._zinfo(name, compress)
        force_zip64 = size_hint is None or size_hint < 0 or size_hint > ZIP64_THRESHOLD
        hasher = _Hasher(self._executor) if sha256 else None
        size = 0
        source = iter(chunks)
        try:
            self._member = self._zip.open(zinfo, "w", force_zip64=force_zip64)
            while True:
                try:
                    chunk = next(source)
                except StopIteration:
                    break
                except Exception as exc:
                    raise ArchiveIncompleteError(
                        f"reading the bytes of {name!r} failed after {size} bytes were "
                        f"written ({exc}); the archive is incomplete: run the export again"
                    ) from exc
                if hasher is not None:
                    hasher.update(chunk)
                self._member.write(chunk)
                size += len(chunk)
            digest = hasher.hexdigest() if hasher is not None else ""
            member, self._member = self._member, None
            member.close()
        except BaseException:
            self.abort()
            raise
        return MemberInfo(name, size, digest, compress)

    def add_bytes(self, name: str, data: bytes, *, compress: bool) -> MemberInfo:
        """Add one member from bytes in memory."""
        return self.add_stream(name, (data,), compress=compress, size_hint=len(data))

    def close(self, manifest: dict[str, Any] | None = None) -> int:
        """Write ``manifest`` as the last member (if given) and the central directory.

        Returns the number of bytes written. ``out`` is flushed, not closed.
        """
        if self.closed:
            raise ValueError("the archive is closed")
        if manifest is not None:
            text = json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n"
            self.add_bytes(MANIFEST_NAME, text.encode("utf-8"), compress=True)
        try:
            self._zip.close()
        except BaseException:
            self.abort()
            raise
        self.closed = True
        self._shutdown()
        return self.bytes_written

    def abort(self) -> None:
        """Stop: write nothing more to ``out`` (it is left without a central directory)."""
        self._sink.discard()
        member, self._member = self._member, None
        with contextlib.suppress(Exception):
            if member is not None:
                member.close()
        with contextlib.suppress(Exception):
            self._zip.close()
        self.closed = True
        self._shutdown()

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


# --------------------------------------------------------------------------- Files layout


@dataclass(frozen=True)
class ZipSummary:
    """What :func:`write_files_zip` wrote: member and unreadable counts, total bytes."""

    members: int
    unreadable: int
    bytes_written: int
    sha256_mismatches: int = 0


@dataclass
class _Loaded:
    """A file opened and read ahead (on the helper thread), or why it could not be."""

    record: FileRecord
    name: str
    head: list[bytes]
    handle: IO[bytes] | None  # None once the whole file is in ``head``
    sha256: Any  # a hashlib object over ``head``
    error: BaseException | None = None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _load(storage: FileStorage, record: FileRecord, name: str, limit: int) -> _Loaded:
    """Open a file, read up to ``limit`` bytes and hash them; errors are returned."""
    try:
        handle = storage.open(record.storage_key)
    except (OSError, ValueError) as exc:
        return _Loaded(record, name, [], None, None, exc)
    loaded = _Loaded(record, name, [], handle, hashlib.sha256())
    try:
        size = 0
        while size < limit:
            chunk = handle.read(CHUNK)
            if not chunk:
                loaded.close()
                break
            loaded.head.append(chunk)
            loaded.sha256.update(chunk)
            size += len(chunk)
    except (OSError, ValueError) as exc:
        loaded.close()
        return _Loaded(record, name, [], None, None, exc)
    except BaseException:
        loaded.close()
        raise
    return loaded


def _prefetch(
    members: Iterable[tuple[FileRecord, str]],
    storage: FileStorage,
    limit: int,
    executor: ThreadPoolExecutor | None,
) -> Iterator[_Loaded]:
    """:func:`_load` each member, one file ahead on ``executor``, yielding in order.

    The records are iterated on the calling thread (they may come from a database cursor).
    """
    ahead = 0 if executor is None else 1
    work = (
        (executor or InlineExecutor()).submit(_load, storage, record, name, limit)
        for record, name in members
    )
    # stopped early: whatever was opened ahead is closed
    with contextlib.closing(window(work, ahead, dropped=lambda f: f.result().close())) as loads:
        for future in loads:
            yield future.result()


def _rest(loaded: _Loaded, hasher: _Hasher) -> Iterator[bytes]:
    yield from loaded.head
    handle = loaded.handle
    if handle is not None:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            yield chunk


def manifest(
    layout: str,
    filters: dict[str, Any],
    tool_version: str,
    members: list[dict[str, Any]],
    unreadable: list[dict[str, Any]],
) -> dict[str, Any]:
    """The ``manifest.json`` of an archive (SPEC 3.4, 3.5): the tool, the options it was made
    with, every member in order and every file it could not include."""
    return {
        "tool": TOOL_NAME,
        "version": tool_version,
        "layout": layout,
        "filters": dict(sorted(filters.items())),
        "members": members,
        "unreadable": unreadable,
    }


def write_files_zip(
    records: Iterable[FileRecord],
    storage: FileStorage,
    out: BinaryIO,
    *,
    filters: dict[str, Any],
    tool_version: str,
    progress: Callable[[int, int | None], None] | None = None,
    date_time: tuple[int, int, int, int, int, int] = FIXED_DATE_TIME,
    read_ahead: int = READ_AHEAD,
    hash_thread: bool = True,
    skipped: Callable[[dict[str, Any]], None] | None = None,
) -> ZipSummary:
    """Stream the Files ZIP (SPEC 3.4) of ``records`` to ``out``; returns a summary.

    ``out`` needs only ``write()``. Members come in the order of ``records``, then
    ``manifest.json``. ``progress(done, total)`` is called once before the first file and
    after each file (``total`` is None when ``records`` has no length). Files whose bytes
    cannot be read are skipped and listed in the manifest (see the module docstring).

    A member's ``sha256`` in the manifest is that of the bytes written; if the store's
    recorded sha256 (or size) differs, the entry also has ``stored_sha256`` and
    ``"sha256_mismatch": true`` (or ``stored_byte_size``).

    With ``hash_thread`` (the default) one helper thread opens, reads ahead and hashes the
    next file while this thread writes the current one (storage reads, sha256 and CRC all
    release the GIL); the records themselves are only iterated on the calling thread.
    """
    total = len(records) if isinstance(records, Sized) else None
    members: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    mismatches = 0
    done = 0
    writer = ZipStreamWriter(out, date_time=date_time, hash_thread=hash_thread)
    with writer:
        if progress is not None:
            progress(0, total)
        loads = _prefetch(files_members(records), storage, max(read_ahead, 1), writer._executor)
        with contextlib.closing(loads):
            for loaded in loads:
                record, name = loaded.record, loaded.name
                if loaded.error is not None:
                    exc = loaded.error
                    unreadable.append(
                        {
                            "name": name,
                            "file_id": record.file_id,
                            "original_name": record.file_name,
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    )
                    if skipped is not None:
                        skipped(unreadable[-1])
                else:
                    hasher = _Hasher(writer._executor, loaded.sha256)
                    try:
                        info = writer.add_stream(
                            name,
                            _rest(loaded, hasher),
                            compress=is_compressible(record.file_name, record.content_type),
                            size_hint=record.byte_size,
                            sha256=False,
                        )
                    finally:
                        loaded.close()
                    digest = hasher.hexdigest()
                    entry: dict[str, Any] = {
                        "name": name,
                        "file_id": record.file_id,
                        "original_name": record.file_name,
                        "byte_size": info.byte_size,
                        "sha256": digest,
                    }
                    if record.sha256 and record.sha256.lower() != digest:
                        entry["stored_sha256"] = record.sha256
                        entry["sha256_mismatch"] = True
                        mismatches += 1
                    if record.byte_size != info.byte_size:
                        entry["stored_byte_size"] = record.byte_size
                    members.append(entry)
                done += 1
                if progress is not None:
                    progress(done, total)
        writer.close(manifest("files", filters, tool_version, members, unreadable))
    return ZipSummary(len(members), len(unreadable), writer.bytes_written, mismatches)
