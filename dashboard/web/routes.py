"""HTTP routes for `panel serve --plugins dashboard.web.routes`: streaming downloads.

``GET /download?token=...`` streams an export (long/wide CSV, Parquet, Files ZIP) or a finished
Annotated Files ZIP in chunks, with a proper Content-Disposition. The export runs in a worker
thread that writes into a small bounded pipe, so a multi-GB download holds at most a few MB.
Links are verified first (dashboard.links): a forged, expired or foreign link gets 403.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from tornado.iostream import StreamClosedError
from tornado.web import HTTPError, RequestHandler

from dashboard.config import Settings
from dashboard.errors import AssessError, LinkError, NotAdminError
from dashboard.export import ExportQuery, content_type
from dashboard.faults import environment_failure
from dashboard.links import DOWNLOAD_PATH, LOCAL_USER, verify
from dashboard.runtime import app_store, is_admin
from dashboard.streams import CHUNK, ChunkPipe, DownloadCancelled, DownloadCapacity

STALL_SECONDS = 60  # a client that takes no bytes for this long gives its slot back
RETRY_AFTER = 10  # seconds a turned-away client is asked to wait
log = logging.getLogger(__name__)


_capacity: DownloadCapacity | None = None


def download_capacity(settings: Settings) -> DownloadCapacity:
    """This process's download capacity, made at the first download (not on import)."""
    global _capacity
    if _capacity is None:
        _capacity = DownloadCapacity(
            settings.download_slots, settings.download_queue, settings.download_wait
        )
    return _capacity


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
    _gone = False  # set when the client has closed the connection

    def prepare(self) -> None:
        """Take the token out of the request's URI: every log line Tornado writes for this
        request (access, warnings, uncaught errors) names the URI, and the token is a bearer
        credential until it expires. The parsed arguments keep it for ``get``."""
        self.request.uri = f"{self.request.path}?token=<redacted>"
        self.request.query = "token=<redacted>"
        try:
            self._token = self.get_argument("token", "")
        except HTTPError:  # not UTF-8: refused as malformed, and Tornado logs no value
            self._token = ""

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message + "\n")

    def _refuse_fault(self, line: str) -> None:
        """A download the environment (the database, a disk) failed before its first byte."""
        self._refuse(503, f"the export could not be made: {line}; try again shortly")

    async def get(self) -> None:
        settings = Settings.from_env()
        user = request_user(self)
        try:
            if not is_admin(user, settings):
                raise NotAdminError("only admins can download exports")
            grant = verify(settings.secret(), self._token, user or "")
            filename, produce = self._producer(grant.target, grant.user)
        except (LinkError, NotAdminError) as exc:
            self._refuse(403, str(exc))
            return
        except AssessError as exc:
            self._refuse(400, str(exc))
            return
        except Exception as exc:
            line = environment_failure(exc, db_url=settings.db_url)
            if line is None:
                raise
            log.error("download refused: %s", line)
            self._refuse_fault(line)
            return
        self._filename = filename
        self.set_header("Content-Type", content_type(filename))
        self.set_header("Content-Disposition", content_disposition(filename))
        self.set_header("Cache-Control", "no-store")
        await self._stream(produce)

    def _producer(self, target: dict, user: str) -> tuple[str, Callable[[BinaryIO], object]]:
        store = app_store()
        if target.get("kind") == "export":
            query = ExportQuery(store, **target["options"])
            if query.kind.in_background:
                raise LinkError("annotated files are downloaded from their finished job")
            return query.filename(), query.write
        if target.get("kind") == "job":
            from dashboard.jobs.records import finished_job_file

            archive, filename = finished_job_file(store, target["id"], user)

            def copy(out: BinaryIO) -> None:
                with archive.open() as source:
                    while chunk := source.read(CHUNK):
                        out.write(chunk)

            return filename, copy
        raise LinkError("this download link does not name anything to download")

    async def _stream(self, produce: Callable[[BinaryIO], object]) -> None:
        capacity = download_capacity(Settings.from_env())
        self._left = asyncio.Event()
        if self._gone:
            return
        if not await capacity.acquire(self._left):
            if self._gone:
                return
            self.set_header("Retry-After", str(RETRY_AFTER))
            self._refuse(503, "the server is busy with other downloads: try again shortly")
            return
        if self._gone:  # the client left while it waited: its slot goes to the next one
            capacity.release()
            return
        self._pipe = pipe = ChunkPipe(asyncio.get_running_loop())
        try:
            producer = capacity.start(produce, pipe)
            try:
                await self._send(pipe)
            finally:
                pipe.cancel()
                await producer
        finally:
            capacity.release()

    async def _send(self, pipe: ChunkPipe) -> None:
        sent = False
        try:
            while (chunk := await pipe.get()) is not None:
                self.write(chunk)
                await asyncio.wait_for(self.flush(), STALL_SECONDS)
                sent = True
        except (StreamClosedError, DownloadCancelled):
            return
        except TimeoutError:
            self.request.connection.close()  # stalled: the client stopped reading
            return
        except AssessError as exc:
            if sent:
                self.request.connection.close()
                raise
            self._refuse(400, str(exc))
            return
        except Exception as exc:
            settings = Settings.from_env()
            line = environment_failure(exc, db_url=settings.db_url, output=self._filename)
            if line is None:
                if sent:
                    self.request.connection.close()
                raise
            log.error("download of %s failed: %s", self._filename, line)
            if sent:  # closing without the final chunk: the client sees a failed transfer
                self.request.connection.close()
            else:
                self._refuse_fault(line)
            return
        self.finish()

    def on_connection_close(self) -> None:
        """The client went away: the producer stops at its next write, freeing its slot (and a
        download still waiting for a slot never takes one)."""
        self._gone = True
        left = getattr(self, "_left", None)
        if left is not None:
            left.set()  # a download waiting for a slot stops waiting
        pipe = getattr(self, "_pipe", None)
        if pipe is not None:
            pipe.cancel()


HELP_PATH = "/help/exports"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "exports.md"
HELP_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Export formats</title>
<link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;line-height:1.5;max-width:60em;margin:2em auto;
padding:0 1em}}code,pre{{background:#f4f6f8}}pre{{padding:.5em;overflow-x:auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #dde1e5;padding:.2em .5em}}</style>
</head><body>{body}</body></html>"""


class HelpHandler(RequestHandler):
    """The user reference (docs/exports.md) as a page: our own text, Markdown without HTML."""

    def get(self) -> None:
        from markdown_it import MarkdownIt

        renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(HELP_PAGE.format(body=renderer.render(DOCS.read_text(encoding="utf-8"))))


ROUTES = [(DOWNLOAD_PATH, DownloadHandler, {}), (HELP_PATH, HelpHandler, {})]
