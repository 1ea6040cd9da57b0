"""The demo's plan: its taxonomy, stages, people and names, and the cases, files and times
drawn serially from the seed (each file gets a seed of its own for its scene and stages)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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

# ---------------------------------------------------------------------------------------
# plan: cases, files and times, drawn serially from the seed


@dataclass
class FilePlan:
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
class CasePlan:
    external_id: str
    order: str | None
    files: list[FilePlan] = field(default_factory=list)


def plan_cases(rng: random.Random, files: int) -> list[CasePlan]:
    """Cases of 1..3 files over the three orders and no order, with their times and names."""
    order_names = [name for name, _ in ORDERS] + [None]
    # the first four cases cover every order, no order and both data sources
    fixed = ((0, CAMERA), (1, DRONE), (2, DRONE), (3, CAMERA))
    clocks: dict[str | None, datetime] = dict(ORDERS)
    external_id = rng.randint(3_100_000, 3_150_000)
    drone_shot = rng.randint(1, 400)
    cases: list[CasePlan] = []
    index = 0
    while index < files:
        if len(cases) < len(fixed):
            order_index, source = fixed[len(cases)]
        else:
            order_index = rng.choices(range(4), weights=(30, 30, 25, 15))[0]
            source = CAMERA if rng.random() < 0.6 else DRONE
        order = order_names[order_index]
        external_id += rng.randint(1, 40)
        planned = CasePlan(str(external_id), order)
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
                FilePlan(
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
