"""Serving a team (SPEC 4a) as `make serve` serves it (`assess-export serve`): websockets
only from the server's own origin, anti-framing headers on every response, SameSite login
cookies, and repeated wrong passwords slowed down."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
from urllib.parse import urlencode, urlsplit

import pytest

from dashboard.store.db import open_store
from dashboard.web.server import LoginAttempts
from tests.hand_workflow import build_hand_workflow
from tests.helpers import empty_redis_or_skip, served_app

USERS = {"anna": "anna-long-password", "jonas": "jonas-long-password"}


def _data(root):
    data = root / "data"
    store = open_store(db_url=f"sqlite:///{data / 'assess.db'}", files_url=str(data / "files"))
    build_hand_workflow(store)
    store.dispose()
    return data


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    """Served without auth, as `make serve` serves the embedded default."""
    data = _data(tmp_path_factory.mktemp("serving-local"))
    with served_app({"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": "serving-secret"}) as base:
        yield base


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Served behind Panel's basic auth."""
    root = tmp_path_factory.mktemp("serving")
    data = _data(root)
    users = root / "users.json"
    users.write_text(json.dumps(USERS))
    args = (
        "--basic-auth", str(users), "--cookie-secret", "serving-tests-cookie-secret",
        "--basic-login-template", "dashboard/templates/login.html",
    )  # fmt: skip
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": "serving-secret"}
    with served_app(env, extra_args=args) as base:
        yield base


def _request(base: str, method: str, path: str, body: str | None = None, headers=None):
    host, port = urlsplit(base).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def _handshake(base: str, origin: str, cookie: str = "") -> str:
    """The status line of a websocket upgrade of the app's session socket from ``origin``."""
    netloc = urlsplit(base).netloc
    host, port = netloc.split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            (
                f"GET /app/ws HTTP/1.1\r\nHost: {netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n"
                + (f"Cookie: {cookie}\r\n" if cookie else "")
                + "\r\n"
            ).encode()
        )
        return sock.recv(4096).decode(errors="replace").split("\r\n", 1)[0]


def _login(base: str, user: str, password: str):
    body = urlencode({"username": user, "password": password})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return _request(base, "POST", "/login", body, headers)


def test_websockets_from_another_origin_are_refused(local_server):
    port = urlsplit(local_server).port
    for foreign in ("http://evil.example", "null", f"http://localhost:{port}.evil.example"):
        assert _handshake(local_server, foreign).endswith("403 Forbidden"), foreign
    for own in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert _handshake(local_server, own).endswith("101 Switching Protocols"), own


def test_a_signed_in_users_cookie_does_not_open_a_session_from_another_origin(server):
    _, headers, _ = _login(server, "anna", USERS["anna"])
    cookie = "; ".join(
        value.split(";", 1)[0] for name, value in headers if name.lower() == "set-cookie"
    )
    port = urlsplit(server).port
    assert _handshake(server, "http://evil.example", cookie).endswith("403 Forbidden")
    assert _handshake(server, f"http://127.0.0.1:{port}", cookie).endswith(
        "101 Switching Protocols"
    )


