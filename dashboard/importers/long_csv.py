"""Importing the long CSV ("Attribute Values and Confidences", SPEC 3.1) this product exports.

Round trip: a long CSV exported by this product, imported into an empty store and exported
again with the same options, gives the same bytes. The rules, in the order a user meets them:

- Format: UTF-8 (a byte-order mark is ignored), RFC 4180 quoting, and a header that is
  exactly ``LONG_COLUMNS``. With ``spreadsheet_safe`` (the default, as in the export) every
  text cell loses the one ``'`` the exporter put before a formula-like text; a CSV exported
  with spreadsheet safety off must be imported with ``spreadsheet_safe=False``.
- Workflows: every workflow named in the ``workflow`` column is imported. ``workflow=``
  is a guard against the wrong file: a row of any other workflow is an error (nothing is
  skipped silently); a header-only CSV then creates that workflow, empty.
- A workflow the store does not have is created with a taxonomy inferred from the rows:
  object classes in order of first appearance (colours by position, as ``create_workflow``
  gives them); attributes of value type ``string`` (the CSV holds canonical text), ordered
  consistently with the rows: the export writes the values of one annotation (or of one
  entity as a whole) in taxonomy order, so consecutive distinct attribute names of one such
  group are a precedence; the order is a topological sort of these, ties (and cycles, in a
  hand-edited file) broken by first appearance. An attribute without any value in the CSV
  cannot be known, and two attributes never seen in one group may swap places: the long
  export is the same, the wide export's columns can differ. To keep a taxonomy exactly
  (types, enum options, attributes without values), create the workflow first and import
  into it: a workflow the store has keeps its taxonomy; classes and attributes must be
  known and values are checked against their types.
- Database ids (``file_id``, ``assessment_id``, ``annotation_id``) are kept when the store
  has no data files, assessments and annotations yet (an empty store, or one holding only
  empty workflows). Otherwise every file, assessment and annotation gets a new id, given in
  CSV order: every order an export uses (files by case and count, assessments by time then
  id, annotations by entity then id, values of one attribute by id) stays the same, so
  exports then differ only in the id columns; ``ImportSummary.ids_kept`` says which
  happened. Entities keep their UUIDs in both cases; an entity is of its workflow, so the
  same UUIDs under another workflow name are that workflow's own entities. On PostgreSQL
  the id sequences are moved past the imported ids, so later inserts do not collide.
- Files: the case is found or created by (workflow, workflow order, external ID); files
  are numbered in CSV order after the case's existing files; data sources by name. With
  ``images_dir``, a file's bytes are read from ``images_dir / file_name`` when that file
  exists (a name with ``..``, an absolute path or a control character is never looked up)
  and stored like any image; otherwise the file is recorded without bytes (empty storage
  key and sha256, zero sizes, content type from the name) and archives list it as
  unreadable.
- An import appends: importing the same CSV twice records its files and assessments twice.
- Speed: rows go in through ``writer.BulkWriter`` (batched inserts, ids up front); the
  cells that repeat on every row of an assessment are parsed once.
- All or nothing: one transaction; any error names the CSV line (line 1 is the header) and
  leaves the database unchanged. Image bytes already put into the content-addressed file
  storage before a failure stay there, unreferenced and harmless.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.errors import AssessError, ImportRecordError, InvalidValueError, MissingImageError
from dashboard.spec.geometry import Geometry, parse_wkt
from dashboard.spec.options import LOCATION, LONG_COLUMNS, OBJECT_CLASS
from dashboard.spec.spreadsheet import unescape_spreadsheet
from dashboard.store import writer
from dashboard.store.db import Store
from dashboard.store.models import (
    Annotation,
    Assessment,
    Attribute,
    DataFile,
    DataSource,
    ObjectClass,
    StageKind,
    Workflow,
    WorkflowOrder,
)

# Column sizes of the models: longer text is refused with a clear message, not a DB error.
MAX_LENGTHS = {
    "workflow": 200,
    "workflow_order": 200,
    "data_source": 200,
    "external_id": 200,
    "file_name": 500,
    "stage": 100,
    "assessed_by": 200,
    "attribute": 200,
}
PROGRESS_ROWS = 10_000  # rows between two progress calls
FIELD_SIZE_LIMIT = 1 << 26  # characters per cell: a detailed polygon's WKT can be long
_HEAD = LONG_COLUMNS.index("entity_id")  # the cells before it repeat per assessment
_HEAD_TEXT_COLUMNS = frozenset(LONG_COLUMNS[:_HEAD]) - {"file_id", "assessment_id"}
_MAY_BE_EMPTY = frozenset({"workflow_order", "annotation_id", "frame", "value", "confidence"})
_REQUIRED = tuple(name for name in LONG_COLUMNS if name not in _MAY_BE_EMPTY)
_ID_TABLES = (DataFile, Assessment, Annotation)  # the tables whose ids the CSV carries


@dataclass(frozen=True)
class ImportSummary:
    workflows: int  # workflows imported into (created or existing)
    files: int  # data files recorded
    assessments: int
    annotations: int
    attribute_values: int  # values other than location and object class
    files_with_bytes: int = 0  # of ``files``, those whose bytes were read from images_dir
    ids_kept: bool = True  # the CSV's database ids were kept (see the module docs)


def import_long_csv(
    store: Store,
    source: str | Path | BinaryIO | TextIO,
    *,
    workflow: str | None = None,
    images_dir: str | Path | None = None,
    spreadsheet_safe: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import a long CSV (a path or an open stream); all or nothing (see the module docs).

    ``progress(bytes read, bytes in all)`` is called now and then while reading a path.
    """
    images = Path(images_dir) if images_dir is not None else None
    with _text(source) as stream, store.importing() as session:
        reader = csv.reader(stream, strict=True)
        importer = _Importer(session, store, workflow, images, spreadsheet_safe)
        line = 1
        raw = getattr(stream, "buffer", None) if isinstance(source, str | Path) else None
        total = Path(source).stat().st_size if raw is not None else 0
        try:
            header = next(reader, None)
            importer.check_header(header)
            for row in reader:
                line = reader.line_num
                if row:  # a blank line
                    importer.add_row(line, row)
                if progress is not None and raw is not None and line % PROGRESS_ROWS == 0:
                    progress(raw.tell(), total)
        except UnicodeDecodeError as exc:
            raise ImportRecordError(
                f"at or after line {line + 1}: the file is not UTF-8 text ({exc.reason}); "
                "export the CSV again or save it as UTF-8"
            ) from None
        except csv.Error as exc:
            raise ImportRecordError(f"line {reader.line_num}: malformed CSV: {exc}") from None
        summary = importer.finish()
        if progress is not None and raw is not None:
            progress(total, total)
        return summary


