"""Proposed export speed-ups, applied by monkeypatching, to measure them before adopting them.

Nothing here is used by the product. ``bench_export.py --proposals all`` measures them next to
the current code in the same run; the test suite can run against them too:

    PYTHONPATH=bench .venv/bin/pytest -p export_proposals tests/query tests/store

Proposals (each byte-identical output, checked by the bench and by the tests). Adopted
since the figures in RESULTS-export.md were taken: ``safe`` (the number regex only where a
trigger matched) and ``batch`` (64k-row ADBC batches); they are now the product's code.

- ``narrow``: per chunk, two statements instead of one: the long rows without the
  per-assessment columns (ordered by assessment, entity, annotation, attribute), and the
  chunk's assessments with their columns in export order (a few thousand rows); Arrow puts
  the assessment blocks in export order (a stable sort on the assessment's position) and
  attaches the assessment columns with ``take``. SQLite no longer materialises, joins,
  formats the timestamp for and sorts 1M wide rows, only narrow ones.
- ``prefetch``: a download reads the next chunk in a thread while the current one is
  processed and written (one chunk ahead), so the reader and the parent overlap.
- ``widefast``: ``wide_table`` without joins and sorts: one group_by per kind of value
  (annotation-level, entity-level), then ``index_in`` + ``take`` per attribute.
- ``arrowsort`` (with ``narrow``): the narrow rows come unsorted, with their sort keys, and
  Arrow sorts them (bytewise, as SQLite's BINARY collation; PostgreSQL would otherwise sort
  text by the database's collation). Moves the sort out of the database, where on
  PostgreSQL it is most of the time.
- ``syspool``: Arrow allocates from the system allocator instead of its default (mimalloc),
  which holds on to freed memory: the same speed, ~60 MB less peak RSS for the wide layout
  (``pa.set_memory_pool(pa.system_memory_pool())``, or ``ARROW_DEFAULT_MEMORY_POOL=system``).
- ``pgcost`` (not in ``all``): the PostgreSQL export connection runs
  ``SET random_page_cost = 1.1`` (the usual value for SSDs; the default 4 makes the planner
  seq-scan all of ``annotation`` and ``attribute_value`` for every chunk of 1,024 files).
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Select, case, func, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard.errors import InvalidOptionError  # noqa: E402
from dashboard.layouts import tables as layout_tables  # noqa: E402
from dashboard.query import export, reader, sql  # noqa: E402
from dashboard.query.options import (  # noqa: E402
    IDENTIFYING_COLUMNS,
    LOCATION,
    LONG_COLUMNS,
    OBJECT_CLASS,
    Layout,
    Scope,
)

ALL = ("narrow", "prefetch", "widefast", "arrowsort", "syspool")
EXTRA = ("pgcost",)  # not in "all": measured separately
_applied: set[str] = set()


# -- pgcost ----------------------------------------------------------------------------------


_original_postgres = reader.ArrowReader._postgres


def _postgres(self, text: str):
    """``ArrowReader._postgres`` whose connection first lowers random_page_cost."""
    if self._adbc is None:
        import adbc_driver_postgresql.dbapi as driver
        from sqlalchemy.engine import make_url

        url = make_url(self.engine.url).set(drivername="postgresql")
        uri = url.render_as_string(hide_password=False)
        # SQLAlchemy writes a space in the query as '+', which libpq does not decode.
        base, _, query = uri.partition("?")
        uri = f"{base}?{query.replace('+', '%20')}" if query else base
        self._adbc = driver.connect(uri, autocommit=True)
        cursor = self._adbc.cursor()
        try:
            cursor.execute("SET random_page_cost = 1.1")
        finally:
            cursor.close()
    yield from _original_postgres(self, text)


# -- narrow ---------------------------------------------------------------------------------


def narrow_statements(scope: Scope, file_ids: list[int], dialect: str) -> tuple[Select, Select]:
    """The chunk's assessments in export order, and its long rows without their columns."""
    scoped = sql.assessments_in_scope(scope, list(file_ids))
    f, c, w, s, o = sql.f, sql.c, sql.w, sql.s, sql.o
    assessments = (
        select(
            w.c.name.label("workflow"),
            func.coalesce(o.c.name, "").label("workflow_order"),
            s.c.name.label("data_source"),
            f.c.id.label("file_id"),
            c.c.external_id,
            f.c.file_name,
            scoped.c.id.label("assessment_id"),
            scoped.c.stage,
            scoped.c.stage_kind,
            scoped.c.assessed_by,
            sql.iso_timestamp(scoped.c.assessed_at, dialect).label("assessed_at"),
        )
        .select_from(
            scoped.join(f, scoped.c.data_file_id == f.c.id)
            .join(c, f.c.case_id == c.c.id)
            .join(w, c.c.workflow_id == w.c.id)
            .join(s, f.c.data_source_id == s.c.id)
            .outerjoin(o, c.c.workflow_order_id == o.c.id)
        )
        .order_by(c.c.external_id, f.c.count, f.c.id, scoped.c.assessed_at, scoped.c.id)
    )
    # The union of sql.long_rows, found under its joins.
    rows = sql.long_rows(scope, file_ids, dialect).get_final_froms()[0]
    while hasattr(rows, "left"):
        rows = rows.left
    assert rows.name == "long_rows"
    columns = [
        rows.c.assessment_id,
        rows.c.entity_id,
        rows.c.annotation_id,
        rows.c.frame,
        rows.c.attribute,
        rows.c.value,
        rows.c.confidence,
    ]
    if "arrowsort" in _applied:
        return assessments, select(*columns, rows.c.attribute_rank, rows.c.value_id)
    long = select(*columns).order_by(
        rows.c.assessment_id,
        rows.c.entity_id,
        case((rows.c.annotation_id.is_(None), 1), else_=0),
        rows.c.annotation_id,
        rows.c.attribute_rank,
        rows.c.value_id,
    )
    return assessments, long


