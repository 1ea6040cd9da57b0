"""Streaming a 2 GB Files ZIP through the /download route: the server's peak memory.

    .venv/bin/python bench/bench_route.py [--gib 2] [--out bench/RESULTS-route.md]

Writes --gib of incompressible file bytes (25 MiB files) into a fresh store, serves the app,
downloads the Files ZIP over HTTP and reads the server process's peak RSS (VmHWM) before
and after. Target (issue): under 300 MB peak while streaming a 2 GB archive.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.config import Settings  # noqa: E402
from dashboard.links import LOCAL_USER, download_url, sign  # noqa: E402
from dashboard.store import writer  # noqa: E402
from dashboard.store.db import open_store  # noqa: E402
from dashboard.store.models import DataFile  # noqa: E402
from tests.helpers import served_app  # noqa: E402

FILE_MIB = 25
SECRET = "bench-route-secret"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-route.md"))
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="bench-route-")) / "data"
    store = open_store(Settings.from_env({"ASSESS_DATA_DIR": str(data)}))
    files = max(1, round(args.gib * 1024 / FILE_MIB))
    block = os.urandom(1 << 20)
    with store.session() as session:
        workflow = writer.create_workflow(session, "route-bench", ["x"])
        source = writer.data_source(session, "disk")
        for index in range(files):
            payload = block * FILE_MIB + index.to_bytes(4, "big")
            key, digest = store.files.put_image(payload, ".jpg")
            session.add(
                DataFile(case=writer.case(session, workflow, str(index)), count=1,
                         data_source=source, file_name=f"{index}.jpg", content_type="image/jpeg",
                         width=1, height=1, byte_size=len(payload), sha256=digest,
                         storage_key=key)
            )  # fmt: skip
    store.dispose()
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": SECRET}
    with served_app(env) as base:
        log = (data / "serve.log").read_text()
        pid = int(next(line.split()[-1] for line in log.splitlines() if "process id" in line))
        before = peak_rss_mib(pid)
        token = sign(SECRET.encode(), LOCAL_USER, {"kind": "export", "options": {
            "workflow": "route-bench", "layout": "files"}})  # fmt: skip
        started = time.perf_counter()
        total = 0
        with urllib.request.urlopen(download_url(base, token), timeout=600) as response:
            while block := response.read(1 << 20):
                total += len(block)
        seconds = time.perf_counter() - started
        after = peak_rss_mib(pid)
    verdict = "met" if after < 300 else "MISSED"
    text = (
        "## Files ZIP through the download route (bench/bench_route.py)\n\n"
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {files} files of {FILE_MIB} MiB; load "
        f"{os.getloadavg()[0]:.1f}.\n\n"
        "| archive | seconds | MB/s | server peak RSS before | after | growth | target |\n"
        "|---:|---:|---:|---:|---:|---:|---|\n"
        f"| {total / 1e9:.2f} GB | {seconds:.1f} | {total / 1e6 / seconds:.0f} | "
        f"{before:.0f} MiB | {after:.0f} MiB | {after - before:.0f} MiB | "
        f"{verdict} (< 300 MB) |\n\n"
        "'before' is the served app with one dashboard session open (Panel, Bokeh, HoloViews, "
        "pandas and pyarrow loaded); the growth is what streaming the archive costs.\n"
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
