"""Benchmark: the long and wide CSV exports against the naive pandas path and an Arrow floor.

    .venv/bin/python bench/bench_export.py [--sizes 1000000,4000000] [--backends sqlite,postgresql]
        [--repeat 3] [--repeat-large 1] [--pg-sizes 1000000] [--paths cli-long,duckdb-long,...]
        [--workdir /tmp/bench-work] [--out bench/RESULTS-export.md]

For each backend and size, generates a workflow (``bench/generate.py``: >= N long rows, about
N/5 annotations) and times on that database, interleaved, each run in a fresh child process of
this script (so peak RSS is per path):

- ``ours-long`` / ``ours-wide``: ``ExportQuery(store, scope="all", layout=...).write_csv``;
- ``naive-long``: ``pandas.read_sql`` of the same long SQL (``sql.long_rows`` of all files as
  one statement, literal binds) through SQLAlchemy, then ``DataFrame.to_csv``;
- ``naive-wide``: the same ``read_sql`` of everything, ``pivot_table`` to one row per
  annotation (first value per attribute, the location's confidence joined back), ``to_csv``;
- ``floor``: the same long SELECT without ORDER BY, one statement, through the ADBC driver
  in-process (``fetch_record_batch``) straight into ``pyarrow.csv.CSVWriter``;

and, as whole processes writing a real file in the same folder (``--workdir``/out), wall time
and peak RSS (``wait4``: the process and its waited-for children) taken by this script:

- ``cli-long`` / ``cli-wide``: ``assess-export export WORKFLOW --scope all --layout ... -q -o
  FILE``, the product as a user runs it (imports, schema check, counts, export);
- ``duckdb-long`` / ``duckdb-wide``: the peer of issue #14: a Python process with DuckDB
  (``DUCKDB_THREADS`` threads) and its sqlite or postgres extension (the ``duckdb-ext-*``
  packages ship them; ``pip install -e '.[bench]'``), attaching the same database and running
  ``COPY (...) TO FILE (HEADER)`` of the project's own one-statement long SQL
  (``sql.long_rows``, literal binds, the SQLite dialect, which DuckDB also reads), with the
  product's two sentinels (missing confidence -1.0, missing order '') turned back into NULL;
  wide: that SQL with a ``row_number()`` over its ORDER BY, pivoted with DuckDB's ``PIVOT``
  (values of an attribute joined with ' | ' in long-row order; entity-level values appended to
  each of the entity's annotation rows, bare entities and empty assessments as rows of their
  own: the product's wide rules). After the runs, each DuckDB file is parsed and compared
  cell by cell with the product's (``verify``).

The in-process paths write to the same counting sink (bytes and lines, no disk). Rows/s counts
the long rows read (the same input for every path), so time ratios and rows/s ratios agree.
Peak RSS is ``ru_maxrss`` of the measuring process and, separately, of its waited-for
children (our SQLite export reads through an ADBC reader child process); every child imports
the same modules before the baseline is taken. Results go to ``--out`` as markdown (and stdout).

Targets: long CSV from SQLite >= 5x the naive path; wide CSV >= 5x the naive path; peak RSS
under 300 MB while exporting, the same at two sizes; issue #14: the whole ``assess-export``
process within 1.2x DuckDB's wall time, long and wide, SQLite and PostgreSQL. PostgreSQL
figures are recorded in a schema of their own (``bench_export``) that is dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"  # the same database, for DuckDB
PG_SCHEMA = "bench_export"
# Whole processes writing a file (timed from here) first, then the in-process paths.
PROCESS_PATHS = ["cli-long", "duckdb-long", "cli-wide", "duckdb-wide"]
IN_PROCESS_PATHS = ["ours-long", "naive-long", "floor", "ours-wide", "naive-wide"]
PATHS = [*PROCESS_PATHS, *IN_PROCESS_PATHS]
TARGET_SPEEDUP = 5.0
TARGET_RSS_MB = 300.0
TARGET_PEER_RATIO = 1.2  # issue #14: our whole export process <= 1.2x DuckDB's wall time
DUCKDB_THREADS = 2


# -- the measuring child --------------------------------------------------------------------


class CountingSink(io.RawIOBase):
    """A binary sink that keeps only the number of bytes and lines (and a CRC if asked)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = memoryview(data).tobytes()
        self.bytes += len(data)
        self.lines += data.count(b"\n")
        return len(data)


def _mb(kib: int) -> float:
    return kib * 1024 / 1e6


