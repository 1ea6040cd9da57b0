"""Benchmark: the long and wide CSV exports against the naive pandas path and an Arrow floor.

    .venv/bin/python bench/bench_export.py [--sizes 1000000,4000000] [--backends sqlite,postgresql]
        [--repeat 3] [--repeat-large 1] [--pg-sizes 1000000]
        [--out bench/RESULTS-export.md]

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

Every path writes to the same counting sink (bytes and lines, no disk). Rows/s counts the long
rows read (the same input for every path), so time ratios and rows/s ratios agree. Peak RSS is
``ru_maxrss`` of the measuring process and, separately, of its waited-for children (our SQLite
export reads through an ADBC reader child process); every child imports the same modules
before the baseline is taken. Results go to ``--out`` as markdown (and stdout).

Targets: long CSV from SQLite >= 5x the naive path; wide CSV >= 5x the naive path; peak RSS
under 300 MB while exporting, the same at two sizes. PostgreSQL figures are recorded too, in a
schema of their own (``bench_export``) that is dropped at the end.
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
PG_SCHEMA = "bench_export"
PATHS = ["ours-long", "naive-long", "floor", "ours-wide", "naive-wide"]
TARGET_SPEEDUP = 5.0
TARGET_RSS_MB = 300.0


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
    from dashboard.query import sql
    from dashboard.query.export import ExportQuery
    from dashboard.query.options import Scope
    from dashboard.query.reader import compile_sql

    file_ids = ExportQuery(store, workflow=workflow, scope="all").file_ids()
    stmt = sql.long_rows(Scope.all, file_ids, store.dialect)
    if not ordered:
        stmt = stmt.order_by(None)
    return compile_sql(stmt, store.engine)


def _ours(store, workflow: str, layout: str, sink) -> int:
    from dashboard.query.export import ExportQuery

    return ExportQuery(store, workflow=workflow, scope="all", layout=layout).write_csv(sink)


def _naive_long(store, workflow: str, sink) -> int:
    import pandas as pd

    frame = pd.read_sql(_long_sql(store, workflow), store.engine)
    frame.to_csv(sink, index=False)
    return len(frame)


def _naive_wide(store, workflow: str, sink) -> int:
    import pandas as pd

    from dashboard.query.options import IDENTIFYING_COLUMNS, LOCATION, OBJECT_CLASS

    frame = pd.read_sql(_long_sql(store, workflow), store.engine)
    keys = list(IDENTIFYING_COLUMNS)
    # Entity-level values have no annotation (nor frame): give them a key pandas keeps.
    frame["annotation_id"] = frame["annotation_id"].fillna(-1)
    frame["frame"] = frame["frame"].fillna(-1)
    wide = frame.pivot_table(index=keys, columns="attribute", values="value", aggfunc="first")
    wide["confidence"] = frame[frame["attribute"] == LOCATION].set_index(keys)["confidence"]
    attributes = [
        name for name in frame["attribute"].unique() if name not in (LOCATION, OBJECT_CLASS)
    ]
    wide = wide.reset_index()[[*keys, OBJECT_CLASS, LOCATION, "confidence", *attributes]]
    wide.to_csv(sink, index=False)
    return len(wide)


def _floor(store, workflow: str, sink) -> int:
    import pyarrow.csv as pacsv

    from dashboard.layouts.writers import CSV_OPTIONS

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


def measure(args: argparse.Namespace) -> None:
    """Child: open the store, run one path once, print one JSON line."""
    # Every path imports the same modules first, so the baselines compare.
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import adbc_driver_sqlite.dbapi  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401

    import dashboard.query.export  # noqa: F401
    from dashboard.query import reader
    from dashboard.store.db import open_store

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
    from dashboard.query.export import ExportQuery
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
        for repeat in range(repeats):
            for path in args.paths:
                if path.startswith("naive") and repeat >= args.naive_repeat:
                    continue
                result = run_child(path, db_url, files_url)
                runs[path].append(result)
                print(
                    f"{label} {path:<12} {result['seconds']:7.2f} s  cpu "
                    f"{result['cpu_s']:5.1f}+{result['child_cpu_s']:4.1f} s  rss "
                    f"{result['rss_mb']:5.0f} MB  child {result['child_rss_mb']:4.0f} MB  "
                    f"lines {result['lines']:,}",
                    flush=True,
                )
        return {
            "backend": backend,
            "size": size,
            "totals": totals,
            "counts": counts,
            "runs": runs,
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


def report(results: list[dict], args, started: datetime, loads: tuple, elapsed: float) -> str:
    import adbc_driver_sqlite
    import pandas
    import pyarrow

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
    ]
    summary = []
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
            if not runs.get(path):
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
        if runs.get("ours-long") and runs.get("naive-long"):
            a, b = runs["ours-long"][0]["lines"], runs["naive-long"][0]["lines"]
            lines.append(
                f"- long CSV lines, ours vs naive: {a:,} vs {b:,} "
                f"({'equal' if a == b else '**DIFFERENT**'})"
            )
        lines.append("")

    lines += ["### Targets", ""]
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
        parser.add_argument("--path", required=True, choices=PATHS)
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