@contextmanager
def _text(source: str | Path | BinaryIO | TextIO) -> Iterator[TextIO]:
    """The source as UTF-8 text, opened with newline="" as the csv module wants."""
    if csv.field_size_limit() < FIELD_SIZE_LIMIT:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
    if isinstance(source, str | Path):
        try:
            stream = open(source, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            raise ImportRecordError(f"CSV file not found: {source}") from None
        except OSError as exc:
            reason = exc.strerror or exc
            raise ImportRecordError(f"cannot read CSV file {source}: {reason}") from None
        with stream:
            yield stream
    elif isinstance(source, io.TextIOBase):
        yield source
    else:
        stream = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
        try:
            yield stream
        finally:
            stream.detach()  # leave the caller's stream open


class _Row(NamedTuple):
    workflow: str
    workflow_order: str | None
    data_source: str
    file_id: int
    external_id: str
    file_name: str
    assessment_id: int
    stage: str
    stage_kind: StageKind
    assessed_by: str
    assessed_at: datetime
    entity_id: str | None  # None (and attribute None): an assessment without values
    annotation_id: int | None
    frame: int | None
    attribute: str | None
    value: str
    confidence: float | None


@dataclass
class _WorkflowState:
    workflow: Workflow
    taxonomy: writer.Taxonomy
    inferred: bool  # created by this import: its taxonomy grows from the rows
    first_seen: dict[str, int] = field(default_factory=dict)  # attribute -> first index
    before: dict[str, set[str]] = field(default_factory=dict)  # attribute -> its successors


@dataclass(frozen=True)
class _FileInfo:
    id: int
    identity: tuple[str, str | None, str, str, str]  # workflow, order, source, ext. id, name
    line: int


@dataclass(frozen=True)
class _AssessmentInfo:
    id: int  # in the store
    csv_id: int
    file_id: int  # the CSV's
    identity: tuple[str, str, str, datetime]
    line: int
    state: _WorkflowState


class _AnnotationInfo(NamedTuple):
    ref: writer.AnnotationRef  # as written (store ids)
    assessment_id: int  # the CSV's
    frame: int
    line: int


@dataclass
class _Pending:
    """An annotation whose location and object_class rows have not both been read yet."""

    assessment: _AssessmentInfo
    entity_id: str
    line: int  # first row that named it
    frame: int | None = None
    location: tuple[int, Geometry, float | None] | None = None  # line, shape, confidence
    object_class: tuple[int, str, float | None] | None = None  # line, name, confidence
    values: list[tuple[int, _Row]] = field(default_factory=list)


class _Importer:
    def __init__(
        self,
        session: Session,
        store: Store,
        workflow: str | None,
        images_dir: Path | None,
        spreadsheet_safe: bool,
    ) -> None:
        self.session = session
        self.store = store
        self.only_workflow = workflow
        self.images_dir = images_dir
        self.spreadsheet_safe = spreadsheet_safe
        self.ids_kept = all(
            session.scalar(select(table.id).limit(1)) is None for table in _ID_TABLES
        )
        self.bulk = writer.BulkWriter(session, keep_ids=self.ids_kept)
        self.workflows: dict[str, _WorkflowState] = {}
        self.orders: dict[tuple[str, str], WorkflowOrder] = {}
        self.sources: dict[str, DataSource] = {}
        self.cases: dict[tuple[str, str | None, str], int] = {}  # -> case id
        self.files: dict[int, _FileInfo] = {}
        self.assessments: dict[int, _AssessmentInfo] = {}
        self.annotations: dict[int, _AnnotationInfo] = {}
        self.pending: dict[int, _Pending] = {}
        self.previous: tuple[tuple[int, str, int | None], str | None] | None = None
        self.files_with_bytes = 0
        self.values = 0
        self.head_cells: list[str] | None = None  # the last row's cells up to assessed_at
        self.head: tuple = ()  # and what they parsed to
        self.uuids: dict[str, str] = {}  # entity_id cells seen -> their UUID

    # -- rows ------------------------------------------------------------------------------

    def check_header(self, header: list[str] | None) -> None:
        expected = list(LONG_COLUMNS)
        if header is None:
            raise ImportRecordError(
                f"the file is empty; a long CSV starts with the header {','.join(expected)}"
            )
        if header == expected:
            return
        missing = [name for name in expected if name not in header]
        extra = [name for name in header if name not in expected]
        problems = []
        if missing:
            problems.append(f"missing columns: {', '.join(missing)}")
        if extra:
            problems.append(f"unexpected columns: {', '.join(map(repr, extra))}")
        if not problems:
            problems.append("the columns are repeated or out of order")
        raise ImportRecordError(
            f"line 1: not a long CSV of this product ({'; '.join(problems)}); "
            f"the header must be exactly {','.join(expected)}"
        )

    def add_row(self, line: int, cells: list[str]) -> None:
        try:
            self._add_row(line, self._parse(line, cells))
        except ImportRecordError:
            raise
        except AssessError as exc:
            if str(exc).startswith("line "):
                raise
            raise type(exc)(f"line {line}: {exc}") from exc

    def _parse(self, line: int, cells: list[str]) -> _Row:
        if len(cells) != len(LONG_COLUMNS):
            raise ImportRecordError(
                f"line {line}: {len(cells)} cells where the header has {len(LONG_COLUMNS)}"
            )
        # The cells up to assessed_at repeat on every row of an assessment: parsed once.
        head = cells[:_HEAD]
        if head != self.head_cells:
            self.head = self._parse_head(line, head)
            self.head_cells = head
        entity_id, annotation_id, frame, attribute, value, confidence = cells[_HEAD:]
        if self.spreadsheet_safe:
            entity_id = unescape_spreadsheet(entity_id)
            attribute = unescape_spreadsheet(attribute)
            value = unescape_spreadsheet(value)
        if not (entity_id or annotation_id or frame or attribute or value or confidence):
            # the one row of an assessment without annotations and values (SPEC 3.1)
            return _Row(*self.head, None, None, None, None, "", None)
        for name, cell in (("entity_id", entity_id), ("attribute", attribute)):
            if cell == "":
                raise ImportRecordError(f"line {line}: the cell {name!r} is empty")
        if len(attribute) > MAX_LENGTHS["attribute"]:
            raise ImportRecordError(
                f"line {line}: attribute is {len(attribute)} characters long; "
                f"at most {MAX_LENGTHS['attribute']} are allowed"
            )
        uuid_ = self.uuids.get(entity_id)
        if uuid_ is None:
            uuid_ = self.uuids[entity_id] = _entity_id(line, entity_id)
        return _Row(
            *self.head,
            entity_id=uuid_,
            annotation_id=_integer(line, annotation_id, "annotation_id", minimum=1, optional=True),
            frame=_integer(line, frame, "frame", minimum=0, optional=True),
            attribute=attribute,
            value=value,
            confidence=_confidence(line, confidence),
        )

    def _parse_head(self, line: int, cells: list[str]) -> tuple:
        """workflow .. assessed_at of a row, checked (they identify its file and assessment)."""
        raw = dict(zip(LONG_COLUMNS[:_HEAD], cells, strict=True))
        if self.spreadsheet_safe:
            for name in _HEAD_TEXT_COLUMNS:
                raw[name] = unescape_spreadsheet(raw[name])
        for name in _REQUIRED:
            if name in raw and raw[name] == "":
                raise ImportRecordError(f"line {line}: the cell {name!r} is empty")
        for name, limit in MAX_LENGTHS.items():
            if name in raw and len(raw[name]) > limit:
                raise ImportRecordError(
                    f"line {line}: {name} is {len(raw[name])} characters long; "
                    f"at most {limit} are allowed"
                )
        try:
            stage_kind = StageKind(raw["stage_kind"])
        except ValueError:
            raise ImportRecordError(
                f"line {line}: stage_kind must be machine or human, got {raw['stage_kind']!r}"
            ) from None
        return (
            raw["workflow"],
            raw["workflow_order"] or None,
            raw["data_source"],
            _integer(line, raw["file_id"], "file_id", minimum=1),
            raw["external_id"],
            raw["file_name"],
            _integer(line, raw["assessment_id"], "assessment_id", minimum=1),
            raw["stage"],
            stage_kind,
            raw["assessed_by"],
            _timestamp(line, raw["assessed_at"]),
        )

    def _add_row(self, line: int, row: _Row) -> None:
        state = self._workflow(line, row.workflow)
        file_id = self._file(line, row)
        assessment = self._assessment(line, row, file_id, state)
        if row.attribute is None:  # reviewed, nothing found: the assessment is all there is
            self.previous = None
            return
        group = (row.assessment_id, row.entity_id, row.annotation_id)
        if row.attribute in (LOCATION, OBJECT_CLASS):
            self.previous = (group, None)
            if row.annotation_id is None:
                raise ImportRecordError(
                    f"line {line}: a {row.attribute} row needs an annotation_id"
                )
            self._annotation_part(line, row, assessment)
            return
        self._attribute(line, state, row.attribute)
        if self.previous is not None and self.previous[0] == group:
            earlier = self.previous[1]
            if state.inferred and earlier is not None and earlier != row.attribute:
                state.before.setdefault(earlier, set()).add(row.attribute)
        self.previous = (group, row.attribute)
        if row.annotation_id is None:
            if row.frame is not None:
                raise ImportRecordError(
                    f"line {line}: a value of the entity as a whole (no annotation_id) has no "
                    f"frame, got {row.frame}"
                )
            self._add_value(line, row, assessment, None)
            return
        done = self.annotations.get(row.annotation_id)
        if done is not None:
            self._check_annotation(line, row, done.assessment_id, done.ref.entity_id, done.line)
            if row.frame is not None and row.frame != done.frame:
                raise ImportRecordError(
                    f"line {line}: annotation {row.annotation_id} is in frame {done.frame} "
                    f"(line {done.line}), not {row.frame}"
                )
            self._add_value(line, row, assessment, done.ref)
            return
        pending = self._pending(line, row, assessment)
        pending.values.append((line, row))

    # -- workflows, files, assessments -------------------------------------------------------

    def _workflow(self, line: int, name: str) -> _WorkflowState:
        state = self.workflows.get(name)
        if state is not None:
            return state
        if self.only_workflow is not None and name != self.only_workflow:
            raise ImportRecordError(
                f"line {line}: a row of workflow {name!r}, but the import is for workflow "
                f"{self.only_workflow!r}; import this file without naming a workflow, or "
                "check that it is the right file"
            )
        return self._open_workflow(name)

    def _open_workflow(self, name: str) -> _WorkflowState:
        found = self.session.scalar(select(Workflow).where(Workflow.name == name))
        inferred = found is None
        if found is None:
            if len(name) > MAX_LENGTHS["workflow"]:
                raise ImportRecordError(f"workflow name {name[:80]!r}... is too long")
            found = writer.create_workflow(self.session, name, [], [])
        state = _WorkflowState(found, writer.Taxonomy(found), inferred)
        self.workflows[name] = state
        return state

    def _file(self, line: int, row: _Row) -> int:
        identity = (
            row.workflow,
            row.workflow_order,
            row.data_source,
            row.external_id,
            row.file_name,
        )
        known = self.files.get(row.file_id)
        if known is not None:
            if known.identity != identity:
                raise ImportRecordError(
                    f"line {line}: file_id {row.file_id} is {_describe_file(identity)} here but "
                    f"{_describe_file(known.identity)} on line {known.line}; one file_id is one "
                    "file"
                )
            return known.id
        case_key = (row.workflow, row.workflow_order, row.external_id)
        case_id = self.cases.get(case_key)
        if case_id is None:
            workflow = self.workflows[row.workflow].workflow
            order = None
            if row.workflow_order is not None:
                order = self.orders.get((row.workflow, row.workflow_order))
                if order is None:
                    order = writer.workflow_order(self.session, workflow, row.workflow_order)
                    self.orders[(row.workflow, row.workflow_order)] = order
            case_id = self.cases[case_key] = self.bulk.case(workflow, row.external_id, order)
        source = self.sources.get(row.data_source)
        if source is None:
            source = self.sources[row.data_source] = writer.data_source(
                self.session, row.data_source
            )
        data = self._image_bytes(row.file_name)
        file_id = self.bulk.file(
            case_id,
            source,
            row.file_name,
            data=data,
            storage=self.store.files,
            file_id=row.file_id if self.ids_kept else None,
        )
        self.files_with_bytes += data is not None
        self.files[row.file_id] = _FileInfo(file_id, identity, line)
        return file_id

    def _image_bytes(self, file_name: str) -> bytes | None:
        if self.images_dir is None or not _safe_name(file_name):
            return None
        path = self.images_dir / file_name
        if not path.is_file():
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or exc
            raise MissingImageError(f"cannot read image file {path}: {reason}") from None

    def _assessment(
        self, line: int, row: _Row, file_id: int, state: _WorkflowState
    ) -> _AssessmentInfo:
        identity = (row.stage, row.stage_kind.value, row.assessed_by, row.assessed_at)
        known = self.assessments.get(row.assessment_id)
        if known is not None:
            if known.file_id != row.file_id:
                raise ImportRecordError(
                    f"line {line}: assessment {row.assessment_id} is of file_id {row.file_id} "
                    f"here but of file_id {known.file_id} on line {known.line}; an assessment "
                    "is one pass over one file"
                )
            if known.identity != identity:
                raise ImportRecordError(
                    f"line {line}: assessment {row.assessment_id} has stage, stage_kind, "
                    f"assessed_by, assessed_at {_describe(identity)} here but "
                    f"{_describe(known.identity)} on line {known.line}"
                )
            return known
        assessment_id = self.bulk.assessment(
            file_id,
            row.stage,
            row.stage_kind,
            row.assessed_by,
            row.assessed_at,
            assessment_id=row.assessment_id if self.ids_kept else None,
        )
        info = _AssessmentInfo(assessment_id, row.assessment_id, row.file_id, identity, line, state)
        self.assessments[row.assessment_id] = info
        return info

    # -- annotations and values --------------------------------------------------------------

    def _check_annotation(
        self, line: int, row: _Row, assessment_id: int, entity_id: str, first: int
    ) -> None:
        if (assessment_id, entity_id) != (row.assessment_id, row.entity_id):
            raise ImportRecordError(
                f"line {line}: annotation {row.annotation_id} is of assessment "
                f"{row.assessment_id} and entity {row.entity_id} here but of assessment "
                f"{assessment_id} and entity {entity_id} on line {first}"
            )

    def _pending(self, line: int, row: _Row, assessment: _AssessmentInfo) -> _Pending:
        pending = self.pending.get(row.annotation_id)
        if pending is None:
            pending = self.pending[row.annotation_id] = _Pending(assessment, row.entity_id, line)
        else:
            self._check_annotation(
                line, row, pending.assessment.csv_id, pending.entity_id, pending.line
            )
        if row.frame is not None:
            if pending.frame is not None and pending.frame != row.frame:
                raise ImportRecordError(
                    f"line {line}: annotation {row.annotation_id} is in frame {pending.frame} "
                    f"(line {pending.line}), not {row.frame}"
                )
            pending.frame = row.frame
        return pending

    def _annotation_part(self, line: int, row: _Row, assessment: _AssessmentInfo) -> None:
        done = self.annotations.get(row.annotation_id)
        if done is not None:
            raise ImportRecordError(
                f"line {line}: a second {row.attribute} row of annotation {row.annotation_id} "
                f"(first read by line {done.line}); an annotation has one location and one "
                "object_class row"
            )
        pending = self._pending(line, row, assessment)
        part = getattr(pending, row.attribute)
        if part is not None:
            raise ImportRecordError(
                f"line {line}: a second {row.attribute} row of annotation {row.annotation_id} "
                f"(the first is on line {part[0]}); an annotation has one location and one "
                "object_class row"
            )
        if row.attribute == LOCATION:
            pending.location = (line, parse_wkt(row.value), row.confidence)
        else:
            if row.value == "":
                raise ImportRecordError(f"line {line}: the object class is empty")
            self._object_class(line, assessment.state, row.value)
            pending.object_class = (line, row.value, row.confidence)
        if pending.location is not None and pending.object_class is not None:
            self._complete(row.annotation_id, pending)

    def _complete(self, csv_id: int, pending: _Pending) -> None:
        state = pending.assessment.state
        location_line, geometry, confidence = pending.location
        _, class_name, class_confidence = pending.object_class
        frame = pending.frame if pending.frame is not None else 0
        ref = self.bulk.annotation(
            state.taxonomy,
            pending.assessment.id,
            pending.entity_id,
            class_name,
            geometry,
            confidence,
            class_confidence,
            frame,
            annotation_id=csv_id if self.ids_kept else None,
        )
        del self.pending[csv_id]
        self.annotations[csv_id] = _AnnotationInfo(
            ref, pending.assessment.csv_id, frame, location_line
        )
        for line, row in pending.values:
            try:
                self._add_value(line, row, pending.assessment, ref)
            except ImportRecordError:
                raise
            except AssessError as exc:
                raise type(exc)(f"line {line}: {exc}") from exc

    def _object_class(self, line: int, state: _WorkflowState, name: str) -> ObjectClass:
        found = state.taxonomy.classes.get(name)
        if found is not None:
            return found
        if not state.inferred:
            return state.taxonomy.object_class(name)  # raises, naming the known classes
        try:
            found = writer.add_object_class(
                self.session, state.workflow.id, name, len(state.taxonomy.classes)
            )
        except InvalidValueError as exc:
            raise ImportRecordError(f"line {line}: {exc}") from exc
        state.taxonomy.classes[name] = found
        return found

    def _attribute(self, line: int, state: _WorkflowState, name: str) -> Attribute:
        found = state.taxonomy.attributes.get(name)
        if found is not None:
            return found
        if not state.inferred:
            return state.taxonomy.attribute(name)  # raises, naming the known attributes
        position = len(state.taxonomy.attributes)
        try:
            found = writer.add_attribute(self.session, state.workflow.id, name, position)
        except InvalidValueError as exc:
            raise ImportRecordError(f"line {line}: {exc}") from exc
        state.taxonomy.attributes[name] = found
        state.first_seen[name] = position
        return found

    def _add_value(
        self,
        line: int,
        row: _Row,
        assessment: _AssessmentInfo,
        annotation: writer.AnnotationRef | None,
    ) -> None:
        self.bulk.value(
            assessment.state.taxonomy,
            assessment.id,
            row.entity_id,
            row.attribute,
            row.value,
            row.confidence,
            annotation,
        )
        self.values += 1

    # -- the end -------------------------------------------------------------------------------

    def finish(self) -> ImportSummary:
        for csv_id, pending in self.pending.items():
            if pending.location is None and pending.object_class is None:
                line = pending.values[0][0]
                raise ImportRecordError(
                    f"line {line}: a value of annotation {csv_id}, which has no location row "
                    "(and no object_class row); an annotation's values need its location and "
                    "object class"
                )
            if pending.object_class is None:
                raise ImportRecordError(
                    f"line {pending.location[0]}: annotation {csv_id} has a location row but no "
                    "object_class row"
                )
            raise ImportRecordError(
                f"line {pending.object_class[0]}: annotation {csv_id} has an object_class row "
                "but no location row"
            )
        if self.only_workflow is not None and self.only_workflow not in self.workflows:
            self._open_workflow(self.only_workflow)  # a header-only CSV of that workflow
        for state in self.workflows.values():
            if state.inferred:
                order = _taxonomy_order(state.first_seen, state.before)
                for position, name in enumerate(order):
                    state.taxonomy.attributes[name].position = position
        self.bulk.finish()
        self.session.flush()
        return ImportSummary(
            workflows=len(self.workflows),
            files=len(self.files),
            assessments=len(self.assessments),
            annotations=len(self.annotations),
            attribute_values=self.values,
            files_with_bytes=self.files_with_bytes,
            ids_kept=self.ids_kept,
        )


# -- cells ----------------------------------------------------------------------------------


def _integer(
    line: int, text_: str, name: str, *, minimum: int, optional: bool = False
) -> int | None:
    if text_ == "" and optional:
        return None
    try:
        number = int(text_)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ImportRecordError(
            f"line {line}: {name} must be a whole number of at least {minimum}, got {text_!r}"
        )
    return number


def _confidence(line: int, text_: str) -> float | None:
    if text_ == "":
        return None
    try:
        number = float(text_)
    except ValueError:
        number = math.nan
    if not 0 <= number <= 1:  # also refuses nan
        raise ImportRecordError(
            f"line {line}: confidence must be a number between 0 and 1 or empty, got {text_!r}"
        )
    return number


def _timestamp(line: int, text_: str) -> datetime:
    """ISO 8601; naive UTC to the second, as the writer stores it. Naive input is UTC."""
    try:
        value = datetime.fromisoformat(text_)
    except ValueError:
        raise ImportRecordError(
            f"line {line}: assessed_at {text_!r} is not an ISO 8601 time like 2026-11-28T18:07:01Z"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _entity_id(line: int, text_: str) -> str:
    try:
        return str(uuid.UUID(text_))
    except ValueError:
        raise ImportRecordError(f"line {line}: entity_id {text_!r} is not a UUID") from None


def _safe_name(file_name: str) -> bool:
    """A name that stays inside images_dir: relative, no '..', no control characters."""
    parts = PurePosixPath(file_name.replace("\\", "/")).parts
    return not (
        file_name.startswith(("/", "\\"))
        or ".." in parts
        or ":" in file_name
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in file_name)
    )


def _describe_file(identity: tuple[str, str | None, str, str, str]) -> str:
    workflow, order, source, external_id, file_name = identity
    where = f"order {order!r}" if order is not None else "no order"
    return (
        f"{file_name!r} of case {external_id!r} ({where}, data source {source!r}, "
        f"workflow {workflow!r})"
    )


def _describe(values: tuple) -> str:
    return ", ".join(
        value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else repr(value)
        for value in values
    )


# -- the taxonomy and the sequences ---------------------------------------------------------


def _taxonomy_order(first_seen: dict[str, int], before: dict[str, set[str]]) -> list[str]:
    """Attributes in an order that keeps every observed precedence; ties by first appearance.

    Kahn's algorithm with a heap on first appearance; a cycle (only a hand-edited file has
    one) is broken by taking the earliest-seen remaining attribute.
    """
    waiting = {name: 0 for name in first_seen}
    for successors in before.values():
        for name in successors:
            waiting[name] += 1
    ready = [(index, name) for name, index in first_seen.items() if waiting[name] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(first_seen):
        if not ready:  # a cycle: release the earliest-seen attribute still waiting
            name = min((n for n in first_seen if n not in placed), key=first_seen.__getitem__)
            waiting[name] = 0
            ready.append((first_seen[name], name))
        _, name = heapq.heappop(ready)
        if name in placed:
            continue
        order.append(name)
        placed.add(name)
        for successor in sorted(before.get(name, ()), key=first_seen.__getitem__):
            waiting[successor] -= 1
            if waiting[successor] == 0 and successor not in placed:
                heapq.heappush(ready, (first_seen[successor], successor))
    return order
