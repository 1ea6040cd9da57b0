"""Proposed export speed-ups, applied by monkeypatching, to measure them before adopting them.

Nothing here is used by the product. ``bench_export.py --proposals all`` measures them next to
the current code in the same run; the test suite can run against them too:

    PYTHONPATH=bench .venv/bin/pytest -p export_proposals tests/query tests/store

Adopted into the product so far (measured here first, byte-identical output): ``safe``,
``batch``, ``narrow`` (two statements per chunk, joined in Arrow), ``prefetch`` (one chunk
read ahead), ``widefast`` (the wide pivot by hash lookups), ``arrowsort`` (the sort in
Arrow) and ``syspool`` (the system allocator); see ``dashboard/query/chunks.py``.

Open proposals:

- ``pgcost``: the PostgreSQL export connection runs ``SET random_page_cost = 1.1`` (the
  usual value for SSDs; with the default 4 the planner seq-scans all of ``annotation`` and
  ``attribute_value`` for every chunk of 1,024 files).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard.query import reader  # noqa: E402

ALL = ("pgcost",)
_applied: set[str] = set()


# -- pgcost ----------------------------------------------------------------------------------

_original_connect = reader.ArrowReader._connect_postgres


def _connect(self):
    """``ArrowReader._connect_postgres``, then ``SET random_page_cost = 1.1``."""
    connection = _original_connect(self)
    cursor = connection.cursor()
    try:
        cursor.execute("SET random_page_cost = 1.1")
    finally:
        cursor.close()
    return connection


# -- applying -------------------------------------------------------------------------------


def apply(names) -> None:
    """Monkeypatch the named proposals (``ALL`` or a subset) into the running process."""
    if isinstance(names, str):
        names = names.split(",")
    names = set(names) - {"", "none"}
    if "all" in names:
        names = (names - {"all"}) | set(ALL)
    unknown = names - set(ALL)
    if unknown:
        raise ValueError(f"unknown proposals {sorted(unknown)}; known: {', '.join(ALL)}")
    _applied.update(names)
    if "pgcost" in names:
        reader.ArrowReader._connect_postgres = _connect


def pytest_configure(config) -> None:
    """As a pytest plugin (``-p export_proposals``): run the tests against the proposals."""
    apply(os.environ.get("EXPORT_PROPOSALS", "all"))
