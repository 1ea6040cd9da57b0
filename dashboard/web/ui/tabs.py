"""A workflow's tabs, each built only when it is first shown.

A session shows one tab at first: the Overview, or the Admin tab when a link names it
(``?tab=admin``). The other is made only if the user opens it, so a page load pays for one
tab's queries and components, and a visitor of the Overview never makes an export preview.
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn

from dashboard.faults import is_database_failure
from dashboard.runtime import is_admin
from dashboard.web.ui.admin import AdminTab
from dashboard.web.ui.overview import NO_WORKFLOW, Overview
from dashboard.web.ui.page import database_alert, on_page
from dashboard.web.ui.safe import markdown


class LazyTabs:
    """``pn.Tabs`` whose tabs are built the first time they are shown.

    Each tab is an empty column until then; ``fill_shown`` builds the shown one (the app
    calls it once the page is connected, so the page itself comes back at once), and a
    change of tab builds the newly shown one."""

    def __init__(self, tabs: list[tuple[str, Callable[[], pn.viewable.Viewable]]], active=0):
        self._slots = [pn.Column(sizing_mode="stretch_width") for _ in tabs]
        self._builders: dict[int, Callable[[], pn.viewable.Viewable]] = {
            index: build for index, (_, build) in enumerate(tabs)
        }
        self._built: dict[int, pn.viewable.Viewable] = {}
        self.tabs = pn.Tabs(
            *((name, slot) for (name, _), slot in zip(tabs, self._slots, strict=True)),
            dynamic=True,
            active=active,
            sizing_mode="stretch_width",
        )
        self.tabs.param.watch(lambda event: self.fill(event.new), "active")

    def fill_shown(self) -> None:
        self.fill(self.tabs.active)

    def fill(self, index: int) -> None:
        build = self._builders.pop(index, None)  # atomic: two threads never build one tab
        if build is None:
            return
        try:
            built = build()
        except Exception as exc:
            if not is_database_failure(exc):
                raise
            self._builders[index] = build  # made again when the tab is shown again
            show_in_parts(self._slots[index], database_alert(exc))
            return
        self._built[index] = built
        show_in_parts(self._slots[index], pn.panel(built))

    def built(self, index: int) -> pn.viewable.Viewable | None:
        """What tab ``index`` was built as (an Overview, an AdminTab), or None before."""
        return self._built.get(index)


def show_in_parts(slot: pn.Column, layout: pn.viewable.Viewable) -> None:
    """Show a newly built ``layout`` in ``slot``, a row or column of it a part at a time.

    Each part is a change of the page of its own, and each next part a later callback of the
    event loop: the server makes a part's Bokeh models and sends them in one callback, and
    serves other sessions' messages and requests before the next. In one change a tab held
    the loop 100-170 ms (the Overview's 293 models: 55-75 ms to make, 85-90 ms to send); a
    part holds it 25-60 ms. Where the layout was changed meanwhile (a new workflow's
    Overview), the parts left are not shown."""
    parts = list(layout.objects) if isinstance(layout, pn.layout.ListPanel) else []
    if len(parts) < 2:
        on_page(lambda: slot.__setitem__(slice(None), [layout]))
        return
    layout.objects = []  # not on the page yet

    def show(count: int) -> None:
        if count == 0:
            slot[:] = [layout]
        elif [id(part) for part in layout.objects] != [id(part) for part in parts[:count]]:
            return  # replaced since: what replaced it is shown
        layout.append(parts[count])
        if count + 1 < len(parts):
            on_page(lambda: show(count + 1), later=True)

    on_page(lambda: show(0))


def workflow_tabs(store, workflow: str | None, user: str | None, tab: str = "") -> LazyTabs:
    """The Overview and, for an admin, the Admin tab of ``workflow``; ``tab="admin"`` (a
    shared link) opens the Admin tab."""
    if not workflow:
        return LazyTabs([("Overview", lambda: markdown(NO_WORKFLOW))])
    tabs = [("Overview", lambda: Overview(store=store, workflow=workflow))]
    admin = is_admin(user, store.settings)
    if admin:
        tabs.append(("Admin", lambda: AdminTab(store=store, workflow=workflow, user=user)))
    return LazyTabs(tabs, active=1 if admin and tab == "admin" else 0)