def _usage() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "rss_mb": _mb(me.ru_maxrss),
        "child_rss_mb": _mb(kids.ru_maxrss),
        "cpu_s": me.ru_utime + me.ru_stime,
        "child_cpu_s": kids.ru_utime + kids.ru_stime,
    }


def _long_sql(store, workflow: str, ordered: bool = True) -> str:
    """The export's long SQL for every file of the workflow, as one statement."""
    from dashboard.export import ExportQuery
    from dashboard.query import sql
    from dashboard.query.reader import compile_sql
    from dashboard.spec.options import Scope

    file_ids = ExportQuery(store, workflow=workflow, scope="all").file_ids()
    stmt = sql.long_rows(Scope.all, file_ids, store.dialect)
    if not ordered:
        stmt = stmt.order_by(None)
    return compile_sql(stmt, store.engine)


def _ours(store, workflow: str, layout: str, sink) -> int:
    from dashboard.export import ExportQuery

    return ExportQuery(store, workflow=workflow, scope="all", layout=layout).write_csv(sink)


def _naive_long(store, workflow: str, sink) -> int:
    import pandas as pd

    frame = pd.read_sql(_long_sql(store, workflow), store.engine)
    frame.to_csv(sink, index=False)
    return len(frame)


def _naive_wide(store, workflow: str, sink) -> int:
    import pandas as pd

    from dashboard.spec.options import IDENTIFYING_COLUMNS, LOCATION, OBJECT_CLASS

    frame = pd.read_sql(_long_sql(store, workflow), store.engine)
    keys = list(IDENTIFYING_COLUMNS)
    # Entity-level values have no annotation (nor frame): give them a key pandas keeps.
    frame["annotation_id"] = frame["annotation_id"].fillna(-1)
    frame["frame"] = frame["frame"].fillna(-1)
    wide = frame.pivot_table(index=keys, columns="attribute", values="value", aggfunc="first")
    wide["confidence"] = frame[frame["attribute"] == LOCATION].set_index(keys)["confidence"]
    # An assessment without annotations and values has one long row with no attribute.
    attributes = [
        name
        for name in frame["attribute"].dropna().unique()
        if name not in (LOCATION, OBJECT_CLASS)
    ]
    wide = wide.reset_index()[[*keys, OBJECT_CLASS, LOCATION, "confidence", *attributes]]
    wide.to_csv(sink, index=False)
    return len(wide)


def _floor(store, workflow: str, sink) -> int:
    import pyarrow.csv as pacsv

    from dashboard.produce.writers import CSV_OPTIONS

    sql = _long_sql(store, workflow, ordered=False)
    if store.dialect == "sqlite":
        import adbc_driver_sqlite.dbapi as driver

        connection = driver.connect(store.engine.url.database, autocommit=True)
    else:
        import adbc_driver_postgresql.dbapi as driver
        from sqlalchemy.engine import make_url

        url = make_url(store.engine.url).set(drivername="postgresql")
        connection = driver.connect(url.render_as_string(hide_password=False), autocommit=True)
    rows = 0
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            reader = cursor.fetch_record_batch()
            with pacsv.CSVWriter(sink, reader.schema, write_options=CSV_OPTIONS) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        finally:
            cursor.close()
    finally:
        connection.close()
    return rows


# -- the DuckDB peer (issue #14) ------------------------------------------------------------

# The peer's whole process: DuckDB with its extension, one COPY of the prepared SQL to a file.
DUCKDB_PEER = r"""
import json, sys
import duckdb
spec = json.loads(sys.argv[1])
con = duckdb.connect(config={
    "threads": spec["threads"],
    "extension_directory": spec["extension_directory"],
    "autoinstall_known_extensions": "false",
})
con.execute("LOAD " + spec["extension"])
con.execute(spec["attach"])
con.execute(spec["use"])
with open(spec["sql"]) as f:
    query = f.read()
con.execute("COPY (" + query + ") TO '" + spec["out"] + "' (HEADER)")
"""


def _duckdb_extensions() -> str:
    """The extension folder the ``duckdb-ext-sqlite`` / ``duckdb-ext-postgres`` packages
    install into (``duckdb_ext/extensions/v<version>/<platform>/``): DuckDB's
    ``extension_directory``, so ``LOAD sqlite`` finds the shipped file with no download."""
    import importlib.util

    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the DuckDB peer needs: pip install -e '.[bench]'")
    return str(Path(next(iter(spec.submodule_search_locations))) / "extensions")


def _literal(stmt) -> str:
    """A statement as DuckDB reads it: SQLite's dialect with literal binds."""
    from sqlalchemy.dialects import sqlite

    return str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# The product turns its two sentinels back into NULL in Arrow (query.chunks.long_table).
