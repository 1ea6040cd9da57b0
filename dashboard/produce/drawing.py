"""Draw one file's annotations for one assessment (SPEC 3.5: Annotated Files).

Each annotation gets an outline in its class colour, a translucent fill and a label
``class 0.87`` on a background in the class colour. The drawn image keeps the size, the
orientation and the format of the file as it is displayed: annotations are in the pixel
coordinates of the image after its EXIF orientation is applied, so the output is stored
already turned and without an orientation tag (a viewer must not turn it again).

Speed (bench/bench_drawing.py, PERF-NOTES.md): the cost to beat is decoding and encoding
the image. So a fill touches only the polygon's own pixels (never a full-image layer),
outlines are drawn as a closed wide line (``polygon(width>1)`` builds a full-image mask
each time), and Pillow is told to keep freed image blocks for the next image instead of
returning them to the system after every image (``keep_freed_image_blocks``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from dashboard.errors import AssessError
from dashboard.spec.colours import colour_of
from dashboard.spec.geometry import EXIF_ORIENTATION, displayed_size, parse_wkt
from dashboard.spec.records import Overlay

KEPT_BLOCKS = 64


def keep_freed_image_blocks() -> None:
    """Pillow keeps up to ``KEPT_BLOCKS`` freed blocks for the next image: without it every
    image pays ~16 ms of page faults (PERF-NOTES.md); a larger PILLOW_BLOCKS_MAX stays.
    Process-wide, so a process that draws calls it at its start (``tune_process`` of
    ``dashboard.runtime``, and each drawing process of ``dashboard.produce.annotated``), not an
    import."""
    if hasattr(Image.core, "set_blocks_max"):
        Image.core.set_blocks_max(max(KEPT_BLOCKS, Image.core.get_blocks_max()))


Point = tuple[float, float]
RGB = tuple[int, int, int]

JPEG_QUALITY = 90
# Formats written as another one: an MPO (a phone's multi-picture JPEG) is a JPEG file.
_WRITE_AS = {"MPO": "JPEG"}
# Formats that cannot hold an alpha channel: drawn and written in RGB.
_NO_ALPHA = {"JPEG", "BMP", "PCX", "PPM", "EPS"}


class UndecodableImageError(AssessError, ValueError):
    """The bytes of a file are not an image Pillow can decode; the archive skips the file."""


def class_colour(name: str) -> str:
    """A stable colour for a class without a configured one (same name, same colour, always)."""
    return colour_of(name)


def label_text(overlay: Overlay) -> str:
    if overlay.confidence is None:
        return overlay.object_class
    return f"{overlay.object_class} {overlay.confidence:.2f}"


def draw_annotations(
    image_bytes: bytes,
    overlays: Sequence[Overlay],
    *,
    fill_alpha: int = 64,
    line_width: int | None = None,
) -> tuple[bytes, str]:
    """Decode a file, draw its annotations and encode it again in the same format.

    Returns the encoded bytes and the format name written (e.g. ``"JPEG"``, ``"PNG"``).
    Raises UndecodableImageError when the bytes cannot be decoded.
    """
    image = _decode(image_bytes)
    source_format = image.format or "PNG"
    out_format = _WRITE_AS.get(source_format, source_format)
    info, exif = image.info, image.getexif()
    source_mode = image.mode
    canvas = _drawable(image, alpha_allowed=out_format not in _NO_ALPHA)
    _draw(canvas, overlays, fill_alpha=fill_alpha, line_width=line_width, scale=1.0)
    exif.pop(EXIF_ORIENTATION, None)  # pixels are turned as displayed; even a tag of 1 goes
    return _encode(canvas, out_format, info, exif, source_mode), out_format


def draw_image(
    image: Image.Image,
    overlays: Sequence[Overlay],
    *,
    fill_alpha: int = 64,
    line_width: int | None = None,
    max_size: int | None = None,
    displayed_width: int | None = None,
) -> Image.Image:
    """Draw annotations on a copy of an image, for the dashboard preview.

    The image is turned as its EXIF orientation says (a no-op for an image that is already
    turned). With ``max_size`` it is first shrunk so its longer side fits, and the
    annotations (in full-size displayed coordinates) are scaled with it. ``displayed_width``:
    the width, as displayed, of the full image the coordinates refer to, when ``image`` was
    decoded smaller (``preview_image``).
    """
    image = ImageOps.exif_transpose(image)
    scale = 1.0 if displayed_width is None else image.width / displayed_width
    if max_size is not None and max(image.size) > max_size:
        scale *= max_size / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = _drawable(image, alpha_allowed=True)  # exif_transpose gave us a copy
    _draw(canvas, overlays, fill_alpha=fill_alpha, line_width=line_width, scale=scale)
    return canvas


def preview_image(image_bytes: bytes, longest: int) -> tuple[Image.Image, tuple[int, int]]:
    """An image for a preview, as displayed (EXIF orientation applied) and no larger than
    ``longest`` pixels on its longer side, with the displayed size of the full image (what
    the annotations' coordinates refer to). A JPEG is decoded at 1/2 to 1/8 of its size
    (Pillow's draft mode), so a 24-megapixel photo never fills the server's memory."""
    with _decoding():
        image = Image.open(io.BytesIO(image_bytes))
        width, height = displayed_size(image)
        fit = longest / max(width, height)
        if fit < 1:
            wanted = (max(1, round(image.width * fit)), max(1, round(image.height * fit)))
            image.draft("RGB", wanted)
        image = ImageOps.exif_transpose(image)
        image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return image, (width, height)


# --- decoding and encoding -------------------------------------------------------------


@contextmanager
def _decoding() -> Iterator[None]:
    """Pillow's many ways of refusing bytes, as one UndecodableImageError."""
    try:
        yield
    except Image.DecompressionBombError as exc:
        raise UndecodableImageError(f"image is too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UndecodableImageError(f"file is not a decodable image: {exc}") from exc


def _decode(image_bytes: bytes) -> Image.Image:
    """Open, fully decode and turn an image as displayed (EXIF orientation applied)."""
    with _decoding():
        image = Image.open(io.BytesIO(image_bytes))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    return image


def _drawable(image: Image.Image, *, alpha_allowed: bool) -> Image.Image:
    """The image in RGB, or RGBA when it has transparency the output format can keep."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    mode = "RGBA" if has_alpha and alpha_allowed else "RGB"
    if image.mode == mode:
        return image
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_8bit(image)
    return image.convert(mode)


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey images scaled to 8 bits (a plain convert would clip them)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        values = values / 257.0
    else:
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if high > 255.0 or low < 0.0:
            values = (values - low) * (255.0 / max(high - low, 1e-12))
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _encode(
    canvas: Image.Image, out_format: str, info: dict, exif: Image.Exif, source_mode: str
) -> bytes:
    options: dict = {}
    if exif:
        options["exif"] = exif.tobytes()
    icc = info.get("icc_profile")
    if icc and source_mode in ("RGB", "RGBA", "RGBX", "P", "PA"):
        options["icc_profile"] = icc  # an RGB profile still describes the drawn pixels
    if "dpi" in info:
        options["dpi"] = info["dpi"]
    if out_format == "JPEG":
        options["quality"] = JPEG_QUALITY
    elif out_format == "WEBP":
        options["quality"] = JPEG_QUALITY
        options["lossless"] = bool(info.get("lossless", False))
    buffer = io.BytesIO()
    canvas.save(buffer, out_format, **options)
    return buffer.getvalue()


# --- drawing -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    kind: str
    runs: tuple[tuple[Point, ...], ...]  # polygon: one clipped ring; line: visible pieces
    colour: RGB
    label: str
    anchor: Point  # top-left of the visible part: the label goes just above it


def _draw(
    canvas: Image.Image,
    overlays: Sequence[Overlay],
    *,
    fill_alpha: int,
    line_width: int | None,
    scale: float,
) -> None:
    width, height = canvas.size
    stroke = line_width if line_width is not None else max(2, round(min(width, height) / 300))
    shapes = [
        shape
        for overlay in overlays
        if (shape := _shape(overlay, width, height, scale, pad=2 * stroke + 2)) is not None
    ]
    alpha = max(0, min(255, fill_alpha))
    # Fills first, then outlines, then labels: no fill ever hides an outline or a label.
    if alpha:
        blend = ImageDraw.Draw(canvas, "RGBA")  # on RGB: blends each filled pixel once
        for shape in shapes:
            if shape.kind == "POLYGON":
                _fill(canvas, blend, shape.runs[0], shape.colour + (alpha,))
    draw = ImageDraw.Draw(canvas)
    for shape in shapes:
        _outline(draw, shape, stroke)
    font = _font(max(12, round(min(width, height) / 45)))
    for shape in shapes:
        _label(draw, shape, font, width, height, marker=_marker_radius(stroke))


def _shape(overlay: Overlay, width: int, height: int, scale: float, pad: int) -> _Shape | None:
    """Parse, scale and clip one annotation; None when nothing of it is inside the image."""
    geometry = parse_wkt(overlay.geometry)
    points = [(x * scale, y * scale) for x, y in geometry.points]
    # Clip to a frame a little outside the image: cut edges are drawn off the image.
    frame = (-pad, -pad, width - 1 + pad, height - 1 + pad)
    inside = (0.0, 0.0, width - 1.0, height - 1.0)
    if geometry.kind == "POLYGON":
        ring = _clip_polygon(points[:-1], frame)
        visible = _clip_polygon(ring, inside) if ring else []
        if len(visible) < 3:
            return None
        runs: tuple[tuple[Point, ...], ...] = (tuple(ring),)
    elif geometry.kind == "LINESTRING":
        runs = tuple(tuple(run) for run in _clip_polyline(points, frame))
        visible = [p for run in _clip_polyline(points, inside) for p in run]
        if not visible:
            return None
    else:
        if not _contains(inside, points[0]):
            return None
        runs, visible = ((points[0],),), points
    anchor = (min(x for x, _ in visible), min(y for _, y in visible))
    return _Shape(geometry.kind, runs, _rgb(overlay), label_text(overlay), anchor)


def _fill(
    canvas: Image.Image,
    blend: ImageDraw.ImageDraw,
    ring: Sequence[Point],
    paint: tuple[int, int, int, int],
) -> None:
    """Blend the polygon's inside with its colour, touching nothing outside the polygon.

    On RGB, Pillow blends while it fills the polygon. On RGBA it would overwrite the alpha,
    so there the polygon's bounding box alone is composited ("over") with a layer.
    """
    if canvas.mode != "RGBA":
        blend.polygon(ring, fill=paint)
        return
    left = max(0, math.floor(min(x for x, _ in ring)))
    top = max(0, math.floor(min(y for _, y in ring)))
    right = min(canvas.width, math.ceil(max(x for x, _ in ring)) + 1)
    bottom = min(canvas.height, math.ceil(max(y for _, y in ring)) + 1)
    if right <= left or bottom <= top:
        return
    layer = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    ImageDraw.Draw(layer).polygon([(x - left, y - top) for x, y in ring], fill=paint)
    canvas.alpha_composite(layer, dest=(left, top))


def _outline(draw: ImageDraw.ImageDraw, shape: _Shape, stroke: int) -> None:
    if shape.kind == "POLYGON":
        ring = list(shape.runs[0])
        # Closed wide line; repeating the 2nd point gives the closing corner a joint too.
        draw.line([*ring, ring[0], ring[1]], fill=shape.colour, width=stroke, joint="curve")
    elif shape.kind == "LINESTRING":
        for run in shape.runs:
            draw.line(list(run), fill=shape.colour, width=stroke, joint="curve")
    else:
        (x, y), radius = shape.runs[0][0], _marker_radius(stroke)
        draw.ellipse(
            (x - radius, y - radius, x + radius, y + radius),
            fill=shape.colour,
            outline=_text_colour(shape.colour),
            width=max(1, stroke // 2),
        )


def _label(
    draw: ImageDraw.ImageDraw,
    shape: _Shape,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
    height: int,
    *,
    marker: int,
) -> None:
    """The label on a box in the class colour, above the shape, moved inside the image."""
    left, top, right, bottom = draw.textbbox((0, 0), shape.label, font=font)
    pad = max(2, round((bottom - top) / 5))
    box_width, box_height = right - left + 2 * pad, bottom - top + 2 * pad
    x, y = shape.anchor
    if shape.kind == "POINT":
        x, y = x - box_width / 2, y - marker - pad  # centred above the marker
    x = min(max(0.0, x), max(0.0, width - box_width))
    y = min(max(0.0, y - box_height), max(0.0, height - box_height))
    x, y = round(x), round(y)
    draw.rectangle((x, y, x + box_width - 1, y + box_height - 1), fill=shape.colour)
    draw.text(
        (x + pad - left, y + pad - top), shape.label, fill=_text_colour(shape.colour), font=font
    )


def _marker_radius(stroke: int) -> int:
    return 2 * stroke + 1


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=256)
def _parse_colour(colour: str) -> RGB | None:
    try:
        rgb = ImageColor.getrgb(colour)
    except (ValueError, AttributeError):
        return None
    return rgb[0], rgb[1], rgb[2]


def _rgb(overlay: Overlay) -> RGB:
    parsed = _parse_colour(overlay.colour) if overlay.colour else None
    if parsed is not None:
        return parsed
    fallback = class_colour(overlay.object_class)
    return int(fallback[1:3], 16), int(fallback[3:5], 16), int(fallback[5:7], 16)


@lru_cache(maxsize=256)
def _text_colour(colour: RGB) -> RGB:
    """Black or white, whichever contrasts more with the colour (WCAG relative luminance)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in colour)
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return (0, 0, 0) if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else (255, 255, 255)


# --- clipping ------------------------------------------------------------------------

Rect = tuple[float, float, float, float]


def _contains(rect: Rect, point: Point) -> bool:
    return rect[0] <= point[0] <= rect[2] and rect[1] <= point[1] <= rect[3]


def _clip_polygon(ring: Sequence[Point], rect: Rect) -> list[Point]:
    """Sutherland-Hodgman: the part of a polygon (open ring) inside an axis-aligned box."""
    if all(_contains(rect, p) for p in ring):
        return list(ring)
    left, top, right, bottom = rect
    edges = (
        (lambda p: p[0] >= left, lambda a, b: _at_x(a, b, left)),
        (lambda p: p[0] <= right, lambda a, b: _at_x(a, b, right)),
        (lambda p: p[1] >= top, lambda a, b: _at_y(a, b, top)),
        (lambda p: p[1] <= bottom, lambda a, b: _at_y(a, b, bottom)),
    )
    output = list(ring)
    for keeps, cross in edges:
        source, output = output, []
        for index, current in enumerate(source):
            previous = source[index - 1]
            if keeps(current):
                if not keeps(previous):
                    output.append(cross(previous, current))
                output.append(current)
            elif keeps(previous):
                output.append(cross(previous, current))
        if not output:
            return []
    return output


def _at_x(a: Point, b: Point, x: float) -> Point:
    return x, a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])


def _at_y(a: Point, b: Point, y: float) -> Point:
    return a[0] + (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]), y


def _clip_polyline(points: Sequence[Point], rect: Rect) -> list[list[Point]]:
    """The visible pieces of a polyline, each a list of at least two points (Liang-Barsky)."""
    runs: list[list[Point]] = []
    for a, b in zip(points, points[1:], strict=False):
        segment = _clip_segment(a, b, rect)
        if segment is None:
            continue
        start, end = segment
        if runs and runs[-1][-1] == start:
            runs[-1].append(end)
        else:
            runs.append([start, end])
    return runs


def _clip_segment(a: Point, b: Point, rect: Rect) -> tuple[Point, Point] | None:
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    low, high = 0.0, 1.0
    for p, q in (
        (-dx, x0 - rect[0]),
        (dx, rect[2] - x0),
        (-dy, y0 - rect[1]),
        (dy, rect[3] - y0),
    ):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return None
    start = a if low == 0.0 else (x0 + low * dx, y0 + low * dy)
    end = b if high == 1.0 else (x0 + high * dx, y0 + high * dy)
    return start, end
