"""SQLAlchemy models, one per concept of SPEC section 2.

Attribute values are stored as canonical text (see ``values.canonical_value``) so that every
backend exports the same bytes; the attribute's ``value_type`` says how to read them back.
Geometry is stored as WKT in pixel coordinates.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RESERVED_ATTRIBUTE_NAMES = frozenset({"location", "object_class"})


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class StageKind(enum.StrEnum):
    machine = "machine"
    human = "human"


class ValueType(enum.StrEnum):
    enum = "enum"
    boolean = "boolean"
    integer = "integer"
    decimal = "decimal"
    string = "string"


class Workflow(Base):
    __tablename__ = "workflow"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")

    object_classes: Mapped[list[ObjectClass]] = relationship(
        back_populates="workflow",
        order_by="ObjectClass.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    attributes: Mapped[list[Attribute]] = relationship(
        back_populates="workflow",
        order_by="Attribute.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    orders: Mapped[list[WorkflowOrder]] = relationship(
        back_populates="workflow",
        order_by="WorkflowOrder.name",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class ObjectClass(Base):
    __tablename__ = "object_class"
    __table_args__ = (UniqueConstraint("workflow_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    colour: Mapped[str] = mapped_column(String(7))  # "#rrggbb"
    position: Mapped[int] = mapped_column(Integer)

    workflow: Mapped[Workflow] = relationship(back_populates="object_classes")


class Attribute(Base):
    """An attribute of the workflow's taxonomy; ``position`` is the taxonomy order."""

    __tablename__ = "attribute"
    __table_args__ = (
        UniqueConstraint("workflow_id", "name"),
        CheckConstraint("name NOT IN ('location', 'object_class')", name="not_reserved"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    value_type: Mapped[ValueType] = mapped_column(Enum(ValueType, native_enum=False, length=16))
    options: Mapped[list[str] | None] = mapped_column(JSON, default=None)  # enum choices
    position: Mapped[int] = mapped_column(Integer)

    workflow: Mapped[Workflow] = relationship(back_populates="attributes")


class WorkflowOrder(Base):
    __tablename__ = "workflow_order"
    __table_args__ = (UniqueConstraint("workflow_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))

    workflow: Mapped[Workflow] = relationship(back_populates="orders")


class DataSource(Base):
    """Where files came from; a workflow's data sources are those of its files."""

    __tablename__ = "data_source"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(50), default="upload")  # camera, bucket, upload


class Case(Base):
    """Files assessed together in a workflow (and optionally an order), by external ID."""

    __tablename__ = "assessment_case"
    __table_args__ = (
        UniqueConstraint("workflow_id", "workflow_order_id", "external_id"),
        # NULLs are distinct in unique constraints: cases in no order need their own index.
        Index(
            "uq_case_no_order",
            "workflow_id",
            "external_id",
            unique=True,
            sqlite_where=text("workflow_order_id IS NULL"),
            postgresql_where=text("workflow_order_id IS NULL"),
        ),
        Index("ix_case_order", "workflow_order_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"))
    workflow_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_order.id", ondelete="SET NULL")
    )
    external_id: Mapped[str] = mapped_column(String(200))

    workflow: Mapped[Workflow] = relationship()
    workflow_order: Mapped[WorkflowOrder | None] = relationship()
    files: Mapped[list[DataFile]] = relationship(back_populates="case", order_by="DataFile.count")


class DataFile(Base):
    """An image; ``count`` is its number 1..n within its case.

    A file known only from an imported table (no bytes yet) has an empty ``storage_key`` and
    zero width, height and byte size; archives list it as unreadable.
    """

    __tablename__ = "data_file"
    __table_args__ = (
        UniqueConstraint("case_id", "count"),
        CheckConstraint("count >= 1", name="count_positive"),
        CheckConstraint("width >= 0 AND height >= 0", name="size_not_negative"),
        Index("ix_data_file_source", "data_source_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("assessment_case.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(Integer)
    data_source_id: Mapped[int] = mapped_column(ForeignKey("data_source.id"))
    file_name: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(500))  # key in the file storage

    case: Mapped[Case] = relationship(back_populates="files")
    data_source: Mapped[DataSource] = relationship()


class Assessment(Base):
    """One pass over one file; the latest is the greatest (assessed_at, id)."""

    __tablename__ = "assessment"
    __table_args__ = (Index("ix_assessment_file_time", "data_file_id", "assessed_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    data_file_id: Mapped[int] = mapped_column(ForeignKey("data_file.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(100))
    stage_kind: Mapped[StageKind] = mapped_column(Enum(StageKind, native_enum=False, length=16))
    assessed_by: Mapped[str] = mapped_column(String(200))
    assessed_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC

    data_file: Mapped[DataFile] = relationship()
    annotations: Mapped[list[Annotation]] = relationship(
        back_populates="assessment", order_by="Annotation.id", cascade="all, delete-orphan"
    )
    attribute_values: Mapped[list[AttributeValue]] = relationship(
        back_populates="assessment", order_by="AttributeValue.id", cascade="all, delete-orphan"
    )


class Entity(Base):
    """A thing observed in one workflow; its UUID stays the same when a reviewer keeps a
    detection. The same UUID in two workflows is two entities. Annotations and values name
    their entity by UUID; its workflow is theirs (assessment, file, case), so they carry no
    foreign key to this table: the writer records the entity with the first row naming it."""

    __tablename__ = "entity"
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflow.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # A short key of the entity, unique in the store: what ``AssessmentSummary`` counts
    # distinct entities by (integers group 3x faster than UUID text). Given by the writer.
    number: Mapped[int] = mapped_column(BigInteger, unique=True)


class Annotation(Base):
    __tablename__ = "annotation"
    __table_args__ = (
        Index("ix_annotation_assessment", "assessment_id", "entity_id", "id"),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="conf"),
        CheckConstraint(
            "class_confidence IS NULL OR (class_confidence >= 0 AND class_confidence <= 1)",
            name="class_conf",
        ),
        CheckConstraint("frame >= 0", name="frame"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id", ondelete="CASCADE"))
    entity_id: Mapped[str] = mapped_column(String(36))  # the UUID of an Entity
    object_class_id: Mapped[int] = mapped_column(
        ForeignKey("object_class.id", deferrable=True, initially="DEFERRED")  # see 0004
    )
    geometry: Mapped[str] = mapped_column(Text)  # WKT, pixel coordinates
    confidence: Mapped[float | None] = mapped_column(Float)  # of the location
    class_confidence: Mapped[float | None] = mapped_column(Float)  # of the object class
    frame: Mapped[int] = mapped_column(Integer, default=0)

    assessment: Mapped[Assessment] = relationship(back_populates="annotations")
    object_class: Mapped[ObjectClass] = relationship()


class AttributeValue(Base):
    """A typed observation; ``annotation_id`` is None for an entity-level value."""

    __tablename__ = "attribute_value"
    __table_args__ = (
        Index("ix_attribute_value_assessment", "assessment_id", "entity_id", "annotation_id"),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="conf"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id", ondelete="CASCADE"))
    entity_id: Mapped[str] = mapped_column(String(36))  # the UUID of an Entity
    annotation_id: Mapped[int | None] = mapped_column(
        ForeignKey("annotation.id", ondelete="CASCADE")
    )
    attribute_id: Mapped[int] = mapped_column(
        ForeignKey("attribute.id", deferrable=True, initially="DEFERRED")  # see 0004
    )
    value: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)

    assessment: Mapped[Assessment] = relationship(back_populates="attribute_values")
    attribute: Mapped[Attribute] = relationship()


class AssessmentSummary(Base):
    """What one entity has in one assessment, counted: the rows ``query.sql.counts`` reads
    instead of every annotation and value (migration 0005).

    One row per (assessment, entity, object class) with the entity's annotations of that
    class and their attribute values, and one row with ``object_class_id`` NULL for the
    entity's entity-level values (annotation None), if it has any there. An assessment
    without annotations and values has no row. Kept by the writer (``store.summary``): every
    write of annotations or values recounts the assessments it wrote to.
    """

    __tablename__ = "assessment_summary"
    __table_args__ = (
        # Covering: the counts read only this index.
        Index(
            "ix_assessment_summary_assessment",
            "assessment_id",
            "object_class_id",
            "entity_number",
            "annotations",
            "attribute_values",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id", ondelete="CASCADE"))
    entity_number: Mapped[int] = mapped_column(BigInteger)  # Entity.number
    object_class_id: Mapped[int | None] = mapped_column(Integer)  # None: entity-level values
    annotations: Mapped[int] = mapped_column(Integer)
    attribute_values: Mapped[int] = mapped_column(Integer)


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class ExportJob(Base):
    """A background export (Annotated Files): persisted state, progress and delivery."""

    __tablename__ = "export_job"
    __table_args__ = (Index("ix_export_job_user", "requested_by", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    notify_email: Mapped[str | None] = mapped_column(String(320))
    workflow: Mapped[str] = mapped_column(String(200))
    options: Mapped[dict] = mapped_column(JSON)  # ExportQuery.options()
    # The base URL the requester's page was served from: the link's base without
    # ASSESS_PUBLIC_URL.
    page_url: Mapped[str | None] = mapped_column(String(500))
    # Original names of the files a finished job could not draw (its manifest lists them).
    skipped: Mapped[list | None] = mapped_column(JSON)
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=16))
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(500))  # the download's name
    byte_size: Mapped[int | None] = mapped_column(BigInteger)
    link: Mapped[str | None] = mapped_column(Text)  # signed download URL when done
    link_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    email_status: Mapped[str] = mapped_column(String(20), default="none")
    email_error: Mapped[str | None] = mapped_column(Text)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