def _listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (Linux's /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_the_server_listens_on_loopback_only(local_server):
    assert _listening(urlsplit(local_server).port) == {"0100007F"}  # 127.0.0.1, nothing else


@pytest.mark.parametrize(
    "path", ["/login", "/app", "/download?token=x", "/static/extensions/panel/panel.min.js"]
)
def test_every_response_forbids_framing_by_other_sites(server, path):
    _, headers, _ = _request(server, "GET", path)
    values = {name.lower(): value for name, value in headers}
    assert values["x-frame-options"] == "SAMEORIGIN"
    assert values["content-security-policy"] == "frame-ancestors 'self'"
    assert values["x-content-type-options"] == "nosniff"


def test_login_cookies_are_samesite_and_httponly(server):
    status, headers, _ = _login(server, "anna", USERS["anna"])
    assert status == 302
    cookies = [value for name, value in headers if name.lower() == "set-cookie"]
    user_cookie = next(c for c in cookies if c.startswith("user="))
    attributes = {part.strip().lower() for part in user_cookie.split(";")}
    assert "samesite=lax" in attributes and "httponly" in attributes
    assert all("samesite=lax" in cookie.lower() for cookie in cookies), cookies


def test_repeated_wrong_passwords_lock_the_user_name_even_for_the_right_one(server):
    for _ in range(3):  # the free tries: refused as wrong, not as locked
        status, headers, _ = _login(server, "jonas", "wrong")
        location = dict((n.lower(), v) for n, v in headers)["location"]
        assert status == 302 and "Invalid" in location
    status, headers, _ = _login(server, "jonas", "wrong")
    status, headers, _ = _login(server, "jonas", USERS["jonas"])
    location = dict((n.lower(), v) for n, v in headers)["location"]
    assert "Too+many+failed+sign-ins" in location
    assert not any(n.lower() == "set-cookie" and v.startswith("user=") for n, v in headers)
    status, headers, _ = _login(server, "anna", USERS["anna"])  # another user is not locked
    assert any(n.lower() == "set-cookie" and v.startswith("user=") for n, v in headers)


def test_the_lock_doubles_with_each_failure_up_to_a_ceiling():
    attempts = LoginAttempts(free=2, base=2.0, longest=10.0)
    waits = []
    for _ in range(6):
        attempts.failed("jonas", now=100.0)
        waits.append(attempts.wait("jonas", now=100.0))
    assert waits == [0.0, 0.0, 2.0, 4.0, 8.0, 10.0]
    assert attempts.wait("jonas", now=109.0) == 1.0
    attempts.succeeded("jonas")
    assert attempts.wait("jonas", now=100.0) == 0.0


def test_a_login_form_posted_from_another_site_is_refused(server):
    body = urlencode({"username": "anna", "password": USERS["anna"]})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "http://evil.example",
        "Sec-Fetch-Site": "cross-site",
    }
    status, headers, _ = _request(server, "POST", "/login", body, headers)
    assert status == 403
    assert not any(n.lower() == "set-cookie" and v.startswith("user=") for n, v in headers)


LOGIN_REDIS = "redis://127.0.0.1:6379/13"  # this test's own database


@pytest.fixture
def login_redis():
    import redis

    yield empty_redis_or_skip(LOGIN_REDIS)
    redis.Redis.from_url(LOGIN_REDIS).flushdb()


def test_servers_of_one_deployment_count_failed_sign_ins_together(login_redis):
    """Two server processes (two LoginAttempts over one Redis): a guesser's failures on one
    lock the user name on the other, so more servers give no more tries."""
    from dashboard.web.server import RedisFailures

    def server() -> LoginAttempts:
        return LoginAttempts(free=2, failures=RedisFailures(login_redis, "user", keep=60))

    server_a, server_b = server(), server()
    server_a.failed("jonas", now=100.0)
    server_b.failed("jonas", now=100.0)
    assert server_a.wait("jonas", now=100.0) == server_b.wait("jonas", now=100.0) == 0.0
    server_a.failed("jonas", now=100.0)  # the third failure, counted over both servers
    assert server_b.wait("jonas", now=100.0) == 2.0
    server_b.failed("jonas", now=100.0)
    assert server_a.wait("jonas", now=101.0) == 3.0
    assert server_a.wait("anna", now=100.0) == 0.0  # another user is not locked
    server_b.succeeded("jonas")
    assert server_a.wait("jonas", now=100.0) == 0.0


def test_sign_ins_are_counted_in_redis_exactly_when_the_job_queue_is_there(
    login_redis, monkeypatch, tmp_path
):
    from dashboard.config import Settings
    from dashboard.web import server
    from dashboard.web.server import LocalFailures, RedisFailures

    for jobs_url, kind in ((None, LocalFailures), (login_redis, RedisFailures)):
        monkeypatch.setattr(server, "_attempts", None)
        settings = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path)})
        if jobs_url:
            settings = Settings.from_env(
                {"ASSESS_DATA_DIR": str(tmp_path), "ASSESS_JOBS_URL": jobs_url}
            )
        by_user, by_address = server.login_attempts(settings)
        assert isinstance(by_user.failures, kind) and isinstance(by_address.failures, kind)
        assert (by_user.free, by_address.free) == (3, 20)
