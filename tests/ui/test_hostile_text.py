"""Text from data is shown as text, never run or rendered as markup (SPEC 4a), in Chromium.

A workflow whose every name and value from data is a hostile payload (HTML that runs script
or leaves a marked element, Markdown emphasis, code and links, a closing ``</script>``,
spreadsheet formulas) is served and driven through every page and tab: the Overview with its
charts (hovered so their tooltips render), the Admin tab in every layout, both scopes, the
Data Source and Order filters, the pages of the preview table, the Annotated Files gallery and
its interactive image (hovered), an Annotated Files job with a hostile email, and a sign-in
under basic auth with a hostile user name. No dialog opens, ``window.__xss`` stays unset, no
marked element, event-handler attribute, ``javascript:`` link or rendered Markdown marker
appears (Playwright's CSS locators pierce Bokeh's open shadow roots), the page reports no
error and requests no other host, and the server logs no traceback. The names are also found
as literal text, so the test cannot pass by showing nothing.

Each payload that runs script sets its own ``window.__xss`` number, so a failure names it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from dashboard.config import Settings
from dashboard.export import ExportQuery
from dashboard.spec.options import LAYOUT_LABELS, SCOPE_LABELS, Layout, Scope
from dashboard.store import writer
from dashboard.store.db import open_store
from tests.hand_workflow import image_bytes
from tests.helpers import free_port, served_app
from tests.ui.browser_support import SECRET, PageWatch, Served, clipped_cells

pytestmark = pytest.mark.browser

WAIT = 30_000  # ms
JOB_WAIT = 60_000  # ms for the Annotated Files job to end

# -- the hostile data -------------------------------------------------------------------------
# Every name is distinct within its kind, non-blank and within its column's length; the user
# name has no "," (ASSESS_ADMINS is a comma-separated list).

# Starts with '"' (0x22): sorts before every ordinary name, so it is the default workflow.
# With TeX too: MathJax would typeset it in a Markdown pane (its \\href a link to anywhere).
WORKFLOW = (
    '"><img src=x onerror="window.__xss=1"><b class="xss-injected">**md-bold**</b> wf '
    r"$$\href{javascript:window.__xss=26}{md-tex}$$ \(\unicode{x41}\)"
)
PLAIN_WORKFLOW = "zz plain workflow"
ORDERS = (
    "'><img src=x onerror=window.__xss=3> order one",
    '[md-link](javascript:window.__xss=4) <svg onload="window.__xss=2"> order two',
)
SOURCES = (
    '<b class="xss-injected">cam</b> *md-em* source one',
    "@source two </script><script>window.__xss=5</script>",
)
CLASSES = (
    '<svg onload="window.__xss=20">vessel',
    "</script><script>window.__xss=21</script>buoy",
    "@crane `md-code`",
)
SEVERITY = '"><i class=xss-injected>severity'
SEVERITIES = ('<img src=x onerror="window.__xss=8">high', "**md-bold** low")
NOTE = '<b class="xss-injected">note</b>'
LENGTH = "=length [md-link](javascript:window.__xss=22)"
OCCLUDED = "'><img src=x onerror=window.__xss=16>occluded"
ATTRIBUTES = [
    (SEVERITY, "enum", list(SEVERITIES)),
    (NOTE, "string"),
    (LENGTH, "decimal"),
    (OCCLUDED, "boolean"),
]
NOTES = (
    '<img src=x onerror="window.__xss=9">',
    "=cmd|' /C calc'!A0",
    "[md-link](javascript:window.__xss=23)",
    "</script><script>window.__xss=24</script>",
    '*md-em* <b class="xss-injected">v</b>',
    "@SUM(1+1) `md-code`",
)
# The second has both quotes: Panel writes an image's alt attribute with Python's repr().
FILES = (
    "<img src=x onerror=window.__xss=10>.jpg",
    "\"><b class=xss-injected>f2</b>'><img src=x onerror=window.__xss=19>.jpg",
    "[md-link](javascript:window.__xss=25) f3.jpg",
    "'><svg onload=window.__xss=17>f4.jpg",
)
CASES = ("'><svg onload=window.__xss=11>", "=1+1 <i class=xss-injected>c</i>", "@case **md-bold**")
MACHINE = "<img src=x onerror=window.__xss=12>detector"
HUMAN = '**md-bold** <b class="xss-injected">review</b>'
MACHINE_BY = '"><img src=x onerror=window.__xss=13>'
HUMAN_BY = '@anna <i class="xss-injected">x</i>'
EMAIL = "<svg/onload=window.__xss=6>@evil.test"  # the Admin tab's email check accepts it
NOT_AN_EMAIL = '<img src=x onerror="window.__xss=18"> **md-bold**'
USER = "<img/src=x/onerror=window.__xss=7>**md-bold**@evil.test"  # an email: the default
PASSWORD = "hostile-pass-123"

# Polygons of a 64x48 image that, together, cover most of it (hovering finds them).
SHAPES = (
    "POLYGON ((1 1, 40 1, 40 30, 1 30, 1 1))",
    "POLYGON ((30 20, 63 20, 63 47, 30 47, 30 20))",
    "POLYGON ((1 30, 30 30, 30 47, 1 47, 1 30))",
    "POLYGON ((40 1, 63 1, 63 20, 40 20, 40 1))",
)


def entity_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def build_hostile_workflow(store) -> None:
    """Four 64x48 JPEGs in two orders, three cases and two data sources; a machine
    assessment on each and a later human review on the first two (kept, moved, reclassified,
    deleted and added annotations); every value of every attribute, some entity-level."""
    with store.session() as s:
        writer.create_workflow(s, PLAIN_WORKFLOW, ["thing"])
        wf = writer.create_workflow(s, WORKFLOW, list(CLASSES), ATTRIBUTES)
        tax = writer.Taxonomy(wf)
        order_one, order_two = (writer.workflow_order(s, wf, name) for name in ORDERS)
        one, two = (writer.data_source(s, name, "camera") for name in SOURCES)
        first = writer.case(s, wf, CASES[0], order_one)
        second = writer.case(s, wf, CASES[1], order_one)
        third = writer.case(s, wf, CASES[2], order_two)
        places = ((first, one), (first, one), (second, two), (third, two))
        serial = 0
        for index, (name, (case, source)) in enumerate(zip(FILES, places, strict=True)):
            data_file = writer.add_file(s, store.files, case, source, name, image_bytes(64, 48))
            machine = writer.add_assessment(
                s, data_file, MACHINE, "machine", MACHINE_BY, datetime(2026, 11, 1 + index, 8)
            )
            machine_entities = []
            for shape_index, shape in enumerate(SHAPES):
                serial += 1
                entity = entity_id(serial)
                machine_entities.append(entity)
                annotation = writer.add_annotation(
                    s,
                    tax,
                    machine,
                    entity,
                    CLASSES[shape_index % 3],
                    shape,
                    0.2 + 0.2 * shape_index,
                )
                value = (index + shape_index) % len(NOTES)
                writer.add_value(
                    s, tax, machine, entity, SEVERITY, SEVERITIES[value % 2], 0.7, annotation
                )
                writer.add_value(s, tax, machine, entity, NOTE, NOTES[value], 0.5, annotation)
                writer.add_value(
                    s, tax, machine, entity, LENGTH, f"{shape_index + 1}.5", None, annotation
                )
                writer.add_value(
                    s, tax, machine, entity, OCCLUDED, shape_index % 2 == 0, 0.6, annotation
                )
            writer.add_value(s, tax, machine, machine_entities[0], NOTE, NOTES[index], None)
            if index >= 2:
                continue
            human = writer.add_assessment(
                s, data_file, HUMAN, "human", HUMAN_BY, datetime(2026, 11, 2 + index, 9, 30)
            )
            kept, moved, reclassified, _deleted = machine_entities
            for entity, object_class, shape in (
                (kept, CLASSES[0], SHAPES[0]),
                (moved, CLASSES[1], SHAPES[3]),
                (reclassified, CLASSES[0], SHAPES[2]),
            ):
                annotation = writer.add_annotation(s, tax, human, entity, object_class, shape, 1.0)
                writer.add_value(
                    s, tax, human, entity, NOTE, NOTES[(index + 3) % len(NOTES)], None, annotation
                )
                writer.add_value(
                    s, tax, human, entity, SEVERITY, SEVERITIES[index], 1.0, annotation
                )
            serial += 1
            added = writer.add_annotation(
                s, tax, human, entity_id(serial), CLASSES[2], SHAPES[1], None
            )
            writer.add_value(s, tax, human, entity_id(serial), NOTE, NOTES[5], None, added)


def _served_env(data, port: int, **extra: str) -> dict[str, str]:
    return {
        "ASSESS_DATA_DIR": str(data),
        "ASSESS_SECRET": SECRET,
        "ASSESS_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **extra,
    }


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory) -> Iterator[Served]:
    """The app without auth (the local user is admin) on the hostile workflow."""
    data = tmp_path_factory.mktemp("hostile") / "data"
    port = free_port()
    env = _served_env(data, port)
    store = open_store(Settings.from_env(env))
    build_hostile_workflow(store)
    try:
        with served_app(env, port=port) as base:
            yield Served(base, store, data, WORKFLOW)
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def hostile_auth_app(tmp_path_factory) -> Iterator[Served]:
    """The app behind basic auth whose only (admin) user has a hostile name."""
    root = tmp_path_factory.mktemp("hostile-auth")
    data = root / "data"
    credentials = root / "credentials.json"
    credentials.write_text(json.dumps({USER: PASSWORD}))
    port = free_port()
    env = _served_env(data, port, ASSESS_ADMINS=USER)
    store = open_store(Settings.from_env(env))
    build_hostile_workflow(store)
    args = (
        "--basic-auth", str(credentials), "--cookie-secret", "hostile-tests-cookie-secret",
        "--basic-login-template", "dashboard/templates/login.html",
    )  # fmt: skip
    try:
        with served_app(env, port=port, extra_args=args) as base:
            yield Served(base, store, data, WORKFLOW)
    finally:
        store.dispose()


# -- what must never appear -------------------------------------------------------------------

# Elements a rendered payload leaves (locators pierce open shadow roots, where Bokeh renders).
INJECTED = (
    ".xss-injected",
    "[onerror]",
    "[onload]",
    "a[href^='javascript:' i]",
    "a[href*='evil.test' i]",
    "mjx-container",  # typeset TeX
)
# A rendered Markdown payload: an element whose whole text is a marker word.
MARKDOWN = re.compile(r"^\s*md-(bold|em|code|link)\s*$")

# The same, in page JavaScript (also finds injected <script> elements, which locators skip),
# to describe a leak: the offending elements' HTML and the shadow host they are in; and the
# texts of the Bokeh tooltips shown (Bokeh renders them as DOM in shadow roots).
SCAN = """() => {
  const selector = SELECTOR;
  const marker = /^\\s*md-(bold|em|code|link)\\s*$/;
  const found = [];
  const tooltips = [];
  const describe = (el, host) =>
    (host ? `[in shadow root of <${host.tagName.toLowerCase()} class="${host.className}">] `
      : '') + el.outerHTML.slice(0, 300);
  const visit = (root, host) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.matches(selector)
          || (el.matches('strong, em, b, i, code, a') && marker.test(el.textContent))
          || (el.tagName === 'SCRIPT' && el.textContent.includes('__xss'))) {
        found.push(describe(el, host));
      }
      if (el.classList.contains('bk-tooltip-row-value')) tooltips.push(el.textContent.trim());
      if (el.shadowRoot) visit(el.shadowRoot, el);
    }
  };
  visit(document, null);
  return {found, tooltips, xss: window.__xss === undefined ? null : String(window.__xss)};
}""".replace("SELECTOR", json.dumps(", ".join(INJECTED)))
# The scan once Bokeh has drawn what the last mouse move asked for.
SCAN_NEXT_FRAME = f"() => new Promise(done => requestAnimationFrame(() => done(({SCAN})())))"


def assert_nothing_ran(report: dict, where: str) -> None:
    assert report["xss"] is None, (
        f"{where}: a payload ran: window.__xss = {report['xss']}; {report['found']}"
    )
    assert not report["found"], f"{where}: markup from data was rendered:\n" + "\n".join(
        report["found"]
    )


class Guard:
    """Dialogs, page reports and injected markers of one page, asserted at checkpoints."""

    def __init__(self, page: Page, served: Served) -> None:
        self.page = page
        self.served = served
        self.dialogs: list[str] = []
        self.watch = PageWatch(served.base)
        self.watch.attach(page)

        def on_dialog(dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message} (page {page.url})")
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def check(self, where: str) -> None:
        """Nothing from data ran or rendered as markup on the page as it is now."""
        page = self.page
        assert not self.dialogs, f"{where}: a dialog opened: {self.dialogs}"
        assert_nothing_ran(page.evaluate(SCAN), where)
        counts = {selector: page.locator(selector).count() for selector in INJECTED}
        counts["markdown"] = page.locator("strong, em, b, i, code, a", has_text=MARKDOWN).count()
        leaks = {selector: n for selector, n in counts.items() if n}
        assert not leaks, f"{where}: markup from data was rendered: {leaks}"

    def assert_clean(self) -> None:
        self.check("at the end")
        self.watch.assert_clean(self.served.log)


def open_page(context, served: Served, path: str) -> tuple[Page, Guard]:
    page = context.new_page()
    guard = Guard(page, served)
    page.goto(f"{served.base}{path}")
    return page, guard


def app_path(workflow: str) -> str:
    return f"/app?workflow={quote(workflow, safe='')}"


def tab(page: Page, name: str):
    return page.locator(".bk-tab", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))


def radio(page: Page, label: str):
    return page.get_by_role("radio", name=label, exact=True)


def select(page: Page, label: str):
    return page.get_by_label(label, exact=True)


def heading(page: Page, text: str):
    """The Overview's header naming the workflow."""
    return page.get_by_role("heading", name=text, exact=True)


