"""Reading query results as Arrow record batches.

- PostgreSQL: the ADBC driver in-process (rows never become Python objects).
- SQLite, bulk reads (downloads): the ADBC driver in a child process (see ``sqlite_reader``
  for why it must not run in this process), streaming Arrow IPC over a pipe.
- SQLite small reads (previews) and any other backend: SQLAlchemy fetchmany.

One ``ArrowReader`` serves a whole export, so a chunked export connects once. SQLite reader
processes are kept between exports (one per database file and concurrent export), because
starting one costs about half a second.
"""

from __future__ import annotations

import atexit
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pyarrow as pa
from sqlalchemy import Engine, Select, text
from sqlalchemy.engine import make_url

BATCH_ROWS = 65_536
RANDOM_PAGE_COST = 1.1  # PostgreSQL export connections (see _connect_postgres)
MAX_IDLE_READERS = 2


class ReaderError(RuntimeError):
    """The database failed while streaming rows (never a user's bad input)."""


class _SqliteChildren:
    """Idle reader processes per database file; a process is reused only after a clean read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[subprocess.Popen]] = {}
        self._closed_at_exit = False  # registered with the first child, not on import

    def acquire(self, database: str) -> subprocess.Popen:
        with self._lock:
            if not self._closed_at_exit:
                atexit.register(self.close_all)
                self._closed_at_exit = True
            idle = self._idle.pop(database, [])
            while idle:
                child = idle.pop()
                if child.poll() is None:
                    if idle:
                        self._idle[database] = idle
                    return child
        return subprocess.Popen(
            [sys.executable, "-m", "dashboard.query.sqlite_reader", database],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def release(self, database: str, child: subprocess.Popen, clean: bool) -> None:
        evicted = [child]
        if clean and child.poll() is None:
            with self._lock:
                idle = self._idle.pop(database, [])
                self._idle[database] = [*idle, child]  # most recently used database last
                evicted = []
                while sum(map(len, self._idle.values())) > MAX_IDLE_READERS:
                    oldest = next(iter(self._idle))
                    evicted.append(self._idle[oldest].pop(0))
                    if not self._idle[oldest]:
                        del self._idle[oldest]
        for stale in evicted:
            _stop(stale)

    def close_all(self) -> None:
        with self._lock:
            children = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for child in children:
            _stop(child)


def _stop(child: subprocess.Popen) -> None:
    try:
        child.stdin.close()
        child.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        child.kill()
        child.wait()
    child.stdout.close()


_children = _SqliteChildren()


def compile_sql(stmt: Select, engine: Engine) -> str:
    """Inline the statement's parameters; they are only ids and fixed labels, never user text."""
    return str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _read_stream(stream: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The batches of a database's Arrow stream. A stream that breaks (a lost connection, a
    reader process that died) raises pyarrow's OSError, which would read as a failure of the
    output's disk: it is a ReaderError, a failure of the database."""
    while True:
        try:
            batch = stream.read_next_batch()
        except StopIteration:
            return
        except (OSError, pa.ArrowException) as exc:
            raise ReaderError(str(exc).strip()) from exc
        yield batch


class ArrowReader:
    def __init__(self, engine: Engine, bulk: bool = True) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.bulk = bulk
        self._adbc = None
        self._child: subprocess.Popen | None = None
        self._child_clean = True

    def batches(self, stmt: Select) -> Iterator[pa.RecordBatch]:
        sql = compile_sql(stmt, self.engine)
        if self.dialect == "postgresql":
            source = self._postgres(sql)
        elif self.dialect == "sqlite" and self.bulk:
            source = self._sqlite_child(sql)
        else:
            source = self._fetchmany(sql)
        for batch in source:
            if batch.num_rows:
                yield batch

    def _connect_postgres(self):
        import adbc_driver_postgresql.dbapi as driver

        url = make_url(self.engine.url).set(drivername="postgresql")
        # libpq decodes %20 but not '+' in URI parameters (e.g. options=-c a -c b).
        uri = url.set(query={}).render_as_string(hide_password=False)
        if url.query:
            uri += "?" + urlencode(url.query, doseq=True, quote_via=quote)
        connection = driver.connect(uri, autocommit=True)
        cursor = connection.cursor()
        try:
            # This connection only reads exports, chunk by chunk. With the default cost of a
            # random page (4, for spinning disks) the planner seq-scans whole tables for every
            # chunk; 1.1, the usual value for SSDs, makes it use the indexes (bench: PostgreSQL
            # long export 8.6 s -> 7.2 s on 1M rows).
            cursor.execute(f"SET random_page_cost = {RANDOM_PAGE_COST}")
        finally:
            cursor.close()
        return connection

    def _postgres(self, sql: str) -> Iterator[pa.RecordBatch]:
        if self._adbc is None:
            self._adbc = self._connect_postgres()
        cursor = self._adbc.cursor()
        try:
            cursor.execute(sql)
            yield from _read_stream(cursor.fetch_record_batch())
        finally:
            cursor.close()

    def _sqlite_child(self, sql: str) -> Iterator[pa.RecordBatch]:
        if self._child is None:
            self._child = _children.acquire(self.engine.url.database)
        child = self._child
        self._child_clean = False  # until this answer has been read to its end
        payload = sql.encode("utf-8")
        child.stdin.write(struct.pack(">I", len(payload)) + payload)
        child.stdin.flush()
        status = child.stdout.read(1)
        if status == b"K":
            yield from _read_stream(pa.ipc.open_stream(child.stdout))
            self._child_clean = True
            return
        if status == b"E":
            size = struct.unpack(">I", child.stdout.read(4))[0]
            self._child_clean = True
            raise ReaderError(child.stdout.read(size).decode("utf-8", "replace"))
        raise ReaderError(f"the SQLite reader process ended (exit code {child.poll()})")

    def _fetchmany(self, sql: str) -> Iterator[pa.RecordBatch]:
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(text(sql))
            names = list(result.keys())
            while rows := result.fetchmany(BATCH_ROWS):
                columns = list(zip(*rows, strict=True))
                yield pa.RecordBatch.from_arrays([pa.array(c) for c in columns], names=names)

    def close(self) -> None:
        if self._adbc is not None:
            self._adbc.close()
            self._adbc = None
        if self._child is not None:
            _children.release(self.engine.url.database, self._child, self._child_clean)
            self._child = None

    def __enter__(self) -> ArrowReader:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
