"""The command line: same bytes as the API, exit code 2 and one line on bad input."""

from __future__ import annotations

import io

import pytest

from dashboard.cli import main
from dashboard.query.export import ExportQuery
from dashboard.store.db import open_store
from tests.hand_workflow import build_hand_workflow


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("ASSESS_DATA_DIR", str(data))
    for name in ("ASSESS_DB_URL", "ASSESS_FILES_URL"):
        monkeypatch.delenv(name, raising=False)
    store = open_store()
    build_hand_workflow(store)
    yield store
    store.dispose()


def api_bytes(store, **options) -> bytes:
    buffer = io.BytesIO()
    ExportQuery(store, workflow="harbour", **options).write(buffer)
    return buffer.getvalue()


def test_export_writes_the_api_bytes(data_dir, tmp_path, capsys):
    target = tmp_path / "out.csv"
    code = main(["export", "harbour", "--scope", "all", "--layout", "wide", "-o", str(target)])
    assert code == 0
    assert target.read_bytes() == api_bytes(data_dir, scope="all", layout="wide")
    assert str(target) in capsys.readouterr().err


def test_export_to_stdout_with_filters(data_dir, capsysbinary):
    code = main(["export", "harbour", "--data-source", "drone", "--order", "", "-o", "-", "-q"])
    assert code == 0
    assert capsysbinary.readouterr().out == api_bytes(data_dir, data_source="drone")


def test_export_parquet_and_no_safety(data_dir, tmp_path):
    target = tmp_path / "long.parquet"
    assert main(["export", "harbour", "--format", "parquet", "-o", str(target)]) == 0
    assert target.read_bytes()[:4] == b"PAR1"
    plain = tmp_path / "plain.csv"
    assert main(["export", "harbour", "--no-spreadsheet-safety", "-o", str(plain)]) == 0
    assert plain.read_bytes() == api_bytes(data_dir, spreadsheet_safe=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "nope"], "unknown workflow 'nope'; known workflows: harbour"),
        (["export", "harbour", "--order", "1"], "valid orders: 8492192"),
        (["export", "harbour", "--data-source", "x"], "valid data sources: cam-1, drone"),
        (["export", "harbour", "--layout", "annotated"], "needs a workflow order"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    data_dir, tmp_path, capsys, argv, message
):
    target = tmp_path / "never.csv"
    assert main([*argv, "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("assess-export: error: ") and message in err
    assert err.count("\n") == 1
    assert not target.exists()
    assert list(tmp_path.glob(".never.csv*")) == []


def test_unknown_option_value_is_an_argparse_error(data_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "harbour", "--scope", "newest"])
    assert exit_info.value.code == 2


def test_list(data_dir, capsys):
    assert main(["list"]) == 0
    assert capsys.readouterr().out == ("harbour\n  orders: 8492192\n  data sources: cam-1, drone\n")


def test_export_files_and_annotated_zips(data_dir, tmp_path):
    import zipfile

    files = tmp_path / "files.zip"
    assert main(["export", "harbour", "--layout", "files", "-o", str(files), "-q"]) == 0
    assert zipfile.ZipFile(files).namelist() == [
        "000003112442_8492192_1.jpg",
        "000003112442_8492192_2.png",
        "A-7_harbour_1.jpg",
        "manifest.json",
    ]
    drawn = tmp_path / "drawn.zip"
    argv = ["export", "harbour", "--layout", "annotated", "--order", "8492192", "--scope", "all"]
    assert main([*argv, "-o", str(drawn), "-q"]) == 0
    expected = io.BytesIO()
    ExportQuery(
        data_dir, workflow="harbour", layout="annotated", order="8492192", scope="all"
    ).write_annotated_zip(expected)
    assert drawn.read_bytes() == expected.getvalue()


def test_import_csv_round_trips_into_an_empty_store(data_dir, tmp_path, monkeypatch, capsys):
    exported = tmp_path / "long.csv"
    argv = ["export", "harbour", "--scope", "all", "-q"]
    assert main([*argv, "-o", str(exported)]) == 0
    monkeypatch.setenv("ASSESS_DATA_DIR", str(tmp_path / "empty"))  # a second, empty store
    assert main(["import-csv", str(exported), "--workflow", "harbour"]) == 0
    assert "ImportSummary(workflows=1, files=3" in capsys.readouterr().out
    again = tmp_path / "again.csv"
    assert main([*argv, "-o", str(again)]) == 0
    assert again.read_bytes() == exported.read_bytes()


def test_import_csv_bad_input_exits_2_and_imports_nothing(data_dir, tmp_path, capsys):
    before = api_bytes(data_dir, scope="all")
    assert main(["import-csv", str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"assess-export: error: CSV file not found: {tmp_path / 'missing.csv'}"
    )
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("workflow,file\nharbour,x.jpg\n")
    assert main(["import-csv", str(wrong)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("assess-export: error: ") and error.count("\n") == 1
    assert api_bytes(data_dir, scope="all") == before
