"""Long-CSV import: byte-exact round trips, the inferred taxonomy, ids, and every bad input.

The round trips build the hand-made workflow of tests/query/conftest.py in one store, export
it, import the CSV into a second, empty store on the same backend and export again.
"""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import create_engine, func, select, text

from dashboard.errors import (
    ImportRecordError,
    InvalidGeometryError,
    InvalidValueError,
    UnknownChoiceError,
)
from dashboard.export import ExportQuery
from dashboard.importers.long_csv import ImportSummary, _taxonomy_order, import_long_csv
from dashboard.spec.colours import colour_at
from dashboard.spec.options import LONG_COLUMNS
from dashboard.store import writer
from dashboard.store.db import WAITING_FOR_IMPORT, Store, open_store
from dashboard.store.models import (
    Annotation,
    Assessment,
    Attribute,
    Base,
    DataFile,
    Entity,
    ObjectClass,
    ValueType,
    Workflow,
)
from tests.conftest import PG_BASE
from tests.hand_workflow import E1, build_hand_workflow, image_bytes

WORKFLOW = "harbour"
ID_COLUMNS = ("file_id", "assessment_id", "annotation_id")


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def second_store(store, tmp_path) -> Iterator[Store]:
    """A second empty, migrated store on the same backend as ``store``."""
    files_url = str(tmp_path / "second-files")
    if store.dialect == "sqlite":
        opened = open_store(db_url=f"sqlite:///{tmp_path / 'second.db'}", files_url=files_url)
        try:
            yield opened
        finally:
            opened.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    opened = None
    try:
        opened = open_store(
            db_url=f"{PG_BASE}?options=-csearch_path%3D{schema}", files_url=files_url
        )
        yield opened
    finally:
        if opened is not None:
            opened.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def hand_csv(tmp_path_factory) -> bytes:
    """The hand-made workflow's long CSV (all assessments, spreadsheet-safe), from SQLite."""
    folder = tmp_path_factory.mktemp("hand")
    source = open_store(db_url=f"sqlite:///{folder / 'hand.db'}", files_url=str(folder / "f"))
    try:
        build_hand_workflow(source)
        return export(source, "all", "long")
    finally:
        source.dispose()


def export(store: Store, scope: str, layout: str, *, safe: bool = True, **options) -> bytes:
    buffer = io.BytesIO()
    ExportQuery(
        store,
        workflow=options.pop("workflow", WORKFLOW),
        scope=scope,
        layout=layout,
        spreadsheet_safe=safe,
        **options,
    ).write_csv(buffer)
    return buffer.getvalue()


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def csv_of(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def edited(data: bytes, edit) -> bytes:
    """The CSV with ``edit(rows)`` applied to its rows (rows[0] is the header, on line 1)."""
    rows = rows_of(data)
    edit(rows)
    return csv_of(rows)


def cell(rows: list[list[str]], line: int, column: str) -> str:
    return rows[line - 1][LONG_COLUMNS.index(column)]


def set_cell(rows: list[list[str]], line: int, column: str, value: str) -> None:
    rows[line - 1][LONG_COLUMNS.index(column)] = value


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def copy_taxonomy(source: Store, target: Store, name: str = WORKFLOW) -> None:
    """Create the workflow in ``target`` with exactly the taxonomy it has in ``source``."""
    with source.session() as session:
        workflow = source.workflow(session, name)
        classes = [(c.name, c.colour) for c in workflow.object_classes]
        attributes = [
            (a.name, a.value_type.value, a.options) if a.options else (a.name, a.value_type.value)
            for a in workflow.attributes
        ]
    with target.session() as session:
        writer.create_workflow(session, name, classes, attributes)


def without_ids(data: bytes) -> list[list[str]]:
    indexes = [LONG_COLUMNS.index(column) for column in ID_COLUMNS]
    return [[v for i, v in enumerate(row) if i not in indexes] for row in rows_of(data)]


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["all", "latest"])
@pytest.mark.parametrize("safe", [True, False], ids=["spreadsheet-safe", "raw"])
def test_round_trip_gives_the_same_bytes(store, second_store, scope, safe):
    build_hand_workflow(store)
    original = export(store, scope, "long", safe=safe)
    source = io.BytesIO(original)

    summary = import_long_csv(second_store, source, spreadsheet_safe=safe)

    assert not source.closed  # the caller's stream stays open
    assert export(second_store, scope, "long", safe=safe) == original
    assert export(second_store, scope, "long", safe=not safe) == export(
        store, scope, "long", safe=not safe
    )
    expected = {"all": (3, 4, 6, 9), "latest": (3, 3, 4, 6)}[scope]
    assert summary == ImportSummary(1, *expected, files_with_bytes=0, ids_kept=True)


