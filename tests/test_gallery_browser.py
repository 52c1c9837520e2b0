"""The gallery page in a real headless browser (Chromium, driven by Playwright), opened
from ``file://`` as a user opens it: no server, no network.

The browser is the system's Chromium (``.ci/run`` installs it); the tests are skipped,
saying why, only where there is none (and fail instead when ``GALLERY_REQUIRE_BROWSER`` is
set, as in CI). Screenshots go to ``$GALLERY_SCREENSHOTS`` when it is set, else to the
test's temporary folder; their paths are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram.archive import group_file_name
from batch_multi_plot_spectrogram.gallery import Gallery, GalleryObserver, write_gallery
from batch_multi_plot_spectrogram.gallery import _observer as observer_module
from batch_multi_plot_spectrogram.options import FigureOptions
from batch_multi_plot_spectrogram.render import render_figure
from test_gallery import BAD, BAD_REASON, EXPECTED_STATUSES, ODD, archive_with_errors, read_index
from test_thumbnails import rows

CHROMIUM = (
    os.environ.get("GALLERY_TEST_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
#: Set (as .ci/run does) to fail rather than skip when there is no browser.
REQUIRED = bool(os.environ.get("GALLERY_REQUIRE_BROWSER"))
try:
    from playwright import sync_api
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("playwright is not installed", allow_module_level=True)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
READY = "html[data-ready]"
LOADED_COUNT = "Array.from(document.images).filter(i => i.complete && i.naturalWidth).length"
LOADED_SOME = f"({LOADED_COUNT}) > 0"
ALL_IMAGES_LOADED = """() => {
  const images = Array.from(document.querySelectorAll('.card img'));
  return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0);
}"""


def fragment(store: str, group: str) -> str:
    """``#item=<store>/<group>`` as the page writes it (encodeURIComponent per part)."""
    ident = f"{store}/{group.lstrip('/')}"
    return "#item=" + "/".join(urllib.parse.quote(p, safe="-_.!~*'()") for p in ident.split("/"))


def screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("GALLERY_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        why = "no Chromium on this machine (apt-get install chromium)"
        if REQUIRED:
            pytest.fail(why)
        pytest.skip(why)
    with sync_api.sync_playwright() as playwright:
        # A fresh profile in a temporary folder for each launch (Playwright's default).
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; any script error of the gallery fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield opened
    finally:
        context.close()
    assert errors == []


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample archive plus a store with an error item, rendered (gallery on)."""
    root = tmp_path_factory.mktemp("browse")
    archive = archive_with_errors(root / "archive")
    out = root / "plots"
    run = render_archive(archive, out, max_workers=2, progress_dir=root / "progress")
    assert run.counts() == {"ok": 9, "no_data": 4, "error": 1, "already_done": 0, "problems": 0}
    return out


def open_gallery(page: Any, out: Path, hash_part: str = "") -> None:
    page.goto((out / "index.html").as_uri() + hash_part)
    page.wait_for_selector(READY)


def card(page: Any, store: str, group: str) -> Any:
    return page.locator(f'.card[href="{fragment(store, group)}"]')


def to_bottom(page: Any) -> None:
    """Scroll to the end at once (not by a key, whose smooth scrolling goes on after)."""
    page.evaluate("window.scrollTo({top: document.body.scrollHeight, behavior: 'instant'})")


def to_top(page: Any) -> None:
    """Scroll to the top (a full-page screenshot of a scrolled page shows the sticky
    header in the middle)."""
    page.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")
    page.wait_for_function("window.scrollY < 1")


def viewer_title(page: Any) -> str:
    text: str = page.inner_text("#v-title")
    return text


def test_browse_the_gallery_of_a_run_with_an_error_item(
    page: Any, rendered: Path, tmp_path: Path
) -> None:
    out = rendered
    archive = out.parent / "archive"
    open_gallery(page, out)
    ok = [k for k, v in EXPECTED_STATUSES.items() if v == "ok"]
    assert page.locator(".card").count() == len(EXPECTED_STATUSES)
    assert page.locator(".card img").count() == len(ok)
    # Every thumbnail loaded, the oddly named one included (its path is URL-encoded).
    to_bottom(page)
    page.wait_for_function(ALL_IMAGES_LOADED)
    to_top(page)
    widths = page.eval_on_selector_all(".card img", "els => els.map(e => e.naturalWidth)")
    assert widths == [400] * len(ok)
    assert page.inner_text("#summary").startswith("14 items: 9 ok, 4 no data, 1 error")
    shot = screenshot_path(tmp_path, "gallery.png")
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the gallery: {shot}")

    # Filter to errors: the error item, with its reason.
    page.select_option("#f-status", "error")
    assert page.locator(".card").count() == 1
    error_card = card(page, BAD, "bad_y_scale")
    # (textContent: cards off the screen are not laid out, so they have no innerText.)
    assert error_card.is_visible()
    assert error_card.locator(".grp").text_content() == "bad_y_scale"
    reason = BAD_REASON.format(store=str(archive / BAD))
    assert error_card.locator(".ph p").text_content() == reason
    assert page.inner_text("#shown") == "1 of 14 shown"
    shot = screenshot_path(tmp_path, "gallery_errors.png")
    page.screenshot(path=str(shot))
    print(f"screenshot of the errors: {shot}")
    page.select_option("#f-status", "")

    # Open an item: the full-size figure, a link to its file, the item in the URL.
    card(page, BAD, ODD).click()
    page.wait_for_selector("#viewer:not([hidden])")
    assert viewer_title(page) == f"{BAD} \u203a {ODD}"
    assert page.url.endswith(fragment(BAD, ODD))
    page.wait_for_function("document.getElementById('v-img').naturalWidth > 400")
    link = page.get_attribute("#v-link", "href")
    # The file's name is the group's, made safe for any file system.
    assert link is not None and urllib.parse.unquote(link) == f"{BAD}/{group_file_name(ODD)}"
    # The right arrow shows the next item of the grid, the left one comes back.
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('v-title').textContent.endsWith('good')")
    assert page.url.endswith(fragment(BAD, "good"))
    assert page.inner_text("#v-pos") == "2 / 14"
    shot = screenshot_path(tmp_path, "gallery_viewer.png")
    page.screenshot(path=str(shot))
    print(f"screenshot of the viewer: {shot}")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('v-title').textContent.endsWith('scale')")
    assert page.inner_text("#v-msg") == f"error: {reason}"
    assert page.is_hidden("#v-img") and page.is_hidden("#v-link")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.getElementById('v-title').textContent.endsWith('good')")
    # Escape goes back to the grid, at the item last shown.
    page.keyboard.press("Escape")
    page.wait_for_selector("#viewer", state="hidden")
    assert "#" not in page.url
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == fragment(BAD, "good")


def test_a_shared_link_opens_its_item(page: Any, rendered: Path) -> None:
    open_gallery(page, rendered, fragment("fast_sample.zarr", "2000/orbit_13314"))
    assert page.is_visible("#viewer")
    assert viewer_title(page) == "fast_sample.zarr \u203a 2000/orbit_13314"
    page.wait_for_function("document.getElementById('v-img').naturalWidth > 400")
    # The root group of a store, and a name full of URL and HTML syntax.
    page.goto((rendered / "index.html").as_uri() + fragment(BAD, ODD))
    page.wait_for_function(f"document.getElementById('v-title').textContent.endsWith({ODD!r})")
    assert page.evaluate("document.title") == f"{ODD} \u2013 {BAD}"
    page.goto(
        (rendered / "index.html").as_uri() + fragment("mms1_fpi_des_omni_20151201_derived.nc", "/")
    )
    page.wait_for_function("document.getElementById('v-title').textContent.endsWith('/')")
    # An unknown item says so and shows the grid.
    page.goto((rendered / "index.html").as_uri() + "#item=nowhere/nothing")
    page.wait_for_selector("#missing:not([hidden])")
    assert page.is_hidden("#viewer")
    assert "nowhere/nothing" in page.inner_text("#missing")


def test_filters_by_store_and_text(page: Any, rendered: Path) -> None:
    open_gallery(page, rendered)
    page.select_option("#f-store", BAD)
    assert page.locator(".card").count() == 3
    assert page.locator("section").count() == 1
    page.select_option("#f-store", "")
    page.fill("#f-text", "ORBIT_13313")
    page.wait_for_function("document.getElementById('shown').textContent === '2 of 14 shown'")
    groups = page.eval_on_selector_all(".card .grp", "els => els.map(e => e.textContent)")
    assert groups == ["orbit_13313", "orbit_13313"]
    page.fill("#f-text", "no such thing")
    page.wait_for_selector("text=No item matches.")


@pytest.fixture(scope="module")
def mid_run_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a run as it stood at a write of its index while items were
    still pending, copied elsewhere."""
    root = tmp_path_factory.mktemp("midrun")
    archive = archive_with_errors(root / "archive")
    out, copied = root / "plots", root / "elsewhere" / "plots"
    write = GalleryObserver.write

    def write_and_copy(self: GalleryObserver, state: str | None) -> None:
        write(self, state)
        counts = read_index(out)["counts"]
        if not copied.exists() and counts["pending"] and counts["ok"] >= 2:
            shutil.copytree(out, copied)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GalleryObserver, "write", write_and_copy)
        patch.setattr(observer_module, "MAX_WRITE_SHARE", 1e9)  # write at every save
        render_archive(archive, out, executor="serial", flush_batch_size=1)
    assert copied.exists()
    return copied


