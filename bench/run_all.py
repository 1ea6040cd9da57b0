"""Run every benchmark in one go and assemble bench/RESULTS.md from their sections.

    make bench          # or: .venv/bin/python bench/run_all.py [--quick]

Each script writes its own section (bench/RESULTS-<name>.md); this joins them in a fixed
order under one header. Needs Info-ZIP's `zip` (Debian: apt-get install zip) for the ZIP
bench, Debian's Chromium for the browser part of the preview bench, and the local
PostgreSQL for the export bench's PostgreSQL figures. Takes about half an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = {
    "export": ["bench_export.py"],
    "zip": ["bench_zip.py"],
    "drawing": ["bench_drawing.py"],
    "route": ["bench_route.py"],
    "preview": ["bench_preview.py"],
    "preview-images": ["bench_preview_images.py"],
    "import": ["bench_import.py"],
    "counts": ["bench_counts.py"],
    "sessions": ["bench_sessions.py"],
}
QUICK = {
    "export": ["--sizes", "1000000", "--repeat", "1", "--backends", "sqlite"],
    "zip": ["--files", "100"],
    "drawing": ["--images", "50", "--repeats", "1"],
    "route": ["--gib", "0.25"],
    "preview": ["--repeat", "2", "--rows", "200000"],
    "preview-images": ["--images", "3"],
    "import": ["--rows", "20000", "--coco", "300,3000"],
    "counts": ["--rows", "100000", "--repeat", "1"],
    "sessions": ["--changes", "2"],
}

HEADER = """# Benchmark results

Measured on this project's machine kind (2 cores, shared and noisy): ratios are taken
within one run, on the same data, and each section says its load. Regenerate with
`make bench`. Each section below is written by its script in `bench/`.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run all benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", choices=sorted(SCRIPTS), default=None)
    parser.add_argument(
        "--assemble", action="store_true", help="run nothing: only join the existing sections"
    )
    args = parser.parse_args(argv)
    for name in [] if args.assemble else args.only or SCRIPTS:
        out = BENCH / f"RESULTS-{name}.md"
        command = [sys.executable, str(BENCH / SCRIPTS[name][0]), "--out", str(out)]
        if args.quick:
            command += QUICK[name]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        subprocess.run(command, check=True)
    sections = [HEADER, f"Assembled {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.\n"]
    for name in SCRIPTS:
        part = BENCH / f"RESULTS-{name}.md"
        if part.exists():
            sections.append(part.read_text())
    (BENCH / "RESULTS.md").write_text("\n".join(sections))
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
