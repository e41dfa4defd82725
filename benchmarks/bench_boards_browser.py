"""The Boards page in a real browser with 1,000 runs: cold and warm, median of repeats (targets: 5 s and 2 s).

Usage::

    .venv/bin/python benchmarks/bench_boards_browser.py [--runs 1000] [--cold 3] [--warm 5] [--results folder|url]

Generates ``--runs`` run folders as ``benchmarks/bench_leaderboard.py`` does (50 submissions, 4 input sizes,
tuned/pretrained mixed, about 10% on leaky protocols and 3% failed), then, ``--cold`` times over, starts
``busbench leaderboard`` on them (a fresh server: empty caches, the page script not yet imported) and drives
Debian's headless Chromium (``/usr/bin/chromium``, as ``leaderboard.screenshots`` does):

* cold: the first visit after the server answers its health check: navigation until the classification board's
  table is drawn (its canvas attached) and the script has finished (the status widget gone); it includes the
  page's imports, indexing the run folders (``--results folder``, the default, as with the committed runs) or
  reading the store (``--results url``), and building the board;
  with ``--fresh-index`` every server indexes the folders (else a fresh server reuses the index an earlier one
  built when no run folder changed);
* warm: ``--warm`` further visits (a new navigation each, so a new session on the same server: cached reads);
* with ``--floor``: the same on an empty store (the onboarding page), what Streamlit and Chromium cost on this
  machine whatever the page does.

Prints every time and the medians, with the machine's core count and load average. Needs the leaderboard and test
extras and Debian's chromium; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_leaderboard import generate  # noqa: E402

from benchmark.results.store import ResultsStore  # noqa: E402

BOARD = '.st-key-board-classification [data-testid="stDataFrame"] canvas'
RUNNING = '[data-testid="stStatusWidget"]'
SUMMARY = '.st-key-summary-classification [data-testid="stMarkdown"]'
EMPTY = '[data-testid="stCode"]'  # the onboarding commands of an empty store


def visit(page, base: str, shown: str | None = None, timeout_ms: int = 120_000) -> tuple[float, float]:
    """Seconds from navigation to the board drawn, and to the page finished.

    Finished: the summary line at the top (filled last) is there and the script has ended.
    """
    start = time.perf_counter()
    page.goto(base, wait_until="commit")
    page.wait_for_selector(shown or BOARD, state="attached", timeout=timeout_ms)
    table = time.perf_counter() - start
    if shown is None:
        page.wait_for_selector(SUMMARY, state="attached", timeout=timeout_ms)
    page.wait_for_selector(RUNNING, state="detached", timeout=timeout_ms)
    return table, time.perf_counter() - start


def _pair(times: tuple[float, float]) -> str:
    return f"table {times[0]:.2f} s, finished {times[1]:.2f} s"


def main() -> int:
    """Run the benchmark; print each time and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--cold", type=int, default=3, help="fresh servers (one cold visit each)")
    parser.add_argument("--warm", type=int, default=5, help="warm visits per server")
    parser.add_argument("--results", choices=("folder", "url"), default="folder",
                        help="serve the run folder (the app indexes it) or a SQLite store URL")
    parser.add_argument("--floor", action="store_true",
                        help="also time the same visits on an empty store (the onboarding page): what Streamlit and "
                             "the browser cost on this machine whatever the page does")
    parser.add_argument("--fresh-index", action="store_true",
                        help="delete the app's index of the run folder before each server (every cold visit indexes "
                             "the 1,000 folders; without it only the first server does, later ones reuse it)")
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from leaderboard.screenshots import CHROMIUM, serve

    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BUSBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        folder = Path(tmp) / "runs"
        generate(folder, args.runs)
        results = str(folder)
        if args.results == "url":
            results = f"sqlite:///{Path(tmp) / 'index.sqlite'}"
            with ResultsStore(results) as store:
                store.reindex(folder)
        cold, warm, floor, floor_warm = [], [], [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
            try:
                for _ in range(args.cold):
                    if args.fresh_index:
                        shutil.rmtree(Path(tmp) / "cache", ignore_errors=True)
                    with serve(results) as base:
                        page = browser.new_page(viewport={"width": 1400, "height": 1000})
                        cold.append(visit(page, base))
                        for _ in range(args.warm):
                            warm.append(visit(page, base))
                        page.close()
                        print(f"server: cold {_pair(cold[-1])}; warm "
                              f"{'; '.join(_pair(w) for w in warm[-args.warm:])}", flush=True)
                if args.floor:
                    (Path(tmp) / "empty").mkdir()
                    for _ in range(args.cold):
                        with serve(str(Path(tmp) / "empty")) as base:
                            page = browser.new_page(viewport={"width": 1400, "height": 1000})
                            floor.append(visit(page, base, EMPTY))
                            for _ in range(args.warm):
                                floor_warm.append(visit(page, base, EMPTY))
                            page.close()
            finally:
                browser.close()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.runs} runs ({args.results}), {os.cpu_count()} cores ({platform.processor() or platform.machine()}),"
          f" load average {load}")
    index = "indexed by each server" if args.fresh_index or args.results == "url" else \
        "indexed by the first server, reused by the others"
    for name, times in ((f"cold (first visit of a fresh server; run folders {index})", cold),
                        ("warm (later visits)", warm),
                        ("floor: empty store, cold", floor), ("floor: empty store, warm", floor_warm)):
        if not times:
            continue
        print(f"Boards, {name}, median of {len(times)}: table drawn {statistics.median(t for t, _ in times):.2f} s,"
              f" page finished {statistics.median(d for _, d in times):.2f} s")
    if args.json:
        doc: dict[str, object] = {"runs": args.runs, "results": args.results, "fresh_index": args.fresh_index,
                                  "servers": args.cold, "warm_per_server": args.warm}
        for key, times in (("cold", cold), ("warm", warm), ("floor_cold", floor), ("floor_warm", floor_warm)):
            if times:
                doc[key] = {"table_median": statistics.median(t for t, _ in times),
                            "finished_median": statistics.median(d for _, d in times),
                            "table": [t for t, _ in times], "finished": [d for _, d in times]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
