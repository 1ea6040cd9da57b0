"""Faults injected for real (SPEC 7, issue "Faults"): the database stopped under a running
export, download, import or dashboard session, and a full disk under a background job.

The database is a cluster of the tests' own (``tests/pg_cluster.py``), stopped with an
immediate shutdown. To stop it at a known point, the process doing the work is frozen
(SIGSTOP) once it is visibly under way, the database is stopped, and the process is let go.
Every test checks the one-line message, that nothing partial is left, that no process of
the work lives on, and that the same work succeeds once the database is back.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from dashboard.links import LOCAL_USER, download_url, sign
from dashboard.store.db import open_store
from tests.helpers import ROOT, marked_processes, served_app, wait_until_no_marked_processes

WORKFLOW = "bench-export"
SECRET = "fault-tests-secret"


def _env(cluster, data: Path, mark: str) -> dict[str, str]:
    data.mkdir(exist_ok=True)
    return {
        **os.environ,
        "ASSESS_DATA_DIR": str(data),
        "ASSESS_DB_URL": cluster.url,
        "ASSESS_FILES_URL": cluster.files_url,
        "ASSESS_SECRET": SECRET,
        "ASSESS_TEST_MARK": mark,
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _lose_database_under(pid: int, cluster) -> None:
    """Freeze the process, stop the database (as a crash does), and let the process go on."""
    os.kill(pid, signal.SIGSTOP)
    try:
        cluster.stop()
    finally:
        os.kill(pid, signal.SIGCONT)


def _database_line(cluster) -> str:
    return f"assess-export: error: the database at 127.0.0.1:{cluster.port}/postgres failed: "


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_a_database_lost_during_a_cli_export_ends_in_one_line_and_leaves_nothing(
    cluster, tmp_path, layout
):
    data, out = tmp_path / "data", tmp_path / "out"
    out.mkdir()
    mark = uuid.uuid4().hex
    env = _env(cluster, data, mark)
    target = out / f"export-{layout}.csv"
    args = ["export", WORKFLOW, "--scope", "all", "--layout", layout, "-q", "-o", str(target)]
    export = _cli(env, *args)

    def under_way() -> bool:
        partial = [p for p in out.iterdir() if p.name.startswith(".")]
        assert export.poll() is None, "the export ended before the database was stopped"
        return bool(partial) and partial[0].stat().st_size > 1_000_000

    _wait(under_way, "the export to be under way")
    _lose_database_under(export.pid, cluster)
    _, err = export.communicate(timeout=60)
    assert export.returncode == 3
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(_database_line(cluster)), err
    assert err.endswith("; nothing was written\n"), err
    assert list(out.iterdir()) == []
    wait_until_no_marked_processes(mark)

    cluster.start()  # back: the same command succeeds
    again = _cli(env, *args)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert [p.name for p in out.iterdir()] == [target.name]
    wait_until_no_marked_processes(mark)


def _download(base: str, options: dict) -> http.client.HTTPResponse:
    token = sign(SECRET.encode(), LOCAL_USER, {"kind": "export", "options": options})
    url = urlsplit(download_url(base, token))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    connection.request("GET", f"{url.path}?{url.query}")
    return connection.getresponse()


def test_a_database_lost_during_a_download_fails_the_transfer_and_logs_one_line(cluster, tmp_path):
    data = tmp_path / "data"
    mark = uuid.uuid4().hex
    env = _env(cluster, data, mark)
    options = {"workflow": WORKFLOW, "scope": "all", "layout": "long"}
    with served_app(env) as base:
        [server] = marked_processes(mark)
        response = _download(base, options)
        assert response.status == 200
        assert len(response.read(1_000_000)) == 1_000_000
        _lose_database_under(server, cluster)
        with pytest.raises(http.client.IncompleteRead):  # not a short "complete" file
            response.read()

        refused = _download(base, options)  # asked while the database is away
        assert refused.status == 503
        message = refused.read().decode()
        assert message.startswith("the export could not be made: the database at 127.0.0.1:")
        assert message.endswith("; try again shortly\n") and message.count("\n") == 1

        cluster.start()  # back: the same link downloads in full
        complete = _download(base, options)
        assert complete.status == 200
        body = complete.read()
    store = open_store(db_url=cluster.url, files_url=cluster.files_url)
    try:
        assert body == _api_bytes(store, options)
    finally:
        store.dispose()
    log = (data / "serve.log").read_text()
    failed = [line for line in log.splitlines() if "download of" in line and "failed" in line]
    assert len(failed) == 1, log
    assert "the database at 127.0.0.1:" in failed[0]
    assert "Traceback" not in log, log
    wait_until_no_marked_processes(mark)


def _api_bytes(store, options: dict) -> bytes:
    import io

    from dashboard.export import ExportQuery

    buffer = io.BytesIO()
    ExportQuery(store, **options).write(buffer)
    return buffer.getvalue()


def _table_counts(store) -> dict[str, int]:
    from dashboard.store import models

    tables = [models.DataFile, models.Assessment, models.Annotation, models.AttributeValue]
    with store.session() as session:
        return {t.__tablename__: session.scalar(select(func.count()).select_from(t))
                for t in tables}  # fmt: skip


def test_a_database_lost_during_an_import_leaves_the_store_as_before(cluster, tmp_path):
    data = tmp_path / "data"
    mark = uuid.uuid4().hex
    env = _env(cluster, data, mark)
    source = tmp_path / "long.csv"
    everything = tmp_path / "all.csv"
    exported = _cli(env, "export", WORKFLOW, "--scope", "all", "-q", "-o", str(everything))
    assert exported.wait(timeout=120) == 0
    with open(everything, encoding="utf-8") as full, open(source, "w") as part:
        for _, line in zip(range(20_001), full, strict=False):
            part.write(line)
    store = open_store(db_url=cluster.url, files_url=cluster.files_url)
    try:
        before = _table_counts(store)
        store.dispose()
        importer = _cli(env, "import-csv", str(source))
        _wait(
            lambda: _importing(store, importer),
            "the import to be writing",
        )
        _lose_database_under(importer.pid, cluster)
        _, err = importer.communicate(timeout=60)
        assert importer.returncode == 3, err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(_database_line(cluster)), err
        assert err.endswith("; nothing was imported\n"), err
        wait_until_no_marked_processes(mark)
        cluster.start()
        store.dispose()
        assert _table_counts(store) == before
        again = _cli(env, "import-csv", str(source))  # back: the same import succeeds
        _, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        after = _table_counts(store)
        assert after["attribute_value"] > before["attribute_value"]
        wait_until_no_marked_processes(mark)
    finally:
        store.dispose()


def _importing(store, importer: subprocess.Popen) -> bool:
    """True once the import has written rows in its (not yet committed) transaction."""
    from sqlalchemy import text

    assert importer.poll() is None, importer.communicate()
    with store.engine.connect() as connection:
        writing = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND backend_xid IS NOT NULL"
            )
        ).scalar()
    return writing > 0
