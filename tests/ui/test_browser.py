"""The served dashboard in a real browser (Playwright driving Debian's Chromium).

Every number and byte the page shows or downloads is compared with the query layer computed
in this process on the same store: the preview counts after each option change, the long CSV,
wide CSV, Parquet and Files ZIP downloads, and the Annotated Files job's archive. A user
without the admin role sees no Admin tab and cannot download. Screenshots of the Overview and
the Admin tab go to test-output/screenshots/ (not committed).
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from dashboard.export import ExportQuery
from dashboard.links import download_url, sign
from dashboard.spec.options import LAYOUT_LABELS, SCOPE_LABELS, Layout, Scope
from dashboard.web.ui.preview import ROW_PX, table_height
from tests.ui.browser_support import (
    CREDENTIALS,
    SECRET,
    VIEWPORT,
    PageWatch,
    Served,
    clipped_cells,
)

pytestmark = pytest.mark.browser

WAIT = 30_000  # ms: generous, CI machines are slow
JOB_WAIT = 90_000  # ms for the Annotated Files job to finish
FILENAME = r"{workflow}_{layout}_\d{{8}}T\d{{6}}Z\.{suffix}"


# -- page helpers -----------------------------------------------------------------------------


def open_app(context, served: Served) -> tuple[Page, PageWatch]:
    page = context.new_page()
    watch = PageWatch(served.base)
    watch.attach(page)
    page.goto(f"{served.base}/app?workflow={served.workflow}")
    expect(tab(page, "Overview")).to_be_visible(timeout=WAIT)
    return page, watch


def tab(page: Page, name: str):
    return page.locator(".bk-tab", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))


def summary(page: Page):
    """The counts line of the preview: '**N rows** · estimated size ...'."""
    return page.get_by_text("estimated size")


def open_admin(page: Page) -> None:
    tab(page, "Admin").click()
    expect(summary(page)).to_be_visible(timeout=WAIT)


def radio(page: Page, label: str):
    return page.get_by_role("radio", name=label, exact=True)


def select(page: Page, label: str):
    return page.get_by_label(label, exact=True)


def choose(page: Page, choices, name: str) -> None:
    """Pick ``name`` in a MultiChoice (Choices.js): open its list and click the option. A
    page update arriving meanwhile can close the list before the click (a flake of a
    fresh-clone run: the option never showed), so the list is opened again, up to 3 times."""
    option = page.get_by_role("option", name=name, exact=True)
    for attempt in range(3):
        choices.click()
        try:
            option.click(timeout=10_000)
            return
        except PlaywrightError:
            if attempt == 2:
                raise


def safety_checkbox(page: Page):
    # Bokeh's checkbox has its label in a sibling <div>, not a <label>: no accessible name.
    host = page.locator(".bk-Checkbox", has_text="Spreadsheet safety")
    return host.locator("input[type=checkbox]")


def expect_counts(page: Page, served: Served, options: dict) -> None:
    """The page shows the query layer's row and file counts for these options."""
    counts = ExportQuery(served.store, **options).counts()
    pattern = rf"^\s*{counts.rows:,}\b[\s\S]*\b{counts.files:,} files\b"
    expect(summary(page)).to_have_text(re.compile(pattern), timeout=WAIT)


def token_target(href: str) -> dict:
    token = parse_qs(urlsplit(href).query)["token"][0]
    payload = token.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["t"]


def export_link(page: Page, served: Served, options: dict):
    """The download link once it carries exactly these options (it is replaced on each
    change, so wait for the current one rather than click a stale one)."""
    want = ExportQuery(served.store, **options).options()
    link = page.locator("#export-download")
    deadline = time.monotonic() + WAIT / 1000
    seen = None
    while True:
        try:
            href = link.get_attribute("href", timeout=2_000)
            seen = token_target(href)["options"] if href else None
        except PlaywrightError:
            seen = None
        if seen == want:
            return link
        if time.monotonic() > deadline:
            raise AssertionError(f"the download link has options {seen}, expected {want}")
        page.wait_for_timeout(100)


def click_download(page: Page, link) -> tuple[str, bytes]:
    with page.expect_download(timeout=60_000) as info:
        link.click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


