"""The command line: same bytes as the API, exit code 2 and one line on bad input."""

from __future__ import annotations

import io

import pytest

from dashboard.cli import main
from dashboard.export import ExportQuery
from dashboard.store.db import open_store
from tests.hand_workflow import build_hand_workflow
from tests.helpers import ROOT


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


# -- output paths, pipes and faults (SPEC 7) ------------------------------------------------


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("assess-export: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/out.csv", "folder missing does not exist"),
        (".", "it is a folder"),
    ],
)
def test_an_output_path_that_cannot_be_written_exits_2_naming_it(
    data_dir, tmp_path, monkeypatch, capsys, where, message
):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "harbour", "-q", "-o", where]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"assess-export: error: cannot write {where}: ")
    assert line.endswith(message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write: a read-only tmpfs as root (root ignores permissions)."""
    import os
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)])
    if mounted.returncode != 0:
        pytest.skip("mounting a read-only tmpfs was refused")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_folder_exits_2_naming_the_path(data_dir, read_only_folder, capsys):
    target = read_only_folder / "out.csv"
    assert main(["export", "harbour", "-q", "-o", str(target)]) == 2
    assert _one_error_line(capsys) == (
        f"assess-export: error: cannot write {target}: folder {read_only_folder} is not writable"
    )


@pytest.mark.parametrize(
    "options",
    [
        ["--scope", "all"],
        ["--format", "parquet"],
        ["--layout", "files"],
        ["--layout", "annotated", "--order", "8492192"],
    ],
)
def test_a_full_disk_ends_in_one_line_exit_3_and_leaves_nothing(
    data_dir, full_disk, capsys, options
):
    target = full_disk / "out.bin"
    assert main(["export", "harbour", *options, "-q", "-o", str(target)]) == 3
    assert _one_error_line(capsys) == (
        f"assess-export: error: writing {target} failed: No space left on device; "
        "nothing was written"
    )
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_a_reader_that_stops_early_ends_the_export_quietly(tmp_path):
    """`assess-export export ... -o - | head`: no traceback, exit 141 as Unix tools end. The
    export is far larger than a pipe's buffer, so the reader leaves while it is written."""
    import os
    import subprocess
    import sys

    from bench.generate import generate

    data = tmp_path / "data"
    data.mkdir()
    generate(f"sqlite:///{data / 'assess.db'}", str(data / "files"), 20_000)
    script = (
        f"{sys.executable} -m dashboard.cli export bench-export --scope all -q -o - "
        "| head -c 10 > /dev/null; echo ${PIPESTATUS[0]}"
    )
    for layout in ("long", "wide"):
        ended = subprocess.run(
            ["bash", "-c", script.replace("--scope all", f"--scope all --layout {layout}")],
            capture_output=True, text=True, cwd=ROOT,
            env={**os.environ, "ASSESS_DATA_DIR": str(data)},
        )  # fmt: skip
        assert ended.stderr == ""
        assert ended.stdout.strip() == "141"


def test_exported_files_get_the_permissions_the_umask_gives(data_dir, tmp_path):
    import os

    previous = os.umask(0o027)
    try:
        target = tmp_path / "out.csv"
        assert main(["export", "harbour", "-q", "-o", str(target)]) == 0
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_skipped_file_is_reported_on_stderr_too(data_dir, tmp_path, capsys):
    from sqlalchemy import select

    from dashboard.store.models import DataFile

    with data_dir.session() as session:
        key = session.scalar(select(DataFile.storage_key).where(DataFile.file_name == "loose.jpg"))
    data_dir.files.fs.rm(f"{data_dir.files.root}/{key}")  # the bytes are gone from storage
    target = tmp_path / "files.zip"
    assert main(["export", "harbour", "--layout", "files", "-q", "-o", str(target)]) == 0
    err = capsys.readouterr().err
    assert (
        "assess-export: warning: 1 file(s) could not be read and are not in the archive "
        "(manifest.json lists them): loose.jpg\n"
    ) in err


def test_csv_can_be_written_to_a_text_stream_and_archives_say_they_need_bytes(data_dir):
    from dashboard.errors import InvalidOptionError

    text = io.StringIO()
    ExportQuery(data_dir, workflow="harbour", scope="all").write_csv(text)
    assert text.getvalue().encode("utf-8") == api_bytes(data_dir, scope="all")
    for options in ({"format": "parquet"}, {"layout": "files"}):
        with pytest.raises(InvalidOptionError, match="binary stream"):
            ExportQuery(data_dir, workflow="harbour", **options).write(io.StringIO())


def test_a_refused_database_ends_in_one_line_naming_it_and_exit_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSESS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSESS_DB_URL", "postgresql+psycopg://anna:s3cret@127.0.0.1:1/test")
    target = tmp_path / "out.csv"
    assert main(["export", "harbour", "-q", "-o", str(target)]) == 3
    line = _one_error_line(capsys)
    assert line.startswith("assess-export: error: the database at 127.0.0.1:1/test failed: ")
    assert '"127.0.0.1", port 1 failed' in line and line.endswith("nothing was written")
    assert "s3cret" not in line
    assert not target.exists()


def test_export_with_stage_kind_and_time_filters(data_dir, tmp_path):
    target = tmp_path / "since.csv"
    argv = ["export", "harbour", "--stage-kind", "human", "--from", "2026-11-02", "--to",
            "2026-11-03T00:00:00Z", "-q", "-o", str(target)]  # fmt: skip
    assert main(argv) == 0
    expected = api_bytes(
        data_dir, stage_kind="human", assessed_from="2026-11-02", assessed_to="2026-11-03"
    )
    assert target.read_bytes() == expected
    assert expected.count(b"\n") == 11  # the header and the human review's ten rows


def test_export_with_object_classes(data_dir, tmp_path, capsys):
    target = tmp_path / "classes.csv"
    argv = ["export", "harbour", "--scope", "all", "--layout", "wide", "--class", "buoy",
            "--class", "vessel", "-q", "-o", str(target)]  # fmt: skip
    assert main(argv) == 0
    expected = api_bytes(data_dir, scope="all", layout="wide", object_classes=["buoy", "vessel"])
    assert target.read_bytes() == expected
    buoys = api_bytes(data_dir, scope="all", layout="wide", object_classes=["buoy"])
    assert main(["export", "harbour", "--scope", "all", "--layout", "wide", "--class", "buoy",
                 "-q", "-o", str(target)]) == 0  # fmt: skip
    assert target.read_bytes() == buoys and buoys.count(b"\n") == 3
    capsys.readouterr()
    assert main(["export", "harbour", "--class", "kraken", "-q", "-o", str(target)]) == 2
    assert "object class 'kraken' is not a class of workflow 'harbour'" in _one_error_line(capsys)


def test_a_bad_time_filter_exits_2_naming_it(data_dir, tmp_path, capsys):
    assert main(["export", "harbour", "--from", "last week", "-o", str(tmp_path / "x.csv")]) == 2
    assert "assessed_from 'last week' is not a date or time" in _one_error_line(capsys)
