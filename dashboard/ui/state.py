"""Process-wide state of the served app: the opened store, shared by every session."""

from __future__ import annotations

import threading

from dashboard.config import Settings
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
