"""The job engine for real: the served app's embedded workers, a restart, and scale mode with
a worker in a separate process on the local Redis."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request

import pytest
import redis

from dashboard.config import Settings
from dashboard.jobs import records
from dashboard.links import LOCAL_USER
from dashboard.query.export import ExportQuery
from dashboard.store.db import open_store
from dashboard.store.models import ExportJob, JobStatus
from tests.hand_workflow import build_hand_workflow
from tests.helpers import ROOT, free_port, served_app
from tests.jobs.test_jobs import Inbox

OPTIONS = {"workflow": "harbour", "layout": "annotated", "order": "8492192", "scope": "all"}


@pytest.fixture
def data_store(tmp_path):
    data = tmp_path / "data"
    store = open_store(Settings.from_env({"ASSESS_DATA_DIR": str(data)}))
    build_hand_workflow(store)
    yield data, store
    store.dispose()


def enqueue(job_id: str, env: dict[str, str]) -> None:
    """Enqueue through the configured job engine, from another process (as the app does)."""
    code = "import sys; from dashboard.jobs.tasks import run_export; run_export(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", code, job_id], cwd=ROOT, env={**os.environ, **env}, check=True
    )


def wait_for(store, job_id: str, timeout: float = 90) -> ExportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = records.get_job(store, job_id)
        if job.status in (JobStatus.done, JobStatus.failed):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {records.get_job(store, job_id)}")


def api_bytes(store) -> bytes:
    buffer = io.BytesIO()
    ExportQuery(store, **OPTIONS).write_annotated_zip(buffer, workers=1)
    return buffer.getvalue()


def test_served_app_runs_a_job_emails_the_link_and_the_link_downloads_it(data_store):
    from aiosmtpd.controller import Controller

    data, store = data_store
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    env = {
        "ASSESS_DATA_DIR": str(data),
        "ASSESS_SMTP_HOST": "127.0.0.1",
        "ASSESS_SMTP_PORT": str(smtp.port),
        "ASSESS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    try:
        with served_app(env, port=port):
            job_id = records.create_job(store, LOCAL_USER, OPTIONS, "anna@example.test")
            enqueue(job_id, env)
            job = wait_for(store, job_id)
            assert job.status is JobStatus.done, job.error
            deadline = time.monotonic() + 30
            while not inbox.messages and time.monotonic() < deadline:
                time.sleep(0.2)
            [(recipients, message)] = inbox.messages
            assert recipients == ["anna@example.test"]
            body = message.get_payload(decode=True).decode()
            link = next(line for line in body.splitlines() if "/download?token=" in line)
            with urllib.request.urlopen(link.strip(), timeout=60) as response:
                downloaded = response.read()
                disposition = response.headers["Content-Disposition"]
    finally:
        smtp.stop()
    assert downloaded == api_bytes(store)
    assert job.filename in disposition
    assert records.get_job(store, job_id).email_status == "sent"


def test_jobs_survive_a_restart(data_store):
    data, store = data_store
    env = {"ASSESS_DATA_DIR": str(data)}
    # Queued while no server runs: the SQLite job queue keeps it.
    queued = records.create_job(store, LOCAL_USER, OPTIONS)
    enqueue(queued, env)
    # Left "running" by a server that died mid-job: recovered at the next start.
    interrupted = records.create_job(store, LOCAL_USER, OPTIONS)
    assert records.claim_job(store, interrupted)
    with store.session() as session:
        session.get(ExportJob, interrupted).heartbeat_at = records.utcnow() - (
            records.STALE_AFTER * 2
        )
    with served_app(env):
        for job_id in (queued, interrupted):
            job = wait_for(store, job_id)
            assert job.status is JobStatus.done, job.error
    assert records.get_job(store, interrupted).attempts == 2
    path, _ = records.finished_job_file(store, queued, LOCAL_USER)
    assert path.read_bytes() == api_bytes(store)


def test_scale_mode_worker_on_redis_in_another_process(data_store):
    data, store = data_store
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("Redis at 127.0.0.1:6379 is not reachable")
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_JOBS_URL": url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "huey.bin.huey_consumer", "dashboard.jobs.tasks.huey", "-w", "1"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        job_id = records.create_job(store, LOCAL_USER, OPTIONS)
        enqueue(job_id, env)
        job = wait_for(store, job_id)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis.Redis.from_url(url).flushdb()
    assert job.status is JobStatus.done, job.error
    path, _ = records.finished_job_file(store, job_id, LOCAL_USER)
    assert path.read_bytes() == api_bytes(store)
