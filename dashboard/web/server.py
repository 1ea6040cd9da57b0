"""Serving the dashboard to a team: ``assess-export serve`` is ``panel serve`` made safe.

    assess-export serve [PANEL SERVE OPTIONS]       (make serve runs it)

It serves ``dashboard/app.py`` with the download route, and by default:

- listens on 127.0.0.1 only and accepts websockets only from its own origin
  (``127.0.0.1:PORT`` and ``localhost:PORT``); ``--address`` and ``--allow-websocket-origin``
  widen that for a deployment (README, "Security");
- sends anti-framing and no-sniff headers with every response (``SecurityHeaders``);
- gives every cookie the login sets ``SameSite=Lax`` (and ``Secure`` over HTTPS), and
  refuses forms posted from other sites (Tornado's ``cross_origin_protection``);
- slows repeated wrong passwords down: after a few failures a user name or a client address
  must wait before the next try, the wait doubling up to a few minutes (``LoginAttempts``);
- under auth, serves the product's own sign-in and sign-out pages (nothing from other hosts);
- runs every session's callbacks on a pool of ``--num-threads`` threads (4 unless given;
  ``--no-threads`` runs them on the event loop as plain ``panel serve`` does), so one
  user's query or drawing never holds up the event loop: other sessions, static files and
  downloads are served meanwhile (``DEFAULT_THREADS``);
- starts the background job workers and applies the process's export settings once the
  server starts (``start_up``; nothing starts on import).

Everything else is Panel's own: any ``panel serve`` option can be given (``--basic-auth``,
``--oauth-provider``, ``--cookie-secret``, ``--port``, ...).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bokeh.server.auth_provider import AuthProvider
from panel.auth import BasicLoginHandler
from panel.command.serve import Serve as PanelServe
from tornado.escape import url_escape
from tornado.web import GZipContentEncoding, OutputTransform, RequestHandler

APP = Path(__file__).parents[1] / "app.py"  # the served script (it makes web.app's page)
TEMPLATES = Path(__file__).parents[1] / "templates"
FRAME_POLICY = "frame-ancestors 'self'"
# Session callbacks (option changes, page builds, periodic refreshes) run on this many
# threads. They share the GIL, so more threads do not add CPU; they keep the event loop
# free while a callback waits on the database, an image decode or Arrow, which release it.
# The store is safe to share: one SQLAlchemy engine (a pool of connections, each used by one
# thread at a time), a session per call, and caches guarded by locks.
DEFAULT_THREADS = 4
COOKIE_SAMESITE = "Lax"


class SecurityHeaders(OutputTransform):
    """Headers on every response: the pages may not be framed by other sites, nor their
    content types second-guessed by the browser."""

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Content-Security-Policy", FRAME_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        return status_code, headers, chunk


class LoginAttempts:
    """Failed sign-ins per key (a user name, or a client address); after ``free`` failures
    each further one locks that key for ``base * 2**n`` seconds, at most ``longest``. A
    success forgets the key."""

    def __init__(self, free: int, base: float = 2.0, longest: float = 300.0) -> None:
        self.free, self.base, self.longest = free, base, longest
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, locked until)
        self._lock = threading.Lock()

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(0.0, self._failures.get(key, (0, 0.0))[1] - now)

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            count = self._failures.get(key, (0, 0.0))[0] + 1
            excess = count - self.free
            locked = min(self.base * 2 ** (excess - 1), self.longest) if excess > 0 else 0.0
            self._failures[key] = (count, now + locked)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


# A user name locks after 3 failures; an address (many users behind one proxy) after 20.
USER_ATTEMPTS = LoginAttempts(free=3)
ADDRESS_ATTEMPTS = LoginAttempts(free=20)


class SameSiteCookies(RequestHandler):
    """Cookies this handler sets are SameSite=Lax unless it says otherwise, and Secure when
    the page came over HTTPS."""

    def set_cookie(self, name, value, *args, **kwargs) -> None:
        kwargs["samesite"] = kwargs.get("samesite") or COOKIE_SAMESITE
        kwargs["secure"] = kwargs.get("secure") or self.request.protocol == "https"
        super().set_cookie(name, value, *args, **kwargs)


class GuardedLogin(SameSiteCookies, BasicLoginHandler):
    """Panel's basic-auth login, refusing tries while a user name or address is locked."""

    def post(self) -> None:
        user, address = self.get_argument("username", ""), self.request.remote_ip
        wait = max(USER_ATTEMPTS.wait(user), ADDRESS_ATTEMPTS.wait(address))
        if wait > 0:  # the password is not even checked
            message = f"Too many failed sign-ins: try again in {int(wait) + 1} seconds."
            self.redirect(f"{self.request.path}?error={url_escape(message)}")
            return
        self._signed_in = False
        super().post()
        if self._signed_in:
            USER_ATTEMPTS.succeeded(user)
            ADDRESS_ATTEMPTS.succeeded(address)
        else:
            USER_ATTEMPTS.failed(user)
            ADDRESS_ATTEMPTS.failed(address)

    def set_current_user(self, user) -> None:
        super().set_current_user(user)
        self._signed_in = bool(user)


