"""The dashboard's page, one per session: ``serve_page`` makes it when ``dashboard/app.py``,
the served script, runs (``assess-export serve`` is Panel's ``panel serve dashboard/app.py
--plugins dashboard.web.routes`` with the start-up, ``dashboard.web.server``). A plain
``panel serve dashboard/app.py`` works too, without the embedded job workers: run
``huey_consumer dashboard.jobs.tasks.huey`` beside it for Annotated Files jobs.

A workflow picker and, per workflow, an Overview and (for admins) the Admin tab. The workflow
can be chosen by URL (``?workflow=NAME``) so a link opens it, and the Admin tab too
(``&tab=admin``).

The page request only makes the frame (template, sidebar) and reads no database: the
workflow picker and the shown tab are made once the page has connected (``pn.state.onload``),
on a worker thread of the server's pool (``assess-export serve --num-threads``), and the
other tab only if it is opened. So a page load holds the server's event loop for the frame
only, and other users' pages and static files are not queued behind it.
"""

from __future__ import annotations

import panel as pn

from dashboard.faults import is_database_failure
from dashboard.links import LOCAL_USER
from dashboard.runtime import app_store, is_admin
from dashboard.web.ui.page import database_alert, on_page
from dashboard.web.ui.safe import as_markdown, markdown
from dashboard.web.ui.tabs import workflow_tabs


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


def requested_tab() -> str:
    args = pn.state.session_args or {}
    return (args.get("tab") or [b""])[0].decode("utf-8", "replace")


def account(store, user: str | None) -> list[pn.viewable.Viewable]:
    """Who is signed in, a sign-out link under auth, and why there is no Admin tab."""
    parts = [markdown(f"Signed in as **{as_markdown(user or 'nobody')}**")]
    if user and user != LOCAL_USER:
        parts.append(pn.pane.HTML('<a href="./logout" class="sign-out">Sign out</a>'))
    if not is_admin(user, store.settings):
        parts.append(
            markdown(
                "Exports need the admin role: ask an administrator to add your user name to "
                "`ASSESS_ADMINS`.",
                css_classes=["admin-hint"],
            )
        )
    return parts


def build_app() -> pn.template.BootstrapTemplate:
    """One session's page; the server's start-up (``dashboard.web.server.start_up``) has opened
    the store and started the job workers."""
    store = app_store()  # opened once per process: later pages find it open
    user = session_user()
    picker = pn.widgets.Select(label="Workflow")
    main = pn.Column(sizing_mode="stretch_width")

    def show_in_main(*parts: pn.viewable.Viewable) -> None:
        def change() -> None:
            main[:] = list(parts)

        on_page(change)

    def show(workflow: str | None, tab: str = "") -> None:
        tabs = workflow_tabs(store, workflow, user, tab)
        show_in_main(tabs.tabs)
        tabs.fill_shown()

    def fill() -> None:
        """The picker and the shown tab: everything that reads the database (on a worker
        thread; the page changes on the event loop, ``on_page``)."""
        try:
            names = store.workflow_names()
        except Exception as exc:
            if not is_database_failure(exc):
                raise
            show_in_main(database_alert(exc))
            return
        chosen = requested_workflow(names)

        def show_picker() -> None:
            picker.param.update(options=names, value=chosen)
            if pn.state.location is not None:
                pn.state.location.sync(picker, {"value": "workflow"})
            picker.param.watch(lambda event: show(event.new), "value")

        on_page(show_picker)
        show(chosen, requested_tab())

    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.onload(fill)  # once connected, on the server's thread pool
    else:
        fill()
    sidebar = [picker, *account(store, user)]
    # The title names the product only: the template renders it as HTML, and the workflow,
    # a name from data, is shown (as text) by the Overview's header.
    # Bootstrap, not Fast: Fast's design loads a web font from a third-party host, and the
    # page must load with no request beyond this server.
    return pn.template.BootstrapTemplate(title=TITLE, sidebar=sidebar, main=[main])


def serve_page() -> None:
    """This session's page (``dashboard/app.py`` calls it as panel serve runs the script)."""
    serve_resources_locally()  # before any component, the extension's included
    pn.extension("tabulator", notifications=True, loading_indicator=True)
    build_app().servable()
