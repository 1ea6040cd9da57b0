"""The export query's SQL: files in scope, assessments in scope (the Latest rule), long rows.

Everything here is SQLAlchemy Core that runs the same on SQLite and PostgreSQL. Long rows are
read one chunk of files at a time, so every sort stays small and memory stays flat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from dashboard.spec.options import LOCATION, LONG_COLUMNS, NO_CONFIDENCE, OBJECT_CLASS, Scope
from dashboard.store.models import (
    Annotation,
    Assessment,
    AssessmentSummary,
    Attribute,
    AttributeValue,
    Case,
    DataFile,
    DataSource,
    ObjectClass,
    StageKind,
    Workflow,
    WorkflowOrder,
)

# ``attribute_rank`` of the one row of an assessment without annotations and values.
EMPTY_RANK = -1

# The long columns that differ within an assessment (``long_values`` reads them).
VALUE_COLUMNS = LONG_COLUMNS[LONG_COLUMNS.index("entity_id") :]

assessments = Assessment.__table__
data_files = DataFile.__table__
cases = Case.__table__
orders = WorkflowOrder.__table__
sources = DataSource.__table__
workflows = Workflow.__table__
annotations = Annotation.__table__
object_classes = ObjectClass.__table__
attribute_values = AttributeValue.__table__
attributes = Attribute.__table__
summaries = AssessmentSummary.__table__


@dataclass(frozen=True)
class Assessments:
    """Which assessments of each file are exported: the scope (All or Latest), then, applied
    after it, a stage kind and a time window ``assessed_from <= assessed_at < assessed_to``
    (UTC). So Latest + human is the files whose latest pass is a human one, and Latest + from
    is what changed since: the incremental export."""

    scope: Scope
    stage_kind: StageKind | None = None
    assessed_from: datetime | None = None
    assessed_to: datetime | None = None
    class_ids: tuple[int, ...] | None = None  # object classes kept; None: all

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the scope drops assessments (and so files)."""
        return (self.stage_kind, self.assessed_from, self.assessed_to, self.class_ids) != (
            None,
            None,
            None,
            None,
        )

    def conditions(self, columns) -> list[ColumnElement]:
        """Which assessments stay, after the scope. With object classes, only those that keep
        an annotation of one of them (so only the files with a kept annotation)."""
        kept = []
        if self.class_ids is not None:
            kept.append(
                select(annotations.c.id)
                .where(
                    annotations.c.assessment_id == columns.id,
                    annotations.c.object_class_id.in_(self.class_ids),
                )
                .exists()
            )
        if self.stage_kind is not None:
            kept.append(columns.stage_kind == self.stage_kind)
        if self.assessed_from is not None:
            kept.append(columns.assessed_at >= self.assessed_from)
        if self.assessed_to is not None:
            kept.append(columns.assessed_at < self.assessed_to)
        return kept


@dataclass(frozen=True)
class Filters:
    """Resolved, validated filters: database ids, never user text."""

    workflow_id: int
    scope: Scope
    data_source_id: int | None = None
    order_id: int | None = None
    stage_kind: StageKind | None = None
    assessed_from: datetime | None = None
    assessed_to: datetime | None = None
    class_ids: tuple[int, ...] | None = None

    @property
    def assessments(self) -> Assessments:
        return Assessments(
            self.scope, self.stage_kind, self.assessed_from, self.assessed_to, self.class_ids
        )


def _which(scope: Assessments | Scope) -> Assessments:
    return scope if isinstance(scope, Assessments) else Assessments(scope)


def kept_annotation(class_ids: tuple[int, ...] | None, annotation=None) -> ColumnElement:
    """An annotation of a kept object class (every annotation without a class filter)."""
    annotation = annotations if annotation is None else annotation
    return true() if class_ids is None else annotation.c.object_class_id.in_(class_ids)


def kept_value(class_ids: tuple[int, ...] | None) -> ColumnElement:
    """An attribute value that stays with a class filter: an annotation's value if the
    annotation is kept; an entity-level value if its entity keeps an annotation in that
    assessment (SPEC 3, more filters)."""
    if class_ids is None:
        return true()
    kept = annotations.alias("kept")
    return or_(
        and_(
            attribute_values.c.annotation_id.is_not(None),
            select(kept.c.id)
            .where(
                kept.c.id == attribute_values.c.annotation_id, kept.c.object_class_id.in_(class_ids)
            )
            .exists(),
        ),
        and_(
            attribute_values.c.annotation_id.is_(None),
            select(kept.c.id)
            .where(
                kept.c.assessment_id == attribute_values.c.assessment_id,
                kept.c.entity_id == attribute_values.c.entity_id,
                kept.c.object_class_id.in_(class_ids),
            )
            .exists(),
        ),
    )


