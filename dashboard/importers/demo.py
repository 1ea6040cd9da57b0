"""The demo workflow a newcomer sees on first start (SPEC section 6): a harbour inspection.

Everything is generated from one seed, so the same seed always gives the same store content
(file bytes, timestamps, entity ids): images of a harbour with drawn vessels, containers,
cranes, buoys, persons and corrosion patches; a machine stage ("detector") that outlines
most of them, misses a few and reports some false positives; and on most files a later
human stage ("review") that keeps, moves, relabels, deletes and adds annotations.

All records go through ``dashboard.store.writer`` so they are validated like imported data.
"""

from __future__ import annotations

import io
import math
import random
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from PIL import Image, ImageChops, ImageDraw
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard.errors import InvalidValueError
from dashboard.spec.geometry import Geometry, parse_wkt, polygon
from dashboard.store.db import Store
from dashboard.store.models import Workflow
from dashboard.store.writer import (
    BulkWriter,
    Taxonomy,
    create_workflow,
    data_source,
    workflow_order,
)

DEMO_WORKFLOW = "harbour-inspection"

OBJECT_CLASSES = ("vessel", "container", "crane", "buoy", "person", "corrosion")
SEVERITIES = ("low", "medium", "high")
FLAG_STATES = ("DE", "NL", "DK", "NO", "PA", "LR", "MT")
ATTRIBUTES = (
    ("severity", "enum", list(SEVERITIES)),  # corrosion
    ("occluded", "boolean"),  # every annotation
    ("visible_count", "integer"),  # containers in a stack
    ("length_m", "decimal"),  # vessels
    ("vessel_name", "string"),  # entity level, human stage only
    ("flag_state", "enum", list(FLAG_STATES)),  # entity level
    ("note", "string"),  # human stage only
)

MACHINE_STAGE, HUMAN_STAGE = "detector", "review"
REVIEWERS = ("anna.schmidt", "jonas.berg", "mehmet.yilmaz", "lena.vogel")
CAMERA, DRONE = "quay-camera-3", "drone-survey"
SOURCES = ((CAMERA, "camera"), (DRONE, "bucket"))
# each order's first machine run; cases in no order are spread over the whole span
ORDERS = (
    ("8492192", datetime(2026, 3, 2, 6, 0, 0)),
    ("8492193", datetime(2026, 3, 9, 6, 0, 0)),
    ("8492201", datetime(2026, 3, 16, 6, 0, 0)),
)
NO_ORDER_SPAN = (datetime(2026, 3, 2, 7, 0, 0), timedelta(days=21))
DETECTOR, DETECTOR_UPGRADE = "harbour-detector@2.3.1", "harbour-detector@2.4.0"
UPGRADED_AT = datetime(2026, 3, 16, 0, 0, 0)

NON_ASCII_NAMES = (  # every 40th file, from the 8th on; the format follows the suffix
    "Kräne_Süd.jpg",
    "Hafenbecken_Ost_Überblick.jpeg",
    "Liegeplatz Größe 3.JPG",
    "Rost_Bordwand_Ölspur.png",
    "Kai_Nord_Ærø.jpg",
    "Schlepper_Möwe (2).JPG",
)
VESSEL_NAMES = (
    "Nordlicht", "Hanne Sørensen", "Ålesund Trader", "Möwe", "Elbe Express",
    "Santa Lucía", "Baltic Star", "Jürgen Kröger", "Ocean Pearl", "Vindö",
)  # fmt: skip
NOTES = (
    "Rost an der Bordwand – Ölspur",
    "Bug leicht verdeckt",
    "Person ohne Warnweste?",
    "Kran außer Betrieb",
    "Container beschädigt, Tür offen",
    "check again tomorrow",
    "Ölspur am Heck – Hafenmeister informiert",
    "Schiffsname unleserlich",
    "Rouille sur la coque — à vérifier",
    "-> an Werft melden",
    "+2 Container hinter dem Kran",
)
CONFUSED_CLASS = {"container": "vessel", "vessel": "container", "crane": "container"}

SKY = ((150, 188, 228), (214, 229, 243))
SEA = ((92, 138, 160), (22, 62, 92))
QUAY = ((128, 127, 120), (104, 103, 98))
HULLS = ((150, 30, 30), (30, 40, 60), (230, 230, 225), (20, 70, 50), (60, 60, 70))
RUST = ((139, 69, 19), (150, 78, 32), (118, 56, 24))
BOXES = ((200, 80, 30), (30, 90, 160), (40, 130, 70), (180, 40, 40), (210, 170, 40))
HI_VIS = ((250, 120, 20), (225, 230, 40))

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