def test_round_trip_from_a_path_keeps_the_ids(store, second_store, tmp_path):
    ids = build_hand_workflow(store)
    original = export(store, "all", "long")
    path = tmp_path / "harbour_long.csv"
    path.write_bytes(original)

    import_long_csv(second_store, path, workflow=WORKFLOW)

    assert export(second_store, "all", "long") == original
    with second_store.session() as session:
        assert sorted(session.scalars(select(DataFile.id))) == [ids["f1"], ids["f2"], ids["f3"]]
        assert session.get(Annotation, ids["a2"]).entity_id == E1
        assert session.get(Assessment, ids["h1"]).stage == "review"
    # the filters work on the imported data as on the original
    for options in ({"order": "8492192"}, {"data_source": "drone"}):
        assert export(second_store, "all", "long", **options) == export(
            store, "all", "long", **options
        )


@pytest.mark.parametrize("scope", ["all", "latest"])
def test_wide_round_trip_into_a_workflow_with_its_taxonomy(store, second_store, scope):
    """Created first with the taxonomy, the workflow exports the same wide CSV too."""
    build_hand_workflow(store)
    copy_taxonomy(store, second_store)

    import_long_csv(second_store, io.BytesIO(export(store, scope, "long")))

    assert export(second_store, scope, "long") == export(store, scope, "long")
    assert export(second_store, scope, "wide") == export(store, scope, "wide")


def test_inferred_taxonomy(store, second_store):
    """Classes by first appearance, string attributes in an order consistent with the rows.

    The hand workflow's taxonomy is severity, note, occluded, length_m, vessel_name; the CSV
    only shows that severity comes before note, so the rest follow first appearance and
    vessel_name (an entity-level value seen first) lands before length_m: the long CSV is the
    same, the wide CSV has the same cells with those two columns swapped.
    """
    build_hand_workflow(store)
    import_long_csv(second_store, io.BytesIO(export(store, "all", "long")))

    with second_store.session() as session:
        workflow = second_store.workflow(session, WORKFLOW)
        assert [(c.name, c.colour, c.position) for c in workflow.object_classes] == [
            ("vessel", colour_at(0), 0),
            ("buoy", colour_at(1), 1),
        ]
        attributes = [(a.name, a.value_type, a.options) for a in workflow.attributes]
    names = ["severity", "note", "occluded", "vessel_name", "length_m"]
    assert attributes == [(name, ValueType.string, None) for name in names]

    original, imported = (
        rows_of(export(store, "all", "wide")),
        rows_of(export(second_store, "all", "wide")),
    )
    header = original[0]
    assert sorted(imported[0]) == sorted(header)
    reorder = [imported[0].index(column) for column in header]
    assert [[row[i] for i in reorder] for row in imported] == original


def test_taxonomy_order_follows_the_rows_not_first_appearance(store, second_store):
    """'b' is seen first (alone), but one annotation has 'a' before 'b': a comes first."""
    with store.session() as s:
        wf = writer.create_workflow(s, "order-test", ["thing"], [("a", "string"), ("b", "string")])
        tax = writer.Taxonomy(wf)
        source = writer.data_source(s, "cam")
        case = writer.case(s, wf, "1")
        for count, names in enumerate((["b"], ["a", "b"]), start=1):
            data_file = writer.add_file(
                s, store.files, case, source, f"{count}.png", image_bytes(8, 8, "PNG")
            )
            at = datetime(2026, 1, count)
            assessment = writer.add_assessment(s, data_file, "m", "machine", "det@1", at)
            annotation = writer.add_annotation(s, tax, assessment, None, "thing", "POINT (1 1)")
            for name in names:
                writer.add_value(
                    s, tax, assessment, annotation.entity_id, name, name, None, annotation
                )

    import_long_csv(second_store, io.BytesIO(export(store, "all", "long", workflow="order-test")))

    with second_store.session() as session:
        names = session.scalars(select(Attribute.name).order_by(Attribute.position)).all()
    assert names == ["a", "b"]
    for layout in ("long", "wide"):
        assert export(second_store, "all", layout, workflow="order-test") == export(
            store, "all", layout, workflow="order-test"
        )


