"""Annotated images: our drawing against the decode+encode floor and named baselines.

    .venv/bin/python bench/bench_drawing.py [--images 200] [--repeats 5] [--budget 240]
                                            [--out bench/RESULTS-drawing.md]

Generates N deterministic 1920x1080 JPEGs with 10 polygons each, then, in one run and
interleaved per repetition, measures ms/image for:

  (a) floor: open, decode, convert, encode (nothing drawn)
  (b) ours: dashboard.produce.drawing.draw_annotations (translucent fills and labels), 1 process
  (c) naive: the same drawing with a full-image RGBA alpha_composite for the fills and
      ImageDraw.polygon(width>1) outlines
  (d) supervision: PolygonAnnotator + LabelAnnotator, and with MaskAnnotator for the fill
      (the masks it needs are built from the polygons, as a caller would have to)
  (e) ours with a 2-process pool (workers started before timing)

Medians over the repetitions (fewer when they would pass --budget seconds); ratios are
taken within each repetition. Pillow's block cache (PERF-NOTES.md) is set as the product
sets it (``keep_freed_image_blocks``), in this process and the pool's, for every method alike.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.produce.drawing import (  # noqa: E402
    JPEG_QUALITY,
    Overlay,
    draw_annotations,
    keep_freed_image_blocks,
)
from dashboard.spec.geometry import parse_wkt  # noqa: E402

WIDTH, HEIGHT, POLYGONS = 1920, 1080, 10
CLASSES = (("car", "#e6194b"), ("person", "#3cb44b"), ("truck", "#4363d8"), ("sign", "#ffe119"))
FILL_ALPHA = 64
SLICE = 25  # images per interleaving step

Item = tuple[bytes, list[Overlay]]


# --- data --------------------------------------------------------------------------------


def make_items(count: int, seed: int = 20240501) -> list[Item]:
    """Photo-like JPEGs (smooth colour fields plus grain) with random star-shaped polygons."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(count):
        coarse = rng.integers(0, 256, size=(9, 16, 3), dtype=np.uint8)
        field = Image.fromarray(coarse, "RGB").resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
        grain = rng.normal(0, 6, size=(HEIGHT, WIDTH, 3))
        pixels = np.clip(np.asarray(field, dtype=np.float64) + grain, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=90)
        items.append((buffer.getvalue(), [random_overlay(rng) for _ in range(POLYGONS)]))
    return items


def random_overlay(rng: np.random.Generator) -> Overlay:
    cx, cy = rng.uniform(100, WIDTH - 100), rng.uniform(100, HEIGHT - 100)
    radius = rng.uniform(40, 220)
    vertices = int(rng.integers(5, 13))
    angles = np.sort(rng.uniform(0, 2 * math.pi, vertices))
    points = [
        (round(cx + radius * r * math.cos(a), 1), round(cy + radius * r * math.sin(a), 1))
        for a, r in zip(angles, rng.uniform(0.5, 1.0, vertices), strict=True)
    ]
    points.append(points[0])
    name, colour = CLASSES[int(rng.integers(len(CLASSES)))]
    wkt = "POLYGON ((" + ", ".join(f"{x} {y}" for x, y in points) + "))"
    return Overlay(wkt, name, colour, round(float(rng.uniform(0.3, 1.0)), 3))


# --- the methods -------------------------------------------------------------------------


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def floor(item: Item) -> bytes:
    image = Image.open(io.BytesIO(item[0]))
    return encode_jpeg(image.convert("RGB"))


def ours(item: Item) -> bytes:
    return draw_annotations(item[0], item[1], fill_alpha=FILL_ALPHA)[0]


def naive(item: Item) -> bytes:
    """What one writes first: a full-size RGBA layer for the fills, polygon(width>1)."""
    image = Image.open(io.BytesIO(item[0])).convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    layer_draw = ImageDraw.Draw(layer)
    shapes = [(parse_wkt(o.geometry).points, o) for o in item[1]]
    for points, overlay in shapes:
        layer_draw.polygon(points, fill=hex_rgb(overlay.colour) + (FILL_ALPHA,))
    image = Image.alpha_composite(image, layer).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(min(image.size) / 300))
    font = ImageFont.load_default(size=max(12, round(min(image.size) / 45)))
    for points, overlay in shapes:
        colour = hex_rgb(overlay.colour)
        draw.polygon(points, outline=colour, width=width)
        text = f"{overlay.object_class} {overlay.confidence:.2f}"
        x, y = min(p[0] for p in points), min(p[1] for p in points)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=colour)
        draw.text((x, y), text, fill=(0, 0, 0), font=font)
    return encode_jpeg(image)


