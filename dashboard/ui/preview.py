"""The live preview of the Admin tab: exactly what the download will contain.

Everything shown comes from the same ``ExportQuery`` the download uses: counts, the first
rows of the table, the first member names, the first drawn images.
"""

from __future__ import annotations

import io

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
from PIL import Image

from dashboard.archive import preview_member_names
from dashboard.drawing import draw_image
from dashboard.query.export import Counts, ExportQuery
from dashboard.query.options import Layout
from dashboard.store.geometry import parse_wkt
from dashboard.ui.safe import as_html, as_markdown, column_titles

hv.extension("bokeh", logo=False)

PREVIEW_ROWS = 200  # rows in the paged table (10 pages of 20)
GALLERY_IMAGES = 6
THUMBNAIL = 320
INTERACTIVE_SIZE = 1024  # longest side of the zoomable image, in pixels sent


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def counts_line(query: ExportQuery, counts: Counts, size: int) -> str:
    layout = Layout(query.layout)
    what = {
        Layout.long: "rows",
        Layout.wide: "rows",
        Layout.files: "files in the ZIP",
        Layout.annotated: "drawn images in the ZIP",
    }[layout]
    return (
        f"**{counts.rows:,} {what}** · estimated size {human_bytes(size)}  \n"
        f"{counts.files:,} files · {counts.assessments:,} assessments · "
        f"{counts.entities:,} entities · {counts.annotations:,} annotations · "
        f"{counts.attribute_values:,} attribute values"
    )


def paged_table(frame: pd.DataFrame, css_class: str) -> pn.widgets.Tabulator:
    """A read-only table showing 20 rows a page."""
    return pn.widgets.Tabulator(
        frame,
        titles=column_titles(frame.columns),
        pagination="remote",
        page_size=20,
        disabled=True,
        show_index=False,
        sizing_mode="stretch_width",
        css_classes=[css_class],
    )


def table_preview(query: ExportQuery, sample) -> pn.widgets.Tabulator:
    frame = query.preview(PREVIEW_ROWS, sample).astype(object).where(lambda f: f.notna(), "")
    return paged_table(frame, "preview-table")


def members_preview(query: ExportQuery) -> pn.widgets.Tabulator:
    members = preview_member_names(query.file_records(), PREVIEW_ROWS)
    frame = pd.DataFrame(
        [(name, human_bytes(size)) for name, size in members], columns=["member", "size"]
    )
    return paged_table(frame, "preview-members")


def annotated_preview(query: ExportQuery) -> pn.Column:
    items = list(query.annotated_items(limit=GALLERY_IMAGES))
    if not items:
        return pn.Column(pn.pane.Markdown("No files in this order match the filters."))
    thumbnails = []
    for item in items:
        image = _open(query, item.record.storage_key)
        caption = item.record.file_name + (f" · {item.stage}" if item.stage else "")
        if image is None:
            thumbnails.append(pn.pane.Markdown(f"*{as_markdown(caption)}: image bytes unreadable*"))
            continue
        drawn = draw_image(image, item.overlays, max_size=THUMBNAIL)
        buffer = io.BytesIO()
        drawn.convert("RGB").save(buffer, "JPEG", quality=85)
        thumbnails.append(
            pn.Column(
                pn.pane.JPG(buffer.getvalue(), width=THUMBNAIL, alt_text=as_html(caption)),
                pn.pane.Markdown(as_markdown(caption), styles={"font-size": "12px"}),
            )
        )
    return pn.Column(
        pn.FlexBox(*thumbnails, name="preview-gallery"),
        pn.pane.Markdown("#### Annotations of the first image (zoom, hover a shape)"),
        interactive_image(query, items[0]),
    )


def _open(query: ExportQuery, storage_key: str) -> Image.Image | None:
    if not storage_key:
        return None
    try:
        image = Image.open(io.BytesIO(query.store.files.read(storage_key)))
        image.load()
        return image
    except (OSError, ValueError):
        return None


