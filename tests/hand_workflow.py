"""A small hand-built workflow whose exports the tests spell out byte for byte.

Two files in case 3112442 (order 8492192, data source cam-1) plus one file in no order
(case A-7, data source drone), with a machine and a human assessment on file 1:
entity E1 kept (moved), E2 deleted, E3 added; E1 has an entity-level value and a
multi-valued attribute; a hostile '=cmd' string and non-ASCII text.
"""

from __future__ import annotations

import io
from datetime import datetime

from PIL import Image

from dashboard.store import writer

E1 = "00000000-0000-4000-8000-000000000001"
E2 = "00000000-0000-4000-8000-000000000002"
E3 = "00000000-0000-4000-8000-000000000003"
E4 = "00000000-0000-4000-8000-000000000004"
E5 = "00000000-0000-4000-8000-000000000005"
E6 = "00000000-0000-4000-8000-000000000006"


def image_bytes(width: int, height: int, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 140)).save(buffer, fmt)
    return buffer.getvalue()


def build_hand_workflow(store) -> dict[str, int]:
    """Returns the database ids the expected texts refer to."""
    ids: dict[str, int] = {}
    with store.session() as s:
        wf = writer.create_workflow(
            s,
            "harbour",
            ["vessel", "buoy"],
            [
                ("severity", "enum", ["low", "high"]),
                ("note", "string"),
                ("occluded", "boolean"),
                ("length_m", "decimal"),
                ("vessel_name", "string"),
            ],
        )
        tax = writer.Taxonomy(wf)
        order = writer.workflow_order(s, wf, "8492192")
        cam = writer.data_source(s, "cam-1", "camera")
        drone = writer.data_source(s, "drone", "bucket")
        case = writer.case(s, wf, "3112442", order)
        f1 = writer.add_file(s, store.files, case, cam, "Kai Süd.jpg", image_bytes(64, 48))
        f2 = writer.add_file(s, store.files, case, cam, "second.PNG", image_bytes(32, 32, "PNG"))
        loose = writer.case(s, wf, "A-7")
        f3 = writer.add_file(s, store.files, loose, drone, "loose.jpg", image_bytes(40, 30))

        m1 = writer.add_assessment(
            s, f1, "detector", "machine", "det@1.0", datetime(2026, 11, 1, 8, 0, 0)
        )
        a = writer.add_annotation(
            s, tax, m1, E1, "vessel", "POLYGON ((1 1, 20 1, 20 10, 1 10, 1 1))", 0.91, 0.8
        )
        writer.add_value(s, tax, m1, E1, "severity", "high", 0.7, a)
        writer.add_value(s, tax, m1, E1, "note", "=cmd|' /C calc'!A0", 0.5, a)
        b = writer.add_annotation(s, tax, m1, E2, "buoy", "POINT (30 30)", 0.42, 0.4)
        writer.add_value(s, tax, m1, E2, "occluded", True, 0.6, b)

        h1 = writer.add_assessment(
            s, f1, "review", "human", "anna.schmidt", datetime(2026, 11, 2, 9, 30, 0)
        )
        a2 = writer.add_annotation(
            s, tax, h1, E1, "vessel", "POLYGON ((2 1, 21 1, 21 10, 2 10, 2 1))", 1.0, 1.0
        )
        writer.add_value(s, tax, h1, E1, "severity", "low", 1.0, a2)
        writer.add_value(s, tax, h1, E1, "note", "Rost – Ölspur", None, a2)
        writer.add_value(s, tax, h1, E1, "note", "second note", None, a2)
        writer.add_value(s, tax, h1, E1, "vessel_name", "Möwe", 0.9)
        c = writer.add_annotation(
            s, tax, h1, E3, "buoy", "POLYGON ((40 5, 50 5, 45 15, 40 5))", None, None
        )
        writer.add_value(s, tax, h1, E3, "length_m", "2.50", None, c)
        writer.add_value(s, tax, h1, E4, "vessel_name", "-ghost", None)

        m2 = writer.add_assessment(
            s, f2, "detector", "machine", "det@1.0", datetime(2026, 11, 1, 8, 0, 0)
        )
        line = writer.add_annotation(s, tax, m2, E5, "vessel", "LINESTRING (0 0, 10 10)", 0.55, 0.5)
        m3 = writer.add_assessment(
            s, f3, "detector", "machine", "det@1.0", datetime(2026, 11, 3, 7, 0, 0)
        )
        box = writer.add_annotation(
            s, tax, m3, E6, "vessel", "POLYGON ((0 0, 5 0, 5 5, 0 0))", 0.66
        )
        ids.update(f1=f1.id, f2=f2.id, f3=f3.id, m1=m1.id, h1=h1.id, m2=m2.id, m3=m3.id)
        ids.update(a=a.id, b=b.id, a2=a2.id, c=c.id, m2_ann=line.id, m3_ann=box.id)
    return ids
