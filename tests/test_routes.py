"""The streaming download route: exact bytes, signed links refused when forged, expired or
foreign, and flat server memory for an archive larger than comfortable to hold."""

from __future__ import annotations

import io
import os
import time
import urllib.error
import urllib.request
import zipfile

import pytest

from dashboard.export import ExportQuery
from dashboard.links import LOCAL_USER, download_url, sign
from dashboard.store import writer
from dashboard.store.db import open_store
from dashboard.store.models import DataFile
from tests.hand_workflow import build_hand_workflow
from tests.helpers import served_app

SECRET = "test-secret-for-links"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("routes") / "data"
    store = open_store(db_url=f"sqlite:///{data / 'assess.db'}", files_url=str(data / "files"))
    build_hand_workflow(store)
    store.serve_log = data / "serve.log"  # where served_app sends the server's output
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": SECRET}
    with served_app(env) as base:
        yield base, store
    store.dispose()


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def link(base: str, options: dict, user: str = LOCAL_USER, lifetime: int = 600) -> str:
    token = sign(SECRET.encode(), user, {"kind": "export", "options": options}, lifetime)
    return download_url(base, token)


@pytest.mark.parametrize(
    "options",
    [
        {"workflow": "harbour", "layout": "long", "scope": "all"},
        {"workflow": "harbour", "layout": "wide", "scope": "latest", "order": "8492192"},
        {"workflow": "harbour", "layout": "long", "format": "parquet"},
        {"workflow": "harbour", "layout": "files", "data_source": "cam-1"},
    ],
)
def test_route_streams_exactly_the_api_bytes(served, options):
    base, store = served
    status, headers, body = fetch(link(base, options))
    assert status == 200
    query = ExportQuery(store, **options)
    expected = io.BytesIO()
    query.write(expected)
    if query.layout == "files":
        # Same members, same bytes and same manifest as the API's archive.
        got, want = zipfile.ZipFile(io.BytesIO(body)), zipfile.ZipFile(expected)
        assert got.testzip() is None
        assert got.namelist() == want.namelist()
        assert all(got.read(n) == want.read(n) for n in want.namelist())
    else:
        assert body == expected.getvalue()
    suffix = {"csv": "csv", "parquet": "parquet"}.get(options.get("format", "csv"))
    if query.layout == "files":
        suffix = "zip"
    disposition = headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="harbour_{options["layout"]}_')
    assert disposition.endswith(f".{suffix}")


def test_forged_expired_and_foreign_links_are_refused(served):
    base, _ = served
    options = {"workflow": "harbour", "layout": "long"}
    good = link(base, options)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    cases = {
        forged: "signature does not match",
        link(base, options, lifetime=-1): "has expired",
        link(base, options, user="mallory"): "made for another user",
        f"{base}/download?token=garbage": "malformed",
        f"{base}/download?token=%C3%A9t%C3%A9.sign%C3%A9": "malformed",  # non-ASCII
        f"{base}/download?token=%FF%FE.x": "malformed",  # not UTF-8
        f"{base}/download?token=e30.{good.rsplit('.', 1)[1]}": "signature does not match",
    }
    for url, reason in cases.items():
        status, headers, body = fetch(url)
        assert status == 403
        assert headers["Content-Type"].startswith("text/plain")
        assert reason in body.decode()


def test_the_server_log_never_holds_a_download_token(served):
    """Tornado logs refused requests (and, by log level, every request) with their URL: the
    token, a bearer credential, is redacted there."""
    base, store = served
    good = link(base, {"workflow": "harbour", "layout": "long"})
    refused = link(base, {"workflow": "harbour"}, user="mallory")
    not_utf8 = f"{base}/download?token=%FFsecret-part.x"
    assert fetch(good)[0] == 200 and fetch(refused)[0] == 403 and fetch(not_utf8)[0] == 403
    log = store.serve_log.read_text(errors="replace")
    deadline = time.monotonic() + 10
    while "/download?token=<redacted>" not in log and time.monotonic() < deadline:
        time.sleep(0.2)
        log = store.serve_log.read_text(errors="replace")
    assert "GET /download?token=<redacted>" in log  # the refused one is logged (a warning)
    for url in (good, refused):
        assert url.split("token=", 1)[1] not in log
    assert "secret-part" not in log


def test_a_link_with_bad_options_is_a_clear_400(served):
    base, _ = served
    status, _, body = fetch(link(base, {"workflow": "harbour", "order": "404"}))
    assert status == 400
    assert "valid orders: 8492192" in body.decode()


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_zip_streams_with_flat_memory(tmp_path):
    """~600 MB of file bytes through the route; the server's peak RSS grows far less."""
    data = tmp_path / "data"
    store = open_store(db_url=f"sqlite:///{data / 'assess.db'}", files_url=str(data / "files"))
    chunk = os.urandom(1 << 20)
    with store.session() as s:
        wf = writer.create_workflow(s, "big", ["x"])
        source = writer.data_source(s, "disk")
        for index in range(24):
            payload = chunk * 24 + index.to_bytes(4, "big")  # ~24 MiB, distinct per file
            key, digest = store.files.put_image(payload, ".jpg")
            case = writer.case(s, wf, str(index))
            s.add(
                DataFile(case=case, count=1, data_source=source, file_name=f"{index}.jpg",
                         content_type="image/jpeg", width=1, height=1, byte_size=len(payload),
                         sha256=digest, storage_key=key)
            )  # fmt: skip
    store.dispose()
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": SECRET}
    with served_app(env) as base:
        pid = int(
            next(
                line.split()[-1]
                for line in (data / "serve.log").read_text().splitlines()
                if "process id" in line
            )
        )
        before = _peak_rss_kib(pid)
        started = time.monotonic()
        total = 0
        with urllib.request.urlopen(link(base, {"workflow": "big", "layout": "files"})) as r:
            while block := r.read(1 << 20):
                total += len(block)
        after = _peak_rss_kib(pid)
    assert total > 24 * 24 * (1 << 20)
    growth_mib = (after - before) / 1024
    assert growth_mib < 150, (
        f"peak RSS grew by {growth_mib:.0f} MiB in {time.monotonic() - started:.1f}s"
    )


def test_the_export_formats_reference_is_served_as_a_page(served):
    base, _ = served
    status, headers, body = fetch(f"{base}/help/exports")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "<h1>Export formats</h1>" in page
    assert "<code>000003112442_8492192_1.jpg</code>" in page
    assert "<script" not in page
