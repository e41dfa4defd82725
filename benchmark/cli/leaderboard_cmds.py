"""``busbench leaderboard``: serve the Streamlit leaderboard on this machine only.

The app (``leaderboard/app.py`` in the checkout) reads the store named by ``--results`` (a SQLAlchemy URL, or a
folder of run folders that it indexes into the busbench cache), else the committed runs under
``leaderboard/results``. It is served headless on ``localhost`` with usage statistics off: without
``--server.address localhost`` Streamlit tries to reach outside addresses to find its own.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from benchmark.errors import BusbenchError

APP = Path(__file__).resolve().parents[2] / "leaderboard" / "app.py"
SERVE_FLAGS = ("--server.headless", "true", "--server.address", "localhost", "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "viewer")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``leaderboard`` command."""
    board = commands.add_parser(
        "leaderboard", help="open the leaderboard (Streamlit, on localhost)",
        description="Serve the leaderboard on http://localhost:PORT: boards, published results, submissions, "
                    "paired comparisons and the audit. Needs the 'leaderboard' extra.")
    board.add_argument("--results", metavar="URL",
                       help="results store: a SQLAlchemy URL (sqlite:///runs/index.sqlite) or a folder of runs "
                            "(default: the committed runs under leaderboard/results)")
    board.add_argument("--data", type=Path, metavar="PATH",
                       help="dataset folder, for reference contours and duplicate thumbnails (default: "
                            "$BUSBENCH_BUSI, else where each run says it read its data)")
    board.add_argument("--port", type=int, default=8501, help="port on localhost (default 8501)")
    board.set_defaults(run=run_leaderboard)


def leaderboard_module(name: str) -> ModuleType:
    """A module of the checkout's ``leaderboard`` package (``export``, ``tables``...), for a command that uses it.

    The leaderboard is not installed with busbench: it runs from the checkout beside the ``benchmark`` package, as
    the app does (see ``leaderboard/app.py``).

    Raises:
        BusbenchError: Without the checkout's leaderboard folder, or without the ``leaderboard`` extra.
    """
    if not APP.is_file():
        raise BusbenchError(APP, "not found: the leaderboard runs from a busbench checkout")
    root = str(APP.parents[1])
    if root not in sys.path:
        sys.path.append(root)
    try:
        return importlib.import_module(f"leaderboard.{name}")
    except ImportError as exc:
        raise BusbenchError("leaderboard", f"needs the 'leaderboard' extra (pip install -c constraints.txt -e "
                                           f"'.[leaderboard]'): {exc}") from exc


def streamlit_command(port: int) -> list[str]:
    """The command that serves the app, local only."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), *SERVE_FLAGS, "--server.port", str(port)]


def leaderboard_env(results: str | None, data: Path | None) -> dict[str, str]:
    """The environment the app reads its store and data from (checked first: a bad URL fails here, in one line)."""
    from benchmark.results.store import ResultsStore

    env = dict(os.environ)
    if results:
        if "://" in results:
            ResultsStore(results).close()  # raises BusbenchError naming the URL (password hidden)
        elif not Path(results).is_dir():
            raise BusbenchError(results, "is neither a store URL nor a folder of runs")
        else:
            results = str(Path(results).resolve())
        env["BUSBENCH_LEADERBOARD_RESULTS"] = results
    if data is not None:
        if not data.exists():
            raise BusbenchError(data, "does not exist (the dataset folder for contours and thumbnails)")
        env["BUSBENCH_LEADERBOARD_DATA"] = str(data.resolve())
    return env


def run_leaderboard(args: argparse.Namespace) -> int:
    """``busbench leaderboard``."""
    if not APP.is_file():
        raise BusbenchError(APP, "not found: the leaderboard runs from a busbench checkout")
    if importlib.util.find_spec("streamlit") is None:
        raise BusbenchError("leaderboard", "needs Streamlit: pip install -c constraints.txt -e '.[leaderboard]'")
    env = leaderboard_env(args.results, args.data)
    print(f"busbench leaderboard: http://localhost:{args.port} (Ctrl-C stops it)", flush=True)
    return serve(streamlit_command(args.port), env)


def serve(command: list[str], env: dict[str, str]) -> int:
    """Run the server as a child and stop together: SIGTERM, SIGINT or SIGHUP sent to busbench reaches the child.

    Returns:
        The child's exit status.
    """
    child = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