# Resolves once the element's shadow root has had no DOM change for 500 ms (at most 10 s).
QUIET_DOM = """element => new Promise(resolve => {
  const observer = new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(done, 500);
  });
  let timer = setTimeout(done, 500);
  const limit = setTimeout(done, 10000);
  observer.observe(element.getRootNode(), {subtree: true, childList: true, attributes: true});
  function done() { observer.disconnect(); clearTimeout(timer); clearTimeout(limit); resolve(); }
})"""


def click_when_settled(element) -> None:
    """Click an element of a Tabulator table once the table holds still.

    Panel's Tabulator redraws its rows when it scrolls into view (and resets its horizontal
    scroll). A click that has to scroll first can press the mouse on the old row and release
    it on the redrawn one: no click. So scroll first, wait for the redraw, then click.
    """
    element.scroll_into_view_if_needed()
    element.evaluate(QUIET_DOM)
    element.click()


def click_download_in_new_tab(context, page: Page, link) -> tuple[str, bytes]:
    downloads = []

    def on_download(download) -> None:
        downloads.append(download)

    def on_page(popup) -> None:
        popup.on("download", on_download)

    page.on("download", on_download)
    context.on("page", on_page)
    try:
        click_when_settled(link)
        deadline = time.monotonic() + 60
        while not downloads:
            assert time.monotonic() < deadline, "clicking the link started no download"
            page.wait_for_timeout(100)
    finally:
        page.remove_listener("download", on_download)
        context.remove_listener("page", on_page)
    (download,) = downloads
    return download.suggested_filename, Path(download.path()).read_bytes()


def api_bytes(served: Served, options: dict) -> bytes:
    buffer = io.BytesIO()
    query = ExportQuery(served.store, **options)
    if Layout(query.layout) is Layout.annotated:
        query.write_annotated_zip(buffer, workers=1)
    else:
        query.write(buffer)
    return buffer.getvalue()


def assert_same_zip(got: bytes, want: bytes) -> None:
    got_zip, want_zip = zipfile.ZipFile(io.BytesIO(got)), zipfile.ZipFile(io.BytesIO(want))
    assert got_zip.testzip() is None
    assert got_zip.namelist() == want_zip.namelist()
    assert "manifest.json" in got_zip.namelist()
    for name in want_zip.namelist():
        assert got_zip.read(name) == want_zip.read(name), name
    assert got == want  # the archive is deterministic: fixed member times and order


def full_screenshot(page: Page, path: Path) -> None:
    """The whole page: the template scrolls inside #main, so grow the viewport to fit it."""
    height = page.evaluate(
        "() => { const m = document.getElementById('main');"
        " return m ? m.getBoundingClientRect().top + m.scrollHeight"
        " : document.documentElement.scrollHeight; }"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 40, 8000)})
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)


# -- the app, unauthenticated (the single local user is admin) --------------------------------


