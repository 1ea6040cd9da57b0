"""What the demo's detector and reviewer record about a scene: annotations and values."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import numpy as np

from dashboard.importers.demo.plan import CONFUSED_CLASS, FLAG_STATES, NOTES, SEVERITIES, FilePlan
from dashboard.importers.demo.scene import Scene, Truth, box_geometry, draw_scene
from dashboard.spec.geometry import Geometry, parse_wkt, polygon

# ---------------------------------------------------------------------------------------
# stages: what the detector and the reviewer record about a scene


@dataclass
class Record:
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


def _jittered(rnd: random.Random, scene: Scene, truth: Truth, spread: float) -> Geometry:
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
    return box_geometry((left, top, right, bottom))


def _shifted(rnd: random.Random, scene: Scene, truth: Truth) -> Geometry:
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


def _machine_values(rnd: random.Random, truth: Truth, record: Record) -> None:
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


def _machine_stage(rnd: random.Random, scene: Scene) -> list[Record]:
    records = []
    for index, truth in enumerate(scene.objects):
        small = truth.object_class in ("buoy", "person")
        if rnd.random() < (0.25 if truth.occluded else 0.15 if small else 0.08):
            continue  # a miss
        object_class, class_confidence = truth.object_class, _confidence(rnd, 0.55, 0.99)
        if truth.object_class in CONFUSED_CLASS and rnd.random() < 0.07:
            object_class = CONFUSED_CLASS[truth.object_class]
            class_confidence = _confidence(rnd, 0.3, 0.55)
        record = Record(
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


def _false_positive(rnd: random.Random, scene: Scene) -> Record:
    """A detection where nothing was drawn (a wave crest, a reflection)."""
    w, h = scene.width, scene.height
    object_class = rnd.choice(("vessel", "buoy", "person", "container"))
    x, y = rnd.uniform(0.05, 0.9) * w, rnd.uniform(max(scene.horizon, 4), h - 0.1 * h)
    if object_class == "buoy":
        geometry = parse_wkt(f"POINT ({round(x, 1)} {round(y, 1)})")
    else:
        size = rnd.uniform(0.03, 0.12) * w
        right, bottom = min(w, x + size), min(h, y + size * rnd.uniform(0.4, 1.2))
        geometry = box_geometry((round(x, 1), round(y, 1), round(right, 1), round(bottom, 1)))
    record = Record(
        _entity_id(rnd),
        object_class,
        geometry,
        _confidence(rnd, 0.3, 0.55),
        _confidence(rnd, 0.3, 0.6),
    )
    record.values.append(("occluded", False, _confidence(rnd, 0.3, 0.7)))
    return record


def _human_values(rnd: random.Random, truth: Truth, record: Record) -> None:
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


def _human_stage(rnd: random.Random, scene: Scene, machine: list[Record]) -> list[Record]:
    """Keep true detections (same entity), delete false positives, add most misses."""
    records = []
    found = set()
    for detection in machine:
        if detection.truth is None:
            continue  # a false positive: deleted
        truth = scene.objects[detection.truth]
        found.add(detection.truth)
        accepted = rnd.random() < 0.5 and detection.object_class == truth.object_class
        record = Record(
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
            record = Record(
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
class FileContent:
    data: bytes
    machine: list[Record]
    human: list[Record] | None


def file_content(plan: FilePlan) -> FileContent:
    rnd = random.Random(plan.seed)
    gen = np.random.default_rng(plan.seed)
    data, scene = draw_scene(rnd, gen, plan)
    machine = _machine_stage(rnd, scene)
    human = _human_stage(rnd, scene, machine) if plan.human_at else None
    return FileContent(data, machine, human)
