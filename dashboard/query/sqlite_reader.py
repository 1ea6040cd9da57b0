"""A child process that reads a SQLite file through the ADBC driver and streams Arrow IPC.

Why a separate process: the ADBC driver carries its own copy of SQLite. Two copies of SQLite
in one process do not see each other's POSIX locks, and when one closes the file the other's
locks are silently dropped; with concurrent writers that can corrupt the database
(sqlite.org/howtocorrupt.html, section 2.2.1). In a child process the locks work as usual.

Protocol, repeated per query: the parent writes a 4-byte big-endian length and the SQL text;
the child answers ``K`` followed by one Arrow IPC stream, or ``E`` followed by a 4-byte length
and an error message.
"""

from __future__ import annotations

import struct
import sys

BATCH_ROWS = "65536"


def _read_exact(stream, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(database: str) -> None:
    # The driver manager's low-level API, not its DB-API module: that one imports
    # pyarrow.dataset (and with it pandas), about 0.2 s of this process's start, which every
    # SQLite download waits for. The connection is the same (ADBC's default: autocommit).
    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    database_handle = adbc_driver_sqlite.connect(database)
    connection = adbc_driver_manager.AdbcConnection(database_handle)
    try:
        while (header := _read_exact(stdin, 4)) is not None:
            sql = _read_exact(stdin, struct.unpack(">I", header)[0]).decode("utf-8")
            statement = adbc_driver_manager.AdbcStatement(connection)
            try:
                # Big batches: fewer, larger tables downstream, and column types are inferred
                # from more rows (the driver infers them from the first batch).
                statement.set_options(**{"adbc.sqlite.query.batch_rows": BATCH_ROWS})
                statement.set_sql_query(sql)
                stream, _ = statement.execute_query()
                reader = pa.RecordBatchReader.from_stream(stream)
                stdout.write(b"K")
                with reader, pa.ipc.new_stream(stdout, reader.schema) as writer:
                    for batch in reader:
                        writer.write_batch(batch)
            except Exception as exc:  # reported to the parent, which raises it
                message = f"{type(exc).__name__}: {exc}".encode()
                stdout.write(b"E" + struct.pack(">I", len(message)) + message)
            finally:
                statement.close()
            stdout.flush()
    finally:
        connection.close()
        database_handle.close()


if __name__ == "__main__":
    serve(sys.argv[1])