# ---------------------------------------------------------------------------------------
# plan: cases, files and times, drawn serially from the seed


@dataclass
class _FilePlan:
    count: int
    source: str
    file_name: str
    image_format: str  # "JPEG" or "PNG"
    width: int
    height: int
    seed: int  # of the file's scene and stages
    machine_at: datetime
    detector: str
    human_at: datetime | None
    reviewer: str | None


@dataclass
class _CasePlan:
    external_id: str
    order: str | None
    files: list[_FilePlan] = field(default_factory=list)


def _plan(rng: random.Random, files: int) -> list[_CasePlan]:
    """Cases of 1..3 files over the three orders and no order, with their times and names."""
    order_names = [name for name, _ in ORDERS] + [None]
    # the first four cases cover every order, no order and both data sources
    fixed = ((0, CAMERA), (1, DRONE), (2, DRONE), (3, CAMERA))
    clocks: dict[str | None, datetime] = dict(ORDERS)
    external_id = rng.randint(3_100_000, 3_150_000)
    drone_shot = rng.randint(1, 400)
    cases: list[_CasePlan] = []
    index = 0
    while index < files:
        if len(cases) < len(fixed):
            order_index, source = fixed[len(cases)]
        else:
            order_index = rng.choices(range(4), weights=(30, 30, 25, 15))[0]
            source = CAMERA if rng.random() < 0.6 else DRONE
        order = order_names[order_index]
        external_id += rng.randint(1, 40)
        planned = _CasePlan(str(external_id), order)
        size = min(rng.choices((1, 2, 3), weights=(45, 35, 20))[0], files - index)
        if order is None:
            start, span = NO_ORDER_SPAN
            machine_at = start + timedelta(seconds=rng.randint(0, int(span.total_seconds())))
        else:
            clocks[order] += timedelta(seconds=rng.randint(60, 3600))
            machine_at = clocks[order]
        reviewed = rng.random() < 0.85
        reviewer = rng.choice(REVIEWERS)
        human_at = machine_at + timedelta(seconds=rng.randint(2 * 3600, 6 * 86400))
        captured = machine_at - timedelta(seconds=rng.randint(300, 7200))
        for count in range(1, size + 1):
            if count > 1:  # a case's files are taken, detected and reviewed one after another
                captured += timedelta(seconds=rng.randint(2, 30))
                machine_at += timedelta(seconds=rng.randint(3, 40))
                human_at += timedelta(seconds=rng.randint(20, 240))
            image_format = "PNG" if rng.random() < 0.15 else "JPEG"
            if source == CAMERA:
                width, height = rng.choice(((640, 480), (800, 600), (800, 600), (1024, 768)))
            else:
                width, height = rng.choice(
                    ((1024, 768), (1024, 768), (800, 600), (600, 800), (480, 640))
                )
            suffix = ".png" if image_format == "PNG" else ".jpg"
            if index % 40 == 7:
                file_name = NON_ASCII_NAMES[(index // 40) % len(NON_ASCII_NAMES)]
                image_format = "PNG" if file_name.endswith(".png") else "JPEG"
            elif source == CAMERA:
                file_name = f"quay-cam3_{captured:%Y%m%d_%H%M%S}{suffix}"
            else:
                drone_shot += 1
                file_name = f"DJI_{drone_shot:04d}" + ("_frame.png" if suffix == ".png" else ".JPG")
            planned.files.append(
                _FilePlan(
                    count=count,
                    source=source,
                    file_name=file_name,
                    image_format=image_format,
                    width=width,
                    height=height,
                    seed=rng.getrandbits(64),
                    machine_at=machine_at,
                    detector=DETECTOR_UPGRADE if machine_at >= UPGRADED_AT else DETECTOR,
                    human_at=human_at if reviewed else None,
                    reviewer=reviewer if reviewed else None,
                )
            )
            index += 1
        cases.append(planned)
    return cases


# ---------------------------------------------------------------------------------------
# scene: a harbour image with drawn objects, and the truth about them


@dataclass
class _Truth:
    """A drawn object: what a perfect reviewer would annotate."""

    object_class: str
    geometry: Geometry
    bbox: Box
    values: dict[str, object] = field(default_factory=dict)
    entity_values: dict[str, object] = field(default_factory=dict)
    parent: int | None = None  # the vessel a corrosion patch is on
    occluded: bool = False


@dataclass
class _Scene:
    width: int
    height: int
    horizon: int  # sky above, 0 for a top-down drone view
    quay_top: int  # quay below, ``height`` when there is none
    top_down: bool
    objects: list[_Truth] = field(default_factory=list)


def _ramp(start: Sequence[int], end: Sequence[int], rows: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, max(rows, 1), dtype=np.float32)[:rows, None]
    return np.asarray(start, np.float32) * (1 - t) + np.asarray(end, np.float32) * t


def _background(gen: np.random.Generator, scene: _Scene, grain: bool) -> Image.Image:
    """Sky, sea and quay as vertical gradients with a wave texture.

    Only small arrays go through numpy; full-size work is done by Pillow in C (resize, add),
    which keeps a 1024x768 background at a few milliseconds.
    """
    w, h = scene.width, scene.height
    sea_rows = scene.quay_top - scene.horizon
    colours = np.concatenate(
        [_ramp(*SKY, scene.horizon), _ramp(*SEA, sea_rows), _ramp(*QUAY, h - scene.quay_top)]
    )
    gradient = Image.fromarray(colours.astype(np.uint8)[:, None, :], "RGB")
    gradient = gradient.resize((w, h), Image.NEAREST)
    amplitude = np.concatenate(
        [np.full(scene.horizon, 3.0), np.full(sea_rows, 11.0), np.full(h - scene.quay_top, 6.0)]
    )
    # long horizontal streaks: coarse noise stretched more along x than along y
    rows = h // 6 + 2
    row_amplitude = amplitude[np.minimum(h - 1, ((np.arange(rows) + 0.5) * h / rows).astype(int))]
    coarse = gen.normal(0.0, 1.0, (rows, w // 40 + 2)) * row_amplitude[:, None] + 128
    texture = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8), "L")
    texture = texture.resize((w, h), Image.BILINEAR)
    if grain:
        grain_values = np.frombuffer(gen.bytes(w * h), np.uint8).reshape(h, w) & 7
        texture = ImageChops.add(texture, Image.fromarray(grain_values, "L"), 1.0, -4)
    image = ImageChops.add(gradient, Image.merge("RGB", (texture,) * 3), 1.0, -128)
    if scene.quay_top < h:
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, scene.quay_top, w, scene.quay_top + 3), fill=(70, 70, 66))
    return image


