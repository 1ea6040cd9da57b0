"""Importing a long CSV: our importer against the floor of parsing and storing the same rows.

    .venv/bin/python bench/bench_import.py [--rows 20000,100000] [--out bench/RESULTS-import.md]

For each size, generates a workflow (``bench/generate.py``), exports it as a long CSV (scope
All) and, each in a fresh child process, times:

- ``ours``: ``dashboard.store.csv_import.import_long_csv`` into an empty SQLite store (the
  importer checks every row and writes through ``dashboard.store.writer``);
- ``floor``: ``pyarrow.csv.read_csv`` of the same file and one ``executemany`` of its rows
  into a single flat SQLite table in one transaction (parsing and storing, nothing checked
  or normalised).

Records rows/s, the ratio to the floor and peak RSS. No target was set by an issue: this is
the baseline for making imports faster (see the closing note of session 2).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
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


def _measure(path: str, csv_path: str, work: str) -> None:
    """Child: one import, then one JSON line."""
    import pyarrow.csv  # noqa: F401 (the same imports for both paths)

    from dashboard.store.csv_import import import_long_csv
    from dashboard.store.db import open_store

    target = Path(work) / f"{path}-{os.getpid()}.db"
    started = time.perf_counter()
    if path == "ours":
        store = open_store(db_url=f"sqlite:///{target}", files_url=str(Path(work) / "files"))
        started = time.perf_counter()  # after the schema is created
        summary = import_long_csv(store, csv_path)
        seconds = time.perf_counter() - started
        store.dispose()
        rows = 2 * summary.annotations + summary.attribute_values
    else:
        table = pyarrow.csv.read_csv(csv_path)
        connection = sqlite3.connect(target)
        names = table.column_names
        connection.execute(f"CREATE TABLE long_rows ({', '.join(names)})")
        with connection:
            connection.executemany(
                f"INSERT INTO long_rows VALUES ({', '.join('?' for _ in names)})",
                zip(*(table.column(name).to_pylist() for name in names), strict=True),
            )
        seconds = time.perf_counter() - started
        rows = table.num_rows
        connection.close()
    target.unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"path": path, "seconds": seconds, "rows": rows, "peak_mib": peak}))


def _run(path: str, csv_path: Path, work: Path) -> dict:
    command = [sys.executable, __file__, "_measure", path, str(csv_path), str(work)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        _measure(*argv[1:4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="20000,100000", help="long rows, comma-separated")
    parser.add_argument("--out", default=str(HERE / "RESULTS-import.md"))
    args = parser.parse_args(argv)
    from dashboard.query.export import ExportQuery
    from dashboard.store.db import open_store

    started = datetime.now(UTC)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"## Long-CSV import (bench/bench_import.py, {started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; load average at the start {load}. Each path in a "
        "fresh process; into an empty SQLite file. **ours** = `import_long_csv` (checks and "
        "normalises every row, writes through the writer); **floor** = `pyarrow.csv.read_csv` "
        "+ one `executemany` into one flat table.",
        "",
        "| long rows | CSV MB | path | seconds | rows/s | x floor | peak RSS MiB |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        for rows in (int(x) for x in args.rows.split(",")):
            db = work / f"source-{rows}.db"
            generate.generate(f"sqlite:///{db}", str(work / "files"), rows, seed=1)
            store = open_store(db_url=f"sqlite:///{db}", files_url=str(work / "files"))
            csv_path = work / f"long-{rows}.csv"
            written = ExportQuery(store, workflow=generate.WORKFLOW, scope="all").write_csv(
                csv_path
            )
            store.dispose()
            results = {path: _run(path, csv_path, work) for path in ("floor", "ours")}
            floor = results["floor"]["seconds"]
            for path, result in results.items():
                print(path, rows, f"{result['seconds']:.2f} s", flush=True)
                lines.append(
                    f"| {written:,} | {csv_path.stat().st_size / 1e6:,.1f} | {path} | "
                    f"{result['seconds']:.2f} | {written / result['seconds']:,.0f} | "
                    f"{result['seconds'] / floor:.0f}x | {result['peak_mib']:.0f} |"
                )
    lines += [
        "",
        "Where the time goes (cProfile, 20k rows): SQLAlchemy's unit of work, one flush per "
        "annotation (to learn its id), about half of the time; parsing and checking the rows "
        "about a tenth.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
