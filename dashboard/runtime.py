"""Process-wide state of a served dashboard: settings, the opened store, who is an admin, and
the process-wide settings of a process that exports (``tune_process``).

Shared by the Panel sessions (``dashboard.web.ui``) and the HTTP routes (``dashboard.web.routes``).
"""

from __future__ import annotations

import threading

from dashboard.config import Settings
from dashboard.links import LOCAL_USER
from dashboard.store.db import Store, open_store

_lock = threading.Lock()
_store: Store | None = None
_demo_checked = False


def configured_store() -> Store:
    """The store named by the environment, opened once per process (workers use this)."""
    global _store
    with _lock:
        if _store is None:
            _store = open_store(Settings.from_env())
        return _store


def use_store(store: Store | None) -> None:
    """Make ``store`` this process's store (a notebook or a test that opened its own)."""
    global _store
    with _lock:
        _store = store


def app_store() -> Store:
    """The served app's store: as configured, filled with the demo workflow if empty."""
    global _demo_checked
    store = configured_store()
    with _lock:
        if not _demo_checked:
            from dashboard.importers.demo import ensure_demo

            ensure_demo(store)
            _demo_checked = True
    return store


def tune_process() -> None:
    """The process-wide settings an exporting process wants, applied by its start-up (the
    server's ``dashboard.web.server.start_up``, a job worker's start, the CLI's export), never by
    an import: Arrow's system allocator and Pillow's kept image blocks. Idempotent."""
    from dashboard.produce.drawing import keep_freed_image_blocks
    from dashboard.query.chunks import use_system_memory_pool

    use_system_memory_pool()
    keep_freed_image_blocks()


def is_admin(user: str | None, settings: Settings) -> bool:
    """SPEC 4: without auth the single local user is admin; with auth, ASSESS_ADMINS decides
    (unset: everyone who can log in)."""
    if user == LOCAL_USER:
        return True
    if not user:
        return False
    return settings.admins is None or user in settings.admins