def _box_geometry(bbox: Box) -> Geometry:
    x0, y0, x1, y1 = bbox
    return polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place(rnd: random.Random, scene: _Scene, size: tuple[float, float], area: Box) -> Box | None:
    """A free spot of ``size`` in ``area``; the last try if none is free, None if none fits."""
    width, height = size
    x0, y0, x1, y1 = area
    if x1 - x0 < width or y1 - y0 < height:
        return None
    spot = None
    for _ in range(8):
        x = rnd.uniform(x0, x1 - width)
        y = rnd.uniform(y0, y1 - height)
        spot = (round(x), round(y), round(x + width), round(y + height))
        if not any(_overlaps(spot, other.bbox) for other in scene.objects):
            break
    return spot


def _draw_vessel(
    rnd: random.Random, draw: ImageDraw.ImageDraw, scene: _Scene, scale: float
) -> None:
    length = rnd.uniform(0.22, 0.45) * scene.width
    beam = length * (0.24 if scene.top_down else 0.3)
    sea = (0, scene.horizon + beam * 0.3, scene.width, scene.quay_top - 4)
    spot = _place(rnd, scene, (length, beam), sea)
    if spot is None:
        return
    x0, y0, x1, y1 = spot
    hull = rnd.choice(HULLS)
    bow_right = rnd.random() < 0.5

    def mirror(x: float) -> float:
        """x measured from the stern: the ship is drawn bow right and mirrored if needed."""
        return x0 + x if bow_right else x1 - x

    if scene.top_down:
        mid = (y0 + y1) / 2
        outline = [(0, y0), (0.8 * length, y0), (length, mid), (0.8 * length, y1), (0, y1)]
        draw.polygon([(mirror(x), y) for x, y in outline], fill=hull)
        hatches = sorted((mirror(0.18 * length), mirror(0.75 * length)))
        deck = (hatches[0], y0 + 0.2 * beam, hatches[1], y1 - 0.2 * beam)
        draw.rectangle(deck, fill=(95, 95, 100))
        bridge = sorted((mirror(0.03 * length), mirror(0.14 * length)))
        draw.rectangle((bridge[0], y0 + 0.12 * beam, bridge[1], y1 - 0.12 * beam), fill="white")
        hull_area = deck
    else:
        deck_y = y0 + 0.45 * beam
        outline = [(0, deck_y), (length, deck_y), (0.9 * length, y1), (0.03 * length, y1)]
        draw.polygon([(mirror(x), y) for x, y in outline], fill=hull)
        draw.line([(x0, deck_y), (x1, deck_y)], fill=(235, 235, 235), width=max(1, round(scale)))
        house = sorted((mirror(0.08 * length), mirror(0.28 * length)))
        draw.rectangle((house[0], y0, house[1], deck_y), fill=(238, 238, 232))
        for row in range(2):
            wy = y0 + (0.1 + 0.17 * row) * beam
            window = (house[0] + 0.02 * length, wy, house[1] - 0.02 * length, wy + 0.06 * beam)
            draw.rectangle(window, fill=(40, 60, 80))
        funnel = sorted((mirror(0.15 * length), mirror(0.2 * length)))
        draw.rectangle((funnel[0], y0 - 0.2 * beam, funnel[1], y0), fill=hull)
        y0 = round(y0 - 0.2 * beam)
        hull_area = (x0 + 0.1 * length, deck_y + 0.1 * beam, x1 - 0.1 * length, y1 - 0.1 * beam)
    bbox = (x0, y0, x1, y1)
    name = rnd.choice(VESSEL_NAMES)
    scene.objects.append(
        _Truth(
            "vessel",
            _box_geometry(bbox),
            bbox,
            values={"length_m": f"{length / scene.width * 160:.1f}"},
            entity_values={"flag_state": rnd.choice(FLAG_STATES), "vessel_name": name},
        )
    )
    vessel = len(scene.objects) - 1
    if rnd.random() < (0.6 if scene.top_down else 0.45):
        for _ in range(rnd.choice((1, 1, 2))):
            _draw_corrosion(rnd, draw, scene, hull_area, vessel)


