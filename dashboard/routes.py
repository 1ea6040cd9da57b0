"""HTTP routes for `panel serve --plugins dashboard.routes`: streaming downloads.

``GET /download?token=...`` streams an export (long/wide CSV, Parquet, Files ZIP) or a finished
Annotated Files ZIP in chunks, with a proper Content-Disposition. The export runs in a worker
thread that writes into a small bounded pipe, so a multi-GB download holds at most a few MB.
Links are verified first (dashboard.links): a forged, expired or foreign link gets 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import quote

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from dashboard.config import Settings
from dashboard.errors import AssessError, LinkError, NotAdminError
from dashboard.links import DOWNLOAD_PATH, LOCAL_USER, verify
from dashboard.query.export import ExportQuery
from dashboard.query.options import Layout
from dashboard.runtime import app_store, is_admin

CHUNK = 1 << 20
PIPE_CHUNKS = 4  # at most this many chunks wait between the producer and the socket

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "zip": "application/zip",
}


class DownloadCancelled(Exception):
    """The client went away; the producer stops at its next write."""


class ChunkPipe(io.RawIOBase):
    """A write-only binary stream that hands ~1 MiB chunks to the request handler."""

    _END = object()

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue = queue.Queue(maxsize=PIPE_CHUNKS)
        self._buffer = bytearray()
        self.cancelled = threading.Event()

    def write(self, data) -> int:
        if self.cancelled.is_set():
            raise DownloadCancelled("the client closed the download")
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def writable(self) -> bool:
        return True

    def _put(self, item) -> None:
        while not self.cancelled.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise DownloadCancelled("the client closed the download")

    def finish(self, error: BaseException | None = None) -> None:
        if error is None and self._buffer:
            self._put(bytes(self._buffer))
        self._buffer.clear()
        self._put(error if error is not None else self._END)

    def get(self):
        """The next chunk, None at the end; re-raises the producer's error."""
        item = self._queue.get()
        if item is self._END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item


def request_user(handler: RequestHandler) -> str | None:
    """The logged-in user (Panel's auth cookie); the local user when no auth is configured."""
    if not handler.application.settings.get("cookie_secret"):
        return LOCAL_USER
    user = handler.get_secure_cookie("user", max_age_days=30)
    return user.decode("utf-8").strip('"') if user else None


def content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


class DownloadHandler(RequestHandler):
    def _request_summary(self) -> str:
        """What Tornado's access and error logs print for this request: never the token,
        which is a bearer credential until it expires."""
        request = self.request
        return f"{request.method} {request.path}?token=<redacted> ({request.remote_ip})"

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message + "\n")

    async def get(self) -> None:
        settings = Settings.from_env()
        user = request_user(self)
        try:
            if not is_admin(user, settings):
                raise NotAdminError("only admins can download exports")
            grant = verify(settings.secret(), self.get_argument("token", ""), user or "")
            filename, produce = self._producer(grant.target, grant.user)
        except (LinkError, NotAdminError) as exc:
            self._refuse(403, str(exc))
            return
        except AssessError as exc:
            self._refuse(400, str(exc))
            return
        suffix = filename.rsplit(".", 1)[-1]
        self.set_header("Content-Type", CONTENT_TYPES.get(suffix, "application/octet-stream"))
        self.set_header("Content-Disposition", content_disposition(filename))
        self.set_header("Cache-Control", "no-store")
        await self._stream(produce)

    def _producer(self, target: dict, user: str) -> tuple[str, Callable[[BinaryIO], object]]:
        store = app_store()
        if target.get("kind") == "export":
            query = ExportQuery(store, **target["options"])
            if Layout(query.layout) is Layout.annotated:
                raise LinkError("annotated files are downloaded from their finished job")
            return query.filename(), query.write
        if target.get("kind") == "job":
            from dashboard.jobs.records import finished_job_file

            path, filename = finished_job_file(store, target["id"], user)

            def copy(out: BinaryIO) -> None:
                with open(path, "rb") as source:
                    while chunk := source.read(CHUNK):
                        out.write(chunk)

            return filename, copy
        raise LinkError("this download link does not name anything to download")

    async def _stream(self, produce: Callable[[BinaryIO], object]) -> None:
        pipe = ChunkPipe()

        def run() -> None:
            error = None
            try:
                produce(pipe)
            except BaseException as exc:  # handed to the request handler, which fails loudly
                error = exc
            with contextlib.suppress(DownloadCancelled):
                pipe.finish(error)

        loop = asyncio.get_running_loop()
        producer = loop.run_in_executor(None, run)
        sent = False
        try:
            while (chunk := await asyncio.to_thread(pipe.get)) is not None:
                self.write(chunk)
                await self.flush()
                sent = True
        except StreamClosedError:
            pipe.cancelled.set()
        except AssessError as exc:
            pipe.cancelled.set()
            if sent:
                self.request.connection.close()
                raise
            self._refuse(400, str(exc))
            return
        except BaseException:
            # Headers are sent: closing without the final chunk makes the failure visible.
            pipe.cancelled.set()
            self.request.connection.close()
            raise
        finally:
            await producer
        self.finish()


ROUTES = [(DOWNLOAD_PATH, DownloadHandler, {})]


def _start_background_work() -> None:
    """At server start: open the store (demo if empty) and start the job workers."""
    from dashboard.jobs.tasks import start_background_work

    start_background_work(app_store())


_start_background_work()
