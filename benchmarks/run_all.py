"""Run the benchmarks and rewrite the figures they give in BENCHMARKS.md and the README, so they cannot go stale.

Usage::

    .venv/bin/python benchmarks/run_all.py [--only NAME[,NAME]] [--repeats N] [--list] [--dry-run] [--check]
        [--render-only] [--markdown PATH]... [--results DIR]

Every ``benchmarks/bench_*.py`` has an entry in :data:`BENCHMARKS`: the command lines it runs with, whether it
repeats its measurements itself (``--repeats N`` is then passed to it) or is run ``N`` times as a whole (the runs of
a benchmark's command lines alternate), what it needs (the BUSI data at ``$BUSBENCH_BUSI`` or
``../shared/data/BUSI``, Debian's chromium, ``imagehash``), and the generated blocks its figures fill. A benchmark
whose needs are missing is skipped with the reason printed, never silently.

Each benchmark writes its figures with ``--json``; this script keeps them with the machine, the date and the load
(``/proc/loadavg`` and every other process above 20% CPU in ``ps``, before and after each run) in
``benchmarks/results/<name>.json``, then renders the blocks from that file. A block is the text between
``<!-- run_all:BLOCK:start -->`` and ``<!-- run_all:BLOCK:end -->`` in a Markdown file (whole lines for a table, or
a span inside a sentence); only that text is rewritten, everything outside the markers stays byte for byte, and the
file is replaced atomically (a temporary file renamed over it).

* ``--check`` renders every block from the stored results and exits 1 if a file's block differs (the committed
  figures and the committed raw results cannot drift apart); blocks without stored results are named, not failed.
* ``--render-only`` rewrites the blocks from the stored results without running anything.
* ``--dry-run`` prints the commands (and what would be skipped) without running them.

Do not run it on a busy machine: the figures record the load they ran under, but they are what the machine gave.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
MARKDOWN = (REPO / "BENCHMARKS.md", REPO / "README.md")
MARKER = re.compile(r"<!-- run_all:(?P<block>[A-Za-z0-9_.-]+):(?P<side>start|end) -->")
BUSY_PERCENT = 20.0

Result = dict[str, Any]
Renderer = Callable[[Result], "str | None"]


class MarkerError(ValueError):
    """A Markdown file's run_all markers do not pair up (the message is one line naming the file)."""


# --------------------------------------------------------------------------------------------------------------
# Markers


@dataclass(frozen=True)
class Block:
    """One generated block of a Markdown file: ``text[start:end]`` is its content between the markers."""

    name: str
    start: int
    end: int
    line: int


def find_blocks(text: str, path: str | Path = "<text>") -> dict[str, Block]:
    """The generated blocks of ``text``, by name.

    Raises:
        MarkerError: A start marker without its end marker, an end marker without a start, nested or repeated
            blocks; the message is one line that names ``path`` and the line.
    """
    blocks: dict[str, Block] = {}
    open_: tuple[str, int, int] | None = None  # name, content start, line
    for match in MARKER.finditer(text):
        name, side = match["block"], match["side"]
        line = text.count("\n", 0, match.start()) + 1
        if side == "start":
            if open_ is not None:
                raise MarkerError(f"{path}:{open_[2]}: run_all:{open_[0]} has no end marker before "
                                  f"run_all:{name}:start at line {line}")
            if name in blocks:
                raise MarkerError(f"{path}:{line}: run_all:{name} appears twice (first at line {blocks[name].line})")
            open_ = (name, match.end(), line)
        else:
            if open_ is None or open_[0] != name:
                raise MarkerError(f"{path}:{line}: run_all:{name}:end has no start marker before it")
            blocks[name] = Block(name, open_[1], match.start(), open_[2])
            open_ = None
    if open_ is not None:
        raise MarkerError(f"{path}:{open_[2]}: run_all:{open_[0]} has no end marker "
                          f"(<!-- run_all:{open_[0]}:end -->)")
    return blocks


def _respace(old: str, body: str) -> str:
    """``body`` with the whitespace that ``old`` has around its text (a table block keeps its blank lines)."""
    if not old.strip():
        return old + body.strip() + old if "\n" in old else body.strip()
    lead = old[: len(old) - len(old.lstrip())]
    trail = old[len(old.rstrip()):]
    return lead + body.strip() + trail


def replace_blocks(text: str, rendered: Mapping[str, str], path: str | Path = "<text>") -> str:
    """``text`` with the blocks named in ``rendered`` holding their new content; all else byte for byte the same."""
    blocks = find_blocks(text, path)
    out, pos = [], 0
    for block in sorted((b for n, b in blocks.items() if n in rendered), key=lambda b: b.start):
        out += [text[pos:block.start], _respace(text[block.start:block.end], rendered[block.name])]
        pos = block.end
    out.append(text[pos:])
    return "".join(out)


def block_texts(text: str, path: str | Path = "<text>") -> dict[str, str]:
    """The content of every block of ``text`` without its surrounding whitespace."""
    return {name: text[b.start:b.end].strip() for name, b in find_blocks(text, path).items()}


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data``: a temporary file in the same folder renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rewrite_file(path: Path, rendered: Mapping[str, str]) -> list[str]:
    """Rewrite the blocks of ``path`` named in ``rendered``; returns the names of those that changed."""
    text = path.read_bytes().decode("utf-8")
    current = block_texts(text, path)
    changed = [n for n, body in rendered.items() if n in current and current[n] != body.strip()]
    if changed:
        write_atomic(path, replace_blocks(text, rendered, path).encode("utf-8"))
    return changed


# --------------------------------------------------------------------------------------------------------------
# Machine and load


def _run_text(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    """The machine the benchmarks run on: CPU model, cores, memory, GPUs, Python, the code's commit."""
    cpu, flags = "", set()
    for line in _run_text(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
        elif line.startswith("Flags:"):
            flags = set(line.split(":", 1)[1].split())
    if not cpu and Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    memory = None
    if Path("/proc/meminfo").exists():
        kib = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        memory = round(int(kib[1]) / 2**20, 1) if kib else None
    gpus = [g.strip() for g in _run_text(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]).splitlines()
            if g.strip()] if shutil.which("nvidia-smi") else []
    commit = _run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).strip()
    dirty = bool(_run_text(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]).strip())
    # Two machines that lscpu names alike ("AMD EPYC") can differ twofold in speed; the vector units tell them apart.
    return {"cpu": cpu or platform.processor() or platform.machine(), "avx512": "avx512f" in flags if flags else None,
            "cores": os.cpu_count(), "memory_gib": memory, "gpus": gpus,
            "python": _run_text([python(), "-c", "import platform; print(platform.python_version())"]).strip()
            or platform.python_version(), "platform": platform.platform(),
            "commit": commit + ("+changes" if dirty and commit else "")}