def iso_timestamp(column: ColumnElement, dialect: str) -> ColumnElement:
    """ISO 8601 UTC to the second, e.g. 2026-11-28T18:07:01Z."""
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%dT%H:%M:%SZ", column)
    return func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')


def workflow_files(filters: Filters) -> Select:
    """Ids and sizes of the workflow's files of the order and data source filters (the
    assessment filters not applied), unordered."""
    stmt = (
        select(data_files.c.id, data_files.c.byte_size)
        .select_from(data_files.join(cases, data_files.c.case_id == cases.c.id))
        .where(cases.c.workflow_id == filters.workflow_id)
    )
    if filters.order_id is not None:
        stmt = stmt.where(cases.c.workflow_order_id == filters.order_id)
    if filters.data_source_id is not None:
        stmt = stmt.where(data_files.c.data_source_id == filters.data_source_id)
    return stmt


def files_in_scope(filters: Filters) -> Select:
    """Ids of the filtered files, in export order (external ID, count). With a stage kind or
    a time window, only the files that keep an assessment."""
    stmt = (
        workflow_files(filters)
        .with_only_columns(data_files.c.id)
        .order_by(cases.c.external_id, data_files.c.count, data_files.c.id)
    )
    which = filters.assessments
    if which.narrowed:
        kept = _scoped(which, stmt.order_by(None)).subquery("kept")
        stmt = stmt.where(data_files.c.id.in_(select(kept.c.data_file_id)))
    return stmt


def file_records(filters: Filters) -> Select:
    """File metadata for the Files layouts, in export order."""
    return (
        select(
            data_files.c.id.label("file_id"),
            cases.c.external_id,
            workflows.c.name.label("workflow"),
            orders.c.name.label("workflow_order"),
            sources.c.name.label("data_source"),
            data_files.c.count,
            data_files.c.file_name,
            data_files.c.content_type,
            data_files.c.width,
            data_files.c.height,
            data_files.c.byte_size,
            data_files.c.sha256,
            data_files.c.storage_key,
        )
        .select_from(
            data_files.join(cases, data_files.c.case_id == cases.c.id)
            .join(workflows, cases.c.workflow_id == workflows.c.id)
            .join(sources, data_files.c.data_source_id == sources.c.id)
            .outerjoin(orders, cases.c.workflow_order_id == orders.c.id)
        )
        .where(
            data_files.c.id.in_(
                files_in_scope(filters).with_only_columns(data_files.c.id).order_by(None)
            )
        )
        .order_by(cases.c.external_id, data_files.c.count, data_files.c.id)
    )


def latest(file_ids: Select | Sequence[int], *where: ColumnElement) -> Select:
    """Each given file's latest assessment: the Latest rule (SPEC section 2), written here
    only. The greatest assessed_at, ties broken by the greater id; among the file's
    assessments that meet ``where`` (conditions on ``a``), if any.

    A SELECT of the assessment's columns, one row per file that has such an assessment. Its
    ``selected_columns`` take further conditions (applied after the rule); make it a
    subquery or CTE to join it.
    """
    ranked = (
        select(
            assessments,
            func.row_number()
            .over(
                partition_by=assessments.c.data_file_id,
                order_by=(assessments.c.assessed_at.desc(), assessments.c.id.desc()),
            )
            .label("rank"),
        )
        .where(assessments.c.data_file_id.in_(file_ids), *where)
        .subquery("ranked")
    )
    return select(*(ranked.c[col.name] for col in assessments.c)).where(ranked.c.rank == 1)


def assessments_in_scope(which: Assessments | Scope, file_ids: Select | Sequence[int]):
    """Assessments of the given files; with Latest only each file's latest one (``latest``);
    then only those of the stage kind and time window, if given."""
    return _scoped(which, file_ids).subquery("scoped")


