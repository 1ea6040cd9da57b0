"""Writing to the store: the one place that creates workflows, files, assessments and values.

Demo data, the COCO importer and the long-CSV importer write through ``BulkWriter`` (batched
Core inserts); the single-row functions serve the API and tests. Both check a record with
the same helpers (geometry, confidences, value types, taxonomy names), so every record is
validated the same way.
"""

from __future__ import annotations

import io
import mimetypes
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import NamedTuple

from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dashboard.errors import InvalidValueError, MissingImageError, UnknownChoiceError
from dashboard.spec.colours import colour_at
from dashboard.spec.geometry import Geometry, displayed_size, parse_wkt
from dashboard.store import summary
from dashboard.store.files import FileStorage
from dashboard.store.models import (
    RESERVED_ATTRIBUTE_NAMES,
    Annotation,
    Assessment,
    Attribute,
    AttributeValue,
    Case,
    DataFile,
    DataSource,
    Entity,
    ObjectClass,
    StageKind,
    ValueType,
    Workflow,
    WorkflowOrder,
)
from dashboard.store.values import canonical_value


def create_workflow(
    session: Session,
    name: str,
    object_classes: list[str | tuple[str, str]],
    attributes: list[tuple[str, str] | tuple[str, str, list[str]]] = (),
    description: str = "",
) -> Workflow:
    """A workflow with its taxonomy; classes get stable colours from their position."""
    if not name.strip():
        raise InvalidValueError("a workflow needs a name")
    if session.scalar(select(Workflow.id).where(Workflow.name == name)) is not None:
        raise InvalidValueError(f"a workflow named {name!r} already exists")
    class_names = [spec[0] if isinstance(spec, tuple) else spec for spec in object_classes]
    for label, names in (("object class", class_names), ("attribute", [a[0] for a in attributes])):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidValueError(f"repeated {label} names: {', '.join(repeated)}")
    workflow = Workflow(name=name, description=description)
    for position, spec in enumerate(object_classes):
        class_name, colour = spec if isinstance(spec, tuple) else (spec, colour_at(position))
        workflow.object_classes.append(
            ObjectClass(name=class_name, colour=colour, position=position)
        )
    for position, spec in enumerate(attributes):
        attr_name, value_type, *rest = spec
        if attr_name in RESERVED_ATTRIBUTE_NAMES:
            raise InvalidValueError(f"attribute name {attr_name!r} is reserved")
        if value_type not in set(ValueType):
            raise InvalidValueError(
                f"attribute {attr_name!r} has unknown type {value_type!r}; "
                f"types: {', '.join(ValueType)}"
            )
        kind = ValueType(value_type)
        options = list(rest[0]) if rest else None
        if kind is ValueType.enum and not options:
            raise InvalidValueError(f"enum attribute {attr_name!r} needs options")
        workflow.attributes.append(
            Attribute(name=attr_name, value_type=kind, options=options, position=position)
        )
    session.add(workflow)
    session.flush()
    return workflow


TAXONOMY_NAME_LENGTH = 200  # characters of a class or attribute name (the models' columns)


def _taxonomy_name(label: str, name: str) -> None:
    if not name.strip():
        raise InvalidValueError(f"an {label} needs a name")
    if len(name) > TAXONOMY_NAME_LENGTH:
        raise InvalidValueError(
            f"{label} name {name[:80]!r}... is {len(name)} characters long; "
            f"at most {TAXONOMY_NAME_LENGTH} are allowed"
        )


def add_object_class(session: Session, workflow_id: int, name: str, position: int) -> ObjectClass:
    """A class added to a workflow's taxonomy at ``position`` (an import that infers the
    taxonomy from its rows), with the colour of its position."""
    _taxonomy_name("object class", name)
    found = ObjectClass(
        workflow_id=workflow_id, name=name, colour=colour_at(position), position=position
    )
    session.add(found)
    session.flush()
    return found


def add_attribute(session: Session, workflow_id: int, name: str, position: int) -> Attribute:
    """A string attribute added to a workflow's taxonomy at ``position`` (an import that infers
    the taxonomy: a value's type is not known from its text, so every value is kept as is)."""
    _taxonomy_name("attribute", name)
    if name in RESERVED_ATTRIBUTE_NAMES:
        raise InvalidValueError(f"attribute name {name!r} is reserved")
    found = Attribute(
        workflow_id=workflow_id,
        name=name,
        value_type=ValueType.string,
        options=None,
        position=position,
    )
    session.add(found)
    session.flush()
    return found


