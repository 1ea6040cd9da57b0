"""Opening a store: the database engine, sessions, schema migrations and file storage."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Settings
from dashboard.errors import UnknownWorkflowError
from dashboard.store.files import FileStorage
from dashboard.store.models import (
    Annotation,
    Assessment,
    Attribute,
    AttributeValue,
    Case,
    DataFile,
    DataSource,
    ObjectClass,
    Workflow,
    WorkflowOrder,
)

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)
SQLITE_BUSY_MS = 30_000  # how long a SQLite statement waits for another writer's lock
WAITING_FOR_IMPORT = "another import is writing to the store: waiting for it to finish"
# PostgreSQL's advisory lock that imports take in turn (``Store.importing``): any 64-bit key
# that nothing else on the server uses.
IMPORT_LOCK = 0x61737365_696D7074  # "asse" "impt"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def _begin_immediate(session: Session) -> None:
    """Start the session's SQLite transaction with the write lock: at once if it is free,
    else say so and wait as long as another writer holds it (``SQLITE_BUSY_MS`` a try)."""
    connection = session.connection()
    connection.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        if _took_write_lock(connection):
            return
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    log.warning(WAITING_FOR_IMPORT)
    while not _took_write_lock(connection):
        pass


def _took_write_lock(connection) -> bool:
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except OperationalError as exc:
        if "locked" not in str(exc.orig):
            raise
        return False
    return True


def make_engine(db_url: str) -> Engine:
    if db_url.startswith("sqlite"):
        path = db_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(db_url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if db_url.startswith("postgresql://"):
        db_url = "postgresql+psycopg://" + db_url.removeprefix("postgresql://")
    return create_engine(db_url, pool_pre_ping=True)


# The newest migration in migrations/versions (a test checks it is Alembic's head). A store
# already there opens without importing Alembic, a fifth of a second of every command.
SCHEMA_HEAD = "0005"


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def schema_version(engine: Engine) -> str | None:
    """The store's migration, or None for a database without our schema."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # no such table: an empty database (any other fault: re-raised)
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError) and "alembic_version" in str(exc.orig):
            return None
        raise


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database).

    On PostgreSQL, processes starting at once (several servers and workers of a team
    deployment) migrate one after the other: the first holds an advisory lock, the others
    wait for it and then find the schema at the head.
    """
    if schema_version(engine) == SCHEMA_HEAD:
        return
    from alembic import command

    with _migration_lock(engine):
        if schema_version(engine) != SCHEMA_HEAD:
            command.upgrade(alembic_config(engine), "head")


MIGRATION_LOCK = 0x41535345  # "ASSE": the advisory lock key of schema migrations


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":  # SQLite: its own write lock serialises writers
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()


class Store:
    """An opened store: database plus file bytes. Knows nothing of exports."""

    def __init__(self, db_url: str, files: FileStorage, settings: Settings | None = None) -> None:
        self.db_url = db_url
        self.engine = make_engine(db_url)
        self.files = files
        self._settings = settings
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def settings(self) -> Settings:
        """The settings in force for this store: the ones it was opened with, else the
        environment's (read at each use). The one way the rest of the code reaches them."""
        return self._settings or Settings.from_env()

    @settings.setter
    def settings(self, settings: Settings | None) -> None:
        self._settings = settings

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed at the end, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def importing(self) -> Iterator[Session]:
        """A session in one transaction for an import, holding the store's import lock from
        its first statement to its end: imports take turns, each reading the store as the
        one before it left it (two at once both found a workflow, its cases or the store's
        ids new, and one failed on a unique key). SQLite: its write lock (``BEGIN
        IMMEDIATE``); PostgreSQL: an advisory lock. Readers and exports are not held up."""
        with self.session() as session:
            if self.dialect == "sqlite":
                _begin_immediate(session)
            elif self.dialect == "postgresql":
                taken = session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                       {"key": IMPORT_LOCK})  # fmt: skip
                if not taken:
                    log.warning(WAITING_FOR_IMPORT)
                    session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK}
                    )
            yield session

    def workflow(self, session: Session, name: str) -> Workflow:
        workflow = session.scalar(select(Workflow).where(Workflow.name == name))
        if workflow is None:
            known = session.scalars(select(Workflow.name).order_by(Workflow.name)).all()
            raise UnknownWorkflowError(
                f"unknown workflow {name!r}; known workflows: {', '.join(known) or '(none)'}"
            )
        return workflow

    def workflow_names(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(select(Workflow.name).order_by(Workflow.name)))

    def data_version(self) -> tuple:
        """Changes whenever data is added: the newest ids of the growing tables (a
        workflow's taxonomy, orders, sources and cases too: a wide table's columns and the
        filters' choices come from them).

        Data is append-only (imports and reviews add assessments, never rewrite them), so
        this is a cheap, sound key for caching aggregates such as export counts.
        """
        with self.engine.connect() as connection:
            return tuple(
                connection.execute(
                    select(
                        *(
                            select(func.max(table.id)).scalar_subquery()
                            for table in (
                                Workflow,
                                ObjectClass,
                                Attribute,
                                WorkflowOrder,
                                DataSource,
                                Case,
                                DataFile,
                                Assessment,
                                Annotation,
                                AttributeValue,
                            )
                        )
                    )
                ).one()
            )

    def is_empty(self) -> bool:
        return not self.workflow_names()

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(
    settings: Settings | None = None,
    *,
    db_url: str | None = None,
    files_url: str | None = None,
    migrate_schema: bool = True,
    **storage_options,
) -> Store:
    """Open (and by default migrate) the store named by settings or explicit URLs."""
    settings = settings or Settings.from_env()
    store = Store(
        db_url or settings.db_url,
        FileStorage(files_url or settings.files_url, **storage_options),
        settings,
    )
    if migrate_schema:
        migrate(store.engine)
    return store
