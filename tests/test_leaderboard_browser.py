"""The leaderboard served by ``busbench leaderboard`` and driven by headless Chromium (Debian's package).

Skipped, saying why, where ``/usr/bin/chromium`` or Playwright is missing (never downloads a browser). One test,
about 30 s: every page must show its tables and charts, raise no exception, and render the hostile submission
metadata as text (no element, script or dialog comes out of it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import fixtures_leaderboard as fx

pytest.importorskip("streamlit", reason="the leaderboard extra is not installed (pip install -e '.[leaderboard]')")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
from leaderboard import screenshots  # noqa: E402

pytestmark = pytest.mark.skipif(not screenshots.CHROMIUM.is_file(),
                                reason=f"{screenshots.CHROMIUM} not found (apt-get install chromium)")
TABLE, CHART = '[data-testid="stDataFrame"]', '[data-testid="stVegaLiteChart"]'


def test_every_page_renders_in_chromium_with_hostile_metadata_as_text(tmp_path: Path):
    runs = fx.build(tmp_path)
    pages = (
        ("", "", (TABLE,)),
        ("published", "", (TABLE, CHART)),
        ("submission", f"?run={fx.RUN_IDS['hostile']}", (TABLE, CHART)),
        ("submission", f"?run={fx.RUN_IDS['seg']}&tab=Gallery", ('[data-testid="stImage"]',)),
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
        if fx.RUN_IDS["hostile"] in page.url:
            assert page.get_by_text(fx.HOSTILE_TEXT, exact=True).count() == 1
            assert page.locator('a[href^="javascript"]').count() == 0

    saved = screenshots.screenshots(tmp_path / "shots", results=str(runs), pages=pages, check=check)
    assert len(saved) == len(pages) == len(visited) and not dialogs
    assert all(p.stat().st_size > 20_000 for p in saved)  # real content, not an empty skeleton
