"""Server memory and bytes sent when previewing large photos (issue "The Admin tab").

    .venv/bin/python bench/bench_preview_images.py [--images 10] [--out FILE]

A workflow of ten 24-megapixel JPEG photos (6000x4000, camera-like noise, a few boxes each)
is previewed as Annotated Files, each path in a fresh child process:

- ``ours``: the Admin tab's preview (``dashboard.web.ui.preview``): the gallery, then the zoom
  and hover view of every image in turn (a user clicking Zoom under each). JPEGs are decoded
  at reduced scale (Pillow's draft mode) and sent as JPEG.
- ``baseline`` (the previous preview): every image fully decoded, shrunk to 1024 px and
  handed over as a raw RGB array (what ``hv.RGB`` serialised), for the same ten images.

Measured: the process's resident memory (VmRSS) before and after, its peak (VmHWM), the
bytes that would travel to the browser (encoded images vs. raw arrays), and wall time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKFLOW = "photos"


def _memory() -> dict[str, float]:
    status = Path("/proc/self/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split()[1:] for line in status if ":" in line}
    fields = {name: values[0] for name, values in fields.items() if values}
    return {"rss": int(fields["VmRSS"]) / 1024, "peak": int(fields["VmHWM"]) / 1024}


def build(data: Path, images: int) -> None:
    import numpy as np
    from PIL import Image

    from dashboard.config import Settings
    from dashboard.store import writer
    from dashboard.store.db import open_store

    store = open_store(Settings.from_env({"ASSESS_DATA_DIR": str(data)}))
    rng = np.random.default_rng(7)
    with store.session() as s:
        workflow = writer.create_workflow(s, WORKFLOW, ["crate"], [("note", "string")])
        taxonomy = writer.Taxonomy(workflow)
        order = writer.workflow_order(s, workflow, "o1")
        source = writer.data_source(s, "camera")
        case = writer.case(s, workflow, "c1", order)
        for index in range(images):
            base = rng.integers(0, 255, (400, 600, 3), dtype=np.uint8)
            photo = Image.fromarray(base).resize((6000, 4000), Image.Resampling.BILINEAR)
            buffer = io.BytesIO()
            photo.save(buffer, "JPEG", quality=90)
            data_file = writer.add_file(
                s, store.files, case, source, f"photo{index}.jpg", buffer.getvalue()
            )
            assessment = writer.add_assessment(
                s, data_file, "detector", "machine", "det@1", datetime(2026, 1, 1)
            )
            for box in range(5):
                x, y = 500 + 900 * box, 400 + 600 * box
                right, bottom = x + 700, y + 500
                wkt = f"POLYGON (({x} {y}, {right} {y}, {right} {bottom}, {x} {bottom}, {x} {y}))"
                entity = f"00000000-0000-4000-8000-{index:06d}{box:06d}"
                writer.add_annotation(s, taxonomy, assessment, entity, "crate", wkt, 0.9, 0.9)
    store.dispose()


def run(path: str, data: Path) -> dict:
    """In a child process: one path over all images; returns its figures."""
    import numpy as np
    from PIL import Image, ImageOps

    from dashboard.config import Settings
    from dashboard.export import ExportQuery
    from dashboard.runtime import tune_process
    from dashboard.store.db import open_store
    from dashboard.web.ui import preview

    tune_process()  # as the server's start-up does, for both paths
    store = open_store(Settings.from_env({"ASSESS_DATA_DIR": str(data)}))
    query = ExportQuery(store, workflow=WORKFLOW, layout="annotated", order="o1")
    items = list(query.annotated_items())
    before = _memory()
    started = time.perf_counter()
    sent = 0
    if path == "ours":
        _, gallery = preview.lay_out(query, preview.prepare(query))
        sent += sum(len(p.object) for p in gallery.select(preview.pn.pane.JPG))
        for item in items:
            figure = preview.interactive_image(query, item).object
            sent += sum(
                len(r.data_source.data["url"][0])
                for r in figure.renderers
                if "url" in r.data_source.data
            )
    else:
        for item in items:
            image = Image.open(io.BytesIO(store.files.read(item.record.storage_key)))
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((preview.INTERACTIVE_SIZE, preview.INTERACTIVE_SIZE))
            array = np.asarray(image)
            sent += array.shape[0] * array.shape[1] * 4  # RGBA, as Bokeh's image_rgba
    elapsed = time.perf_counter() - started
    after = _memory()
    return {"images": len(items), "seconds": elapsed, "sent": sent, "before": before,
            "after": after}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-preview-images.md"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.child[0], Path(args.child[1]))))
        return
    data = Path(tempfile.mkdtemp(prefix="bench-photos-"))
    build(data, args.images)
    results = {}
    for path in ("baseline", "ours"):
        child = subprocess.run(
            [sys.executable, __file__, "--child", path, str(data)],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        if child.returncode != 0:
            raise SystemExit(f"{path} failed:\n{child.stderr}")
        results[path] = json.loads(child.stdout.strip().splitlines()[-1])
    lines = [
        "## Previewing 24-megapixel photos (bench/bench_preview_images.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python "
        f"{platform.python_version()}; load {os.getloadavg()[0]:.1f}. {args.images} JPEG "
        "photos of 6000x4000 (24 MP), 5 boxes each; each path in a fresh process.",
        "",
        "| path | images | s | sent to the browser MB | RSS before MB | RSS after MB "
        "| peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for path, r in results.items():
        lines.append(
            f"| {path} | {r['images']} | {r['seconds']:.2f} | {r['sent'] / 1e6:.1f} | "
            f"{r['before']['rss']:.0f} | {r['after']['rss']:.0f} | {r['after']['peak']:.0f} |"
        )
    ours, base = results["ours"], results["baseline"]
    lines += [
        "",
        f"- sent: ours {ours['sent'] / 1e6:.1f} MB vs baseline {base['sent'] / 1e6:.1f} MB "
        f"({base['sent'] / max(ours['sent'], 1):.0f}x less)",
        f"- peak RSS growth: ours {ours['after']['peak'] - ours['before']['rss']:.0f} MB vs "
        f"baseline {base['after']['peak'] - base['before']['rss']:.0f} MB",
        f"- time: ours {ours['seconds']:.2f} s vs baseline {base['seconds']:.2f} s "
        "(ours includes drawing the gallery and ten zoom views)",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
