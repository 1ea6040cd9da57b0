"""Spreadsheet safety, the rule (OWASP CSV injection): which text a spreadsheet would run.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, after any number of
``'``, and not a number, gets one more leading ``'``; the long-CSV importer strips exactly one,
so every value round-trips. ``dashboard.produce.tables.spreadsheet_safe`` applies the rule to
whole Arrow columns.
"""

from __future__ import annotations

import re

TRIGGER = r"^'*[=+\-@\t\r]"
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def safe_text(text: str) -> str:
    """One cell (or header) made safe."""
    if re.match(TRIGGER, text) and not re.match(NUMBER, text):
        return "'" + text
    return text


def unescape_spreadsheet(text: str) -> str:
    """The inverse of ``safe_text`` for one cell (used by the long-CSV importer)."""
    if text[:1] == "'" and re.match(r"^'+[=+\-@\t\r]", text) and not re.match(NUMBER, text[1:]):
        return text[1:]
    return text