def _draw_corrosion(
    rnd: random.Random, draw: ImageDraw.ImageDraw, scene: _Scene, area: Box, vessel: int
) -> None:
    """An irregular rust patch: the one class annotated with a real polygon."""
    x0, y0, x1, y1 = area
    radius = min(x1 - x0, y1 - y0) * rnd.uniform(0.25, 0.45)
    if radius < 4:
        return
    cx = rnd.uniform(x0 + radius, max(x0 + radius, x1 - radius))
    cy = rnd.uniform(y0 + radius, max(y0 + radius, y1 - radius))
    corners = rnd.randint(6, 10)
    points = []
    for k in range(corners):
        angle = 2 * math.pi * (k + rnd.uniform(-0.3, 0.3)) / corners
        reach = radius * rnd.uniform(0.55, 1.0)
        points.append(
            (round(cx + reach * math.cos(angle)), round(cy + reach * 0.7 * math.sin(angle)))
        )
    if len(set(points)) < 3:
        return
    draw.polygon(points, fill=rnd.choice(RUST))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    share = radius / max(scene.width, scene.height)  # of the image's longer side
    severity = "high" if share > 0.04 else "medium" if share > 0.022 else "low"
    scene.objects.append(
        _Truth(
            "corrosion",
            polygon(points),
            (min(xs), min(ys), max(xs), max(ys)),
            values={"severity": severity},
            parent=vessel,
        )
    )


def _draw_containers(
    rnd: random.Random, draw: ImageDraw.ImageDraw, scene: _Scene, scale: float
) -> None:
    width = rnd.uniform(0.08, 0.13) * scene.width
    unit = width * 0.42
    stacked = rnd.randint(1, 4)
    quay = (0, max(0, scene.quay_top + 6 - stacked * unit), scene.width, scene.height - 2)
    spot = _place(rnd, scene, (width, stacked * unit), quay)
    if spot is None:
        return
    x0, y0, x1, y1 = spot
    ridge = max(3, round(4 * scale))
    for level in range(stacked):
        top = y1 - (level + 1) * (y1 - y0) / stacked
        bottom = y1 - level * (y1 - y0) / stacked
        colour = rnd.choice(BOXES)
        draw.rectangle((x0, top, x1, bottom), fill=colour, outline=(30, 30, 30))
        dark = tuple(max(0, c - 45) for c in colour)
        for x in range(round(x0) + ridge, round(x1) - 1, ridge):
            draw.line([(x, top + 2), (x, bottom - 2)], fill=dark)
    bbox = (x0, y0, x1, y1)
    scene.objects.append(
        _Truth("container", _box_geometry(bbox), bbox, values={"visible_count": stacked})
    )


