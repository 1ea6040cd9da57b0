"""Exact long and wide CSV text of the hand-built workflow, for each scope and filter.

Runs on SQLite and PostgreSQL (the ``store`` fixture): both must give the same bytes.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from dashboard.errors import AssessError
from dashboard.export import ExportQuery
from tests.hand_workflow import E1, E2, E3, E4, E5, E6

LONG_HEADER = (
    '"workflow","workflow_order","data_source","file_id","external_id","file_name",'
    '"assessment_id","stage","stage_kind","assessed_by","assessed_at","entity_id",'
    '"annotation_id","frame","attribute","value","confidence"'
)
WIDE_HEADER = (
    '"workflow","workflow_order","data_source","file_id","external_id","file_name",'
    '"assessment_id","stage","stage_kind","assessed_by","assessed_at","entity_id",'
    '"annotation_id","frame","object_class","location","confidence",'
    '"severity","note","occluded","length_m","vessel_name"'
)


def prefixes(ids: dict[str, int]) -> dict[str, str]:
    file1 = f'"harbour","8492192","cam-1",{ids["f1"]},"3112442","Kai Süd.jpg"'
    return {
        "m1": f'{file1},{ids["m1"]},"detector","machine","det@1.0","2026-11-01T08:00:00Z"',
        "h1": f'{file1},{ids["h1"]},"review","human","anna.schmidt","2026-11-02T09:30:00Z"',
        "m2": f'"harbour","8492192","cam-1",{ids["f2"]},"3112442","second.PNG",{ids["m2"]},'
        '"detector","machine","det@1.0","2026-11-01T08:00:00Z"',
        "m3": f'"harbour",,"drone",{ids["f3"]},"A-7","loose.jpg",{ids["m3"]},'
        '"detector","machine","det@1.0","2026-11-03T07:00:00Z"',
    }


def long_rows(ids: dict[str, int], safe: bool = True) -> dict[str, list[str]]:
    """Long rows per assessment, in SPEC order."""
    p = prefixes(ids)
    a, b, a2, c = ids["a"], ids["b"], ids["a2"], ids["c"]
    q = "'" if safe else ""
    return {
        "m1": [
            f'{p["m1"]},"{E1}",{a},0,"location","POLYGON ((1 1, 20 1, 20 10, 1 10, 1 1))",0.91',
            f'{p["m1"]},"{E1}",{a},0,"object_class","vessel",0.8',
            f'{p["m1"]},"{E1}",{a},0,"severity","high",0.7',
            f'{p["m1"]},"{E1}",{a},0,"note","{q}=cmd|\' /C calc\'!A0",0.5',
            f'{p["m1"]},"{E2}",{b},0,"location","POINT (30 30)",0.42',
            f'{p["m1"]},"{E2}",{b},0,"object_class","buoy",0.4',
            f'{p["m1"]},"{E2}",{b},0,"occluded","true",0.6',
        ],
        "h1": [
            f'{p["h1"]},"{E1}",{a2},0,"location","POLYGON ((2 1, 21 1, 21 10, 2 10, 2 1))",1',
            f'{p["h1"]},"{E1}",{a2},0,"object_class","vessel",1',
            f'{p["h1"]},"{E1}",{a2},0,"severity","low",1',
            f'{p["h1"]},"{E1}",{a2},0,"note","Rost – Ölspur",',
            f'{p["h1"]},"{E1}",{a2},0,"note","second note",',
            f'{p["h1"]},"{E1}",,,"vessel_name","Möwe",0.9',
            f'{p["h1"]},"{E3}",{c},0,"location","POLYGON ((40 5, 50 5, 45 15, 40 5))",',
            f'{p["h1"]},"{E3}",{c},0,"object_class","buoy",',
            f'{p["h1"]},"{E3}",{c},0,"length_m","2.5",',
            f'{p["h1"]},"{E4}",,,"vessel_name","{q}-ghost",',
        ],
        "m2": [
            f'{p["m2"]},"{E5}",{ids["m2_ann"]},0,"location","LINESTRING (0 0, 10 10)",0.55',
            f'{p["m2"]},"{E5}",{ids["m2_ann"]},0,"object_class","vessel",0.5',
        ],
        "m3": [
            f'{p["m3"]},"{E6}",{ids["m3_ann"]},0,"location","POLYGON ((0 0, 5 0, 5 5, 0 0))",0.66',
            f'{p["m3"]},"{E6}",{ids["m3_ann"]},0,"object_class","vessel",',
        ],
    }


def wide_rows(ids: dict[str, int]) -> dict[str, list[str]]:
    p = prefixes(ids)
    a, b, a2, c = ids["a"], ids["b"], ids["a2"], ids["c"]
    return {
        "m1": [
            f'{p["m1"]},"{E1}",{a},0,"vessel","POLYGON ((1 1, 20 1, 20 10, 1 10, 1 1))",0.91,'
            '"high","\'=cmd|\' /C calc\'!A0",,,',
            f'{p["m1"]},"{E2}",{b},0,"buoy","POINT (30 30)",0.42,,,"true",,',
        ],
        "h1": [
            f'{p["h1"]},"{E1}",{a2},0,"vessel","POLYGON ((2 1, 21 1, 21 10, 2 10, 2 1))",1,'
            '"low","Rost – Ölspur | second note",,,"Möwe"',
            f'{p["h1"]},"{E3}",{c},0,"buoy","POLYGON ((40 5, 50 5, 45 15, 40 5))",,,,,"2.5",',
            f'{p["h1"]},"{E4}",,,,,,,,,,"\'-ghost"',
        ],
        "m2": [
            f'{p["m2"]},"{E5}",{ids["m2_ann"]},0,"vessel","LINESTRING (0 0, 10 10)",0.55,,,,,',
        ],
        "m3": [
            f'{p["m3"]},"{E6}",{ids["m3_ann"]},0,"vessel","POLYGON ((0 0, 5 0, 5 5, 0 0))",0.66,'
            ",,,,",
        ],
    }


def csv_text(store, **options) -> str:
    buffer = io.BytesIO()
    ExportQuery(store, workflow="harbour", **options).write_csv(buffer)
    return buffer.getvalue().decode("utf-8")


def expected(header: str, rows: dict[str, list[str]], assessments: list[str]) -> str:
    return "\n".join([header, *(row for key in assessments for row in rows[key])]) + "\n"


CASES = [
    # (options, layout rows, assessments in the export)
    ({"scope": "all", "layout": "long"}, "long", ["m1", "h1", "m2", "m3"]),
    ({"scope": "latest", "layout": "long"}, "long", ["h1", "m2", "m3"]),
    ({"scope": "all", "layout": "wide"}, "wide", ["m1", "h1", "m2", "m3"]),
    ({"scope": "latest", "layout": "wide"}, "wide", ["h1", "m2", "m3"]),
    ({"scope": "all", "layout": "long", "order": "8492192"}, "long", ["m1", "h1", "m2"]),
    ({"scope": "latest", "layout": "wide", "order": "8492192"}, "wide", ["h1", "m2"]),
    ({"scope": "all", "layout": "long", "data_source": "drone"}, "long", ["m3"]),
    ({"scope": "latest", "layout": "wide", "data_source": "cam-1"}, "wide", ["h1", "m2"]),
    ({"scope": "all", "layout": "long", "data_source": "drone", "order": "8492192"}, "long", []),
    # SPEC 3, more filters: stage kind and time are applied after the scope.
    ({"scope": "latest", "layout": "long", "stage_kind": "human"}, "long", ["h1"]),
    ({"scope": "latest", "layout": "wide", "stage_kind": "machine"}, "wide", ["m2", "m3"]),
    ({"scope": "all", "layout": "long", "stage_kind": "machine"}, "long", ["m1", "m2", "m3"]),
    # Latest + from: what changed since (the incremental export).
    ({"scope": "latest", "layout": "long", "assessed_from": "2026-11-02"}, "long", ["h1", "m3"]),
    (
        {
            "scope": "all",
            "layout": "wide",
            "assessed_from": "2026-11-01T09:00:00Z",
            "assessed_to": "2026-11-03T07:00:00+00:00",
        },
        "wide",
        ["h1"],
    ),  # fmt: skip
    (
        {"scope": "all", "layout": "long", "stage_kind": "human", "assessed_to": "2026-11-02"},
        "long",
        [],
    ),
]


@pytest.mark.parametrize(("options", "layout", "assessments"), CASES)
def test_exact_csv(hand_store, options, layout, assessments):
    ids = hand_store.ids
    rows = long_rows(ids) if layout == "long" else wide_rows(ids)
    header = LONG_HEADER if layout == "long" else WIDE_HEADER
    assert csv_text(hand_store, **options) == expected(header, rows, assessments)


def test_spreadsheet_safety_can_be_turned_off(hand_store):
    text = csv_text(hand_store, scope="all", layout="long", spreadsheet_safe=False)
    rows = long_rows(hand_store.ids, safe=False)
    assert text == expected(LONG_HEADER, rows, ["m1", "h1", "m2", "m3"])
    assert '"=cmd|' in text and '"-ghost"' in text


def test_counts_match_rows_written(hand_store):
    for scope in ("all", "latest"):
        for layout in ("long", "wide"):
            query = ExportQuery(hand_store, workflow="harbour", scope=scope, layout=layout)
            buffer = io.BytesIO()
            written = query.write_csv(buffer)
            lines = buffer.getvalue().decode().count("\n") - 1
            assert query.counts().rows == written == lines


def test_counts_of_each_kind(hand_store):
    counts = ExportQuery(hand_store, workflow="harbour", scope="all").counts()
    assert (counts.files, counts.assessments, counts.entities) == (3, 4, 6)
    assert (counts.annotations, counts.attribute_values, counts.rows) == (6, 9, 21)
    latest = ExportQuery(hand_store, workflow="harbour", scope="latest", layout="wide").counts()
    assert (latest.assessments, latest.entities, latest.annotations, latest.rows) == (3, 5, 4, 5)


def test_preview_is_the_start_of_the_download(hand_store):
    for layout in ("long", "wide"):
        query = ExportQuery(hand_store, workflow="harbour", scope="all", layout=layout)
        full = query.frame()
        preview = query.preview(5)
        assert len(preview) == 5
        assert preview.astype(str).equals(full.head(5).astype(str))
        assert list(preview.columns) == list(full.columns)


def test_header_cells_from_data_get_spreadsheet_safety_like_any_cell(store):
    """Attribute names come from data: a header cell a spreadsheet would run is escaped by
    the cells' rule (and left alone with safety off, or in Parquet)."""
    from dashboard.store import writer

    with store.session() as s:
        writer.create_workflow(
            s,
            "sheet",
            ["thing"],
            [("=HYPERLINK(\"http://x\")", "string"), ("@SUM(1)", "string"), ("'+1x", "string"),
             ("-3", "integer"), ("plain", "string")],
        )  # fmt: skip
    query = ExportQuery(store, workflow="sheet", layout="wide", scope="all")
    out = io.BytesIO()
    query.write_csv(out)
    header = out.getvalue().decode().split("\n", 1)[0]
    assert header.endswith(
        '"confidence","\'=HYPERLINK(""http://x"")","\'@SUM(1)","\'\'+1x","-3","plain"'
    )
    assert list(query.preview(5).columns)[-5:] == [
        "'=HYPERLINK(\"http://x\")", "'@SUM(1)", "''+1x", "-3", "plain"
    ]  # fmt: skip
    query.spreadsheet_safe = False
    raw = io.BytesIO()
    query.write_csv(raw)
    assert (
        raw.getvalue()
        .decode()
        .split("\n", 1)[0]
        .endswith('"confidence","=HYPERLINK(""http://x"")","@SUM(1)","\'+1x","-3","plain"')
    )


