"""Reading the long rows of an export chunk by chunk, as Arrow tables in SPEC order.

A chunk is a run of files in export order. Per chunk, two statements (``sql``):

- ``chunk_assessments``: the chunk's assessments in export order with the columns every long
  row of an assessment repeats (a few thousand rows);
- ``long_values``: the narrow long rows, unsorted, with their integer sort keys.

Arrow sorts the narrow rows (assessment position, entity, annotation with entity-level values
last, attribute rank, value id) and attaches the assessment columns with ``take``. The
database never joins, formats or sorts a wide row per long row: that is most of the speed of
the download (bench/RESULTS-export.md). ``sql.long_rows`` is the same result as one SQL
statement; the tests check that the two agree.

A download reads one chunk ahead in a thread (``streams.read_ahead``), so the database read and the
Arrow and CSV work of the previous chunk overlap.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from dashboard.errors import StoreIntegrityError
from dashboard.query import sql
from dashboard.query.reader import ArrowReader
from dashboard.spec.options import LONG_COLUMNS, NO_CONFIDENCE, Scope
from dashboard.spec.schemas import LONG_SCHEMA

# Files per chunk grow so that a preview reads only a few files and a download few chunks.
CHUNK_FILES = (16, 128, 1024)
# A preview stops at its first rows: its chunks double, so that where the first 16 files do
# not hold them it reads a few more files, not 128 (Latest Annotations on the demo: 48 files
# read instead of 144 for 200 rows).
PREVIEW_CHUNK_FILES = (16, 32, 64, 128, 256, 512, 1024)


def use_system_memory_pool() -> None:
    """Make the system allocator Arrow's default in this process. Arrow's own default
    (mimalloc) keeps freed memory for reuse; the system allocator gives it back, which keeps
    the wide export's peak RSS about 60 MB lower at the same speed. Process-wide, so a process
    that exports calls it at its start (``dashboard.runtime.tune_process``), not an import."""
    pa.set_memory_pool(pa.system_memory_pool())


_SORT_KEYS = [
    ("position", "ascending", "at_end"),
    ("entity_id", "ascending", "at_end"),
    ("annotation_id", "ascending", "at_end"),  # entity-level values (no annotation) last
    ("attribute_rank", "ascending", "at_end"),
    ("value_id", "ascending", "at_end"),
]

T = TypeVar("T")


def record_chunks(records: Iterable[T], sizes: tuple[int, ...] | None = None) -> Iterator[list[T]]:
    """Any iterable in chunks of ``sizes`` (``CHUNK_FILES`` by default; the last size
    repeats)."""
    sizes = sizes or CHUNK_FILES
    records, step = iter(records), 0
    while chunk := list(itertools.islice(records, sizes[min(step, len(sizes) - 1)])):
        step += 1
        yield chunk


def file_chunks(
    file_ids: list[int], sizes: tuple[int, ...] | None = None
) -> Iterator[tuple[int, list[int]]]:
    """(files done after this chunk, the chunk's file ids), in export order."""
    done = 0
    for chunk in record_chunks(file_ids, sizes):
        done += len(chunk)
        yield done, chunk


def read_long(
    reader: ArrowReader, scope: sql.Assessments | Scope, file_ids: list[int]
) -> pa.Table | None:
    """The long table (``long_table``) of some files in SPEC order; None if they have no rows."""
    assessments = _table(reader.batches(sql.chunk_assessments(scope, file_ids, reader.dialect)))
    if assessments is None:
        return None
    rows = _table(reader.batches(sql.long_values(scope, file_ids)))
    if rows is None:
        return None
    rows = _with_value_frames(rows)
    position = pc.index_in(
        rows.column("assessment_id"), value_set=assessments.column("assessment_id")
    )
    order = pc.sort_indices(rows.append_column("position", position), sort_keys=_SORT_KEYS)
    rows = rows.take(order)
    per_row = assessments.take(position.take(order))
    columns = {
        name: per_row.column(name) if name in per_row.column_names else rows.column(name)
        for name in LONG_COLUMNS
    }
    return long_table(pa.table(columns))


def _with_value_frames(rows: pa.Table) -> pa.Table:
    """Each row's frame is its annotation's, as on its location row (``sql.long_values``)."""
    annotation_id = rows.column("annotation_id")
    is_location = pc.equal(rows.column("attribute_rank"), 0)
    found = pc.index_in(annotation_id, value_set=pc.filter(annotation_id, is_location))
    owner = pc.take(pc.filter(rows.column("assessment_id"), is_location), found)
    elsewhere = pc.or_kleene(pc.is_null(found), pc.not_equal(owner, rows.column("assessment_id")))
    lost = pc.and_(pc.is_valid(annotation_id), elsewhere)
    if pc.any(lost).as_py():  # only a store written around dashboard.store.writer can get here
        stray = pc.filter(rows, lost).slice(0, 1).to_pylist()[0]
        raise StoreIntegrityError(
            f"a value of annotation {stray['annotation_id']} is stored with assessment "
            f"{stray['assessment_id']}, which does not hold that annotation: the store breaks "
            "the rule that an annotation's values are of its assessment; re-import that data "
            "through the importers, which keep it"
        )
    frames = pc.take(pc.filter(rows.column("frame"), is_location), found)
    return rows.set_column(rows.schema.get_field_index("frame"), "frame", frames)


def _table(batches: Iterator[pa.RecordBatch]) -> pa.Table | None:
    """One table of a statement's batches. Batches read through fetchmany have their types
    inferred one by one (a batch whose frames are all NULL has a null column): promote."""
    tables = [pa.Table.from_batches([batch]) for batch in batches]
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def long_table(rows: pa.Table | pa.RecordBatch) -> pa.Table:
    """Long rows as read from SQL, with sentinels turned into nulls and canonical types."""
    if isinstance(rows, pa.RecordBatch):
        rows = pa.Table.from_batches([rows])
    columns = []
    for field in LONG_SCHEMA:
        column = rows.column(field.name)
        if column.type != field.type:
            column = column.cast(field.type)
        if field.name == "confidence":
            column = pc.if_else(pc.equal(column, NO_CONFIDENCE), None, column)
        elif field.name == "workflow_order":
            column = pc.if_else(pc.equal(column, ""), None, column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=LONG_SCHEMA)
