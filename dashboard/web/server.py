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
  must wait before the next try, the wait doubling up to a few minutes (``LoginAttempts``;
  counted in Redis, across every server, when the job queue is there);
- under auth, serves the product's own sign-in and sign-out pages (nothing from other hosts);
- runs every session's callbacks on a pool of ``--num-threads`` threads (4 unless given;
  ``--no-threads`` runs them on the event loop as plain ``panel serve`` does), so one
  user's query or drawing never holds up the event loop: other sessions, static files and
  downloads are served meanwhile (``DEFAULT_THREADS``);
- with ``--watch-loop MS``, logs every time the event loop was held longer than MS
  milliseconds, and where (``dashboard.web.loop_watch``);
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
from collections.abc import Callable, Sequence
from pathlib import Path

from bokeh.server.auth_provider import AuthProvider
from panel.auth import BasicLoginHandler
from panel.command.serve import Serve as PanelServe
from tornado.escape import url_escape
from tornado.web import GZipContentEncoding, OutputTransform, RequestHandler

from dashboard.config import Settings

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


class LocalFailures:
    """Failed sign-ins counted in this process: ``key -> (count, locked until)``."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def locked_until(self, key: str) -> float:
        with self._lock:
            return self._failures.get(key, (0, 0.0))[1]

    def count(self, key: str, lock_for: Callable[[int], float], now: float) -> None:
        with self._lock:
            count = self._failures.get(key, (0, 0.0))[0] + 1
            self._failures[key] = (count, now + lock_for(count))

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class RedisFailures:
    """Failed sign-ins counted in Redis, shared by every server process of a deployment (so
    two servers do not give a guesser twice the tries). A key is kept ``keep`` seconds after
    its last failure."""

    PREFIX = "assess-export:login:"

    def __init__(self, url: str, name: str, keep: float) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = f"{self.PREFIX}{name}:"
        self._keep = max(1, int(keep))

    def locked_until(self, key: str) -> float:
        until = self._redis.hget(self._prefix + key, "until")
        return float(until) if until is not None else 0.0

    def count(self, key: str, lock_for: Callable[[int], float], now: float) -> None:
        name = self._prefix + key
        count = int(self._redis.hincrby(name, "count", 1))  # atomic across processes
        with self._redis.pipeline() as pipe:
            pipe.hset(name, "until", now + lock_for(count))
            pipe.expire(name, self._keep)
            pipe.execute()

    def forget(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


class LoginAttempts:
    """Failed sign-ins per key (a user name, or a client address); after ``free`` failures
    each further one locks that key for ``base * 2**n`` seconds, at most ``longest``. A
    success forgets the key. Counted in this process, or in ``failures`` (``RedisFailures``)
    when the servers of a deployment share them. Times are the wall clock's (``time.time``):
    the one clock the processes of several machines share."""

    def __init__(self, free: int, base: float = 2.0, longest: float = 300.0, failures=None) -> None:
        self.free, self.base, self.longest = free, base, longest
        self.failures = failures if failures is not None else LocalFailures()

    def _lock_for(self, count: int) -> float:
        excess = count - self.free
        return min(self.base * 2 ** (excess - 1), self.longest) if excess > 0 else 0.0

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        now = time.time() if now is None else now
        return max(0.0, self.failures.locked_until(key) - now)

    def failed(self, key: str, now: float | None = None) -> None:
        self.failures.count(key, self._lock_for, time.time() if now is None else now)

    def succeeded(self, key: str) -> None:
        self.failures.forget(key)


# A user name locks after 3 failures; an address (many users behind one proxy) after 20.
USER_FREE, ADDRESS_FREE = 3, 20
KEEP_FAILURES = 3600  # seconds a shared count is kept after its last failure
_attempts: tuple[LoginAttempts, LoginAttempts] | None = None
_attempts_lock = threading.Lock()


def login_attempts(settings: Settings) -> tuple[LoginAttempts, LoginAttempts]:
    """This process's counts of failed sign-ins (per user name, per address), made at the
    first sign-in: shared through Redis when the job queue is there (``ASSESS_JOBS_URL=
    redis://...``, the scale mode of several servers), else this process's own."""
    global _attempts
    with _attempts_lock:
        if _attempts is None:
            shared = (settings.jobs_url or "").startswith(("redis://", "rediss://", "unix://"))

            def failures(name: str):
                if not shared:
                    return None
                return RedisFailures(settings.jobs_url, name, KEEP_FAILURES)

            _attempts = (
                LoginAttempts(free=USER_FREE, failures=failures("user")),
                LoginAttempts(free=ADDRESS_FREE, failures=failures("address")),
            )
        return _attempts


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
        by_user, by_address = login_attempts(Settings.from_env())
        wait = max(by_user.wait(user), by_address.wait(address))
        if wait > 0:  # the password is not even checked
            message = f"Too many failed sign-ins: try again in {int(wait) + 1} seconds."
            self.redirect(f"{self.request.path}?error={url_escape(message)}")
            return
        self._signed_in = False
        super().post()
        if self._signed_in:
            by_user.succeeded(user)
            by_address.succeeded(address)
        else:
            by_user.failed(user)
            by_address.failed(address)

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
        from tornado.ioloop import IOLoop

        IOLoop.current().add_callback(freeze_start_up_heap)  # once the server is made
        if getattr(args, "watch_loop", None):
            from dashboard.web.loop_watch import watch_running_loop

            IOLoop.current().add_callback(watch_running_loop, args.watch_loop)
        return super().invoke(args)


def start_up() -> None:
    """What a serving process does once, in its main thread, before it serves: the
    process-wide export settings (``dashboard.runtime.tune_process``), the store opened (and
    the demo workflow in an empty one), and the background job workers started."""
    from dashboard.jobs.tasks import start_background_work
    from dashboard.runtime import app_store, tune_process

    tune_process()
    start_background_work(app_store())


def freeze_start_up_heap() -> None:
    """Keep what the process made to start (modules, the server, the store) out of Python's
    garbage collector's full passes.

    A full pass walks every tracked object and holds every thread while it does: with the
    modules of Panel, Bokeh, pandas and the app loaded, 130-230 ms each, several a minute
    under a few users, and each one an event-loop hold that other users' pages and static
    files wait behind (``--watch-loop``). The objects made before serving live as long as the
    process, so they are moved out of the collector's sight (``gc.freeze``); what sessions
    make is still collected. (The page's own modules, imported by the first page, are few:
    Panel, Bokeh and pandas are loaded by then.)"""
    import gc

    gc.collect()
    gc.freeze()


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
    parser.add_argument(
        "--watch-loop",
        type=float,
        metavar="MS",
        help="log a warning, with where it was, whenever the event loop is held longer than "
        "MS milliseconds (dashboard.web.loop_watch)",
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
