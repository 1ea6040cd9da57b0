"""A multi-process deployment (issue 11, part 4): two dashboard servers and a separate job
worker against one PostgreSQL, one Redis and one S3-compatible store, started with the very
commands of deploy/processes (through ``deploy/run``, as deploy/compose.yaml starts them).

As in the compose file, every process has a data folder of its own and shares no disk with
the others: image bytes and finished archives are in S3 (``ASSESS_FILES_URL``,
``ASSESS_EXPORTS_URL``; moto's server on loopback, reached through the standard
``AWS_ENDPOINT_URL``), the store in a fresh PostgreSQL schema, the job queue in Redis
database 14 (emptied before and after).
``ASSESS_PUBLIC_URL`` names process B, where a proxy would stand: the worker makes the link,
server A shows it, and a click on it downloads through B.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
import uuid

import boto3
import pytest
import redis
import yaml
from moto.server import ThreadedMotoServer
from playwright.sync_api import expect

from dashboard.config import Settings
from dashboard.export import ExportQuery
from dashboard.importers.demo import DEMO_WORKFLOW
from dashboard.jobs import records
from dashboard.spec.options import LAYOUT_LABELS, SCOPE_LABELS, Layout, Scope
from dashboard.store.db import open_store
from dashboard.store.models import JobStatus
from tests.deployment_support import DEPLOY, Process, process_commands, run_once, running
from tests.helpers import empty_redis_or_skip, free_port, wait_until_no_marked_processes
from tests.ui.browser_support import (
    CHROMIUM,
    CREDENTIALS,
    LAUNCH_ARGS,
    VIEWPORT,
    Served,
)
from tests.ui.test_browser import (
    WAIT,
    assert_same_zip,
    click_download_in_new_tab,
    expect_counts,
    log_in,
    open_admin,
    radio,
    select,
    tab,
)

REDIS_URL = "redis://127.0.0.1:6379/14"  # this test's own database (the job tests use 15)
BUCKET = "deployment-images"
ORDER = "8492192"
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "deployment-test",
    "AWS_SECRET_ACCESS_KEY": "deployment-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START = 90  # seconds a process may take to be ready (CI machines are slow)


@pytest.fixture
def redis_url():
    empty_redis_or_skip(REDIS_URL)
    try:
        yield REDIS_URL
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def s3_endpoint(monkeypatch):
    """moto's S3 server on loopback with an empty bucket; this process reaches it as the
    deployed ones do, through the AWS_* variables."""
    quiet = logging.getLogger("werkzeug")  # moto's server logs every request
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        for name, value in {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()
        quiet.setLevel(level)


@pytest.fixture
def chromium():
    """Debian's Chromium (as tests/ui launches it); missing, it fails under CI=true."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium (.ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def s3_keys(endpoint: str, prefix: str) -> list[str]:
    pages = boto3.client("s3", endpoint_url=endpoint).get_paginator("list_objects_v2")
    return [
        item["Key"]
        for page in pages.paginate(Bucket=BUCKET, Prefix=prefix)
        for item in page.get("Contents", [])
    ]


def wait_for_status(store, job_id: str, status: JobStatus, timeout: float):
    deadline = time.monotonic() + timeout
    while (job := records.get_job(store, job_id)).status is not status:
        assert job.status is not JobStatus.failed, job.error
        assert time.monotonic() < deadline, f"job {job_id} is {job.status}, not {status}"
        time.sleep(0.2)
    return job