def _draw_crane(rnd: random.Random, draw: ImageDraw.ImageDraw, scene: _Scene, scale: float) -> None:
    w = scene.width
    base_y = rnd.uniform(scene.quay_top + 10, scene.height - 4)
    lowest_top = 0.04 * w + 8
    top_y = rnd.uniform(lowest_top, max(lowest_top, scene.horizon - 0.03 * scene.height))
    leg_x = rnd.uniform(0.3 * w, 0.92 * w)
    spread = 0.05 * w
    boom = rnd.uniform(0.15, 0.28) * w
    colour = rnd.choice(((230, 180, 40), (200, 55, 40)))
    thick = max(2, round(3 * scale))
    left, right = leg_x - boom, min(w - 2, leg_x + spread + 0.06 * w)
    if left < 2 or right - leg_x < spread:
        return
    for x in (leg_x, leg_x + spread):
        draw.line([(x, base_y), (x, top_y)], fill=colour, width=thick)
    for k in range(1, 5):
        y = top_y + (base_y - top_y) * k / 5
        draw.line([(leg_x, y), (leg_x + spread, y - (base_y - top_y) / 5)], fill=colour, width=1)
    draw.line([(left, top_y), (right, top_y)], fill=colour, width=thick)
    draw.line([(leg_x, top_y - 0.04 * w), (left, top_y)], fill=colour, width=max(1, thick // 2))
    hook_y = top_y + rnd.uniform(0.2, 0.5) * (base_y - top_y)
    draw.line([(left + 0.03 * w, top_y), (left + 0.03 * w, hook_y)], fill=(40, 40, 40), width=1)
    bbox = (
        round(left),
        max(0, round(top_y - 0.04 * w - thick)),
        round(right),
        min(scene.height, round(base_y + thick)),
    )
    scene.objects.append(_Truth("crane", _box_geometry(bbox), bbox))


def _draw_buoy(rnd: random.Random, draw: ImageDraw.ImageDraw, scene: _Scene, scale: float) -> None:
    radius = rnd.uniform(5, 10) * scale
    sea = (4, scene.horizon + 4, scene.width - 4, scene.quay_top - 4)
    spot = _place(rnd, scene, (2 * radius, 2 * radius), sea)
    if spot is None:
        return
    x0, y0, x1, y1 = spot
    draw.ellipse(spot, fill=rnd.choice(((215, 40, 35), (235, 200, 30), (30, 140, 60))))
    draw.line([((x0 + x1) / 2, y0 - radius), ((x0 + x1) / 2, y0)], fill=(30, 30, 30), width=2)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    point = parse_wkt(f"POINT ({centre[0]} {centre[1]})")
    scene.objects.append(_Truth("buoy", point, (x0, max(0, round(y0 - radius)), x1, y1)))


def _draw_person(
    rnd: random.Random, draw: ImageDraw.ImageDraw, scene: _Scene, scale: float
) -> None:
    height = rnd.uniform(26, 40) * scale
    width = height * 0.38
    quay = (2, scene.quay_top + 4 - height * 0.5, scene.width - 2, scene.height - 2)
    spot = _place(rnd, scene, (width, height), quay)
    if spot is None:
        return
    x0, y0, x1, y1 = spot
    head = (x1 - x0) * 0.32
    cx = (x0 + x1) / 2
    draw.ellipse((cx - head, y0, cx + head, y0 + 2 * head), fill=(225, 185, 150))
    draw.rectangle((x0, y0 + 2 * head, x1, y0 + 0.62 * (y1 - y0)), fill=rnd.choice(HI_VIS))
    draw.rectangle((x0 + 1, y0 + 0.62 * (y1 - y0), x1 - 1, y1), fill=(30, 40, 80))
    bbox = (x0, y0, x1, y1)
    scene.objects.append(_Truth("person", _box_geometry(bbox), bbox))


def _scene(rnd: random.Random, gen: np.random.Generator, plan: _FilePlan) -> tuple[bytes, _Scene]:
    """Draw one harbour image; returns its encoded bytes and the drawn objects."""
    w, h = plan.width, plan.height
    top_down = plan.source == DRONE
    if top_down:
        quay_top = round(h * rnd.uniform(0.72, 0.86)) if rnd.random() < 0.6 else h
        scene = _Scene(w, h, 0, quay_top, True)
    else:
        horizon = round(h * rnd.uniform(0.22, 0.36))
        scene = _Scene(w, h, horizon, round(h * rnd.uniform(0.7, 0.82)), False)
    image = _background(gen, scene, grain=plan.image_format == "JPEG")
    draw = ImageDraw.Draw(image)
    scale = min(w, h) / 600
    has_quay = scene.quay_top < h - 20
    if has_quay and not top_down and rnd.random() < 0.5:
        _draw_crane(rnd, draw, scene, scale)
    for _ in range(rnd.randint(1 if top_down else 0, 3)):
        _draw_vessel(rnd, draw, scene, scale)
    for _ in range(rnd.randint(0, 3)):
        _draw_buoy(rnd, draw, scene, scale)
    if has_quay:
        for _ in range(rnd.randint(0, 3)):
            _draw_containers(rnd, draw, scene, scale)
        for _ in range(rnd.randint(0, 3)):
            _draw_person(rnd, draw, scene, scale)
    if not scene.objects:
        _draw_buoy(rnd, draw, scene, scale)
    # an object is occluded when something drawn later (other than its own rust) covers it
    for index, truth in enumerate(scene.objects):
        truth.occluded = any(
            _overlaps(truth.bbox, later.bbox) and later.parent != index
            for later in scene.objects[index + 1 :]
        )
    out = io.BytesIO()
    if plan.image_format == "PNG":
        image.save(out, "PNG", compress_level=1)
    else:
        image.save(out, "JPEG", quality=rnd.choice((72, 78, 85)))
    return out.getvalue(), scene


# ---------------------------------------------------------------------------------------
# stages: what the detector and the reviewer record about a scene


@dataclass
class _Record:
    """One annotation of one assessment, with its annotation- and entity-level values."""

    entity_id: str
    object_class: str
    geometry: Geometry
    confidence: float
    class_confidence: float
    values: list[tuple[str, object, float]] = field(default_factory=list)
    entity_values: list[tuple[str, object, float]] = field(default_factory=list)
    truth: int | None = None  # index of the drawn object, None for a false positive


def _entity_id(rnd: random.Random) -> str:
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _jittered(rnd: random.Random, scene: _Scene, truth: _Truth, spread: float) -> Geometry:
    """The truth's geometry as a detector sees it: edges off by a few per cent."""
    w, h = scene.width, scene.height
    if truth.geometry.kind == "POINT":
        ((x, y),) = truth.geometry.points
        jitter = 2 + spread * 40
        x = round(_clamp(x + rnd.uniform(-jitter, jitter), 0, w), 1)
        y = round(_clamp(y + rnd.uniform(-jitter, jitter), 0, h), 1)
        return parse_wkt(f"POINT ({x} {y})")
    if truth.object_class == "corrosion":
        points = [
            (
                round(_clamp(x + rnd.gauss(0, 2 + spread * 30), 0, w), 1),
                round(_clamp(y + rnd.gauss(0, 2 + spread * 30), 0, h), 1),
            )
            for x, y in truth.geometry.points[:-1]
        ]
        return polygon(points) if len(set(points)) >= 3 else truth.geometry
    x0, y0, x1, y1 = truth.bbox
    dx, dy = (x1 - x0) * spread, (y1 - y0) * spread
    left = round(_clamp(x0 + rnd.gauss(0, dx), 0, w - 2), 1)
    top = round(_clamp(y0 + rnd.gauss(0, dy), 0, h - 2), 1)
    right = round(_clamp(x1 + rnd.gauss(0, dx), left + 1, w), 1)
    bottom = round(_clamp(y1 + rnd.gauss(0, dy), top + 1, h), 1)
    return _box_geometry((left, top, right, bottom))


def _shifted(rnd: random.Random, scene: _Scene, truth: _Truth) -> Geometry:
    """The truth's geometry as a reviewer draws it: whole pixels, at most one off."""
    w, h = scene.width, scene.height
    dx, dy = rnd.randint(-1, 1), rnd.randint(-1, 1)
    points = [
        (round(_clamp(x + dx, 0, w)), round(_clamp(y + dy, 0, h))) for x, y in truth.geometry.points
    ]
    if truth.geometry.kind == "POINT":
        return parse_wkt(f"POINT ({points[0][0]} {points[0][1]})")
    return polygon(points[:-1])


def _confidence(rnd: random.Random, low: float, high: float) -> float:
    return round(rnd.uniform(low, high), 2)


def _machine_values(rnd: random.Random, truth: _Truth, record: _Record) -> None:
    occluded = truth.occluded if rnd.random() < 0.9 else not truth.occluded
    record.values.append(("occluded", occluded, _confidence(rnd, 0.5, 0.95)))
    if "severity" in truth.values:
        severity = truth.values["severity"]
        if rnd.random() < 0.25:
            severity = rnd.choice(SEVERITIES)
        record.values.append(("severity", severity, _confidence(rnd, 0.35, 0.95)))
    if "visible_count" in truth.values:
        counted = int(truth.values["visible_count"]) - (1 if truth.occluded else 0)
        record.values.append(("visible_count", max(1, counted), _confidence(rnd, 0.5, 0.97)))
    if "length_m" in truth.values:
        estimate = float(truth.values["length_m"]) * rnd.uniform(0.9, 1.1)
        record.values.append(("length_m", f"{estimate:.1f}", _confidence(rnd, 0.4, 0.9)))
    if "flag_state" in truth.entity_values:
        flag = truth.entity_values["flag_state"]
        if rnd.random() < 0.3:
            flag = rnd.choice(FLAG_STATES)
        record.entity_values.append(("flag_state", flag, _confidence(rnd, 0.3, 0.9)))


def _machine_stage(rnd: random.Random, scene: _Scene) -> list[_Record]:
    records = []
    for index, truth in enumerate(scene.objects):
        small = truth.object_class in ("buoy", "person")
        if rnd.random() < (0.25 if truth.occluded else 0.15 if small else 0.08):
            continue  # a miss
        object_class, class_confidence = truth.object_class, _confidence(rnd, 0.55, 0.99)
        if truth.object_class in CONFUSED_CLASS and rnd.random() < 0.07:
            object_class = CONFUSED_CLASS[truth.object_class]
            class_confidence = _confidence(rnd, 0.3, 0.55)
        record = _Record(
            _entity_id(rnd),
            object_class,
            _jittered(rnd, scene, truth, rnd.uniform(0.01, 0.05)),
            _confidence(rnd, 0.45, 0.8) if truth.occluded else _confidence(rnd, 0.6, 0.99),
            class_confidence,
            truth=index,
        )
        _machine_values(rnd, truth, record)
        records.append(record)
    for _ in range(rnd.choices((0, 1, 2), weights=(68, 24, 8))[0]):
        records.append(_false_positive(rnd, scene))
    return records


def _false_positive(rnd: random.Random, scene: _Scene) -> _Record:
    """A detection where nothing was drawn (a wave crest, a reflection)."""
    w, h = scene.width, scene.height
    object_class = rnd.choice(("vessel", "buoy", "person", "container"))
    x, y = rnd.uniform(0.05, 0.9) * w, rnd.uniform(max(scene.horizon, 4), h - 0.1 * h)
    if object_class == "buoy":
        geometry = parse_wkt(f"POINT ({round(x, 1)} {round(y, 1)})")
    else:
        size = rnd.uniform(0.03, 0.12) * w
        right, bottom = min(w, x + size), min(h, y + size * rnd.uniform(0.4, 1.2))
        geometry = _box_geometry((round(x, 1), round(y, 1), round(right, 1), round(bottom, 1)))
    record = _Record(
        _entity_id(rnd),
        object_class,
        geometry,
        _confidence(rnd, 0.3, 0.55),
        _confidence(rnd, 0.3, 0.6),
    )
    record.values.append(("occluded", False, _confidence(rnd, 0.3, 0.7)))
    return record


def _human_values(rnd: random.Random, truth: _Truth, record: _Record) -> None:
    """What the reviewer records: the truth, some notes and, for vessels, the name."""
    record.values.append(("occluded", truth.occluded, 1.0))
    for name in ("severity", "visible_count", "length_m"):
        if name in truth.values:
            record.values.append((name, truth.values[name], 1.0))
    for _ in range(rnd.choices((0, 1, 2), weights=(86, 12, 2))[0]):
        record.values.append(("note", rnd.choice(NOTES), 1.0))
    if "flag_state" in truth.entity_values:
        record.entity_values.append(("flag_state", truth.entity_values["flag_state"], 1.0))
        if rnd.random() < 0.7:
            record.entity_values.append(("vessel_name", truth.entity_values["vessel_name"], 1.0))


def _human_stage(rnd: random.Random, scene: _Scene, machine: list[_Record]) -> list[_Record]:
    """Keep true detections (same entity), delete false positives, add most misses."""
    records = []
    found = set()
    for detection in machine:
        if detection.truth is None:
            continue  # a false positive: deleted
        truth = scene.objects[detection.truth]
        found.add(detection.truth)
        accepted = rnd.random() < 0.5 and detection.object_class == truth.object_class
        record = _Record(
            detection.entity_id,
            truth.object_class,
            detection.geometry if accepted else _shifted(rnd, scene, truth),
            1.0,
            1.0,
            truth=detection.truth,
        )
        _human_values(rnd, truth, record)
        records.append(record)
    for index, truth in enumerate(scene.objects):
        if index not in found and rnd.random() < 0.9:
            record = _Record(
                _entity_id(rnd),
                truth.object_class,
                _shifted(rnd, scene, truth),
                1.0,
                1.0,
                truth=index,
            )
            _human_values(rnd, truth, record)
            records.append(record)
    return records


@dataclass
class _FileContent:
    data: bytes
    machine: list[_Record]
    human: list[_Record] | None


def _file_content(plan: _FilePlan) -> _FileContent:
    rnd = random.Random(plan.seed)
    gen = np.random.default_rng(plan.seed)
    data, scene = _scene(rnd, gen, plan)
    machine = _machine_stage(rnd, scene)
    human = _human_stage(rnd, scene, machine) if plan.human_at else None
    return _FileContent(data, machine, human)


# ---------------------------------------------------------------------------------------
# writing


def _write_records(
    bulk: BulkWriter, taxonomy: Taxonomy, assessment_id: int, records: list[_Record]
) -> None:
    for record in records:
        annotation = bulk.annotation(
            taxonomy,
            assessment_id,
            record.entity_id,
            record.object_class,
            record.geometry,
            confidence=record.confidence,
            class_confidence=record.class_confidence,
        )
        for name, value, confidence in record.values:
            bulk.value(
                taxonomy, assessment_id, record.entity_id, name, value, confidence, annotation
            )
        for name, value, confidence in record.entity_values:
            bulk.value(taxonomy, assessment_id, record.entity_id, name, value, confidence)


def _write_demo(
    session: Session, store: Store, cases: list[_CasePlan], contents: Iterator[_FileContent]
) -> None:
    workflow = create_workflow(
        session,
        DEMO_WORKFLOW,
        list(OBJECT_CLASSES),
        list(ATTRIBUTES),
        description="Demo: generated harbour images, a detector stage and a human review.",
    )
    taxonomy = Taxonomy(workflow)
    orders = {name: workflow_order(session, workflow, name) for name, _ in ORDERS}
    sources = {name: data_source(session, name, kind) for name, kind in SOURCES}
    bulk = BulkWriter(session)
    for planned in cases:
        case_id = bulk.case(workflow, planned.external_id, orders.get(planned.order))
        for plan in planned.files:
            content = next(contents)
            file_id = bulk.file(
                case_id,
                sources[plan.source],
                plan.file_name,
                data=content.data,
                storage=store.files,
                count=plan.count,
            )
            machine = bulk.assessment(
                file_id, MACHINE_STAGE, "machine", plan.detector, plan.machine_at
            )
            _write_records(bulk, taxonomy, machine, content.machine)
            if content.human is not None:
                human = bulk.assessment(file_id, HUMAN_STAGE, "human", plan.reviewer, plan.human_at)
                _write_records(bulk, taxonomy, human, content.human)
    bulk.finish()


def create_demo(store: Store, seed: int = 7, files: int = 240) -> str:
    """Create the demo workflow from ``seed`` with ``files`` images in one transaction.

    Returns the workflow's name; raises InvalidValueError if it exists already. The images
    are drawn by two threads before anything is written; each file's content depends only
    on its own seed, so the result does not depend on the threads' timing.
    """
    if files < 1:
        raise InvalidValueError(f"the demo needs at least one file, got {files}")
    cases = _plan(random.Random(seed), files)
    plans = [plan for planned in cases for plan in planned.files]
    with store.session() as session:
        if session.scalar(select(Workflow.id).where(Workflow.name == DEMO_WORKFLOW)):
            raise InvalidValueError(
                f"workflow {DEMO_WORKFLOW!r} exists already; delete it or use another store"
            )
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="demo-images") as pool:
            contents = list(pool.map(_file_content, plans))
        _write_demo(session, store, cases, iter(contents))
    return DEMO_WORKFLOW


def ensure_demo(store: Store, seed: int = 7, files: int = 240) -> bool:
    """Create the demo if the store has no workflow at all; returns whether it did.

    Two servers starting on one empty store may both try: the one that loses the race
    (its transaction fails on the workflow's unique name) returns False.
    """
    if not store.is_empty():
        return False
    try:
        create_demo(store, seed=seed, files=files)
    except (InvalidValueError, DBAPIError):
        if DEMO_WORKFLOW in store.workflow_names():
            return False
        raise
    return True
