"""Writing layout tables to any binary stream: CSV (SPEC 3.3) and Parquet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CSV_OPTIONS = pacsv.WriteOptions(include_header=True, quoting_style="needed", delimiter=",")
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def write_csv(tables: Iterable[pa.Table], out: BinaryIO, schema: pa.Schema) -> int:
    """Stream tables as one CSV (UTF-8, header, RFC 4180 quoting, \\n); returns rows written."""
    rows = 0
    with pacsv.CSVWriter(out, schema, write_options=CSV_OPTIONS) as writer:
        for table in tables:
            writer.write_table(table)
            rows += table.num_rows
    return rows


def parquet_schema(schema: pa.Schema) -> pa.Schema:
    """Typed Parquet columns: assessed_at becomes a UTC timestamp."""
    index = schema.get_field_index("assessed_at")
    return schema.set(index, pa.field("assessed_at", pa.timestamp("ms", tz="UTC")))


def parquet_table(table: pa.Table) -> pa.Table:
    index = table.schema.get_field_index("assessed_at")
    stamps = pc.strptime(table.column(index), format=ISO_FORMAT, unit="s")
    stamps = stamps.cast(pa.timestamp("ms", tz="UTC"))
    return table.set_column(index, "assessed_at", stamps)


def write_parquet(tables: Iterable[pa.Table], out: BinaryIO, schema: pa.Schema) -> int:
    rows = 0
    typed = parquet_schema(schema)
    with pq.ParquetWriter(out, typed, compression="zstd") as writer:
        for table in tables:
            writer.write_table(parquet_table(table))
            rows += table.num_rows
    return rows
