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
from dashboard.store.geometry import Geometry, parse_wkt
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
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            content_type = Image.MIME.get(image.format or "", None)
    except (UnidentifiedImageError, OSError) as exc:
        raise MissingImageError(f"{file_name!r} is not a readable image: {exc}") from exc
    content_type = content_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    suffix = PurePosixPath(file_name).suffix.lower()
    key, digest = storage.put_image(data, suffix)
    if count is None:
        count = len(case_.files) + 1
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
    entity_id = str(uuid.UUID(entity_id)) if entity_id else str(uuid.uuid4())
    if session.get(Entity, entity_id) is None:
        session.add(Entity(id=entity_id, workflow_id=workflow.id))
        session.flush()
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
    annotation = Annotation(
        assessment=assessment,
        entity_id=entity(session, taxonomy.workflow, entity_id),
        object_class_id=taxonomy.object_class(object_class).id,
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
    attribute_value = AttributeValue(
        assessment=assessment,
        entity_id=entity(session, taxonomy.workflow, entity_id),
        annotation_id=annotation.id if annotation else None,
        attribute_id=definition.id,
        value=canonical_value(definition, value),
        confidence=confidence,
    )
    session.add(attribute_value)
    return attribute_value
