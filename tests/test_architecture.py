"""The architecture as contracts (pyproject.toml, [tool.importlinter]): data flows one way,
store -> query -> producers -> ui | cli | http, and the query layer is UI-free."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def test_the_import_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


LAYOUT_BRANCH = re.compile(
    r"(?:\bis not|\bis|==|!=)\s+Layout\.\w+"  # layout is Layout.files, == Layout.long
    r"|Layout\.\w+\s*:"  # a dict keyed by layout
    r"|\bin\s+\(\s*Layout\."  # layout in (Layout.long, ...)
)


def test_layouts_are_told_apart_only_in_export_and_the_ui():
    """What a layout is (its count, producer, suffix, preview) is one LAYOUTS entry in
    dashboard/export.py; the UI may lay layouts out differently. Nowhere else branches."""
    package = ROOT / "dashboard"
    allowed = {package / "export.py", package / "spec" / "options.py"}
    branching = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path not in allowed and package / "web" / "ui" not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LAYOUT_BRANCH.search(line)
    ]
    assert branching == []


def test_every_layout_has_one_entry_in_the_layouts_table():
    from dashboard.export import LAYOUTS
    from dashboard.spec.options import ACTION_LABELS, LAYOUT_LABELS, Layout

    assert list(LAYOUTS) == list(Layout)
    assert all(kind.layout is layout for layout, kind in LAYOUTS.items())
    assert set(LAYOUT_LABELS) == set(ACTION_LABELS) == set(Layout)


MARKDOWN_PANE = re.compile(r"\bpn\.pane\.(Markdown|Alert)\(|\bpanel\.pane\.(Markdown|Alert)\(")


def test_markdown_panes_are_made_only_by_the_safe_helpers():
    """Every Markdown pane (and Alert) of the app comes from dashboard/web/ui/safe.py, which
    turns TeX off: Panel's own typesets ``$$...$$`` from data (tests/ui/test_hostile_text.py)."""
    package = ROOT / "dashboard"
    made = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path != package / "web" / "ui" / "safe.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MARKDOWN_PANE.search(line)
    ]
    assert made == []