def literal(page: Page, text: str):
    """Elements showing ``text`` as text (the innermost ones)."""
    return page.get_by_text(text, exact=True)


def previewed(text: str) -> str:
    """``text`` as the spreadsheet-safe preview shows it: ' before a would-be formula."""
    return f"'{text}" if re.match(r"^'*[=+\-@\t\r]", text) else text


# A column of each table layout that no other layout's table has (not a name from data).
OWN_COLUMN = {"long": "attribute", "wide": "object_class", "files": "member"}


def expect_rows(page: Page, served: Served, options: dict) -> None:
    """The preview shows the query layer's rows for these options: in its counts line and,
    for the table layouts, in a table of that layout with that many rows on its first page
    (so the checks that follow see the new table, not the one it replaces)."""
    rows = ExportQuery(served.store, **options).counts().rows
    counts = page.get_by_text("estimated size")
    expect(counts).to_have_text(re.compile(rf"^\s*{rows:,}\s"), timeout=WAIT)
    layout = options.get("layout", "long")
    if layout in OWN_COLUMN:
        table = page.locator(
            ".preview-members:visible" if layout == "files" else ".preview-table:visible"
        )
        title = table.locator(
            ".tabulator-col-title", has_text=re.compile(rf"^{OWN_COLUMN[layout]}$")
        )
        expect(title).to_be_visible(timeout=WAIT)
        expect(table.locator(".tabulator-row")).to_have_count(min(rows, 20), timeout=WAIT)
        assert clipped_cells(table.locator(".tabulator-cell")) == []  # one line fits each


