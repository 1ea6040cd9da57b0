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
    import adbc_driver_sqlite.dbapi as driver
    import pyarrow as pa

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    connection = driver.connect(database, autocommit=True)
    try:
        while (header := _read_exact(stdin, 4)) is not None:
            sql = _read_exact(stdin, struct.unpack(">I", header)[0]).decode("utf-8")
            cursor = connection.cursor()
            try:
                # Big batches: fewer, larger tables downstream, and column types are inferred
                # from more rows (the driver infers them from the first batch).
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": BATCH_ROWS})
                cursor.execute(sql)
                reader = cursor.fetch_record_batch()
                stdout.write(b"K")
                with pa.ipc.new_stream(stdout, reader.schema) as writer:
                    for batch in reader:
                        writer.write_batch(batch)
            except Exception as exc:  # reported to the parent, which raises it
                message = f"{type(exc).__name__}: {exc}".encode()
                stdout.write(b"E" + struct.pack(">I", len(message)) + message)
            finally:
                cursor.close()
            stdout.flush()
    finally:
        connection.close()


if __name__ == "__main__":
    serve(sys.argv[1])