def test_taxonomy_order_breaks_cycles_by_first_appearance():
    first_seen = {"x": 0, "y": 1, "z": 2, "w": 3}
    assert _taxonomy_order(first_seen, {"z": {"y"}}) == ["x", "z", "y", "w"]
    # w is ready at once; the x-y cycle is broken by releasing x, the earliest seen
    cycle = {"x": {"y"}, "y": {"x"}, "w": {"z"}}
    assert _taxonomy_order(first_seen, cycle) == ["w", "z", "x", "y"]


def test_images_dir_gives_files_their_bytes(store, second_store, tmp_path):
    build_hand_workflow(store)
    images = tmp_path / "images"
    images.mkdir()
    with store.session() as session:
        original = session.scalars(select(DataFile).where(DataFile.file_name == "Kai Süd.jpg"))
        original = original.one()
    (images / "Kai Süd.jpg").write_bytes(store.files.read(original.storage_key))

    summary = import_long_csv(
        second_store, io.BytesIO(export(store, "all", "long")), images_dir=images
    )

    assert (summary.files, summary.files_with_bytes) == (3, 1)
    with second_store.session() as session:
        files = {f.file_name: f for f in session.scalars(select(DataFile))}
    kai = files["Kai Süd.jpg"]
    assert (kai.width, kai.height, kai.byte_size, kai.sha256, kai.content_type) == (
        original.width,
        original.height,
        original.byte_size,
        original.sha256,
        "image/jpeg",
    )
    assert second_store.files.read(kai.storage_key) == store.files.read(original.storage_key)
    second = files["second.PNG"]  # no bytes in images_dir: recorded without them
    assert (second.storage_key, second.sha256, second.byte_size) == ("", "", 0)
    assert (second.width, second.height, second.content_type) == (0, 0, "image/png")
    assert [f.count for f in sorted(files.values(), key=lambda f: f.id)] == [1, 2, 1]


def test_new_records_after_an_import_get_free_ids(store, hand_csv):
    """Explicit ids do not advance PostgreSQL's sequences: the import moves them on."""
    import_long_csv(store, io.BytesIO(hand_csv))
    with store.session() as s:
        workflow = store.workflow(s, WORKFLOW)
        tax = writer.Taxonomy(workflow)
        case = writer.case(s, workflow, "B-1")
        data_file = writer.add_file(
            s,
            store.files,
            case,
            writer.data_source(s, "drone"),
            "new.png",
            image_bytes(8, 8, "PNG"),
        )
        assessment = writer.add_assessment(
            s, data_file, "review", "human", "anna", datetime(2026, 12, 1)
        )
        annotation = writer.add_annotation(s, tax, assessment, None, "buoy", "POINT (1 2)")
        assert (data_file.id, assessment.id, annotation.id) == (4, 5, 7)


def test_ids_are_new_when_the_store_has_data_and_nothing_else_changes(store, second_store):
    build_hand_workflow(store)
    original = export(store, "all", "long")
    with second_store.session() as s:  # another workflow's data occupies the low ids
        other = writer.create_workflow(s, "other", ["thing"])
        data_file = writer.add_file(
            s,
            second_store.files,
            writer.case(s, other, "9"),
            writer.data_source(s, "cam"),
            "x.png",
            image_bytes(8, 8, "PNG"),
        )
        assessment = writer.add_assessment(
            s, data_file, "m", "machine", "d@1", datetime(2026, 1, 1)
        )
        writer.add_annotation(s, writer.Taxonomy(other), assessment, None, "thing", "POINT (1 1)")

    summary = import_long_csv(second_store, io.BytesIO(original))

    assert summary.ids_kept is False
    imported = export(second_store, "all", "long")
    assert imported != original
    assert without_ids(imported) == without_ids(original)
    for column in ID_COLUMNS:  # old and new ids correspond one to one
        index = LONG_COLUMNS.index(column)
        both = zip(rows_of(original), rows_of(imported), strict=True)
        pairs = {(a[index], b[index]) for a, b in both}
        assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs)


