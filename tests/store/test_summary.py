"""Assessment summaries (store/summary.py, models.AssessmentSummary) are what a recount
from the rows gives, whatever wrote the rows: the single-row writer, the bulk imports (the
demo, a long CSV imported twice into one workflow), on SQLite and PostgreSQL; a failed
import leaves them as they were; entity numbers are one per (workflow, UUID)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from dashboard.errors import ImportRecordError
from dashboard.export import ExportQuery
from dashboard.importers.demo import create_demo
from dashboard.importers.long_csv import import_long_csv
from dashboard.query import sql
from dashboard.spec.options import Scope
from dashboard.store import summary
from dashboard.store.models import AssessmentSummary, Entity, Workflow
from tests.hand_workflow import build_hand_workflow


def kept(store) -> list[tuple]:
    """The summary rows as the writer left them, without their ids."""
    with store.session() as s:
        return sorted(
            tuple(row)
            for row in s.execute(
                select(
                    AssessmentSummary.assessment_id,
                    AssessmentSummary.entity_number,
                    func.coalesce(AssessmentSummary.object_class_id, -1),
                    AssessmentSummary.annotations,
                    AssessmentSummary.attribute_values,
                )
            )
        )


def recounted(store) -> list[tuple]:
    """The summary rows counted again from every row of the store."""
    with store.engine.begin() as connection:
        summary.recount(connection)
    return kept(store)


def same_counts_as_direct(store, workflow: str) -> None:
    with store.session() as s:
        workflow_id = s.scalar(select(Workflow.id).where(Workflow.name == workflow))
    with store.engine.connect() as connection:
        for scope in Scope:
            filters = sql.Filters(workflow_id, scope)
            counted = connection.execute(sql.counts(filters)).one()
            assert tuple(counted) == tuple(connection.execute(sql.counts_direct(filters)).one())


def long_csv(store, workflow: str, renamed: str) -> bytes:
    """The workflow's long CSV (scope All), its rows renamed to another workflow."""
    buffer = io.BytesIO()
    ExportQuery(store, workflow=workflow, scope="all", layout="long").write_csv(buffer)
    rows = list(csv.reader(io.StringIO(buffer.getvalue().decode("utf-8-sig"))))
    column = rows[0].index("workflow")
    for row in rows[1:]:
        row[column] = renamed
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_the_single_row_writer_keeps_the_summaries(store):
    build_hand_workflow(store)
    before = kept(store)
    assert before  # the hand workflow has annotations and values
    assert recounted(store) == before
    same_counts_as_direct(store, "harbour")


def test_the_demo_import_keeps_the_summaries(store):
    workflow = create_demo(store, files=24)
    before = kept(store)
    assert len(before) > 24
    assert recounted(store) == before
    same_counts_as_direct(store, workflow)


def test_a_long_csv_imported_twice_into_one_workflow_keeps_the_summaries(store):
    """The second import names the same entity UUIDs in the same workflow: the same
    entities (numbers), so the entity count stays while assessments and annotations
    double."""
    build_hand_workflow(store)
    data = long_csv(store, "harbour", "copy")
    import_long_csv(store, io.BytesIO(data), workflow="copy")
    once = ExportQuery(store, workflow="copy", scope="all").in_scope()
    import_long_csv(store, io.BytesIO(data), workflow="copy")
    twice = ExportQuery(store, workflow="copy", scope="all").in_scope()
    assert (twice.assessments, twice.annotations) == (2 * once.assessments, 2 * once.annotations)
    assert twice.entities == once.entities
    before = kept(store)
    assert recounted(store) == before
    same_counts_as_direct(store, "copy")
    same_counts_as_direct(store, "harbour")


def test_a_failed_import_leaves_the_summaries_and_numbers_as_they_were(store):
    build_hand_workflow(store)
    data = long_csv(store, "harbour", "copy")
    broken = data + b"1,2,3\r\n"  # every row goes in, then the last is refused
    with store.session() as s:
        numbers_before = sorted(s.scalars(select(Entity.number)))
    before = kept(store)
    with pytest.raises(ImportRecordError, match="3 cells where the header has"):
        import_long_csv(store, io.BytesIO(broken), workflow="copy")
    assert kept(store) == before
    with store.session() as s:
        assert sorted(s.scalars(select(Entity.number))) == numbers_before


def test_an_entity_has_one_number_per_workflow(store):
    """The same UUIDs imported under another workflow are that workflow's entities, with
    numbers of their own; numbers are unique in the store."""
    build_hand_workflow(store)
    import_long_csv(store, io.BytesIO(long_csv(store, "harbour", "copy")), workflow="copy")
    with store.session() as s:
        rows = s.execute(select(Entity.workflow_id, Entity.id, Entity.number)).all()
    numbers = [number for _, _, number in rows]
    assert len(set(numbers)) == len(numbers)
    by_uuid: dict[str, set[int]] = {}
    for workflow_id, uuid, _ in rows:
        by_uuid.setdefault(uuid, set()).add(workflow_id)
    assert any(len(workflows) == 2 for workflows in by_uuid.values())