def _cpu_ticks() -> dict[int, tuple[int, str, str]]:
    """Every process's CPU ticks so far (user + system), its state letter and its command line."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # ended meanwhile
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12]), fields[0], cmdline)
    return out


def load_sample(exclude: Iterable[int] = (), window: float = 1.0) -> dict[str, Any]:
    """How busy the machine is now.

    ``/proc/loadavg``, every other process using over 20% of a core in the next ``window`` seconds, and every
    stopped one (a paused background job: it uses nothing, and ``ps``'s lifetime average would call it busy).
    """
    try:
        loadavg = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        loadavg = list(os.getloadavg())
    skip = {os.getpid(), *exclude}
    first = _cpu_ticks()
    time.sleep(window)
    second = _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busy, stopped = [], []
    for pid, (ticks, state, command) in second.items():
        if pid in skip or not command:
            continue
        pcpu = 100.0 * (ticks - first.get(pid, (ticks,))[0]) / hz / window
        if state in ("T", "t"):
            stopped.append({"pid": pid, "command": command[:200]})
        elif pcpu > BUSY_PERCENT:
            busy.append({"pid": pid, "pcpu": round(pcpu, 1), "command": command[:200]})
    return {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "loadavg": loadavg,
            "busy": busy, "stopped": stopped}


def short_command(command: str) -> str:
    """A process's command line shortened for the rendered line (program name and its first arguments)."""
    words = command.split()
    if words:
        words[0] = Path(words[0]).name
    if len(words) > 2 and words[1] == "-c":
        words = words[:2] + ["..."]
    text = " ".join(words[:4])
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------------------------------------------
# Results: median over runs, the measured line


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def median_doc(docs: list[Any]) -> Any:
    """The element-wise median of documents of the same shape (numbers: median; anything else: the first run's)."""
    first = docs[0]
    if all(isinstance(d, dict) for d in docs) and all(d.keys() == first.keys() for d in docs):
        return {k: median_doc([d[k] for d in docs]) for k in first}
    if all(isinstance(d, list) for d in docs) and all(len(d) == len(first) for d in docs):
        if all(_number(x) for d in docs for x in d):  # a list of raw times stays the first run's list
            return first
        return [median_doc([d[i] for d in docs]) for i in range(len(first))]
    if all(_number(d) for d in docs) and any(d != first for d in docs):
        return statistics.median(docs)
    return first  # equal in every run (a count, a setting), or not a number


def load_phrase(res: Result, *, idle: str = "no other process above 20% CPU") -> str:
    """How loaded the machine was: load averages before and after, and the other busy processes."""
    before, after = res["load"]["before"]["loadavg"][0], res["load"]["after"]["loadavg"][0]
    busy = res["load"]["busy"]
    lifetime = "lifetime" in res["load"].get("busy_means", "")  # older results: ps's average over each life
    if not busy:
        others = idle
    else:
        named = ", ".join(f"`{short_command(b['command'])}` {b['pcpu']:.0f}%" for b in busy[:4])
        more = ", ..." if len(busy) > 4 else ""
        others = (f"{len(busy)} other process{'es' if len(busy) > 1 else ''} above 20% CPU "
                  f"{'over their lifetime ' if lifetime else ''}({named}{more})")
    stopped = res["load"].get("stopped") or []
    if stopped:
        others += f", {len(stopped)} stopped (SIGSTOP) process{'es' if len(stopped) > 1 else ''}"
    return f"1-min load average {before:.2f} before and {after:.2f} after, {others}"


def machine_phrase(res: Result) -> str:
    """CPU model, cores, GPU or none, Python."""
    m = res["machine"]
    gpu = ", ".join(m["gpus"]) if m.get("gpus") else "no GPU"
    return f"{m['cpu']} ({m['cores']} cores{_simd(m)}, {gpu}), Python {m['python']}"


def _simd(m: dict[str, Any]) -> str:
    """``", with AVX-512"`` or ``", without AVX-512"``; empty where unknown (results stored before it was kept)."""
    avx512 = m.get("avx512")
    return "" if avx512 is None else ", with AVX-512" if avx512 else ", without AVX-512"


def repeats_phrase(res: Result) -> str:
    """``median of N runs`` (the runs of each command line, or the script's own repeats)."""
    counts = sorted({inv["repeats"] for inv in res["invocations"]})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"median of {n} run{'s' if counts[-1] != 1 else ''}"


def measured_line(res: Result, what: str | None = None) -> str:
    """The line under a generated table: when, on what, under which load, how, and how to regenerate it."""
    return (f"Measured {res['date'][:10]} on {machine_phrase(res)} under {load_phrase(res)}, "
            f"{what or repeats_phrase(res)}; regenerate with `python benchmarks/run_all.py --only {res['benchmark']}`.")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)]).replace("|  |", "| |")


def inv(res: Result, i: int = 0) -> Any:
    """The median document of command line ``i``."""
    return res["invocations"][i]["median"]


def raw(res: Result, i: int = 0) -> list[Any]:
    """The documents of every run of command line ``i``."""
    return [r["result"] for r in res["invocations"][i]["runs"]]


def _s(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f} s"


# --------------------------------------------------------------------------------------------------------------
# Renderers: the same columns as the hand-written tables they replace


CLI_ROWS = {  # the script's label: (the table's wording, target in seconds)
    "python -c pass (floor)": ("`python -c pass` (the floor)", None),
    "busbench --version": ("`busbench --version`", 0.3),
    "busbench --help": ("`busbench --help`", 0.3),
    "busbench run --help": ("`busbench run --help`", 1.0),
    "busbench list": ("`busbench list`", 1.0),
    "busbench run <misspelled name>": ("`busbench run <misspelled name>` (exit 2, with the close match)", 1.0),
}


