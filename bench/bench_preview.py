"""Preview latency: from an option change to the updated preview, server side and in the browser.

    .venv/bin/python bench/bench_preview.py [--rows 1000000] [--repeat 5] [--out FILE]

Server side: the Admin tab (dashboard.web.ui.admin.AdminTab) is built in this process and each
option is changed through its widget; the time is the widget's whole callback: counts, the
first rows, the estimated size and the new Tabulator (what a user waits for, minus the
network). Cold: the first time a combination of options is shown; warm: again later (counts
are cached until data is added). Measured on the demo workflow (240 files) and on a
generated workflow of --rows long rows (bench/generate.py).
Browser: the app is served (`panel serve`), Chromium (Playwright) opens it, clicks the Admin
tab and changes options; the time runs from the change to the new count in the page. Also the
first paint: from opening the page to the Admin tab's counts being shown.
Targets (issue): under 300 ms server side on the 1M-row workflow, under 1 s in the browser;
the Admin tab's first paint under 3 s on the demo data.
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

from dashboard.config import Settings  # noqa: E402
from dashboard.export import ExportQuery  # noqa: E402
from dashboard.importers.demo import DEMO_WORKFLOW, create_demo  # noqa: E402
from dashboard.store.db import open_store  # noqa: E402

# (widget, value) in order: each is one option change a user makes.
CHANGES = [
    ("scope", "all"),
    ("scope", "latest"),
    ("layout", "wide"),
    ("layout", "long"),
    ("data_source", "<first>"),
    ("order", "<first>"),
    ("layout", "files"),
    ("layout", "annotated"),
    ("order", ""),
    ("data_source", ""),
    ("layout", "long"),
    # The filters beyond the seed (SPEC 3, more filters), each set and cleared again.
    ("stage_kind", "human"),
    ("stage_kind", ""),
    ("object_classes", "<first class>"),
    ("object_classes", "<none>"),
    ("assessed_from", "<middle day>"),
    ("assessed_from", "<none>"),
    ("object_classes", "<first class>"),  # combined: Latest + a class + from
    ("assessed_from", "<middle day>"),
    ("assessed_from", "<none>"),
    ("object_classes", "<none>"),
]


def _middle_day(store, workflow: str):
    """A day in the middle of the workflow's assessments: half of them are from then on."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from dashboard.store.models import Assessment, Case, DataFile

    with store.session() as session:
        first, last = session.execute(
            select(func.min(Assessment.assessed_at), func.max(Assessment.assessed_at))
            .join(DataFile, Assessment.data_file_id == DataFile.id)
            .join(Case, DataFile.case_id == Case.id)
            .where(Case.workflow_id == store.workflow(session, workflow).id)
        ).one()
    if isinstance(first, str):  # SQLite hands back text
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return (first + (last - first) / 2 + timedelta(days=1)).date()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def server_side(store, workflow: str, repeat: int) -> dict[str, float]:
    from dashboard.runtime import tune_process
    from dashboard.web.ui.admin import AdminTab

    tune_process()  # as the server's start-up does
    tab = AdminTab(store=store, workflow=workflow, user="local")
    choices = ExportQuery(store, workflow=workflow).choices()
    first = {"data_source": choices.data_sources[0], "order": choices.orders[0]}
    special = {
        "<first class>": [choices.object_classes[0]],
        "<middle day>": _middle_day(store, workflow),
        "<none>": None,
    }
    timings: dict[str, list[float]] = {}
    for _ in range(repeat):
        for widget, value in CHANGES:
            value = first[widget] if value == "<first>" else special.get(value, value)
            if widget == "object_classes" and value is None:
                value = []
            started = time.perf_counter()
            getattr(tab, widget).value = value
            elapsed = time.perf_counter() - started
            shown = value[0] if isinstance(value, list) and value else value
            timings.setdefault(f"{widget}={shown or '(blank)'}", []).append(elapsed)
    # The first round runs cold (counts are cached per data version afterwards).
    cold = {f"{name} (cold)": values[0] for name, values in timings.items()}
    warm = {
        f"{name} (warm, median)": statistics.median(values[1:] or values)
        for name, values in timings.items()
    }
    p95 = {f"{name} (p95 of all)": _p95(values) for name, values in timings.items()}
    return {**cold, **warm, **p95}


def browser_side(data_dir: Path, workflow: str, store, repeat: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    from tests.helpers import served_app

    results: dict[str, list[float]] = {}
    with served_app({"ASSESS_DATA_DIR": str(data_dir)}) as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(f"{base}/app?workflow={workflow}")
            page.get_by_text("Admin", exact=True).first.click()
            page.wait_for_selector("text=estimated size", timeout=60_000)
            results.setdefault("first paint of the Admin tab", []).append(
                time.perf_counter() - started
            )
            for label, value in (("All Assessments", "all"), ("Latest Assessments", "latest")):
                rows = ExportQuery(store, workflow=workflow, scope=value).counts().rows
                started = time.perf_counter()
                page.get_by_text(label, exact=True).click()
                page.wait_for_selector(f"text={rows:,} rows", timeout=60_000)
                results.setdefault(f"scope={value}", []).append(time.perf_counter() - started)
            for label, layout in (
                ("Annotations", "wide"),
                ("Attribute Values and Confidences", "long"),
            ):
                rows = ExportQuery(store, workflow=workflow, layout=layout).counts().rows
                started = time.perf_counter()
                page.get_by_text(label, exact=True).click()
                page.wait_for_selector(f"text={rows:,} rows", timeout=60_000)
                results.setdefault(f"layout={layout}", []).append(time.perf_counter() - started)
            page.close()
        browser.close()
    return {name: statistics.median(values) for name, values in results.items()}


def table(title: str, timings: dict[str, float], target: float) -> str:
    lines = [f"| {title} | ms | target |", "|---|---:|---|"]
    for name, seconds in timings.items():
        mark = "met" if seconds <= target else "MISSED"
        lines.append(f"| {name} | {seconds * 1000:.0f} | {mark} (< {target * 1000:.0f} ms) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-preview.md"))
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)

    from bench.generate import generate

    work = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    demo_dir = work / "demo"
    demo = open_store(Settings.from_env({"ASSESS_DATA_DIR": str(demo_dir)}))
    create_demo(demo)
    big_url = f"sqlite:///{work / 'big.db'}"
    totals = generate(big_url, str(work / "big-files"), args.rows)
    big = open_store(db_url=big_url, files_url=str(work / "big-files"))
    big_workflow = big.workflow_names()[0]

    sections = [
        "## Preview latency (bench/bench_preview.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python "
        f"{platform.python_version()}; load {os.getloadavg()[0]:.1f}; medians of "
        f"{args.repeat}. Big workflow: {totals}.",
        "",
        "### Server side: widget change to updated preview (counts, first rows, size)",
        "",
        table("demo workflow (240 files)", server_side(demo, DEMO_WORKFLOW, args.repeat), 0.3),
        "",
        table(f"{args.rows:,}-row workflow", server_side(big, big_workflow, args.repeat), 0.3),
    ]
    if not args.no_browser:
        browser = browser_side(demo_dir, DEMO_WORKFLOW, demo, args.repeat)
        paint = {"first paint of the Admin tab": browser.pop("first paint of the Admin tab")}
        sections += [
            "",
            "### In the browser (Chromium): option change to the new count on the page",
            "",
            table("demo workflow", browser, 1.0),
            "",
            table("page load", paint, 3.0),
        ]
    text = "\n".join(sections) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
