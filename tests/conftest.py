"""Shared fixtures: a fresh store on a real SQLite file and, when reachable, on PostgreSQL.

PostgreSQL tests use a schema of their own in the ``test`` database and drop it afterwards.
Under ``CI=true`` the server must be reachable: a missing server fails instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dashboard.store.db import Store, open_store


def pytest_configure(config) -> None:
    """Nothing a test runs may touch the user's ./data: default to a throwaway folder."""
    import tempfile

    os.environ["ASSESS_DATA_DIR"] = tempfile.mkdtemp(prefix="assess-tests-")
    for name in ("ASSESS_DB_URL", "ASSESS_FILES_URL", "ASSESS_JOBS_URL", "ASSESS_SMTP_HOST"):
        os.environ.pop(name, None)


PG_BASE = os.environ.get("ASSESS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    reachable = postgres_reachable()
    if not reachable and os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL at 127.0.0.1:5432 (database test) must be reachable under CI=true")
    return reachable


@pytest.fixture
def pg_schema_url(postgres_available) -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a fresh, empty schema."""
    if not postgres_available:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _open(backend: str, tmp_path: Path, request) -> Store:
    files_url = str(tmp_path / "files")
    if backend == "sqlite":
        return open_store(db_url=f"sqlite:///{tmp_path / 'store.db'}", files_url=files_url)
    return open_store(db_url=request.getfixturevalue("pg_schema_url"), files_url=files_url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> Iterator[Store]:
    """An empty, migrated store on each backend."""
    opened = _open(request.param, tmp_path, request)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[Store]:
    opened = open_store(db_url=f"sqlite:///{tmp_path / 'store.db'}", files_url=str(tmp_path / "f"))
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def hand_store(store):
    """The hand-built workflow of tests/hand_workflow.py on each backend; ids in ``.ids``."""
    from tests.hand_workflow import build_hand_workflow

    store.ids = build_hand_workflow(store)
    return store
