"""The job engine for real: the served app's embedded workers, a restart, and scale mode with
a worker in a separate process on the local Redis."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest
import redis

from dashboard.config import Settings
from dashboard.export import ExportQuery
from dashboard.jobs import records
from dashboard.links import LOCAL_USER
from dashboard.store.db import open_store
from dashboard.store.models import ExportJob, JobStatus
from tests.hand_workflow import build_hand_workflow
from tests.helpers import ROOT, empty_redis_or_skip, free_port, served_app
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
    code = (
        "import sys; from dashboard.config import Settings; from dashboard.jobs.tasks import queue;"
        " queue(Settings.from_env()).run_export(sys.argv[1])"
    )
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
            timedelta(seconds=2 * Settings.from_env().job_stale_after)
        )
    with served_app(env):
        for job_id in (queued, interrupted):
            job = wait_for(store, job_id)
            assert job.status is JobStatus.done, job.error
    assert records.get_job(store, interrupted).attempts == 2
    archive, _ = records.finished_job_file(store, queued, LOCAL_USER)
    assert archive.read_bytes() == api_bytes(store)


def redis_url_or_skip() -> str:
    """A Redis database of its own for the job engine tests, emptied first."""
    return empty_redis_or_skip("redis://127.0.0.1:6379/15")


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """A scale-mode worker, as an operator starts one: ``huey_consumer`` in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "huey.bin.huey_consumer", "dashboard.jobs.tasks.huey", "-w", "1"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_scale_mode_worker_on_redis_in_another_process(data_store):
    data, store = data_store
    url = redis_url_or_skip()
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_JOBS_URL": url}
    worker = start_worker(env)
    try:
        job_id = records.create_job(store, LOCAL_USER, OPTIONS)
        enqueue(job_id, env)
        job = wait_for(store, job_id)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis.Redis.from_url(url).flushdb()
    assert job.status is JobStatus.done, job.error
    archive, _ = records.finished_job_file(store, job_id, LOCAL_USER)
    assert archive.read_bytes() == api_bytes(store)


def test_a_worker_killed_mid_job_leaves_no_file_and_a_new_worker_finishes_it(tmp_path):
    """SIGKILL the huey consumer while it draws an Annotated Files ZIP: nothing downloadable
    is left, no drawing process lives on, and the next worker runs the job to its end."""
    import signal
    import uuid

    from dashboard.errors import LinkError
    from dashboard.importers.demo import create_demo
    from tests.helpers import wait_until_no_marked_processes

    url = redis_url_or_skip()
    data = tmp_path / "data"
    store = open_store(Settings.from_env({"ASSESS_DATA_DIR": str(data)}))
    workflow = create_demo(store)
    options = {"workflow": workflow, "layout": "annotated", "order": "8492192", "scope": "all"}
    mark = uuid.uuid4().hex
    env = {
        "ASSESS_DATA_DIR": str(data),
        "ASSESS_JOBS_URL": url,
        "ASSESS_JOB_HEARTBEAT": "0.5",
        "ASSESS_TEST_MARK": mark,
    }
    job_id = records.create_job(store, LOCAL_USER, options)
    first = start_worker(env)
    try:
        enqueue(job_id, env)
        deadline = time.monotonic() + 60
        while records.get_job(store, job_id).status is JobStatus.queued:
            assert time.monotonic() < deadline, "the worker did not take the job"
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # frozen mid-job, then killed
        assert records.get_job(store, job_id).status is JobStatus.running
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        wait_until_no_marked_processes(mark)
        with pytest.raises(LinkError, match="not finished"):
            records.finished_job_file(store, job_id, LOCAL_USER)
        second = start_worker(env)
        try:
            job = wait_for(store, job_id)
        finally:
            second.terminate()
            second.wait(timeout=30)
    finally:
        first.kill()
        first.wait()
        redis.Redis.from_url(url).flushdb()
    assert job.status is JobStatus.done, job.error
    assert job.attempts == 2
    archive, _ = records.finished_job_file(store, job_id, LOCAL_USER)
    exports = store.settings.exports_dir
    assert sorted(p.name for p in exports.iterdir()) == [archive.key]  # no partial file
    expected = io.BytesIO()
    ExportQuery(store, **options).write_annotated_zip(expected, workers=1)
    assert archive.read_bytes() == expected.getvalue()
    wait_until_no_marked_processes(mark)
    store.dispose()
