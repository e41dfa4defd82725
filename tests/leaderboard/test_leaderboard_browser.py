"""The leaderboard served by ``busbench leaderboard`` and driven by headless Chromium (Debian's package).

Skipped, saying why, where ``/usr/bin/chromium`` or Playwright is missing (never downloads a browser). One test,
about 30 s: every page must show its tables and charts, raise no exception, and render the hostile submission
metadata as text (no element, script or dialog comes out of it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import fixtures_leaderboard as fx

pytest.importorskip("streamlit", reason="the leaderboard extra is not installed (pip install -e '.[leaderboard]')")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
from leaderboard import screenshots  # noqa: E402

pytestmark = pytest.mark.skipif(not screenshots.CHROMIUM.is_file(),
                                reason=f"{screenshots.CHROMIUM} not found (apt-get install chromium)")
TABLE, CHART = '[data-testid="stDataFrame"]', '[data-testid="stVegaLiteChart"]'


@pytest.mark.slow
def test_every_page_renders_in_chromium_with_hostile_metadata_as_text(tmp_path: Path):
    runs = fx.build(tmp_path)
    pages = (
        ("", "", (TABLE,)),
        ("published", "", (TABLE, CHART)),
        ("submission", f"?run={fx.RUN_IDS['hostile']}", (TABLE, CHART)),
        ("submission", f"?run={fx.RUN_IDS['seg']}&tab=Gallery", ('[data-testid="stImage"]',)),
        ("submission", "?run=does-not-exist", (TABLE,)),
        ("compare", "", (TABLE, CHART)),
        ("audit", "", (TABLE, CHART)),
    )
    dialogs: list[str] = []
    visited: list[str] = []

    def check(page) -> None:
        if not visited:  # an alert() from rendered metadata would open a dialog on any later page too
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        visited.append(page.url)
        assert page.locator('[data-testid="stException"]').count() == 0, page.url
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("script:has-text('alert')").count() == 0
        if "does-not-exist" in page.url:  # a stale link says so where the user looks, then shows a run
            assert page.get_by_text("There is no run does-not-exist among these").is_visible()
        if "/compare" in page.url:  # the verdict in words, above the numbers; no "None" anywhere in the text
            verdict = page.locator(".st-key-c-verdict")
            assert verdict.is_visible() and "B − A" in verdict.inner_text()
            assert "None" not in page.locator('[data-testid="stMain"]').inner_text()
        if fx.RUN_IDS["hostile"] in page.url:
            assert page.get_by_text(fx.HOSTILE_TEXT, exact=True).count() == 1
            assert page.locator('a[href^="javascript"]').count() == 0

    saved = screenshots.screenshots(tmp_path / "shots", results=str(runs), pages=pages, check=check)
    assert len(saved) == len(pages) == len(visited) and not dialogs
    assert all(p.stat().st_size > 20_000 for p in saved)  # real content, not an empty skeleton


def _board(page, width: int, height: int, base: str, key: str = "board-classification") -> dict:
    """Open a page at ``width`` x ``height`` and read the grid of the table keyed ``key`` (default: the Boards
    page's classification board) as a reader sees it: its scroll width against its visible width, and the headers
    and first-row cells Glide renders for the columns in view (its accessible table holds only those)."""
    page.set_viewport_size({"width": width, "height": height})
    page.goto(base)
    page.wait_for_selector(f'.st-key-{key} [data-testid="stDataFrame"] canvas', timeout=90_000)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
    page.wait_for_timeout(800)
    assert page.locator('[data-testid="stException"]').count() == 0
    return page.evaluate("""(key) => {
        const root = document.querySelector(`.st-key-${key} [data-testid="stDataFrame"]`);
        const scroller = root.querySelector('.dvn-scroller');
        return {scroll: scroller.scrollWidth, visible: scroller.clientWidth,
                headers: [...root.querySelectorAll('th')].map(e => e.textContent.trim()),
                row: [...root.querySelectorAll('td[id$="-0"]')].map(e => e.textContent.trim())};
    }""", key)


@pytest.mark.slow
def test_board_fits_1400_px_with_its_links_and_boards_and_published_show_scores_at_390_px(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    runs = fx.build(tmp_path)
    with screenshots.serve(str(runs)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(screenshots.CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page()
            wide = _board(page, 1400, 1000, base)
            narrow = _board(page, 390, 844, base)
            published = _board(page, 390, 844, f"{base}/published", key="published-table")
        finally:
            browser.close()
    # 1400 px: every default column in view, no horizontal scrolling; the model column (the link to the run) first.
    assert wide["scroll"] <= wide["visible"] + 1, wide
    assert wide["headers"] == ["#", "model", "balanced accuracy", "px", "ep", "weights", "flags", "configs"]
    assert wide["row"][1].startswith("submission?run=")  # the name is drawn from this link
    # 390 px: rank, model and the score with its interval fit the screen (rank 36 + model 160 + score 150 px).
    assert narrow["headers"][:3] == ["#", "model", "balanced accuracy"], narrow
    assert narrow["visible"] >= 36 + 160 + 150, narrow
    assert re.fullmatch(r"\d\.\d{3} \[\d\.\d{2}, \d\.\d{2}\]", narrow["row"][2]), narrow
    # Published at 390 px: paper and system, the published number and ours with its interval in view.
    assert published["headers"][:4] == ["paper · system", "published", "ours [95% CI]", "gap"], published
    assert published["visible"] >= 150 + 66 + 134, published