def create_workflow_from(session: Session, name: str, spec) -> Workflow:
    """A workflow from a ``taxonomy_file.TaxonomySpec`` (a taxonomy file, or one inferred)."""
    workflow = create_workflow(
        session, name, spec.object_classes, spec.attributes, description=spec.description
    )
    for order in spec.orders:
        workflow_order(session, workflow, order)
    return workflow


def workflow_order(session: Session, workflow: Workflow, name: str) -> WorkflowOrder:
    """The workflow's order of that name, created if new."""
    order = session.scalar(
        select(WorkflowOrder).where(
            WorkflowOrder.workflow_id == workflow.id, WorkflowOrder.name == name
        )
    )
    if order is None:
        order = WorkflowOrder(workflow_id=workflow.id, name=name)
        session.add(order)
        session.flush()
    return order


def data_source(session: Session, name: str, kind: str = "upload") -> DataSource:
    """The data source of that name, created if new."""
    source = session.scalar(select(DataSource).where(DataSource.name == name))
    if source is None:
        source = DataSource(name=name, kind=kind)
        session.add(source)
        session.flush()
    return source


def case(
    session: Session, workflow: Workflow, external_id: str, order: WorkflowOrder | None = None
) -> Case:
    """The case of that external ID in the workflow (and order), created if new."""
    external_id = case_key(workflow, external_id, order)
    found = session.scalar(
        select(Case).where(
            Case.workflow_id == workflow.id,
            Case.external_id == external_id,
            Case.workflow_order_id == (order.id if order else None)
            if order
            else Case.workflow_order_id.is_(None),
        )
    )
    if found is None:
        found = Case(workflow_id=workflow.id, workflow_order=order, external_id=external_id)
        session.add(found)
        session.flush()
    return found


def case_key(workflow: Workflow, external_id: object, order: WorkflowOrder | None) -> str:
    """The rules of a case, checked before anything is added: its external ID as text."""
    external_id = str(external_id)
    if not external_id.strip():
        raise InvalidValueError("a case needs a non-empty external ID")
    if order is not None and order.workflow_id != workflow.id:
        raise UnknownChoiceError(
            f"order {order.name!r} belongs to another workflow than {workflow.name!r}"
        )
    return external_id


def add_file(
    session: Session,
    storage: FileStorage,
    case_: Case,
    source: DataSource,
    file_name: str,
    data: bytes,
    count: int | None = None,
) -> DataFile:
    """Store an image's bytes and record it as the next file of its case."""
    width, height, content_type = image_facts(file_name, data)
    if count is None:
        count = len(case_.files) + 1
    elif count < 1:
        raise InvalidValueError(f"a file's count starts at 1, got {count} for {file_name!r}")
    suffix = PurePosixPath(file_name).suffix.lower()
    key, digest = storage.put_image(data, suffix)
    data_file = DataFile(
        case=case_,
        count=count,
        data_source=source,
        file_name=file_name,
        content_type=content_type,
        width=width,
        height=height,
        byte_size=len(data),
        sha256=digest,
        storage_key=key,
    )
    session.add(data_file)
    session.flush()
    return data_file


