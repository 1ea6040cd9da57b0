"""The workflow's Overview: headline numbers and HoloViews (Bokeh) charts of its assessments.

Thin: every number comes from ``dashboard.query.overview``; this module only draws the
frames. Charts are built when the Overview is shown and again when the workflow changes.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard.errors import UnknownWorkflowError
from dashboard.query import overview as data
from dashboard.query.options import LATEST_RULE, SCOPE_LABELS, Scope
from dashboard.ui.safe import as_markdown

hv.extension("bokeh", logo=False)

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


def _plot_options(title: str, xlabel: str, ylabel: str) -> dict:
    return dict(
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        responsive=True,
        height=HEIGHT,
        tools=["hover"],
        default_tools=["save", "reset", "pan", "wheel_zoom", "box_zoom"],
        active_tools=[],
    )


def _empty(title: str, text: str) -> pn.pane.Markdown:
    return pn.pane.Markdown(f"**{title}**\n\n{text}", sizing_mode="stretch_width", height=80)


def _pane(chart: hv.core.Dimensioned) -> pn.pane.HoloViews:
    return pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=HEIGHT, linked_axes=False)


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
    bars = hv.Bars(
        frame,
        kdims=[
            hv.Dimension("workflow_order", label="Workflow order"),
            hv.Dimension("data_source", label="Data source"),
        ],
        vdims=[hv.Dimension(measure, label=measure.capitalize()), *_others(measure)],
    )
    return _pane(
        bars.opts(
            stacked=True,
            legend_position="top_right",
            legend_opts={"orientation": "horizontal"},
            ylim=(0, _headroom(frame.groupby("workflow_order")[measure].sum().max())),
            **_plot_options(title, "Workflow order", measure.capitalize()),
        )
    )


def _headroom(highest: int) -> float:
    """A y-axis top that leaves room for a legend inside the plot, above the highest bar."""
    return max(highest, 1) * 1.3


def _others(measure: str) -> list[hv.Dimension]:
    other = "assessments" if measure == "files" else "files"
    return [hv.Dimension(other, label=other.capitalize())]


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
    parts = []
    for kind in (kind for kind in data.STAGE_KINDS if kind in table.columns):
        points = pd.DataFrame({"day": days, "assessments": table[kind].to_numpy()})
        style = dict(color=STAGE_COLOURS[kind], hover_tooltips=_day_tooltips(kind))
        parts.append(hv.Curve(points, "day", "assessments", label=kind).opts(**style))
    return _pane(
        hv.Overlay(parts).opts(
            legend_position="top_left", **_plot_options(title, "Day (UTC)", "Assessments")
        )
    )


def _day_tooltips(kind: str) -> list[tuple[str, str]]:
    return [("stage kind", kind), ("day", "@day{%F}"), ("assessments", "@assessments")]


def class_chart(frame: pd.DataFrame, scope: Scope) -> pn.viewable.Viewable:
    """Annotations per class in taxonomy order, each bar in its class's colour."""
    title = f"{TITLES['classes']} ({SCOPE_LABELS[scope]})"
    if frame.empty or not frame["annotations"].any():
        return _empty(title, "No annotations in this workflow yet.")
    classes = hv.Dimension("object_class", label="Object class", values=list(frame.object_class))
    bars = hv.Bars(frame, kdims=[classes], vdims=["annotations", "colour"])
    return _pane(
        bars.opts(
            color="colour",
            show_legend=False,
            hover_tooltips=[("object class", "@object_class"), ("annotations", "@annotations")],
            **_plot_options(title, "Object class", "Annotations"),
        )
    )


