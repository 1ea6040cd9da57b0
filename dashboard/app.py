"""The served app: `panel serve dashboard/app.py --plugins dashboard.routes`.

A workflow picker and, per workflow, an Overview and (for admins) the Admin tab. The workflow
can be chosen by URL (``?workflow=NAME``) so a link opens it.
"""

from __future__ import annotations

import panel as pn

from dashboard.links import LOCAL_USER
from dashboard.runtime import app_store, is_admin
from dashboard.ui.admin import AdminTab
from dashboard.ui.overview import Overview
from dashboard.ui.safe import as_markdown


def serve_resources_locally() -> None:
    """Stylesheets of this session come from this server, never a CDN.

    Panel sets the document's ``dist_url`` only for a session made by the page request; a
    session made at websocket connect (a slow client whose first session expired, another
    server process) falls back to Panel's CDN. Set it the same way for every session."""
    from panel.io.resources import LOCAL_DIST

    document = pn.state.curdoc
    if document is None or document.session_context is None:
        return
    prefix = pn.state.rel_path
    document.template_variables.setdefault(
        "dist_url", f"{prefix}/{LOCAL_DIST}" if prefix else LOCAL_DIST
    )


serve_resources_locally()  # before any component, the extension's included
pn.extension("tabulator", notifications=True, loading_indicator=True)

TITLE = "Assessment Export Dashboard"


def session_user() -> str | None:
    """The logged-in user; the single local user when the server runs without auth."""
    if pn.state.user:
        return pn.state.user
    auth_configured = bool(pn.config.basic_auth or pn.config.oauth_provider)
    return None if auth_configured else LOCAL_USER


def requested_workflow(names: list[str]) -> str | None:
    """The workflow named in the URL if it exists, else the first one."""
    args = pn.state.session_args or {}
    wanted = (args.get("workflow") or [b""])[0].decode("utf-8", "replace")
    if wanted in names:
        return wanted
    return names[0] if names else None


def workflow_tabs(store, workflow: str | None, user: str | None) -> pn.Tabs:
    if not workflow:
        return pn.Tabs(("Overview", pn.pane.Markdown("No workflow in the store yet.")))
    tabs = pn.Tabs(("Overview", Overview(store=store, workflow=workflow)), dynamic=True)
    if is_admin(user, store.settings):
        tabs.append(("Admin", AdminTab(store=store, workflow=workflow, user=user)))
        if requested_tab() == "admin":  # a shared link opens the Admin tab
            tabs.active = 1
    return tabs


def requested_tab() -> str:
    args = pn.state.session_args or {}
    return (args.get("tab") or [b""])[0].decode("utf-8", "replace")


def account(store, user: str | None) -> list[pn.viewable.Viewable]:
    """Who is signed in, a sign-out link under auth, and why there is no Admin tab."""
    parts = [pn.pane.Markdown(f"Signed in as **{as_markdown(user or 'nobody')}**")]
    if user and user != LOCAL_USER:
        parts.append(pn.pane.HTML('<a href="./logout" class="sign-out">Sign out</a>'))
    if not is_admin(user, store.settings):
        parts.append(
            pn.pane.Markdown(
                "Exports need the admin role: ask an administrator to add your user name to "
                "`ASSESS_ADMINS`.",
                css_classes=["admin-hint"],
            )
        )
    return parts


def build_app() -> pn.template.BootstrapTemplate:
    from dashboard.jobs.tasks import start_background_work

    store = app_store()
    start_background_work(store)
    user = session_user()
    names = store.workflow_names()
    picker = pn.widgets.Select(label="Workflow", options=names, value=requested_workflow(names))
    if pn.state.location is not None:
        pn.state.location.sync(picker, {"value": "workflow"})
    main = pn.Column(workflow_tabs(store, picker.value, user), sizing_mode="stretch_width")

    def switch(event) -> None:
        main[:] = [workflow_tabs(store, event.new, user)]

    picker.param.watch(switch, "value")
    sidebar = [picker, *account(store, user)]
    # The title names the product only: the template renders it as HTML, and the workflow,
    # a name from data, is shown (as text) by the Overview's header.
    # Bootstrap, not Fast: Fast's design loads a web font from a third-party host, and the
    # page must load with no request beyond this server.
    return pn.template.BootstrapTemplate(title=TITLE, sidebar=sidebar, main=[main])


build_app().servable()
