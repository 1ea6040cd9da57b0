"""The Overview's aggregates: exact values on the hand-built workflow, on SQLite and PostgreSQL.

The hand workflow (tests/query/conftest.py) has file 1 with a machine and a human assessment
(E1 moved, E2 deleted, E3 added), file 2 and file 3 with a machine assessment only. The
review tests add assessments to cover kept, reclassified, frames, ties and ignored files;
the demo test checks the SQL against a plain Python reading of the same rules.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest
from sqlalchemy import select

from dashboard.errors import UnknownChoiceError, UnknownWorkflowError
from dashboard.importers.demo import DEMO_WORKFLOW, create_demo
from dashboard.query import overview
from dashboard.spec.options import Scope
from dashboard.store import writer
from dashboard.store.models import Annotation, Assessment, Case, DataFile, ObjectClass
from tests.hand_workflow import image_bytes

E5 = "00000000-0000-4000-8000-000000000005"
E6 = "00000000-0000-4000-8000-000000000006"
E7 = "00000000-0000-4000-8000-000000000007"
E8 = "00000000-0000-4000-8000-000000000008"


def records(frame) -> list[tuple]:
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_files_by_order_and_source(hand_store):
    frame = overview.files_by_order_and_source(hand_store, "harbour")
    assert list(frame.columns) == ["workflow_order", "data_source", "files", "assessments"]
    assert records(frame) == [("8492192", "cam-1", 2, 3), ("(no order)", "drone", 1, 1)]


def test_assessments_over_time(hand_store):
    frame = overview.assessments_over_time(hand_store, "harbour")
    assert list(frame.columns) == ["day", "stage_kind", "assessments"]
    assert records(frame) == [
        (date(2026, 11, 1), "machine", 2),
        (date(2026, 11, 2), "human", 1),
        (date(2026, 11, 3), "machine", 1),
    ]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("latest", [("vessel", "#e6194b", 3), ("buoy", "#3cb44b", 1)]),  # h1, m2, m3
        (Scope.latest, [("vessel", "#e6194b", 3), ("buoy", "#3cb44b", 1)]),
        ("all", [("vessel", "#e6194b", 4), ("buoy", "#3cb44b", 2)]),  # m1, h1, m2, m3
    ],
)
def test_class_distribution(hand_store, scope, expected):
    frame = overview.class_distribution(hand_store, "harbour", scope)
    assert list(frame.columns) == ["object_class", "colour", "annotations"]
    assert records(frame) == expected


def test_class_distribution_lists_classes_without_annotations(store):
    with store.session() as session:
        writer.create_workflow(session, "bare", ["crane", "person"])
    frame = overview.class_distribution(store, "bare")
    assert records(frame) == [("crane", "#e6194b", 0), ("person", "#3cb44b", 0)]


def test_class_distribution_latest_breaks_ties_by_greater_id(hand_store):
    """Two assessments at the same time: the one with the greater id is the latest."""
    with hand_store.session() as session:
        taxonomy = writer.Taxonomy(hand_store.workflow(session, "harbour"))
        f3 = session.get(DataFile, hand_store.ids["f3"])
        same_time = datetime(2026, 11, 3, 7, 0, 0)  # as m3
        tied = writer.add_assessment(session, f3, "review", "human", "lena", same_time)
        for entity in (E6, E7):
            writer.add_annotation(session, taxonomy, tied, entity, "buoy", "POINT (1 1)", 1.0)
    frame = overview.class_distribution(hand_store, "harbour")
    assert records(frame) == [("vessel", "#e6194b", 2), ("buoy", "#3cb44b", 3)]


def test_class_distribution_rejects_an_unknown_scope(hand_store):
    expected = r"valid scopes: all \(All Assessments\), latest \(Latest Assessments\)$"
    with pytest.raises(UnknownChoiceError, match=expected):
        overview.class_distribution(hand_store, "harbour", "newest")


def test_confidences(hand_store):
    frame = overview.confidences(hand_store, "harbour")
    assert list(frame.columns) == ["stage_kind", "bin", "low", "high", "annotations"]
    # machine 0.42, 0.55, 0.66, 0.91; human 1.0 (in the last bin) and one without confidence
    assert records(frame) == [
        ("machine", 8, 0.40, 0.45, 1),
        ("machine", 11, 0.55, 0.60, 1),
        ("machine", 13, 0.65, 0.70, 1),
        ("machine", 18, 0.90, 0.95, 1),
        ("human", 19, 0.95, 1.00, 1),
    ]


def test_human_changes_on_file_1(hand_store):
    frame = overview.human_changes(hand_store, "harbour")
    assert list(frame.columns) == ["object_class", "change", "count"]
    # E1 same class, new polygon; E2 only machine; E3 only human. Files 2 and 3: no human.
    assert records(frame) == [("vessel", "moved", 1), ("buoy", "deleted", 1), ("buoy", "added", 1)]


def add_reviews(store) -> None:
    """Kept, reclassified, frames, two annotations of one entity, ties and ignored humans."""
    ids = store.ids
    with store.session() as session:
        workflow = store.workflow(session, "harbour")
        taxonomy = writer.Taxonomy(workflow)

        def annotate(assessment, entity, object_class, wkt, frame=0):
            writer.add_annotation(
                session, taxonomy, assessment, entity, object_class, wkt, frame=frame
            )

        f2, f3 = session.get(DataFile, ids["f2"]), session.get(DataFile, ids["f3"])
        annotate(session.get(Assessment, ids["m2"]), E5, "vessel", "POINT (3 3)", frame=1)
        # file 2: a human before the machine (ignored), then two at one time: the greater id wins
        before = writer.add_assessment(session, f2, "review", "human", "jo", datetime(2026, 10, 31))
        annotate(before, E5, "buoy", "POINT (9 9)")
        at = datetime(2026, 11, 4, 10, 0, 0)
        writer.add_assessment(session, f2, "review", "human", "jo", at)  # no annotations
        h2 = writer.add_assessment(session, f2, "review", "human", "lena", at)
        annotate(h2, E5, "vessel", "LINESTRING (0 0, 10 10)")  # kept
        annotate(h2, E7, "buoy", "POINT (7 7)")  # added
        # file 3: a human at the machine's time with a greater id counts as after it
        h3 = writer.add_assessment(session, f3, "review", "human", "lena", datetime(2026, 11, 3, 7))
        annotate(h3, E6, "buoy", "POLYGON ((0 0, 6 0, 6 6, 0 0))")  # reclassified
        annotate(h3, E6, "vessel", "POINT (2 2)")  # a second annotation of E6: added
        # a file whose machine run came after its human one: nothing to compare
        loose = session.get(Case, f3.case_id)
        drone = f3.data_source
        f4 = writer.add_file(session, store.files, loose, drone, "late.jpg", image_bytes(8, 8))
        human = writer.add_assessment(session, f4, "review", "human", "jo", datetime(2026, 11, 5))
        annotate(human, E8, "vessel", "POINT (1 1)")
        machine = writer.add_assessment(
            session, f4, "detector", "machine", "d", datetime(2026, 11, 6)
        )
        annotate(machine, E8, "buoy", "POINT (1 1)")


def test_human_changes_kinds_of_change(hand_store):
    add_reviews(hand_store)
    frame = overview.human_changes(hand_store, "harbour")
    assert records(frame) == [
        ("vessel", "kept", 1),  # E5 frame 0 in file 2
        ("vessel", "moved", 1),  # E1
        ("vessel", "reclassified", 1),  # E6, counted under the machine's class
        ("vessel", "deleted", 1),  # E5 frame 1
        ("vessel", "added", 1),  # E6's second annotation
        ("buoy", "deleted", 1),  # E2
        ("buoy", "added", 2),  # E3, E7
    ]


def test_summary(hand_store):
    assert overview.summary(hand_store, "harbour") == {
        "files": 3,
        "cases": 2,
        "assessments": 4,
        "machine_assessments": 3,
        "human_assessments": 1,
        "annotations": 6,
        "entities": 6,  # E4 has only an entity-level value
        "orders": 1,
        "data_sources": 2,
    }


def test_an_empty_workflow_gives_empty_frames(store):
    with store.session() as session:
        writer.create_workflow(session, "empty", ["vessel"])
    assert overview.files_by_order_and_source(store, "empty").empty
    assert overview.assessments_over_time(store, "empty").empty
    assert overview.confidences(store, "empty").empty
    assert overview.human_changes(store, "empty").empty
    assert set(overview.summary(store, "empty").values()) == {0}


@pytest.mark.parametrize(
    "aggregate",
    [
        overview.files_by_order_and_source,
        overview.assessments_over_time,
        overview.class_distribution,
        overview.confidences,
        overview.human_changes,
        overview.summary,
    ],
)
def test_unknown_workflow(hand_store, aggregate):
    with pytest.raises(
        UnknownWorkflowError, match="unknown workflow 'nope'; known workflows: harbour"
    ):
        aggregate(hand_store, "nope")


# -- the SQL against a plain reading of the rules, on a small demo ---------------------------


def reference(store) -> tuple[Counter, Counter]:
    """(class, change) and (stage kind, bin) counts computed in Python from the ORM."""
    with store.session() as session:
        classes = dict(session.execute(select(ObjectClass.id, ObjectClass.name)).all())
        assessments = defaultdict(list)
        for assessment in session.scalars(select(Assessment)):
            assessments[assessment.data_file_id].append(assessment)
        changes, bins = Counter(), Counter()
        for found in assessments.values():
            for assessment in found:
                for annotation in assessment.annotations:
                    if annotation.confidence is not None:
                        index = min(math.floor(annotation.confidence * 20), 19)
                        bins[str(assessment.stage_kind), index] += 1
            order = sorted(found, key=lambda x: (x.assessed_at, x.id))
            machines = [x for x in order if x.stage_kind == "machine"]
            if not machines:
                continue
            humans = [x for x in order[order.index(machines[-1]) :] if x.stage_kind == "human"]
            if not humans:
                continue
            machine, human = keyed(machines[-1].annotations), keyed(humans[-1].annotations)
            for key, before in machine.items():
                after = human.get(key)
                if after is None:
                    change = "deleted"
                elif after.object_class_id != before.object_class_id:
                    change = "reclassified"
                elif after.geometry != before.geometry:
                    change = "moved"
                else:
                    change = "kept"
                changes[classes[before.object_class_id], change] += 1
            for key, after in human.items():
                if key not in machine:
                    changes[classes[after.object_class_id], "added"] += 1
    return changes, bins


def keyed(annotations: list[Annotation]) -> dict[tuple, Annotation]:
    seen: Counter = Counter()
    result = {}
    for annotation in sorted(annotations, key=lambda x: x.id):
        seen[annotation.entity_id, annotation.frame] += 1
        result[
            annotation.entity_id, annotation.frame, seen[annotation.entity_id, annotation.frame]
        ] = annotation
    return result


def test_demo_matches_a_python_reading_of_the_rules(store):
    create_demo(store, files=20)
    changes, bins = reference(store)
    frame = overview.human_changes(store, DEMO_WORKFLOW)
    assert {(cls, change): count for cls, change, count in records(frame)} == dict(changes)
    assert {"kept", "moved", "deleted", "added"} <= set(frame["change"])
    binned = overview.confidences(store, DEMO_WORKFLOW)
    assert {(kind, b): count for kind, b, _, _, count in records(binned)} == dict(bins)
    numbers = overview.summary(store, DEMO_WORKFLOW)
    assert numbers["files"] == 20
    assert overview.files_by_order_and_source(store, DEMO_WORKFLOW)["files"].sum() == 20
    per_day = overview.assessments_over_time(store, DEMO_WORKFLOW)
    assert per_day["assessments"].sum() == numbers["assessments"]
    latest = overview.class_distribution(store, DEMO_WORKFLOW, "latest")["annotations"].sum()
    every = overview.class_distribution(store, DEMO_WORKFLOW, "all")["annotations"].sum()
    assert every == numbers["annotations"] > latest > 0
