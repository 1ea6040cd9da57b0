"""WKT geometry: the one canonical spelling, and every malformed input refused."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dashboard.errors import InvalidGeometryError
from dashboard.spec.geometry import box, format_number, parse_wkt, polygon


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))", "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"),
        ("POLYGON((0 0,10 0,10 10,0 10))", "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"),
        ("polygon (( 1.50 2.0 , 3 4.25,5e1 6 ))", "POLYGON ((1.5 2, 3 4.25, 50 6, 1.5 2))"),
        ("  POLYGON ((0 0, 1 0, 1 1))\n", "POLYGON ((0 0, 1 0, 1 1, 0 0))"),
        ("POLYGON ((-0.0000001 0, 10 0, 10 10))", "POLYGON ((0 0, 10 0, 10 10, 0 0))"),
        ("POLYGON ((0.00001 0, 10 0, 10 10))", "POLYGON ((0.00001 0, 10 0, 10 10, 0.00001 0))"),
        ("POINT (3 4)", "POINT (3 4)"),
        ("point(3.0 -4.5)", "POINT (3 -4.5)"),
        ("POINT (0.1234567 +2)", "POINT (0.123457 2)"),
        ("LINESTRING (0 0, 5 5, 10 0)", "LINESTRING (0 0, 5 5, 10 0)"),
        ("linestring(1.10 2,3 4)", "LINESTRING (1.1 2, 3 4)"),
    ],
)
def test_parse_wkt_writes_the_canonical_form(text, canonical):
    assert parse_wkt(text).wkt == canonical
    assert parse_wkt(canonical).wkt == canonical


def test_polygon_ring_is_closed_once_and_points_kept():
    geometry = parse_wkt("POLYGON ((0 0, 4 0, 4 3))")
    assert geometry.kind == "POLYGON"
    assert geometry.points == ((0, 0), (4, 0), (4, 3), (0, 0))
    assert geometry.bounds == (0, 0, 4, 3)
    closed = parse_wkt("POLYGON ((0 0, 4 0, 4 3, 0 0))")
    assert closed.points == geometry.points


def test_point_and_linestring_points():
    assert parse_wkt("POINT (7 8)").points == ((7, 8),)
    assert parse_wkt("LINESTRING (1 2, 3 4)").points == ((1, 2), (3, 4))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (12.0, "12"),
        (-3.5, "-3.5"),
        (0.1 + 0.2, "0.3"),
        (1e-5, "0.00001"),
        (-1e-7, "0"),
        (1e20, "100000000000000000000"),
        (2.0000004, "2"),
        (2.0000006, "2.000001"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("POLYGON ((0 0, 10 0, 10 10)", "malformed polygon"),
        ("POLYGON (0 0, 10 0, 10 10))", "malformed polygon"),
        ("POLYGON ((0 0, 10 0, 10 10)))", "malformed"),
        ("POLYGON ((a b, 10 0, 10 10))", "malformed coordinate 'a b'"),
        ("POLYGON ((0 0, 10 0, 10 x))", "malformed coordinate '10 x'"),
        ("POLYGON ((0 0, 10 0))", "at least 3 distinct points"),
        ("POLYGON ((0 0, 10 0, 0 0))", "at least 3 distinct points"),
        ("POLYGON ((0 0, 0.0000001 0, 0 0.0000001))", "at least 3 distinct points"),
        ("POLYGON ((0 0, nan 0, 10 10))", "malformed coordinate"),
        ("POLYGON ((0 0, inf 0, 10 10))", "malformed coordinate"),
        ("POLYGON ((0 0, 1e400 0, 10 10))", "non-finite"),
        ("POLYGON ((0 0, 10 0, 10 10), (1 1, 2 1, 2 2))", "holes are not supported"),
        ("POLYGON ((0 0, 10 0, 10 10), garbage)", "malformed polygon"),
        ("POLYGON ((0 0 0, 10 0 0, 10 10 0))", "malformed coordinate"),
        ("MULTIPOLYGON (((0 0, 10 0, 10 10)))", "expected POLYGON, POINT or LINESTRING"),
        ("GEOMETRYCOLLECTION (POINT (1 2))", "expected POLYGON, POINT or LINESTRING"),
        ("POINT EMPTY", "expected POLYGON, POINT or LINESTRING"),
        ("POINT (1 2, 3 4)", "exactly one coordinate"),
        ("POINT ((1 2))", "malformed point"),
        ("LINESTRING (1 2)", "at least 2 points"),
        ("", "expected POLYGON, POINT or LINESTRING"),
        ("0 0, 1 1", "expected POLYGON, POINT or LINESTRING"),
    ],
)
def test_malformed_geometry_is_refused_with_the_reason(text, reason):
    with pytest.raises(InvalidGeometryError, match=reason.replace("(", r"\(")):
        parse_wkt(text)


def test_non_text_geometry_is_refused():
    with pytest.raises(InvalidGeometryError, match="must be WKT text, got list"):
        parse_wkt([(0, 0), (1, 1)])


def test_box_is_a_closed_polygon():
    geometry = box(10, 20, 30, 40)
    assert geometry.wkt == "POLYGON ((10 20, 40 20, 40 60, 10 60, 10 20))"
    assert geometry.bounds == (10, 20, 40, 60)
    assert box(0.1, 0.2, 0.3, 0.4).wkt == "POLYGON ((0.1 0.2, 0.4 0.2, 0.4 0.6, 0.1 0.6, 0.1 0.2))"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((0, 0, 0, 5), "positive width and height"),
        ((0, 0, 5, -1), "positive width and height"),
        ((0, 0, math.nan, 5), "finite"),
        ((math.inf, 0, 5, 5), "finite"),
        ((0, 0, 1e-9, 1e-9), "at least 3 distinct points"),
    ],
)
def test_bad_box_is_refused(args, reason):
    with pytest.raises(InvalidGeometryError, match=reason):
        box(*args)


def test_polygon_from_points():
    assert polygon([(0, 0), (2, 0), (2, 2)]).wkt == "POLYGON ((0 0, 2 0, 2 2, 0 0))"
    with pytest.raises(InvalidGeometryError):
        polygon([(0, 0), (math.nan, 0), (2, 2)])


coordinate = st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False)
point = st.tuples(coordinate, coordinate)


def wkt_of(kind: str, points) -> str:
    coords = ", ".join(f"{x!r} {y!r}" for x, y in points)
    return f"POLYGON (({coords}))" if kind == "POLYGON" else f"{kind} ({coords})"


@given(st.lists(point, min_size=3, max_size=12))
def test_canonical_polygon_is_a_fixed_point(points):
    try:
        geometry = parse_wkt(wkt_of("POLYGON", points))
    except InvalidGeometryError:
        return  # fewer than 3 distinct points at the written precision
    assert geometry.points[0] == geometry.points[-1]
    again = parse_wkt(geometry.wkt)
    assert again.wkt == geometry.wkt
    assert again.points == geometry.points
    assert len(set(geometry.points)) >= 3


@given(st.lists(point, min_size=3, max_size=12, unique=True))
def test_canonical_polygon_keeps_every_vertex_to_six_places(points):
    # Vertices that coincide at the written precision are one vertex (and a first vertex
    # equal to the last closes the ring): only distinct ones are counted below.
    assume(len({(round(x, 6), round(y, 6)) for x, y in points}) == len(points))
    try:
        geometry = polygon(points)
    except InvalidGeometryError:
        return
    assert len(geometry.points) == len(points) + 1
    for (x, y), (gx, gy) in zip(points, geometry.points, strict=False):
        assert abs(x - gx) <= 6e-7 and abs(y - gy) <= 6e-7


@given(st.sampled_from(["POINT", "LINESTRING"]), st.lists(point, min_size=1, max_size=6))
def test_canonical_point_and_linestring_are_fixed_points(kind, points):
    points = points[:1] if kind == "POINT" else points + [(0.5, 0.5)]
    geometry = parse_wkt(wkt_of(kind, points))
    assert parse_wkt(geometry.wkt).wkt == geometry.wkt
    assert "e" not in geometry.wkt.lower().replace("point", "").replace("linestring", "")
