"""What an export selects: SPEC section 3's options as params, resolved once to filters, with
the counts of what is in scope and the streams the producers take.

``long_tables()`` streams the long table of the files in scope, chunk by chunk in export
order; ``file_records()`` and ``annotated_items()`` stream the files and the images to draw.
How these become bytes (the layouts, the writers, the archives) is ``dashboard.export``'s.
No Panel import here, and nothing of the producers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import param
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from dashboard.errors import InvalidOptionError, UnknownChoiceError
from dashboard.query import chunks as chunking
from dashboard.query import sql
from dashboard.query.chunks import file_chunks, read_long, record_chunks
from dashboard.query.reader import ArrowReader
from dashboard.spec.options import LOCATION, OBJECT_CLASS, Layout, Scope
from dashboard.spec.records import AnnotatedItem, FileRecord, Overlay
from dashboard.store.db import Store
from dashboard.store.models import Case, DataFile, DataSource, StageKind, WorkflowOrder
from dashboard.streams import read_ahead

IN_SCOPE_CACHE_SIZE = 256
_IN_SCOPE_CACHE: dict = {}  # (database, filters, data version) -> InScope


@dataclass(frozen=True)
class InScope:
    """What the selection holds, counted once per filters and data version (``sql.counts``)."""

    files: int
    assessments: int
    entities: int
    annotations: int
    attribute_values: int
    empty_assessments: int  # assessments without annotations or values: one row each
    bare_entities: int  # entities with values but no annotation in an assessment
    files_without_assessment: int
    file_bytes: int  # original bytes of the files in scope


@dataclass(frozen=True)
class Choices:
    data_sources: list[str]
    orders: list[str]
    object_classes: list[str]


class Selection(param.Parameterized):
    """One workflow's data as the Export panel's options select it."""

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

    def in_scope(self) -> InScope:
        """What the selection holds; cached until data is added to the store."""
        filters = self.filters()
        key = (self.store.db_url, filters, self.store.data_version())
        counted = _IN_SCOPE_CACHE.get(key)
        if counted is None:
            with self.store.engine.connect() as connection:
                row = connection.execute(sql.counts(filters)).one()
            counted = InScope(
                row.files,
                row.assessments,
                row.entities,
                row.annotations,
                row.attribute_values,
                row.empty_assessments,
                row.bare_entities,
                row.files_without_assessment,
                int(row.file_bytes or 0),
            )
            _IN_SCOPE_CACHE[key] = counted
            while len(_IN_SCOPE_CACHE) > IN_SCOPE_CACHE_SIZE:
                _IN_SCOPE_CACHE.pop(next(iter(_IN_SCOPE_CACHE)))
        return counted

    # -- the streams the producers take -----------------------------------------------------

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

    def long_tables(self, bulk: bool = True) -> Iterator[tuple[int, int, pa.Table | None]]:
        """The long table of the files in scope, chunk by chunk in export order:
        ``(files done, files in scope, the chunk's long rows or None)``.

        ``bulk`` (a download) streams through the bulk reader and reads the next chunk in a
        thread while this one is used; without it (a preview, which stops after its first
        rows) the files are read in-process, in smaller chunks (``PREVIEW_CHUNK_FILES``).
        """
        filters = self.filters()
        file_ids = self.file_ids()
        sizes = chunking.CHUNK_FILES if bulk else chunking.PREVIEW_CHUNK_FILES
        with ArrowReader(self.store.engine, bulk=bulk) as reader:
            chunks = (
                (done, read_long(reader, filters.assessments, chunk))
                for done, chunk in file_chunks(file_ids, sizes)
            )
            for done, table in read_ahead(chunks, name="export-prefetch") if bulk else chunks:
                yield done, len(file_ids), table

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


def _enum(name: str, value: str):
    kind = {"scope": Scope, "layout": Layout}[name]
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise UnknownChoiceError(f"unknown {name} {value!r}; valid: {valid}") from None
