"""Reading query results as Arrow record batches, Arrow-natively where the driver allows.

SQLite and PostgreSQL go through ADBC drivers (rows never become Python objects); any other
SQLAlchemy backend falls back to fetchmany. One ``ArrowReader`` holds one connection for the
life of an export, so a chunked export does not reconnect per chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from sqlalchemy import Engine, Select, text
from sqlalchemy.engine import make_url

BATCH_ROWS = 65_536


def compile_sql(stmt: Select, engine: Engine) -> str:
    """Inline the statement's parameters; they are only ids and fixed labels, never user text."""
    return str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


class ArrowReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._connection = None

    def _adbc(self):
        if self._connection is None:
            url = make_url(self.engine.url)
            if self.dialect == "sqlite":
                import adbc_driver_sqlite.dbapi as driver

                self._connection = driver.connect(url.database)
            else:
                import adbc_driver_postgresql.dbapi as driver

                uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
                self._connection = driver.connect(uri)
        return self._connection

    def batches(self, stmt: Select) -> Iterator[pa.RecordBatch]:
        sql = compile_sql(stmt, self.engine)
        if self.dialect in ("sqlite", "postgresql"):
            cursor = self._adbc().cursor()
            try:
                cursor.execute(sql)
                reader = cursor.fetch_record_batch()
                for batch in reader:
                    if batch.num_rows:
                        yield batch
            finally:
                cursor.close()
            return
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(text(sql))
            names = list(result.keys())
            while rows := result.fetchmany(BATCH_ROWS):
                yield pa.RecordBatch.from_pylist([dict(zip(names, r, strict=True)) for r in rows])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> ArrowReader:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
