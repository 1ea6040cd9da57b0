"""Cold counts: the preview's counts statement for a filter combination asked for the first time.

    .venv/bin/python bench/bench_counts.py [--rows 1000000] [--repeat 3]
                         [--backends sqlite,postgresql] [--out bench/RESULTS-counts.md]

A generated workflow of --rows long rows (bench/generate.py) on SQLite and, when reachable,
on the PostgreSQL server of this machine (a throwaway schema of database `test`). For each
filter combination a user reaches in bench_preview.py, the statement ExportQuery.counts()
runs (`sql.counts`) and the direct one it replaced (`sql.counts_direct`, "before") are run
--repeat times each, alternating, on a new connection, bypassing the counts cache (which is
what "cold" means: the first preview of a new combination). Reported: the medians, their
ratio, and whether the two gave the same numbers (the bench stops if not). Target (issue
"Many users at once"): under 300 ms at 1M rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.results import write_section  # noqa: E402
from dashboard.export import ExportQuery  # noqa: E402
from dashboard.query import sql  # noqa: E402
from dashboard.store.db import open_store  # noqa: E402

TARGET_MS = 300


def combinations(store, workflow: str) -> dict[str, dict]:
    choices = ExportQuery(store, workflow=workflow).choices()
    first_class = [choices.object_classes[0]]
    return {
        "Latest (no filter)": {},
        "All": {"scope": "all"},
        f"data source {choices.data_sources[0]}": {"data_source": choices.data_sources[0]},
        f"order {choices.orders[0]}": {"order": choices.orders[0]},
        "stage kind human": {"stage_kind": "human"},
        f"class {first_class[0]}": {"object_classes": first_class},
        "assessed from the middle day": {"assessed_from": middle_day(store, workflow)},
        "All + human + class": {
            "scope": "all",
            "stage_kind": "human",
            "object_classes": first_class,
        },
    }


def middle_day(store, workflow: str) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_preview import _middle_day

    return _middle_day(store, workflow).isoformat()


def timed(store, statement) -> tuple[float, tuple]:
    with store.engine.connect() as connection:
        started = time.perf_counter()
        row = connection.execute(statement).one()
        return (time.perf_counter() - started) * 1000, tuple(row)


def measure(store, workflow: str, repeat: int) -> list[tuple[str, float, float]]:
    """Per combination: the median ms of the direct statement (before) and of ``counts``."""
    rows = []
    for name, options in combinations(store, workflow).items():
        filters = ExportQuery(store, workflow=workflow, **options).filters()
        before, after = [], []
        for _ in range(repeat):  # alternating, so both see the same machine
            ms, direct = timed(store, sql.counts_direct(filters))
            before.append(ms)
            ms, counted = timed(store, sql.counts(filters))
            after.append(ms)
            if counted != direct:
                raise SystemExit(f"{name}: counts {counted} != direct {direct}")
        rows.append((name, statistics.median(before), statistics.median(after)))
    return rows


def main(argv: list[str] | None = None) -> None:
    from bench.generate import drop_pg_schema, generate, pg_schema_url

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-counts.md"))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-counts-"))
    lines = [
        "## Cold counts (bench/bench_counts.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python "
        f"{platform.python_version()}; load {os.getloadavg()[0]:.1f}; medians of {args.repeat}; "
        "the counts statement of a filter combination, its cache bypassed; before and after "
        "alternating in one run, the same numbers checked.",
    ]
    for backend in args.backends.split(","):
        sqlite_url = f"sqlite:///{work / 'big.db'}"
        url = sqlite_url if backend == "sqlite" else pg_schema_url("bench_counts")
        if url is None:
            lines += ["", f"### {backend}: not reachable, not measured"]
            continue
        try:
            totals = generate(url, str(work / f"{backend}-files"), args.rows)
            store = open_store(db_url=url, files_url=str(work / f"{backend}-files"))
            if backend == "postgresql":
                with store.engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            workflow = store.workflow_names()[0]
            rows = measure(store, workflow, args.repeat)
            store.dispose()
        finally:
            if backend == "postgresql":
                drop_pg_schema(url)
        lines += [
            "",
            f"### {backend}, {totals.long_rows:,} long rows ({totals.files:,} files, "
            f"{totals.assessments:,} assessments, {totals.annotations:,} annotations)",
            "",
            "| filters | before ms (direct) | after ms (counts) | after/before | target |",
            "|---|---:|---:|---:|---|",
        ]
        for name, before, after in rows:
            verdict = "met" if after < TARGET_MS else f"MISSED by {after / TARGET_MS:.1f}x"
            target = f"{verdict} (< {TARGET_MS} ms)"
            lines.append(
                f"| {name} | {before:.0f} | {after:.0f} | {after / before:.2f} | {target} |"
            )
    text_out = "\n".join(lines) + "\n"
    write_section(Path(args.out), text_out)  # the hand-written history after it stays
    print(text_out)


if __name__ == "__main__":
    main()