def test_two_imports_at_once_take_turns_and_both_land(
    store, second_store, hand_csv, monkeypatch, caplog
):
    """A second import started while one is writing waits for it to commit, then lands as
    it would have after it (on PostgreSQL both decided the workflow, its cases and the kept
    ids were new, and the second failed on a unique key)."""
    from dashboard.importers import long_csv

    import_long_csv(second_store, io.BytesIO(hand_csv))  # the same two imports, one by one
    import_long_csv(second_store, io.BytesIO(hand_csv))
    writing, release = threading.Event(), threading.Event()
    add_row = long_csv._Importer.add_row

    def paused(self, line, row):
        if threading.current_thread().name == "first" and not writing.is_set():
            writing.set()
            release.wait(30)  # the first import is writing, its transaction open
        return add_row(self, line, row)

    monkeypatch.setattr(long_csv._Importer, "add_row", paused)
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = import_long_csv(store, io.BytesIO(hand_csv))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results[name] = exc

    first = threading.Thread(target=run, args=("first",), name="first")
    first.start()
    assert writing.wait(30)
    second = threading.Thread(target=run, args=("second",), name="second")
    with caplog.at_level("WARNING", logger="dashboard.store.db"):
        second.start()
        second.join(1.0)
        assert second.is_alive(), f"the second import did not wait: {results.get('second')!r}"
        assert caplog.text.count(WAITING_FOR_IMPORT) == 1  # said at once, and once
        release.set()
        first.join(60)
        second.join(60)
    assert isinstance(results["first"], ImportSummary), results["first"]
    assert isinstance(results["second"], ImportSummary), results["second"]
    assert results["first"].ids_kept and not results["second"].ids_kept
    assert table_counts(store) == table_counts(second_store)
    assert export(store, "all", "long") == export(second_store, "all", "long")


def test_an_import_waits_for_sqlites_write_lock_as_long_as_it_is_held(
    tmp_path, hand_csv, monkeypatch, caplog
):
    """Another writer holding SQLite's lock longer than a statement waits: the import says it
    waits, tries again and lands once the lock is let go."""
    import sqlite3

    from dashboard.store import db as store_db

    monkeypatch.setattr(store_db, "SQLITE_BUSY_MS", 100)
    path = tmp_path / "busy.db"
    store = open_store(db_url=f"sqlite:///{path}", files_url=str(tmp_path / "files"))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["summary"] = import_long_csv(store, io.BytesIO(hand_csv))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            result["summary"] = exc

    importing = threading.Thread(target=run)
    with caplog.at_level("WARNING", logger="dashboard.store.db"):
        importing.start()
        importing.join(1.0)  # ten times the statement's wait
        assert importing.is_alive(), result
        holder.execute("COMMIT")
        importing.join(30)
    holder.close()
    try:
        assert isinstance(result["summary"], ImportSummary), result["summary"]
        assert caplog.text.count(WAITING_FOR_IMPORT) == 1
        assert table_counts(store)["attribute_value"] == result["summary"].attribute_values
    finally:
        store.dispose()


def test_importing_into_an_existing_typed_workflow_checks_values(store, second_store):
    build_hand_workflow(store)
    copy_taxonomy(store, second_store)
    before = table_counts(second_store)
    bad = edited(export(store, "all", "long"), lambda rows: set_cell(rows, 4, "value", "medium"))

    with pytest.raises(InvalidValueError, match=r"^line 4: attribute 'severity' \(enum\)"):
        import_long_csv(second_store, io.BytesIO(bad))
    assert table_counts(second_store) == before

    unknown = edited(
        export(store, "all", "long"), lambda rows: set_cell(rows, 7, "value", "submarine")
    )
    with pytest.raises(UnknownChoiceError, match=r"^line 7: unknown object class 'submarine'"):
        import_long_csv(second_store, io.BytesIO(unknown))
    assert table_counts(second_store) == before