class GuardedAuth(AuthProvider):
    """Panel's auth provider as configured, with SameSite cookies and a guarded login."""

    def __init__(self, inner: AuthProvider) -> None:
        self._inner = inner
        super().__init__()

    @property
    def get_user(self):
        return self._inner.get_user

    @property
    def get_user_async(self):
        return self._inner.get_user_async

    @property
    def login_url(self):
        return self._inner.login_url

    @property
    def get_login_url(self):
        return self._inner.get_login_url

    @property
    def login_handler(self):
        handler = self._inner.login_handler
        if handler is None:
            return None
        if issubclass(handler, BasicLoginHandler):
            return _guarded(handler, GuardedLogin)
        return _guarded(handler, SameSiteCookies)

    @property
    def logout_url(self):
        return self._inner.logout_url

    @property
    def logout_handler(self):
        handler = self._inner.logout_handler
        return None if handler is None else _guarded(handler, SameSiteCookies)


def _guarded(handler: type[RequestHandler], guard: type[RequestHandler]) -> type:
    """``handler`` with ``guard``'s methods first; keeps the handler's own settings (the
    login template and endpoint Panel set on it)."""
    if issubclass(handler, guard):
        return handler
    if guard is GuardedLogin:
        return type(f"Guarded{handler.__name__}", (GuardedLogin, handler), {})
    return type(f"SameSite{handler.__name__}", (SameSiteCookies, handler), {})


class Serve(PanelServe):
    """Panel's serve command with this product's transforms, auth guards and start-up."""

    def customize_kwargs(self, args, server_kwargs):
        kwargs = super().customize_kwargs(args, server_kwargs)
        # Tornado's gzip transform is only there when asked for; passing transforms replaces
        # the default list, so it is kept explicitly.
        gzip = [GZipContentEncoding] if kwargs.get("compress_response") else []
        kwargs["transforms"] = [*gzip, SecurityHeaders]
        # A form posted from another site (the login) is refused (Tornado's CSRF guard).
        kwargs.setdefault("cross_origin_protection", True)
        if kwargs.get("auth_provider") is not None:
            kwargs["auth_provider"] = GuardedAuth(kwargs["auth_provider"])
        return kwargs

    def invoke(self, args):
        start_up()
        return super().invoke(args)


def start_up() -> None:
    """What a serving process does once, in its main thread, before it serves: the
    process-wide export settings (``dashboard.runtime.tune_process``), the store opened (and
    the demo workflow in an empty one), and the background job workers started."""
    from dashboard.jobs.tasks import start_background_work
    from dashboard.runtime import app_store, tune_process

    tune_process()
    start_background_work(app_store())


def session_threads(given: int | None, off: bool, environ) -> int | None:
    """Panel's ``--num-threads`` as this server uses it: as given; none with ``--no-threads``;
    left to Panel when PANEL_NUM_THREADS is set (Panel refuses both); else the default."""
    if off:
        if given is not None:
            raise SystemExit(
                "assess-export serve: --no-threads and --num-threads exclude each other"
            )
        return None
    if given is not None or "PANEL_NUM_THREADS" in environ:
        return given
    return DEFAULT_THREADS


def own_origins(port: int) -> list[str]:
    return [f"127.0.0.1:{port}", f"localhost:{port}"]


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(
        prog="assess-export serve",
        description="Serve the dashboard (panel serve with safe defaults; any of its options).",
    )
    command = Serve(parser)
    parser.add_argument(
        "--no-threads",
        action="store_true",
        help="run session callbacks on the event loop (default: a pool of "
        f"--num-threads, {DEFAULT_THREADS} unless given)",
    )
    args = parser.parse_args(
        [str(APP), "--plugins", "dashboard.web.routes", "--index", "app", *argv]
    )
    args.address = args.address or "127.0.0.1"
    args.num_threads = session_threads(args.num_threads, args.no_threads, os.environ)
    if args.basic_auth or args.oauth_provider:  # our own pages: nothing from other hosts
        args.basic_login_template = args.basic_login_template or str(TEMPLATES / "login.html")
        args.logout_template = args.logout_template or str(TEMPLATES / "logout.html")
    if not args.allow_websocket_origin:
        args.allow_websocket_origin = own_origins(args.port)
    return command.invoke(args) or 0