def _table(batches: Iterator[pa.RecordBatch]) -> pa.Table | None:
    batches = list(batches)
    return pa.Table.from_batches(batches) if batches else None


def read_long(reader_: reader.ArrowReader, scope: Scope, chunk: list[int]) -> pa.Table | None:
    """One chunk's long table (``long_table`` applied), in export order."""
    assessments_stmt, rows_stmt = narrow_statements(scope, chunk, reader_.dialect)
    assessments = _table(reader_.batches(assessments_stmt))
    rows = _table(reader_.batches(rows_stmt))
    if rows is None or assessments is None:
        return None
    position = pc.index_in(
        rows.column("assessment_id"), value_set=assessments.column("assessment_id")
    )
    if "arrowsort" in _applied:
        rows = rows.append_column("position", position)
        order = pc.sort_indices(
            rows,
            sort_keys=[
                ("position", "ascending", "at_end"),
                ("entity_id", "ascending", "at_end"),
                ("annotation_id", "ascending", "at_end"),
                ("attribute_rank", "ascending", "at_end"),
                ("value_id", "ascending", "at_end"),
            ],
        )
    else:
        order = pc.sort_indices(position)  # stable: keeps the SQL order within an assessment
    rows = rows.take(order)
    per_row = assessments.take(position.take(order))
    columns = {
        name: per_row.column(name) if name in per_row.column_names else rows.column(name)
        for name in LONG_COLUMNS
    }
    return layout_tables.long_table(pa.table(columns))


def _read_current(reader_: reader.ArrowReader, scope: Scope, chunk: list[int], dialect: str):
    stmt = sql.long_rows(scope, chunk, dialect)
    parts = [export.long_table(batch) for batch in reader_.batches(stmt)]
    return pa.concat_tables(parts) if parts else None


def _prefetched(source: Iterator, depth: int = 1) -> Iterator:
    """Run ``source`` in a thread, ``depth`` items ahead; stops it when the consumer stops."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in source:
                if stop.is_set():
                    return
                items.put(item)
            items.put(done)
        except BaseException as exc:  # handed to the consumer
            items.put(exc)

    thread = threading.Thread(target=work, name="export-prefetch", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a put, then wait for the thread
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.05)
        thread.join()


def tables(self, limit: int | None = None, progress=None) -> Iterator[pa.Table]:
    """``ExportQuery.tables`` with the ``narrow`` and ``prefetch`` proposals."""
    layout = Layout(self.layout)
    if not layout.is_table:
        raise InvalidOptionError(
            f"layout {layout.value!r} is a file archive, not a table: use write_zip()"
        )
    filters = self.filters()
    attribute_names = list(self._attribute_names)
    file_ids = self.file_ids()
    dialect = self.store.dialect
    emitted = 0
    with reader.ArrowReader(self.store.engine, bulk=limit is None) as reader_:

        def chunks():
            for done, chunk in export._chunks(file_ids):
                if "narrow" in _applied:
                    yield done, read_long(reader_, filters.scope, chunk)
                else:
                    yield done, _read_current(reader_, filters.scope, chunk, dialect)

        source = chunks()
        if limit is None and "prefetch" in _applied:
            source = _prefetched(source)
        for done, table in source:
            if table is not None:
                if layout is Layout.wide:
                    table = export.wide_table(table, attribute_names)
                if self.format == "csv" and self.spreadsheet_safe:
                    table = export.spreadsheet_safe(table)
                if limit is not None and emitted + table.num_rows >= limit:
                    yield table.slice(0, limit - emitted)
                    return
                emitted += table.num_rows
                if table.num_rows:
                    yield table
            if progress:
                progress(done, len(file_ids))


# -- widefast ---------------------------------------------------------------------------------


def _plain(values) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _grouped(keys, attributes, values) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(key, attribute) -> its values joined with ' | ' in long-row order."""
    table = pa.table({"key": keys, "attribute": attributes, "value": values})
    grouped = table.group_by(["key", "attribute"], use_threads=False).aggregate([("value", "list")])
    joined = pc.binary_join(grouped.column("value_list"), layout_tables.MULTI_VALUE_SEPARATOR)
    return grouped.column("key"), grouped.column("attribute"), joined