_UNSENTINEL = (
    "* REPLACE (nullif(workflow_order, '') AS workflow_order, "
    "nullif(confidence, -1.0) AS confidence)"
)


def peer_sql(db_url: str, files_url: str, layout: str) -> str:
    """The DuckDB query of one layout: the project's one-statement long SQL, as the naive path
    reads it (``sql.long_rows`` of every file), in DuckDB's hands."""
    from sqlalchemy import func

    from dashboard.export import ExportQuery
    from dashboard.query import sql
    from dashboard.spec.options import IDENTIFYING_COLUMNS, LOCATION, OBJECT_CLASS, Scope
    from dashboard.store.db import open_store

    store = open_store(db_url=db_url, files_url=files_url, migrate_schema=False)
    try:
        query = ExportQuery(store, workflow=generate.WORKFLOW, scope="all", layout=layout)
        stmt = sql.long_rows(Scope.all, query.file_ids(), "sqlite")
        names = query.attribute_names
    finally:
        store.dispose()
    if layout == "long":
        return f"SELECT {_UNSENTINEL} FROM ({_literal(stmt)}) AS long_rows"
    # Wide: every long row's place in SPEC order, from the statement's own ORDER BY.
    keys = list(stmt._order_by_clauses)
    positioned = stmt.order_by(None).add_columns(
        func.row_number().over(order_by=keys).label("long_position")
    )
    ident = list(IDENTIFYING_COLUMNS)
    loc, cls = _text(LOCATION), _text(OBJECT_CLASS)
    in_list = ", ".join(_text(name) for name in names)
    bare_ident = ", ".join(
        f"NULL::BIGINT AS {c}" if c in ("annotation_id", "frame") else c for c in ident
    )
    attributes = ",\n  ".join(
        f"coalesce(a.{q} || ' | ' || e.{q}, a.{q}, e.{q}) AS {q}" for q in map(_quoted, names)
    )
    return f"""
WITH long AS (SELECT {_UNSENTINEL} FROM ({_literal(positioned)}) AS long_rows),
valued AS (SELECT * FROM long WHERE attribute NOT IN ({loc}, {cls})),
on_annotation AS (
  PIVOT (SELECT annotation_id, attribute,
                string_agg(value, ' | ' ORDER BY long_position) AS joined
         FROM valued WHERE annotation_id IS NOT NULL GROUP BY annotation_id, attribute)
  ON attribute IN ({in_list}) USING first(joined) GROUP BY annotation_id
),
on_entity AS (
  PIVOT (SELECT assessment_id, entity_id, attribute,
                string_agg(value, ' | ' ORDER BY long_position) AS joined
         FROM valued WHERE annotation_id IS NULL GROUP BY assessment_id, entity_id, attribute)
  ON attribute IN ({in_list}) USING first(joined) GROUP BY assessment_id, entity_id
),
located AS (SELECT * FROM long WHERE attribute = {loc}),
bare AS (
  SELECT * FROM valued AS v
  WHERE annotation_id IS NULL AND NOT EXISTS (
    SELECT 1 FROM located AS l
    WHERE l.assessment_id = v.assessment_id AND l.entity_id = v.entity_id)
  QUALIFY row_number() OVER (PARTITION BY assessment_id, entity_id ORDER BY long_position) = 1
),
wide_rows AS (
  SELECT {", ".join(f"l.{c}" for c in ident)}, c.value AS object_class, l.value AS location,
         l.confidence, l.long_position
  FROM located AS l
  LEFT JOIN (SELECT annotation_id, value FROM long WHERE attribute = {cls}) AS c
    ON c.annotation_id = l.annotation_id
  UNION ALL
  SELECT {bare_ident}, NULL, NULL, NULL::DOUBLE, long_position FROM bare
  UNION ALL
  SELECT {", ".join(ident)}, NULL, NULL, NULL::DOUBLE, long_position
  FROM long WHERE attribute IS NULL
)
SELECT {", ".join(f"r.{c}" for c in ident)}, r.object_class, r.location, r.confidence,
  {attributes}
FROM wide_rows AS r
LEFT JOIN on_annotation AS a ON a.annotation_id = r.annotation_id
LEFT JOIN on_entity AS e ON e.assessment_id = r.assessment_id AND e.entity_id = r.entity_id
ORDER BY r.long_position
"""