def test_workflow_guard(store, hand_csv):
    with pytest.raises(ImportRecordError, match="line 2: a row of workflow 'harbour'") as error:
        import_long_csv(store, io.BytesIO(hand_csv), workflow="lighthouse")
    assert "import is for workflow 'lighthouse'" in str(error.value)
    assert store.is_empty()


def test_header_only_csv_of_a_named_workflow_creates_it_empty(store):
    header = (",".join(f'"{c}"' for c in LONG_COLUMNS) + "\n").encode()

    summary = import_long_csv(store, io.BytesIO(header), workflow="empty")

    assert summary == ImportSummary(1, 0, 0, 0, 0)
    assert store.workflow_names() == ["empty"]
    assert export(store, "all", "long", workflow="empty") == header


# -- bad input: a clear error naming the line, and the store unchanged ------------------------


def assert_refused(store: Store, data: bytes, error: type[Exception], message: str) -> None:
    before = table_counts(store)
    with pytest.raises(error) as raised:
        import_long_csv(store, io.BytesIO(data))
    assert message in str(raised.value)
    assert table_counts(store) == before
    assert store.is_empty()


def test_bad_header(store, hand_csv):
    def rename(rows):
        rows[0][LONG_COLUMNS.index("frame")] = "count"

    assert_refused(
        store,
        edited(hand_csv, rename),
        ImportRecordError,
        "line 1: not a long CSV of this product (missing columns: frame; "
        "unexpected columns: 'count')",
    )

    def swap(rows):
        for row in rows:
            row[0], row[1] = row[1], row[0]

    assert_refused(store, edited(hand_csv, swap), ImportRecordError, "out of order")
    assert_refused(store, b"", ImportRecordError, "the file is empty")


def test_bad_stage_kind(store, hand_csv):
    data = edited(hand_csv, lambda rows: set_cell(rows, 9, "stage_kind", "robot"))
    assert_refused(
        store, data, ImportRecordError, "line 9: stage_kind must be machine or human, got 'robot'"
    )


def test_location_without_object_class(store, hand_csv):
    rows = rows_of(hand_csv)
    assert (cell(rows, 2, "attribute"), cell(rows, 3, "attribute")) == ("location", "object_class")
    data = edited(hand_csv, lambda rows: rows.pop(2))  # line 3
    assert_refused(
        store,
        data,
        ImportRecordError,
        "line 2: annotation 1 has a location row but no object_class row",
    )


def test_object_class_without_location(store, hand_csv):
    data = edited(hand_csv, lambda rows: rows.pop(1))  # line 2
    assert_refused(
        store,
        data,
        ImportRecordError,
        "line 2: annotation 1 has an object_class row but no location row",
    )


def test_value_of_an_annotation_without_location(store, hand_csv):
    def drop(rows):
        del rows[1:3]  # lines 2 and 3: annotation 1's location and object class

    assert_refused(
        store,
        edited(hand_csv, drop),
        ImportRecordError,
        "line 2: a value of annotation 1, which has no location row",
    )


def test_malformed_geometry_names_the_line(store, hand_csv):
    data = edited(hand_csv, lambda rows: set_cell(rows, 6, "value", "POLYGON ((1 1, 2 2))"))
    assert_refused(store, data, InvalidGeometryError, "line 6: a polygon needs at least 3")


def test_inconsistent_file_id(store, hand_csv):
    data = edited(hand_csv, lambda rows: set_cell(rows, 4, "file_name", "other.jpg"))
    assert_refused(
        store,
        data,
        ImportRecordError,
        "line 4: file_id 1 is 'other.jpg' of case '3112442' (order '8492192', data source "
        "'cam-1', workflow 'harbour') here but 'Kai Süd.jpg' of case '3112442'",
    )


