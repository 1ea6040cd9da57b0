"""Where text from data meets HTML: shown as text, never run or rendered as markup.

Names, values and messages come from imports (a third party's CSV or COCO file) and from
users. Every page element that interprets markup gets them through one of these helpers:
``as_html`` for HTML (attributes, Tabulator titles and HTML cells, notifications) and
``as_markdown`` for Markdown panes. Bokeh widgets and plain Tabulator cells show text as
text already.
"""

from __future__ import annotations

import html
import re

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