def peer_spec(db_url: str, files_url: str, layout: str, work: Path, out: Path) -> dict:
    """What the DuckDB process gets: its extension, how to attach the store, the SQL file."""
    query = work / f"duckdb-{layout}.sql"
    query.write_text(peer_sql(db_url, files_url, layout))
    if db_url.startswith("sqlite:///"):
        database = db_url.removeprefix("sqlite:///")
        extension = "sqlite"
        attach = f"ATTACH {_text(database)} AS store (TYPE sqlite, READ_ONLY)"
        use = "USE store"
    else:
        extension = "postgres"
        schema = _text(PG_SCHEMA)
        attach = f"ATTACH {_text(PG_DSN)} AS store (TYPE postgres, SCHEMA {schema}, READ_ONLY)"
        use = f"USE store.{PG_SCHEMA}"
    return {
        "threads": DUCKDB_THREADS,
        "extension_directory": _duckdb_extensions(),
        "extension": extension,
        "attach": attach,
        "use": use,
        "sql": str(query),
        "out": str(out),
    }


def _assess_export() -> list[str]:
    script = Path(sys.executable).parent / "assess-export"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dashboard.cli"]


def process_command(path: str, db_url: str, files_url: str, work: Path) -> tuple[list, dict, Path]:
    """(command, environment, output file) of a whole-process path."""
    kind, layout = path.split("-")
    out = work / "out" / f"{path}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if kind == "cli":
        env |= {
            "ASSESS_DB_URL": db_url,
            "ASSESS_FILES_URL": files_url,
            "ASSESS_DATA_DIR": str(work / "cli-data"),
        }
        command = [*_assess_export(), "export", generate.WORKFLOW, "--scope", "all", "--layout"]
        return [*command, layout, "-q", "-o", str(out)], env, out
    spec = peer_spec(db_url, files_url, layout, work, out)
    return [sys.executable, "-c", DUCKDB_PEER, json.dumps(spec)], env, out


def run_process(command: list[str], env: dict, out: Path) -> dict:
    """Run one whole process; wall time, peak RSS and CPU of it and its waited-for children
    (``wait4``), then the size and lines of the file it wrote."""
    out.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"{command[:3]} failed ({child.returncode}):\n{tail}")
    lines = 0
    with open(out, "rb") as written:
        while block := written.read(1 << 22):
            lines += block.count(b"\n")
    return {
        "seconds": seconds,
        "rows": None,
        "bytes": out.stat().st_size,
        "lines": lines,
        "baseline_rss_mb": 0.0,
        "rss_mb": _mb(usage.ru_maxrss),
        "child_rss_mb": 0.0,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "child_cpu_s": 0.0,
    }


def verify(ours: Path, peer: Path) -> dict:
    """Ours and the peer's CSV parsed and compared row by row, cell by cell (the text of each
    cell: quoting and NULL-vs-empty are not compared); the raw bytes compared as well."""
    import csv
    import filecmp

    by_column: dict[str, int] = {}
    example: dict[str, tuple] = {}
    rows = differing = escaped = 0
    with (
        open(ours, newline="", encoding="utf-8") as a,
        open(peer, newline="", encoding="utf-8") as b,
    ):
        left, right = csv.reader(a), csv.reader(b)
        header = next(left)
        peer_header = next(right, [])
        for ours_row, peer_row in zip(left, right, strict=False):
            rows += 1
            if ours_row == peer_row:
                continue
            differing += 1
            for index, name in enumerate(header):
                mine = ours_row[index] if index < len(ours_row) else None
                theirs = peer_row[index] if index < len(peer_row) else None
                if mine != theirs:
                    by_column[name] = by_column.get(name, 0) + 1
                    example.setdefault(name, (mine, theirs))
                    if mine == f"'{theirs}":  # ours escapes it for spreadsheets
                        escaped += 1
        rest = sum(1 for _ in left), sum(1 for _ in right)
    return {
        "rows_compared": rows,
        "rows_differing": differing,
        "extra_rows": rest,  # (ours, peer) rows left when the other file ended
        "header_equal": header == peer_header,
        "by_column": by_column,
        "cells_escaped": escaped,  # differing cells that are ours' spreadsheet escape ('...)
        "examples": {k: [str(x)[:60] for x in v] for k, v in example.items()},
        "bytes_equal": filecmp.cmp(ours, peer, shallow=False),
    }