def test_app_opens_cleanly_and_screenshots_both_tabs(context, demo_app, screenshots):
    """The app loads with no console error, no request to another host and no server
    traceback; the local user sees Overview (charts drawn) and Admin; screenshots of both."""
    page, watch = open_app(context, demo_app)
    expect(page.get_by_text("Signed in as")).to_contain_text("local")
    expect(tab(page, "Admin")).to_be_visible()
    expect(page.get_by_text("Machine assessments").first).to_be_visible(timeout=WAIT)
    expect(page.locator("canvas").nth(5)).to_be_attached(timeout=WAIT)  # the charts drew
    full_screenshot(page, screenshots / "overview.png")

    open_admin(page)
    expect_counts(page, demo_app, {"workflow": demo_app.workflow})
    expect(page.locator(".tabulator-row").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#export-download")).to_have_text("Export CSV")
    full_screenshot(page, screenshots / "admin.png")

    assert (screenshots / "overview.png").stat().st_size > 10_000
    assert (screenshots / "admin.png").stat().st_size > 10_000
    watch.assert_clean(demo_app.log)


def test_every_option_changes_the_preview_to_the_query_layers_counts(context, demo_app):
    """Each option of the Export panel, changed in turn (scope, all four layouts, a data
    source, an order, both back to blank, format and spreadsheet safety), brings the preview
    to the query layer's counts and the download link to exactly those options."""
    page, watch = open_app(context, demo_app)
    open_admin(page)
    options: dict = {"workflow": demo_app.workflow, "scope": "latest", "layout": "long"}
    expect_counts(page, demo_app, options)
    export_link(page, demo_app, options)

    def pick(label: str):
        return lambda: radio(page, label).check()

    def choose(label: str, value: str):
        return lambda: select(page, label).select_option(value)

    steps = [
        (pick(SCOPE_LABELS[Scope.all]), {"scope": "all"}),
        (pick(LAYOUT_LABELS[Layout.wide]), {"layout": "wide"}),
        (pick(LAYOUT_LABELS[Layout.files]), {"layout": "files"}),
        (choose("Data Source", "drone-survey"), {"data_source": "drone-survey"}),
        (choose("Order", "8492193"), {"order": "8492193"}),
        (pick(LAYOUT_LABELS[Layout.annotated]), {"layout": "annotated"}),
        (pick(SCOPE_LABELS[Scope.latest]), {"scope": "latest"}),
        (pick(LAYOUT_LABELS[Layout.long]), {"layout": "long"}),
        (choose("Order", ""), {"order": None}),
        (choose("Data Source", ""), {"data_source": None}),
    ]
    shown = ExportQuery(demo_app.store, **options).counts().rows
    for change, update in steps:
        options = {**options, **update}
        rows = ExportQuery(demo_app.store, **options).counts().rows
        # Each step changes the count, so waiting for it proves the page followed the change.
        assert rows != shown, f"step {update} leaves {rows} rows: pick a step that changes it"
        change()
        expect_counts(page, demo_app, options)
        if Layout(options["layout"]) is not Layout.annotated:
            export_link(page, demo_app, options)
        shown = rows

    # The Advanced card: format and spreadsheet safety reach the download link.
    link = page.locator("#export-download")
    page.get_by_text("Advanced", exact=True).click()
    page.get_by_role("button", name="Parquet", exact=True).click()
    options["format"] = "parquet"
    export_link(page, demo_app, options)
    parquet_name = FILENAME.format(workflow=demo_app.workflow, layout="long", suffix="parquet")
    expect(link).to_have_attribute("download", re.compile(parquet_name))
    safety_checkbox(page).uncheck()
    options["spreadsheet_safe"] = False
    export_link(page, demo_app, options)
    page.get_by_role("button", name="CSV", exact=True).click()
    options["format"] = "csv"
    export_link(page, demo_app, options)
    expect_counts(page, demo_app, options)
    watch.assert_clean(demo_app.log)


def test_downloads_by_click_are_the_api_bytes(context, demo_app):
    """Clicking Export CSV / Download ZIP downloads exactly what the Python API writes: long
    CSV, wide CSV, Parquet without spreadsheet safety, and the Files ZIP."""
    page, watch = open_app(context, demo_app)
    open_admin(page)
    workflow = demo_app.workflow

    # Long CSV: All Assessments of one data source.
    options = {"workflow": workflow, "scope": "all", "data_source": "quay-camera-3"}
    radio(page, SCOPE_LABELS[Scope.all]).check()
    select(page, "Data Source").select_option("quay-camera-3")
    expect_counts(page, demo_app, options)
    name, body = click_download(page, export_link(page, demo_app, options))
    assert re.fullmatch(FILENAME.format(workflow=workflow, layout="long", suffix="csv"), name)
    assert body == api_bytes(demo_app, options)
    assert body.startswith(b'"workflow","workflow_order","data_source","file_id",')

    # Wide CSV, same filters.
    options["layout"] = "wide"
    radio(page, LAYOUT_LABELS[Layout.wide]).check()
    expect_counts(page, demo_app, options)
    name, body = click_download(page, export_link(page, demo_app, options))
    assert re.fullmatch(FILENAME.format(workflow=workflow, layout="wide", suffix="csv"), name)
    assert body == api_bytes(demo_app, options)

    # Parquet of the long layout, spreadsheet safety off (the Advanced card).
    options.update(layout="long", format="parquet", spreadsheet_safe=False)
    radio(page, LAYOUT_LABELS[Layout.long]).check()
    page.get_by_text("Advanced", exact=True).click()
    page.get_by_role("button", name="Parquet", exact=True).click()
    safety_checkbox(page).uncheck()
    name, body = click_download(page, export_link(page, demo_app, options))
    assert re.fullmatch(FILENAME.format(workflow=workflow, layout="long", suffix="parquet"), name)
    assert body == api_bytes(demo_app, options)

    # Files ZIP of one order, all data sources.
    options.update(layout="files", data_source=None, order="8492201")
    radio(page, LAYOUT_LABELS[Layout.files]).check()
    select(page, "Data Source").select_option("")
    select(page, "Order").select_option("8492201")
    expect_counts(page, demo_app, options)
    link = export_link(page, demo_app, options)
    expect(link).to_have_text("Download ZIP")
    name, body = click_download(page, link)
    assert re.fullmatch(FILENAME.format(workflow=workflow, layout="files", suffix="zip"), name)
    assert_same_zip(body, api_bytes(demo_app, options))
    watch.assert_clean(demo_app.log)


def test_the_options_live_in_the_url_and_a_link_reproduces_the_preview(context, demo_app):
    """Options -> URL -> a new page: the same Admin tab, preview counts and download bytes;
    an unknown value in a URL is ignored (the default stays)."""
    page, watch = open_app(context, demo_app)
    open_admin(page)
    workflow = demo_app.workflow
    options = {"workflow": workflow, "scope": "all", "layout": "wide", "stage_kind": "human",
               "object_classes": ["vessel", "crane"]}  # fmt: skip
    radio(page, SCOPE_LABELS[Scope.all]).check()
    radio(page, LAYOUT_LABELS[Layout.wide]).check()
    select(page, "Stage kind").select_option("human")
    classes = page.get_by_placeholder("all object classes")
    for name in ("crane", "vessel"):  # chosen in any order: kept in the workflow's order
        choose(page, classes, name)
    expect_counts(page, demo_app, options)
    expect(page).to_have_url(re.compile(r"class=vessel&class=crane"), timeout=WAIT)
    shared = page.url
    query = parse_qs(urlsplit(shared).query)
    assert query["tab"] == ["admin"] and query["layout"] == ["wide"] and query["scope"] == ["all"]
    assert query["class"] == ["vessel", "crane"]
    watch.assert_clean(demo_app.log)

    again = context.new_page()
    again_watch = PageWatch(demo_app.base)
    again_watch.attach(again)
    again.goto(shared)
    expect(summary(again)).to_be_visible(timeout=WAIT)  # opened on the Admin tab
    expect_counts(again, demo_app, options)
    _, body = click_download(again, export_link(again, demo_app, options))
    assert body == api_bytes(demo_app, options)
    again_watch.assert_clean(demo_app.log)

    bad = context.new_page()
    bad.goto(f"{demo_app.base}/app?workflow={workflow}&tab=admin&layout=bogus&scope=all")
    expect_counts(bad, demo_app, {"workflow": workflow, "scope": "all"})


def test_quick_changes_on_several_threads_leave_a_clean_page_showing_the_newest(context, demo_app):
    """Options changed faster than previews are made on fresh pages (each change a callback
    on its own worker thread, several at once, new tables made): the browser is never sent a
    change it cannot apply, and the page ends on the newest options' preview and link. The
    page changes only on the event loop: before, a quick sequence like this one sent the
    browser a model it did not know, or a table redrawn while its rows were replaced."""
    options = {"workflow": demo_app.workflow, "scope": "all", "layout": "wide",
               "stage_kind": "human"}  # fmt: skip
    for _ in range(4):
        page, watch = open_app(context, demo_app)
        open_admin(page)
        radio(page, SCOPE_LABELS[Scope.all]).check()
        radio(page, LAYOUT_LABELS[Layout.wide]).check()
        radio(page, LAYOUT_LABELS[Layout.files]).check()
        select(page, "Stage kind").select_option("human")
        radio(page, LAYOUT_LABELS[Layout.long]).check()
        radio(page, LAYOUT_LABELS[Layout.wide]).check()
        try:
            expect_counts(page, demo_app, options)
            export_link(page, demo_app, options)
        finally:  # a page that stopped short says what the browser reported
            watch.assert_clean(demo_app.log)
        page.close()


def test_annotated_files_job_completes_and_its_link_downloads_the_api_bytes(context, demo_app):
    """Annotated Files: disabled (with the reason) until an order is chosen; the request
    runs as a job in the served app, Recent jobs shows it done, and its link downloads the
    API's archive byte for byte."""
    page, watch = open_app(context, demo_app)
    open_admin(page)
    workflow = demo_app.workflow
    options = {"workflow": workflow, "scope": "all", "layout": "annotated", "order": "8492192"}

    radio(page, SCOPE_LABELS[Scope.all]).check()
    radio(page, LAYOUT_LABELS[Layout.annotated]).check()
    request = page.get_by_role("button", name="Request annotated files")
    expect(request).to_be_disabled(timeout=WAIT)
    expect(page.get_by_text("Choose a workflow order first")).to_be_visible()
    expect(page.get_by_text("Annotated Files needs a workflow order")).to_be_visible()
    expect(page.locator("#export-download")).to_have_count(0)

    select(page, "Order").select_option("8492192")
    expect_counts(page, demo_app, options)
    expect(request).to_be_enabled(timeout=WAIT)
    expect(page.get_by_text("Choose a workflow order first")).to_have_count(0)
    # The gallery draws each (file, assessment) of the order: captions "name · stage".
    drawn = ExportQuery(demo_app.store, **options).counts().rows
    expect(page.locator("img[alt*=' · ']")).to_have_count(min(drawn, 6), timeout=WAIT)
    request.click()

    expect(page.locator(".notyf__toast", has_text="Annotated files requested")).to_be_visible()
    expect(page.get_by_role("heading", name="Recent jobs")).to_be_visible(timeout=WAIT)
    status = page.locator(".tabulator-cell[tabulator-field='status']").first
    expect(status).to_have_text("done", timeout=JOB_WAIT)
    link = page.locator(".tabulator-cell[tabulator-field='download'] a").first
    filename = FILENAME.format(workflow=workflow, layout="annotated", suffix="zip")
    expect(link).to_have_text(re.compile(filename))
    href = link.get_attribute("href")
    assert token_target(href)["kind"] == "job"
    assert href.startswith(f"{demo_app.base}/download?token=")

    # The requester is told in the dashboard too. The toasts sit bottom-right, where the jobs
    # table's download column is when scrolled to: let them go (the "Ready" one lasts 8 s) so
    # none can catch the click.
    expect(page.locator(".notyf__toast", has_text="Ready:")).to_contain_text(re.compile(filename))
    expect(page.locator(".notyf__toast")).to_have_count(0, timeout=WAIT)

    # The link opens a new tab (target=_blank) that turns into a download; Chromium reports
    # it on the new tab or on this page, so listen on both.
    name, body = click_download_in_new_tab(context, page, link)
    assert re.fullmatch(filename, name)
    assert_same_zip(body, api_bytes(demo_app, options))
    watch.assert_clean(demo_app.log)


def test_the_action_stays_in_view_and_the_table_shows_what_matters(context, demo_app):
    """At 1400x900 the Export button and the counts are in view, and stay so when the page
    scrolls; the long table keeps attribute, value and confidence in view and says which rows
    it shows; the wide table is visibly another layout."""
    page = context.new_page()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{demo_app.base}/app?workflow={demo_app.workflow}&tab=admin")
    expect(summary(page)).to_be_visible(timeout=WAIT)
    button = page.locator("#export-download")

    def in_view(locator) -> bool:
        box = locator.bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900

    assert in_view(button) and in_view(summary(page))
    total = ExportQuery(demo_app.store, workflow=demo_app.workflow).counts().rows
    position = page.locator(".rows-shown")
    expect(position).to_have_text(re.compile(rf"rows 1–20 of {total:,}"))
    rows = page.locator(".preview-long .tabulator-row")
    expect(rows).to_have_count(20)
    heights = set(rows.evaluate_all("rows => rows.map(r => r.offsetHeight)"))
    assert heights == {ROW_PX + 1}  # the set height and the row's bottom border
    assert clipped_cells(page.locator(".preview-long .tabulator-cell")) == []
    # The table is as high as its page of rows (no scrollbar of its own, no blank below).
    long_table = page.locator(".preview-long.bk-panel-models-tabulator-DataTabulator").first
    assert long_table.bounding_box()["height"] == table_height(20)
    holder = page.locator(".preview-long .tabulator-tableholder").first
    scrolled, shown, drawn = holder.evaluate(
        "h => [h.scrollHeight, h.clientHeight, h.querySelector('.tabulator-table').offsetHeight]"
    )
    assert scrolled <= shown and shown - drawn <= 2, (scrolled, shown, drawn)
    page_height = page.locator(".bk-panel-models-tabs-Tabs").first.bounding_box()["height"]
    table_box = holder.bounding_box()
    for column in ("attribute", "value", "confidence"):
        header = page.locator(f".preview-long .tabulator-col[tabulator-field='{column}']").first
        box = header.bounding_box()
        assert box["x"] >= table_box["x"] - 1, column
        assert box["x"] + box["width"] <= table_box["x"] + table_box["width"] + 1, column
    page.locator(".preview-long .tabulator-page[data-page='next']").first.click()
    expect(position).to_have_text(re.compile(rf"rows 21–40 of {total:,}"), timeout=WAIT)
    page.mouse.move(1000, 700)
    page.mouse.wheel(0, 2000)
    page.wait_for_timeout(500)
    assert in_view(button) and in_view(summary(page))
    radio(page, LAYOUT_LABELS[Layout.wide]).check()
    expect(page.get_by_text("Annotations: one row per annotation")).to_be_visible(timeout=WAIT)
    expect(page.locator(".preview-wide")).to_be_visible()
    expect(page.locator(".preview-wide .tabulator-row")).to_have_count(20, timeout=WAIT)
    # A change of Layout keeps the page's height: the browser lays out nothing around it.
    wide_table = page.locator(".preview-wide.bk-panel-models-tabulator-DataTabulator").first
    assert wide_table.bounding_box()["height"] == table_height(20)
    assert page.locator(".bk-panel-models-tabs-Tabs").first.bounding_box()["height"] == page_height
    page.close()


def test_a_click_right_after_a_change_downloads_what_the_preview_shows(context, demo_app):
    """The old link goes the moment an option changes (a disabled "Preparing" stands in), and
    the new preview and its link arrive together: a click as soon as the preview shows the
    new layout downloads that layout."""
    # What the server sends, in order: the "Preparing" can come and go faster than the page
    # can be polled, so it is looked for in the messages rather than in the page.
    received: list[str] = []

    def listen(ws) -> None:
        ws.on("framereceived", lambda f: received.append(f if isinstance(f, str) else f.decode(
            "utf-8", "replace")))  # fmt: skip

    context.on("page", lambda new: new.on("websocket", listen))
    page, watch = open_app(context, demo_app)
    open_admin(page)
    expect(page.locator("#export-download")).to_be_visible()
    options = {"workflow": demo_app.workflow, "layout": "wide"}
    before = len(received)
    radio(page, LAYOUT_LABELS[Layout.wide]).check()
    note = page.get_by_text("Annotations: one row per annotation")
    expect(note).to_be_visible(timeout=WAIT)
    after = received[before:]
    pending = [i for i, text in enumerate(after) if "export-pending" in text]
    linked = [i for i, text in enumerate(after) if "export-download" in text and "_wide_" in text]
    assert pending and linked, "no Preparing stood in for the old link, or no new link came"
    assert pending[0] < linked[0], "the new link came before the old one went"
    link = page.locator("#export-download")
    assert token_target(link.get_attribute("href", timeout=1_000))["options"] == (
        ExportQuery(demo_app.store, **options).options()
    )  # read the moment the preview shows: never the previous options' link
    _, body = click_download(page, link)
    assert body == api_bytes(demo_app, options)
    watch.assert_clean(demo_app.log)


def test_the_gallery_zooms_a_clicked_thumbnail_and_sends_encoded_images(context, demo_app):
    """A grid of drawn thumbnails; Zoom under one shows it in the zoom/hover view. Images
    travel as JPEG (a few hundred KB in all), never as raw pixel arrays."""
    received: list[int] = []
    page = context.new_page()
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
    url = f"{demo_app.base}/app?workflow={demo_app.workflow}&tab=admin&layout=annotated"
    page.goto(f"{url}&order=8492192&scope=all")
    options = {"workflow": demo_app.workflow, "scope": "all", "layout": "annotated",
               "order": "8492192"}  # fmt: skip
    drawn = ExportQuery(demo_app.store, **options).counts().rows
    gallery = page.locator("img[alt*=' · ']")
    expect(gallery).to_have_count(min(drawn, 6), timeout=WAIT)
    boxes = [gallery.nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]  # side by side
    second = gallery.nth(1).get_attribute("alt")
    expect(page.get_by_role("heading", name=re.compile(": zoom, hover a shape"))).not_to_have_text(
        re.compile(re.escape(second) + ":")
    )
    page.get_by_role("button", name="Zoom").nth(1).click()
    expect(page.get_by_role("heading", name=re.compile(": zoom, hover a shape"))).to_have_text(
        re.compile(re.escape(second) + ": zoom"), timeout=WAIT
    )
    expect(page.locator(".bk-Canvas, canvas").first).to_be_attached()
    assert max(received) < 1_500_000, f"a websocket message of {max(received):,} bytes"
    page.close()


# -- the app behind Panel's basic auth ---------------------------------------------------------


def log_in(context, served: Served, user: str) -> tuple[Page, PageWatch]:
    page = context.new_page()
    watch = PageWatch(served.base)
    watch.attach(page)
    page.goto(f"{served.base}/app")
    expect(page).to_have_url(re.compile(r"/login"), timeout=WAIT)
    expect(page).to_have_title("Assessment Export Dashboard | Sign in")  # our own login page
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", CREDENTIALS[user])
    page.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/app"), timeout=WAIT)
    expect(tab(page, "Overview")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Signed in as")).to_contain_text(user)
    return page, watch


def admin_link(served: Served, options: dict, user: str = "admin") -> str:
    token = sign(SECRET.encode(), user, {"kind": "export", "options": options}, lifetime=600)
    return download_url(served.base, token)


def test_a_viewer_sees_no_admin_tab_and_cannot_download(browser, auth_app):
    """Behind basic auth: a logged-in viewer (no admin role) sees the Overview but no Admin
    tab, and download links (the admin's or their own) are refused with 403; nobody logged in
    is refused too; the admin sees the Admin tab and the same link downloads."""
    options = {"workflow": auth_app.workflow, "layout": "long", "scope": "all"}

    viewer_context = browser.new_context(viewport=VIEWPORT)
    try:
        anonymous = viewer_context.request.get(admin_link(auth_app, options))
        assert anonymous.status == 403
        assert "only admins can download" in anonymous.text()

        page, watch = log_in(viewer_context, auth_app, "viewer")
        expect(page.get_by_text("Machine assessments").first).to_be_visible(timeout=WAIT)
        expect(tab(page, "Admin")).to_have_count(0)
        assert [t.strip() for t in page.locator(".bk-tab").all_inner_texts()] == ["Overview"]
        expect(page.get_by_text("Exports need the admin role")).to_be_visible()
        for user in ("admin", "viewer"):
            refused = page.request.get(admin_link(auth_app, options, user))
            assert refused.status == 403
            assert "only admins can download" in refused.text()
        watch.assert_clean(auth_app.log)
        # The admin's link opened in the viewer's tab: refused (the 403 is logged as a console
        # error, hence after the check above).
        opened = page.goto(admin_link(auth_app, options))
        assert opened is not None and opened.status == 403
        expect(page.locator("body")).to_contain_text("only admins can download")
    finally:
        viewer_context.close()

    admin_context = browser.new_context(viewport=VIEWPORT)
    try:
        page, watch = log_in(admin_context, auth_app, "admin")
        open_admin(page)
        expect_counts(page, auth_app, {"workflow": auth_app.workflow})
        allowed = page.request.get(admin_link(auth_app, options))
        assert allowed.status == 200
        assert allowed.body() == api_bytes(auth_app, options)
        expect(page.get_by_text("Exports need the admin role")).to_have_count(0)
        page.get_by_role("link", name="Sign out").click()
        expect(page.get_by_text("You are signed out")).to_be_visible(timeout=WAIT)
        assert page.request.get(admin_link(auth_app, options)).status == 403
        watch.assert_clean(auth_app.log)
    finally:
        admin_context.close()
