"""Annotated images: pixels checked on generated images (PNG for exact values)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from dashboard.errors import AssessError, InvalidGeometryError
from dashboard.produce.drawing import (
    Overlay,
    UndecodableImageError,
    class_colour,
    draw_annotations,
    draw_image,
    label_text,
)

GREY = (128, 128, 128)
RED = (230, 25, 75)  # "#e6194b"
YELLOW = (255, 225, 25)  # "#ffe119"
NAVY = (0, 0, 117)  # "#000075"
SQUARE = "POLYGON ((100 100, 200 100, 200 200, 100 200, 100 100))"
ORIENTATION = 0x0112


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def grey(size=(400, 300), image_format="PNG", mode="RGB", colour=GREY) -> bytes:
    return encoded(Image.new(mode, size, colour), image_format)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(decoded(data)).astype(int)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def draw_png(overlays, size=(400, 300), **options) -> np.ndarray:
    data, image_format = draw_annotations(grey(size), overlays, **options)
    assert image_format == "PNG"
    return pixels(data)


# --- outline, fill, label --------------------------------------------------------------


def test_outline_is_drawn_in_the_class_colour_on_every_edge():
    out = draw_png([Overlay(SQUARE, "car", "#e6194b", 0.87)], line_width=4)
    for x, y in [(100, 150), (200, 150), (150, 200), (199, 199), (101, 101), (150, 101)]:
        assert tuple(out[y, x]) == RED, (x, y)


def test_pixels_away_from_the_annotation_are_untouched():
    source = pixels(grey())
    out = draw_png([Overlay(SQUARE, "car", "#e6194b", 0.87)], line_width=4)
    changed_y, changed_x = np.nonzero((out != source).any(axis=2))
    assert changed_x.size > 0
    # Only the polygon (plus half the line width) and its label above it may change.
    assert changed_x.min() >= 98 and changed_x.max() <= 202
    assert changed_y.min() >= 100 - 40 and changed_y.max() <= 202
    assert (out[:, 210:] == source[:, 210:]).all()
    assert (out[205:] == source[205:]).all()


def test_fill_is_a_translucent_blend_of_image_and_class_colour():
    out = draw_png([Overlay(SQUARE, "car", "#e6194b", None)], fill_alpha=64)
    inside = out[150, 150]
    expected = [g + (c - g) * 64 / 255 for g, c in zip(GREY, RED, strict=True)]
    assert np.abs(inside - expected).max() <= 1
    for value, g, c in zip(inside, GREY, RED, strict=True):
        assert min(g, c) < value < max(g, c)


def test_zero_fill_alpha_leaves_the_inside_untouched():
    out = draw_png([Overlay(SQUARE, "car", "#e6194b", None)], fill_alpha=0)
    assert (out[110:190, 110:190] == GREY).all()


def test_label_sits_above_the_top_left_on_the_class_colour():
    out = draw_png([Overlay(SQUARE, "car", "#e6194b", 0.87)], line_width=4)
    # Just above the outline (which covers y 98..101), one pixel in from the label's left.
    assert tuple(out[94, 101]) == RED
    column = out[:100, 101]
    label_rows = np.nonzero((column == RED).all(axis=1))[0]
    assert 8 <= label_rows.size <= 40  # a box of one text line, ending at the polygon
    assert label_rows.max() == 99


@pytest.mark.parametrize(
    ("colour", "rgb", "text_is_dark"), [("#ffe119", YELLOW, True), ("#000075", NAVY, False)]
)
def test_label_text_contrasts_with_its_background(colour, rgb, text_is_dark):
    out = draw_png([Overlay(SQUARE, "car", colour, 0.87)], line_width=4)
    label = out[60:97, 100:200]
    dark = (label < 60).all(axis=2).sum()
    light = (label > 200).all(axis=2).sum()
    assert (label == rgb).all(axis=2).sum() > 0
    if text_is_dark:
        assert dark > 10 and light == 0
    else:
        assert light > 10 and dark == 0


def test_label_text_shows_class_and_confidence_with_two_decimals():
    assert label_text(Overlay(SQUARE, "car", None, 0.873)) == "car 0.87"
    assert label_text(Overlay(SQUARE, "car", None, 1.0)) == "car 1.00"
    assert label_text(Overlay(SQUARE, "car", None, None)) == "car"


def test_a_longer_label_covers_more_pixels():
    short = draw_png([Overlay(SQUARE, "car", "#e6194b", None)], line_width=4)
    long = draw_png([Overlay(SQUARE, "car", "#e6194b", 0.87)], line_width=4)
    assert (long[:97] == RED).all(axis=2).sum() > (short[:97] == RED).all(axis=2).sum()


def test_label_is_moved_inside_the_image_at_the_top_and_right_edges():
    corner = "POLYGON ((0 0, 60 0, 60 60, 0 60, 0 0))"
    out = draw_png([Overlay(corner, "car", "#e6194b", 0.87)], line_width=4)
    assert tuple(out[0, 0]) == RED  # the label's corner, pushed down into the image
    right = "POLYGON ((395 150, 399 150, 399 160, 395 160, 395 150))"
    out = draw_png([Overlay(right, "a rather long class name", "#e6194b", 0.87)], line_width=2)
    label_rows = np.nonzero((out[:150, 399] == RED).all(axis=1))[0]
    assert label_rows.size >= 8  # the label ends at the right edge
    top_row = out[label_rows.min()]  # the box's padding: no text in it
    assert (top_row == RED).all(axis=1).sum() > 60  # and was moved left to fit


def test_missing_colour_uses_the_stable_class_colour():
    out = draw_png([Overlay(SQUARE, "person", None, None)], line_width=4)
    assert tuple(out[150, 100]) == hex_rgb(class_colour("person"))
    out = draw_png([Overlay(SQUARE, "person", "not a colour", None)], line_width=4)
    assert tuple(out[150, 100]) == hex_rgb(class_colour("person"))


def test_fills_never_hide_outlines_or_labels():
    under = "POLYGON ((150 150, 300 150, 300 250, 150 250, 150 150))"
    out = draw_png(
        [Overlay(SQUARE, "car", "#e6194b", None), Overlay(under, "bus", "#ffe119", None)],
        line_width=4,
        fill_alpha=200,
    )
    assert tuple(out[180, 200]) == RED  # the first outline, inside the second fill


# --- class colours -------------------------------------------------------------------


def test_class_colour_is_stable_and_differs_between_classes():
    assert class_colour("car") == "#4363d8"
    assert class_colour("person") == "#bfef45"
    assert class_colour("truck") == "#aaffc3"
    assert class_colour("car") != class_colour("person")
    names = [f"class {index}" for index in range(40)]
    assert len({class_colour(name) for name in names}) >= 10
    for name in names:
        assert len(class_colour(name)) == 7 and class_colour(name).startswith("#")


# --- formats, size, orientation --------------------------------------------------------


def test_jpeg_stays_a_jpeg_of_the_same_size():
    data, image_format = draw_annotations(
        grey((640, 480), "JPEG"), [Overlay(SQUARE, "car", "#e6194b", 0.9)], line_width=10
    )
    image = decoded(data)
    assert (image_format, image.format, image.size, image.mode) == (
        "JPEG",
        "JPEG",
        (640, 480),
        "RGB",
    )
    out = np.asarray(image).astype(int)
    assert np.abs(out[150, 100] - RED).max() <= 30  # middle of a 10 px line
    assert np.abs(out[400, 500] - GREY).max() <= 3  # far away: only re-encoding noise


def test_png_keeps_transparency_and_leaves_far_pixels_exact():
    source = grey((300, 250), "PNG", mode="RGBA", colour=(10, 20, 30, 0))
    data, image_format = draw_annotations(source, [Overlay(SQUARE, "car", "#e6194b", None)])
    image = decoded(data)
    assert (image_format, image.format, image.size, image.mode) == (
        "PNG",
        "PNG",
        (300, 250),
        "RGBA",
    )
    out = np.asarray(image)
    assert tuple(out[240, 290]) == (10, 20, 30, 0)
    assert tuple(out[150, 100]) == (*RED, 255)
    assert tuple(out[150, 150]) == (*RED, 64)  # the fill over a transparent pixel


def test_greyscale_and_palette_pngs_are_drawn_in_colour():
    for mode, colour in [("L", 128), ("P", 3)]:
        data, image_format = draw_annotations(
            grey(mode=mode, colour=colour), [Overlay(SQUARE, "car", "#e6194b", None)], line_width=4
        )
        image = decoded(data)
        assert image_format == "PNG" and image.mode in ("RGB", "RGBA")
        assert tuple(np.asarray(image.convert("RGB"))[150, 100]) == RED


def rotated_jpeg(orientation: int) -> bytes:
    """A 300x200 stored JPEG, white in its stored top-left, shown 200x300 by its EXIF tag."""
    stored = Image.new("RGB", (300, 200), GREY)
    stored.paste((255, 255, 255), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Test camera"
    return encoded(stored, "JPEG", exif=exif, quality=95)


@pytest.mark.parametrize(("orientation", "white_corner"), [(6, "top right"), (8, "bottom left")])
def test_exif_rotated_jpeg_is_drawn_in_displayed_coordinates(orientation, white_corner):
    source = rotated_jpeg(orientation)
    displayed = ImageOps.exif_transpose(decoded(source))
    assert displayed.size == (200, 300)
    box = "POLYGON ((60 100, 140 100, 140 250, 60 250, 60 100))"  # fits only if displayed
    data, image_format = draw_annotations(
        source, [Overlay(box, "car", "#e6194b", 0.5)], line_width=8
    )
    image = decoded(data)
    assert image_format == "JPEG" and image.size == (200, 300)
    assert ORIENTATION not in image.getexif()
    assert image.getexif().get(0x010F) == "Test camera"  # the rest of the EXIF is kept
    out = np.asarray(image).astype(int)
    assert np.abs(out[175, 60] - RED).max() <= 30  # left edge of the box
    assert np.abs(out[250, 100] - RED).max() <= 30  # bottom edge
    corners = {"top right": out[5:30, 175:195], "bottom left": out[275:295, 5:25]}
    assert (corners[white_corner] > 240).all()  # content turned once, as displayed
    for name, corner in corners.items():
        if name != white_corner:
            assert np.abs(corner - GREY).max() <= 5


def test_an_orientation_tag_that_turns_nothing_is_dropped_too():
    data, _ = draw_annotations(rotated_jpeg(1), [Overlay(SQUARE, "car", "#e6194b", None)])
    image = decoded(data)
    assert image.size == (300, 200)
    assert ORIENTATION not in image.getexif()


# --- clipping, points, lines -------------------------------------------------------------


def test_geometry_partly_outside_is_clipped():
    source = pixels(grey())
    overhang = "POLYGON ((-50 -50, 100 -50, 100 100, -50 100, -50 -50))"
    out = draw_png([Overlay(overhang, "car", "#e6194b", None)], line_width=4)
    assert tuple(out[50, 100]) == RED  # the visible right edge
    assert tuple(out[1, 50]) != RED  # no outline along the image border where it was cut
    assert tuple(out[50, 1]) != RED
    assert np.abs(out[50, 50] - source[50, 50]).max() > 10  # but the inside is filled
    assert (out[150:, 150:] == source[150:, 150:]).all()


def test_geometry_fully_outside_draws_nothing():
    source = grey()
    outside = [
        Overlay("POLYGON ((500 500, 600 500, 600 600, 500 500))", "car", "#e6194b", 0.5),
        Overlay("POLYGON ((-1e9 -1e9, -10 -1e9, -10 -10, -1e9 -10, -1e9 -1e9))", "bus", None, 0.5),
        Overlay("POINT (-5 20)", "pin", "#e6194b", 0.5),
        Overlay("LINESTRING (-10 -10, 500 -10, 500 500)", "crack", "#e6194b", 0.5),
    ]
    data, _ = draw_annotations(source, outside)
    assert (pixels(data) == pixels(source)).all()


def test_huge_coordinates_are_clipped_without_error():
    huge = "POLYGON ((-1e12 -1e12, 1e12 -1e12, 1e12 1e12, -1e12 1e12, -1e12 -1e12))"
    out = draw_png([Overlay(huge, "car", "#e6194b", None)], fill_alpha=64)
    expected = [g + (c - g) * 64 / 255 for g, c in zip(GREY, RED, strict=True)]
    assert np.abs(out[200, 300] - expected).max() <= 1  # everything is inside the polygon


def test_points_are_drawn_as_a_marker_with_a_label():
    source = pixels(grey())
    out = draw_png([Overlay("POINT (300 200)", "pin", "#e6194b", 0.75)], line_width=2)
    assert tuple(out[200, 300]) == RED
    assert (out[170:195, 280:320] == RED).all(axis=2).sum() > 20  # the label above it
    assert (out[:150] == source[:150]).all() and (out[:, :250] == source[:, :250]).all()


def test_lines_are_drawn_with_a_label():
    source = pixels(grey())
    line = "LINESTRING (50 250, 350 250, 350 150)"
    out = draw_png([Overlay(line, "crack", "#e6194b", 0.4)], line_width=4)
    assert tuple(out[250, 200]) == RED
    assert tuple(out[200, 350]) == RED
    assert tuple(out[200, 200]) == GREY  # a line is not filled
    assert (out[100:150, 50:100] == RED).all(axis=2).sum() > 20  # label above the bounds
    assert (out[:100] == source[:100]).all()


# --- errors --------------------------------------------------------------------------


def noisy_jpeg() -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    return encoded(Image.fromarray(noise, "RGB"), "JPEG")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        grey(image_format="JPEG")[:300],
        noisy_jpeg()[:6000],  # a valid header, then the data stops
        b"\x89PNG\r\n\x1a\n" + b"0" * 50,
    ],
)
def test_undecodable_bytes_raise_a_clear_error(data):
    with pytest.raises(UndecodableImageError, match="not a decodable image") as raised:
        draw_annotations(data, [Overlay(SQUARE, "car", "#e6194b", 0.5)])
    assert isinstance(raised.value, AssessError)


def test_malformed_geometry_is_reported():
    with pytest.raises(InvalidGeometryError):
        draw_annotations(grey(), [Overlay("CIRCLE (1 2 3)", "car", "#e6194b", 0.5)])


# --- the preview -----------------------------------------------------------------------


def test_draw_image_draws_on_a_copy_and_scales_to_max_size():
    original = Image.new("RGB", (800, 600), GREY)
    big_square = "POLYGON ((200 200, 400 200, 400 400, 200 400, 200 200))"
    preview = draw_image(
        original, [Overlay(big_square, "car", "#e6194b", 0.5)], line_width=4, max_size=400
    )
    assert preview.size == (400, 300)
    assert tuple(preview.getpixel((100, 150))) == RED  # the left edge, at half scale
    assert tuple(original.getpixel((200, 300))) == GREY  # the input is not drawn on


def test_draw_image_matches_draw_annotations_for_png():
    overlays = [Overlay(SQUARE, "car", "#e6194b", 0.87), Overlay("POINT (300 50)", "pin")]
    data, _ = draw_annotations(grey(), overlays)
    preview = draw_image(Image.open(io.BytesIO(grey())), overlays)
    assert (np.asarray(preview) == pixels(data)).all()


def test_draw_image_applies_exif_orientation():
    source = Image.open(io.BytesIO(rotated_jpeg(6)))
    preview = draw_image(source, [Overlay(SQUARE, "car", "#e6194b", None)])
    assert preview.size == (200, 300)
