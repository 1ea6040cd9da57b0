"""The Admin tab: the Export panel on the left, the live preview on the right, recent jobs.

Widgets carry SPEC section 3's labels; the preview and the download both come from the one
``ExportQuery`` the widgets edit. Downloads are plain HTTP links to the streaming route.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import panel as pn
import param

from dashboard.errors import AssessError
from dashboard.export import ExportQuery
from dashboard.faults import database_reason, is_database_failure
from dashboard.jobs import records
from dashboard.links import download_url, sign
from dashboard.spec.options import (
    ACTION_LABELS,
    HELP,
    LATEST_RULE,
    LAYOUT_LABELS,
    SCOPE_LABELS,
    Layout,
    Scope,
)
from dashboard.store.db import Store
from dashboard.store.models import JobStatus
from dashboard.web.ui.page import on_page
from dashboard.web.ui.preview import PreviewViews, lay_out, prepare
from dashboard.web.ui.safe import as_html, as_markdown, markdown

LINK_LIFETIME = 3600  # seconds a preview's download link stays valid
LINK_REFRESH = 600  # while the tab is open, the link is signed again this often
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACTION_BAR_STYLE = {
    "position": "sticky",
    "top": "0",
    "z-index": "10",
    "background": "white",
    "border-bottom": "1px solid #dde1e5",
    "padding-bottom": "6px",
}
# The preview of options no longer chosen, while the new one is made: dimmed, not covered by
# Panel's loading spinner, whose animation the browser redraws frame by frame (about 8% of
# Chromium's renderer CPU per option change, bench/RESULTS-sessions.md).
STALE_STYLE = {"opacity": "0.45"}
PENDING_STYLE = (
    "display:inline-block;padding:8px 18px;border-radius:4px;background:#c9d3dc;color:#44505c;"
    "font-weight:600;cursor:progress;"
)
BUTTON_STYLE = (
    "display:inline-block;padding:8px 18px;border-radius:4px;background:#0072b5;color:white;"
    "font-weight:600;text-decoration:none;"
)


def _help(text: str) -> pn.pane.Markdown:
    return markdown(text, styles={"font-size": "12px", "color": "#555"}, margin=(0, 10))


JOB_COLUMNS = ["requested", "workflow", "workflow order", "assessments", "status", "download",
               "progress", "email"]  # fmt: skip


REQUESTING = "Requesting…"  # the request button's label while the request is recorded
RETRY_SECONDS = 3  # while the database is not answering, the preview is tried this often


def database_trouble(exc: BaseException) -> str:
    """What the preview says when the database fails: the driver's first line only."""
    reason = database_reason(exc)
    return f"The database is not answering ({reason}). Trying again every {RETRY_SECONDS} s."


def page_base_url() -> str | None:
    """The scheme, host and port this session's page was opened at (a job link's base when
    ASSESS_PUBLIC_URL is unset)."""
    location = pn.state.location
    if location is None or not location.hostname:
        return None
    port = f":{location.port}" if location.port else ""
    return f"{location.protocol}//{location.hostname}{port}"


def skipped_note(names: list[str] | None, shown: int = 3) -> str:
    """HTML after a job's link: how many files it could not draw, and the first names."""
    if not names:
        return ""
    listed = ", ".join(names[:shown]) + (
        f" and {len(names) - shown} more" if len(names) > shown else ""
    )
    return (
        f'<br><span class="job-skipped">{len(names)} file(s) could not be drawn and are '
        f"not in the ZIP (manifest.json lists them): {as_html(listed)}</span>"
    )


def _notify(kind: str, message: str, **options) -> None:
    """A notification on the page (``kind``: info, success or error); none outside a page."""

    def show() -> None:
        if pn.state.notifications:
            getattr(pn.state.notifications, kind)(message, **options)

    on_page(show)


def _none_if_blank(value):
    return value or None


