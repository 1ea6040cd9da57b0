"""The user reference (docs/exports.md) shows what the tool really writes: its example rows
are the hand-built workflow's export, and its column lists are the layouts' columns."""

from __future__ import annotations

import io
import re

from dashboard.export import ExportQuery
from dashboard.spec.options import LONG_COLUMNS
from tests.helpers import ROOT

DOCS = ROOT / "docs" / "exports.md"


def _csv_examples() -> list[list[str]]:
    return [
        block.strip().splitlines()
        for block in re.findall(r"```csv\n(.*?)```", DOCS.read_text(), flags=re.S)
    ]


def test_the_long_example_is_the_tools_own_output(hand_store):
    query = ExportQuery(hand_store, workflow="harbour", layout="long", order="8492192")
    out = io.BytesIO()
    query.write_csv(out)
    written = out.getvalue().decode().splitlines()
    long_example = _csv_examples()[0]
    assert long_example[0] == written[0]
    for line in long_example[1:]:
        assert line in written, line


def test_the_wide_example_rows_end_as_the_tools_own_rows(hand_store):
    query = ExportQuery(hand_store, workflow="harbour", layout="wide", order="8492192")
    out = io.BytesIO()
    query.write_csv(out)
    written = out.getvalue().decode().splitlines()
    for line in _csv_examples()[2]:
        tail = line.removeprefix("...,")
        assert any(row.endswith("," + tail) for row in written), line


def test_the_long_column_table_lists_every_column_in_order():
    text = DOCS.read_text()
    section = text.split("## Attribute Values and Confidences", 1)[1].split("Example", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert tuple(documented) == LONG_COLUMNS


def test_the_readme_links_the_reference():
    assert "(docs/exports.md)" in (ROOT / "README.md").read_text()


def test_the_empty_review_example_is_the_tools_own_output(hand_store):
    from datetime import datetime

    from dashboard.store import writer
    from dashboard.store.models import DataFile

    with hand_store.session() as session:
        loose = session.get(DataFile, hand_store.ids["f3"])
        writer.add_assessment(session, loose, "review", "human", "anna", datetime(2026, 11, 4, 7))
    query = ExportQuery(hand_store, workflow="harbour", data_source="drone")
    out = io.BytesIO()
    query.write_csv(out)
    assert out.getvalue().decode().splitlines()[1:] == _csv_examples()[1]