def _target(value: float, target: float | None, prefix: str = "") -> str:
    if target is None:
        return ""
    if value <= target:
        return f"{prefix}{target:g} s: met"
    return f"{prefix}{target:g} s: not met by {value - target:.1f} s"


def render_cli(res: Result) -> str:
    """``bench_cli.py``: | command | median | target (issue 19) |."""
    rows = []
    for case in inv(res)["cases"]:
        label, target = CLI_ROWS.get(case["label"], (f"`{case['label']}`", None))
        rows.append([label, _s(case["median"]), _target(case["median"], target)])
    return table(["command", "median", "target (issue 19)"], rows) + "\n\n" + measured_line(res)


def render_quickstart(res: Result) -> str:
    """``bench_quickstart.py``: | | median | runs |."""
    doc = inv(res)
    rows = [[label, _s(doc[label]["median"], 1), ", ".join(f"{t:.1f}" for t in doc[label]["times"])]
            for label in ("cold", "warm") if doc[label]["times"]]
    return table(["", "median", "runs"], rows) + "\n\n" + measured_line(res)


def render_quickstart_readme(res: Result) -> str | None:
    """The README's quick start sentence: cold and warm seconds, cores, load, date."""
    doc = inv(res)
    if not (doc["cold"]["times"] and doc["warm"]["times"]):
        return None
    load = "nothing else running" if not res["load"]["busy"] else load_phrase(res)
    m = res["machine"]
    cpu = f" ({m['cpu']}{_simd(m)})" if _simd(m) else ""
    return (f"{doc['cold']['median']:.0f} s on {m['cores']} CPU cores{cpu} after the install with an empty "
            f"cache, {doc['warm']['median']:.0f} s when run again, {load}, medians measured on {res['date'][:10]}")


SCORING_BEFORE = "2.54 s (measured under load 4.2, by the same script before the change)"


def render_scoring(res: Result) -> str:
    """``bench_scoring.py`` (evaluator path, then ``--generic``): | | vectorised (now) | one call per resample |."""
    now, before = inv(res, 0), inv(res, 1)
    rows = [
        [f"whole scoring of {now['cases']} cases (`score_predictions`, every interval)",
         _s(now["rows"]["scoring (score_predictions)"]["median"], 3), SCORING_BEFORE],
        ["the 7 classification intervals alone", _s(now["rows"]["classification intervals (7)"]["median"], 3),
         _s(before["rows"]["classification intervals (7)"]["median"], 2 if
            before["rows"]["classification intervals (7)"]["median"] >= 1 else 3)],
        ["the 6 segmentation intervals alone", _s(now["rows"]["segmentation intervals (6)"]["median"], 3),
         _s(before["rows"]["segmentation intervals (6)"]["median"], 3)],
    ]
    return table(["", "vectorised (now)", "one call per resample (before)"], rows) + "\n\n" + measured_line(res)


def render_plugin_process(res: Result) -> str:
    """``bench_plugin_process.py``: | what | seconds | as median [min, max]."""
    doc = inv(res)

    def cell(key: str) -> str:
        times = doc[key]["times"]
        return f"{doc[key]['median']:.2f} [{min(times):.2f}, {max(times):.2f}]"

    rows = [["a command's first plugin process (starts the zygote: interpreter, torch; then the model's module and "
             "the fold's cases)", cell("cold_start")],
            ["each later plugin process (forked from the zygote, the model's module, the fold's cases)", cell("start")],
            ["a whole fold through `run_fold` (start, train, predict, write the result and weights)", cell("fold")],
            ["the same training and prediction in the command's own process (the engine's loop called directly)",
             cell("inline")]]
    return table(["what", "seconds"], rows) + "\n\n" + measured_line(res)


def render_optimizer_step(res: Result) -> str:
    """``bench_optimizer_step.py``: a span inside a sentence of BENCHMARKS.md ("... on X: loop a s, ...")."""
    doc = inv(res)
    by = {r["implementation"]: r["median"] for r in doc["rows"]}
    steps = f"{doc['repeats']} step{'s' if doc['repeats'] != 1 else ''}"
    return (f"on {machine_phrase(res)} under {load_phrase(res)} (median of {steps}, measured "
            f"{res['date'][:10]}; regenerate with `python benchmarks/run_all.py --only {res['benchmark']}`): "
            f"per-tensor loop (torch's CPU default) {by['per-tensor loop']:.3f} s, foreach {by['foreach']:.3f} s, "
            f"fused {by['fused']:.3f} s")


def render_training(res: Result) -> str:
    """``bench_training.py`` at 128 and 224 px: | model | px | fp32 img/s | bf16 img/s |."""
    rows = [[r["model"], str(r["size"]), f"{r['fp32']:.1f}", f"{r['bf16']:.1f}"]
            for i in range(len(res["invocations"])) for r in inv(res, i)["rows"]]
    threads = inv(res)["threads"]
    return table(["model", "px", "fp32 img/s", "bf16 img/s"], rows) + "\n\n" + measured_line(
        res, f"{threads} torch threads, median of {res['invocations'][0]['repeats']} runs")


def render_epoch(res: Result) -> str:
    """``bench_epoch.py``: | model | engine epoch | bare work | ratio | target |."""
    doc = inv(res)
    rows = []
    for r in doc["rows"]:
        engine, bare = statistics.median(r["engine"]), statistics.median(r["bare"])
        verdict = "met" if r["ratio"] <= 1.10 else f"not met by {r['ratio'] - 1.10:.2f}"
        rows.append([f"`{r['model']}`", _s(engine), _s(bare), f"{r['ratio']:.3f}", f"1.10: {verdict}"])
    return table(["model", "engine epoch (median)", "bare steps + validation forwards (median)", "ratio",
                  "target (issue 19)"], rows) + "\n\n" + measured_line(
        res, f"{doc['train']} training and {doc['val']} validation images at {doc['size']} px, "
             f"{doc['precision']}, {doc['threads']} thread, medians of {doc['repeats']} epochs after a warm-up")


