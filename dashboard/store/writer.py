"""Writing to the store: the one place that creates workflows, files, assessments and values.

Demo data, the COCO importer and the long-CSV importer all go through these functions, so
every record is validated the same way (geometry, value types, taxonomy names).
"""

from __future__ import annotations

import io
import mimetypes
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.errors import InvalidValueError, MissingImageError, UnknownChoiceError
from dashboard.store.files import FileStorage
from dashboard.store.geometry import Geometry, displayed_size, parse_wkt
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

PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#bfef45", "#469990", "#9a6324",
)  # fmt: skip


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
        class_name, colour = spec if isinstance(spec, tuple) else (spec, PALETTE[position % 10])
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
    external_id = str(external_id)
    if not external_id.strip():
        raise InvalidValueError("a case needs a non-empty external ID")
    if order is not None and order.workflow_id != workflow.id:
        raise UnknownChoiceError(
            f"order {order.name!r} belongs to another workflow than {workflow.name!r}"
        )
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
    if data is not None:
        if storage is None:
            raise ValueError("storing a file's bytes needs the file storage")
        width, height, content_type = image_facts(file_name, data)
        key, digest = storage.put_image(data, PurePosixPath(file_name).suffix.lower())
        size = len(data)
    else:
        width = height = size = 0
        key = digest = ""
        content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
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


def add_assessment(
    session: Session,
    data_file: DataFile,
    stage: str,
    stage_kind: str | StageKind,
    assessed_by: str,
    assessed_at: datetime,
) -> Assessment:
    # Stored as naive UTC to the second: the precision every export writes.
    if assessed_at.tzinfo is not None:
        assessed_at = assessed_at.astimezone(UTC).replace(tzinfo=None)
    assessed_at = assessed_at.replace(microsecond=0)
    assessment = Assessment(
        data_file_id=data_file.id,
        stage=stage,
        stage_kind=StageKind(stage_kind),
        assessed_by=assessed_by,
        assessed_at=assessed_at,
    )
    session.add(assessment)
    session.flush()
    return assessment


def entity(session: Session, workflow: Workflow, entity_id: str | None = None) -> str:
    """The entity's id, created if new; a new UUID when none is given."""
    try:
        entity_id = str(uuid.UUID(entity_id)) if entity_id else str(uuid.uuid4())
    except (TypeError, ValueError):
        raise InvalidValueError(f"entity id {entity_id!r} is not a UUID") from None
    found = session.get(Entity, entity_id)
    if found is None:
        session.add(Entity(id=entity_id, workflow_id=workflow.id))
        session.flush()
    elif found.workflow_id != workflow.id:
        raise InvalidValueError(
            f"entity {entity_id} belongs to another workflow than {workflow.name!r}"
        )
    return entity_id


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
    shape = parse_wkt(geometry) if isinstance(geometry, str) else geometry
    for label, value in (("confidence", confidence), ("class confidence", class_confidence)):
        if value is not None and not 0 <= value <= 1:
            raise InvalidValueError(f"{label} must be between 0 and 1, got {value}")
    if frame < 0:
        raise InvalidValueError(f"a frame number starts at 0, got {frame}")
    class_id = taxonomy.object_class(object_class).id  # checked before anything is added
    annotation = Annotation(
        assessment=assessment,
        entity_id=entity(session, taxonomy.workflow, entity_id),
        object_class_id=class_id,
        geometry=shape.wkt,
        confidence=confidence,
        class_confidence=class_confidence,
        frame=frame,
    )
    session.add(annotation)
    session.flush()
    return annotation


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
    definition = taxonomy.attribute(attribute)
    if confidence is not None and not 0 <= confidence <= 1:
        raise InvalidValueError(f"confidence must be between 0 and 1, got {confidence}")
    text = canonical_value(definition, value)  # checked before anything is added
    if annotation is not None and (
        annotation.assessment_id != assessment.id or annotation.entity_id != str(entity_id)
    ):
        # Exports rely on it: an annotation's values are of its entity and its assessment.
        raise InvalidValueError(
            f"a value of annotation {annotation.id} must be of its entity "
            f"{annotation.entity_id} in its assessment {annotation.assessment_id}"
        )
    attribute_value = AttributeValue(
        assessment=assessment,
        entity_id=entity(session, taxonomy.workflow, entity_id),
        annotation_id=annotation.id if annotation else None,
        attribute_id=definition.id,
        value=text,
        confidence=confidence,
    )
    session.add(attribute_value)
    return attribute_value
