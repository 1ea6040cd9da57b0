"""The live preview of the Admin tab: exactly what the download will contain.

Everything shown comes from ``ExportQuery.preview_content()``, on the download's code path:
counts, the first rows of the table, the first member names, the first drawn images.
``prepare`` does the data work (on a session's worker thread) and ``lay_out`` only lays it
out (on the event loop: ``dashboard.web.ui.page``).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure as bokeh_figure

from dashboard.export import ExportQuery, Preview, UndecodableImageError, ZoomImage
from dashboard.spec.options import Layout
from dashboard.spec.records import AnnotatedItem
from dashboard.web.ui.page import on_page
from dashboard.web.ui.safe import as_html, as_markdown, column_titles, markdown

PREVIEW_ROWS = 200  # rows in the paged table (10 pages of 20)
GALLERY_IMAGES = 6
THUMBNAIL = 240  # two a row beside the Export panel at 1400 px
INTERACTIVE_SIZE = 1024  # longest side of the zoomable image, in pixels sent


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def counts_line(content: Preview) -> str:
    counts = content.counts
    return (
        f"**{counts.rows:,} {content.kind.counted}** · estimated size "
        f"{human_bytes(content.size)}  \n"
        f"{counts.files:,} files · {counts.assessments:,} assessments · "
        f"{counts.entities:,} entities · {counts.annotations:,} annotations · "
        f"{counts.attribute_values:,} attribute values"
    )


PAGE_ROWS = 20
ROW_PX = 47  # a table row's height: one line of text in the theme's padding (and a border)
# The table's own parts around its rows, in the theme's pixels: the header (one line of
# titles) and the pagination footer.
TABLE_CHROME_PX = 50 + 57


def table_height(rows: int) -> int:
    """The height of a table showing ``rows`` rows on its page, every part in view.

    Set on the table, the page keeps its size while Tabulator draws: without it the table
    is first its header's height, then grows as its rows are drawn, and every view around it
    is resized with it, each resize making Bokeh measure every view of the page again (a
    change of Layout: 52 resizes and 1,100 measures without, 22 and 256 with the fixed
    heights; bench/RESULTS-sessions.md)."""
    return max(rows, 1) * (ROW_PX + 1) + TABLE_CHROME_PX


# What stays in view while the table scrolls sideways: for the long layout the three columns
# that differ from row to row (the identifying ones repeat); for the wide layout the file.
FROZEN = {
    Layout.long: {"attribute": "right", "value": "right", "confidence": "right"},
    Layout.wide: {"file_name": "left"},
}
NOTE_PX = 50  # two lines of a layout's note
LAYOUT_NOTES = {
    Layout.long: "Attribute Values and Confidences: one row per attribute value "
    "(attribute, value and confidence stay in view on the right)",
    Layout.wide: "Annotations: one row per annotation, one column per attribute",
}


CHAR_PX = 8  # a character of the table's font, about
CELL_PADDING = 24  # px around a cell's text (and the header's sorter)
WIDEST_COLUMN = 320  # px; longer text is cut off with an ellipsis (the cell shows it whole)
NARROWEST_COLUMN = 60


def column_widths(frame: pd.DataFrame, given: dict[str, int] | None = None) -> dict[str, int]:
    """A width for every column, from its title and the text of the rows held.

    Without widths Tabulator's fit_data layout measures every cell of the page in the
    browser, again on each redraw: most of a page's time per preview (profiled: 0.8 s of
    Chromium's CPU per option change). With every width given it measures nothing."""
    widths = {}
    for column in frame.columns:
        texts = frame[column].map(str)
        longest = max(len(str(column)), int(texts.str.len().max()) if len(texts) else 0)
        widths[str(column)] = min(max(longest * CHAR_PX + CELL_PADDING, NARROWEST_COLUMN),
                                  WIDEST_COLUMN)  # fmt: skip
    return {**widths, **(given or {})}


def paged_table(
    frame: pd.DataFrame, css_classes: list[str], widths: dict[str, int], frozen=None
) -> pn.widgets.Tabulator:
    """A read-only table showing 20 rows a page, every column of a set width (``widths``:
    one for every column, ``column_widths``)."""
    return pn.widgets.Tabulator(
        frame,
        titles=column_titles(frame.columns),
        pagination="remote",
        page_size=PAGE_ROWS,
        disabled=True,
        show_index=False,
        sizing_mode="stretch_width",
        css_classes=css_classes,
        frozen_columns=frozen or [],
        widths=widths,
        height=table_height(min(len(frame), PAGE_ROWS)),
        # Every row is one line (cells cut their text with an ellipsis), so Tabulator need
        # not measure each row's cells for its height, which it does on every change of rows
        # and redraw: 15-20% of Chromium's CPU per option change (bench/RESULTS-sessions.md).
        configuration={"rowHeight": ROW_PX},
    )


