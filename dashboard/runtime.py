"""Process-wide state of a served dashboard: settings, the opened store, who is an admin.

Shared by the Panel sessions (``dashboard.ui``) and the HTTP routes (``dashboard.routes``).
"""

from __future__ import annotations

import threading

from dashboard.config import Settings
from dashboard.links import LOCAL_USER
from dashboard.store.db import Store, open_store

_lock = threading.Lock()
_store: Store | None = None


def app_store() -> Store:
    """The store named by the environment, opened (and demo-filled if empty) once."""
    global _store
    with _lock:
        if _store is None:
            from dashboard.store.demo import ensure_demo

            _store = open_store(Settings.from_env())
            ensure_demo(_store)
        return _store


def is_admin(user: str | None, settings: Settings) -> bool:
    """SPEC 4: without auth the single local user is admin; with auth, ASSESS_ADMINS decides
    (unset: everyone who can log in)."""
    if user == LOCAL_USER:
        return True
    if not user:
        return False
    return settings.admins is None or user in settings.admins