HOST_MEMORY_NOTES = {"dajam2025_vgg16": "134 M parameters", "baniadam2021_vgg16": "134 M",
                     "li2025_alexnet": "57 M", "dajam2025_cnn": "44.5 M", "cheyi2024_resnet50": "24.1 M, small head",
                     "cheyi2024_unet": "31.0 M, all convolutions"}


def render_host_memory(res: Result) -> str:
    """``bench_host_memory.py``: | model | px | batch | off: img/s | on: img/s | off: peak MiB | on: peak MiB |."""
    measured: dict[str, dict[bool, dict[str, Any]]] = {}
    for i in range(len(res["invocations"])):
        for r in inv(res, i)["rows"]:
            measured.setdefault(r["model"], {})[bool(r["reuse"])] = r
    order = [m for m in HOST_MEMORY_NOTES if m in measured] + [m for m in measured if m not in HOST_MEMORY_NOTES]
    rows = []
    for model in order:
        off, on = measured[model].get(False), measured[model].get(True)
        some = on or off
        assert some is not None
        note = f" ({HOST_MEMORY_NOTES[model]})" if model in HOST_MEMORY_NOTES else ""
        rows.append([model + note, str(some["size"]), str(some["batch"]),
                     *(f"{r['images_per_s']:.2f}" if r else "-" for r in (off, on)),
                     *(f"{r['peak_mib']:.0f}" if r else "-" for r in (off, on))])
    return table(["model", "px", "batch", "off: img/s", "on: img/s", "off: peak MiB", "on: peak MiB"], rows) + \
        "\n\n" + measured_line(res)


SYNTHETIC_BEFORE = [["before: process pool (default)", "2 processes", "12.7 / 12.9 / 12.9 s"],
                    ["before: one process (`--workers 1`)", "1", "23.0 / 23.4 / 23.2 s"],
                    ["generator v1 (float32 OpenCV filters, AMD EPYC without AVX-512, 2026-12-07): thread pool",
                     "2 threads", "28.2 / 25.8 s"],
                    ["generator v1 (same machine and day): one thread (`--workers 1`)", "1", "47.9 s"]]


def render_synthetic(res: Result) -> str:
    """``bench_synthetic.py`` (default workers, then ``--workers 1``): | generator | workers | time for N images |."""
    cores = res["machine"]["cores"] or 1
    rows = [*SYNTHETIC_BEFORE]
    for i, (label, workers) in enumerate((("now: thread pool (default)", f"{max(1, min(4, cores))} threads"),
                                          ("now: one thread (`--workers 1`)", "1"))):
        times = [r["seconds"] for r in raw(res, i)]
        rows.append([label, workers, " / ".join(f"{t:.1f}" for t in times) +
                     f" s (median {statistics.median(times):.1f} s)"])
    return table(["generator", "workers", f"time for {int(inv(res)['n'])} images"], rows) + "\n\n" + measured_line(
        res, f"{res['invocations'][0]['repeats']} alternating runs of each; the before rows are the process-pool "
             f"generator's (an earlier 2-core AMD EPYC, with AVX-512), the v1 rows generator version 1 by hand "
             f"(bench_synthetic.py from a checkout of 0fdac94), neither measured again by this command")


def render_leaderboard(res: Result) -> str:
    """``bench_leaderboard.py --browser``: | step | time (N runs) | median |."""
    runs, med = raw(res), inv(res)
    n = f"{int(med['runs']):,}"

    def row(label: str, key: str, ms: bool = False) -> list[str]:
        if ms:
            return [label, ", ".join(f"{r[key] * 1000:.0f}" for r in runs) + " ms", f"{med[key] * 1000:.0f} ms"]
        return [label, ", ".join(f"{r[key]:.2f}" for r in runs) + " s", _s(med[key])]

    rows = [row(f"`ResultsStore.reindex` of the {n} folders", "reindex"),
            row(f"read all {n} rows from the store", "read_rows", True),
            row("flatten them into the board frame", "board_frame", True),
            row(f"rank one task ({med['ranked_configurations']:.0f} configurations)", "ranking", True),
            row("Boards page script run (AppTest), cold caches", "apptest_cold"),
            row("Boards page script run (AppTest), rerun: cached reads", "apptest_rerun"),
            row(f"Boards page with `--results FOLDER` (the app indexes the {n} folders itself), cold",
                "apptest_folder")]
    if "browser_first" in med:
        rows += [row("headless Chromium, first load after the server started (includes the server's imports)",
                     "browser_first"), row("the same, second load", "browser_second")]
    return table(["step", f"time ({len(runs)} runs)", "median"], rows) + "\n\n" + measured_line(res)


BOARDS_BEFORE = ["the same, before the batched indexing", "6.33 s", "6.35 s", ""]


def render_boards_browser(res: Result) -> str:
    """``bench_boards_browser.py`` (``--floor``, then ``--fresh-index``): | visit | table drawn | finished | target |.

    The row before the batched indexing is the older measurement, kept as it was.
    """
    runs, fresh = raw(res, 0), raw(res, 1)

    def spread(values: list[float]) -> str:
        return f"{min(values):.2f}-{max(values):.2f} s" if len(values) > 1 else _s(values[0])

    def runs_word(k: int) -> str:
        return {1: "one run", 2: "two runs", 3: "three runs"}.get(k, f"{k} runs")

    first = runs[0]
    servers, per = first["servers"], first["warm_per_server"]
    warm_t, warm_f = [r["warm"]["table_median"] for r in runs], [r["warm"]["finished_median"] for r in runs]
    cold_t, cold_f = [r["cold"]["table_median"] for r in runs], [r["cold"]["finished_median"] for r in runs]
    rows = [
        [f"warm, {servers * per} visits on {servers} servers ({runs_word(len(runs))} of the script: medians "
         f"{' and '.join(_s(t) for t in warm_t)})", spread(warm_t), spread(warm_f),
         _target(max(warm_t), 2.0, "under ")],
        [f"cold, {servers} fresh servers, index of the folders reused from an earlier server "
         f"({runs_word(len(runs))}: {' and '.join(_s(t) for t in cold_t)})", spread(cold_t), spread(cold_f),
         _target(max(cold_t), 5.0, "under ")],
    ]
    fresh_t = [t for r in fresh for t in r["cold"]["table"]]
    fresh_f = [t for r in fresh for t in r["cold"]["finished"]]
    rows.append([f"cold, {len(fresh_t)} fresh servers, each indexing the {int(fresh[0]['runs']):,} folders "
                 "(`--fresh-index`), after the batched indexing",
                 f"{statistics.median(fresh_t):.2f} s ({', '.join(f'{t:.2f}' for t in fresh_t)})",
                 _s(statistics.median(fresh_f)), _target(statistics.median(fresh_t), 5.0, "under ")])
    rows.append(BOARDS_BEFORE)
    for key, label in (("floor_warm", "floor (empty store), warm"), ("floor_cold", "floor (empty store), cold")):
        table_times = [t for r in runs if key in r for t in r[key]["table"]]
        finished = [t for r in runs if key in r for t in r[key]["finished"]]
        if table_times:
            rows.append([label, _s(statistics.median(table_times)), _s(statistics.median(finished)), ""])
    return table(["visit", "table drawn", "finished", "target"], rows) + "\n\n" + measured_line(
        res, "medians over every visit; the row before the batched indexing is older, not measured again")


