"""Writing a bench's section of results (bench/RESULTS-<name>.md).

A section is the generated part, written anew by each run, and then a hand-written history
(what was measured by hand, tried, kept or not), which starts at the heading ``HISTORY`` and
is kept from the file's last version.
"""

from __future__ import annotations

from pathlib import Path

HISTORY = "\n### Where the time goes"


def write_section(out: Path, generated: str) -> None:
    """Write ``generated`` to ``out``, followed by the hand-written history already there."""
    kept = ""
    if out.exists():
        old = out.read_text()
        marker = old.find(HISTORY)
        kept = old[marker:] if marker >= 0 else ""
    out.write_text(generated + kept)