def confidence_chart(frame: pd.DataFrame) -> pn.viewable.Viewable:
    """One translucent histogram per stage kind over the same bins."""
    title = TITLES["confidence"]
    if frame.empty:
        return _empty(title, "No annotation in this workflow has a confidence.")
    edges = np.linspace(0.0, 1.0, data.BINS + 1)
    histograms = []
    for kind in (kind for kind in data.STAGE_KINDS if kind in set(frame["stage_kind"])):
        counts = np.zeros(data.BINS, dtype=int)
        rows = frame[frame["stage_kind"] == kind]
        counts[rows["bin"].to_numpy()] = rows["annotations"].to_numpy()
        histogram = hv.Histogram(
            (edges, counts), kdims=["confidence"], vdims=["annotations"], label=kind
        )
        histograms.append(
            histogram.opts(
                color=STAGE_COLOURS[kind],
                alpha=0.55,
                line_color=None,
                hover_tooltips=[
                    ("stage kind", kind),
                    ("confidence", "@confidence{0.00}"),
                    ("annotations", "@annotations"),
                ],
            )
        )
    overlay = hv.Overlay(histograms)
    return _pane(
        overlay.opts(
            xlim=(0, 1),
            legend_position="top_left",
            **_plot_options(title, "Location confidence", "Annotations"),
        )
    )


def changes_chart(frame: pd.DataFrame) -> pn.viewable.Viewable:
    """Kept, moved, reclassified, deleted and added annotations, stacked, per class."""
    title = TITLES["changes"]
    if frame.empty:
        return _empty(title, "No file has a human assessment after its machine assessment.")
    present = list(dict.fromkeys(frame["object_class"]))  # the frame is in taxonomy order
    changes = [change for change in data.CHANGES if change in set(frame["change"])]
    bars = hv.Bars(
        frame,
        kdims=[
            hv.Dimension("object_class", label="Object class", values=present),
            hv.Dimension("change", label="Change", values=changes),
        ],
        vdims=[hv.Dimension("count", label="Annotations")],
    )
    return _pane(
        bars.opts(
            stacked=True,
            cmap=CHANGE_COLOURS,
            legend_position="top_right",
            legend_opts={"orientation": "horizontal"},
            ylim=(0, _headroom(frame.groupby("object_class")["count"].sum().max())),
            **_plot_options(title, "Object class", "Annotations"),
        )
    )


def _note(text: str) -> pn.pane.Markdown:
    return pn.pane.Markdown(
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
        self._charted = False  # whether the current workflow has charts
        self._layout = pn.Column(self._content, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    @param.depends("workflow")
    def _content(self) -> pn.viewable.Viewable:
        self._charted = False
        if not self.workflow:
            return pn.pane.Markdown("No workflow in the store yet.")
        try:
            numbers = data.summary(self.store, self.workflow)
        except UnknownWorkflowError as error:
            return pn.pane.Alert(as_markdown(error), alert_type="warning")
        header = pn.pane.Markdown(
            f"## {as_markdown(self.workflow)}", disable_anchors=True, margin=(0, 10)
        )
        if not numbers["files"]:
            return pn.Column(
                header,
                summary_numbers(numbers),
                pn.pane.Markdown(
                    "This workflow has no files yet: import some (COCO JSON or a long CSV) "
                    "to see charts here."
                ),
                sizing_mode="stretch_width",
            )
        self._charted = True
        self._draw_classes()
        orders = data.files_by_order_and_source(self.store, self.workflow)
        changes = data.human_changes(self.store, self.workflow)
        row = dict(sizing_mode="stretch_width")
        return pn.Column(
            header,
            summary_numbers(numbers),
            pn.Row(order_chart(orders, "files"), order_chart(orders, "assessments"), **row),
            pn.Row(time_chart(data.assessments_over_time(self.store, self.workflow)), **row),
            pn.Row(
                pn.Column(self._scope_picker, self._classes, _note(LATEST_RULE), **row),
                pn.Column(confidence_chart(data.confidences(self.store, self.workflow)), **row),
                **row,
            ),
            pn.Column(changes_chart(changes), _note(CHANGES_NOTE), **row),
            sizing_mode="stretch_width",
        )

    @param.depends("class_scope", watch=True)
    def _draw_classes(self) -> None:
        if self._charted:
            frame = data.class_distribution(self.store, self.workflow, self.class_scope)
            self._classes.objects = [class_chart(frame, Scope(self.class_scope))]