def render_audit_time(res: Result) -> str | None:
    """``bench_audit.py`` on BUSI: | BUSI (780 images), whole audit incl. ``audit.json`` + ``report.html`` | time |."""
    if "busi" not in inv(res):
        return None
    runs = raw(res)

    def cell(key: str) -> str:
        times = [r["busi"][key] for r in runs]
        return f"{statistics.median(times):.1f} s" + (f" ({', '.join(f'{t:.1f}' for t in times)})"
                                                      if len(times) > 1 else "")

    rows = [["`busbench audit <BUSI>` cold (fresh cache: every PNG decoded, duplicates detected), whole process",
             cell("cli_cold"), "25 s"],
            ["`busbench audit <BUSI>` warm (cache kept), whole process", cell("cli_warm"), "8 s"],
            ["`audit_with_page` (`audit.json` document + HTML page) in one process, cold", cell("cold"), ""],
            ["`audit_with_page` (`audit.json` document + HTML page) in one process, warm", cell("warm"), ""]]
    return table(["BUSI (780 images), whole audit incl. `audit.json` + `report.html`", "time", "target (issue 19)"],
                 rows) + "\n\n" + measured_line(res)


def render_audit_detectors(res: Result) -> str:
    """``bench_audit.py`` on the phantoms: | detector | truth | found | recall | precision |."""
    syn = inv(res)["synthetic"]
    rows = [[label, f"{syn[key]['truth']:.0f}", f"{syn[key]['found']:.0f}", f"{syn[key]['recall']:.3f}",
             f"{syn[key]['precision']:.3f}"]
            for key, label in (("annotated", "burnt-in annotations (calipers / text)"), ("colour", "colour overlay"))]
    return table(["detector", "truth", "found", "recall", "precision"], rows) + "\n\n" + measured_line(res)


def render_audit_phash(res: Result) -> str:
    """``bench_audit.py`` on the phantoms, ours against pHash: | method | recall | precision | pairs found |."""
    syn = inv(res)["synthetic"]
    rows = [["busbench detector", f"{syn['ours']['recall']:.3f}", f"{syn['ours']['precision']:.3f}",
             f"{syn['ours']['pairs']:.0f}"]]
    thresholds = sorted(int(k.split()[1]) for k in syn if k.startswith("phash "))
    for n, th in enumerate(thresholds):
        p = syn[f"phash {th}"]
        rows.append([f"pHash, Hamming <= {th}" if n == 0 else f"pHash <= {th}", f"{p['recall']:.3f}",
                     f"{p['precision']:.3f}", f"{p['pairs']:.0f}"])
    return table(["method", "recall", "precision", "pairs found"], rows) + "\n\n" + measured_line(res)


KIND_ORDER = ("exact", "resized", "cropped", "flipped", "brightness", "reencoded")
KIND_NAMES = {"reencoded": "re-encoded"}


def render_duplicates_synthetic(res: Result) -> str | None:
    """``bench_duplicates.py`` on the phantoms: | | value |."""
    syn = inv(res).get("synthetic")
    if syn is None:
        return None
    kinds = sorted(syn["by_kind"], key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), k))
    found = round(syn["recall"] * syn["planted"])
    threshold = inv(res)["params"]["accept_threshold"]
    lo, hi = syn["min_planted_ncc"], syn["max_distinct_ncc"]
    gap = f" (so {threshold:g} sits in the gap)" if hi is not None and lo is not None and hi < threshold <= lo else ""
    rows = [
        ["recall of planted pairs", f"{syn['recall']:.3f} ({found}/{syn['planted']}: " +
         ", ".join(f"{KIND_NAMES.get(k, k)} {syn['by_kind'][k]}" for k in kinds) + ")"],
        ["precision of detected pairs", f"{syn['precision']:.3f} ({syn['detected_pairs']:.0f} detected, "
                                        f"{syn['false_pairs']:.0f} outside planted clusters)"],
        ["planted pairs' verification NCC", f"min {lo:.3f}" if lo is not None else "-"],
        ["highest NCC of two distinct phantoms", (f"{hi:.3f}" if hi is not None else "-") + gap],
        ["time, cold decode cache", _s(syn["cold_seconds"], 1)],
    ]
    return table(["", "value"], rows) + "\n\n" + measured_line(res)


