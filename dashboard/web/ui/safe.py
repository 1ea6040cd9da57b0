"""Where text from data meets HTML: shown as text, never run or rendered as markup.

Names, values and messages come from imports (a third party's CSV or COCO file) and from
users. Every page element that interprets markup gets them through one of these helpers:
``as_html`` for HTML (attributes, Tabulator titles and HTML cells, notifications) and
``as_markdown`` for Markdown panes, which are made by ``markdown`` and ``alert`` only (they
typeset no TeX). Bokeh widgets and plain Tabulator cells show text as text already.
"""

from __future__ import annotations

import html
import re
from typing import ClassVar

import panel as pn
import param

MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:])")


def as_html(value: object) -> str:
    """``value`` as HTML text, safe in an element and in a quoted attribute."""
    return html.escape(str(value), quote=True)


def as_markdown(value: object) -> str:
    """``value`` as Markdown text on one line: no emphasis, link, heading or HTML."""
    one_line = " ".join(str(value).split())
    return as_html(MARKDOWN_SYNTAX.sub(r"\\\1", one_line))


def column_titles(columns) -> dict[str, str]:
    """Tabulator header titles (rendered as HTML) for column names that came from data."""
    return {str(column): as_html(column) for column in columns}


class _Markdown(pn.pane.Markdown):
    """Panel's Markdown pane with its ``disable_math`` sent to the browser, and on: Panel
    1.9 keeps the parameter on the server (its ``_rename`` maps it to no property), so the
    browser typesets the pane's TeX whatever it says."""

    disable_math = param.Boolean(default=True)
    _rename: ClassVar = {**pn.pane.Markdown._rename, "disable_math": "disable_math"}


class _Alert(_Markdown, pn.pane.Alert):
    """Panel's Alert (a Markdown pane in a coloured box) that typesets no TeX."""

    _rename: ClassVar = {**pn.pane.Alert._rename, **_Markdown._rename}


def markdown(text: str = "", **params) -> pn.pane.Markdown:
    """A Markdown pane that typesets no TeX; every Markdown pane of the app is made here.

    Panel's Markdown hands ``$$...$$`` and ``\\(...\\)`` in its text to MathJax, whose
    ``\\href`` makes a link to any URL: a workflow named ``$$\\href{javascript:...}{x}$$``
    was a link that ran script (tests/ui/test_hostile_text.py). The app writes no TeX."""
    return _Markdown(text, **params)


def alert(text: str, **params) -> pn.pane.Alert:
    """An Alert that typesets no TeX (``markdown``)."""
    return _Alert(text, **params)