def rows_shown(table: pn.widgets.Tabulator, total: int) -> str:
    """Which rows of the download the table's page shows: "rows 1-20 of 7,195"."""
    held = len(table.value)
    if held == 0:
        return "no rows"
    first = (table.page - 1) * table.page_size + 1
    last = min(first + table.page_size - 1, held)
    more = f" (the preview holds the first {held:,})" if held < total else ""
    return f"rows {first:,}–{last:,} of {total:,}{more}"


WIDTHS = {Layout.long: {"value": 260}, Layout.wide: {"location": 220}, Layout.files: {}}


class _Shown:
    """One table kind's components as a session shows them, and the total they count."""

    def __init__(self, table: pn.widgets.Tabulator, view: pn.viewable.Viewable, total: int):
        self.table, self.view, self.total = table, view, total
        self.position: pn.pane.Markdown | None = None


def _page_rows(table: pn.widgets.Tabulator) -> int:
    """Rows on the page the table shows."""
    before = (table.page - 1) * table.page_size
    return max(0, min(table.page_size, len(table.value) - before))


class PreviewViews:
    """A session's preview tables, kept from one option change to the next.

    A new Tabulator for every preview costs the browser a new view, a new layout of the whole
    page and a fresh measure of the table (profiled in bench/bench_sessions.py); the table of
    the same kind is updated in place instead (its rows and its first page) where only its
    rows change (``_takes_rows``). ``None`` where a caller wants new ones."""

    def __init__(self) -> None:
        self._shown: dict[Layout, _Shown] = {}

    def kept_views(self) -> list[pn.viewable.Viewable]:
        """The views of the tables kept for the session (those a later preview may reuse)."""
        return [shown.view for shown in self._shown.values()]

    def table(self, layout: Layout, rows: TableRows, total: int, build) -> _Shown:
        """The shown table of ``layout`` holding ``rows``; ``build(widths)`` makes a new one."""
        shown = self._shown.get(layout)
        frame, widths = rows.frame, rows.widths
        if shown is None:
            shown = self._shown[layout] = build(widths)
            return shown
        if not _takes_rows(shown.table, frame, widths):
            # the new table's columns are as wide as the old one's were, or wider: after a
            # few changes they fit every preview and the table is kept
            old = shown.table.widths
            shown = self._shown[layout] = build(
                {name: max(width, old.get(name, 0)) for name, width in widths.items()}
            )
            return shown
        shown.total = total
        shown.table.param.update(value=frame, page=1)
        if shown.position is not None:
            shown.position.object = rows_shown(shown.table, total)
        return shown


def _takes_rows(table: pn.widgets.Tabulator, frame: pd.DataFrame, widths: dict[str, int]) -> bool:
    """Whether ``table`` can show ``frame`` by a change of its rows alone: the same columns,
    each as wide as ``widths`` or wider, and as many rows on its first page as it shows now.

    Anything else makes a new table. Tabulator keeps the height it had and would render only
    the rows that fit (found by tests/ui/test_hostile_text.py, after paging to a short last
    page). And a change of columns, widths or titles makes the browser set the columns of a
    table that may still be building (each change of rows rebuilds it): Tabulator fails on
    it and the page takes no more updates (tests/ui/test_browser.py, quick changes)."""
    if list(table.value.columns) != list(frame.columns):
        return False
    if _page_rows(table) != min(len(frame), PAGE_ROWS):
        return False
    return all(width <= table.widths.get(name, 0) for name, width in widths.items())


@dataclass(frozen=True)
class TableRows:
    """The rows a preview table shows, as its cells show them (text, blanks for missing
    values), and a width for every column: made with the preview's data, on the worker
    thread, so that laying the table out on the event loop only hands them over."""

    frame: pd.DataFrame
    widths: dict[str, int]

    @classmethod
    def of(cls, content: Preview) -> TableRows | None:
        """The rows of a table or members preview; None for the drawn one."""
        if content.kind.preview == "table":
            frame = content.frame.astype(object).where(lambda f: f.notna(), "")
            return cls(frame, column_widths(frame, WIDTHS[content.kind.layout]))
        if content.kind.preview == "members":
            frame = pd.DataFrame(
                [(name, human_bytes(size)) for name, size in content.members],
                columns=["member", "size"],
            )
            return cls(frame, column_widths(frame, WIDTHS[Layout.files]))
        return None


