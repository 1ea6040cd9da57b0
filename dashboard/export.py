"""The one place that turns a selection into bytes: the layouts of SPEC 3 as one table.

``LAYOUTS`` says, for each layout, what its count counts, how it is written, its file suffix,
what the preview shows and whether a background job makes it. ``ExportQuery`` is a
``Selection`` (the options, their filters, the counts and the streams of
``dashboard.query``) with that table applied: ``tables()`` yields the layout's rows in chunks
exactly as they will be written; the preview stops after the first rows, a download writes
them all (``write``). The dashboard, the notebooks, the command line, the jobs and the HTTP
route all use this class. Adding a layout is one ``LAYOUTS`` entry and its producer.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import param
import pyarrow as pa

from dashboard.errors import InvalidOptionError
from dashboard.produce.annotated import write_annotated_zip
from dashboard.produce.archive import preview_member_names, write_files_zip
from dashboard.produce.drawing import UndecodableImageError, draw_image, preview_image
from dashboard.produce.tables import spreadsheet_safe, spreadsheet_safe_schema, wide_table
from dashboard.produce.writers import write_csv, write_parquet
from dashboard.query import sql
from dashboard.query.selection import Choices, InScope, Selection
from dashboard.spec.geometry import parse_wkt
from dashboard.spec.naming import leading_safe, safe_part
from dashboard.spec.options import ACTION_LABELS, Layout, Scope
from dashboard.spec.records import AnnotatedItem
from dashboard.spec.schemas import LONG_SCHEMA, wide_schema

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made (frame, preview)
    import pandas as pd

__all__ = [
    "LAYOUTS",
    "Choices",
    "Counts",
    "ExportQuery",
    "Preview",
    "UndecodableImageError",
    "content_type",
]

Progress = Callable[[int, int], None]
Skipped = Callable[[dict[str, Any]], None]  # a file an archive skipped, as its manifest lists it
ZIP_MEMBER_OVERHEAD = 200  # bytes per member: headers, central directory, manifest entry
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "zip": "application/zip",
}


@dataclass(frozen=True)
class Counts:
    files: int
    assessments: int
    entities: int
    annotations: int
    attribute_values: int
    rows: int  # rows of the chosen layout (long or wide); members for the file layouts
    file_bytes: int  # original bytes of the files in scope


@dataclass(frozen=True)
class TableShape:
    """A table layout: its columns for the workflow's attributes, and its rows from the long
    table of a chunk of files (complete entity blocks)."""

    schema: Callable[[Sequence[str]], pa.Schema]
    from_long: Callable[[pa.Table, Sequence[str]], pa.Table]


@dataclass(frozen=True)
class LayoutKind:
    """What one layout is (SPEC 3.1-3.5)."""

    layout: Layout
    counted: str  # what ``Counts.rows`` counts, as the preview says it
    rows: Callable[[InScope, Scope], int]  # rows (tables) or members (archives)
    write: Callable[[ExportQuery, BinaryIO, Progress | None, Skipped | None], int]
    preview: str  # what the preview shows: "table", "members" or "drawn"
    table: TableShape | None = None  # None: a ZIP archive
    in_background: bool = False  # a job makes it; its link fetches the job's file
    needs_order: bool = False

    @property
    def action(self) -> str:
        return ACTION_LABELS[self.layout]

    def suffix(self, table_format: str) -> str:
        return table_format if self.table is not None else "zip"

    def progress_total(self, counts: Counts) -> int:
        """What a write's ``progress(done, total)`` counts to: files, or drawn images."""
        return counts.rows if self.preview == "drawn" else counts.files


def _write_table(
    query: ExportQuery, out: BinaryIO, progress, _skipped, table_format: str | None = None
) -> int:
    """The table layout in ``table_format`` (the query's own format by default)."""
    table_format = table_format or query.format
    writer = write_parquet if table_format == "parquet" else write_csv
    tables = query.tables(progress=progress, table_format=table_format)
    return writer(tables, out, query.schema_for(table_format))


def _write_files_zip(query: ExportQuery, out: BinaryIO, progress, skipped) -> int:
    from dashboard import __version__

    summary = write_files_zip(
        list(query.file_records()),
        query.store.files,
        out,
        filters=query.manifest_filters(),
        tool_version=__version__,
        progress=(lambda done, total: progress(done, total or 0)) if progress else None,
        skipped=skipped,
    )
    return summary.members


def _write_annotated_zip(
    query: ExportQuery, out: BinaryIO, progress, skipped, workers: int | None = None
) -> int:
    from dashboard import __version__

    return write_annotated_zip(
        query.annotated_items(),
        query.store.files,
        out,
        filters=query.manifest_filters(),
        tool_version=__version__,
        with_stage=Scope(query.scope) is Scope.all,
        total=query.counts().rows,
        progress=progress,
        workers=workers,
        skipped=skipped,
    )