@pytest.mark.parametrize(("options", "layout", "assessments"), CASES)
def test_counts_match_every_exact_csv(hand_store, options, layout, assessments):
    text = csv_text(hand_store, **options)
    counts = ExportQuery(hand_store, workflow="harbour", **options).counts()
    assert counts.rows == text.count("\n") - 1
    assert counts.assessments == len(assessments)


def test_assessment_filters_narrow_the_file_layouts_to_files_that_keep_one(hand_store):
    import zipfile

    query = ExportQuery(hand_store, workflow="harbour", layout="files", stage_kind="human")
    out = io.BytesIO()
    query.write(out)
    assert zipfile.ZipFile(out).namelist() == ["000003112442_8492192_1.jpg", "manifest.json"]
    assert query.counts().files == 1
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["filters"]["stage_kind"] == "human"
    drawn = ExportQuery(
        hand_store, workflow="harbour", layout="annotated", order="8492192", scope="all",
        assessed_from="2026-11-02",
    )  # fmt: skip
    assert [(i.record.file_name, i.stage) for i in drawn.annotated_items()] == [
        ("Kai Süd.jpg", "review")
    ]
    assert drawn.counts().rows == 1


# Object classes (SPEC 3, more filters): rows of kept annotations; entity-level values only of
# entities that keep an annotation in that assessment (E1's "Möwe" with vessel; E4's "-ghost",
# on an entity without annotations, never). Rows as (assessment, first row, end) of the lists.
CLASS_CASES = [
    ({"scope": "all", "layout": "long", "object_classes": ["buoy"]},
     "long", [("m1", 4, 7), ("h1", 6, 9)]),
    ({"scope": "all", "layout": "long", "object_classes": ["vessel"]},
     "long", [("m1", 0, 4), ("h1", 0, 6), ("m2", 0, 2), ("m3", 0, 2)]),
    ({"scope": "all", "layout": "wide", "object_classes": ["buoy"]},
     "wide", [("m1", 1, 2), ("h1", 1, 2)]),
    ({"scope": "latest", "layout": "wide", "object_classes": ["vessel"]},
     "wide", [("h1", 0, 1), ("m2", 0, 1), ("m3", 0, 1)]),
    # Latest + buoy: the latest pass of each file, with its buoys (files without one: gone).
    ({"scope": "latest", "layout": "long", "object_classes": ["buoy"]}, "long", [("h1", 6, 9)]),
    # With the stage kind and the time window: after the scope, as always.
    ({"scope": "latest", "layout": "long", "object_classes": ["vessel"], "stage_kind": "human"},
     "long", [("h1", 0, 6)]),
    ({"scope": "all", "layout": "wide", "object_classes": ["vessel"],
      "assessed_from": "2026-11-02"}, "wide", [("h1", 0, 1), ("m3", 0, 1)]),
    ({"scope": "all", "layout": "long", "object_classes": ["vessel", "buoy"]},
     "long", [("m1", 0, 7), ("h1", 0, 9), ("m2", 0, 2), ("m3", 0, 2)]),
    ({"scope": "all", "layout": "long", "object_classes": ["buoy"], "data_source": "drone"},
     "long", []),
]  # fmt: skip