def table_preview(
    content: Preview, rows: TableRows, views: PreviewViews | None = None
) -> pn.Column:
    frame = rows.frame
    layout, total = content.kind.layout, content.counts.rows

    def build(widths: dict[str, int]) -> _Shown:
        classes = ["preview-table", f"preview-{layout.value}"]
        table = paged_table(frame, classes, widths, FROZEN[layout])
        position = markdown(rows_shown(table, total), css_classes=["rows-shown"], margin=(0, 10))
        # both layouts' notes as high as the longer one: a change of Layout keeps the page's
        # height
        note = markdown(f"*{LAYOUT_NOTES[layout]}*", margin=(0, 10), min_height=NOTE_PX)
        shown = _Shown(table, pn.Column(note, position, table, sizing_mode="stretch_width"), total)
        shown.position = position
        table.param.watch(
            lambda _event: setattr(position, "object", rows_shown(table, shown.total)), "page"
        )
        return shown

    if views is None:
        return build(rows.widths).view
    return views.table(layout, rows, total, build).view


def members_preview(rows: TableRows, views: PreviewViews | None = None) -> pn.widgets.Tabulator:
    def build(widths: dict[str, int]) -> _Shown:
        table = paged_table(rows.frame, ["preview-members"], widths)
        return _Shown(table, table, len(rows.frame))

    if views is None:
        return build(rows.widths).view
    return views.table(Layout.files, rows, len(rows.frame), build).view


@dataclass(frozen=True)
class Thumbnail:
    """One image of the gallery, drawn: its JPEG, or None where its bytes are unreadable."""

    item: AnnotatedItem
    jpeg: bytes | None


@dataclass(frozen=True)
class Prepared:
    """Everything a preview shows, made on a worker thread: the download's content and, for
    Annotated Files, the drawn thumbnails and the first image's zoom (None: unreadable)."""

    content: Preview
    rows: TableRows | None = None
    thumbnails: tuple[Thumbnail, ...] = ()
    zoom: ZoomImage | None = None


# Prepared previews of tables and members, shared by every session of the process: users
# of one workflow mostly look at the same few option sets, and such a preview, read from the
# database alone, stays what the download holds until data is added (its data version). A
# drawn preview is made each time: it reads the files' bytes, which can go missing or
# unreadable without a change of the data version (the download then skips those files).
PREPARED_CACHE_SIZE = 32
_prepared: OrderedDict[tuple, Prepared] = OrderedDict()
_prepared_lock = threading.Lock()


def prepare(query: ExportQuery) -> Prepared:
    """The data work of a preview (queries, drawing), kept apart from laying it out: a
    session's worker thread does this, and the page changes on the event loop only. A table
    or members preview of the same options and data is made once (``PREPARED_CACHE_SIZE``)."""
    if query.kind.preview == "drawn":
        return _prepare(query)
    store = query.store
    options = json.dumps(query.options(), sort_keys=True, default=str)
    key = (id(store), store.db_url, options, store.data_version())
    with _prepared_lock:
        prepared = _prepared.get(key)
        if prepared is not None:
            _prepared.move_to_end(key)
            return prepared
    prepared = _prepare(query)
    with _prepared_lock:
        _prepared[key] = prepared
        while len(_prepared) > PREPARED_CACHE_SIZE:
            _prepared.popitem(last=False)
    return prepared


def _prepare(query: ExportQuery) -> Prepared:
    content = query.preview_content(PREVIEW_ROWS, GALLERY_IMAGES)
    if content.kind.preview != "drawn" or not content.items:
        return Prepared(content, TableRows.of(content))
    thumbnails = tuple(Thumbnail(item, _thumbnail_jpeg(query, item)) for item in content.items)
    return Prepared(content, None, thumbnails, zoom_of(query, content.items[0]))


def _thumbnail_jpeg(query: ExportQuery, item: AnnotatedItem) -> bytes | None:
    try:
        return query.thumbnail(item, THUMBNAIL)
    except UndecodableImageError:
        return None


def zoom_of(query: ExportQuery, item: AnnotatedItem) -> ZoomImage | None:
    """The zoomable picture of ``item`` and its shapes; None where its bytes are unreadable."""
    try:
        return query.zoom_image(item, INTERACTIVE_SIZE)
    except UndecodableImageError:
        return None


def annotated_preview(query: ExportQuery, prepared: Prepared) -> pn.Column:
    """The first drawn images as a grid of thumbnails; a thumbnail's Zoom button shows it
    below in the zoom and hover view (the first image to begin with). A click draws the
    zoom on its worker thread and hands the change of the page to ``on_page``."""
    thumbnails = prepared.thumbnails
    if not thumbnails:
        return pn.Column(markdown("No files in this order match the filters."))
    first = thumbnails[0].item
    zoomed = pn.Column(zoom_view(prepared.zoom), sizing_mode="stretch_width")
    heading = markdown(_zoom_heading(first))

    def zoom(item: AnnotatedItem) -> None:
        picture = zoom_of(query, item)

        def show() -> None:
            heading.object = _zoom_heading(item)
            zoomed[:] = [zoom_view(picture)]

        on_page(show)

    gallery = [_thumbnail(shown, zoom) for shown in thumbnails]
    return pn.Column(
        pn.FlexBox(*gallery, gap="12px", sizing_mode="stretch_width", name="preview-gallery"),
        heading,
        zoomed,
        sizing_mode="stretch_width",
    )