def _iso_or_none(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class _Request:
    """The action of a layout made in the background: the request button, enabled when
    ``ready`` (an order is chosen where the layout needs one)."""

    ready: bool


@dataclass(frozen=True)
class OptionWidget:
    """One export option as the Admin tab shows it."""

    name: str  # the ExportQuery param
    widget: str  # the AdminTab attribute holding its widget
    url: str | None  # its name in the page's URL (None: not in the URL)
    to_query: Callable[[Any], Any]  # the widget's value as the param's


OPTION_WIDGETS = (
    OptionWidget("scope", "scope", "scope", Scope),
    OptionWidget("layout", "layout", "layout", Layout),
    OptionWidget("data_source", "data_source", "data_source", _none_if_blank),
    OptionWidget("order", "order", "order", _none_if_blank),
    OptionWidget("stage_kind", "stage_kind", "stage_kind", _none_if_blank),
    # in the URL as repeated ``class=``; in the query in the workflow's order (_chosen_classes)
    OptionWidget("object_classes", "object_classes", None, list),
    OptionWidget("assessed_from", "assessed_from", "from", _iso_or_none),
    OptionWidget("assessed_to", "assessed_to", "to", _iso_or_none),
    OptionWidget("format", "format", None, str),
    OptionWidget("spreadsheet_safe", "safe", None, bool),
)


class AdminTab(pn.viewable.Viewer):
    """One workflow's export options, preview, download button and jobs, for one user."""

    store = param.ClassSelector(class_=Store)
    workflow = param.String()
    user = param.String()

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.settings = self.store.settings
        self.query = ExportQuery(self.store, workflow=self.workflow)
        self.scope = pn.widgets.RadioBoxGroup(
            label="Assessments",
            options={SCOPE_LABELS[s]: s.value for s in (Scope.all, Scope.latest)},
            value=Scope.latest.value,
        )
        self.layout = pn.widgets.RadioBoxGroup(
            label="Layout", options={LAYOUT_LABELS[x]: x.value for x in Layout}, value="long"
        )
        self.data_source = pn.widgets.Select(label="Data Source")
        self.order = pn.widgets.Select(label="Order")
        self.stage_kind = pn.widgets.Select(
            label="Stage kind", options={"": "", "machine": "machine", "human": "human"}, value=""
        )
        self.object_classes = pn.widgets.MultiChoice(
            label="Object classes", placeholder="all object classes", sizing_mode="stretch_width"
        )
        self.assessed_from = pn.widgets.DatePicker(label="Assessed from (UTC)", width=160)
        self.assessed_to = pn.widgets.DatePicker(label="Assessed before (UTC)", width=160)
        self.format = pn.widgets.RadioButtonGroup(
            label="Format", options={"CSV": "csv", "Parquet": "parquet"}, value="csv"
        )
        self.safe = pn.widgets.Checkbox(
            label="Spreadsheet safety (prefix ' to cells a spreadsheet would run)", value=True
        )
        self.email = pn.widgets.TextInput(
            label="Email the link to",
            value=self.user if EMAIL.match(self.user) else "",
            placeholder="you@example.com (optional)",
        )
        self.request = pn.widgets.Button(label=ACTION_LABELS[Layout.annotated], color="primary")
        self.request.on_click(self._request_annotated)
        self.action = pn.Column(width=300)
        # One link pane for the session: a new preview changes its HTML, not the page.
        self.link = pn.pane.HTML(name="export-download")
        self.views = PreviewViews()  # the preview's tables, updated in place
        self.summary = markdown(sizing_mode="stretch_width", css_classes=["preview-counts"])
        self.body = pn.Column(sizing_mode="stretch_width")
        # One table for the session; while a job runs, its rows are replaced once a second.
        self.jobs_table = pn.widgets.Tabulator(
            pd.DataFrame(columns=JOB_COLUMNS),
            disabled=True,
            selectable=False,
            show_index=False,
            formatters={"download": {"type": "html"}},
            sizing_mode="stretch_width",
            css_classes=["recent-jobs"],
        )
        self.jobs = pn.Column(
            markdown("### Recent jobs"),
            self.jobs_table,
            visible=False,
            sizing_mode="stretch_width",
        )
        self._poller = None
        self._retrier = None
        # With --num-threads, two changes of one session can run at once on two threads:
        # previews are made one at a time, and only the newest change's preview is shown.
        self._busy = threading.RLock()
        self._jobs_busy = threading.Lock()
        self._counter = threading.Lock()
        self._latest = 0  # the number of the newest change asked for
        self._request_ready = False  # the options shown can be requested (an order chosen)
        self._requesting = False  # a request is being recorded: its button waits
        self._fill_choices()
        self._options_from_url()
        for option in OPTION_WIDGETS:
            getattr(self, option.widget).param.watch(self._on_change, "value")
        self._on_change()
        self._refresh_jobs()
        if pn.state.curdoc is not None:  # a link on an open page never expires before use
            pn.state.add_periodic_callback(self._refresh_link, period=LINK_REFRESH * 1000)

    # -- options ----------------------------------------------------------------------------

    def _fill_choices(self) -> None:
        choices = self.query.choices()
        self.data_source.options = {"": "", **{name: name for name in choices.data_sources}}
        self.order.options = {"": "", **{name: name for name in choices.orders}}
        self.class_names = list(choices.object_classes)
        # Choices.js shows an option's label as HTML: the labels are escaped (names are data).
        self.object_classes.options = {as_html(name): name for name in self.class_names}
        self.object_classes.value = []  # none chosen: all
        self.data_source.value = self.order.value = ""  # blank: all

    def _apply(self) -> None:
        """The widgets' options into the query, each as ``OPTION_WIDGETS`` converts it.

        The widgets are not bound to the query's params: with ``--num-threads`` one change
        can arrive on a thread while another thread's preview reads the query. The options
        are copied here, under the preview lock, so a preview reads one set of options."""
        values = {
            option.name: option.to_query(getattr(self, option.widget).value)
            for option in OPTION_WIDGETS
        }
        values["object_classes"] = self._chosen_classes()
        self.query.param.update(**values)

    def _options_from_url(self) -> None:
        """Options named in the page's URL (``?layout=wide&from=2026-03-01``), where valid:
        a link reproduces a preview. An unknown value is ignored (the default stays)."""
        args = pn.state.session_args or {}
        named = [raw.decode("utf-8", "replace") for raw in args.get("class") or []]
        self.object_classes.value = [
            name for name in self.class_names if name in named
        ]  # the workflow's order; a class it does not have is ignored
        for name, widget in self._url_widgets().items():
            text = (args.get(name) or [b""])[0].decode("utf-8", "replace")
            if not text:
                continue
            if isinstance(widget, pn.widgets.DatePicker):
                with contextlib.suppress(ValueError):
                    widget.value = date.fromisoformat(text)
            elif text in widget.options.values():
                widget.value = text

    def _url_search(self) -> str:
        """The URL's query naming the options shown (and the Admin tab), so it can be shared."""
        query = {"workflow": self.workflow, "tab": "admin"}
        for name, widget in self._url_widgets().items():
            value = widget.value
            if isinstance(value, date):
                value = value.isoformat()
            if value:
                query[name] = value
        if self.object_classes.value:
            query["class"] = self._chosen_classes()
        return "?" + urlencode(query, doseq=True)

    def _chosen_classes(self) -> list[str]:
        """The chosen object classes in the workflow's order, whatever order they were picked."""
        return [name for name in self.class_names if name in self.object_classes.value]

    def _url_widgets(self) -> dict[str, pn.widgets.Widget]:
        return {option.url: getattr(self, option.widget) for option in OPTION_WIDGETS if option.url}

    def _on_change(self, *_events) -> None:
        """A change of options: the preview and link of the newest options.

        The data work (counts, rows, drawing) runs here, on the callback's worker thread; the
        page changes on the event loop (``on_page``), in the order asked."""
        with self._counter:
            self._latest += 1
            mine = self._latest
        on_page(lambda: self._show_preparing(pending_link=bool(_events)))
        with self._busy:
            if self._newer_than(mine):
                return  # a later change is waiting: it previews the newest options
            self._preview(mine, url=self._url_search() if _events else None)

    def _newer_than(self, change: int) -> bool:
        with self._counter:
            return self._latest != change

    def _preview(self, mine: int, url: str | None) -> None:
        """Prepare the preview of change ``mine`` and show it (``url``: the page's new query,
        for a user's change)."""
        self._apply()
        prepared, failed, retry = None, None, False
        try:
            try:
                prepared = prepare(self.query)
            except AssessError as exc:
                failed = f"**{as_markdown(exc)}**"
            action = self._action()
        except Exception as exc:
            if not is_database_failure(exc):
                on_page(lambda: self._show_stale(False))  # not dimmed for ever
                raise
            failed = f"**{as_markdown(database_trouble(exc))}**"
            action = _help("The export is offered again once the database answers.")
            retry = True
        query, tables = self.query, self.query.kind.table is not None

        def show() -> None:
            if self._newer_than(mine):
                return  # the page keeps "Preparing": the newer change's preview follows
            if url is not None and pn.state.location is not None:
                pn.state.location.search = url
            self.format.disabled = self.safe.disabled = not tables
            self._retry(retry)
            if prepared is None:
                summary, content = failed, []
            else:
                summary, body = lay_out(query, prepared, self.views)
                content = [body]
            # One message to the browser: the preview and its link never show apart.
            self._show_action(action)
            self.summary.object = summary
            self._show_body(content)
            self._show_stale(False)

        on_page(show)

    def _show_body(self, content: list[pn.viewable.Viewable]) -> None:
        """Show ``content`` as the preview's body. A table view the session showed before
        stays in the page, hidden while another is shown: switching Layout back and forth
        shows it again instead of sending the browser a new table to build (profiled: about
        a second of Chromium's CPU per switch, which delayed the user's next click)."""
        reusable = {id(view) for view in self.views.kept_views()}
        kept = [part for part in self.body.objects if id(part) in reusable]
        kept += [part for part in content if all(part is not old for old in kept)]
        for part in kept:
            part.visible = any(part is shown for shown in content)
        if [id(part) for part in self.body.objects] != [id(part) for part in kept]:
            self.body[:] = kept

    def shown_body(self) -> list[pn.viewable.Viewable]:
        """The parts of the preview's body the page shows (hidden kept tables left out)."""
        return [part for part in self.body.objects if part.visible]

    def shown_tables(self) -> list[pn.widgets.Tabulator]:
        """The preview tables the page shows."""
        return [table for part in self.shown_body() for table in part.select(pn.widgets.Tabulator)]

    def _show_action(self, action: str | _Request | pn.viewable.Viewable) -> None:
        """Show the action: the HTML of the download link (in the one link pane), the
        Annotated Files request, or a component (a message)."""
        if isinstance(action, str):
            self.link.object = action
            action = self.link
        elif isinstance(action, _Request):
            self._request_ready = action.ready
            self.request.disabled = not action.ready or self._requesting
            reason = (
                "Built in the background; you get the link here and by email."
                if action.ready
                else "Choose a workflow order first: Annotated Files are drawn per order."
            )
            action = pn.Column(self.email, self.request, _help(reason))
        if len(self.action.objects) != 1 or self.action.objects[0] is not action:
            self.action[:] = [action]

    def _show_preparing(self, pending_link: bool) -> None:
        """The preview shows it is being made; with ``pending_link`` (a user's change) the
        action is replaced by a disabled one at once, before the new preview is made: nobody
        can click the previous options' link while the new one is made."""
        self._show_stale(True)
        if pending_link:
            self._show_action(
                f'<span id="export-pending" aria-disabled="true" style="{PENDING_STYLE}">'
                "Preparing the export…</span>"
            )

    def _show_stale(self, stale: bool) -> None:
        """Dim the preview while the preview of newer options is made."""
        self.body.styles = STALE_STYLE if stale else {}

    def _refresh_link(self) -> None:
        """Sign the shown download link again (same options, a new expiry): a page left open
        for hours still downloads what its preview shows."""
        with self._busy:
            if self._retrier is None and not self.query.kind.in_background:
                with contextlib.suppress(AssessError):
                    action = self._action()
                    on_page(lambda: self._show_action(action))

    def _retry(self, needed: bool) -> None:
        """While the database is not answering, make the preview again every few seconds:
        the tab recovers by itself once it is back."""
        if needed and self._retrier is None and pn.state.curdoc is not None:
            self._retrier = pn.state.add_periodic_callback(
                self._on_change, period=RETRY_SECONDS * 1000
            )
        elif not needed and self._retrier is not None:
            self._retrier.stop()
            self._retrier = None

    # -- the action button ------------------------------------------------------------------

    def _action(self) -> str | _Request:
        """The download link's HTML for the current options, or the Annotated Files request."""
        kind = self.query.kind
        if kind.in_background:
            return _Request(ready=self.query.order is not None or not kind.needs_order)
        token = sign(
            self.settings.secret(),
            self.user,
            {"kind": "export", "options": self.query.options()},
            lifetime=LINK_LIFETIME,
        )
        href = download_url("", token)
        label = kind.action
        return (
            f'<a id="export-download" href="{as_html(href)}" style="{BUTTON_STYLE}" '
            f'download="{as_html(self.query.filename())}">{label}</a>'
        )

    def _request_annotated(self, _event) -> None:
        from dashboard.jobs.tasks import request_annotated_export

        email = self.email.value.strip()
        if email and not EMAIL.match(email):
            _notify("error", f"{as_html(email)} is not an email address")
            return
        on_page(lambda: self._show_requesting(True))
        try:
            request_annotated_export(
                self.store, self.query, self.user, email or None, page_base_url()
            )
        except AssessError as exc:
            _notify("error", as_html(exc))
            return
        except Exception as exc:
            if not is_database_failure(exc):
                raise
            # e.g. on SQLite, an import holding the write lock longer than a statement waits
            reason = database_reason(exc)
            _notify("error", as_html(f"Not requested: the database did not answer ({reason}). "
                                     "Try again in a moment."))  # fmt: skip
            return
        finally:
            on_page(lambda: self._show_requesting(False))
        _notify("info", "Annotated files requested: see Recent jobs below.")
        self._refresh_jobs()

    def _show_requesting(self, requesting: bool) -> None:
        """While a request is recorded (on SQLite it can wait for an import's write lock, up
        to half a minute), its button says so and takes no second click."""
        self._requesting = requesting
        self.request.label = REQUESTING if requesting else ACTION_LABELS[Layout.annotated]
        self.request.disabled = requesting or not self._request_ready

    # -- recent jobs ------------------------------------------------------------------------

    def _refresh_jobs(self) -> None:
        with self._jobs_busy:  # the poller's thread and a request's
            self._refresh_jobs_now()

    def _refresh_jobs_now(self) -> None:
        try:
            jobs = records.list_jobs(self.store, self.user)
        except Exception as exc:
            if not is_database_failure(exc):
                raise
            return  # the table stays as it was; a running poller asks again in a second
        rows = []
        for job in jobs:
            progress = f"{job.done}/{job.total}" if job.total else "-"
            link = (
                f'<a href="{as_html(job.link)}" target="_blank">{as_html(job.filename)}</a>'
                if job.status is JobStatus.done and job.link
                else as_html(job.error or "")
            )
            rows.append(
                {
                    "requested": f"{job.created_at:%Y-%m-%d %H:%M:%S}",
                    "workflow": job.workflow,
                    "workflow order": job.options.get("order") or "",
                    "assessments": job.options.get("scope", ""),
                    "status": str(job.status),
                    "progress": progress,
                    "download": link + skipped_note(job.skipped),
                    "email": job.email_status,
                }
            )
        frame = pd.DataFrame(rows, columns=JOB_COLUMNS)
        on_page(lambda: self._show_jobs(jobs, frame))

    def _show_jobs(self, jobs, frame: pd.DataFrame) -> None:
        """The recent jobs in the table; polled once a second while one is queued or running."""
        if not frame.equals(self.jobs_table.value):
            self.jobs_table.value = frame
        self.jobs.visible = not frame.empty
        active = any(job.status in (JobStatus.queued, JobStatus.running) for job in jobs)
        if active and self._poller is None and pn.state.curdoc is not None:
            self._poller = pn.state.add_periodic_callback(self._refresh_jobs, period=1000)
        elif not active and self._poller is not None:
            self._poller.stop()
            self._poller = None
            self._notify_finished(jobs)

    def _notify_finished(self, jobs) -> None:
        if jobs:
            latest = jobs[0]
            if latest.status is JobStatus.done:
                _notify("success", f"Ready: {as_html(latest.filename)}", duration=8000)
            elif latest.status is JobStatus.failed:
                _notify("error", f"Export failed: {as_html(latest.error)}")

    # -- layout -----------------------------------------------------------------------------

    def __panel__(self) -> pn.viewable.Viewable:
        export = pn.Column(
            markdown("## Export"),
            markdown("**Assessments**"),
            self.scope,
            _help(HELP["scope"] + " " + LATEST_RULE),
            markdown("**Layout**"),
            self.layout,
            _help(HELP["layout"]),
            self.data_source,
            _help(HELP["data_source"]),
            self.order,
            _help(HELP["order"]),
            self.stage_kind,
            _help(HELP["stage_kind"]),
            self.object_classes,
            _help(HELP["object_classes"]),
            pn.Row(self.assessed_from, self.assessed_to),
            _help(HELP["assessed"]),
            pn.Card(self.format, self.safe, title="Advanced", collapsed=True),
            pn.pane.HTML(
                '<a href="./help/exports" target="_blank" class="format-help">'
                "Export formats: columns, rules and naming</a>",
                margin=(0, 10),
            ),
            width=360,
            name="export-panel",
        )
        # The counts and the action stay in view while the options or the preview scroll.
        bar = pn.Row(
            self.summary,
            self.action,
            sizing_mode="stretch_width",
            css_classes=["action-bar"],
            styles=ACTION_BAR_STYLE,
        )
        preview = pn.Column(
            markdown("## Preview"),
            bar,
            self.body,
            self.jobs,
            sizing_mode="stretch_width",
        )
        return pn.Row(export, preview, sizing_mode="stretch_width")
