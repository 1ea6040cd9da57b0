"""WKT geometry in pixel coordinates: parsing, validation and one canonical spelling.

Only the three shapes the product uses: ``POLYGON ((x y, ...))`` (boxes are polygons),
``POINT (x y)`` and ``LINESTRING (x y, ...)``. Coordinates are kept to six decimal places
and written in plain decimals (no exponent, no trailing zeros, no ``-0``), so the same
geometry always exports as the same text and that text parses back to itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dashboard.errors import InvalidGeometryError

Point = tuple[float, float]

_SHAPE = re.compile(r"^\s*(POLYGON|POINT|LINESTRING)\s*(\(.*\))\s*$", re.IGNORECASE | re.DOTALL)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"^\s*({_NUMBER})\s+({_NUMBER})\s*$")


@dataclass(frozen=True)
class Geometry:
    kind: str  # "POLYGON", "POINT" or "LINESTRING"
    points: tuple[Point, ...]  # a polygon's exterior ring, closed

    @property
    def wkt(self) -> str:
        coords = ", ".join(f"{format_number(x)} {format_number(y)}" for x, y in self.points)
        if self.kind == "POLYGON":
            return f"POLYGON (({coords}))"
        return f"{self.kind} ({coords})"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        xs = [x for x, _ in self.points]
        ys = [y for _, y in self.points]
        return min(xs), min(ys), max(xs), max(ys)


def format_number(value: float) -> str:
    """Plain decimal text to 6 places: no exponent, no trailing zeros, no ``-0``."""
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _pairs(body: str, text: str) -> tuple[Point, ...]:
    points = []
    for pair in body.split(","):
        match = _PAIR.match(pair)
        if not match:
            raise InvalidGeometryError(f"malformed coordinate {pair.strip()!r} in {text!r}")
        x, y = float(match.group(1)), float(match.group(2))
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InvalidGeometryError(f"non-finite coordinate in {text!r}")
        # Validate what will be written: coordinates at the precision of format_number.
        points.append((round(x, 6) + 0.0, round(y, 6) + 0.0))
    return tuple(points)


def parse_wkt(text: str) -> Geometry:
    """Parse and validate a WKT geometry; raises InvalidGeometryError with the reason."""
    if not isinstance(text, str):
        raise InvalidGeometryError(f"geometry must be WKT text, got {type(text).__name__}")
    match = _SHAPE.match(text)
    if not match:
        raise InvalidGeometryError(
            f"unsupported or malformed geometry {text[:80]!r}: "
            "expected POLYGON, POINT or LINESTRING"
        )
    kind, body = match.group(1).upper(), match.group(2).strip()
    if kind == "POLYGON":
        inner = re.match(r"^\(\s*\(([^()]*)\)\s*\)$", body)
        if not inner:
            if re.match(r"^\(\s*\([^()]*\)\s*,\s*\(", body):
                raise InvalidGeometryError(f"polygons with holes are not supported: {text[:80]!r}")
            raise InvalidGeometryError(f"malformed polygon {text[:80]!r}")
        points = _pairs(inner.group(1), text)
        if len(points) >= 2 and points[0] == points[-1]:
            points = points[:-1]
        if len(set(points)) < 3:
            raise InvalidGeometryError(f"a polygon needs at least 3 distinct points: {text[:80]!r}")
        return Geometry(kind, points + (points[0],))
    inner = re.match(r"^\((.*)\)$", body, re.DOTALL)
    if not inner or "(" in inner.group(1):
        raise InvalidGeometryError(f"malformed {kind.lower()} {text[:80]!r}")
    points = _pairs(inner.group(1), text)
    if kind == "POINT" and len(points) != 1:
        raise InvalidGeometryError(f"a point has exactly one coordinate: {text[:80]!r}")
    if kind == "LINESTRING" and len(points) < 2:
        raise InvalidGeometryError(f"a linestring needs at least 2 points: {text[:80]!r}")
    return Geometry(kind, points)


def box(x: float, y: float, width: float, height: float) -> Geometry:
    """An axis-aligned box (COCO bbox) as a closed polygon."""
    if not all(math.isfinite(v) for v in (x, y, width, height)):
        raise InvalidGeometryError(f"a box needs finite numbers, got {(x, y, width, height)}")
    if width <= 0 or height <= 0:
        raise InvalidGeometryError(f"a box needs a positive width and height, got {width}x{height}")
    return polygon([(x, y), (x + width, y), (x + width, y + height), (x, y + height)])


def polygon(points: list[Point]) -> Geometry:
    return parse_wkt(
        "POLYGON ((" + ", ".join(f"{format_number(x)} {format_number(y)}" for x, y in points) + "))"
    )


# EXIF orientations (tag 0x0112) that turn the picture a quarter: width and height swap.
EXIF_ORIENTATION = 0x0112
QUARTER_TURNS = frozenset({5, 6, 7, 8})


def displayed_size(image) -> tuple[int, int]:
    """A Pillow image's width and height as a person sees it: its EXIF orientation applied
    (SPEC 2, pixel coordinates). Imports check geometry against this size, the store records
    it, and drawing, preview and hover use the image turned upright."""
    width, height = image.size
    if image.getexif().get(EXIF_ORIENTATION) in QUARTER_TURNS:
        return height, width
    return width, height