def measure(args: argparse.Namespace) -> None:
    """Child: open the store, run one path once, print one JSON line."""
    # Every path imports the same modules first, so the baselines compare.
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import adbc_driver_sqlite.dbapi  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401

    import dashboard.export  # noqa: F401
    from dashboard.query import reader
    from dashboard.runtime import tune_process
    from dashboard.store.db import open_store

    tune_process()  # the process settings of the CLI, the server and a worker, for every path
    base = args.path
    store = open_store(db_url=args.db_url, files_url=args.files_url, migrate_schema=False)
    before = _usage()
    raw = CountingSink()
    sink = io.BufferedWriter(raw, buffer_size=1 << 20)
    started = time.perf_counter()
    if base in ("ours-long", "ours-wide"):
        rows = _ours(store, args.workflow, base.removeprefix("ours-"), sink)
    elif base == "naive-long":
        rows = _naive_long(store, args.workflow, sink)
    elif base == "naive-wide":
        rows = _naive_wide(store, args.workflow, sink)
    elif base == "floor":
        rows = _floor(store, args.workflow, sink)
    else:
        raise SystemExit(f"unknown path {args.path}")
    sink.flush()
    seconds = time.perf_counter() - started
    # Stop our idle SQLite reader child and wait for it, so RUSAGE_CHILDREN includes it.
    reader._children.close_all()
    after = _usage()
    store.dispose()
    result = {
        "path": args.path,
        "seconds": seconds,
        "rows": rows,
        "bytes": raw.bytes,
        "lines": raw.lines,
        "baseline_rss_mb": before["rss_mb"],
        **after,
        "cpu_s": after["cpu_s"] - before["cpu_s"],
    }
    print(json.dumps(result))


# -- the parent -----------------------------------------------------------------------------


def run_child(path: str, db_url: str, files_url: str):
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_measure",
        "--path",
        path,
        "--db-url",
        db_url,
        "--files-url",
        files_url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{path} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def prepare_sqlite(work: Path, rows: int, seed: int) -> tuple[str, str, dict]:
    """A generated SQLite store, reused from ``work`` when it matches rows, seed and version."""
    db = work / f"bench-{rows}.db"
    marker = work / f"bench-{rows}.json"
    files_url = str(work / "files")
    key = {"rows": rows, "seed": seed, "version": generate.GENERATOR_VERSION}
    if db.exists() and marker.exists():
        saved = json.loads(marker.read_text())
        if saved.get("key") == key:
            return f"sqlite:///{db}", files_url, saved["totals"] | {"reused": True}
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), marker):
        stale.unlink(missing_ok=True)
    totals = generate.generate(f"sqlite:///{db}", files_url, rows, seed)
    saved = {**totals.__dict__, "long_rows": totals.long_rows}
    marker.write_text(json.dumps({"key": key, "totals": saved}))
    return f"sqlite:///{db}", files_url, saved


def pg_admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()


