"""The workflow's Overview: headline numbers and Bokeh charts of its assessments.

Thin: every number comes from ``dashboard.query.overview``, read once per workflow and data
version and shared by every session (``cached_numbers``); this module only draws the frames.
The charts are plain Bokeh figures: the same charts through HoloViews cost about 60 ms of a
session's server time each (profiled in bench/bench_sessions.py), Bokeh's own about a tenth.
"""

from __future__ import annotations

import threading
from itertools import cycle

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    Legend,
    LegendItem,
    Range1d,
)
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from dashboard.errors import UnknownWorkflowError
from dashboard.query import overview as data
from dashboard.spec.options import LATEST_RULE, SCOPE_LABELS, Scope
from dashboard.web.ui.page import on_page
from dashboard.web.ui.safe import alert, as_markdown, markdown

NO_WORKFLOW = "No workflow in the store yet."
HEIGHT = 320
STAGE_COLOURS = {"machine": "#4363d8", "human": "#f58231"}
CHANGE_COLOURS = {
    "kept": "#3cb44b",
    "moved": "#42d4f4",
    "reclassified": "#911eb4",
    "deleted": "#e6194b",
    "added": "#f5a623",
}
SUMMARY_LABELS = {
    "files": "Files",
    "cases": "Cases",
    "machine_assessments": "Machine assessments",
    "human_assessments": "Human assessments",
    "annotations": "Annotations",
    "entities": "Entities",
    "orders": "Orders",
    "data_sources": "Data sources",
}
CHANGES_NOTE = (
    "Each file's latest machine assessment against the latest human assessment after it "
    "(files without one are left out), matched by entity and frame: **kept** (same class and "
    "geometry), **moved** (same class, new geometry), **reclassified** (new class; counted "
    "under the machine's class), **deleted** (machine only), **added** (human only)."
)

TITLES = {
    "files": "Files per workflow order and data source",
    "assessments": "Assessments per workflow order and data source",
    "time": "Assessments per day by stage kind",
    "classes": "Annotations per object class",
    "confidence": "Location confidence by stage kind",
    "changes": "Human review against the machine stage, per object class",
}
TOOLS = "save,reset,pan,wheel_zoom,box_zoom"
BAR_WIDTH = 0.8


def _figure(title: str, xlabel: str, ylabel: str, **ranges) -> figure:
    """A chart filling the width, with the tools of every Overview chart and none active."""
    plot = figure(
        title=title,
        x_axis_label=xlabel,
        y_axis_label=ylabel,
        sizing_mode="stretch_width",
        height=HEIGHT,
        tools=TOOLS,
        toolbar_location="right",
        **ranges,
    )
    plot.toolbar.active_drag = None
    plot.toolbar.active_scroll = None
    plot.toolbar.logo = None
    plot.xgrid.grid_line_color = None
    return plot


def _hover(plot: figure, renderers: list, tooltips: list, **options) -> None:
    """Tooltips for ``renderers``. Bokeh shows the fields' values as text, never markup."""
    plot.add_tools(HoverTool(renderers=renderers, tooltips=tooltips, **options))


def _legend(plot: figure, items: list[tuple[str, object, int]], location: str, horizontal: bool):
    """A legend inside the plot: (label, renderer, index of a row it stands for)."""
    legend = Legend(
        items=[
            LegendItem(label=label, renderers=[renderer], index=index)
            for label, renderer, index in items
        ],
        location=location,
        orientation="horizontal" if horizontal else "vertical",
        background_fill_alpha=0.7,
    )
    plot.add_layout(legend)


def _stacked(frame: pd.DataFrame, group: str, value: str) -> pd.DataFrame:
    """``frame`` with each row's ``bottom`` and ``top``: stacked in row order per group."""
    tops = frame.groupby(group, sort=False)[value].cumsum()
    return frame.assign(bottom=tops - frame[value], top=tops)


def _source(frame: pd.DataFrame) -> ColumnDataSource:
    """The frame's columns as they are (no index column)."""
    return ColumnDataSource({str(name): frame[name].to_numpy() for name in frame.columns})


def _factors(values) -> list[str]:
    return [str(value) for value in dict.fromkeys(values)]


def _empty(title: str, text: str) -> pn.pane.Markdown:
    return markdown(f"**{title}**\n\n{text}", sizing_mode="stretch_width", height=80)


def _pane(plot: figure) -> pn.pane.Bokeh:
    return pn.pane.Bokeh(plot, sizing_mode="stretch_width", height=HEIGHT)


def summary_numbers(numbers: dict) -> pn.FlexBox:
    indicators = [
        pn.indicators.Number(
            label=label,
            value=numbers[key],
            format="{value:,}",
            font_size="22pt",
            title_size="10pt",
            margin=(5, 20, 5, 5),
        )
        for key, label in SUMMARY_LABELS.items()
    ]
    return pn.FlexBox(*indicators, sizing_mode="stretch_width")