def interactive_image(query: ExportQuery, item) -> pn.pane.HoloViews | pn.pane.Markdown:
    """The first drawn image as HoloViews: the picture plus hoverable annotation shapes."""
    image = _open(query, item.record.storage_key)
    if image is None:
        return pn.pane.Markdown("*image bytes unreadable*")
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image).convert("RGB")
    width, height = image.size
    # Sent downscaled: the shapes keep pixel coordinates of the full image (the bounds).
    # HoloViews draws an array's first row at the top, as the image is seen: no flip.
    image.thumbnail((INTERACTIVE_SIZE, INTERACTIVE_SIZE))
    rgb = hv.RGB(np.asarray(image), bounds=(0, 0, width, height))
    details = _annotation_details(query, item)
    shapes = []
    for overlay in item.overlays:
        geometry = parse_wkt(overlay.geometry)
        xs = [x for x, _ in geometry.points]
        ys = [height - y for _, y in geometry.points]
        info = details.get(overlay.annotation_id, {})
        shapes.append(
            {
                "x": xs,
                "y": ys,
                "entity": info.get("entity_id", ""),
                "object_class": overlay.object_class,
                "confidence": "" if overlay.confidence is None else f"{overlay.confidence:.2f}",
                "attributes": info.get("attributes", ""),
                "colour": overlay.colour or "#ffffff",
            }
        )
    polygons = hv.Polygons(
        shapes, vdims=["entity", "object_class", "confidence", "attributes", "colour"]
    ).opts(
        color="colour",
        fill_alpha=0.25,
        line_color="colour",
        line_width=2,
        tools=["hover"],
        hover_tooltips=[
            ("entity", "@entity"),
            ("class", "@object_class"),
            ("confidence", "@confidence"),
            ("attributes", "@attributes"),
        ],
    )
    plot = (rgb * polygons).opts(
        hv.opts.RGB(
            data_aspect=1,
            responsive=True,
            min_height=300,
            max_height=640,
            xaxis=None,
            yaxis=None,
            tools=["wheel_zoom", "pan", "reset"],
            active_tools=["wheel_zoom"],
        )
    )
    return pn.pane.HoloViews(plot, sizing_mode="stretch_width", name="preview-image")


def _annotation_details(query: ExportQuery, item) -> dict[int, dict[str, str]]:
    """Entity and attribute text per annotation id, from the long rows of the file."""
    detail = ExportQuery(
        query.store,
        workflow=query.workflow,
        scope="all",
        layout="long",
        spreadsheet_safe=False,
    )
    rows = detail.rows_of_files([item.record.file_id])
    rows = rows[rows["assessment_id"] == item.assessment_id]
    by_annotation: dict[int, dict[str, str]] = {}
    for row in rows.itertuples(index=False):
        if pd.isna(row.annotation_id):
            continue
        entry = by_annotation.setdefault(
            int(row.annotation_id), {"entity_id": row.entity_id, "attributes": []}
        )
        if row.attribute not in ("location", "object_class"):
            entry["attributes"].append(f"{row.attribute}={row.value}")
    return {
        annotation_id: {
            "entity_id": entry["entity_id"],
            "attributes": ", ".join(entry["attributes"]),
        }
        for annotation_id, entry in by_annotation.items()
    }


def preview(query: ExportQuery) -> tuple[str, pn.viewable.Viewable]:
    """The counts line and the body of the preview for the query's current options."""
    counts = query.counts()
    layout = Layout(query.layout)
    if layout.is_table:
        sample = query.sample(PREVIEW_ROWS)
        size = query.estimated_bytes(counts, sample)
        return counts_line(query, counts, size), table_preview(query, sample)
    body = members_preview(query) if layout is Layout.files else annotated_preview(query)
    return counts_line(query, counts, query.estimated_bytes(counts)), body