def _scoped(which: Assessments | Scope, file_ids: Select | Sequence[int]) -> Select:
    which = _which(which)
    if which.scope is Scope.all:
        return select(assessments).where(
            assessments.c.data_file_id.in_(file_ids), *which.conditions(assessments.c)
        )
    scoped = latest(file_ids)
    return scoped.where(*which.conditions(scoped.selected_columns))


def chunk_assessments(scope: Assessments | Scope, file_ids: Sequence[int], dialect: str) -> Select:
    """The assessments in scope of some files with their long columns, in export order.

    One row per assessment (a few thousand per chunk): the columns that every long row of the
    assessment repeats, so the database never joins, formats or sorts them per long row.
    """
    return _with_assessment_columns(assessments_in_scope(scope, list(file_ids)), dialect)


def long_values(scope: Assessments | Scope, file_ids: Sequence[int]) -> Select:
    """The long rows of some files without their assessment columns, unsorted.

    One row per location, per object class and per attribute value, with two sort keys:
    ``attribute_rank`` orders location (0), object_class (1), then the taxonomy
    (2 + position); ``value_id`` orders the values of a multi-valued attribute. Within an
    assessment, SPEC order is (entity_id, annotation_id with entity-level values last,
    attribute_rank, value_id): all integers, so Arrow sorts them as any database would.

    An attribute value's frame is its annotation's, left NULL here: the reader takes it from
    the annotation's location row, which is always in the same chunk (the writer keeps an
    annotation's values on its assessment), so the database need not look up the annotation
    of every value (on PostgreSQL that lookup was a hash join over all annotations per chunk).
    """
    return _long_values(assessments_in_scope(scope, list(file_ids)), _which(scope).class_ids)


def long_rows(scope: Assessments | Scope, file_ids: Sequence[int], dialect: str) -> Select:
    """The same long rows as one statement, joined and sorted in SQL (SPEC order).

    The export reads ``chunk_assessments`` and ``long_values`` and joins them in Arrow, which
    is several times faster; this one statement is the reference the tests compare that with,
    and what the benchmark's naive path reads.
    """
    scoped = assessments_in_scope(scope, list(file_ids))
    rows = _long_values(scoped, _which(scope).class_ids).subquery("long_values")
    framed = annotations.alias("framed")  # every row's frame is its annotation's
    columns = [framed.c.frame if name == "frame" else rows.c[name] for name in VALUE_COLUMNS]
    return (
        _with_assessment_columns(assessments, dialect)
        .add_columns(*columns)
        .join(rows, rows.c.assessment_id == assessments.c.id)
        .outerjoin(framed, rows.c.annotation_id == framed.c.id)
        .order_by(
            rows.c.entity_id,
            case((rows.c.annotation_id.is_(None), 1), else_=0),
            rows.c.annotation_id,
            rows.c.attribute_rank,
            rows.c.value_id,
        )
    )


def _with_assessment_columns(scoped, dialect: str) -> Select:
    """The long columns of the assessments in ``scoped`` (or of all assessments: ``a``), in
    export order."""
    return (
        select(
            workflows.c.name.label("workflow"),
            func.coalesce(orders.c.name, "").label("workflow_order"),
            sources.c.name.label("data_source"),
            data_files.c.id.label("file_id"),
            cases.c.external_id,
            data_files.c.file_name,
            scoped.c.id.label("assessment_id"),
            scoped.c.stage,
            scoped.c.stage_kind,
            scoped.c.assessed_by,
            iso_timestamp(scoped.c.assessed_at, dialect).label("assessed_at"),
        )
        .select_from(
            scoped.join(data_files, scoped.c.data_file_id == data_files.c.id)
            .join(cases, data_files.c.case_id == cases.c.id)
            .join(workflows, cases.c.workflow_id == workflows.c.id)
            .join(sources, data_files.c.data_source_id == sources.c.id)
            .outerjoin(orders, cases.c.workflow_order_id == orders.c.id)
        )
        .order_by(
            cases.c.external_id,
            data_files.c.count,
            data_files.c.id,
            scoped.c.assessed_at,
            scoped.c.id,
        )
    )