def test_assessment_under_two_files(store, hand_csv):
    rows = rows_of(hand_csv)
    assert cell(rows, 19, "file_id") == "2"
    data = edited(hand_csv, lambda rows: set_cell(rows, 19, "assessment_id", "1"))
    assert_refused(
        store,
        data,
        ImportRecordError,
        "line 19: assessment 1 is of file_id 2 here but of file_id 1 on line 2",
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("confidence", "high", "line 5: confidence must be a number between 0 and 1"),
        ("confidence", "1.5", "line 5: confidence must be a number between 0 and 1"),
        ("frame", "-1", "line 5: frame must be a whole number of at least 0, got '-1'"),
        ("file_id", "one", "line 5: file_id must be a whole number of at least 1"),
        ("assessed_at", "yesterday", "line 5: assessed_at 'yesterday' is not an ISO 8601"),
        ("entity_id", "E1", "line 5: entity_id 'E1' is not a UUID"),
        ("stage", "", "line 5: the cell 'stage' is empty"),
    ],
)
def test_malformed_cells(store, hand_csv, column, value, message):
    data = edited(hand_csv, lambda rows: set_cell(rows, 5, column, value))
    assert_refused(store, data, ImportRecordError, message)


def test_row_with_missing_cells_and_non_utf8(store, hand_csv):
    assert_refused(
        store,
        edited(hand_csv, lambda rows: rows[3].pop()),
        ImportRecordError,
        "line 4: 16 cells where the header has 17",
    )
    latin1 = hand_csv.decode("utf-8").encode("latin-1", errors="replace")
    assert_refused(store, latin1, ImportRecordError, "not UTF-8 text")


def test_second_location_of_one_annotation(store, hand_csv):
    def duplicate(rows):
        rows.insert(2, list(rows[1]))

    assert_refused(
        store,
        edited(hand_csv, duplicate),
        ImportRecordError,
        "line 3: a second location row of annotation 1 (the first is on line 2)",
    )


def test_hostile_file_name_is_never_looked_up(store, hand_csv, tmp_path):
    """A hostile file name is stored as text but never looked up outside images_dir."""
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(image_bytes(8, 8))
    images = tmp_path / "images"
    images.mkdir()
    data = edited(
        hand_csv,
        lambda rows: [
            set_cell(rows, line, "file_name", "../secret.jpg")
            for line in range(2, len(rows) + 1)
            if cell(rows, line, "file_id") == "3"
        ],
    )
    summary = import_long_csv(store, io.BytesIO(data), images_dir=images)
    assert summary.files_with_bytes == 0
    with store.session() as session:
        names = session.scalars(select(DataFile.file_name).order_by(DataFile.id)).all()
    assert names[-1] == "../secret.jpg"


def test_summary_counts_match_the_store(store, hand_csv):
    summary = import_long_csv(store, io.BytesIO(hand_csv))
    counts = table_counts(store)
    assert (summary.files, summary.assessments, summary.annotations) == (
        counts["data_file"],
        counts["assessment"],
        counts["annotation"],
    )
    assert summary.attribute_values == counts["attribute_value"]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Workflow)) == summary.workflows
        assert session.scalar(select(func.count()).select_from(ObjectClass)) == 2


def test_an_empty_review_round_trips_and_keeps_latest_right(store, second_store):
    """A human review that removed every detection is one row (SPEC 3.1): it survives the
    round trip, so Latest after the import still shows "reviewed, nothing found"."""
    from dashboard.store.models import DataFile

    ids = build_hand_workflow(store)
    with store.session() as s:
        loose = s.get(DataFile, ids["f3"])
        review = writer.add_assessment(
            s, loose, "review", "human", "anna", datetime(2026, 11, 4, 7, 0, 0)
        ).id
    exported = export(store, "all", "long")
    latest = export(store, "latest", "long", data_source="drone")
    assert latest.decode().splitlines()[1:] == [
        f'"harbour",,"drone",{ids["f3"]},"A-7","loose.jpg",{review},"review","human",'
        '"anna","2026-11-04T07:00:00Z",,,,,,'
    ]
    import_long_csv(second_store, io.BytesIO(exported))
    assert export(second_store, "all", "long") == exported
    assert export(second_store, "latest", "long", data_source="drone") == latest
    # The wide layout has the same one row (its attribute columns follow the imported
    # workflow's inferred taxonomy, so only the row is compared).
    wide = export(second_store, "latest", "wide", data_source="drone").decode().splitlines()
    assert wide[1:] == [latest.decode().splitlines()[1] + ",,,,,"]


