"""Export job rows: the persisted state the dashboard shows and the workers update."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import or_, select, update

from dashboard.config import Settings
from dashboard.errors import LinkError
from dashboard.store.db import Store
from dashboard.store.files import FileStorage
from dashboard.store.models import ExportJob, JobStatus

# A job whose worker died (killed, out of memory) this many times is failed, not run again.
MAX_ATTEMPTS = 3
WORKER_LOST = (
    f"the worker drawing this export stopped {MAX_ATTEMPTS} times without finishing (killed, "
    "or out of memory): ask for fewer files, or ask an operator to look at the workers"
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _abandoned(store: Store):
    """A running job whose worker has not reported for three heartbeats: its worker is dead."""
    settings = store.settings
    silent_since = utcnow() - timedelta(seconds=settings.job_stale_after)
    return (ExportJob.status == JobStatus.running) & (ExportJob.heartbeat_at < silent_since)


def create_job(
    store: Store,
    requested_by: str,
    options: dict,
    notify_email: str | None = None,
    page_url: str | None = None,
) -> str:
    job_id = uuid.uuid4().hex
    with store.session() as session:
        session.add(
            ExportJob(
                id=job_id,
                requested_by=requested_by,
                notify_email=notify_email or None,
                workflow=str(options["workflow"]),
                options=options,
                page_url=page_url,
                status=JobStatus.queued,
                done=0,
                total=0,
                attempts=0,
                email_status="none",
                email_attempts=0,
                created_at=utcnow(),
            )
        )
    return job_id


def get_job(store: Store, job_id: str) -> ExportJob | None:
    with store.session() as session:
        return session.get(ExportJob, job_id)


def list_jobs(store: Store, user: str, limit: int = 20) -> list[ExportJob]:
    """The user's most recent jobs, newest first."""
    with store.session() as session:
        return list(
            session.scalars(
                select(ExportJob)
                .where(ExportJob.requested_by == user)
                .order_by(ExportJob.created_at.desc(), ExportJob.id)
                .limit(limit)
            )
        )


def claim_job(store: Store, job_id: str) -> bool:
    """Mark a job running for this worker; False when another live worker has it or it ended.

    A queued job, or a running one whose worker stopped reporting (killed, a restart), can be
    claimed; so a job re-enqueued after a restart runs exactly once more. A job whose workers
    died ``MAX_ATTEMPTS`` times is marked failed instead.
    """
    now = utcnow()
    abandoned = _abandoned(store)
    with store.session() as session:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, abandoned, ExportJob.attempts >= MAX_ATTEMPTS)
            .values(status=JobStatus.failed, error=WORKER_LOST, finished_at=now)
        )
        claimed = session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, or_(ExportJob.status == JobStatus.queued, abandoned))
            .values(
                status=JobStatus.running,
                started_at=now,
                heartbeat_at=now,
                attempts=ExportJob.attempts + 1,
                done=0,
                error=None,
            )
        ).rowcount
    return claimed == 1


def report_alive(store: Store, job_id: str) -> None:
    """The running job's heartbeat (sent every ``job_heartbeat`` seconds while it runs)."""
    with store.session() as session:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.status == JobStatus.running)
            .values(heartbeat_at=utcnow())
        )


def report_progress(store: Store, job_id: str, done: int, total: int) -> None:
    with store.session() as session:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id)
            .values(done=done, total=total, heartbeat_at=utcnow())
        )


def finish_job(
    store: Store,
    job_id: str,
    filename: str,
    byte_size: int,
    link: str,
    link_expires_at: datetime,
    email_status: str,
    skipped: list[str] | None = None,
) -> None:
    with store.session() as session:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id)
            .values(
                status=JobStatus.done,
                filename=filename,
                byte_size=byte_size,
                link=link,
                link_expires_at=link_expires_at,
                email_status=email_status,
                skipped=skipped or None,
                finished_at=utcnow(),
                heartbeat_at=utcnow(),
            )
        )


def fail_job(store: Store, job_id: str, error: str) -> None:
    with store.session() as session:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id)
            .values(status=JobStatus.failed, error=error, finished_at=utcnow())
        )


def record_email(store: Store, job_id: str, status: str, error: str | None = None) -> None:
    with store.session() as session:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id)
            .values(
                email_status=status,
                email_error=error,
                email_attempts=ExportJob.email_attempts + 1,
            )
        )


def interrupted_jobs(store: Store, queued: bool = True) -> list[str]:
    """Jobs running with no live worker and (``queued``) jobs still waiting: at a start both
    are enqueued again, since a restart may have lost the queue's message."""
    waiting = ExportJob.status == JobStatus.queued
    with store.session() as session:
        return list(
            session.scalars(
                select(ExportJob.id).where(
                    or_(waiting, _abandoned(store)) if queued else _abandoned(store)
                )
            )
        )


def archive_key(job_id: str) -> str:
    """A finished archive's name where archives are kept (``Settings.exports_location``)."""
    return f"{job_id}.zip"


def job_file(exports_dir: Path, job_id: str) -> Path:
    """Where a job draws its archive (``Settings.exports_dir``)."""
    return exports_dir / archive_key(job_id)


def job_archives(settings: Settings) -> FileStorage:
    """Where finished archives are kept: a local folder, or a store every server reaches."""
    return FileStorage(settings.exports_location)


@dataclass(frozen=True)
class JobArchive:
    """A finished archive where it is kept."""

    storage: FileStorage
    key: str

    def open(self) -> IO[bytes]:
        return self.storage.open(self.key)

    def read_bytes(self) -> bytes:
        return self.storage.read(self.key)


def finished_job_file(store: Store, job_id: str, user: str) -> tuple[JobArchive, str]:
    """The finished archive of a job and its download name; LinkError if not downloadable."""
    job = get_job(store, job_id)
    if job is None or job.requested_by != user:
        raise LinkError("this download link names no job of yours")
    if job.status is not JobStatus.done or not job.filename:
        raise LinkError(f"this job is not finished (status: {job.status})")
    archives = job_archives(store.settings)
    if not archives.exists(archive_key(job_id)):
        raise LinkError("the archive of this job is no longer kept on the server")
    return JobArchive(archives, archive_key(job_id)), job.filename