@pytest.mark.postgres
@pytest.mark.browser
@pytest.mark.timeout(240)
def test_two_servers_and_a_worker_share_one_postgresql_redis_and_s3(
    tmp_path, pg_schema_url, redis_url, s3_endpoint, chromium
):
    """A job requested in the browser through server A waits while no worker runs (servers
    draw none), is drawn by the worker, and its link downloads the complete archive through
    server B; server A restarts, and the open page works again after a reload, still signed
    in (the login cookie verifies in any server)."""
    users = tmp_path / "users.json"
    users.write_text(json.dumps(CREDENTIALS))
    port_a, port_b = free_port(), free_port()
    base_a, base_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    mark = uuid.uuid4().hex
    common = {
        **S3_CREDENTIALS,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "ASSESS_DB_URL": pg_schema_url,
        "ASSESS_FILES_URL": f"s3://{BUCKET}/files",
        "ASSESS_EXPORTS_URL": f"s3://{BUCKET}/exports",
        "ASSESS_JOBS_URL": redis_url,
        "ASSESS_SECRET": "deployment-test-link-secret",
        "PANEL_COOKIE_SECRET": "deployment-test-cookie-secret",
        "ASSESS_ADMINS": "admin",
        "ASSESS_PUBLIC_URL": base_b,
        "USERS_FILE": str(users),
        "BIND_ADDRESS": "127.0.0.1",
        "ASSESS_TEST_MARK": mark,  # whatever the processes start inherits it
    }

    def env_of(name: str, **extra: str) -> dict[str, str]:
        data = tmp_path / name
        data.mkdir(exist_ok=True)
        return {**common, "ASSESS_DATA_DIR": str(data), **extra}

    def server(name: str, port: int) -> Process:
        env = env_of(name, PORT=str(port), WS_ORIGIN=f"127.0.0.1:{port}")
        return Process("server", env, tmp_path / f"{name}.log")

    run_once("release", env_of("release"), tmp_path / "release.log", timeout=180)
    store = open_store(Settings.from_env(env_of("test")))
    options = {"workflow": DEMO_WORKFLOW, "scope": "all", "layout": "annotated", "order": ORDER}
    server_a, server_b = server("server-a", port_a), server("server-b", port_b)
    worker = Process("worker", env_of("worker"), tmp_path / "worker.log")
    context = chromium.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(WAIT)
    try:
        with running([server_a, server_b, worker]):
            assert store.workflow_names() == [DEMO_WORKFLOW]
            assert s3_keys(s3_endpoint, "files/")  # the demo's image bytes are in S3 ...
            assert not (tmp_path / "release" / "files").exists()  # ... not on a disk
            server_a.start()
            server_b.start()
            server_a.wait_for_url(f"{base_a}/liveness", START)
            server_b.wait_for_url(f"{base_b}/liveness", START)

            # Through server A, as a user: sign in, pick Annotated Files of an order, request.
            served_a = Served(base_a, store, tmp_path / "server-a", DEMO_WORKFLOW)
            page, watch = log_in(context, served_a, "admin")
            open_admin(page)
            radio(page, SCOPE_LABELS[Scope.all]).check()
            radio(page, LAYOUT_LABELS[Layout.annotated]).check()
            select(page, "Order").select_option(ORDER)
            expect_counts(page, served_a, options)
            request = page.get_by_role("button", name="Request annotated files")
            expect(request).to_be_enabled(timeout=WAIT)
            request.click()
            deadline = time.monotonic() + WAIT / 1000
            while not (jobs := records.list_jobs(store, "admin")):
                assert time.monotonic() < deadline, "the click requested no job"
                time.sleep(0.1)
            (job,) = jobs

            # No worker runs yet: the servers leave the job alone (the expected archive is
            # drawn here meanwhile, a few seconds).
            expected = io.BytesIO()
            ExportQuery(store, **options).write_annotated_zip(expected, workers=1)
            job = records.get_job(store, job.id)
            assert (job.status, job.attempts, job.started_at) == (JobStatus.queued, 0, None)

            worker.start()
            job = wait_for_status(store, job.id, JobStatus.done, START)
            assert job.attempts == 1
            assert "Executing dashboard.jobs.tasks.run_export" in worker.output()
            for process in (server_a, server_b):
                assert "Executing" not in process.output()
            assert job.link.startswith(f"{base_b}/download?token=")

            # Server A's page shows it done; its link downloads through server B.
            status = page.locator(".tabulator-cell[tabulator-field='status']").first
            expect(status).to_have_text("done", timeout=START * 1000)
            link = page.locator(".tabulator-cell[tabulator-field='download'] a").first
            expect(link).to_have_attribute("href", job.link, timeout=WAIT)
            expect(page.locator(".notyf__toast")).to_have_count(0, timeout=WAIT)
            downloads = []
            context.on("response", lambda r: "/download?" in r.url and downloads.append(r))
            name, body = click_download_in_new_tab(context, page, link)
            assert name == job.filename
            assert_same_zip(body, expected.getvalue())
            assert [(r.url, r.status) for r in downloads] == [(job.link, 200)]
            watch.assert_clean(server_a.log)
            watch.assert_clean(server_b.log)

            # Server A restarts under the open page; a reload is a working page again,
            # signed in with the same cookie, and the job is still there.
            server_a.stop()
            server_a.start()
            server_a.wait_for_url(f"{base_a}/liveness", START)
            watch.errors.clear()  # the page lost its connection while A was down: expected
            page.reload()
            expect(tab(page, "Overview")).to_be_visible(timeout=WAIT)
            assert page.url.startswith(f"{base_a}/app")
            expect(page.get_by_text("Signed in as")).to_contain_text("admin", timeout=WAIT)
            open_admin(page)
            expect(status).to_have_text("done", timeout=WAIT)
            expect(link).to_have_attribute("href", job.link, timeout=WAIT)
            watch.assert_clean(server_a.log)
        # Nothing was kept on any process's disk: no secret, no SQLite store or queue, no
        # image bytes, no archive (the worker drew it in its own folder, then put it in S3).
        for name in ("release", "server-a", "server-b"):
            assert list((tmp_path / name).iterdir()) == [], name
        assert [p.name for p in (tmp_path / "worker").iterdir()] == ["exports"]
        assert list((tmp_path / "worker" / "exports").iterdir()) == []
        assert s3_keys(s3_endpoint, "exports/") == [f"exports/{job.id}.zip"]
    finally:
        context.close()
        store.dispose()
    wait_until_no_marked_processes(mark)


def test_the_compose_file_runs_the_processes_the_test_runs():
    """Each service built from the product runs ``deploy/run NAME`` of a line of
    deploy/processes, every line is run by some service, each server service sets the
    variables its line needs, the proxy balances over exactly the server services on their
    port, and deploy/README.md shows the lines as they are."""
    commands = process_commands()
    assert set(commands) == {"release", "server", "worker"}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    runs = {
        name: service["command"][1]
        for name, service in services.items()
        if service.get("command", [None])[0] == "deploy/run"
    }
    assert set(runs.values()) == set(commands)
    servers = sorted(name for name, process in runs.items() if process == "server")
    assert len(servers) >= 2
    proxied = re.findall(r"^\s*server\s+(\S+)\s+(\S+)", (DEPLOY / "haproxy.cfg").read_text(), re.M)
    assert sorted(proxied) == [
        (name, f"{name}:{services[name]['environment']['PORT']}") for name in servers
    ]
    variables = set(re.findall(r"\$\{(\w+)\}", commands["server"]))
    for name in servers:
        assert variables <= set(services[name]["environment"]), name
    readme = (DEPLOY / "README.md").read_text()
    for name, command in commands.items():  # its copy of the lines is the same
        assert re.search(rf"^{name}:\s+{re.escape(command)}$", readme, re.M), name