def _caption(item) -> str:
    return item.record.file_name + (f" · {item.stage}" if item.stage else "")


def _zoom_heading(item) -> str:
    return f"#### {as_markdown(_caption(item))}: zoom, hover a shape"


def _thumbnail(shown: Thumbnail, zoom) -> pn.Column:
    item = shown.item
    caption = _caption(item)
    label = pn.pane.HTML(
        f'<div class="thumb-caption" title="{as_html(caption)}">{as_html(caption)}</div>',
        width=THUMBNAIL,
        stylesheets=[CAPTION_CSS],
    )
    if shown.jpeg is None:
        return pn.Column(markdown("*image bytes unreadable*", width=THUMBNAIL), label)
    button = pn.widgets.Button(label="Zoom", color="light", width=80, margin=(0, 10))
    button.on_click(lambda _event: zoom(item))
    return pn.Column(
        pn.pane.JPG(shown.jpeg, width=THUMBNAIL, alt_text=as_html(caption)),
        label,
        button,
        width=THUMBNAIL + 20,
    )


CAPTION_CSS = """
.thumb-caption { font-size: 12px; overflow: hidden; text-overflow: ellipsis;
                 white-space: nowrap; }
"""


def interactive_image(query: ExportQuery, item) -> pn.pane.Bokeh | pn.pane.Markdown:
    """The zoom and hover view of ``item`` (``zoom_view`` of ``zoom_of``)."""
    return zoom_view(zoom_of(query, item))


def zoom_view(zoom: ZoomImage | None) -> pn.pane.Bokeh | pn.pane.Markdown:
    """A drawn image to zoom and hover: the picture, sent as a JPEG of at most
    ``INTERACTIVE_SIZE`` pixels a side, under hoverable annotation shapes in the full image's
    pixel coordinates (SPEC 2: x right, y down from the top-left corner, as displayed)."""
    if zoom is None:
        return markdown("*image bytes unreadable*")
    width, height = zoom.width, zoom.height
    picture = "data:image/jpeg;base64," + base64.b64encode(zoom.jpeg).decode("ascii")
    shapes: dict[str, list] = {name: [] for name in SHAPE_COLUMNS}
    for shape in zoom.shapes:
        shapes["xs"].append([x for x, _ in shape["points"]])
        shapes["ys"].append([height - y for _, y in shape["points"]])  # the plot's y counts up
        for name in SHAPE_COLUMNS[2:]:
            shapes[name].append(shape[name])
    figure = bokeh_figure(
        x_range=Range1d(0, width, bounds=(0, width)),
        y_range=Range1d(0, height, bounds=(0, height)),
        match_aspect=True,
        aspect_ratio=width / height,
        sizing_mode="scale_width",
        max_height=640,
        tools="wheel_zoom,pan,reset",
        active_scroll="wheel_zoom",
        toolbar_location="above",
        name="preview-figure",
    )
    figure.axis.visible = False
    figure.grid.visible = False
    figure.image_url(url=[picture], x=0, y=height, w=width, h=height, anchor="top_left")
    patches = figure.patches(
        "xs", "ys", source=ColumnDataSource(shapes), fill_color="colour", fill_alpha=0.25,
        line_color="colour", line_width=2,
    )  # fmt: skip
    figure.add_tools(
        HoverTool(
            renderers=[patches],
            tooltips=[
                ("entity", "@entity"),
                ("class", "@object_class"),
                ("confidence", "@confidence"),
                ("attributes", "@attributes"),
            ],
        )
    )
    return pn.pane.Bokeh(figure, sizing_mode="stretch_width", name="preview-image")


SHAPE_COLUMNS = ("xs", "ys", "annotation_id", "entity", "object_class", "confidence",
                 "attributes", "colour")  # fmt: skip


def lay_out(
    query: ExportQuery, prepared: Prepared, views: PreviewViews | None = None
) -> tuple[str, pn.viewable.Viewable]:
    """The counts line and the body of a prepared preview; with ``views``, a table kind shown
    before is updated in place rather than made anew. Changes the page: on the event loop."""
    content = prepared.content
    body = {
        "table": lambda: table_preview(content, prepared.rows, views),
        "members": lambda: members_preview(prepared.rows, views),
        "drawn": lambda: annotated_preview(query, prepared),
    }[content.kind.preview]()
    return counts_line(content), body
