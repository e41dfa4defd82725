"""One screenshot per page in a real browser: ``python -m leaderboard.screenshots`` (refreshes docs/screenshots/).

It starts ``busbench leaderboard`` on a free localhost port (the command users run), drives Debian's Chromium
through Playwright (never a downloaded browser: ``/usr/bin/chromium`` with ``--no-sandbox``), and on each page waits
for its tables and charts before saving a PNG: the content arrives over a websocket after the page has loaded, so a
bare ``chromium --headless --screenshot`` would capture an empty skeleton.

Usage::

    python -m leaderboard.screenshots [--out docs/screenshots] [--results URL|FOLDER] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from leaderboard.sources import ROOT

CHROMIUM = Path(os.environ.get("BUSBENCH_CHROMIUM", "/usr/bin/chromium"))
#: Page, query string, and the elements to wait for before the picture is taken.
PAGES = (
    ("", "", ('[data-testid="stDataFrame"]',)),  # Boards: the default page, served at the root
    ("published", "", ('[data-testid="stDataFrame"]', '[data-testid="stVegaLiteChart"]')),
    ("submission", "", ('[data-testid="stDataFrame"]', '[data-testid="stVegaLiteChart"]')),
    ("compare", "", ('[data-testid="stDataFrame"]', '[data-testid="stVegaLiteChart"]')),
    ("audit", "", ('[data-testid="stDataFrame"]', '[data-testid="stVegaLiteChart"]')),
)
WIDTH = 1440


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@contextmanager
def serve(results: str | None = None, data: str | None = None, timeout: float = 90.0) -> Iterator[str]:
    """Run ``busbench leaderboard`` on a free port until the block ends; yields its base URL.

    Raises:
        RuntimeError: When the server does not answer its health check in time (with its output).
    """
    port = free_port()
    cmd = [sys.executable, "-m", "benchmark", "leaderboard", "--port", str(port)]
    cmd += ["--results", results] if results else []
    cmd += ["--data", data] if data else []
    url = f"http://localhost:{port}"
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the leaderboard did not start on {url}: {log.read()[-2000:]}")
                time.sleep(0.3)
            yield url
        finally:
            # The server runs in its own session: end the group (busbench and the Streamlit child it started).
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def capture(page, url: str, selectors: tuple[str, ...], out: Path, timeout_ms: int = 60_000) -> None:
    """Open ``url``, wait for every selector and for the app to finish running, save a full-height PNG."""
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    page.goto(url, wait_until="domcontentloaded")
    for selector in selectors:
        page.wait_for_selector(selector, state="attached", timeout=timeout_ms)  # it may sit in a hidden tab
    # The status widget shows while the script runs; charts draw a moment after their element appears.
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)
    page.wait_for_timeout(1500)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": int(min(max(height, 800), 5000))})
    page.wait_for_timeout(800)
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))


def screenshots(out_dir: Path, results: str | None = None, data: str | None = None, *,
                pages: tuple[tuple[str, str, tuple[str, ...]], ...] = PAGES,
                check: Callable[[Any], None] | None = None) -> list[Path]:
    """Serve the leaderboard and save ``<page>.png`` for every page into ``out_dir``; returns the files.

    Args:
        out_dir: Where the PNGs go.
        results: Store URL or folder of runs (default: the committed runs).
        data: Dataset folder for contours and thumbnails.
        pages: ``(url path, query string, selectors to wait for)`` per page.
        check: Called with the Playwright page after each capture (tests inspect the DOM with it).
    """
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    saved = []
    with serve(results, data) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page()
            for name, query, selectors in pages:
                started = time.monotonic()
                suffix = re.sub(r"[^A-Za-z0-9]+", "-", query).strip("-")
                path = out_dir / f"{name or 'boards'}{'-' + suffix if suffix else ''}.png"
                capture(page, f"{base}/{name}{query}", selectors, path)
                if check is not None:
                    check(page)
                print(f"{path}: {time.monotonic() - started:.1f} s", flush=True)
                saved.append(path)
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    """Command line (see module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m leaderboard.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--results", help="store URL or folder of runs (default: the committed runs)")
    parser.add_argument("--data", help="dataset folder (contours and thumbnails)")
    args = parser.parse_args(argv)
    screenshots(args.out, args.results, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