def test_a_row_with_some_value_cells_empty_is_still_refused(store, hand_csv):
    data = edited(hand_csv, lambda rows: set_cell(rows, 5, "entity_id", ""))
    assert_refused(store, data, ImportRecordError, "line 5: the cell 'entity_id' is empty")


def test_a_csv_imported_under_a_new_workflow_name_gets_its_own_entities(store):
    from dashboard.query.overview import summary

    build_hand_workflow(store)
    rows = rows_of(export(store, "all", "long"))
    for line in range(2, len(rows) + 1):
        set_cell(rows, line, "workflow", "harbour-copy")

    import_long_csv(store, io.BytesIO(csv_of(rows)))

    original, copy = summary(store, WORKFLOW), summary(store, "harbour-copy")
    assert copy["entities"] == original["entities"] > 0
    assert copy["annotations"] == original["annotations"]
    with store.session() as s:  # each UUID is an entity of both workflows
        owners = s.execute(select(Entity.id, func.count()).group_by(Entity.id)).all()
    assert {count for _, count in owners} == {2}


def table_checksum(store: Store) -> dict[str, str]:
    """Every table's rows, sorted, hashed: equal only if the data is exactly the same."""
    import hashlib

    with store.engine.connect() as connection:
        sums = {}
        for table in Base.metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            sums[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return sums


@pytest.mark.parametrize("empty", [True, False], ids=["into an empty store", "appending"])
def test_a_failure_late_in_the_file_leaves_the_store_exactly_as_before(
    store, second_store, monkeypatch, empty
):
    """The bulk path has inserted several batches by the time the bad row comes: the
    transaction takes them all back (counts and a checksum of every table)."""
    monkeypatch.setattr(writer, "BULK_ROWS", 7)
    build_hand_workflow(store)
    rows = rows_of(export(store, "all", "long"))
    target = second_store
    if not empty:
        import_long_csv(target, io.BytesIO(csv_of(rows)))
    last_location = max(
        line for line in range(2, len(rows) + 1) if cell(rows, line, "attribute") == "location"
    )
    set_cell(rows, last_location, "value", "POLYGON ((0 0, 1 1))")
    before_counts, before_sums = table_counts(target), table_checksum(target)

    with pytest.raises(InvalidGeometryError) as caught:
        import_long_csv(target, io.BytesIO(csv_of(rows)))

    assert str(caught.value).startswith(f"line {last_location}: ")
    assert table_counts(target) == before_counts
    assert table_checksum(target) == before_sums


def test_progress_of_a_path_counts_bytes_up_to_the_file_size(
    store, second_store, monkeypatch, tmp_path
):
    from dashboard.importers import long_csv as csv_import

    monkeypatch.setattr(csv_import, "PROGRESS_ROWS", 3)
    build_hand_workflow(store)
    path = tmp_path / "long.csv"
    path.write_bytes(export(store, "all", "long"))
    calls: list[tuple[int, int]] = []

    import_long_csv(second_store, path, progress=lambda done, total: calls.append((done, total)))

    size = path.stat().st_size
    assert len(calls) > 1
    assert calls[-1] == (size, size)
    assert all(total == size and 0 <= done <= size for done, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_an_inferred_class_with_a_name_too_long_is_refused_by_the_writer(store, hand_csv):
    """The inferred taxonomy is made by the writer, with its checks and their words."""
    rows = rows_of(hand_csv)
    assert cell(rows, 3, "attribute") == "object_class"
    data = edited(hand_csv, lambda rows: set_cell(rows, 3, "value", "c" * 201))
    assert_refused(
        store,
        data,
        ImportRecordError,
        "line 3: object class name 'cccccccc",
    )
    assert_refused(store, data, ImportRecordError, "is 201 characters long; at most 200")
