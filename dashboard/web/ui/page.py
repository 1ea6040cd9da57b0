"""Changes to a session's page, made on the server's event loop only.

With ``--num-threads`` a session's callbacks run on worker threads, two at once when a user
changes options quickly. Panel sends what a worker thread changes by scheduling each
property's update on the event loop, and two threads changing one page interleave those
updates: the browser was sent a reference to a model it had not been told of, and a table
redrawn while its rows were replaced (browser errors in CI, about one run in seven of a quick
sequence of option changes). So a worker thread only computes (queries, drawing) and hands
every change of the page to ``on_page``: it runs on the event loop, in the order asked, and
goes to the browser as one message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import panel as pn

from dashboard.faults import database_reason
from dashboard.web.ui.safe import alert, as_markdown


def on_event_loop() -> bool:
    """Whether this callback runs on the server's event loop, not on a worker thread of
    ``--num-threads``: only the event loop's thread has a running asyncio loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def on_page(change: Callable[[], None], later: bool = False) -> None:
    """Run ``change`` (it changes components of the page) on the event loop, held into one
    message: at once when called there or outside a served session, else as the loop's next
    callback (after the changes asked for before it).

    ``later``: as a later callback even when called on the event loop, so that what waits
    for the loop (other sessions' messages, requests, static files) is served first."""

    def held() -> None:
        with pn.io.hold():
            change()

    document = pn.state.curdoc
    if document is None or document.session_context is None or (on_event_loop() and not later):
        held()
    else:
        pn.state.execute(held, schedule=True)


def database_alert(exc: BaseException) -> pn.pane.Alert:
    """What the page shows in place of a part of it that the database did not answer for
    while it was made (the workflows' list, a tab)."""
    reason = f"The database is not answering ({database_reason(exc)}): reload the page."
    return alert(as_markdown(reason), alert_type="danger")