LAYOUTS: dict[Layout, LayoutKind] = {
    kind.layout: kind
    for kind in (
        LayoutKind(
            Layout.long,
            "rows",
            lambda n, _scope: 2 * n.annotations + n.attribute_values + n.empty_assessments,
            _write_table,
            "table",
            TableShape(lambda _names: LONG_SCHEMA, lambda long, _names: long),
        ),
        LayoutKind(
            Layout.wide,
            "rows",
            lambda n, _scope: n.annotations + n.bare_entities + n.empty_assessments,
            _write_table,
            "table",
            TableShape(wide_schema, wide_table),
        ),
        LayoutKind(
            Layout.files, "files in the ZIP", lambda n, _s: n.files, _write_files_zip, "members"
        ),  # fmt: skip
        LayoutKind(
            Layout.annotated,
            "drawn images in the ZIP",
            lambda n, scope: (
                n.files if scope is Scope.latest else n.assessments + n.files_without_assessment
            ),
            _write_annotated_zip,
            "drawn",
            in_background=True,
            needs_order=True,
        ),
    )
}


def content_type(filename: str) -> str:
    """The HTTP content type of a download, by its suffix."""
    return CONTENT_TYPES.get(filename.rsplit(".", 1)[-1], "application/octet-stream")


@dataclass(frozen=True)
class Preview:
    """What the Admin tab's preview shows, all of it from the code path of the download."""

    kind: LayoutKind
    counts: Counts
    size: int  # the download's estimated bytes
    frame: pd.DataFrame | None = None  # "table": the first rows, as written
    members: list[tuple[str, int]] | None = None  # "members": (member name, bytes), in order
    items: list[AnnotatedItem] | None = None  # "drawn": the first images


@dataclass(frozen=True)
class ZoomImage:
    """A drawn image to zoom and hover: the picture (JPEG) and, per annotation, its shape in
    the full image's pixel coordinates (SPEC 2) with the text its hover shows."""

    jpeg: bytes
    width: int
    height: int
    shapes: list[dict[str, Any]]  # points, annotation_id, entity, object_class, ...