def ours_in_worker(item: Item) -> tuple[bytes, float]:
    """Ours in a pool worker; also returns the worker's CPU seconds for the image."""
    cpu_start = time.process_time()
    data = ours(item)
    return data, time.process_time() - cpu_start


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def supervision_methods() -> tuple[dict[str, Callable[[Item], bytes]], str]:
    """supervision's annotators, if installed; else no methods and the reason."""
    try:
        import cv2
        import supervision as sv
    except ImportError as exc:
        return {}, f"supervision not installed ({exc})"
    palette = sv.ColorPalette.from_hex([colour for _, colour in CLASSES])
    class_ids = {name: index for index, (name, _) in enumerate(CLASSES)}
    thickness = max(2, round(HEIGHT / 300))
    polygon = sv.PolygonAnnotator(color=palette, thickness=thickness)
    label = sv.LabelAnnotator(color=palette, text_color=sv.Color.BLACK, text_scale=0.7)
    mask = sv.MaskAnnotator(color=palette, opacity=FILL_ALPHA / 255)

    def detections(item: Item, shape: tuple[int, int]) -> sv.Detections:
        masks = np.zeros((len(item[1]), *shape), dtype=np.uint8)
        boxes = []
        for index, overlay in enumerate(item[1]):
            points = np.array(parse_wkt(overlay.geometry).points, dtype=np.float64)
            cv2.fillPoly(masks[index], [np.round(points).astype(np.int32)], 1)
            boxes.append([*points.min(axis=0), *points.max(axis=0)])
        return sv.Detections(
            xyxy=np.array(boxes, dtype=np.float32),
            mask=masks.astype(bool),
            class_id=np.array([class_ids[o.object_class] for o in item[1]]),
            confidence=np.array([o.confidence for o in item[1]], dtype=np.float32),
        )

    def annotate(item: Item, with_fill: bool) -> bytes:
        # An RGB array where supervision expects BGR: colours swap, the cost does not.
        scene = np.array(Image.open(io.BytesIO(item[0])).convert("RGB"))
        found = detections(item, scene.shape[:2])
        if with_fill:
            scene = mask.annotate(scene, found)
        scene = polygon.annotate(scene, found)
        labels = [f"{o.object_class} {o.confidence:.2f}" for o in item[1]]
        scene = label.annotate(scene, found, labels=labels)
        return encode_jpeg(Image.fromarray(scene))

    version = f"supervision {sv.__version__}, opencv {cv2.__version__}"
    return {
        "(d) supervision Polygon+Label": lambda item: annotate(item, with_fill=False),
        "(d2) supervision Mask+Polygon+Label": lambda item: annotate(item, with_fill=True),
    }, version


# --- timing ------------------------------------------------------------------------------


@dataclass
class Timings:
    """Per method and repetition: wall ms/image, and CPU ms/image for serial methods."""

    wall: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    load: list[float] = field(default_factory=list)  # 1-minute load average per repetition


POOL = "(e) ours, 2-process pool"


def run(count: int, repeats: int, budget: float) -> tuple[Timings, str, float]:
    """Methods interleaved on slices of SLICE images, so a busy spell hits all of them."""
    keep_freed_image_blocks()
    print(f"generating {count} images ...", flush=True)
    items = make_items(count)
    average_kb = sum(len(data) for data, _ in items) / len(items) / 1024
    methods: dict[str, Callable[[Item], bytes]] = {
        "(a) floor: decode+encode": floor,
        "(b) ours, 1 process": ours,
        "(c) naive full-image alpha_composite": naive,
    }
    extra, supervision_note = supervision_methods()
    methods.update(extra)
    for method in methods.values():  # warm up: fonts, caches, lazy imports
        method(items[0])
    timings = Timings()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2, initializer=keep_freed_image_blocks) as pool:
        list(pool.map(ours_in_worker, items[:4], chunksize=1))  # start both workers first
        for repeat in range(repeats):
            wall: dict[str, float] = defaultdict(float)
            cpu: dict[str, float] = defaultdict(float)
            for first in range(0, count, SLICE):
                part = items[first : first + SLICE]
                for name, method in methods.items():
                    wall_start, cpu_start = time.perf_counter(), time.process_time()
                    for item in part:
                        method(item)
                    wall[name] += time.perf_counter() - wall_start
                    cpu[name] += time.process_time() - cpu_start
                wall_start = time.perf_counter()
                for _, seconds in pool.map(ours_in_worker, part, chunksize=1):
                    cpu[POOL] += seconds
                wall[POOL] += time.perf_counter() - wall_start
            for name, seconds in wall.items():
                timings.wall[name].append(seconds * 1000 / count)
            for name, seconds in cpu.items():
                timings.cpu[name].append(seconds * 1000 / count)
            timings.load.append(os.getloadavg()[0])
            summary = ", ".join(f"{n.split()[0]} {t[-1]:.1f}" for n, t in timings.wall.items())
            print(f"repeat {repeat + 1}/{repeats}: {summary} ms/image", flush=True)
            elapsed = time.perf_counter() - started
            if repeat + 1 < repeats and elapsed * (repeat + 2) / (repeat + 1) > budget:
                print(f"stopping after {repeat + 1} repetitions: time budget {budget:.0f} s")
                break
    return timings, supervision_note, average_kb