def image_facts(file_name: str, data: bytes) -> tuple[int, int, str]:
    """Width and height as displayed (EXIF orientation applied: SPEC 2) and content type of
    an image's bytes; raises MissingImageError."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = displayed_size(image)
            content_type = Image.MIME.get(image.format or "", None)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MissingImageError(f"{file_name!r} is not a readable image: {exc}") from exc
    content_type = content_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    return width, height, content_type


def add_file_record(
    session: Session,
    case_: Case,
    source: DataSource,
    file_name: str,
    *,
    count: int | None = None,
    file_id: int | None = None,
    storage: FileStorage | None = None,
    data: bytes | None = None,
) -> DataFile:
    """A file as an imported table names it, with its database id when ``file_id`` is given.

    With ``data`` (and ``storage``) the bytes are stored as ``add_file`` stores them; without,
    the file is recorded without bytes: empty storage key and sha256, zero width, height and
    byte size, content type guessed from the name (see ``DataFile``). ``count`` defaults to
    the next number of the case.
    """
    width, height, content_type, size, digest, key = file_fields(file_name, storage, data)
    if count is None:
        last = session.scalar(
            select(DataFile.count)
            .where(DataFile.case_id == case_.id)
            .order_by(DataFile.count.desc())
            .limit(1)
        )
        count = (last or 0) + 1
    data_file = DataFile(
        id=file_id,
        case_id=case_.id,
        count=count,
        data_source_id=source.id,
        file_name=file_name,
        content_type=content_type,
        width=width,
        height=height,
        byte_size=size,
        sha256=digest,
        storage_key=key,
    )
    session.add(data_file)
    session.flush()
    return data_file


def file_fields(
    file_name: str, storage: FileStorage | None, data: bytes | None
) -> tuple[int, int, str, int, str, str]:
    """Width, height, content type, byte size, sha256 and storage key of a file named by an
    import: with ``data``, the bytes are stored as ``add_file`` stores them; without, the
    file is recorded without bytes (zero sizes, empty key and sha256, type from the name)."""
    if data is None:
        content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        return 0, 0, content_type, 0, "", ""
    if storage is None:
        raise ValueError("storing a file's bytes needs the file storage")
    width, height, content_type = image_facts(file_name, data)
    key, digest = storage.put_image(data, PurePosixPath(file_name).suffix.lower())
    return width, height, content_type, len(data), digest, key


def add_assessment(
    session: Session,
    data_file: DataFile,
    stage: str,
    stage_kind: str | StageKind,
    assessed_by: str,
    assessed_at: datetime,
) -> Assessment:
    assessment = Assessment(
        data_file_id=data_file.id,
        stage=stage,
        stage_kind=StageKind(stage_kind),
        assessed_by=assessed_by,
        assessed_at=stored_time(assessed_at),
    )
    session.add(assessment)
    session.flush()
    return assessment


def stored_time(moment: datetime) -> datetime:
    """An assessment time as stored: naive UTC to the second, the precision every export
    writes (a naive time is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def entity(session: Session, workflow: Workflow, entity_id: str | None = None) -> str:
    """The entity's id, recorded in the workflow if new there; a new UUID when none is given.

    Entities belong to one workflow (``models.Entity``): the same UUID in another workflow
    is another entity of that workflow.
    """
    entity_id = entity_uuid(entity_id) if entity_id else str(uuid.uuid4())
    if session.get(Entity, (workflow.id, entity_id)) is None:
        postgresql = session.get_bind().dialect.name == "postgresql"
        number = _Ids(session, "entity", postgresql, column="number", block=1).take()
        session.add(Entity(workflow_id=workflow.id, id=entity_id, number=number))
        session.flush()
    return entity_id


def entity_uuid(entity_id: object) -> str:
    """An entity id in its one spelling (lower-case, hyphenated); raises InvalidValueError."""
    try:
        return str(uuid.UUID(str(entity_id)))
    except (TypeError, ValueError):
        raise InvalidValueError(f"entity id {entity_id!r} is not a UUID") from None


class Taxonomy:
    """Name lookups of one workflow's classes and attributes, with errors naming the choices."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.classes = {c.name: c for c in workflow.object_classes}
        self.attributes = {a.name: a for a in workflow.attributes}

    def object_class(self, name: str) -> ObjectClass:
        try:
            return self.classes[name]
        except KeyError:
            raise UnknownChoiceError(
                f"unknown object class {name!r} in workflow {self.workflow.name!r}; "
                f"known classes: {', '.join(self.classes)}"
            ) from None

    def attribute(self, name: str) -> Attribute:
        try:
            return self.attributes[name]
        except KeyError:
            raise UnknownChoiceError(
                f"unknown attribute {name!r} in workflow {self.workflow.name!r}; "
                f"known attributes: {', '.join(self.attributes)}"
            ) from None


def add_annotation(
    session: Session,
    taxonomy: Taxonomy,
    assessment: Assessment,
    entity_id: str,
    object_class: str,
    geometry: str | Geometry,
    confidence: float | None = None,
    class_confidence: float | None = None,
    frame: int = 0,
) -> Annotation:
    class_id, wkt = annotation_fields(
        taxonomy, object_class, geometry, confidence, class_confidence, frame
    )
    annotation = Annotation(
        assessment=assessment,
        entity_id=entity(session, taxonomy.workflow, entity_id),
        object_class_id=class_id,
        geometry=wkt,
        confidence=confidence,
        class_confidence=class_confidence,
        frame=frame,
    )
    session.add(annotation)
    summary.recount(session, [assessment.id])
    return annotation


def annotation_fields(
    taxonomy: Taxonomy,
    object_class: str,
    geometry: str | Geometry,
    confidence: float | None,
    class_confidence: float | None,
    frame: int,
) -> tuple[int, str]:
    """The rules of an annotation, checked before anything is added: its object class id
    and its geometry's canonical WKT."""
    shape = parse_wkt(geometry) if isinstance(geometry, str) else geometry
    for label, value in (("confidence", confidence), ("class confidence", class_confidence)):
        if value is not None and not 0 <= value <= 1:
            raise InvalidValueError(f"{label} must be between 0 and 1, got {value}")
    if frame < 0:
        raise InvalidValueError(f"a frame number starts at 0, got {frame}")
    return taxonomy.object_class(object_class).id, shape.wkt


def add_value(
    session: Session,
    taxonomy: Taxonomy,
    assessment: Assessment,
    entity_id: str,
    attribute: str,
    value: object,
    confidence: float | None = None,
    annotation: Annotation | None = None,
) -> AttributeValue:
    """An attribute value of an annotation, or of the entity as a whole (annotation=None)."""
    attribute_id, text = value_fields(taxonomy, attribute, value, confidence)
    if annotation is not None:
        _check_value_of(
            annotation.id,
            annotation.assessment_id,
            annotation.entity_id,
            assessment.id,
            str(entity_id),
        )
    attribute_value = AttributeValue(
        assessment=assessment,
        entity_id=entity(session, taxonomy.workflow, entity_id),
        annotation_id=annotation.id if annotation else None,
        attribute_id=attribute_id,
        value=text,
        confidence=confidence,
    )
    session.add(attribute_value)
    summary.recount(session, [assessment.id])
    return attribute_value


def value_fields(
    taxonomy: Taxonomy, attribute: str, value: object, confidence: float | None
) -> tuple[int, str]:
    """The rules of an attribute value, checked before anything is added: the attribute's
    id and the value's canonical text."""
    definition = taxonomy.attribute(attribute)
    if confidence is not None and not 0 <= confidence <= 1:
        raise InvalidValueError(f"confidence must be between 0 and 1, got {confidence}")
    return definition.id, canonical_value(definition, value)


def _check_value_of(
    annotation_id: int, of_assessment: int, of_entity: str, assessment_id: int, entity_id: str
) -> None:
    # Exports rely on it: an annotation's values are of its entity and its assessment.
    if (of_assessment, of_entity) != (assessment_id, entity_id):
        raise InvalidValueError(
            f"a value of annotation {annotation_id} must be of its entity "
            f"{of_entity} in its assessment {of_assessment}"
        )


# -- the bulk path ----------------------------------------------------------------------------

BULK_ROWS = 20_000  # rows waiting in memory before they are inserted


class AnnotationRef(NamedTuple):
    """An annotation written by a ``BulkWriter``: what its values are checked against."""

    id: int
    assessment_id: int
    entity_id: str


class BulkWriter:
    """The bulk write path of one import: the COCO and long-CSV importers and the demo.

    Every row is checked by the same rules as the single-row functions above (the same
    helpers), gets its id at once (kept from the input with ``keep_ids``, else from the
    table's own sequence: blocks of ``nextval`` on PostgreSQL; on SQLite the import holds the
    write lock from the start and counts on from the greatest id), waits in memory, and goes
    in with Core ``executemany`` in batches, parents before children, so every foreign key
    holds at every insert. Memory is bounded by ``batch_rows``, not by the input.

    The caller's transaction makes the import all or nothing; ``finish()`` writes what still
    waits, counts the summaries of the assessments written to (``store.summary``) and moves
    PostgreSQL's sequences past kept ids.
    """

    _ORDER = (Case, DataFile, Assessment, Entity, Annotation, AttributeValue)  # parents first

    def __init__(
        self, session: Session, *, keep_ids: bool = False, batch_rows: int | None = None
    ) -> None:
        self.session = session
        self.keep_ids = keep_ids
        self.batch_rows = batch_rows or BULK_ROWS
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self.pending: dict[type, list[dict]] = {model: [] for model in self._ORDER}
        self.waiting = 0
        self.written = 0  # rows inserted so far (progress)
        self._ids: dict[type, _Ids] = {}
        self._entities: dict[tuple[int, str], str] = {}  # (workflow, as given) -> UUID
        self._cases: dict[int, dict[tuple[int | None, str], int]] = {}  # workflow -> key -> id
        self._next_count: dict[int, int] = {}  # case id -> the count of its next file
        self._summarised: set[int] = set()  # assessments with annotations or values written
        session.flush()
        if not self.postgresql:  # take SQLite's write lock now: no one else counts on our ids
            session.execute(text("DELETE FROM entity WHERE 0"))

    # -- rows -----------------------------------------------------------------------------

    def case(self, workflow: Workflow, external_id: str, order: WorkflowOrder | None) -> int:
        """The id of the workflow's case (in the order, if any), created if new."""
        external_id = case_key(workflow, external_id, order)
        cases = self._cases.get(workflow.id)
        if cases is None:
            cases = self._cases[workflow.id] = self._load_cases(workflow.id)
        key = (order.id if order else None, external_id)
        case_id = cases.get(key)
        if case_id is None:
            case_id = cases[key] = self._id(Case)
            self._next_count[case_id] = 1
            self._add(
                Case,
                id=case_id,
                workflow_id=workflow.id,
                workflow_order_id=key[0],
                external_id=external_id,
            )
        return case_id

    def files_in_case(self, case_id: int) -> int:
        return self._next_count[case_id] - 1

    def file(
        self,
        case_id: int,
        source: DataSource,
        file_name: str,
        *,
        data: bytes | None = None,
        storage: FileStorage | None = None,
        count: int | None = None,
        file_id: int | None = None,
    ) -> int:
        """A file of a case (from ``case``), as ``add_file_record`` describes; its id."""
        width, height, content_type, size, digest, key = file_fields(file_name, storage, data)
        if count is None:
            count = self._next_count[case_id]
        elif count < 1:
            raise InvalidValueError(f"a file's count starts at 1, got {count} for {file_name!r}")
        self._next_count[case_id] = max(self._next_count[case_id], count + 1)
        file_id = self._given(DataFile, file_id)
        self._add(
            DataFile,
            id=file_id,
            case_id=case_id,
            count=count,
            data_source_id=source.id,
            file_name=file_name,
            content_type=content_type,
            width=width,
            height=height,
            byte_size=size,
            sha256=digest,
            storage_key=key,
        )
        return file_id

    def assessment(
        self,
        file_id: int,
        stage: str,
        stage_kind: str | StageKind,
        assessed_by: str,
        assessed_at: datetime,
        *,
        assessment_id: int | None = None,
    ) -> int:
        assessment_id = self._given(Assessment, assessment_id)
        self._add(
            Assessment,
            id=assessment_id,
            data_file_id=file_id,
            stage=stage,
            stage_kind=StageKind(stage_kind),
            assessed_by=assessed_by,
            assessed_at=stored_time(assessed_at),
        )
        return assessment_id

    def annotation(
        self,
        taxonomy: Taxonomy,
        assessment_id: int,
        entity_id: str | None,
        object_class: str,
        geometry: str | Geometry,
        confidence: float | None = None,
        class_confidence: float | None = None,
        frame: int = 0,
        *,
        annotation_id: int | None = None,
    ) -> AnnotationRef:
        class_id, wkt = annotation_fields(
            taxonomy, object_class, geometry, confidence, class_confidence, frame
        )
        entity_id = self._entity(taxonomy.workflow.id, entity_id)
        annotation_id = self._given(Annotation, annotation_id)
        self._add(
            Annotation,
            id=annotation_id,
            assessment_id=assessment_id,
            entity_id=entity_id,
            object_class_id=class_id,
            geometry=wkt,
            confidence=confidence,
            class_confidence=class_confidence,
            frame=frame,
        )
        self._summarised.add(assessment_id)
        return AnnotationRef(annotation_id, assessment_id, entity_id)

    def value(
        self,
        taxonomy: Taxonomy,
        assessment_id: int,
        entity_id: str,
        attribute: str,
        value: object,
        confidence: float | None = None,
        annotation: AnnotationRef | None = None,
    ) -> None:
        """A value of an annotation (from ``annotation``) or of the entity as a whole."""
        attribute_id, text_ = value_fields(taxonomy, attribute, value, confidence)
        entity_id = self._entity(taxonomy.workflow.id, entity_id)
        if annotation is not None:
            _check_value_of(annotation.id, *annotation[1:], assessment_id, entity_id)
        self._add(
            AttributeValue,
            id=self._id(AttributeValue),
            assessment_id=assessment_id,
            entity_id=entity_id,
            annotation_id=annotation.id if annotation else None,
            attribute_id=attribute_id,
            value=text_,
            confidence=confidence,
        )
        self._summarised.add(assessment_id)

    # -- writing --------------------------------------------------------------------------

    def flush(self) -> None:
        """Insert every waiting row, parents first."""
        for model in self._ORDER:
            rows = self.pending[model]
            if not rows:
                continue
            statement = insert(model.__table__)
            if model is Entity:  # recorded by an earlier import, or in this one's last batch
                statement = (
                    pg_insert(model.__table__)
                    if self.postgresql
                    else sqlite_insert(model.__table__)
                ).on_conflict_do_nothing()
            self.session.execute(statement, rows)
            self.written += len(rows)
            self.pending[model] = []
        self.waiting = 0

    def finish(self) -> None:
        self.flush()
        summary.recount(self.session, self._summarised)
        if self.keep_ids and self.postgresql:
            advance_sequences(self.session)

    # -- inside ---------------------------------------------------------------------------

    def _add(self, model: type, **row) -> None:
        self.pending[model].append(row)
        self.waiting += 1
        if self.waiting >= self.batch_rows:
            self.flush()

    def _entity(self, workflow_id: int, entity_id: str | None) -> str:
        """The entity's UUID, recorded in the workflow with the first row that names it."""
        if not entity_id:
            entity_id = str(uuid.uuid4())
        known = self._entities.get((workflow_id, entity_id))
        if known is not None:
            return known
        canonical = entity_uuid(entity_id)
        if (workflow_id, canonical) not in self._entities:
            number = self._number.take()
            self._add(Entity, workflow_id=workflow_id, id=canonical, number=number)
            self._entities[(workflow_id, canonical)] = canonical
        self._entities[(workflow_id, entity_id)] = canonical
        return canonical

    def _given(self, model: type, given: int | None) -> int:
        if self.keep_ids:
            if given is None:
                raise ValueError(f"keep_ids: every {model.__tablename__} needs its id")
            return given
        return self._id(model)

    def _id(self, model: type) -> int:
        ids = self._ids.get(model)
        if ids is None:
            ids = self._ids[model] = _Ids(self.session, model.__tablename__, self.postgresql)
        return ids.take()

    @property
    def _number(self) -> _Ids:
        """The numbers of new entities (``Entity.number``)."""
        numbers = self._ids.get(Entity)
        if numbers is None:
            numbers = self._ids[Entity] = _Ids(
                self.session, "entity", self.postgresql, column="number"
            )
        return numbers

    def _load_cases(self, workflow_id: int) -> dict[tuple[int | None, str], int]:
        """The workflow's cases, and the count each one's next file gets."""
        cases = {}
        rows = self.session.execute(
            select(Case.id, Case.workflow_order_id, Case.external_id, func.max(DataFile.count))
            .outerjoin(DataFile, DataFile.case_id == Case.id)
            .where(Case.workflow_id == workflow_id)
            .group_by(Case.id, Case.workflow_order_id, Case.external_id)
        )
        for case_id, order_id, external_id, last in rows:
            cases[(order_id, external_id)] = case_id
            self._next_count[case_id] = (last or 0) + 1
        return cases


class _Ids:
    """New ids of one table (or another numbered column), in increasing order, that nobody
    else can take."""

    def __init__(
        self, session: Session, table: str, postgresql: bool, column: str = "id", block: int = 64
    ) -> None:
        self.session = session
        self.table = table
        self.column = column
        self.postgresql = postgresql
        self.block: list[int] = []
        self.size = block  # PostgreSQL: ids fetched per round trip, doubling to 8192
        self.next = None
        if not postgresql:  # the write lock is held: count on from the greatest id
            greatest = session.execute(text(f"SELECT MAX({column}) FROM {table}")).scalar()
            self.next = (greatest or 0) + 1

    def take(self) -> int:
        if not self.postgresql:
            taken, self.next = self.next, self.next + 1
            return taken
        if not self.block:
            rows = self.session.execute(
                text(
                    f"SELECT nextval(pg_get_serial_sequence('{self.table}', '{self.column}')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": self.size},
            )
            self.block = sorted((row[0] for row in rows), reverse=True)
            self.size = min(self.size * 2, 8192)
        return self.block.pop()


def advance_sequences(session: Session) -> None:
    """Move PostgreSQL's id sequences past ids inserted explicitly (never backwards)."""
    for model in (Case, DataFile, Assessment, Annotation, AttributeValue):
        table = model.__tablename__
        sequence = f"pg_get_serial_sequence('{table}', 'id')"
        session.execute(
            text(
                f"SELECT setval({sequence}, GREATEST(MAX(id), "
                f"COALESCE(pg_sequence_last_value({sequence}::regclass), 1))) "
                f"FROM {table} HAVING COUNT(*) > 0"
            )
        )
