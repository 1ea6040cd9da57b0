"""Background jobs in-process: the job runs, its state is persisted, the email arrives with
a link for the requester, a failing SMTP server is recorded and visible."""

from __future__ import annotations

import dataclasses
import io
import logging
from datetime import timedelta
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlparse

import pytest
from aiosmtpd.controller import Controller

from dashboard.config import Settings, SmtpSettings
from dashboard.errors import JobQueueError, LinkError
from dashboard.export import ExportQuery
from dashboard.jobs import records, tasks
from dashboard.links import verify
from dashboard.runtime import use_store
from dashboard.store.models import ExportJob, JobStatus
from tests.helpers import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def job_store(hand_store, tmp_path):
    hand_store.settings = dataclasses.replace(
        hand_store.settings, data_dir=tmp_path / "data", public_url="http://example.test:5006"
    )
    use_store(hand_store)
    yield hand_store
    use_store(None)


def request(store, scope="all") -> str:
    query = ExportQuery(store, workflow="harbour", layout="annotated", order="8492192", scope=scope)
    return tasks.request_annotated_export(store, query, "anna", "anna@example.test")


def test_a_request_the_job_queue_refuses_is_told_and_recorded_failed(job_store, caplog):
    """A Redis that does not answer: the request says so (an AssessError the page shows) and
    the job is failed with the reason, not left queued where no worker will ever see it."""
    job_store.settings = dataclasses.replace(
        job_store.settings, jobs_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    with pytest.raises(JobQueueError, match=r"^Not requested: the job queue did not take it \("):
        request(job_store)
    (job,) = records.list_jobs(job_store, "anna")
    assert job.status is JobStatus.failed
    assert job.error.startswith("the job queue did not take it (")
    assert f"export job {job.id}: the job queue did not take it" in caplog.text  # and why
    assert "Traceback" in caplog.text


def test_job_runs_and_emails_a_link_for_the_requester(job_store, smtp_server):
    controller, inbox = smtp_server
    job_store.settings = dataclasses.replace(
        job_store.settings,
        smtp=SmtpSettings(host="127.0.0.1", port=controller.port, sender="export@example.test"),
    )
    job_id = request(job_store)
    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.queued  # the request returned before any work
    assert tasks.execute(job_store, job_id, workers=1)
    tasks.queue(job_store.settings).deliver_link.call_local(job_id)

    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.done
    assert (job.done, job.total, job.attempts) == (3, 3, 1)
    assert job.filename.startswith("harbour_annotated_") and job.filename.endswith(".zip")
    assert job.email_status == "sent"

    [(recipients, message)] = inbox.messages
    assert recipients == ["anna@example.test"]
    assert message["Subject"] == f"Your export is ready: {job.filename}"
    assert job.link in message.get_content()
    assert job.link.startswith("http://example.test:5006/download?token=")
    token = parse_qs(urlparse(job.link).query)["token"][0]
    grant = verify(job_store.settings.secret(), token, "anna")
    assert grant.target == {"kind": "job", "id": job_id}

    archive, filename = records.finished_job_file(job_store, job_id, "anna")
    expected = io.BytesIO()
    ExportQuery(job_store, **job.options).write_annotated_zip(expected, workers=1)
    assert archive.read_bytes() == expected.getvalue()
    assert filename == job.filename


def test_a_claimed_job_is_not_run_twice(job_store):
    job_id = request(job_store, scope="latest")
    assert tasks.execute(job_store, job_id, workers=1)
    assert not tasks.execute(job_store, job_id, workers=1)  # done: nothing to claim
    assert records.get_job(job_store, job_id).attempts == 1


def test_without_smtp_the_link_is_recorded_for_the_dashboard(job_store):
    job_id = request(job_store)
    tasks.execute(job_store, job_id, workers=1)
    job = records.get_job(job_store, job_id)
    assert job.email_status == "not configured"
    assert job.link and [j.id for j in records.list_jobs(job_store, "anna")] == [job_id]
    assert records.list_jobs(job_store, "someone-else") == []


def test_a_failing_smtp_server_is_recorded_and_the_export_kept(job_store):
    job_store.settings = dataclasses.replace(
        job_store.settings, smtp=SmtpSettings(host="127.0.0.1", port=free_port())
    )
    job_id = request(job_store)
    tasks.execute(job_store, job_id, workers=1)
    assert records.get_job(job_store, job_id).email_status == "pending"
    with pytest.raises(OSError):
        tasks.queue(job_store.settings).deliver_link.call_local(job_id)
    job = records.get_job(job_store, job_id)
    assert job.email_status == "failed"
    assert "ConnectionRefusedError" in job.email_error
    assert job.status is JobStatus.done and records.finished_job_file(job_store, job_id, "anna")


def test_a_job_that_fails_says_why(job_store):
    job_id = request(job_store)
    with job_store.session() as session:
        job = session.get(ExportJob, job_id)
        job.options = {**job.options, "order": "gone"}
    tasks.execute(job_store, job_id, workers=1)
    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.failed
    assert "UnknownChoiceError" in job.error and "valid orders: 8492192" in job.error
    assert not list((job_store.settings.data_dir / "exports").glob(f"{job_id}*"))


def test_stale_running_jobs_are_found_for_recovery(job_store):
    fresh = request(job_store)
    assert records.claim_job(job_store, fresh)
    stale = request(job_store)
    assert records.claim_job(job_store, stale)
    with job_store.session() as session:
        session.get(ExportJob, stale).heartbeat_at = records.utcnow() - (
            timedelta(seconds=2 * Settings.from_env().job_stale_after)
        )
    queued = request(job_store)
    assert set(records.interrupted_jobs(job_store)) == {stale, queued}
    assert records.claim_job(job_store, stale)  # a dead worker's job can be taken over
    assert not records.claim_job(job_store, fresh)  # a live worker's job cannot


@pytest.mark.parametrize(
    ("public_url", "page_url", "base"),
    [
        (None, "http://dash.example:8123", "http://dash.example:8123"),  # where it was opened
        ("https://export.example.org", "http://dash.example:8123", "https://export.example.org"),
        (None, None, "http://localhost:5006"),  # a job requested through the API
    ],
)
def test_a_job_link_starts_where_the_dashboard_was_opened_unless_public_url_says(
    job_store, public_url, page_url, base
):
    job_store.settings = dataclasses.replace(job_store.settings, public_url=public_url)
    query = ExportQuery(job_store, workflow="harbour", layout="annotated", order="8492192")
    job_id = tasks.request_annotated_export(job_store, query, "anna", None, page_url)
    assert tasks.execute(job_store, job_id, workers=1)
    assert records.get_job(job_store, job_id).link.startswith(f"{base}/download?token=")


def test_a_file_the_job_cannot_draw_is_recorded_with_the_job_and_shown_by_it(job_store):
    from sqlalchemy import select

    from dashboard.store.models import DataFile
    from dashboard.web.ui.admin import skipped_note

    with job_store.session() as session:
        key = session.scalar(select(DataFile.storage_key).where(DataFile.file_name == "second.PNG"))
    job_store.files.put(key, b"not an image at all")
    job_id = request(job_store, scope="latest")
    assert tasks.execute(job_store, job_id, workers=1)
    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.done
    assert job.skipped == ["second.PNG"]
    assert skipped_note(job.skipped) == (
        '<br><span class="job-skipped">1 file(s) could not be drawn and are not in the ZIP '
        "(manifest.json lists them): second.PNG</span>"
    )
    assert "&lt;b&gt;" in skipped_note(["<b>x</b>.jpg"])  # names from data stay text


def test_a_job_whose_worker_died_three_times_is_failed_with_the_cause(job_store):
    job_id = request(job_store)
    silent = timedelta(seconds=2 * Settings.from_env().job_stale_after)
    for attempt in range(1, records.MAX_ATTEMPTS + 1):
        assert records.claim_job(job_store, job_id)  # each worker dies while drawing
        assert records.get_job(job_store, job_id).attempts == attempt
        with job_store.session() as session:
            session.get(ExportJob, job_id).heartbeat_at = records.utcnow() - silent
    assert records.interrupted_jobs(job_store, queued=False) == [job_id]
    assert not records.claim_job(job_store, job_id)
    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.failed and job.error == records.WORKER_LOST
    assert records.interrupted_jobs(job_store) == []


def test_a_full_disk_fails_the_job_with_its_cause_and_leaves_no_file(job_store, full_disk):
    exports = job_store.settings.exports_dir
    exports.parent.mkdir(parents=True, exist_ok=True)
    exports.symlink_to(full_disk)  # the folder of finished archives is on a full disk
    query = ExportQuery(job_store, workflow="harbour", layout="annotated", order="8492192")
    job_id = records.create_job(job_store, "anna", query.options())
    tasks.execute(job_store, job_id, workers=1)
    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.failed
    assert job.error == f"writing {exports} failed: No space left on device"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_recovery_tells_a_job_that_lost_its_worker_from_one_that_was_only_waiting(
    job_store, caplog
):
    stale = request(job_store)
    assert records.claim_job(job_store, stale)
    with job_store.session() as session:
        session.get(ExportJob, stale).heartbeat_at = records.utcnow() - (
            timedelta(seconds=2 * job_store.settings.job_stale_after)
        )
    waiting = request(job_store)
    with caplog.at_level(logging.INFO, logger=tasks.__name__):
        assert set(tasks.recover_interrupted_jobs(job_store)) == {stale, waiting}
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == tasks.__name__]
    silent = f"{job_store.settings.job_stale_after:.0f}"
    assert (logging.WARNING, f"export job {stale} lost its worker (no report for {silent} s): "
            "run again") in said  # fmt: skip
    assert (logging.INFO, f"export job {waiting} was waiting at start-up: enqueued again") in said
    assert not any(waiting in message for level, message in said if level >= logging.WARNING)


