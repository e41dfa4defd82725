"""Benchmark of the leaderboard's Boards page with 1,000 runs in the results store (target: under 2 s).

Usage::

    .venv/bin/python benchmarks/bench_leaderboard.py [--runs 1000] [--browser]

Generates ``--runs`` run folders from the committed small_cnn and unet_resnet18 runs (50 submissions, 4 input
sizes, tuned/pretrained mixed, about 10% on leaky protocols and 3% failed, headlines jittered), indexes them with
``busbench results reindex``'s ``ResultsStore.reindex`` into a SQLite store, then times:

* the pieces: reading every row from the store, flattening them into the board frame, ranking one task;
* the Boards page through Streamlit's AppTest (the script run that builds every element): cold (empty caches, after
  one warm-up run on an empty store so that imports are not counted) and on a rerun (cached reads);
* the app indexing the run folder itself (``--results FOLDER``), cold;
* with ``--browser``: the page served by ``busbench leaderboard`` in headless Chromium, from navigation until the
  board table is shown and the script has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.results.store import ResultsStore  # noqa: E402
from leaderboard import sources, tables  # noqa: E402

TEMPLATES = {"classification": "small_cnn-eac1e7bc61fe", "segmentation": "unet_resnet18-e932453047f6"}
LEAKY = ("naive-split", "augment-before-split", "mask-overlay", "select-on-test")


def generate(folder: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` run folders (run.json and metrics.json only) under ``folder``."""
    rng = random.Random(seed)
    docs = {task: (json.loads((sources.COMMITTED_RESULTS / rid / "run.json").read_text()),
                   json.loads((sources.COMMITTED_RESULTS / rid / "metrics.json").read_text()))
            for task, rid in TEMPLATES.items()}
    for i in range(n):
        task = "classification" if i % 4 else "segmentation"
        run, metrics = (json.loads(json.dumps(d)) for d in docs[task])
        run_id = f"bench{i % 50:02d}-{i:06d}"
        run.update(run_id=run_id, created=f"2026-01-{1 + i % 28:02d}T00:00:{i % 60:02d}+00:00", seed=i % 5,
                   image_size=rng.choice((64, 128, 224, 256)), tuned=rng.random() < 0.3,
                   pretrained=rng.random() < 0.5)
        run["submission"]["name"] = f"bench_model_{i % 50:02d}"
        run["split"]["protocol"] = rng.choice(LEAKY) if rng.random() < 0.1 else "clean"
        out = folder / run_id
        out.mkdir(parents=True)
        if rng.random() < 0.03:
            run.update(status="failed", errors={"0": "RuntimeError: out of memory"})
        else:
            jitter = rng.uniform(-0.1, 0.1)
            head = metrics["headline"]
            for key in ("value", "ci_low", "ci_high"):
                head[key] = min(1.0, max(0.0, head[key] + jitter))
            (out / "metrics.json").write_text(json.dumps(metrics))
        (out / "run.json").write_text(json.dumps(run))


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def app_boards(results: str):
    """One AppTest run of the Boards page on ``results``; returns the AppTest."""
    from streamlit.testing.v1 import AppTest

    os.environ[sources.RESULTS_ENV] = results
    at = AppTest.from_file(str(REPO / "leaderboard" / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def browser_seconds(url: str) -> tuple[float, float]:
    """Seconds from navigation to the board table shown and the script finished, in headless Chromium.

    Returns:
        ``(first load after the server started: cold caches, a second load: cached reads)``.
    """
    from playwright.sync_api import sync_playwright

    from leaderboard.screenshots import CHROMIUM, serve

    with serve(url) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        page = browser.new_page()
        seconds = []
        for _ in range(2):  # the first includes the server's imports and its first script run
            start = time.perf_counter()
            page.goto(base)
            page.wait_for_selector('[data-testid="stDataFrame"]', timeout=120_000)
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
            seconds.append(time.perf_counter() - start)
        browser.close()
    return seconds[0], seconds[1]


def main() -> int:
    """Run the benchmark and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    doc: dict[str, object] = {"runs": args.runs}  # seconds of each step, as printed
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BUSBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        folder, url = Path(tmp) / "runs", f"sqlite:///{Path(tmp) / 'index.sqlite'}"
        seconds, _ = timed(lambda: generate(folder, args.runs))
        print(f"generate {args.runs} run folders: {seconds:.2f} s")
        doc["generate"] = seconds
        with ResultsStore(url) as store:
            seconds, count = timed(lambda: store.reindex(folder))
        print(f"ResultsStore.reindex ({count} runs): {seconds:.2f} s")
        doc["reindex"] = seconds

        seconds, rows = timed(lambda: sources.load_runs(url), repeat=3)
        print(f"read all rows from the store: {seconds * 1000:.0f} ms")
        doc["read_rows"] = seconds
        seconds, frame = timed(lambda: tables.board_frame(rows), repeat=3)
        print(f"board frame ({len(frame)} rows): {seconds * 1000:.0f} ms")
        doc["board_frame"] = seconds
        seconds, board = timed(lambda: tables.ranking(frame, "classification"), repeat=3)
        print(f"classification ranking ({len(board)} configurations): {seconds * 1000:.0f} ms")
        doc["ranking"], doc["ranked_configurations"] = seconds, len(board)

        import streamlit as st

        (Path(tmp) / "empty").mkdir()
        app_boards(str(Path(tmp) / "empty"))  # warm-up: imports and Streamlit's own first-run costs
        st.cache_data.clear()
        seconds, at = timed(lambda: app_boards(url))
        shown = len(at.get_by_key("board-classification").dataframe[0].value)
        print(f"Boards page, AppTest, cold caches: {seconds:.2f} s ({shown} rows in the clean board)")
        doc["apptest_cold"] = seconds
        seconds, _ = timed(lambda: at.run(), repeat=3)
        print(f"Boards page, AppTest, rerun (cached reads): {seconds:.2f} s")
        doc["apptest_rerun"] = seconds
        st.cache_data.clear()
        seconds, _ = timed(lambda: app_boards(str(folder)))
        print(f"Boards page, AppTest, indexing the {args.runs} run folders itself (cold): {seconds:.2f} s")
        doc["apptest_folder"] = seconds
        if args.browser:
            first, second = browser_seconds(url)
            print(f"Boards page in headless Chromium: first load after the server started {first:.2f} s, "
                  f"next load {second:.2f} s")
            doc["browser_first"], doc["browser_second"] = first, second
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