def _long_values(scoped, class_ids: tuple[int, ...] | None) -> Select:
    no_conf = literal(NO_CONFIDENCE)
    location = (
        select(
            scoped.c.id.label("assessment_id"),
            annotations.c.entity_id,
            annotations.c.id.label("annotation_id"),
            annotations.c.frame,
            literal(LOCATION, String).label("attribute"),
            annotations.c.geometry.label("value"),
            func.coalesce(annotations.c.confidence, no_conf).label("confidence"),
            literal(0, Integer).label("attribute_rank"),
            literal(0, Integer).label("value_id"),
        )
        .select_from(scoped.join(annotations, annotations.c.assessment_id == scoped.c.id))
        .where(kept_annotation(class_ids))
    )
    object_class = (
        select(
            scoped.c.id,
            annotations.c.entity_id,
            annotations.c.id,
            annotations.c.frame,
            literal(OBJECT_CLASS, String),
            object_classes.c.name,
            func.coalesce(annotations.c.class_confidence, no_conf),
            literal(1, Integer),
            literal(0, Integer),
        )
        .select_from(
            scoped.join(annotations, annotations.c.assessment_id == scoped.c.id).join(
                object_classes, annotations.c.object_class_id == object_classes.c.id
            )
        )
        .where(kept_annotation(class_ids))
    )
    attribute = (
        select(
            scoped.c.id,
            attribute_values.c.entity_id,
            attribute_values.c.annotation_id,
            literal(None, Integer),  # the annotation's frame: see long_values
            attributes.c.name,
            attribute_values.c.value,
            func.coalesce(attribute_values.c.confidence, no_conf),
            attributes.c.position + 2,
            attribute_values.c.id,
        )
        .select_from(
            scoped.join(attribute_values, attribute_values.c.assessment_id == scoped.c.id).join(
                attributes, attribute_values.c.attribute_id == attributes.c.id
            )
        )
        .where(kept_value(class_ids))
    )
    # An assessment with no annotation and no value (a review that removed everything) is
    # one row of its own: SPEC 3.1, "reviewed, nothing found". (With object classes, every
    # assessment in scope keeps an annotation: there are none.)
    empty = select(
        scoped.c.id,
        literal(None, String),
        literal(None, Integer),
        literal(None, Integer),
        literal(None, String),
        literal(None, String),
        no_conf,
        literal(EMPTY_RANK, Integer),
        literal(0, Integer),
    ).where(~_has_rows(scoped.c.id))
    return union_all(location, object_class, attribute, empty)


def _has_rows(assessment_id) -> ColumnElement:
    """Whether an assessment has any annotation or attribute value."""
    return or_(
        select(annotations.c.id).where(annotations.c.assessment_id == assessment_id).exists(),
        select(attribute_values.c.id)
        .where(attribute_values.c.assessment_id == assessment_id)
        .exists(),
    )


def counts(filters: Filters) -> Select:
    """Files, assessments, entities, annotations and attribute values in scope, in one
    statement: the numbers of ``counts_direct``, the same for every filter combination (a
    test compares the two), read from the assessment summaries (``models.AssessmentSummary``:
    one row per assessment, entity and object class, kept by the writer: ``store.summary``)
    instead of every annotation and value, so that a new combination counts fast cold
    (bench/bench_counts.py).

    - Distinct entities by their integer ``number``, counted with the annotations and values
      in one pass over the summary rows in scope (no UUID text, no second read).
    - A bare (assessment, entity) pair, values without an annotation of their entity in that
      assessment, is a summary row of entity-level values (no class) without a row of a
      class beside it; an empty assessment is one without summary rows.
    - With object classes: the kept rows are those of the kept classes; an entity-level value
      stays where its entity keeps an annotation in that assessment (the entity-level row
      beside a kept row); and two numbers are known without reading: every assessment in
      scope keeps an annotation (no empty ones), and no pair is bare.
    """
    filed = workflow_files(filters).cte("filed").prefix_with("NOT MATERIALIZED")
    scoped = _scoped(filters.assessments, select(filed.c.id)).cte("scoped")
    files = filed
    if filters.assessments.narrowed:
        files = select(filed).where(filed.c.id.in_(select(scoped.c.data_file_id))).cte("files")
    if filters.class_ids is None:
        numbers = _unfiltered_counts(scoped)
    else:
        numbers = _class_counts(scoped, filters.class_ids)
    return select(*_file_counts(files), *numbers)