def test_the_page_of_a_run_in_progress_works_where_it_was_copied(
    page: Any, mid_run_copy: Path, tmp_path: Path
) -> None:
    document = read_index(mid_run_copy)
    assert document["state"] == "running"
    open_gallery(page, mid_run_copy)
    assert page.is_visible("#notice")
    assert "run in progress" in page.inner_text("#summary")
    assert page.locator(".card").count() == len(document["items"])
    assert page.locator(".card.pending").count() == document["counts"]["pending"]
    assert page.locator(".card img").count() == document["counts"]["ok"]
    to_bottom(page)
    page.wait_for_function(ALL_IMAGES_LOADED)
    to_top(page)
    shot = screenshot_path(tmp_path, "gallery_mid_run.png")
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of a run in progress: {shot}")


@pytest.fixture(scope="module")
def ten_thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gallery of 10,000 items in 20 stores: a real thumbnail, linked under every ok
    item's name (distinct files, so the browser loads each on its own)."""
    out = tmp_path_factory.mktemp("ten_thousand") / "plots"
    figure = render_figure(rows(), FigureOptions.parse({}), thumbnail_width=400)
    assert figure.thumbnail is not None
    source = out.parent / "thumbnail.jpg"
    source.write_bytes(figure.thumbnail.data)
    gallery = Gallery()
    for i in range(10_000):
        store, group = f"fast_{2000 + i % 20}.zarr", f"orbit_{i:05d}"
        entry: dict[str, Any] = {"store": store, "group": group, "figure": f"{store}/{group}.png"}
        if (i // 20) % 25 == 3:  # an error and a no_data item in every 25 of each store
            entry.update(status="error", reason=f"ValueError: orbit {i} has no time axis")
        elif (i // 20) % 25 == 11:
            entry.update(status="no_data", reason="nothing to plot: every value is fill")
        else:
            thumb = out / store / ".thumbs" / f"{group}.jpg"
            thumb.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, thumb)
            entry.update(
                status="ok",
                start=946684800.0 + 6000.0 * i,
                end=946684800.0 + 6000.0 * i + 900.0,
                title=f"FAST orbit {i}",
                thumb=f"{store}/.thumbs/{group}.jpg",
                tw=figure.thumbnail.width,
                th=figure.thumbnail.height,
            )
        gallery.entries[(store, group)] = entry
    write_gallery(out, gallery)
    return out


def test_ten_thousand_items_open_and_answer_in_under_two_seconds(
    browser: Any, ten_thousand: Path
) -> None:
    ready: list[float] = []
    filtered: list[float] = []
    errors: list[str] = []
    for _ in range(3):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        open_gallery(page, ten_thousand)
        # From the start of navigation to the grid built, painted and listening.
        ready.append(float(page.evaluate("window.galleryReadyAt")))
        assert page.inner_text("#shown") == "10000 of 10000 shown"
        # Lazily: some screenfuls of cards, and of those the thumbnails near the screen.
        made = page.locator(".card").count()
        assert 24 <= made <= 500, made
        page.wait_for_function(LOADED_SOME)
        loaded = page.evaluate(LOADED_COUNT)
        assert 0 < loaded < made, (loaded, made)
        started = page.evaluate("performance.now()")
        page.fill("#f-text", "orbit_09993")
        page.wait_for_function(
            "document.getElementById('shown').textContent === '1 of 10000 shown'"
        )
        filtered.append(float(page.evaluate("performance.now()")) - float(started))
        assert page.locator(".card .grp").all_text_contents() == ["orbit_09993"]
        assert errors == []
        context.close()
    print(
        "\n10,000 items: ready at "
        + ", ".join(f"{t:.0f}" for t in ready)
        + " ms; a text filter answered in "
        + ", ".join(f"{t:.0f}" for t in filtered)
        + " ms"
    )
    # The median of three loads, so that one stall of a busy machine does not decide.
    assert statistics.median(ready) < 2000
    assert statistics.median(filtered) < 2000


def test_ten_thousand_items_load_more_cards_and_step_to_the_last(
    page: Any, ten_thousand: Path
) -> None:
    open_gallery(page, ten_thousand)
    first = page.locator(".card").count()
    to_bottom(page)
    page.wait_for_function(f"document.querySelectorAll('.card').length > {first}")
    page.wait_for_function(LOADED_SOME)
    # The last item of all, by its link; then one step back, and back to the grid.
    last = read_index(ten_thousand)["items"][-1]
    started = time.monotonic()
    page.goto((ten_thousand / "index.html").as_uri() + fragment(last["store"], last["group"]))
    page.wait_for_selector("#viewer:not([hidden])")
    assert page.inner_text("#v-pos") == "10000 / 10000"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.getElementById('v-pos').textContent === '9999 / 10000'")
    page.keyboard.press("Escape")
    page.wait_for_selector("#viewer", state="hidden")
    assert time.monotonic() - started < 30