def order_chart(frame: pd.DataFrame, measure: str) -> pn.viewable.Viewable:
    """``files`` or ``assessments`` per order, stacked by data source."""
    title = TITLES[measure]
    if frame.empty:
        return _empty(title, "No files in this workflow yet.")
    sources = _factors(frame["data_source"])
    colours = dict(zip(sources, cycle(Category10_10), strict=False))
    rows = _stacked(frame, "workflow_order", measure).assign(fill=frame["data_source"].map(colours))
    plot = _figure(
        title,
        "Workflow order",
        measure.capitalize(),
        x_range=FactorRange(factors=_factors(frame["workflow_order"])),
        y_range=Range1d(0, _headroom(frame.groupby("workflow_order")[measure].sum().max())),
    )
    bars = plot.vbar(
        x="workflow_order", bottom="bottom", top="top", width=BAR_WIDTH, color="fill",
        source=_source(rows),
    )  # fmt: skip
    other = "assessments" if measure == "files" else "files"
    _hover(plot, [bars], [
        ("workflow order", "@workflow_order"), ("data source", "@data_source"),
        (measure, f"@{measure}"), (other, f"@{other}"),
    ])  # fmt: skip
    first_row = {name: int(np.flatnonzero(rows["data_source"] == name)[0]) for name in sources}
    _legend(plot, [(name, bars, first_row[name]) for name in sources], "top_right", True)
    return _pane(plot)


def _headroom(highest: int) -> float:
    """A y-axis top that leaves room for a legend inside the plot, above the highest bar."""
    return max(highest, 1) * 1.3


def time_chart(frame: pd.DataFrame) -> pn.viewable.Viewable:
    """A line per stage kind over every day from the first to the last, zero-filled."""
    title = TITLES["time"]
    if frame.empty:
        return _empty(title, "No assessments in this workflow yet.")
    days = pd.date_range(min(frame["day"]), max(frame["day"]), freq="D")
    table = frame.assign(day=pd.to_datetime(frame["day"])).pivot_table(
        index="day", columns="stage_kind", values="assessments", aggfunc="sum", fill_value=0
    )
    table = table.reindex(days, fill_value=0)
    plot = _figure(title, "Day (UTC)", "Assessments", x_axis_type="datetime")
    items = []
    for kind in (kind for kind in data.STAGE_KINDS if kind in table.columns):
        points = ColumnDataSource(
            {"day": days, "assessments": table[kind].to_numpy(), "stage_kind": [kind] * len(days)}
        )
        line = plot.line("day", "assessments", source=points, color=STAGE_COLOURS[kind],
                         line_width=2)  # fmt: skip
        _hover(
            plot,
            [line],
            [("stage kind", "@stage_kind"), ("day", "@day{%F}"), ("assessments", "@assessments")],
            formatters={"@day": "datetime"},
            mode="vline",
        )
        items.append((kind, line, 0))
    _legend(plot, items, "top_left", False)
    return _pane(plot)


def class_chart(frame: pd.DataFrame, scope: Scope) -> pn.viewable.Viewable:
    """Annotations per class in taxonomy order, each bar in its class's colour."""
    title = f"{TITLES['classes']} ({SCOPE_LABELS[scope]})"
    if frame.empty or not frame["annotations"].any():
        return _empty(title, "No annotations in this workflow yet.")
    top = max(frame["annotations"].max(), 1) * 1.05
    plot = _figure(
        title,
        "Object class",
        "Annotations",
        x_range=FactorRange(factors=_factors(frame["object_class"])),
        y_range=Range1d(0, top),
    )
    bars = plot.vbar(
        x="object_class", top="annotations", width=BAR_WIDTH, color="colour",
        source=_source(frame),
    )  # fmt: skip
    _hover(plot, [bars], [("object class", "@object_class"), ("annotations", "@annotations")])
    return _pane(plot)


def confidence_chart(frame: pd.DataFrame) -> pn.viewable.Viewable:
    """One translucent histogram per stage kind over the same bins."""
    title = TITLES["confidence"]
    if frame.empty:
        return _empty(title, "No annotation in this workflow has a confidence.")
    edges = np.linspace(0.0, 1.0, data.BINS + 1)
    plot = _figure(title, "Location confidence", "Annotations", x_range=Range1d(0, 1))
    items = []
    for kind in (kind for kind in data.STAGE_KINDS if kind in set(frame["stage_kind"])):
        counts = np.zeros(data.BINS, dtype=int)
        rows = frame[frame["stage_kind"] == kind]
        counts[rows["bin"].to_numpy()] = rows["annotations"].to_numpy()
        bins = ColumnDataSource(
            {
                "low": edges[:-1],
                "high": edges[1:],
                "confidence": (edges[:-1] + edges[1:]) / 2,
                "annotations": counts,
                "stage_kind": [kind] * data.BINS,
            }
        )
        quads = plot.quad(
            left="low", right="high", bottom=0, top="annotations", source=bins,
            fill_color=STAGE_COLOURS[kind], fill_alpha=0.55, line_color=None,
        )  # fmt: skip
        _hover(plot, [quads], [
            ("stage kind", "@stage_kind"), ("confidence", "@confidence{0.00}"),
            ("annotations", "@annotations"),
        ])  # fmt: skip
        items.append((kind, quads, 0))
    _legend(plot, items, "top_left", False)
    return _pane(plot)