def prepare_postgres(work: Path, rows: int, seed: int) -> tuple[str, str, dict]:
    pg_admin(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
    pg_admin(f'CREATE SCHEMA "{PG_SCHEMA}"')
    url = f"{PG_BASE}?options=-csearch_path%3D{PG_SCHEMA}"
    files_url = str(work / "files")
    totals = generate.generate(url, files_url, rows, seed)
    return url, files_url, {**totals.__dict__, "long_rows": totals.long_rows}


def layout_counts(db_url: str, files_url: str) -> dict:
    from dashboard.export import ExportQuery
    from dashboard.store.db import open_store

    store = open_store(db_url=db_url, files_url=files_url, migrate_schema=False)
    try:
        out = {}
        for layout in ("long", "wide"):
            query = ExportQuery(store, workflow=generate.WORKFLOW, scope="all", layout=layout)
            out[layout] = query.counts().rows
        return out
    finally:
        store.dispose()


def _db_bytes(db_url: str) -> int | None:
    if db_url.startswith("sqlite:///"):
        return Path(db_url.removeprefix("sqlite:///")).stat().st_size
    return None


def bench_one(backend: str, size: int, repeats: int, work: Path, args) -> dict:
    prepare = prepare_sqlite if backend == "sqlite" else prepare_postgres
    label = f"[{backend} {size:,}]"
    print(f"{label} generating ...", flush=True)
    db_url, files_url, totals = prepare(work, size, args.seed)
    print(f"{label} {totals}", flush=True)
    try:
        counts = layout_counts(db_url, files_url)
        runs: dict[str, list[dict]] = {path: [] for path in args.paths}
        processes = {
            path: process_command(path, db_url, files_url, work)
            for path in args.paths
            if path in PROCESS_PATHS
        }
        for repeat in range(repeats):
            for path in args.paths:
                if path.startswith("naive") and repeat >= args.naive_repeat:
                    continue
                if path in processes:
                    result = run_process(*processes[path])
                else:
                    result = run_child(path, db_url, files_url)
                runs[path].append(result)
                print(
                    f"{label} {path:<12} {result['seconds']:7.2f} s  cpu "
                    f"{result['cpu_s']:5.1f}+{result['child_cpu_s']:4.1f} s  rss "
                    f"{result['rss_mb']:5.0f} MB  child {result['child_rss_mb']:4.0f} MB  "
                    f"lines {result['lines']:,}",
                    flush=True,
                )
        checks = {}
        for layout in ("long", "wide"):
            ours, peer = processes.get(f"cli-{layout}"), processes.get(f"duckdb-{layout}")
            if ours and peer and ours[2].exists() and peer[2].exists():
                checks[layout] = verify(ours[2], peer[2])
                print(f"{label} {layout}: ours vs DuckDB {checks[layout]}", flush=True)
        for _command, _env, out in processes.values():
            out.unlink(missing_ok=True)
        return {
            "backend": backend,
            "size": size,
            "totals": totals,
            "counts": counts,
            "runs": runs,
            "checks": checks,
            "db_bytes": _db_bytes(db_url),
        }
    finally:
        if backend == "postgresql":
            pg_admin(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')


# -- the report -----------------------------------------------------------------------------


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _cpu(runs: list[dict]) -> float:
    return statistics.median(run["cpu_s"] + run["child_cpu_s"] for run in runs)


def _peak(runs: list[dict]) -> float:
    """The larger of the process's and the reader child's peak RSS, over the runs."""
    return max(max(run["rss_mb"], run["child_rss_mb"]) for run in runs)


def _verdict(met: bool) -> str:
    return "met" if met else "**MISSED**"


def _check_line(check: dict) -> str:
    """One line on how the DuckDB file compares with ours."""
    extra = check["extra_rows"]
    same_rows = check["rows_differing"] == 0 and extra == (0, 0)
    text = (
        f"DuckDB's file vs ours: {check['rows_compared']:,} rows compared in order, "
        f"{check['rows_differing']:,} differ"
    )
    if extra != (0, 0):
        text += f", rows left over (ours, DuckDB) {extra[0]:,}, {extra[1]:,}"
    text += f"; header {'equal' if check['header_equal'] else 'differs'}"
    if check["by_column"]:
        cells = ", ".join(
            f"{name} {count:,} (e.g. ours {check['examples'][name][0]!r}, DuckDB "
            f"{check['examples'][name][1]!r})"
            for name, count in sorted(check["by_column"].items(), key=lambda x: -x[1])
        )
        text += f"; differing cells by column: {cells}"
        total = sum(check["by_column"].values())
        if check.get("cells_escaped") == total:
            text += (
                f"; all {total:,} differing cells are ours' spreadsheet-safety escape (a leading "
                "' before =, +, -, @, which DuckDB does not add)"
            )
        else:
            text += (
                f"; {check.get('cells_escaped', 0):,} of {total:,} differing cells are ours' "
                "spreadsheet-safety escape (a leading ')"
            )
    text += (
        "; same cell text" if same_rows else ""
    ) + f"; bytes {'identical' if check['bytes_equal'] else 'differ (quoting)'}"
    return text


def report(results: list[dict], args, started: datetime, loads: tuple, elapsed: float) -> str:
    import adbc_driver_sqlite
    import pandas
    import pyarrow

    try:
        import duckdb

        duckdb_version = duckdb.__version__
    except ImportError:
        duckdb_version = "(not installed)"

    lines = [
        f"## Long and wide CSV export ({started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"pyarrow {pyarrow.__version__}, pandas {pandas.__version__}, "
        f"adbc-driver-sqlite {adbc_driver_sqlite.__version__}, "
        f"SQLite {sqlite3.sqlite_version}; PostgreSQL on 127.0.0.1. Load average at the start "
        f"{loads[0]}, at the end {loads[1]}. Whole run {elapsed / 60:.1f} min "
        f"(`bench/bench_export.py {' '.join(args.argv)}`).",
        "",
        "Each run is a fresh process; paths interleaved; medians. Output goes to a counting "
        "sink (no disk). **ours** = `ExportQuery(scope='all', layout=...).write_csv`; "
        "**naive-long** = `pandas.read_sql` of the same long SQL (one "
        "statement) + `to_csv`; **naive-wide** = the same `read_sql` + `pivot_table` "
        "(first value per attribute; entity-level values as rows of their own) + `to_csv`; "
        "**floor** = the same SELECT without ORDER BY through ADBC in-process into "
        "`pyarrow.csv.CSVWriter`. rows/s = long rows read per second (the same input for "
        "every path). CPU = user+sys of the process and its reader child. Peak RSS in MB "
        "(10^6 bytes): the process (`ru_maxrss`) and, separately, its reader child; "
        "baseline = the process after its imports, before the export.",
        "",
        "Issue #14's peer, as whole processes writing a real file in the same folder, timed "
        "and measured (`wait4`: peak RSS of the process and its waited-for children, CPU of "
        "both) by the benchmark: **cli** = `assess-export export WORKFLOW --scope all "
        f"--layout ... -q -o FILE`; **duckdb** = Python + DuckDB {duckdb_version} "
        f"({DUCKDB_THREADS} threads) with its sqlite / postgres extension "
        "(`duckdb-ext-sqlite`, `duckdb-ext-postgres`) attached to the same database, "
        "`COPY (...) TO FILE (HEADER)` of the project's one-statement long SQL "
        "(`sql.long_rows`, the naive path's SQL) with the two sentinels turned back into "
        "NULL; wide: the same rows pivoted with DuckDB's `PIVOT` by the product's wide rules. "
        "The files are then parsed and compared cell by cell.",
        "",
    ]
    summary = []
    peers = []
    rss: dict[str, dict[int, float]] = {}
    for result in results:
        backend, runs, counts = result["backend"], result["runs"], result["counts"]
        totals, long_rows = result["totals"], result["counts"]["long"]
        db = f"; database file {result['db_bytes'] / 1e6:,.0f} MB" if result["db_bytes"] else ""
        reused = " (reused)" if totals.get("reused") else ""
        lines += [
            f"### {backend}, {long_rows:,} long rows",
            "",
            f"{totals['files']:,} files, {totals['assessments']:,} assessments, "
            f"{totals['annotations']:,} annotations, {totals['attribute_values']:,} attribute "
            f"values, {totals['entities']:,} entities; {counts['wide']:,} wide rows{db}; "
            f"generated in {totals['seconds']:.0f} s{reused}.",
            "",
            "| path | runs | median s | long rows/s | CPU s | lines | MB out | "
            "peak RSS MB | reader child MB | baseline MB | runs (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for path in args.paths:
            if not runs.get(path) or path in PROCESS_PATHS:
                continue
            done = runs[path]
            median = _median(done, "seconds")
            lines.append(
                f"| {path} | {len(done)} | {median:.2f} | {long_rows / median:,.0f} | "
                f"{_cpu(done):.1f} | {done[0]['lines']:,} | {done[0]['bytes'] / 1e6:,.0f} | "
                f"{max(r['rss_mb'] for r in done):,.0f} | "
                f"{max(r['child_rss_mb'] for r in done):,.0f} | "
                f"{_median(done, 'baseline_rss_mb'):,.0f} | "
                + " ".join(f"{r['seconds']:.2f}" for r in done)
                + " |"
            )
        lines.append("")
        whole = [path for path in args.paths if path in PROCESS_PATHS and runs.get(path)]
        if whole:
            lines += [
                "Whole processes, output to a file:",
                "",
                "| path | runs | median s | long rows/s | CPU s | lines | MB out | "
                "peak RSS MB | runs (s) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---|",
            ]
            for path in whole:
                done = runs[path]
                median = _median(done, "seconds")
                lines.append(
                    f"| {path} | {len(done)} | {median:.2f} | {long_rows / median:,.0f} | "
                    f"{_cpu(done):.1f} | {done[0]['lines']:,} | {done[0]['bytes'] / 1e6:,.0f} "
                    f"| {_peak(done):,.0f} | "
                    + " ".join(f"{r['seconds']:.2f}" for r in done)
                    + " |"
                )
            lines.append("")

        def seconds(path: str, runs=runs) -> float | None:
            return _median(runs[path], "seconds") if runs.get(path) else None

        def cpu(path: str, runs=runs) -> float | None:
            return _cpu(runs[path]) if runs.get(path) else None

        for layout in ("long", "wide"):
            ours, naive = f"ours-{layout}", f"naive-{layout}"
            if seconds(ours) and seconds(naive):
                speedup = seconds(naive) / seconds(ours)
                met = speedup >= TARGET_SPEEDUP
                lines.append(
                    f"- {layout}: `{ours}` is **{speedup:.1f}x** the naive path's rows/s "
                    f"(target >= {TARGET_SPEEDUP:.0f}x: {_verdict(met)}); in CPU time "
                    f"{cpu(naive) / cpu(ours):.1f}x"
                )
                summary.append((f"{backend} {long_rows:,}, {layout}, `{ours}`", speedup, met))
            if seconds(ours) and seconds("floor"):
                lines.append(
                    f"- {layout}: `{ours}` takes **{seconds(ours) / seconds('floor'):.2f}x** "
                    f"the floor's time (CPU {cpu(ours) / cpu('floor'):.2f}x)"
                )
            if runs.get(ours):
                written = runs[ours][0]["lines"] - 1
                same = written == counts[layout]
                lines.append(
                    f"- {layout}: ours wrote {written:,} rows; `counts()` says "
                    f"{counts[layout]:,} ({'equal' if same else '**DIFFERENT**'})"
                )
            if runs.get(ours):
                rss.setdefault(f"{backend} `{ours}`", {})[long_rows] = _peak(runs[ours])
            cli, peer = f"cli-{layout}", f"duckdb-{layout}"
            if seconds(cli) and seconds(peer):
                ratio = seconds(cli) / seconds(peer)
                met = ratio <= TARGET_PEER_RATIO
                verdict = "met" if met else "not met"
                line = (
                    f"{backend} {long_rows:,} {layout}: ours vs DuckDB: {ratio:.2f}x wall time "
                    f"(target <= "
                    f"{TARGET_PEER_RATIO}x: {verdict}), peak RSS ours {_peak(runs[cli]):.0f} MB "
                    f"vs DuckDB {_peak(runs[peer]):.0f} MB"
                )
                lines.append(
                    f"- **{line}**; CPU ours {cpu(cli):.1f} s vs DuckDB {cpu(peer):.1f} s "
                    f"({seconds(cli):.2f} s vs {seconds(peer):.2f} s, {long_rows:,} long rows)"
                )
                peers.append(line)
            check = result.get("checks", {}).get(layout)
            if check:
                lines.append(f"- {layout}: {_check_line(check)}")
        if runs.get("ours-long") and runs.get("naive-long"):
            a, b = runs["ours-long"][0]["lines"], runs["naive-long"][0]["lines"]
            lines.append(
                f"- long CSV lines, ours vs naive: {a:,} vs {b:,} "
                f"({'equal' if a == b else '**DIFFERENT**'})"
            )
        lines.append("")

    lines += ["### Targets", ""]
    lines += [f"- {line}" for line in peers]
    for name, speedup, met in summary:
        lines.append(f"- {name}: {speedup:.1f}x the naive path (>= 5x: {_verdict(met)})")
    for name, by_size in rss.items():
        sizes = sorted(by_size)
        under = all(v < TARGET_RSS_MB for v in by_size.values())
        figures = ", ".join(f"{by_size[s]:.0f} MB at {s:,} rows" for s in sizes)
        flat = ""
        if len(sizes) > 1:
            low, high = by_size[sizes[0]], by_size[sizes[-1]]
            same = high <= low * 1.1 + 10
            flat = f"; {'flat' if same else '**GROWS**'} across sizes ({high / low:.2f}x)"
        lines.append(
            f"- {name} peak RSS (larger of process and reader child): {figures} "
            f"(< 300 MB: {_verdict(under)}{flat})"
        )
    lines.append("")
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--path", required=True, choices=IN_PROCESS_PATHS)
        parser.add_argument("--db-url", required=True)
        parser.add_argument("--files-url", required=True)
        parser.add_argument("--workflow", default=generate.WORKFLOW)
        measure(parser.parse_args(argv[1:]))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="one size (same as --sizes N)")
    parser.add_argument("--sizes", default="1000000,4000000", help="long rows, comma-separated")
    parser.add_argument("--pg-sizes", default=None, help="PostgreSQL sizes (default: the first)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--paths", default=None, help=f"default: {','.join(PATHS)}")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path at the first size")
    parser.add_argument("--repeat-large", type=int, default=1, help="runs at the other sizes")
    parser.add_argument("--naive-repeat", type=int, default=99, help="cap on naive runs")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--workdir", default=None, help="keep (and reuse) SQLite stores here")
    parser.add_argument("--out", default=str(HERE / "RESULTS-export.md"))
    args = parser.parse_args(argv)
    args.argv = argv
    sizes = [args.rows] if args.rows else [int(x) for x in args.sizes.split(",")]
    pg_sizes = [int(x) for x in args.pg_sizes.split(",")] if args.pg_sizes else sizes[:1]
    if args.paths:
        args.paths = args.paths.split(",")
    else:
        args.paths = list(PATHS)

    started = datetime.now(UTC)
    clock = time.perf_counter()
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for backend in args.backends.split(","):
            for index, size in enumerate(sizes if backend == "sqlite" else pg_sizes):
                repeats = args.repeat if index == 0 else args.repeat_large
                results.append(bench_one(backend, size, repeats, work, args))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    loads = (load_at_start, " ".join(f"{x:.2f}" for x in os.getloadavg()))
    text = report(results, args, started, loads, time.perf_counter() - clock)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
