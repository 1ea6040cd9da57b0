"""Bad options give clear errors that name the valid choices; the Latest rule with ties."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from dashboard.errors import InvalidOptionError, UnknownChoiceError, UnknownWorkflowError
from dashboard.export import ExportQuery
from dashboard.store import writer
from tests.hand_workflow import image_bytes


def test_unknown_workflow_names_the_known_ones(hand_store):
    with pytest.raises(UnknownWorkflowError, match=r"unknown workflow 'nope'.*harbour"):
        ExportQuery(hand_store, workflow="nope")


def test_unknown_data_source_names_the_valid_ones(hand_store):
    with pytest.raises(UnknownChoiceError, match=r"'nowhere'.*valid data sources: cam-1, drone"):
        ExportQuery(hand_store, workflow="harbour", data_source="nowhere")


def test_order_of_another_workflow_is_refused(hand_store):
    with hand_store.session() as s:
        other = writer.create_workflow(s, "other", ["x"])
        writer.workflow_order(s, other, "999")
        source = writer.data_source(s, "elsewhere")
        case = writer.case(s, other, "1")
        writer.add_file(s, hand_store.files, case, source, "x.jpg", image_bytes(8, 8))
    with pytest.raises(UnknownChoiceError, match=r"order '999'.*valid orders: 8492192"):
        ExportQuery(hand_store, workflow="harbour", order="999")
    # A data source with files only in another workflow is not one of this workflow's.
    with pytest.raises(UnknownChoiceError, match="'elsewhere'"):
        ExportQuery(hand_store, workflow="harbour", data_source="elsewhere")


def test_unknown_scope_and_layout(hand_store):
    with pytest.raises(UnknownChoiceError, match="valid: latest, all"):
        ExportQuery(hand_store, workflow="harbour", scope="newest")
    with pytest.raises(UnknownChoiceError, match="valid: long, wide, files, annotated"):
        ExportQuery(hand_store, workflow="harbour", layout="pivot")


def test_annotated_files_need_an_order(hand_store):
    with pytest.raises(InvalidOptionError, match="needs a workflow order.*8492192"):
        ExportQuery(hand_store, workflow="harbour", layout="annotated")
    query = ExportQuery(hand_store, workflow="harbour", layout="annotated", order="8492192")
    assert query.counts().rows == 2  # latest: one image per file of the order


def test_a_bad_change_after_construction_is_caught_before_writing(hand_store, tmp_path):
    query = ExportQuery(hand_store, workflow="harbour")
    query.order = "404"
    target = tmp_path / "out.csv"
    with pytest.raises(UnknownChoiceError):
        query.write_csv(target)


def test_blank_filters_mean_all(hand_store):
    query = ExportQuery(hand_store, workflow="harbour", data_source="", order="")
    assert (query.data_source, query.order) == (None, None)
    assert query.counts().files == 3


def test_choices(hand_store):
    choices = ExportQuery(hand_store, workflow="harbour").choices()
    assert choices.data_sources == ["cam-1", "drone"]
    assert choices.orders == ["8492192"]


def test_latest_rule_breaks_ties_by_the_greater_id(store):
    with store.session() as s:
        wf = writer.create_workflow(s, "ties", ["thing"])
        tax = writer.Taxonomy(wf)
        case = writer.case(s, wf, "1")
        file = writer.add_file(
            s, store.files, case, writer.data_source(s, "d"), "f.jpg", image_bytes(8, 8)
        )
        same_time = datetime(2026, 5, 1, 12, 0, 0)
        first = writer.add_assessment(s, file, "a", "machine", "m@1", same_time)
        second = writer.add_assessment(s, file, "b", "human", "h", same_time)
        older = writer.add_assessment(s, file, "c", "human", "h", datetime(2026, 4, 1))
        for assessment in (first, second, older):
            writer.add_annotation(s, tax, assessment, None, "thing", "POINT (1 1)", 0.5)
        second_id = second.id
    frame = ExportQuery(store, workflow="ties", scope="latest").frame()
    assert set(frame["assessment_id"]) == {second_id}
    assert set(frame["stage"]) == {"b"}
    everything = ExportQuery(store, workflow="ties", scope="all").frame()
    assert list(dict.fromkeys(everything["stage"])) == ["c", "a", "b"]  # by (assessed_at, id)


def test_parquet_has_the_same_rows_typed(hand_store):
    for layout in ("long", "wide"):
        query = ExportQuery(hand_store, workflow="harbour", scope="all", layout=layout)
        buffer = io.BytesIO()
        rows = query.write_parquet(buffer)
        table = pq.read_table(io.BytesIO(buffer.getvalue()))
        assert table.num_rows == rows == query.counts().rows
        assert str(table.schema.field("assessed_at").type) == "timestamp[ms, tz=UTC]"
        assert str(table.schema.field("file_id").type) == "int64"
        assert str(table.schema.field("confidence").type) == "double"
        query.format = "csv"
        query.spreadsheet_safe = False
        csv_frame = query.frame()
        assert table.column("entity_id").to_pylist() == csv_frame["entity_id"].tolist()
        # Parquet is typed data for analysts: no spreadsheet escaping.
        values = table.column("value" if layout == "long" else "note").to_pylist()
        assert "=cmd|' /C calc'!A0" in values


def test_writing_in_a_format_leaves_the_query_s_options_as_they_are(hand_store):
    """write_parquet and write_csv write their format; the query keeps its own (the preview
    and a later write() use it), and each gives the bytes of a query made in that format."""
    options = {"workflow": "harbour", "scope": "all", "layout": "wide"}
    query = ExportQuery(hand_store, **options)
    before = query.options()
    parquet, csv = io.BytesIO(), io.BytesIO()
    query.write_parquet(parquet)
    assert query.options() == before and query.format == "csv"
    query.format = "parquet"
    query.write_csv(csv)
    assert query.format == "parquet"
    for table_format, written in (("parquet", parquet), ("csv", csv)):
        expected = io.BytesIO()
        ExportQuery(hand_store, **options, format=table_format).write(expected)
        assert written.getvalue() == expected.getvalue()


def test_write_to_path_and_filename(hand_store, tmp_path):
    query = ExportQuery(hand_store, workflow="harbour", layout="wide")
    target = tmp_path / "wide.csv"
    query.write_csv(target)
    buffer = io.BytesIO()
    query.write_csv(buffer)
    assert target.read_bytes() == buffer.getvalue()
    when = datetime(2026, 11, 28, 19, 7, 1, tzinfo=timezone(timedelta(hours=1)))
    assert query.filename(when) == "harbour_wide_20261128T180701Z.csv"


def test_a_download_name_never_starts_with_a_dash_or_a_dot(store):
    from dashboard.store import writer

    with store.session() as s:
        writer.create_workflow(s, "-rf", ["thing"])
        writer.create_workflow(s, ".hidden", ["thing"])
    when = datetime(2026, 11, 28, 18, 7, 1, tzinfo=UTC)
    assert ExportQuery(store, workflow="-rf").filename(when) == "_-rf_long_20261128T180701Z.csv"
    assert (
        ExportQuery(store, workflow=".hidden", layout="files").filename(when)
        == "_-hidden_files_20261128T180701Z.zip"
    )


def test_options_are_resolved_once_per_change_and_again_after_one(hand_store):
    """A preview asks for the filters several times: only a change of an option reads the
    workflow, its orders and sources again, and a bad change is still refused."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    query = ExportQuery(hand_store, workflow="harbour", data_source="cam-1")
    event.listen(hand_store.engine, "before_cursor_execute", seen)
    try:
        first = query.filters()
        assert query.filters() is first and query.attribute_names and statements == []
        query.counts()
        assert not any("workflow.name" in text for text in statements)  # only the counts
        query.data_source = "drone"
        statements.clear()
        assert query.filters() != first and query.filters().data_source_id != first.data_source_id
        assert any("workflow.name" in text for text in statements)  # read again
        query.data_source = "nowhere"
        with pytest.raises(UnknownChoiceError, match="nowhere"):
            query.filters()
    finally:
        event.remove(hand_store.engine, "before_cursor_execute", seen)
