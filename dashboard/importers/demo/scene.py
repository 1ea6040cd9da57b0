"""A demo image: a harbour drawn from a file's seed, and the truth about what is in it."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from dashboard.importers.demo.plan import DRONE, FLAG_STATES, VESSEL_NAMES, FilePlan
from dashboard.spec.geometry import Geometry, parse_wkt, polygon

SKY = ((150, 188, 228), (214, 229, 243))
SEA = ((92, 138, 160), (22, 62, 92))
QUAY = ((128, 127, 120), (104, 103, 98))
HULLS = ((150, 30, 30), (30, 40, 60), (230, 230, 225), (20, 70, 50), (60, 60, 70))
RUST = ((139, 69, 19), (150, 78, 32), (118, 56, 24))
BOXES = ((200, 80, 30), (30, 90, 160), (40, 130, 70), (180, 40, 40), (210, 170, 40))
HI_VIS = ((250, 120, 20), (225, 230, 40))

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


# ---------------------------------------------------------------------------------------
# scene: a harbour image with drawn objects, and the truth about them


@dataclass
class Truth:
    """A drawn object: what a perfect reviewer would annotate."""

    object_class: str
    geometry: Geometry
    bbox: Box
    values: dict[str, object] = field(default_factory=dict)
    entity_values: dict[str, object] = field(default_factory=dict)
    parent: int | None = None  # the vessel a corrosion patch is on
    occluded: bool = False


@dataclass
class Scene:
    width: int
    height: int
    horizon: int  # sky above, 0 for a top-down drone view
    quay_top: int  # quay below, ``height`` when there is none
    top_down: bool
    objects: list[Truth] = field(default_factory=list)


def _ramp(start: Sequence[int], end: Sequence[int], rows: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, max(rows, 1), dtype=np.float32)[:rows, None]
    return np.asarray(start, np.float32) * (1 - t) + np.asarray(end, np.float32) * t


def _background(gen: np.random.Generator, scene: Scene, grain: bool) -> Image.Image:
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


def box_geometry(bbox: Box) -> Geometry:
    x0, y0, x1, y1 = bbox
    return polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place(rnd: random.Random, scene: Scene, size: tuple[float, float], area: Box) -> Box | None:
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


def _draw_vessel(rnd: random.Random, draw: ImageDraw.ImageDraw, scene: Scene, scale: float) -> None:
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
        Truth(
            "vessel",
            box_geometry(bbox),
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
    rnd: random.Random, draw: ImageDraw.ImageDraw, scene: Scene, area: Box, vessel: int
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
        Truth(
            "corrosion",
            polygon(points),
            (min(xs), min(ys), max(xs), max(ys)),
            values={"severity": severity},
            parent=vessel,
        )
    )


def _draw_containers(
    rnd: random.Random, draw: ImageDraw.ImageDraw, scene: Scene, scale: float
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
        Truth("container", box_geometry(bbox), bbox, values={"visible_count": stacked})
    )


def _draw_crane(rnd: random.Random, draw: ImageDraw.ImageDraw, scene: Scene, scale: float) -> None:
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
    scene.objects.append(Truth("crane", box_geometry(bbox), bbox))


def _draw_buoy(rnd: random.Random, draw: ImageDraw.ImageDraw, scene: Scene, scale: float) -> None:
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
    scene.objects.append(Truth("buoy", point, (x0, max(0, round(y0 - radius)), x1, y1)))


def _draw_person(rnd: random.Random, draw: ImageDraw.ImageDraw, scene: Scene, scale: float) -> None:
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
    scene.objects.append(Truth("person", box_geometry(bbox), bbox))


def draw_scene(rnd: random.Random, gen: np.random.Generator, plan: FilePlan) -> tuple[bytes, Scene]:
    """Draw one harbour image; returns its encoded bytes and the drawn objects."""
    w, h = plan.width, plan.height
    top_down = plan.source == DRONE
    if top_down:
        quay_top = round(h * rnd.uniform(0.72, 0.86)) if rnd.random() < 0.6 else h
        scene = Scene(w, h, 0, quay_top, True)
    else:
        horizon = round(h * rnd.uniform(0.22, 0.36))
        scene = Scene(w, h, horizon, round(h * rnd.uniform(0.7, 0.82)), False)
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
