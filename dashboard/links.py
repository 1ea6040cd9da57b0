"""Signed download links: HMAC-SHA256 over the user, the expiry and what to download.

A link is ``/download?token=<payload>.<signature>`` where the payload is base64url JSON. It is
refused when its signature does not match (forged or altered), when it has expired, or when
the person opening it is not the user it was made for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from dashboard.errors import LinkError

DOWNLOAD_PATH = "/download"
DEFAULT_LIFETIME = 7 * 24 * 3600  # seconds: SPEC 3.5's default of 7 days
LOCAL_USER = "local"  # the single user of a dashboard served without authentication


@dataclass(frozen=True)
class Grant:
    """What a verified link allows: one user, until ``expires``, to download ``target``."""

    user: str
    expires: int  # unix seconds
    target: dict[str, Any]  # {"kind": "export", "options": {...}} or {"kind": "job", "id": ...}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def sign(
    secret: bytes,
    user: str,
    target: dict[str, Any],
    lifetime: int = DEFAULT_LIFETIME,
    now: float | None = None,
) -> str:
    """A token granting ``user`` the download of ``target`` for ``lifetime`` seconds."""
    expires = int((time.time() if now is None else now) + lifetime)
    body = json.dumps({"u": user, "e": expires, "t": target}, sort_keys=True, separators=(",", ":"))
    payload = _b64(body.encode("utf-8"))
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: bytes, token: str, user: str, now: float | None = None) -> Grant:
    """The grant of a token opened by ``user``; raises LinkError saying why it is refused."""
    payload, _, signature = (token or "").partition(".")
    if not payload or not signature or not (payload + signature).isascii():
        raise LinkError("this download link is malformed")
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise LinkError("this download link is not valid (its signature does not match)")
    try:
        body = json.loads(_unb64(payload))
        grant = Grant(user=str(body["u"]), expires=int(body["e"]), target=dict(body["t"]))
    except (ValueError, TypeError, KeyError) as exc:  # signed by us, so only an old format
        raise LinkError("this download link is malformed") from exc
    if (time.time() if now is None else now) >= grant.expires:
        raise LinkError("this download link has expired; request a new one from the dashboard")
    if grant.user != user:
        raise LinkError("this download link was made for another user")
    return grant


def download_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{DOWNLOAD_PATH}?token={quote(token)}"
