"""The served app: `panel serve dashboard/app.py`. A workflow picker and, per workflow, tabs.

The workflow can be chosen by URL (``?workflow=NAME``) so a link opens it.
"""

from __future__ import annotations

import panel as pn

from dashboard.runtime import app_store
from dashboard.ui.overview import Overview

pn.extension("tabulator", notifications=True)

TITLE = "Assessment Export Dashboard"


def requested_workflow(names: list[str]) -> str | None:
    """The workflow named in the URL if it exists, else the first one."""
    args = pn.state.session_args or {}
    wanted = (args.get("workflow") or [b""])[0].decode("utf-8", "replace")
    if wanted in names:
        return wanted
    return names[0] if names else None


def build_app() -> pn.template.FastListTemplate:
    store = app_store()
    names = store.workflow_names()
    picker = pn.widgets.Select(name="Workflow", options=names, value=requested_workflow(names))
    if pn.state.location is not None:
        pn.state.location.sync(picker, {"value": "workflow"})
    overview = Overview(store=store, workflow=picker.value or "")
    picker.link(overview, value="workflow")
    tabs = pn.Tabs(("Overview", overview), dynamic=True)
    title = f"{TITLE}: {picker.value}" if picker.value else TITLE
    return pn.template.FastListTemplate(title=title, sidebar=[picker], main=[tabs])


build_app().servable()