def hover_grid(page: Page, guard: Guard, plot, where: str, columns=8, rows=6) -> set[str]:
    """Move the mouse over ``plot`` in a grid; the tooltip values seen. Scans the page after
    each move (an injected element may leave with its tooltip)."""
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box and box["width"] > 50 and box["height"] > 50, f"{where}: no plot to hover"
    seen: set[str] = set()
    for j in range(rows):
        for i in range(columns):
            x = box["x"] + box["width"] * (i + 0.5) / columns
            y = box["y"] + box["height"] * (j + 0.5) / rows
            page.mouse.move(x, y)
            report = page.evaluate(SCAN_NEXT_FRAME)
            assert_nothing_ran(report, f"{where}, hovering at ({x:.0f}, {y:.0f})")
            seen.update(report["tooltips"])
    guard.check(where)
    page.mouse.move(0, 0)
    return seen


def plots(page: Page):
    """The drawn Bokeh plots on the page (the canvas of each)."""
    return page.locator(".bk-Canvas")


# -- the tests --------------------------------------------------------------------------------


def test_the_overview_shows_hostile_names_as_text_and_runs_none(context, hostile_app):
    """The Overview of the hostile workflow (opened by URL): its header shows the name as
    text, every chart is drawn and hovered (tooltips show class, order and data source names
    as text) and both class scopes are shown; nothing from data runs or renders as markup."""
    page, guard = open_page(context, hostile_app, app_path(WORKFLOW))
    expect(tab(page, "Overview")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Machine assessments").first).to_be_visible(timeout=WAIT)
    expect(plots(page)).to_have_count(6, timeout=WAIT)
    guard.check("the Overview")
    expect(heading(page, WORKFLOW)).to_be_visible()  # the Overview's header, as text
    # The workflow picker offers the hostile name as text, first.
    picker = select(page, "Workflow")
    expect(picker).to_have_value(WORKFLOW)
    assert picker.locator("option").all_inner_texts() == [WORKFLOW, PLAIN_WORKFLOW]

    seen: set[str] = set()
    for index in range(plots(page).count()):
        seen |= hover_grid(page, guard, plots(page).nth(index), f"Overview chart {index + 1}")
    page.get_by_role("button", name=SCOPE_LABELS[Scope.all], exact=True).click()
    page.wait_for_timeout(500)
    expect(plots(page)).to_have_count(6, timeout=WAIT)
    guard.check("the Overview, class chart of all assessments")
    seen |= hover_grid(page, guard, plots(page).nth(3), "the class chart of all assessments")
    # The tooltips showed names from data, as text.
    for name in (*CLASSES, *ORDERS, *SOURCES):
        assert name in seen, f"no tooltip showed {name!r}; tooltips: {sorted(seen)}"
    guard.assert_clean()


def page_through(page: Page, guard: Guard, where: str) -> int:
    """Click through every page of the preview table; the number of pages."""
    pages = 1
    guard.check(f"{where}, page 1")
    while True:
        following = page.locator(".tabulator-page[data-page='next']:visible").first
        if not following.is_enabled():
            return pages
        following.click()
        pages += 1
        expect(page.locator(".tabulator-page.active:visible").first).to_have_text(str(pages))
        guard.check(f"{where}, page {pages}")


def test_every_admin_view_and_a_job_show_hostile_names_as_text_and_run_none(
    context, hostile_app, screenshots
):
    """The Admin tab of the hostile workflow (the default page, no ?workflow=): both scopes,
    every layout (all pages of the table), the Data Source and Order filters, the Annotated
    Files gallery and its hovered interactive image, and an Annotated Files job with a hostile
    email until Recent jobs shows it; names are shown as text and nothing runs."""
    page, guard = open_page(context, hostile_app, "/app")
    expect(page.get_by_text("Machine assessments").first).to_be_visible(timeout=WAIT)
    guard.check("the default page")
    expect(heading(page, WORKFLOW)).to_be_visible()  # the hostile workflow is the default
    tab(page, "Admin").click()
    options: dict = {"workflow": WORKFLOW, "scope": "latest", "layout": "long"}
    expect_rows(page, hostile_app, options)
    guard.check("the Admin tab")
    # Cells show names and values from data as text (the preview is spreadsheet-safe, so a
    # value a spreadsheet would run shows with its ' prefix).
    for text in (WORKFLOW, ORDERS[0], SOURCES[0], FILES[0], CASES[0], HUMAN, HUMAN_BY, NOTE):
        expect(literal(page, previewed(text)).first).to_be_attached()
    assert page_through(page, guard, "long, latest") > 1

    steps = [
        (lambda: radio(page, SCOPE_LABELS[Scope.all]).check(), {"scope": "all"}),
        (lambda: radio(page, LAYOUT_LABELS[Layout.wide]).check(), {"layout": "wide"}),
        (lambda: radio(page, LAYOUT_LABELS[Layout.files]).check(), {"layout": "files"}),
        (
            lambda: select(page, "Data Source").select_option(SOURCES[1]),
            {"data_source": SOURCES[1]},
        ),
        (lambda: select(page, "Data Source").select_option(""), {"data_source": None}),
        (lambda: radio(page, LAYOUT_LABELS[Layout.long]).check(), {"layout": "long"}),
        (lambda: select(page, "Order").select_option(ORDERS[1]), {"order": ORDERS[1]}),
        (lambda: select(page, "Order").select_option(ORDERS[0]), {"order": ORDERS[0]}),
        (
            lambda: select(page, "Data Source").select_option(SOURCES[0]),
            {"data_source": SOURCES[0]},
        ),
    ]
    for change, update in steps:
        change()
        options.update(update)
        expect_rows(page, hostile_app, options)
        where = f"the Admin tab with {update}"
        page_through(page, guard, where)
        if options["layout"] == "wide":
            # The wide table's column headers are the attribute names, shown as text.
            titles = page.locator(".tabulator-col-title:visible")
            for name in (SEVERITY, NOTE, LENGTH, OCCLUDED):
                expect(
                    titles.filter(has_text=re.compile(rf"^{re.escape(previewed(name))}$"))
                ).to_have_count(1)
    # Both filters list the names from data as text.
    sources = select(page, "Data Source").locator("option").all_inner_texts()
    orders = select(page, "Order").locator("option").all_inner_texts()
    assert sorted(sources) == sorted(["", *SOURCES]) and sorted(orders) == sorted(["", *ORDERS])

    # Annotated Files of the first order: the gallery's captions and the interactive image.
    select(page, "Data Source").select_option("")
    options["data_source"] = None
    radio(page, LAYOUT_LABELS[Layout.annotated]).check()
    options["layout"] = "annotated"
    expect_rows(page, hostile_app, options)
    drawn = ExportQuery(hostile_app.store, **options).counts().rows
    thumbnails = page.locator("img[src^='data:image/jpeg']")
    expect(thumbnails).to_have_count(min(drawn, 6), timeout=WAIT)
    expect(plots(page)).to_have_count(1, timeout=WAIT)
    guard.check("the Annotated Files gallery")
    gallery = page.locator("img[alt*=' · ']")
    expect(gallery).to_have_count(min(drawn, 6))
    expect(literal(page, f"{FILES[0]} · {HUMAN}").first).to_be_visible()
    alts = {gallery.nth(i).get_attribute("alt") for i in range(gallery.count())}
    assert f"{FILES[0]} · {HUMAN}" in alts, alts  # the alt text is the caption, not its HTML
    assert f"{FILES[1]} · {HUMAN}" in alts, alts
    seen = hover_grid(page, guard, plots(page).first, "the interactive image", 10, 8)
    assert CLASSES[0] in seen, f"the image's tooltips showed no class name: {sorted(seen)}"
    assert any(f"{NOTE}=" in text for text in seen), f"no attribute in tooltips: {sorted(seen)}"
    page.screenshot(path=str(screenshots / "hostile-annotated.png"))

    # A hostile text that is no email: refused in a notification that shows it as text.
    email = page.get_by_label("Email the link to")
    request = page.get_by_role("button", name="Request annotated files")
    expect(request).to_be_enabled(timeout=WAIT)
    email.fill(NOT_AN_EMAIL)
    email.press("Enter")  # Bokeh's text input sends its value on Enter or blur
    request.click()
    refused = page.locator(".notyf__toast", has_text="is not an email address")
    expect(refused).to_be_visible(timeout=WAIT)
    guard.check("the notification refusing the email")
    expect(refused).to_have_text(f"{NOT_AN_EMAIL} is not an email address")

    # An Annotated Files job with a hostile email, until Recent jobs shows it ended.
    email.fill(EMAIL)
    email.press("Enter")
    request.click()
    expect(page.locator(".notyf__toast", has_text="Annotated files requested")).to_be_visible()
    expect(page.get_by_role("heading", name="Recent jobs")).to_be_visible(timeout=WAIT)
    status = page.locator(".tabulator-cell[tabulator-field='status']").first
    expect(status).to_have_text(re.compile(r"^(done|failed)$"), timeout=JOB_WAIT)
    guard.check("Recent jobs")
    expect(status).to_have_text("done")
    jobs = page.locator(".recent-jobs")
    expect(jobs.get_by_text(WORKFLOW, exact=True)).to_be_visible()
    expect(jobs.get_by_text(ORDERS[0], exact=True)).to_be_visible()
    expect(page.locator(".notyf__toast", has_text="Ready:")).to_be_visible(timeout=WAIT)
    guard.check("the job's notification")
    page.screenshot(path=str(screenshots / "hostile-admin.png"))
    guard.assert_clean()


def test_a_hostile_user_name_signs_in_and_is_shown_as_text(context, hostile_auth_app):
    """Behind basic auth, a user whose name is hostile (and an email, so the Admin tab fills
    it in) signs in through the login form: the sidebar shows the name as text, the default
    workflow is the hostile one, and nothing from data or the name runs."""
    page, guard = open_page(context, hostile_auth_app, "/app")
    expect(page).to_have_url(re.compile(r"/login"), timeout=WAIT)
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/app"), timeout=WAIT)
    expect(tab(page, "Overview")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Machine assessments").first).to_be_visible(timeout=WAIT)
    guard.check("the Overview, signed in")
    expect(page.get_by_text("Signed in as")).to_have_text(f"Signed in as {USER}")
    expect(heading(page, WORKFLOW)).to_be_visible()
    tab(page, "Admin").click()
    expect(page.get_by_text("estimated size")).to_be_visible(timeout=WAIT)
    radio(page, LAYOUT_LABELS[Layout.annotated]).check()
    expect(page.get_by_label("Email the link to")).to_have_value(USER, timeout=WAIT)
    guard.check("the Admin tab, signed in")
    guard.assert_clean()