def render_duplicates_busi(res: Result) -> str | None:
    """``bench_duplicates.py`` on BUSI: | | value |."""
    busi = inv(res).get("busi")
    if busi is None:
        return None
    seconds = busi["seconds"]
    cached = "< 0.1 s" if seconds["cached report"] < 0.1 else _s(seconds["cached report"], 1)
    cross = sorted(busi["cross-class clusters, all"], key=lambda c: (not c["exact"], c["members"]))
    mirrored = busi["flipped pairs"]
    rows = [
        ["time, cold (nothing cached: decode, fingerprint, resize, detect)", _s(seconds["cold"], 1)],
        ["time, warm (decoded images cached, report not)", _s(seconds["warm"], 1)],
        ["time, cached report", cached],
        ["pairs", f"{busi['pairs']:.0f} ({busi['exact pairs']:.0f} exact, {busi['near pairs']:.0f} near; "
                  f"{'none' if not mirrored else f'{mirrored:.0f}'} mirrored)"],
        ["clusters", f"{busi['clusters']:.0f} (largest: {busi['largest cluster']:.0f} images)"],
        ["images in clusters", f"{busi['images in clusters']:.0f} ({busi['images removable (cluster size - 1)']:.0f} "
                               "would go if each cluster kept one image)"],
        ["cross-class clusters", f"{busi['cross-class clusters']:.0f}" + (": " if cross else "") + ", ".join(
            " / ".join(c["members"]) + (" (exact)" if c["exact"] else "") for c in cross)],
        ["benign-433 and malignant-145 in one cluster", "yes" if busi["benign-433 with malignant-145"] else "no"],
        ["shortlisted pairs verified", f"{busi['shortlisted pairs verified']:.0f}"],
    ]
    return table(["", "value"], rows) + "\n\n" + measured_line(res)


def render_examinations(res: Result) -> str:
    """``bench_examinations.py``: | aligned NCC | pair condition | same examination / different lesions |."""
    doc = inv(res)
    conditions = {"unmirrored, same scale": "unmirrored, same scale within 15%",
                  "mirrored or rescaled": "mirrored or rescaled"}
    rows = []
    for band in (">= 0.85", "0.45-0.85", "0.40-0.45"):
        for cond, label in conditions.items():
            hit = [j for j in doc["judged"] if j["band"] == band and j["condition"] == cond]
            if hit:
                cell = f"{hit[0]['same']:.0f} / {hit[0]['different']:.0f}"
                bold = band == "0.45-0.85" and cond == "unmirrored, same scale"
                rows.append([band, label, f"**{cell}**" if bold else cell])
    low = [j for j in doc["judged"] if j["band"] == "< 0.40"]
    if low:
        rows.append(["< 0.40", "any", f"{sum(j['same'] for j in low):.0f} / {sum(j['different'] for j in low):.0f}"])
    return table(["aligned NCC", "pair condition", "same examination / different lesions"], rows) + "\n\n" + \
        measured_line(res, f"counted by the script in {doc['seconds']:.0f} s")


# --------------------------------------------------------------------------------------------------------------
# The benchmarks


@dataclass(frozen=True)
class Invocation:
    """One command line of a benchmark script.

    Attributes:
        args: The script's arguments; ``{repeats}`` is replaced by the repeat count, ``{busi}`` by the BUSI folder.
        repeats: The default repeat count: passed in ``{repeats}`` when the script repeats its measurements itself
            (``internal``), else how many times the whole script runs.
        internal: Whether the script repeats its measurements itself.
    """

    args: tuple[str, ...] = ()
    repeats: int = 3
    internal: bool = False


@dataclass(frozen=True)
class Benchmark:
    """A benchmark script, how run_all runs it, and the blocks its figures fill."""

    name: str
    script: str
    invocations: tuple[Invocation, ...]
    blocks: dict[str, Renderer]
    needs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


ONE_THREAD = {"OMP_NUM_THREADS": "1"}

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("cli", "bench_cli.py", (Invocation(("--repeats", "{repeats}"), 7, True),),
              {"cli": render_cli}, env=ONE_THREAD),
    Benchmark("scoring", "bench_scoring.py",
              (Invocation(("--repeats", "{repeats}", "--dataset", "{busi}"), 5, True),
               Invocation(("--generic", "--repeats", "{repeats}", "--dataset", "{busi}"), 3, True)),
              {"scoring": render_scoring}, needs=("busi",), env=ONE_THREAD),
    Benchmark("quickstart", "bench_quickstart.py", (Invocation(("--cold", "{repeats}", "--warm", "{repeats}"), 3,
                                                               True),),
              {"quickstart": render_quickstart, "quickstart-readme": render_quickstart_readme}, env=ONE_THREAD),
    Benchmark("plugin_process", "bench_plugin_process.py", (Invocation(("--repeats", "{repeats}"), 5, True),),
              {"plugin-process": render_plugin_process}),
    Benchmark("optimizer_step", "bench_optimizer_step.py",
              (Invocation(("--threads", "1", "--repeats", "{repeats}"), 3, True),),
              {"optimizer-step": render_optimizer_step}),
    Benchmark("training", "bench_training.py",
              (Invocation(("--size", "128", "--threads", "2")),
               Invocation(("--size", "224", "--threads", "2", "--models", "resnet18", "efficientnet_b0",
                           "unet_resnet18"))),
              {"training": render_training}),
    Benchmark("epoch", "bench_epoch.py", (Invocation(("--repeats", "{repeats}"), 5, True),),
              {"epoch": render_epoch}, env=ONE_THREAD),
    Benchmark("host_memory", "bench_host_memory.py",
              tuple(Invocation(("--size", size, "--threads", "1", "--steps", "8", "--models", *models)) for size, models
                    in (("64", ("dajam2025_vgg16", "baniadam2021_vgg16", "cheyi2024_unet")),
                        ("128", ("li2025_alexnet", "dajam2025_cnn")), ("96", ("cheyi2024_resnet50",)))),
              {"host-memory": render_host_memory}),
    Benchmark("synthetic", "bench_synthetic.py", (Invocation(), Invocation(("--workers", "1"))),
              {"synthetic": render_synthetic}),
    Benchmark("duplicates", "bench_duplicates.py", (Invocation(("--busi", "{busi}")),),
              {"duplicates-synthetic": render_duplicates_synthetic, "duplicates-busi": render_duplicates_busi}),
    Benchmark("examinations", "bench_examinations.py", (Invocation(("--busi", "{busi}"), 1),),
              {"examinations": render_examinations}, needs=("busi",)),
    Benchmark("audit", "bench_audit.py", (Invocation(("--busi", "{busi}")),),
              {"audit-time": render_audit_time, "audit-detectors": render_audit_detectors,
               "audit-phash": render_audit_phash}, needs=("busi", "imagehash")),
    Benchmark("leaderboard", "bench_leaderboard.py", (Invocation(("--browser",)),),
              {"leaderboard": render_leaderboard}, needs=("chromium",)),
    Benchmark("boards_browser", "bench_boards_browser.py",
              (Invocation(("--cold", "3", "--warm", "5", "--floor"), 2),
               Invocation(("--cold", "3", "--warm", "2", "--fresh-index"), 1)),
              {"boards-browser": render_boards_browser}, needs=("chromium",), env=ONE_THREAD),
)
#: Scripts in benchmarks/ that are no timing benchmark: their tables come from committed runs' records.
NOT_RUN = {"seed_run_costs.py": "reads the committed runs' own records (run.json), it times nothing"}


