"""Huey tasks for background exports, and the embedded consumer of the served app.

Embedded default: a SQLite queue file in the data folder, worked by threads inside the
`panel serve` process. Scale mode: ``ASSESS_JOBS_URL=redis://...`` and workers on any machine
with the same ASSESS_* settings: ``huey_consumer dashboard.jobs.tasks.huey``.

Nothing is made on import: ``queue(settings)`` makes the Huey instance of those settings, with
the tasks registered on it, at its first use (the server's start-up, a request, a worker), and
``dashboard.jobs.tasks.huey``, the path ``huey_consumer`` is given, is the queue of the
environment's settings, made when the consumer asks for it.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.api import TaskWrapper
from huey.consumer import Consumer

from dashboard.config import Settings
from dashboard.errors import JobQueueError
from dashboard.export import ExportQuery
from dashboard.faults import environment_failure
from dashboard.jobs import delivery, records
from dashboard.links import DEFAULT_LIFETIME, download_url, sign
from dashboard.store.db import Store
from dashboard.store.models import JobStatus

log = logging.getLogger(__name__)
EMAIL_RETRIES = 5
EMAIL_RETRY_DELAY = 30  # seconds


def make_huey(settings: Settings) -> Huey:
    if settings.jobs_url and settings.jobs_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("assess-export", url=settings.jobs_url, utc=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("assess-export", filename=str(settings.data_dir / "jobs.sqlite3"), utc=True)


@dataclass(frozen=True)
class JobQueue:
    """A Huey instance with the export tasks registered on it: calling a task enqueues it."""

    huey: Huey
    run_export: TaskWrapper
    sweep_interrupted_jobs: TaskWrapper
    deliver_link: TaskWrapper


@functools.cache
def queue(settings: Settings) -> JobQueue:
    """The job queue of ``settings``, made at its first use and then the same in this process.

    The task names are the module's (``dashboard.jobs.tasks.run_export``, ...): what a queue
    holds is run by any worker of the same settings."""
    huey = make_huey(settings)
    jobs = JobQueue(
        huey=huey,
        run_export=huey.task(name="run_export")(_run_export),
        sweep_interrupted_jobs=huey.task(name="sweep_interrupted_jobs")(_sweep),
        deliver_link=huey.task(
            retries=EMAIL_RETRIES, retry_delay=EMAIL_RETRY_DELAY, context=True, name="deliver_link"
        )(_deliver_link),
    )
    # Each minute: a worker died while other workers live on.
    huey.periodic_task(crontab(), name="sweep_each_minute")(_sweep)
    huey.on_startup("recover_at_worker_start")(_recover_at_worker_start)
    return jobs


def __getattr__(name: str):
    """``dashboard.jobs.tasks.huey`` (``huey_consumer``'s import path): the environment's."""
    if name == "huey":
        return queue(Settings.from_env()).huey
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _store() -> Store:
    from dashboard.runtime import configured_store

    return configured_store()


DEFAULT_PUBLIC_URL = "http://localhost:5006"


def request_annotated_export(
    store: Store,
    query: ExportQuery,
    user: str,
    notify_email: str | None = None,
    page_url: str | None = None,
) -> str:
    """Create the job and enqueue it; returns at once with the job id. ``page_url``: the base
    URL the requester's page came from, the link's base unless ASSESS_PUBLIC_URL is set."""
    if not query.kind.in_background:
        raise ValueError(f"only Annotated Files run as background jobs, not {query.layout}")
    query.filters()  # bad options fail here, before any job exists
    job_id = records.create_job(store, user, query.options(), notify_email, page_url)
    try:
        queue(store.settings).run_export(job_id)
    except Exception as exc:  # whatever stopped it, no worker will ever see this job
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = f"the job queue did not take it ({first})"
        log.warning("export job %s: %s", job_id, reason, exc_info=True)  # the cause, in full
        records.fail_job(store, job_id, reason)
        raise JobQueueError(f"Not requested: {reason}. Try again once it answers.") from exc
    return job_id


class _Heartbeat:
    """Reports a running job alive every ``every`` seconds, however long one image takes to
    draw; a worker that is killed stops reporting, and a live worker runs the job again."""

    def __init__(self, store: Store, job_id: str, every: float) -> None:
        self._store, self._job_id, self._every = store, job_id, every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id[:8]}")

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            try:
                records.report_alive(self._store, self._job_id)
            except Exception as exc:  # the database is away: the job itself will say so
                line = environment_failure(exc, db_url=self._store.db_url) or repr(exc)
                log.warning("export job %s: heartbeat not recorded: %s", self._job_id, line)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stopped.set()
        self._thread.join()


def execute(store: Store, job_id: str, workers: int | None = None) -> bool:
    """Run one job to its end (claiming it first); True if this call ran it."""
    if not records.claim_job(store, job_id):
        return False
    job = records.get_job(store, job_id)
    settings = store.settings
    exports = settings.exports_dir
    exports.mkdir(parents=True, exist_ok=True)
    final = records.job_file(exports, job_id)
    for left in exports.glob(f"{final.name}.partial-*"):  # from a worker that was killed
        left.unlink(missing_ok=True)
    partial = final.with_name(f"{final.name}.partial-{os.getpid()}-{threading.get_ident()}")
    output = settings.exports_location  # what a failure of the environment names
    try:
        archives = records.job_archives(settings)
        archives.check_writable()  # before the drawing, not after it
        output = str(exports)
        query = ExportQuery(store, **job.options)

        def progress(done: int, total: int) -> None:
            records.report_progress(store, job_id, done, total)

        skipped: list[str] = []
        with _Heartbeat(store, job_id, settings.job_heartbeat):
            query.write_annotated_zip(
                partial,
                progress=progress,
                workers=workers,
                skipped=lambda entry: skipped.append(entry["original_name"]),
            )
        size = partial.stat().st_size
        output = settings.exports_location
        archives.put_file(records.archive_key(job_id), partial)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        line = environment_failure(exc, db_url=store.db_url, output=output)
        records.fail_job(store, job_id, line or f"{type(exc).__name__}: {exc}")
        if line is None:
            log.exception("export job %s failed", job_id)
        else:
            log.error("export job %s failed: %s", job_id, line)
        return True
    expires = datetime.now(UTC) + timedelta(seconds=DEFAULT_LIFETIME)
    token = sign(settings.secret(), job.requested_by, {"kind": "job", "id": job_id})
    link = download_url(settings.public_url or job.page_url or DEFAULT_PUBLIC_URL, token)
    mail = "pending" if settings.smtp and job.notify_email else "not configured"
    records.finish_job(
        store,
        job_id,
        query.filename(),
        size,
        link,
        expires.replace(tzinfo=None, microsecond=0),
        mail,
        skipped,
    )
    if mail == "pending":
        queue(settings).deliver_link(job_id)
    return True


def _run_export(job_id: str) -> None:
    """The ``run_export`` task."""
    execute(_store(), job_id)


def recover_interrupted_jobs(store: Store, queued: bool = True) -> list[str]:
    """Enqueue again the jobs whose worker died (and, at a start, the ones still queued)."""
    job_ids = records.interrupted_jobs(store, queued=queued)
    jobs = queue(store.settings)
    for job_id in job_ids:
        job = records.get_job(store, job_id)
        if job is not None and job.status is JobStatus.running:
            log.warning(
                "export job %s lost its worker (no report for %.0f s): run again",
                job_id,
                store.settings.job_stale_after,
            )
        else:  # a claim is atomic: should the queue still hold it, it runs once all the same
            log.info("export job %s was waiting at start-up: enqueued again", job_id)
        jobs.run_export(job_id)
    return job_ids


def _sweep(queued: bool = False) -> None:
    """The ``sweep_interrupted_jobs`` and ``sweep_each_minute`` tasks:
    ``recover_interrupted_jobs``, where a database that is away is one warning: the next sweep
    (each minute) tries again."""
    store = _store()
    try:
        recover_interrupted_jobs(store, queued=queued)
    except Exception as exc:
        line = environment_failure(exc, db_url=store.db_url)
        if line is None:
            raise
        log.warning("looking for interrupted export jobs failed: %s", line)


def _recover_at_worker_start() -> None:
    """A worker starting (the server's embedded one, or ``huey_consumer``) takes this process's
    export settings (``tune_process``: a ``huey_consumer`` has no other start-up of ours), then
    runs the jobs that a dead worker left, now and again once a just-killed worker's heartbeat
    has gone stale."""
    from dashboard.runtime import tune_process

    tune_process()
    _sweep(queued=True)
    settings = _store().settings
    queue(settings).sweep_interrupted_jobs.schedule(
        delay=settings.job_stale_after + settings.job_heartbeat
    )


def _deliver_link(job_id: str, task=None) -> None:
    """The ``deliver_link`` task: email the link; on failure the attempt is recorded and Huey
    retries."""
    store = _store()
    settings = store.settings
    job = records.get_job(store, job_id)
    message = delivery.link_email(
        settings.smtp.sender, job.notify_email, job.filename, job.link, job.link_expires_at
    )
    try:
        delivery.send(settings.smtp, message)
    except Exception as exc:
        last = task is None or task.retries == 0
        status = "failed" if last else "retrying"
        records.record_email(store, job_id, status, f"{type(exc).__name__}: {exc}")
        raise
    records.record_email(store, job_id, "sent")


# Signals Huey's consumer takes over in ``Consumer.start`` (its ``run`` loop acts on them).
_CONSUMER_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _start_embedded(consumer: Consumer) -> None:
    """Start ``consumer``'s threads and leave the process's signal handlers as they were.

    ``Consumer.start`` ends by installing handlers for SIGINT, SIGTERM and SIGHUP that only its
    own ``run`` loop reads; embedded in the Panel server, which never calls ``run``, they would
    swallow the server's Ctrl-C and stop. Huey has no option to leave them out (its start-up
    hooks and signals are about tasks, not the process), so the handlers the server had are
    put back with the standard ``signal`` module instead of overriding a private method of
    Huey's. ``signal`` only works in the main thread: the server's start-up runs there."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("the embedded job workers start from the main thread")
    before = {signum: signal.getsignal(signum) for signum in _CONSUMER_SIGNALS}
    consumer.start()
    for signum, handler in before.items():
        # None: a handler not set from Python, which cannot be put back; the default instead.
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


_consumer: Consumer | None = None
_consumer_lock = threading.Lock()


def start_background_work(store: Store, workers: int = 1) -> Consumer | None:
    """In embedded mode, start worker threads in this process (which recover the jobs a
    restart interrupted as they start); in scale mode, where workers run elsewhere with
    huey_consumer, enqueue those jobs again. Idempotent in embedded mode. Called by the
    server's start-up (``dashboard.web.server.start_up``), never on import."""
    global _consumer
    with _consumer_lock:
        if _consumer is None:
            jobs = queue(store.settings)
            if isinstance(jobs.huey, RedisHuey):  # workers run elsewhere (and recover at start)
                recover_interrupted_jobs(store)
                return None
            _consumer = jobs.huey.create_consumer(
                workers=workers, worker_type="thread", periodic=True, initial_delay=0.2,
                max_delay=1.0, check_worker_health=False,
            )  # fmt: skip
            _start_embedded(_consumer)
        return _consumer