@pytest.mark.parametrize(("options", "layout", "picked"), CLASS_CASES)
def test_exact_csv_with_object_classes(hand_store, options, layout, picked):
    ids = hand_store.ids
    rows = long_rows(ids) if layout == "long" else wide_rows(ids)
    header = LONG_HEADER if layout == "long" else WIDE_HEADER
    body = [row for key, start, end in picked for row in rows[key][start:end]]
    text = csv_text(hand_store, **options)
    assert text == "\n".join([header, *body]) + "\n"
    counts = ExportQuery(hand_store, workflow="harbour", **options).counts()
    assert counts.rows == len(body)
    assert counts.assessments == len({key for key, _, _ in picked})


def test_object_classes_narrow_the_files_and_what_is_drawn(hand_store):
    import zipfile

    query = ExportQuery(hand_store, workflow="harbour", layout="files", object_classes="buoy")
    out = io.BytesIO()
    query.write(out)
    assert zipfile.ZipFile(out).namelist() == ["000003112442_8492192_1.jpg", "manifest.json"]
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["filters"]["object_classes"] == ["buoy"]
    drawn = ExportQuery(
        hand_store, workflow="harbour", layout="annotated", order="8492192", scope="all",
        object_classes=["buoy"],
    )  # fmt: skip
    items = [(i.record.file_name, i.stage, [o.object_class for o in i.overlays])
             for i in drawn.annotated_items()]  # fmt: skip
    assert items == [("Kai Süd.jpg", "detector", ["buoy"]), ("Kai Süd.jpg", "review", ["buoy"])]
    assert drawn.counts().rows == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"object_classes": ["vessel", "kraken"]},
            "object class 'kraken' is not a class of workflow 'harbour'; valid classes: "
            "vessel, buoy",
        ),
        ({"stage_kind": "robot"}, "unknown stage kind 'robot'; valid: machine, human"),
        ({"assessed_from": "yesterday"}, "assessed_from 'yesterday' is not a date or time"),
        (
            {"assessed_from": "2026-11-03", "assessed_to": "2026-11-02"},
            "assessed_from (2026-11-03) must be before assessed_to (2026-11-02)",
        ),
    ],
)
def test_bad_assessment_filters_are_refused_with_a_clear_message(hand_store, options, message):
    with pytest.raises(AssessError, match=re.escape(message)):
        ExportQuery(hand_store, workflow="harbour", **options)