def by_name(names: str | None) -> list[Benchmark]:
    """The benchmarks named in ``names`` (comma-separated; all when ``None``)."""
    if not names:
        return list(BENCHMARKS)
    known = {b.name: b for b in BENCHMARKS}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in wanted]


def python() -> str:
    """The interpreter that runs the benchmarks: this one, or the repository's .venv when this one is no venv."""
    venv = REPO / ".venv" / "bin" / "python"
    if sys.prefix == sys.base_prefix and venv.exists():
        return str(venv)
    return sys.executable


def busi_path() -> Path:
    """Where the BUSI data is looked for: ``$BUSBENCH_BUSI`` or ``../shared/data/BUSI``."""
    return Path(os.environ.get("BUSBENCH_BUSI") or REPO.parent / "shared" / "data" / "BUSI")


def _importable(module: str) -> bool:
    done = subprocess.run([python(), "-c", f"import {module}"], capture_output=True, cwd=REPO)
    return done.returncode == 0


def missing(bench: Benchmark) -> list[str]:
    """Why ``bench`` cannot run here (empty when it can)."""
    reasons = []
    for need in bench.needs:
        if need == "busi" and not busi_path().exists():
            reasons.append(f"the BUSI data is not at {busi_path()} (set $BUSBENCH_BUSI)")
        elif need == "chromium":
            chromium = Path(os.environ.get("BUSBENCH_CHROMIUM", "/usr/bin/chromium"))
            if not chromium.is_file():
                reasons.append(f"no chromium at {chromium} (apt-get install chromium, or set $BUSBENCH_CHROMIUM)")
            elif not _importable("playwright"):
                reasons.append("playwright is not installed (pip install -e '.[test]')")
        elif need == "imagehash" and not _importable("imagehash"):
            reasons.append("imagehash is not importable (install it into a private folder and put that on "
                           "PYTHONPATH; it is no busbench dependency)")
    return reasons


def command(bench: Benchmark, invocation: Invocation, repeats: int | None, json_path: Path | str) -> list[str]:
    """The command line of one run of ``invocation``."""
    n = repeats or invocation.repeats
    args = [a.replace("{repeats}", str(n)).replace("{busi}", str(busi_path())) for a in invocation.args]
    return [python(), str(HERE / bench.script), *args, "--json", str(json_path)]


def schedule(bench: Benchmark, repeats: int | None) -> list[int]:
    """The order of whole-script runs: invocation indices, the runs of several command lines alternating."""
    counts = [1 if inv.internal else (repeats or inv.repeats) for inv in bench.invocations]
    return [i for r in range(max(counts)) for i, c in enumerate(counts) if r < c]


def run_benchmark(bench: Benchmark, repeats: int | None) -> Result:
    """Run ``bench`` and return its combined result document (machine, date, load, every run, the medians)."""
    runs: list[list[dict[str, Any]]] = [[] for _ in bench.invocations]
    env = {**os.environ, **bench.env}
    with tempfile.TemporaryDirectory(prefix=f"run_all-{bench.name}-") as tmp:
        for n, i in enumerate(schedule(bench, repeats)):
            json_path = Path(tmp) / f"{n}.json"
            argv = command(bench, bench.invocations[i], repeats, json_path)
            print(f"[{bench.name}] $ {shlex.join(argv)}", flush=True)
            before = load_sample()
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=REPO, env=env)
            wall = time.perf_counter() - start
            after = load_sample()
            if done.returncode != 0:
                raise RuntimeError(f"{bench.script} exited with status {done.returncode}")
            if not json_path.exists():
                raise RuntimeError(f"{bench.script} wrote no JSON to {json_path}")
            runs[i].append({"argv": argv[1:], "wall_seconds": round(wall, 3), "load_before": before,
                            "load_after": after, "result": json.loads(json_path.read_text())})
    samples = [s for inv_runs in runs for r in inv_runs for s in (r["load_before"], r["load_after"])]
    busy: dict[tuple[int, str], dict[str, Any]] = {}
    for sample in samples:
        for b in sample["busy"]:
            key = (b["pid"], b["command"])
            if key not in busy or b["pcpu"] > busy[key]["pcpu"]:
                busy[key] = b
    first = min((r for inv_runs in runs for r in inv_runs), key=lambda r: r["load_before"]["time"])
    last = max((r for inv_runs in runs for r in inv_runs), key=lambda r: r["load_after"]["time"])
    return {
        "benchmark": bench.name, "script": f"benchmarks/{bench.script}",
        "date": first["load_before"]["time"], "machine": machine(), "env": bench.env,
        "load": {"busy_means": f"other processes above {BUSY_PERCENT:g}% of a core during one second before or "
                               "after a run",
                 "before": first["load_before"], "after": last["load_after"],
                 "busy": sorted(busy.values(), key=lambda b: -b["pcpu"]),
                 "stopped": list({(s["pid"], s["command"]): s for sample in samples
                                  for s in sample.get("stopped", [])}.values())},
        "invocations": [{"args": list(invocation.args), "internal_repeats": invocation.internal,
                         "repeats": repeats or invocation.repeats, "runs": inv_runs,
                         "median": median_doc([r["result"] for r in inv_runs])}
                        for invocation, inv_runs in zip(bench.invocations, runs, strict=True)],
    }


# --------------------------------------------------------------------------------------------------------------
# Rendering, writing and checking the Markdown files


def render(bench: Benchmark, res: Result) -> tuple[dict[str, str], dict[str, str]]:
    """The blocks ``res`` renders, and the reasons of those it cannot (e.g. no BUSI figures in it)."""
    rendered, skipped = {}, {}
    for block, renderer in bench.blocks.items():
        body = renderer(res)
        if body is None:
            skipped[block] = f"results/{bench.name}.json holds no figures for it"
        else:
            rendered[block] = body
    return rendered, skipped


