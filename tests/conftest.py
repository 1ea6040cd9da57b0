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


CLUSTER_ROWS = 200_000  # long rows: an export of ~43 MB, far more than any buffer holds


@pytest.fixture(scope="session")
def own_cluster(tmp_path_factory):
    """A PostgreSQL cluster of the tests' own (``tests/pg_cluster.py``) holding the bench
    workflow ``bench-export``; the fault tests stop and start it under running work."""
    from bench.generate import generate
    from tests.pg_cluster import Cluster, pg_bin

    binaries = pg_bin()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL's server programs (pg_ctl, initdb) are needed under CI=true")
        pytest.skip("PostgreSQL's server programs (pg_ctl, initdb) are not installed")
    cluster = Cluster(binaries)
    try:
        cluster.files_url = str(tmp_path_factory.mktemp("cluster-files"))
        generate(cluster.url, cluster.files_url, CLUSTER_ROWS)
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def cluster(own_cluster):
    """The tests' own cluster, running at the start and at the end of each test."""
    if not own_cluster.running():
        own_cluster.start()
    yield own_cluster
    if not own_cluster.running():
        own_cluster.start()


@pytest.fixture
def full_disk(tmp_path):
    """A small tmpfs filled to the last byte (CI runs as root); skipped where mounting is
    refused."""
    import os
    import subprocess

    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)])
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs was refused")
    try:
        filler = open(folder / "filler", "wb", buffering=0)  # noqa: SIM115 (closed below)
        with pytest.raises(OSError, match="No space left"):
            while True:
                filler.write(b"\0" * 4096)
        filler.close()
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
