"""The export query: SPEC section 3's options as params, and everything computed from them.

One code path serves the preview and the download: ``tables()`` yields the layout's rows in
chunks; the preview stops after the first rows, a download writes them all to a stream.
No Panel import here: the dashboard, the notebooks and the command line all use this class.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import param
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from dashboard.errors import InvalidOptionError, UnknownChoiceError
from dashboard.produce.annotated import write_annotated_zip
from dashboard.produce.tables import spreadsheet_safe, spreadsheet_safe_schema, wide_table
from dashboard.produce.writers import write_csv, write_parquet
from dashboard.query import sql
from dashboard.query.chunks import file_chunks, prefetched, read_long, record_chunks
from dashboard.query.reader import ArrowReader
from dashboard.spec.naming import leading_safe, safe_part
from dashboard.spec.options import LOCATION, OBJECT_CLASS, Layout, Scope
from dashboard.spec.records import AnnotatedItem, FileRecord, Overlay
from dashboard.spec.schemas import LONG_SCHEMA, wide_schema
from dashboard.store.db import Store
from dashboard.store.models import Case, DataFile, DataSource, StageKind, WorkflowOrder

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made (frame, preview)
    import pandas as pd

Progress = Callable[[int, int], None]
Skipped = Callable[[dict[str, Any]], None]  # a file an archive skipped, as its manifest lists it
ZIP_MEMBER_OVERHEAD = 200  # bytes per member: headers, central directory, manifest entry
COUNTS_CACHE_SIZE = 256
_COUNTS_CACHE: dict = {}  # (database, filters, data version) -> counts row


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
class Choices:
    data_sources: list[str]
    orders: list[str]
    object_classes: list[str]


class ExportQuery(param.Parameterized):
    """An export of one workflow with the options of the Export panel."""

    workflow = param.String(doc="Name of the workflow to export.")
    scope = param.Selector(
        objects=list(Scope), default=Scope.latest, doc="All or only the latest assessments."
    )
    layout = param.Selector(objects=list(Layout), default=Layout.long, doc="What to export.")
    data_source = param.String(default=None, allow_None=True, doc="None = all data sources.")
    order = param.String(default=None, allow_None=True, doc="None = all workflow orders.")
    stage_kind = param.Selector(
        objects=[None, "machine", "human"],
        default=None,
        doc="None = both; else only assessments of that kind (after the scope).",
    )
    assessed_from = param.String(
        default=None, allow_None=True, doc="UTC date or time: only assessments from then on."
    )
    assessed_to = param.String(
        default=None, allow_None=True, doc="UTC date or time: only assessments before then."
    )
    object_classes = param.List(
        default=[],
        item_type=str,
        doc="Object classes to keep ([] = all): their annotations, and the files that have one.",
    )
    format = param.Selector(objects=["csv", "parquet"], default="csv", doc="Table file format.")
    spreadsheet_safe = param.Boolean(
        default=True, doc="Prefix ' to text cells a spreadsheet would run as a formula."
    )

    def __init__(self, store: Store, **params) -> None:
        for name in ("scope", "layout"):
            if isinstance(params.get(name), str):
                params[name] = _enum(name, params[name])
        for name in ("data_source", "order", "stage_kind", "assessed_from", "assessed_to"):
            if params.get(name) == "":
                params[name] = None
        params["object_classes"] = class_names(params.get("object_classes"))
        if params.get("stage_kind") not in (None, "machine", "human"):
            raise UnknownChoiceError(
                f"unknown stage kind {params['stage_kind']!r}; valid: machine, human"
            )
        super().__init__(**params)
        self.store = store
        self._resolved: tuple[tuple, sql.Filters, list[str]] | None = None
        self.filters()  # fail fast on a bad workflow, data source or order

    # -- options and validation -------------------------------------------------------------

    def choices(self) -> Choices:
        """The workflow's data sources and orders: the valid values of the two filters."""
        with self.store.session() as session:
            workflow = self.store.workflow(session, self.workflow)
            sources = session.scalars(
                select(DataSource.name)
                .join(DataFile, DataFile.data_source_id == DataSource.id)
                .join(Case, DataFile.case_id == Case.id)
                .where(Case.workflow_id == workflow.id)
                .distinct()
                .order_by(DataSource.name)
            ).all()
            return Choices(
                list(sources),
                [o.name for o in workflow.orders],
                [k.name for k in workflow.object_classes],
            )

    def filters(self) -> sql.Filters:
        """Validated filters as database ids; raises a clear error for any bad option.

        Resolved once per combination of options: a preview asks for them a few times, and
        only a change of an option reads the database again. (Names resolve to ids for good:
        the store is append-only. The wide layout's attribute names are those of the last
        resolution: a preview open while the taxonomy grows shows a new attribute after the
        next option change; a download makes its own query.)"""
        options = (
            self.workflow,
            self.order,
            self.data_source,
            self.layout,
            self.scope,
            self.stage_kind,
            self.assessed_from,
            self.assessed_to,
            tuple(self.object_classes),
        )
        if self._resolved is None or self._resolved[0] != options:
            filters, attribute_names = self._resolve()
            self._resolved = (options, filters, attribute_names)
        return self._resolved[1]

    def _resolve(self) -> tuple[sql.Filters, list[str]]:
        with self.store.session() as session:
            workflow = self.store.workflow(session, self.workflow)
            data_source_id = order_id = None
            if self.order is not None:
                order = session.scalar(
                    select(WorkflowOrder).where(
                        WorkflowOrder.workflow_id == workflow.id, WorkflowOrder.name == self.order
                    )
                )
                if order is None:
                    valid = ", ".join(o.name for o in workflow.orders) or "(none)"
                    raise UnknownChoiceError(
                        f"order {self.order!r} is not an order of workflow {workflow.name!r}; "
                        f"valid orders: {valid}"
                    )
                order_id = order.id
            if self.data_source is not None:
                valid_sources = self.choices().data_sources
                if self.data_source not in valid_sources:
                    raise UnknownChoiceError(
                        f"data source {self.data_source!r} has no files in workflow "
                        f"{workflow.name!r}; valid data sources: {', '.join(valid_sources)}"
                    )
                data_source_id = session.scalar(
                    select(DataSource.id).where(DataSource.name == self.data_source)
                )
            if self.layout is Layout.annotated and order_id is None:
                raise InvalidOptionError(
                    "Annotated Files needs a workflow order: choose one of "
                    f"{', '.join(o.name for o in workflow.orders) or '(none)'}"
                )
            attribute_names = [attribute.name for attribute in workflow.attributes]
            class_ids = None
            if self.object_classes:
                known = {k.name: k.id for k in workflow.object_classes}
                unknown = [name for name in self.object_classes if name not in known]
                if unknown:
                    raise UnknownChoiceError(
                        f"object class {unknown[0]!r} is not a class of workflow "
                        f"{workflow.name!r}; valid classes: {', '.join(known) or '(none)'}"
                    )
                class_ids = tuple(sorted({known[name] for name in self.object_classes}))
            start = utc_moment("assessed_from", self.assessed_from)
            end = utc_moment("assessed_to", self.assessed_to)
            if start is not None and end is not None and start >= end:
                raise InvalidOptionError(
                    f"assessed_from ({self.assessed_from}) must be before assessed_to "
                    f"({self.assessed_to})"
                )
            filters = sql.Filters(
                workflow.id,
                Scope(self.scope),
                data_source_id,
                order_id,
                StageKind(self.stage_kind) if self.stage_kind else None,
                start,
                end,
                class_ids,
            )
            return filters, attribute_names

    @property
    def attribute_names(self) -> list[str]:
        """The workflow's attributes in taxonomy order: the wide layout's last columns."""
        self.filters()
        return list(self._resolved[2])

    # -- counts -----------------------------------------------------------------------------

    def counts(self) -> Counts:
        """What the export holds; cached until data is added to the store."""
        filters = self.filters()
        key = (self.store.db_url, filters, self.store.data_version())
        row = _COUNTS_CACHE.get(key)
        if row is None:
            with self.store.engine.connect() as connection:
                row = connection.execute(sql.counts(filters)).one()
            _COUNTS_CACHE[key] = row
            while len(_COUNTS_CACHE) > COUNTS_CACHE_SIZE:
                _COUNTS_CACHE.pop(next(iter(_COUNTS_CACHE)))
        rows = {
            Layout.long: 2 * row.annotations + row.attribute_values + row.empty_assessments,
            Layout.wide: row.annotations + row.bare_entities + row.empty_assessments,
            Layout.files: row.files,
            Layout.annotated: row.files
            if self.scope is Scope.latest
            else row.assessments + row.files_without_assessment,
        }[Layout(self.layout)]
        return Counts(
            row.files,
            row.assessments,
            row.entities,
            row.annotations,
            row.attribute_values,
            rows,
            int(row.file_bytes or 0),
        )

    # -- the shared code path ---------------------------------------------------------------

    def file_ids(self) -> list[int]:
        """Ids of the files in scope, in export order."""
        with self.store.engine.connect() as connection:
            return list(connection.scalars(sql.files_in_scope(self.filters())))

    def file_records(self) -> Iterator[FileRecord]:
        """Files in scope in export order, for the Files and Annotated Files layouts."""
        stmt = sql.file_records(self.filters())
        with self.store.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=1000)
            for row in result.execute(stmt):
                yield FileRecord(**row._mapping)

    @property
    def schema(self) -> pa.Schema:
        """The table's columns as written: CSV with spreadsheet safety escapes header cells
        (attribute names come from data) by the rule of its cells."""
        if Layout(self.layout) is Layout.wide:
            schema = wide_schema(self.attribute_names)
        elif Layout(self.layout) is Layout.long:
            schema = LONG_SCHEMA
        else:
            raise InvalidOptionError(f"layout {self.layout} is not a table layout")
        return spreadsheet_safe_schema(schema) if self._escapes_cells else schema

    @property
    def _escapes_cells(self) -> bool:
        return self.format == "csv" and self.spreadsheet_safe

    def tables(
        self, limit: int | None = None, progress: Progress | None = None
    ) -> Iterator[pa.Table]:
        """The chosen table layout in chunks, exactly as it will be written.

        ``limit`` stops after that many rows (the preview); ``progress(done, total)`` is
        called with files done after each chunk.
        """
        layout = Layout(self.layout)
        if not layout.is_table:
            raise InvalidOptionError(
                f"layout {layout.value!r} is a file archive, not a table: use write_zip()"
            )
        filters = self.filters()
        attribute_names = self.attribute_names
        names = self.schema.names
        file_ids = self.file_ids()
        emitted = 0
        # A preview reads a few files in-process; a download streams through the bulk reader
        # and reads the next chunk while this one is pivoted, made safe and written.
        with ArrowReader(self.store.engine, bulk=limit is None) as reader:
            chunks = (
                (done, read_long(reader, filters.assessments, chunk))
                for done, chunk in file_chunks(file_ids)
            )
            for done, table in chunks if limit is not None else prefetched(chunks):
                if table is not None:
                    if layout is Layout.wide:
                        table = wide_table(table, attribute_names)
                    if self._escapes_cells:
                        table = spreadsheet_safe(table).rename_columns(names)
                    if limit is not None and emitted + table.num_rows >= limit:
                        yield table.slice(0, limit - emitted)
                        return
                    emitted += table.num_rows
                    if table.num_rows:
                        yield table
                if progress:
                    progress(done, len(file_ids))

    def annotation_details(self, file_id: int, assessment_id: int) -> dict[int, dict[str, str]]:
        """For each annotation of one assessment of a file (a drawn image's hover): its entity
        and its attribute values as text, ``"name=value, ..."`` in taxonomy order, as stored
        (no spreadsheet escaping: this is shown, not written)."""
        with ArrowReader(self.store.engine, bulk=False) as reader:
            table = read_long(reader, Scope.all, [file_id])  # whichever scope drew it
        details: dict[int, dict] = {}
        if table is None:
            return {}
        mine = table.filter(pc.equal(table["assessment_id"], assessment_id))
        for row in mine.select(["annotation_id", "entity_id", "attribute", "value"]).to_pylist():
            if row["annotation_id"] is None:
                continue
            entry = details.setdefault(
                int(row["annotation_id"]), {"entity_id": row["entity_id"], "attributes": []}
            )
            if row["attribute"] not in (LOCATION, OBJECT_CLASS):
                entry["attributes"].append(f"{row['attribute']}={row['value']}")
        return {
            annotation_id: {
                "entity_id": entry["entity_id"],
                "attributes": ", ".join(entry["attributes"]),
            }
            for annotation_id, entry in details.items()
        }

    def preview(self, n: int = 20, sample: list[pa.Table] | None = None) -> pd.DataFrame:
        """The first ``n`` rows of exactly what the download will contain."""
        return _frame(self.sample(n) if sample is None else sample, self.schema)

    def frame(self) -> pd.DataFrame:
        """The whole table as a pandas DataFrame, for interactive use (not for downloads)."""
        return _frame(list(self.tables()), self.schema)

    # -- writing ----------------------------------------------------------------------------

    def write_csv(
        self, target: str | Path | BinaryIO | TextIO, progress: Progress | None = None
    ) -> int:
        """Write the table layout as CSV to a path, a binary stream or a text stream (e.g.
        ``io.StringIO``, which gets the same text decoded); returns rows written."""
        self.format = "csv"
        with _open_target(target, text=True) as out:
            return write_csv(self.tables(progress=progress), out, self.schema)

    def write_parquet(self, target: str | Path | BinaryIO, progress: Progress | None = None) -> int:
        self.format = "parquet"
        with _open_target(target) as out:
            return write_parquet(self.tables(progress=progress), out, self.schema)

    def write_zip(
        self,
        target: str | Path | BinaryIO,
        progress: Progress | None = None,
        skipped: Skipped | None = None,
    ) -> int:
        """Write the Files ZIP (SPEC 3.4): original bytes plus manifest; returns members.
        ``skipped(entry)`` hears of each file whose bytes could not be read (as the manifest
        lists it)."""
        if Layout(self.layout) is not Layout.files:
            raise InvalidOptionError(
                f"write_zip writes the Files layout; this query's layout is {self.layout!r}"
            )
        from dashboard import __version__
        from dashboard.produce.archive import write_files_zip

        records = list(self.file_records())
        with _open_target(target) as out:
            summary = write_files_zip(
                records,
                self.store.files,
                out,
                filters=self.manifest_filters(),
                tool_version=__version__,
                progress=(lambda done, total: progress(done, total or 0)) if progress else None,
                skipped=skipped,
            )
        return summary.members

    def annotated_items(self, limit: int | None = None) -> Iterator[AnnotatedItem]:
        """What the Annotated Files ZIP draws, in member order (SPEC 3.5).

        Latest: one item per file; All: one per (file, assessment). A file without any
        assessment in scope is drawn bare, once.
        """
        filters = self.filters()
        records = self.file_records()
        emitted = 0
        for chunk in record_chunks(records):
            by_file: dict[int, dict] = {r.file_id: {} for r in chunk}
            stmt = sql.overlays(filters.assessments, [r.file_id for r in chunk])
            grouped: dict[tuple[int, int], list[Overlay]] = {}
            stages: dict[tuple[int, int], str] = {}
            with self.store.engine.connect() as connection:
                for row in connection.execute(stmt):
                    key = (row.data_file_id, row.assessment_id)
                    stages[key] = row.stage
                    overlays = grouped.setdefault(key, [])
                    if row.geometry is not None:
                        overlays.append(
                            Overlay(
                                row.geometry,
                                row.object_class,
                                row.colour,
                                row.confidence,
                                row.annotation_id,
                            )
                        )
            for (file_id, assessment_id), overlays in grouped.items():
                by_file[file_id][assessment_id] = (stages[(file_id, assessment_id)], overlays)
            for record in chunk:
                assessments = by_file[record.file_id] or {None: (None, [])}
                for assessment_id, (stage, overlays) in assessments.items():
                    yield AnnotatedItem(record, assessment_id, stage, tuple(overlays))
                    emitted += 1
                    if limit is not None and emitted >= limit:
                        return

    def write_annotated_zip(
        self,
        target: str | Path | BinaryIO,
        progress: Progress | None = None,
        workers: int | None = None,
        skipped: Skipped | None = None,
    ) -> int:
        """Write the Annotated Files ZIP (SPEC 3.5); returns the number of images written."""
        if Layout(self.layout) is not Layout.annotated:
            raise InvalidOptionError(
                f"write_annotated_zip writes Annotated Files; this query's layout is "
                f"{self.layout!r}"
            )
        from dashboard import __version__

        total = self.counts().rows
        with _open_target(target) as out:
            return write_annotated_zip(
                self.annotated_items(),
                self.store.files,
                out,
                filters=self.manifest_filters(),
                tool_version=__version__,
                with_stage=Scope(self.scope) is Scope.all,
                total=total,
                progress=progress,
                workers=workers,
                skipped=skipped,
            )

    def manifest_filters(self) -> dict[str, str | None]:
        """The options as the manifest records them."""
        return {
            "workflow": self.workflow,
            "scope": Scope(self.scope).value,
            "layout": Layout(self.layout).value,
            "data_source": self.data_source,
            "order": self.order,
            "stage_kind": self.stage_kind,
            "assessed_from": self.assessed_from,
            "assessed_to": self.assessed_to,
            "object_classes": list(self.object_classes),
        }

    def options(self) -> dict[str, object]:
        """Every option as plain values: ``ExportQuery(store, **query.options())`` is equal."""
        return {
            **self.manifest_filters(),
            "format": self.format,
            "spreadsheet_safe": self.spreadsheet_safe,
        }

    def write(
        self,
        target: str | Path | BinaryIO,
        progress: Progress | None = None,
        skipped: Skipped | None = None,
    ) -> int:
        """Write the chosen layout in the chosen format, in the foreground; ``skipped`` hears
        of files an archive could not include.

        The dashboard runs Annotated Files as a background job (dashboard.jobs) instead.
        """
        if Layout(self.layout) is Layout.files:
            return self.write_zip(target, progress, skipped)
        if Layout(self.layout) is Layout.annotated:
            return self.write_annotated_zip(target, progress, skipped=skipped)
        if self.format == "parquet":
            return self.write_parquet(target, progress)
        return self.write_csv(target, progress)

    def sample(self, n: int = 200) -> list[pa.Table]:
        """The first ``n`` rows as Arrow tables: what the preview shows and sizes from."""
        return list(self.tables(limit=n))

    def estimated_bytes(self, counts: Counts | None = None, sample: list | None = None) -> int:
        """The download's size: tables from the exact bytes of the first rows, archives from
        the files' bytes plus ZIP overhead (for Annotated Files the drawn size differs)."""
        counts = counts or self.counts()
        if not Layout(self.layout).is_table:
            return counts.file_bytes + ZIP_MEMBER_OVERHEAD * counts.rows
        sample = self.sample() if sample is None else sample
        rows = sum(table.num_rows for table in sample)
        buffer = io.BytesIO()
        write_csv(sample, buffer, self.schema)
        header = len(bytes(buffer.getbuffer()).split(b"\n", 1)[0]) + 1
        if rows == 0:
            return header
        return header + round((buffer.tell() - header) / rows * counts.rows)

    def filename(self, now: datetime | None = None) -> str:
        """The download's name: workflow, layout and UTC time, e.g. w_long_20261128T180701Z.csv."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        suffix = {"csv": "csv", "parquet": "parquet"}[self.format]
        if not Layout(self.layout).is_table:
            suffix = "zip"
        stamp = f"{now:%Y%m%dT%H%M%SZ}"
        return leading_safe(
            f"{safe_part(self.workflow)}_{Layout(self.layout).value}_{stamp}.{suffix}"
        )


def class_names(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Object class names as given: a list, or one name; blanks dropped, repeats once, in the
    order given (a name may hold any character, a comma too)."""
    if value is None:
        return []
    parts = [value] if isinstance(value, str) else list(value)
    names: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise InvalidOptionError(f"object classes are names (text), got {part!r}")
        name = part.strip()
        if name and name not in names:
            names.append(name)
    return names


def utc_moment(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date (midnight UTC) or time (``Z``, an offset, or none: UTC) as the
    store's naive UTC; a clear error for anything else."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidOptionError(
            f"{name} {text!r} is not a date or time: use e.g. 2026-03-01 or "
            "2026-03-01T12:00:00Z (UTC)"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _frame(tables: list[pa.Table], schema: pa.Schema) -> pd.DataFrame:
    import pandas as pd

    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _enum(name: str, value: str):
    kind = {"scope": Scope, "layout": Layout}[name]
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise UnknownChoiceError(f"unknown {name} {value!r}; valid: {valid}") from None


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