def load_results(bench: Benchmark, results: Path) -> Result | None:
    """The stored result document of ``bench``, if any."""
    path = results / f"{bench.name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_blocks(rendered: Mapping[str, str], markdown: list[Path]) -> list[str]:
    """Rewrite ``rendered`` blocks in every file that has them; returns lines saying what changed."""
    notes = []
    found = set()
    for path in markdown:
        text = path.read_bytes().decode("utf-8")
        present = find_blocks(text, path)
        found |= present.keys() & rendered.keys()
        changed = rewrite_file(path, {k: v for k, v in rendered.items() if k in present})
        notes += [f"  {path.name}: run_all:{name} rewritten" for name in changed]
    notes += [f"  run_all:{name}: in none of {', '.join(p.name for p in markdown)}" for name in rendered
              if name not in found]
    return notes


def stored_renders(benches: Sequence[Benchmark], results: Path, unrendered: str) -> Iterator[tuple[Benchmark, dict]]:
    """Each benchmark with stored results, and its blocks rendered from them.

    Benchmarks without results, and blocks that cannot be rendered, are reported (``unrendered`` says what happens to
    such a block).
    """
    for bench in benches:
        res = load_results(bench, results)
        if res is None:
            print(f"{bench.name}: no stored results ({results / (bench.name + '.json')}): its blocks {unrendered}")
            continue
        rendered, skipped = render(bench, res)
        for block, why in skipped.items():
            print(f"{bench.name}: run_all:{block} {unrendered}: {why}")
        yield bench, rendered


def check(benches: list[Benchmark], markdown: list[Path], results: Path) -> int:
    """Exit status of ``--check``: 1 when a block differs from what the stored results render."""
    texts = {path: block_texts(path.read_bytes().decode("utf-8"), path) for path in markdown}
    known = {block for bench in BENCHMARKS for block in bench.blocks}
    status = 0
    for path, blocks in texts.items():
        for name in blocks:
            if name not in known:
                print(f"{path}: run_all:{name} is no block of any benchmark")
                status = 1
    for bench, rendered in stored_renders(benches, results, "not checked"):
        for block, body in rendered.items():
            holders = [p for p, blocks in texts.items() if block in blocks]
            for path in holders:
                if texts[path][block] != body.strip():
                    print(f"{path}: run_all:{block} differs from what {bench.name}.json renders "
                          f"(python benchmarks/run_all.py --render-only --only {bench.name})")
                    status = 1
    if status == 0:
        print("generated blocks match the stored results")
    return status


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (or list, check, render); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--only", help="comma-separated benchmark names (see --list)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks, their blocks and their needs")
    parser.add_argument("--repeats", type=int, help="repeat count for every benchmark (default: each one's own)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a generated block differs from what the stored results render")
    parser.add_argument("--render-only", action="store_true", help="rewrite the blocks from the stored results")
    parser.add_argument("--markdown", action="append", type=Path,
                        help="a Markdown file to rewrite (repeat; default: BENCHMARKS.md and README.md)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the result documents are kept")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    markdown = list(args.markdown or MARKDOWN)
    try:
        benches = by_name(args.only)
        if args.list:
            return list_benchmarks(benches)
        for path in markdown:
            find_blocks(path.read_bytes().decode("utf-8"), path)  # a broken marker fails before anything runs
        if args.check:
            return check(benches, markdown, args.results)
        if args.render_only:
            for bench, rendered in stored_renders(benches, args.results, "left as it is"):
                print("\n".join([f"{bench.name}:", *write_blocks(rendered, markdown)]))
            return 0
        return run(benches, args.repeats, args.dry_run, markdown, args.results)
    except MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def list_benchmarks(benches: list[Benchmark]) -> int:
    """Print every benchmark script in benchmarks/ with its blocks and what it needs."""
    scripts = {b.script: b for b in benches}
    for script in sorted(p.name for p in HERE.glob("bench_*.py")):
        bench = scripts.get(script)
        if bench is None:
            if script not in {b.script for b in BENCHMARKS}:
                print(f"{script}: no run_all entry")
            continue
        why = missing(bench)
        print(f"{bench.name:<15} {script:<26} blocks: {', '.join(bench.blocks)}"
              f"{'; needs ' + ', '.join(bench.needs) if bench.needs else ''}"
              f"{' (missing here: ' + '; '.join(why) + ')' if why else ''}")
    for script, reason in NOT_RUN.items():
        print(f"{'-':<15} {script:<26} not run: {reason}")
    return 0


def run(benches: list[Benchmark], repeats: int | None, dry_run: bool, markdown: list[Path], results: Path) -> int:
    """Run ``benches``, store their results and rewrite their blocks; returns the exit status."""
    failed, skipped = [], []
    for bench in benches:
        why = missing(bench)
        if why:
            print(f"SKIP {bench.name}: {'; '.join(why)} (its blocks are left as they are)", flush=True)
            skipped.append(bench.name)
            continue
        if dry_run:
            for i in schedule(bench, repeats):
                json_path = f"<tmp>/{bench.name}-{i}.json"
                env = "".join(f"{k}={v} " for k, v in bench.env.items())
                print(f"[{bench.name}] {env}{shlex.join(command(bench, bench.invocations[i], repeats, json_path))}")
            print(f"[{bench.name}] then write {results / (bench.name + '.json')} and blocks "
                  f"{', '.join(bench.blocks)}")
            continue
        try:
            res = run_benchmark(bench, repeats)
        except RuntimeError as err:
            print(f"FAILED {bench.name}: {err} (nothing stored, its blocks are left as they are)", flush=True)
            failed.append(bench.name)
            continue
        results.mkdir(parents=True, exist_ok=True)
        write_atomic(results / f"{bench.name}.json", (json.dumps(res, indent=1) + "\n").encode())
        rendered, not_rendered = render(bench, res)
        for block, reason in not_rendered.items():
            print(f"[{bench.name}] run_all:{block} left as it is: {reason}")
        print(f"[{bench.name}] stored {results / (bench.name + '.json')}")
        print("\n".join(write_blocks(rendered, markdown)), flush=True)
    if skipped or failed:
        print(f"skipped: {', '.join(skipped) or 'none'}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
