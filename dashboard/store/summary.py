"""Assessment summaries (``models.AssessmentSummary``): what each entity has in each
assessment, counted when it is written, so that the counts of a filter combination
(``query.sql.counts``) read one row per entity and object class, not every annotation and
attribute value.

The writer recounts every assessment it wrote annotations or values to, in the same
transaction (``recount``): an import's summaries are exact when it commits, and a failed
import leaves none behind. Stores made before the summaries got them in migration 0005.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    ARRAY,
    Integer,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from dashboard.store.models import (
    Annotation,
    Assessment,
    AssessmentSummary,
    AttributeValue,
    Case,
    DataFile,
    Entity,
)

# SQLite: assessments recounted per statement, an IN list it finds through the indexes.
# PostgreSQL recounts them all in one statement, given as one array: statistics of a table
# filled in the same transaction are stale, so its plan may read the whole table, once.
CHUNK = 1000

summaries = AssessmentSummary.__table__
_COLUMNS = ["assessment_id", "entity_number", "object_class_id", "annotations", "attribute_values"]


def recount(db: Session | Connection, assessment_ids: Iterable[int] | None = None) -> None:
    """Count the summaries of these assessments again from their rows (every assessment's
    with None). Rows written in the caller's transaction count (a session is flushed)."""
    if isinstance(db, Session):
        db.flush()
    if assessment_ids is None:
        db.execute(delete(summaries))
        db.execute(insert(summaries).from_select(_COLUMNS, _counted(None)))
        return
    ids = sorted(set(assessment_ids))
    if not ids:
        return
    dialect = db.get_bind().dialect if isinstance(db, Session) else db.dialect
    postgresql = dialect.name == "postgresql"
    size = len(ids) if postgresql else CHUNK
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        db.execute(delete(summaries).where(_among(summaries.c.assessment_id, batch, postgresql)))
        db.execute(insert(summaries).from_select(_COLUMNS, _counted(batch, postgresql)))


def _among(column, ids: list[int], postgresql: bool) -> ColumnElement:
    """``column IN ids``: one array parameter on PostgreSQL (whatever the number of ids),
    an IN list on SQLite."""
    if postgresql:
        return column == any_(bindparam(None, ids, type_=ARRAY(Integer)))
    return column.in_(ids)


def _counted(assessment_ids: list[int] | None, postgresql: bool = False):
    """The summary rows of some assessments (all with None), from their rows."""
    annotations = Annotation.__table__
    values = AttributeValue.__table__

    def of(rows) -> list[ColumnElement]:
        if assessment_ids is None:
            return []
        return [_among(rows.c.assessment_id, assessment_ids, postgresql)]

    per_annotation = (
        select(values.c.annotation_id, func.count().label("n"))
        .where(values.c.annotation_id.is_not(None), *of(values))
        .group_by(values.c.annotation_id)
        .subquery("per_annotation")
    )
    entity = Entity.__table__
    annotated = (
        select(
            annotations.c.assessment_id,
            entity.c.number,
            annotations.c.object_class_id,
            func.count(),
            func.coalesce(func.sum(per_annotation.c.n), 0),
        )
        .select_from(
            _with_entity(annotations).outerjoin(
                per_annotation, per_annotation.c.annotation_id == annotations.c.id
            )
        )
        .where(*of(annotations))
        .group_by(annotations.c.assessment_id, entity.c.number, annotations.c.object_class_id)
    )
    entity_level = (
        select(
            values.c.assessment_id,
            entity.c.number,
            null(),
            literal(0, Integer),
            func.count(),
        )
        .select_from(_with_entity(values))
        .where(values.c.annotation_id.is_(None), *of(values))
        .group_by(values.c.assessment_id, entity.c.number)
    )
    return union_all(annotated, entity_level)


def _with_entity(rows):
    """Annotations or values joined to their entity: the entity of the rows' workflow
    (assessment -> file -> case)."""
    assessment, data_file, case = Assessment.__table__, DataFile.__table__, Case.__table__
    entity = Entity.__table__
    return (
        rows.join(assessment, assessment.c.id == rows.c.assessment_id)
        .join(data_file, data_file.c.id == assessment.c.data_file_id)
        .join(case, case.c.id == data_file.c.case_id)
        .join(
            entity,
            and_(entity.c.workflow_id == case.c.workflow_id, entity.c.id == rows.c.entity_id),
        )
    )