def _aligned(base_keys, keys, attributes, joined, name: str):
    """One attribute's joined values aligned to ``base_keys`` (null where none)."""
    selected = pc.equal(attributes, name)
    picked = pc.filter(keys, selected)
    if len(picked) == 0:
        return pa.nulls(len(base_keys), pa.string())
    return pc.take(pc.filter(joined, selected), pc.index_in(base_keys, value_set=picked))


def wide_table(long: pa.Table, attribute_names) -> pa.Table:
    """``layout_tables.wide_table`` by hash lookups instead of joins; the same table."""
    separator = layout_tables.MULTI_VALUE_SEPARATOR
    ident = list(IDENTIFYING_COLUMNS)
    attribute, value = long.column("attribute"), long.column("value")
    annotation_id = long.column("annotation_id")
    is_location = pc.equal(attribute, LOCATION)
    is_class = pc.equal(attribute, OBJECT_CLASS)
    is_value = pc.invert(pc.or_(is_location, is_class))
    on_annotation = pc.and_(is_value, pc.is_valid(annotation_id))
    on_entity = pc.and_(is_value, pc.is_null(annotation_id))
    # (assessment, entity) as one int64: assessment id * 2^32 + the entity's index in the chunk
    entity_index = pc.index_in(long.column("entity_id"), value_set=pc.unique(long["entity_id"]))
    entity_key = pc.add(
        pc.multiply(long.column("assessment_id"), 1 << 32), pc.cast(entity_index, pa.int64())
    )

    locations = long.filter(is_location)
    classes = long.filter(is_class)
    columns = {name: locations.column(name) for name in ident}
    columns["object_class"] = pc.take(
        classes.column("value"),
        pc.index_in(locations.column("annotation_id"), value_set=classes["annotation_id"]),
    )
    columns["location"] = locations.column("value")
    columns["confidence"] = locations.column("confidence")
    base_annotation = locations.column("annotation_id")
    base_entity = pc.filter(entity_key, is_location)

    annotation_values = _grouped(
        pc.filter(annotation_id, on_annotation),
        pc.filter(attribute, on_annotation),
        pc.filter(value, on_annotation),
    )
    has_entity_values = pc.any(on_entity).as_py()
    if has_entity_values:
        entity_keys = pc.filter(entity_key, on_entity)
        entity_values = _grouped(
            entity_keys, pc.filter(attribute, on_entity), pc.filter(value, on_entity)
        )
        # Entities with values but no annotation in that assessment get one row of their own,
        # at the place of their first value.
        bare = pc.invert(pc.is_in(entity_keys, value_set=base_entity))
        if pc.any(bare).as_py():
            bare_keys = pc.filter(entity_keys, bare)
            first = pc.index_in(pc.unique(bare_keys), value_set=bare_keys)
            bare_rows = pc.take(pc.filter(pc.indices_nonzero(on_entity), bare), first)
            taken = long.take(bare_rows)
            count = taken.num_rows
            extra = {name: taken.column(name) for name in ident}
            extra["frame"] = pa.nulls(count, pa.int64())
            extra["object_class"] = pa.nulls(count, pa.string())
            extra["location"] = pa.nulls(count, pa.string())
            extra["confidence"] = pa.nulls(count, pa.float64())
            places = pa.concat_arrays([_plain(pc.indices_nonzero(is_location)), _plain(bare_rows)])
            order = pc.sort_indices(places)
            columns = {
                name: pc.take(pa.concat_arrays([_plain(column), _plain(extra[name])]), order)
                for name, column in columns.items()
            }
            base_annotation = columns["annotation_id"]
            bare_entity = pc.take(entity_key, bare_rows)
            base_entity = pc.take(
                pa.concat_arrays([_plain(base_entity), _plain(bare_entity)]), order
            )
    for name in attribute_names:
        from_annotation = _aligned(base_annotation, *annotation_values, name)
        if has_entity_values:
            from_entity = _aligned(base_entity, *entity_values, name)
            both = pc.binary_join_element_wise(from_annotation, from_entity, separator)
            columns[name] = pc.coalesce(both, from_annotation, from_entity)
        else:
            columns[name] = from_annotation
    return pa.table(columns, schema=layout_tables.wide_schema(attribute_names))


# -- applying -------------------------------------------------------------------------------


def apply(names) -> None:
    """Monkeypatch the named proposals (``ALL`` or a subset) into the running process."""
    if isinstance(names, str):
        names = names.split(",")
    names = set(names) - {"", "none"}
    if "all" in names:
        names = (names - {"all"}) | set(ALL)
    unknown = names - set(ALL) - set(EXTRA)
    if unknown:
        raise ValueError(f"unknown proposals {sorted(unknown)}; known: {', '.join(ALL + EXTRA)}")
    _applied.update(names)
    if names & {"narrow", "prefetch"}:
        export.ExportQuery.tables = tables
    if "widefast" in names:
        export.wide_table = wide_table
    if "syspool" in names:
        pa.set_memory_pool(pa.system_memory_pool())
    if "pgcost" in names:
        reader.ArrowReader._postgres = _postgres


def pytest_configure(config) -> None:
    """As a pytest plugin (``-p export_proposals``): run the tests against the proposals."""
    apply(os.environ.get("EXPORT_PROPOSALS", "all"))