def test_archives_kept_elsewhere_are_drawn_locally_then_kept_there_and_served_from_there(
    job_store, tmp_path
):
    kept = tmp_path / "shared-exports"  # ASSESS_EXPORTS_URL: another folder, or s3://...
    job_store.settings = dataclasses.replace(job_store.settings, exports_url=str(kept))
    query = ExportQuery(job_store, workflow="harbour", layout="annotated", order="8492192")
    job_id = records.create_job(job_store, "anna", query.options())
    assert tasks.execute(job_store, job_id, workers=1)
    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.done, job.error
    assert sorted(p.name for p in kept.iterdir()) == [f"{job_id}.zip"]
    assert list(job_store.settings.exports_dir.iterdir()) == []  # drawn there, kept elsewhere
    archive, _ = records.finished_job_file(job_store, job_id, "anna")
    expected = io.BytesIO()
    ExportQuery(job_store, **job.options).write_annotated_zip(expected, workers=1)
    assert archive.read_bytes() == expected.getvalue() == (kept / f"{job_id}.zip").read_bytes()
    assert job.byte_size == len(expected.getvalue())


def test_an_archive_no_longer_kept_is_refused_with_a_clear_error(job_store, tmp_path):
    query = ExportQuery(job_store, workflow="harbour", layout="annotated", order="8492192")
    job_id = records.create_job(job_store, "anna", query.options())
    assert tasks.execute(job_store, job_id, workers=1)
    (job_store.settings.exports_dir / f"{job_id}.zip").unlink()
    with pytest.raises(LinkError, match="no longer kept on the server"):
        records.finished_job_file(job_store, job_id, "anna")


def test_a_job_whose_archives_cannot_be_kept_fails_before_drawing_anything(job_store, monkeypatch):
    """ASSESS_EXPORTS_URL where nothing can be written: the job fails at once with where and
    why, without drawing the archive first (it would be thrown away)."""
    unreachable = "/proc/no-such-place/exports"
    job_store.settings = dataclasses.replace(job_store.settings, exports_url=unreachable)
    query = ExportQuery(job_store, workflow="harbour", layout="annotated", order="8492192")
    job_id = records.create_job(job_store, "anna", query.options())

    def drawn(*_args, **_kwargs):
        raise AssertionError("the archive was drawn")

    monkeypatch.setattr(ExportQuery, "write_annotated_zip", drawn)
    assert tasks.execute(job_store, job_id, workers=1)
    job = records.get_job(job_store, job_id)
    assert job.status is JobStatus.failed
    assert job.error.startswith(f"writing {unreachable}"), job.error
    assert job.error.endswith("failed: No such file or directory"), job.error
    assert list(job_store.settings.exports_dir.glob("*.partial-*")) == []
