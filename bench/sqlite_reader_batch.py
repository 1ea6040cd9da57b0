"""``dashboard.query.sqlite_reader`` asking ADBC for bigger batches (the ``batch`` proposal).

Started by ``export_proposals`` as ``python bench/sqlite_reader_batch.py DATABASE``; the same
protocol as the product's reader, only ``adbc.sqlite.query.batch_rows`` differs.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

BATCH_ROWS = 65_536


def serve(database: str) -> None:
    import adbc_driver_sqlite.dbapi as driver
    import pyarrow as pa

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from dashboard.query.sqlite_reader import _read_exact

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    connection = driver.connect(database, autocommit=True)
    try:
        while (header := _read_exact(stdin, 4)) is not None:
            text = _read_exact(stdin, struct.unpack(">I", header)[0]).decode("utf-8")
            cursor = connection.cursor()
            try:
                cursor.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)}
                )
                cursor.execute(text)
                rows = cursor.fetch_record_batch()
                stdout.write(b"K")
                with pa.ipc.new_stream(stdout, rows.schema) as writer:
                    for batch in rows:
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