class ExportQuery(Selection):
    """An export of one workflow with the options of the Export panel."""

    format = param.Selector(objects=["csv", "parquet"], default="csv", doc="Table file format.")
    spreadsheet_safe = param.Boolean(
        default=True, doc="Prefix ' to text cells a spreadsheet would run as a formula."
    )

    @property
    def kind(self) -> LayoutKind:
        """The chosen layout's entry of ``LAYOUTS``."""
        return LAYOUTS[Layout(self.layout)]

    def _resolve(self) -> tuple[sql.Filters, list[str]]:
        resolved = super()._resolve()
        if self.kind.needs_order and self.order is None:
            orders = ", ".join(self.choices().orders) or "(none)"
            raise InvalidOptionError(
                f"Annotated Files needs a workflow order: choose one of {orders}"
            )
        return resolved

    def counts(self) -> Counts:
        """What the export holds; cached until data is added to the store."""
        n = self.in_scope()
        rows = self.kind.rows(n, Scope(self.scope))
        return Counts(
            n.files, n.assessments, n.entities, n.annotations, n.attribute_values, rows,
            n.file_bytes,
        )  # fmt: skip

    # -- tables -----------------------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        """The table's columns as written in the chosen format."""
        return self.schema_for(self.format)

    def schema_for(self, table_format: str) -> pa.Schema:
        """The table's columns as written in ``table_format``: CSV with spreadsheet safety
        escapes header cells (attribute names come from data) by the rule of its cells."""
        if self.kind.table is None:
            raise InvalidOptionError(f"layout {self.layout} is not a table layout")
        schema = self.kind.table.schema(self.attribute_names)
        return spreadsheet_safe_schema(schema) if self._escapes_cells(table_format) else schema

    def _escapes_cells(self, table_format: str) -> bool:
        return table_format == "csv" and self.spreadsheet_safe

    def tables(
        self,
        limit: int | None = None,
        progress: Progress | None = None,
        table_format: str | None = None,
    ) -> Iterator[pa.Table]:
        """The chosen table layout in chunks, exactly as it will be written (in
        ``table_format``, the chosen format by default).

        ``limit`` stops after that many rows (the preview); ``progress(done, total)`` is
        called with files done after each chunk.
        """
        shape = self.kind.table
        if shape is None:
            raise InvalidOptionError(
                f"layout {Layout(self.layout).value!r} is a file archive, not a table: "
                "use write_zip()"
            )
        table_format = table_format or self.format
        escapes = self._escapes_cells(table_format)
        attribute_names = self.attribute_names
        names = self.schema_for(table_format).names
        emitted = 0
        with closing(self.long_tables(bulk=limit is None)) as chunks:
            for done, total, long in chunks:
                if long is not None:
                    table = shape.from_long(long, attribute_names)
                    if escapes:
                        table = spreadsheet_safe(table).rename_columns(names)
                    if limit is not None and emitted + table.num_rows >= limit:
                        yield table.slice(0, limit - emitted)
                        return
                    emitted += table.num_rows
                    if table.num_rows:
                        yield table
                if progress:
                    progress(done, total)

    def sample(self, n: int = 200) -> list[pa.Table]:
        """The first ``n`` rows as Arrow tables: what the preview shows and sizes from."""
        return list(self.tables(limit=n))

    def preview(self, n: int = 20, sample: list[pa.Table] | None = None) -> pd.DataFrame:
        """The first ``n`` rows of exactly what the download will contain."""
        return _frame(self.sample(n) if sample is None else sample, self.schema)

    def frame(self) -> pd.DataFrame:
        """The whole table as a pandas DataFrame, for interactive use (not for downloads)."""
        return _frame(list(self.tables()), self.schema)

    # -- writing ----------------------------------------------------------------------------

    def write(
        self,
        target: str | Path | BinaryIO,
        progress: Progress | None = None,
        skipped: Skipped | None = None,
    ) -> int:
        """Write the chosen layout in the chosen format, in the foreground; returns rows or
        members written. ``skipped(entry)`` hears of each file an archive could not include
        (as the manifest lists it).

        The dashboard runs Annotated Files as a background job (dashboard.jobs) instead.
        """
        text = self.kind.table is not None and self.format == "csv"
        with _open_target(target, text=text) as out:
            return self.kind.write(self, out, progress, skipped)

    def write_csv(
        self, target: str | Path | BinaryIO | TextIO, progress: Progress | None = None
    ) -> int:
        """Write the table layout as CSV to a path, a binary stream or a text stream (e.g.
        ``io.StringIO``, which gets the same text decoded); returns rows written. The query's
        options, its format included, stay as they are."""
        self._require_table("write_csv")
        with _open_target(target, text=True) as out:
            return _write_table(self, out, progress, None, "csv")

    def write_parquet(self, target: str | Path | BinaryIO, progress: Progress | None = None) -> int:
        """Write the table layout as Parquet; the query's options stay as they are."""
        self._require_table("write_parquet")
        with _open_target(target) as out:
            return _write_table(self, out, progress, None, "parquet")

    def write_zip(
        self,
        target: str | Path | BinaryIO,
        progress: Progress | None = None,
        skipped: Skipped | None = None,
    ) -> int:
        """Write the Files ZIP (SPEC 3.4): original bytes plus manifest; returns members."""
        if Layout(self.layout) is not Layout.files:
            raise InvalidOptionError(
                f"write_zip writes the Files layout; this query's layout is {self.layout!r}"
            )
        return self.write(target, progress, skipped)

    def write_annotated_zip(
        self,
        target: str | Path | BinaryIO,
        progress: Progress | None = None,
        workers: int | None = None,
        skipped: Skipped | None = None,
    ) -> int:
        """Write the Annotated Files ZIP (SPEC 3.5); returns the number of images written.
        ``workers``: drawing processes (default: the CPU cores)."""
        if Layout(self.layout) is not Layout.annotated:
            raise InvalidOptionError(
                f"write_annotated_zip writes Annotated Files; this query's layout is "
                f"{self.layout!r}"
            )
        with _open_target(target) as out:
            return _write_annotated_zip(self, out, progress, skipped, workers)

    def _require_table(self, method: str) -> None:
        if self.kind.table is None:
            raise InvalidOptionError(
                f"layout {Layout(self.layout).value!r} is a file archive, not a table: "
                f"{method} writes tables; use write_zip()"
            )

    # -- what the download is called and how big it is --------------------------------------

    def options(self) -> dict[str, object]:
        """Every option as plain values: ``ExportQuery(store, **query.options())`` is equal."""
        return {
            **self.manifest_filters(),
            "format": self.format,
            "spreadsheet_safe": self.spreadsheet_safe,
        }

    def filename(self, now: datetime | None = None) -> str:
        """The download's name: workflow, layout and UTC time, e.g. w_long_20261128T180701Z.csv."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        stamp = f"{now:%Y%m%dT%H%M%SZ}"
        suffix = self.kind.suffix(self.format)
        return leading_safe(
            f"{safe_part(self.workflow)}_{Layout(self.layout).value}_{stamp}.{suffix}"
        )

    def estimated_bytes(self, counts: Counts | None = None, sample: list | None = None) -> int:
        """The download's size: tables from the exact bytes of the first rows, archives from
        the files' bytes plus ZIP overhead (for Annotated Files the drawn size differs)."""
        counts = counts or self.counts()
        if self.kind.table is None:
            return counts.file_bytes + ZIP_MEMBER_OVERHEAD * counts.rows
        sample = self.sample() if sample is None else sample
        rows = sum(table.num_rows for table in sample)
        buffer = io.BytesIO()
        write_csv(sample, buffer, self.schema)
        header = len(bytes(buffer.getbuffer()).split(b"\n", 1)[0]) + 1
        if rows == 0:
            return header
        return header + round((buffer.tell() - header) / rows * counts.rows)

    # -- the preview ------------------------------------------------------------------------

    def preview_content(self, rows: int = 200, images: int = 6) -> Preview:
        """What the preview shows for the current options: the counts and size, then the
        first ``rows`` rows (tables) or members (Files), or the first ``images`` images."""
        counts = self.counts()
        kind = self.kind
        if kind.preview == "table":
            sample = self.sample(rows)
            size = self.estimated_bytes(counts, sample)
            return Preview(kind, counts, size, frame=self.preview(rows, sample))
        size = self.estimated_bytes(counts)
        if kind.preview == "members":
            members = preview_member_names(self.file_records(), rows)
            return Preview(kind, counts, size, members=members)
        return Preview(kind, counts, size, items=list(self.annotated_items(limit=images)))

    def thumbnail(self, item: AnnotatedItem, longest: int) -> bytes:
        """One image of the Annotated Files ZIP drawn at most ``longest`` pixels a side, as
        a JPEG; raises UndecodableImageError for bytes that are missing or not an image."""
        image, (width, _) = preview_image(self._image_bytes(item), longest)
        drawn = draw_image(image, item.overlays, max_size=longest, displayed_width=width)
        return _jpeg(drawn)

    def zoom_image(self, item: AnnotatedItem, longest: int) -> ZoomImage:
        """The picture of one image (at most ``longest`` pixels a side) and its annotations'
        shapes, with each one's entity, class, confidence and attribute values."""
        image, (width, height) = preview_image(self._image_bytes(item), longest)
        details = self.annotation_details(item.record.file_id, item.assessment_id)
        shapes = []
        for overlay in item.overlays:
            info = details.get(overlay.annotation_id, {})
            confidence = overlay.confidence
            shapes.append(
                {
                    "points": parse_wkt(overlay.geometry).points,
                    "annotation_id": overlay.annotation_id,
                    "entity": info.get("entity_id", ""),
                    "object_class": overlay.object_class,
                    "confidence": "" if confidence is None else f"{confidence:.2f}",
                    "attributes": info.get("attributes", ""),
                    "colour": overlay.colour or "#ffffff",
                }
            )
        return ZoomImage(_jpeg(image), width, height, shapes)

    def _image_bytes(self, item: AnnotatedItem) -> bytes:
        if not item.record.storage_key:
            raise UndecodableImageError("no image bytes are stored for this file")
        try:
            return self.store.files.read(item.record.storage_key)
        except OSError as exc:
            raise UndecodableImageError(f"the image bytes cannot be read: {exc}") from exc