def _file_counts(files) -> list[ColumnElement]:
    unassessed = (
        select(func.count())
        .select_from(files)
        .where(~select(assessments.c.id).where(assessments.c.data_file_id == files.c.id).exists())
        .scalar_subquery()
    )
    return [
        select(func.count()).select_from(files).scalar_subquery().label("files"),
        select(func.sum(files.c.byte_size)).scalar_subquery().label("file_bytes"),
        unassessed.label("files_without_assessment"),
    ]


def _summed(scoped, *where: ColumnElement):
    """The distinct entities, annotations and values of the summary rows of the assessments
    in scope (and ``where``), in one pass: a one-row subquery."""
    return (
        select(
            func.count(summaries.c.entity_number.distinct()).label("entities"),
            func.coalesce(func.sum(summaries.c.annotations), 0).label("annotations"),
            func.coalesce(func.sum(summaries.c.attribute_values), 0).label("attribute_values"),
        )
        .join(scoped, summaries.c.assessment_id == scoped.c.id)
        .where(*where)
        .subquery("summed")
    )


def _unfiltered_counts(scoped) -> list[ColumnElement]:
    """Every annotation and value of the assessments in scope."""
    summed = _summed(scoped)
    entity_level = summaries.alias("entity_level")
    beside = summaries.alias("beside")
    bare = (
        select(func.count())
        .select_from(entity_level)
        .join(scoped, entity_level.c.assessment_id == scoped.c.id)
        .where(
            entity_level.c.object_class_id.is_(None),
            ~select(beside.c.id)
            .where(
                beside.c.assessment_id == entity_level.c.assessment_id,
                beside.c.entity_number == entity_level.c.entity_number,
                beside.c.object_class_id.is_not(None),
            )
            .exists(),
        )
        .scalar_subquery()
    )
    empty = (
        select(func.count())
        .select_from(scoped)
        .where(~select(summaries.c.id).where(summaries.c.assessment_id == scoped.c.id).exists())
        .scalar_subquery()
    )
    return [
        select(func.count()).select_from(scoped).scalar_subquery().label("assessments"),
        summed.c.entities,
        summed.c.annotations,
        summed.c.attribute_values,
        bare.label("bare_entities"),
        empty.label("empty_assessments"),
    ]


def _class_counts(scoped, class_ids: tuple[int, ...]) -> list[ColumnElement]:
    """The annotations of the kept classes and the values that stay with them (SPEC 3, more
    filters: ``kept_annotation``, ``kept_value``)."""
    kept_class = summaries.c.object_class_id.in_(class_ids)
    summed = _summed(scoped, kept_class)
    # The entity-level values of each (assessment, entity) with a kept annotation.
    pairs = (
        select(summaries.c.assessment_id, summaries.c.entity_number)
        .join(scoped, summaries.c.assessment_id == scoped.c.id)
        .where(kept_class)
        .group_by(summaries.c.assessment_id, summaries.c.entity_number)
        .subquery("pairs")
    )
    entity_level = summaries.alias("entity_level")
    of_kept_entities = (
        select(func.coalesce(func.sum(entity_level.c.attribute_values), 0))
        .select_from(
            pairs.join(
                entity_level,
                and_(
                    entity_level.c.assessment_id == pairs.c.assessment_id,
                    entity_level.c.object_class_id.is_(None),
                    entity_level.c.entity_number == pairs.c.entity_number,
                ),
            )
        )
        .scalar_subquery()
    )
    zero = literal(0, Integer)
    return [
        select(func.count()).select_from(scoped).scalar_subquery().label("assessments"),
        summed.c.entities,
        summed.c.annotations,
        (summed.c.attribute_values + of_kept_entities).label("attribute_values"),
        # Kept entity-level values are of entities with a kept annotation in that assessment.
        zero.label("bare_entities"),
        # Every assessment in scope keeps an annotation (Assessments.conditions).
        zero.label("empty_assessments"),
    ]


