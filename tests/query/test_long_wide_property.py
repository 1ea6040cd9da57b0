"""Property: for any workflow, the wide export holds exactly what the long export holds
(apart from non-location confidences), and both agree with the counts."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.export import ExportQuery
from dashboard.query import sql
from dashboard.query.chunks import long_table
from dashboard.query.reader import ArrowReader
from dashboard.store import writer
from tests.hand_workflow import image_bytes

ATTRIBUTES = [("kind", "enum", ["a", "b", "=c"]), ("flag", "boolean"), ("size", "integer"),
              ("length", "decimal"), ("note", "string")]  # fmt: skip
TEXT = st.text(alphabet=st.sampled_from("abcé =-+@'x1 "), min_size=1, max_size=6)
VALUE = {
    "kind": st.sampled_from(["a", "b", "=c"]),
    "flag": st.booleans(),
    "size": st.integers(-50, 50),
    "length": st.decimals(-100, 100, places=2, allow_nan=False, allow_infinity=False),
    "note": TEXT,
}
CONFIDENCE = st.one_of(st.none(), st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 3)))


@st.composite
def value_specs(draw):
    name = draw(st.sampled_from([a[0] for a in ATTRIBUTES]))
    return name, draw(VALUE[name]), draw(CONFIDENCE)


@st.composite
def assessments(draw):
    entities = draw(st.lists(st.integers(0, 3), max_size=3, unique=True))
    return {
        "day": draw(st.integers(0, 2)),  # equal days make ties broken by id
        "kind": draw(st.sampled_from(["machine", "human"])),
        "entities": [
            {
                "entity": entity,
                "annotations": draw(
                    st.lists(
                        st.tuples(
                            st.sampled_from(["car", "bus"]),
                            CONFIDENCE,
                            st.lists(value_specs(), max_size=3),
                            st.integers(0, 2),  # the frame (of a video)
                        ),
                        max_size=2,
                    )
                ),
                "entity_values": draw(st.lists(value_specs(), max_size=2)),
            }
            for entity in entities
        ],
    }


WORKFLOWS = st.lists(st.lists(assessments(), max_size=3), min_size=1, max_size=3)
counter = itertools.count()


def build(store, files) -> str:
    name = f"wf{next(counter)}"
    with store.session() as s:
        wf = writer.create_workflow(s, name, ["car", "bus"], ATTRIBUTES)
        tax = writer.Taxonomy(wf)
        source = writer.data_source(s, "src")
        for index, file_assessments in enumerate(files):
            case = writer.case(s, wf, str(index))
            data_file = writer.add_file(
                s, store.files, case, source, f"{index}.png", image_bytes(20, 20, "PNG")
            )
            entity_ids = {}
            for spec in file_assessments:
                when = datetime(2026, 1, 1) + timedelta(days=spec["day"])
                assessment = writer.add_assessment(s, data_file, "s", spec["kind"], "u", when)
                for block in spec["entities"]:
                    entity = entity_ids.setdefault(block["entity"], writer.entity(s, wf))
                    for cls, confidence, values, frame in block["annotations"]:
                        annotation = writer.add_annotation(
                            s, tax, assessment, entity, cls, "POINT (1 2)", confidence, 0.5, frame
                        )
                        for attr, value, conf in values:
                            writer.add_value(
                                s, tax, assessment, entity, attr, value, conf, annotation
                            )
                    for attr, value, conf in block["entity_values"]:
                        writer.add_value(s, tax, assessment, entity, attr, value, conf)
    return name


def check_reference(store, workflow: str, scope: str, **narrowed) -> None:
    """The export (two statements per chunk, joined and sorted in Arrow) equals the one-statement
    reference SQL, sorted by the database."""
    query = ExportQuery(store, workflow=workflow, scope=scope, spreadsheet_safe=False, **narrowed)
    stmt = sql.long_rows(query.filters().assessments, query.file_ids(), store.dialect)
    with ArrowReader(store.engine, bulk=False) as reader:
        expected = [long_table(batch).to_pylist() for batch in reader.batches(stmt)]
    actual = [table.to_pylist() for table in query.tables()]
    assert sum(actual, []) == sum(expected, [])


def check_agreement(store, workflow: str, scope: str, **narrowed) -> None:
    options = dict(workflow=workflow, scope=scope, spreadsheet_safe=False, **narrowed)
    long = ExportQuery(store, layout="long", **options)
    wide = ExportQuery(store, layout="wide", **options)
    long_rows = long.frame().astype(object).where(lambda f: f.notna(), None).to_dict("records")
    wide_rows = wide.frame().astype(object).where(lambda f: f.notna(), None).to_dict("records")
    assert len(long_rows) == long.counts().rows
    assert len(wide_rows) == wide.counts().rows

    frames = {r["annotation_id"]: r["frame"] for r in long_rows if r["attribute"] == "location"}
    for row in long_rows:  # a row's frame is its annotation's; entity-level values have none
        assert row["frame"] == frames.get(row["annotation_id"])
    locations, classes = {}, {}
    on_annotation, on_entity = defaultdict(list), defaultdict(list)
    empty = set()  # assessments without annotations and values: one row, all else empty
    for row in long_rows:
        key = (row["assessment_id"], row["entity_id"])
        if row["attribute"] is None:
            assert row["entity_id"] is row["annotation_id"] is row["value"] is None
            empty.add(row["assessment_id"])
        elif row["attribute"] == "location":
            locations[row["annotation_id"]] = (key, row["value"], row["confidence"])
        elif row["attribute"] == "object_class":
            classes[row["annotation_id"]] = row["value"]
        elif row["annotation_id"] is None:
            on_entity[(*key, row["attribute"])].append(row["value"])
        else:
            on_annotation[(row["annotation_id"], row["attribute"])].append(row["value"])

    seen_annotations, seen_entities, seen_empty = set(), set(), set()
    names = [a[0] for a in ATTRIBUTES]
    for row in wide_rows:
        key = (row["assessment_id"], row["entity_id"])
        annotation = row["annotation_id"]
        if row["entity_id"] is None:
            assert row["assessment_id"] in empty and row["assessment_id"] not in seen_empty
            assert all(row[name] is None for name in (*names, "location", "object_class"))
            seen_empty.add(row["assessment_id"])
            continue
        if annotation is not None:
            assert locations[annotation] == (key, row["location"], row["confidence"])
            assert row["frame"] == frames[annotation]
            assert classes[annotation] == row["object_class"]
            seen_annotations.add(annotation)
        else:
            assert row["location"] is None and row["object_class"] is None
            assert not any(k == key for k, *_ in locations.values())
        for name in names:
            expected = on_annotation.get((annotation, name), []) + on_entity.get((*key, name), [])
            assert row[name] == (" | ".join(expected) if expected else None)
            if on_entity.get((*key, name)):
                seen_entities.add((*key, name))
    assert seen_annotations == set(locations) == set(classes)
    kept = narrowed.get("object_classes")
    if kept:  # only annotations of those classes, and no assessment without one
        assert set(classes.values()) <= set(kept) and not empty
    assert seen_entities == set(on_entity)
    assert seen_empty == empty


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    files=WORKFLOWS,
    stage_kind=st.sampled_from([None, "machine", "human"]),
    assessed_from=st.sampled_from([None, "2026-01-02"]),
    object_classes=st.sampled_from([[], ["car"], ["bus"], ["bus", "car"]]),
)
def test_long_and_wide_agree(store, files, stage_kind, assessed_from, object_classes):
    """Also with the filters of SPEC 3 drawn (stage kind, a time window, object classes)."""
    workflow = build(store, files)
    narrowed = {
        "stage_kind": stage_kind,
        "assessed_from": assessed_from,
        "object_classes": object_classes,
    }
    for scope in ("all", "latest"):
        check_agreement(store, workflow, scope, **narrowed)
        check_reference(store, workflow, scope, **narrowed)
