"""Imports at bulk speed: the long-CSV and COCO importers against a parse-and-store floor.

    .venv/bin/python bench/bench_import.py [--rows 100000,1000000] [--coco 10000,100000]
                                           [--out bench/RESULTS-import.md]

Targets (issue "Real data in"): a long CSV of 1M rows at >= 20,000 rows/s on SQLite and within
3x the floor, PostgreSQL recorded; a COCO file of 10,000 images and 100,000 annotations in
under 60 s, the image bytes copied into the file storage included; peak RSS < 500 MB and flat
between 100k and 1M rows.

For each size, generates a workflow (``bench/generate.py``), exports it as a long CSV (scope
All) and, each in a fresh child process, times:

- ``floor``: ``pyarrow.csv.read_csv`` of the file and one ``executemany`` of its rows into a
  single flat SQLite table in one transaction (parsing and storing, nothing checked);
- ``ours``: ``import_long_csv`` into an empty SQLite store (every row checked, written by
  ``writer.BulkWriter``);
- ``ours-pg``: the same into an empty schema of the PostgreSQL at 127.0.0.1:5432 (skipped,
  and said so, when it is not reachable).

Then ``coco``: a COCO file of N small PNG images (on local disk) with M boxes, each with one
attribute, imported with ``import_coco(..., create=True)`` into an empty SQLite store.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
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


def _measure(path: str, source: str, work: str, db_url: str = "") -> None:
    """Child: one import, then one JSON line."""
    import pyarrow.csv  # noqa: F401 (the same imports for every path)

    from dashboard.store.db import open_store

    target = Path(work) / f"{path}-{os.getpid()}.db"
    db_url = db_url or f"sqlite:///{target}"
    if path == "floor":
        started = time.perf_counter()
        table = pyarrow.csv.read_csv(source)
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
    else:
        store = open_store(db_url=db_url, files_url=str(Path(work) / f"files-{os.getpid()}"))
        started = time.perf_counter()  # after the schema is created
        if path == "coco":
            from dashboard.importers.coco import import_coco

            summary = import_coco(
                store,
                "bench-coco",
                Path(source) / "coco.json",
                Path(source) / "images",
                stage="detector",
                stage_kind="machine",
                assessed_by="bench",
                create=True,
            )
            rows = summary.annotations
        else:
            from dashboard.importers.long_csv import import_long_csv

            summary = import_long_csv(store, source)
            rows = 2 * summary.annotations + summary.attribute_values
        seconds = time.perf_counter() - started
        store.dispose()
    target.unlink(missing_ok=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"path": path, "seconds": seconds, "rows": rows, "peak_mib": peak}))


def _run(path: str, source: Path, work: Path, db_url: str = "") -> dict:
    command = [sys.executable, __file__, "_measure", path, str(source), str(work), db_url]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _coco_files(folder: Path, images: int, annotations: int) -> None:
    """``folder/coco.json`` and ``folder/images/``: small distinct PNGs, boxes inside them."""
    from PIL import Image

    rng = random.Random(3)
    (folder / "images").mkdir(parents=True)
    records, boxes = [], []
    for number in range(1, images + 1):
        image = Image.new("RGB", (64, 48), (number % 251, number // 251 % 251, 90))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        name = f"img_{number:06d}.png"
        (folder / "images" / name).write_bytes(buffer.getvalue())
        records.append({"id": number, "file_name": name, "width": 64, "height": 48})
    for number in range(1, annotations + 1):
        x, y = rng.uniform(0, 40), rng.uniform(0, 30)
        boxes.append(
            {
                "id": number,
                "image_id": rng.randint(1, images),
                "category_id": rng.randint(1, 4),
                "bbox": [round(x, 2), round(y, 2), 12.5, 9.25],
                "score": round(rng.random(), 3),
                "attributes": {"occluded": rng.random() < 0.2},
            }
        )
    categories = [{"id": i, "name": name} for i, name in enumerate("abcd", 1)]
    document = {"images": records, "annotations": boxes, "categories": categories}
    (folder / "coco.json").write_text(json.dumps(document))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        _measure(*argv[1:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="long rows, comma-separated")
    parser.add_argument("--coco", default="10000,100000", help="images,annotations ('' = none)")
    parser.add_argument("--out", default=str(HERE / "RESULTS-import.md"))
    args = parser.parse_args(argv)
    from dashboard.export import ExportQuery
    from dashboard.store.db import open_store

    started = datetime.now(UTC)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"## Imports (bench/bench_import.py, {started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; load average at the start {load}. Each path in a "
        "fresh process, into an empty store. **floor** = `pyarrow.csv.read_csv` + one "
        "`executemany` into one flat SQLite table; **ours** = `import_long_csv` into SQLite "
        "(every row checked, written by `writer.BulkWriter`); **ours-pg** = the same into "
        "PostgreSQL. Targets: 1M rows at >= 20,000 rows/s and within 3x the floor on SQLite; "
        "peak RSS < 500 MB and flat.",
        "",
        "| long rows | CSV MB | path | seconds | rows/s | x floor | peak RSS MiB |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        for rows in (int(x) for x in args.rows.split(",") if x):
            db = work / f"source-{rows}.db"
            generate.generate(f"sqlite:///{db}", str(work / "files"), rows, seed=1)
            store = open_store(db_url=f"sqlite:///{db}", files_url=str(work / "files"))
            csv_path = work / f"long-{rows}.csv"
            written = ExportQuery(store, workflow=generate.WORKFLOW, scope="all").write_csv(
                csv_path
            )
            store.dispose()
            db.unlink()
            results = {path: _run(path, csv_path, work) for path in ("floor", "ours")}
            pg_url = generate.pg_schema_url("bench_import")
            if pg_url is not None:
                try:
                    results["ours-pg"] = _run("ours-pg", csv_path, work, pg_url)
                finally:
                    generate.drop_pg_schema(pg_url)
            floor = results["floor"]["seconds"]
            for path, result in results.items():
                print(path, rows, f"{result['seconds']:.2f} s", flush=True)
                lines.append(
                    f"| {written:,} | {csv_path.stat().st_size / 1e6:,.1f} | {path} | "
                    f"{result['seconds']:.2f} | {written / result['seconds']:,.0f} | "
                    f"{result['seconds'] / floor:.1f}x | {result['peak_mib']:.0f} |"
                )
            if pg_url is None:
                lines.append(f"| {written:,} | | ours-pg | PostgreSQL not reachable | | | |")
            csv_path.unlink()
        if args.coco:
            images, annotations = (int(x) for x in args.coco.split(","))
            folder = work / "coco"
            _coco_files(folder, images, annotations)
            result = _run("coco", folder, work)
            print("coco", f"{result['seconds']:.2f} s", flush=True)
            lines += [
                "",
                "| COCO images | annotations | seconds (files copied in included) | "
                "annotations/s | peak RSS MiB | target |",
                "|---:|---:|---:|---:|---:|---|",
                f"| {images:,} | {annotations:,} | {result['seconds']:.1f} | "
                f"{annotations / result['seconds']:,.0f} | {result['peak_mib']:.0f} | < 60 s |",
            ]
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