# --- report ------------------------------------------------------------------------------


FLOOR, OURS, SUPERVISION = (
    "(a) floor: decode+encode",
    "(b) ours, 1 process",
    "(d) supervision Polygon+Label",
)


def ratio(timings: Timings, name: str, base: str) -> float:
    """Median over repetitions of the same-repetition ratio name/base (wall time)."""
    pairs = zip(timings.wall[name], timings.wall[base], strict=True)
    return statistics.median(value / reference for value, reference in pairs)


def report(timings: Timings, count: int, note: str, average_kb: float) -> str:
    repeats = len(timings.load)
    median = {name: statistics.median(values) for name, values in timings.wall.items()}
    lines = [
        "## Annotated images (bench/bench_drawing.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {count} JPEGs {WIDTH}x{HEIGHT} "
        f"(mean {average_kb:.0f} KB, quality 90), {POLYGONS} polygons + labels each; "
        f"median of {repeats} repetitions; methods interleaved on slices of {SLICE} images "
        f"in one process; {os.cpu_count()} CPUs, 1-minute load "
        f"{min(timings.load):.1f}-{max(timings.load):.1f}; Python {platform.python_version()}, "
        f"Pillow {PIL.__version__}, numpy {np.__version__}; {note}.",
        "",
        "| method | ms/image | min-max | images/s | x floor | x ours | CPU ms/image |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, values in timings.wall.items():
        cpu = f"{statistics.median(timings.cpu[name]):.1f}" if name in timings.cpu else "-"
        lines.append(
            f"| {name} | {median[name]:.1f} | {min(values):.1f}-{max(values):.1f} "
            f"| {1000 / median[name]:.1f} | {ratio(timings, name, FLOOR):.2f} "
            f"| {ratio(timings, name, OURS):.2f} | {cpu} |"
        )
    over_floor, pool_speedup = ratio(timings, OURS, FLOOR), 1 / ratio(timings, POOL, OURS)
    cpu_over_floor = statistics.median(timings.cpu[OURS]) / statistics.median(timings.cpu[FLOOR])
    checks = [
        (
            f"ours <= 1.3x the floor: {over_floor:.2f}x (CPU time: {cpu_over_floor:.2f}x)",
            over_floor <= 1.3,
        )
    ]
    if SUPERVISION in timings.wall:
        faster = ratio(timings, SUPERVISION, OURS)
        checks.append((f"ours faster than supervision Polygon+Label: {faster:.2f}x", faster > 1))
    checks.append((f"2 processes >= 1.3x one: {pool_speedup:.2f}x", pool_speedup >= 1.3))
    pool_cpus = statistics.median(
        cpu / wall for cpu, wall in zip(timings.cpu[POOL], timings.wall[POOL], strict=True)
    )
    lines += ["", "Targets (same-repetition ratios, median):", ""]
    lines += [f"- {'met' if ok else 'MISSED'}: {text}" for text, ok in checks]
    lines += [
        "",
        "ms/image is wall time; x floor and x ours are medians of same-repetition ratios "
        "(< 1 means faster). CPU ms/image is CPU time per image, less disturbed by other load "
        "on the machine. The pool row is wall time with 2 warm workers (image bytes and "
        "annotations pickled to them, drawn bytes back); its CPU column is the workers' CPU "
        f"time per image: the pool got {pool_cpus:.2f} CPUs on average (2 on an idle machine).",
        "",
    ]
    if max(timings.load) > (os.cpu_count() or 1):
        lines += [
            f"Warning: the machine was busy (load up to {max(timings.load):.1f} on "
            f"{os.cpu_count()} CPUs); wall times, and the pool most of all, are pessimistic.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/RESULTS-drawing.md"))
    parser.add_argument(
        "--budget", type=float, default=240, help="seconds; fewer repetitions past it"
    )
    args = parser.parse_args()
    timings, note, average_kb = run(args.images, args.repeats, args.budget)
    text = report(timings, args.images, note, average_kb)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