def changes_chart(frame: pd.DataFrame) -> pn.viewable.Viewable:
    """Kept, moved, reclassified, deleted and added annotations, stacked, per class."""
    title = TITLES["changes"]
    if frame.empty:
        return _empty(title, "No file has a human assessment after its machine assessment.")
    # The frame is in taxonomy order, then the order of data.CHANGES: stacked as it comes.
    rows = _stacked(frame, "object_class", "count").assign(fill=frame["change"].map(CHANGE_COLOURS))
    plot = _figure(
        title,
        "Object class",
        "Annotations",
        x_range=FactorRange(factors=_factors(frame["object_class"])),
        y_range=Range1d(0, _headroom(frame.groupby("object_class")["count"].sum().max())),
    )
    bars = plot.vbar(
        x="object_class", bottom="bottom", top="top", width=BAR_WIDTH, color="fill",
        source=_source(rows),
    )  # fmt: skip
    _hover(plot, [bars], [
        ("object class", "@object_class"), ("change", "@change"), ("annotations", "@count"),
    ])  # fmt: skip
    present = [change for change in data.CHANGES if change in set(frame["change"])]
    first_row = {name: int(np.flatnonzero(rows["change"] == name)[0]) for name in present}
    _legend(plot, [(name, bars, first_row[name]) for name in present], "top_right", True)
    return _pane(plot)


def _note(text: str) -> pn.pane.Markdown:
    return markdown(
        text, sizing_mode="stretch_width", styles={"font-size": "0.85em", "color": "#555"}
    )


class Overview(pn.viewable.Viewer):
    """Counts and charts of one workflow; ``workflow`` may change (the app links a picker)."""

    store = param.Parameter(doc="The opened Store to read from.")
    workflow = param.String(default="", doc="Name of the workflow to show.")
    class_scope = param.Selector(
        objects={SCOPE_LABELS[Scope.latest]: Scope.latest, SCOPE_LABELS[Scope.all]: Scope.all},
        default=Scope.latest,
        doc="Assessments the class distribution counts.",
    )

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._scope_picker = pn.widgets.RadioButtonGroup.from_param(
            self.param.class_scope, color="light", margin=(5, 10)
        )
        self._classes = pn.Column(sizing_mode="stretch_width")  # redrawn on a scope change
        self._numbers: data.OverviewNumbers | None = None  # those of the charted workflow
        self._busy = threading.RLock()  # callbacks may run on two threads (--num-threads)
        self._layout = pn.Column(*self._content(), sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    @param.depends("workflow", watch=True)
    def _redraw(self) -> None:
        with self._busy:
            content = self._content()

        def change() -> None:
            self._layout.objects = content

        on_page(change)

    def _content(self) -> list[pn.viewable.Viewable]:
        """The parts of the Overview, top to bottom (a new tab shows them one by one)."""
        self._numbers = None
        if not self.workflow:
            return [markdown(NO_WORKFLOW)]
        try:
            numbers = data.cached_numbers(self.store, self.workflow)
        except UnknownWorkflowError as error:
            return [alert(as_markdown(error), alert_type="warning")]
        header = markdown(f"## {as_markdown(self.workflow)}", disable_anchors=True, margin=(0, 10))
        if not numbers.summary()["files"]:
            return [
                header,
                summary_numbers(numbers.summary()),
                markdown(
                    "This workflow has no files yet: import some (COCO JSON or a long CSV) "
                    "to see charts here."
                ),
            ]
        self._numbers = numbers
        self._draw_classes()
        orders = numbers.files_by_order_and_source()
        row = dict(sizing_mode="stretch_width")
        return [
            header,
            summary_numbers(numbers.summary()),
            pn.Row(order_chart(orders, "files"), order_chart(orders, "assessments"), **row),
            pn.Row(time_chart(numbers.assessments_over_time()), **row),
            pn.Row(
                pn.Column(self._scope_picker, self._classes, _note(LATEST_RULE), **row),
                pn.Column(confidence_chart(numbers.confidences()), **row),
                **row,
            ),
            pn.Column(changes_chart(numbers.human_changes()), _note(CHANGES_NOTE), **row),
        ]

    @param.depends("class_scope", watch=True)
    def _draw_classes(self) -> None:
        with self._busy:
            if self._numbers is None:
                return
            frame = self._numbers.class_distribution(self.class_scope)
            chart = class_chart(frame, Scope(self.class_scope))

        def change() -> None:
            self._classes.objects = [chart]

        on_page(change)