def _jpeg(image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _frame(tables: list[pa.Table], schema: pa.Schema) -> pd.DataFrame:
    import pandas as pd

    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return table.to_pandas(types_mapper=pd.ArrowDtype)


@contextmanager
def _open_target(target: str | Path | BinaryIO | TextIO, text: bool = False) -> Iterator[BinaryIO]:
    """A binary stream for ``target``: a path is opened, a text stream (CSV only) is fed
    decoded UTF-8, a binary stream is used as it is."""
    if isinstance(target, str | Path):
        with open(target, "wb") as out:
            yield out
    elif isinstance(target, io.TextIOBase):
        if not text:
            raise InvalidOptionError(
                "Parquet and ZIP archives are binary: write them to a path or a binary "
                "stream (open(path, 'wb'), io.BytesIO(), sys.stdout.buffer)"
            )
        sink = _TextSink(target)
        yield sink
        sink.finish()
    else:
        with nullcontext(target) as out:
            yield out


class _TextSink(io.RawIOBase):
    """Binary writes (UTF-8) passed on to a text stream as text."""

    def __init__(self, text: TextIO) -> None:
        super().__init__()
        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._text.write(self._decoder.decode(bytes(data)))
        return len(data)

    def finish(self) -> None:
        self._text.write(self._decoder.decode(b"", final=True))