def counts_direct(filters: Filters) -> Select:
    """The numbers of ``counts`` counted from the rows as the export reads them (the
    reference the tests compare ``counts`` with, and the bench's before)."""
    # CTEs: the database works out the assessments in scope (the Latest rule's window) once
    # for every count (bench: 2-2.5x faster for Latest on 1M rows), from the workflow's files
    # of the file filters; with assessment filters the files in scope are those that keep an
    # assessment, found from the same CTE (not by a second window: 1.5-2.5x faster cold on
    # 1M rows). The file CTE stays inline (NOT MATERIALIZED): materialized, PostgreSQL plans
    # the assessments' IN over it blind (10 s instead of 1.5 s for All on 1M rows).
    filed = workflow_files(filters).cte("filed").prefix_with("NOT MATERIALIZED")
    scoped = _scoped(filters.assessments, select(filed.c.id)).cte("scoped")
    files = filed
    if filters.assessments.narrowed:
        files = select(filed).where(filed.c.id.in_(select(scoped.c.data_file_id))).cte("files")
    class_ids = filters.class_ids
    ann = (
        select(func.count())
        .select_from(annotations.join(scoped, annotations.c.assessment_id == scoped.c.id))
        .where(kept_annotation(class_ids))
        .scalar_subquery()
    )
    values = (
        select(func.count())
        .select_from(attribute_values.join(scoped, attribute_values.c.assessment_id == scoped.c.id))
        .where(kept_value(class_ids))
        .scalar_subquery()
    )
    # An annotation-level value shares its annotation's entity and assessment (the writer
    # enforces it), so entity-level values are the only ones that can add an entity or an
    # (assessment, entity) pair without an annotation.
    entity_level = and_(
        attribute_values.c.assessment_id == scoped.c.id, attribute_values.c.annotation_id.is_(None)
    )
    entities = (
        select(func.count())
        .select_from(
            union(
                select(annotations.c.entity_id)
                .join(scoped, annotations.c.assessment_id == scoped.c.id)
                .where(kept_annotation(class_ids)),
                select(attribute_values.c.entity_id)
                .join(scoped, entity_level)
                .where(kept_value(class_ids)),
            ).subquery("entity_ids")
        )
        .scalar_subquery()
    )
    # (assessment, entity) pairs with values but no annotation: one extra wide row each.
    bare_entities = (
        select(func.count())
        .select_from(
            select(attribute_values.c.assessment_id, attribute_values.c.entity_id)
            .join(scoped, entity_level)
            .where(
                kept_value(class_ids),
                ~select(annotations.c.id)
                .where(
                    and_(
                        annotations.c.assessment_id == attribute_values.c.assessment_id,
                        annotations.c.entity_id == attribute_values.c.entity_id,
                    )
                )
                .exists(),
            )
            .distinct()
            .subquery("bare")
        )
        .scalar_subquery()
    )
    unassessed = (
        select(func.count())
        .select_from(files)
        .where(~select(assessments.c.id).where(assessments.c.data_file_id == files.c.id).exists())
        .scalar_subquery()
    )
    empty_assessments = (
        select(func.count()).select_from(scoped).where(~_has_rows(scoped.c.id)).scalar_subquery()
    )
    file_bytes = select(func.sum(files.c.byte_size)).scalar_subquery()
    return select(
        select(func.count()).select_from(files).scalar_subquery().label("files"),
        file_bytes.label("file_bytes"),
        unassessed.label("files_without_assessment"),
        select(func.count()).select_from(scoped).scalar_subquery().label("assessments"),
        entities.label("entities"),
        ann.label("annotations"),
        values.label("attribute_values"),
        bare_entities.label("bare_entities"),
        empty_assessments.label("empty_assessments"),
    )


def overlays(scope: Assessments | Scope, file_ids: Sequence[int]) -> Select:
    """Assessments in scope of the given files with their annotations to draw (SPEC 3.5).

    One row per annotation, or one row with NULL geometry for an assessment without any;
    ordered by assessment (assessed_at, id), then annotation.
    """
    scoped = assessments_in_scope(scope, list(file_ids))
    drawn = and_(
        annotations.c.assessment_id == scoped.c.id, kept_annotation(_which(scope).class_ids)
    )
    return (
        select(
            scoped.c.data_file_id,
            scoped.c.id.label("assessment_id"),
            scoped.c.stage,
            annotations.c.id.label("annotation_id"),
            annotations.c.geometry,
            object_classes.c.name.label("object_class"),
            object_classes.c.colour,
            annotations.c.confidence,
        )
        .select_from(
            scoped.outerjoin(annotations, drawn).outerjoin(
                object_classes, annotations.c.object_class_id == object_classes.c.id
            )
        )
        .order_by(scoped.c.data_file_id, scoped.c.assessed_at, scoped.c.id, annotations.c.id)
    )
