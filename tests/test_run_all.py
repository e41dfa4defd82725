"""benchmarks/run_all.py: the generated blocks of BENCHMARKS.md and the README (no benchmark is timed here)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_run_all():
    spec = importlib.util.spec_from_file_location("run_all", REPO / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


run_all = _load_run_all()

LOAD = {"time": "2026-12-07T01:00:00+00:00", "loadavg": [0.25, 0.3, 0.4], "busy": []}


def _timed(median: float, n: int = 3) -> dict:
    return {"median": median, "times": [median] * n}


def fake_result(name: str, docs: list[list[dict]], busy: list[dict] | None = None) -> dict:
    """A stored result as run_all writes it, from each command line's script documents (one a run)."""
    bench = {b.name: b for b in run_all.BENCHMARKS}[name]
    after = {**LOAD, "loadavg": [1.5, 0.5, 0.4], "busy": busy or []}
    return {
        "benchmark": name, "script": f"benchmarks/{bench.script}", "date": LOAD["time"],
        "machine": {"cpu": "AMD EPYC", "cores": 2, "memory_gib": 23.0, "gpus": [], "python": "3.11.7",
                    "platform": "Linux", "commit": "abc1234"},
        "env": {}, "load": {"before": LOAD, "after": after, "busy": busy or []},
        "invocations": [{"args": list(inv.args), "internal_repeats": inv.internal,
                         "repeats": inv.repeats if inv.internal else len(runs),
                         "runs": [{"argv": [], "wall_seconds": 1.0, "load_before": LOAD, "load_after": after,
                                   "result": doc} for doc in runs],
                         "median": run_all.median_doc(runs)}
                        for inv, runs in zip(bench.invocations, docs, strict=True)],
    }


def _scoring(generic: bool) -> dict:
    rows = {"scoring (score_predictions)": _timed(0.11), "classification intervals (7)": _timed(2.5 if generic else
                                                                                                  0.086),
            "segmentation intervals (6)": _timed(0.47 if generic else 0.136)}
    return {"run": "small_cnn-eac1e7bc61fe", "cases": 780, "resamples": 2000, "repeats": 3, "rows": rows,
            "path": "generic" if generic else "evaluator"}


def _boards(cold: float, fresh: bool = False) -> dict:
    pair = {"table_median": cold, "finished_median": cold + 0.03, "table": [cold - 0.1, cold, cold + 0.1],
            "finished": [cold - 0.07, cold + 0.03, cold + 0.13]}
    doc = {"runs": 1000, "results": "folder", "fresh_index": fresh, "servers": 3, "warm_per_server": 5,
           "cold": pair}
    if not fresh:
        warm = {k: [v - 3 for v in vs] if isinstance(vs, list) else vs - 3 for k, vs in pair.items()}
        doc.update(warm=warm, floor_cold=pair, floor_warm=warm)
    return doc


def _synthetic_dup() -> dict:
    return {"name": "synthetic", "images": 780, "generate_seconds": 50.0, "cold_seconds": 17.9, "recall": 1.0,
            "precision": 1.0, "planted": 62, "detected_pairs": 62, "missed": 0, "false_pairs": 0,
            "by_kind": {"brightness": "10/10", "cropped": "10/10", "exact": "11/11", "flipped": "11/11",
                        "reencoded": "10/10", "resized": "10/10"},
            "min_planted_ncc": 0.956, "max_distinct_ncc": 0.807}


def _busi_dup() -> dict:
    return {"images": 780, "seconds": {"cold": 14.6, "warm": 6.7, "cached report": 0.02}, "pairs": 218,
            "exact pairs": 1, "near pairs": 217, "flipped pairs": 0, "clusters": 147, "largest cluster": 5,
            "images in clusters": 328, "images removable (cluster size - 1)": 181, "cross-class clusters": 2,
            "cross-class examples": [], "benign-433 with malignant-145": True, "shortlisted pairs verified": 6598,
            "cross-class clusters, all": [{"members": ["benign-269", "normal-1"], "exact": False},
                                          {"members": ["benign-433", "malignant-145"], "exact": True}]}


def fake_docs() -> dict[str, list[list[dict]]]:
    """Script documents of every benchmark, shaped as each script's ``--json`` writes them."""
    host = [{"model": m, "size": s, "batch": 16, "precision": "bf16", "reuse": r, "images_per_s": 5.0 + r,
             "peak_mib": 2000.0 + 100 * r} for m, s in (("dajam2025_vgg16", 64), ("cheyi2024_unet", 64)) for r in
            (False, True)]
    phash = {f"phash {t}": {"recall": 0.677, "precision": 1.0, "pairs": 42} for t in (4, 8, 12, 16)}
    return {
        "cli": [[{"repeats": 7, "cases": [{"label": label, "median": 0.1, "times": [0.1] * 7}
                                          for label in run_all.CLI_ROWS]}]],
        "scoring": [[_scoring(False)], [_scoring(True)]],
        "quickstart": [[{"cold": _timed(98.7), "warm": _timed(47.6, 2)}]],
        "plugin_process": [[{"model": "small_cnn", "size": 32, "repeats": 5, "training_cases": 15,
                             "cold_start": _timed(2.54, 5), "start": _timed(0.03, 5), "fold": _timed(0.16, 5),
                             "inline": _timed(0.07, 5)}]],
        "optimizer_step": [[{"threads": 1, "repeats": 3, "parameters": 54.5e6, "rows": [
            {"implementation": label, **_timed(t)} for label, t in (("per-tensor loop", 0.391), ("foreach", 0.295),
                                                                     ("fused", 0.031))]}]],
        "training": [[{"threads": 2, "batch": 16, "steps": 5, "rows": [
            {"model": "small_cnn", "size": size, "fp32": 167.3, "bf16": 297.7}]}] * 3 for size in (128, 224)],
        "epoch": [[{"size": 128, "train": 256, "val": 64, "repeats": 5, "threads": 1, "precision": "fp32", "rows": [
            {"model": "small_cnn", "engine": [1.1] * 5, "bare": [1.0] * 5, "ratio": 1.1},
            {"model": "resnet18", "engine": [2.4] * 5, "bare": [2.0] * 5, "ratio": 1.2}]}]],
        "host_memory": [[{"threads": 1, "steps": 8, "rows": host}]] * 3,
        "synthetic": [[{"n": 780, "size": None, "workers": w, "cpus": 2, "seconds": t, "megabytes": 120.0}
                       for t in (12.4, 12.6, 13.0)] for w in (None, 1)],
        "duplicates": [[{"params": {"accept_threshold": 0.85}, "synthetic": _synthetic_dup(), "busi": _busi_dup()}]],
        "examinations": [[{"judged": [
            {"band": "0.45-0.85", "condition": "unmirrored, same scale", "same": 44, "different": 3},
            {"band": "0.45-0.85", "condition": "mirrored or rescaled", "same": 1, "different": 14},
            {"band": "< 0.40", "condition": "unmirrored, same scale", "same": 1, "different": 1},
            {"band": "< 0.40", "condition": "mirrored or rescaled", "same": 0, "different": 1}],
            "groups": {"groups": 573, "multi": 158, "multi_images": 365, "largest": 7}, "seconds": 73.0}]],
        "audit": [[{"busi": {"cold": 46.5, "warm": 28.3, "cli_cold": 50.1, "cli_warm": 30.2, "phash": {}},
                    "synthetic": {
            "planted": 62, "ours": {"recall": 1.0, "precision": 1.0, "pairs": 62}, **phash,
            "annotated": {"truth": 85, "found": 87, "recall": 0.988, "precision": 0.966},
            "colour": {"truth": 19, "found": 19, "recall": 1.0, "precision": 1.0}}}]],
        "leaderboard": [[{"runs": 1000, "generate": 1.0, "reindex": 0.68, "read_rows": 0.162, "board_frame": 0.164,
                          "ranking": 0.013, "ranked_configurations": 426, "apptest_cold": 0.79,
                          "apptest_rerun": 0.2, "apptest_folder": 1.36, "browser_first": 3.95,
                          "browser_second": 1.41}] * 3],
        "boards_browser": [[_boards(4.29), _boards(4.36)], [_boards(5.09, fresh=True)]],
    }


def _blocks_of(path: Path) -> dict[str, str]:
    return run_all.block_texts(path.read_text(encoding="utf-8"), path)


DOC = """# Title

Prose before, with trailing spaces<SP>
and a span <!-- run_all:optimizer-step:start -->old figures
over two lines<!-- run_all:optimizer-step:end -->. More prose.

<!-- run_all:cli:start -->

| command | median | target (issue 19) |
|---|---|---|
| `busbench --version` | 9.99 s | 0.3 s: not met by 9.7 s |

<!-- run_all:cli:end -->

Prose after.\r
No newline at the end""".replace("<SP>", "   ")


def test_rewriting_a_block_keeps_everything_outside_the_markers_byte_for_byte() -> None:
    new = run_all.replace_blocks(DOC, {"cli": "| a |\n|---|\n| 1 |\n\nMeasured then.", "optimizer-step": "X"})
    start, end = "<!-- run_all:cli:start -->", "<!-- run_all:cli:end -->"
    assert new.split(start)[0].replace("X", "old figures\nover two lines") == DOC.split(start)[0]
    assert new.split(end)[1] == DOC.split(end)[1]
    assert f"{start}\n\n| a |\n|---|\n| 1 |\n\nMeasured then.\n\n{end}" in new
    assert "a span <!-- run_all:optimizer-step:start -->X<!-- run_all:optimizer-step:end -->. More" in new
    # the round trip: writing back what is there changes nothing, and a second rewrite is a no-op
    assert run_all.replace_blocks(DOC, run_all.block_texts(DOC)) == DOC
    assert run_all.replace_blocks(new, run_all.block_texts(new)) == new
    assert run_all.replace_blocks(DOC, {}) == DOC


def test_missing_end_marker_is_a_one_line_error_naming_the_file(tmp_path, capsys) -> None:
    md = tmp_path / "BENCH.md"
    md.write_text(DOC.replace("<!-- run_all:cli:end -->", ""))
    with pytest.raises(run_all.MarkerError) as err:
        run_all.find_blocks(md.read_text(), md)
    assert str(md) in str(err.value) and "run_all:cli" in str(err.value) and "\n" not in str(err.value)
    assert run_all.main(["--check", "--markdown", str(md), "--results", str(tmp_path)]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and str(md) in message and "no end marker" in message
    md.write_text(DOC.replace("<!-- run_all:cli:start -->", ""))
    with pytest.raises(run_all.MarkerError, match="cli:end has no start marker"):
        run_all.find_blocks(md.read_text(), md)
    md.write_text(DOC + "\n<!-- run_all:cli:start -->x<!-- run_all:cli:end -->\n")
    with pytest.raises(run_all.MarkerError, match="appears twice"):
        run_all.find_blocks(md.read_text(), md)


def test_render_only_writes_the_stored_results_and_check_detects_drift(tmp_path, capsys) -> None:
    md = tmp_path / "BENCH.md"
    md.write_bytes(DOC.encode())
    results = tmp_path / "results"
    results.mkdir()
    res = fake_result("cli", fake_docs()["cli"])
    (results / "cli.json").write_text(json.dumps(res))
    argv = ["--markdown", str(md), "--results", str(results)]

    assert run_all.main(["--check", "--only", "cli", *argv]) == 1  # the old table is not what cli.json renders
    assert "run_all:cli differs" in capsys.readouterr().out
    assert run_all.main(["--render-only", "--only", "cli", *argv]) == 0
    text = md.read_bytes().decode()
    assert _blocks_of(md)["cli"] == run_all.render_cli(res)
    assert "| `busbench --version` | 0.10 s | 0.3 s: met |" in text
    assert "| `python -c pass` (the floor) | 0.10 s | |" in text
    assert "Measured 2026-12-07 on AMD EPYC (2 cores, no GPU), Python 3.11.7 under 1-min load average 0.25 " \
           "before and 1.50 after, no other process above 20% CPU, median of 7 runs; regenerate with " \
           "`python benchmarks/run_all.py --only cli`." in text
    assert text.split("<!-- run_all:cli:end -->")[1] == DOC.split("<!-- run_all:cli:end -->")[1]
    assert text.split("<!-- run_all:cli:start -->")[0] == DOC.split("<!-- run_all:cli:start -->")[0]
    assert not list(tmp_path.glob(".BENCH.md.*"))  # the temporary file was renamed over the file

    capsys.readouterr()
    assert run_all.main(["--check", *argv]) == 0  # benchmarks without stored results are named, not failed
    out = capsys.readouterr().out
    assert "match the stored results" in out and "quickstart: no stored results" in out

    md.write_bytes(text.replace("| 0.10 s | 0.3 s: met |", "| 0.09 s | 0.3 s: met |", 1).encode())
    assert run_all.main(["--check", *argv]) == 1
    assert f"{md}: run_all:cli differs from what cli.json renders" in capsys.readouterr().out

    res["invocations"][0]["median"]["cases"][1]["median"] = 0.09  # the stored results drifted instead
    (results / "cli.json").write_text(json.dumps(res))
    assert run_all.main(["--check", *argv]) == 0


def test_check_flags_a_block_of_no_benchmark(tmp_path, capsys) -> None:
    md = tmp_path / "README.md"
    md.write_text("a <!-- run_all:no-such-block:start -->1 s<!-- run_all:no-such-block:end --> b\n")
    assert run_all.main(["--check", "--markdown", str(md), "--results", str(tmp_path)]) == 1
    assert "run_all:no-such-block is no block of any benchmark" in capsys.readouterr().out


def test_readme_span_is_rewritten_inside_its_sentence(tmp_path) -> None:
    md = tmp_path / "README.md"
    before = "folds (<!-- run_all:quickstart-readme:start -->99 s on 2 CPU cores\nafter the install, medians " \
             "measured on 2026-12-06<!-- run_all:quickstart-readme:end -->\nwith `benchmarks/bench_quickstart.py`)."
    md.write_text(before)
    res = fake_result("quickstart", fake_docs()["quickstart"])
    assert run_all.rewrite_file(md, {"quickstart-readme": run_all.render_quickstart_readme(res)}) == \
        ["quickstart-readme"]
    assert md.read_text() == (
        "folds (<!-- run_all:quickstart-readme:start -->99 s on 2 CPU cores after the install with an empty cache, "
        "48 s when run again, nothing else running, medians measured on 2026-12-07"
        "<!-- run_all:quickstart-readme:end -->\nwith `benchmarks/bench_quickstart.py`).")
    busy = [{"pid": 1, "pcpu": 95.0, "command": "/work/.venv/bin/python3 .venv/bin/busbench run small_cnn --x"}]
    loaded = run_all.render_quickstart_readme(fake_result("quickstart", fake_docs()["quickstart"], busy))
    assert "1 other process above 20% CPU (`python3 .venv/bin/busbench run small_cnn` 95%)" in loaded
    res["machine"]["avx512"] = True  # stored since the flag is kept: the README names the CPU too
    assert run_all.render_quickstart_readme(res).startswith("99 s on 2 CPU cores (AMD EPYC, with AVX-512) after ")


def test_every_block_renders_with_the_columns_of_the_committed_tables() -> None:
    committed = {**_blocks_of(REPO / "BENCHMARKS.md"), **_blocks_of(REPO / "README.md")}
    docs = fake_docs()
    rendered: dict[str, str] = {}
    for bench in run_all.BENCHMARKS:
        blocks, skipped = run_all.render(bench, fake_result(bench.name, docs[bench.name]))
        assert not skipped, bench.name
        rendered.update(blocks)
    assert set(rendered) == set(committed)  # every block is in the Markdown files, and no other

    def header(text: str) -> str:
        return re.sub(r"\d+", "N", text.splitlines()[0])

    for name, body in rendered.items():
        if committed[name].startswith("|"):
            assert header(body) == header(committed[name]), name
            assert body.splitlines()[1] == committed[name].splitlines()[1], name
            assert body.splitlines()[-1].startswith("Measured ") or "regenerate with" in body.splitlines()[-1], name
        else:  # a span inside a sentence: one line, no table
            assert "\n" not in body and not body.startswith("|"), name
    assert "| **44 / 3** |" in rendered["examinations"]
    assert "| `small_cnn` | 1.10 s | 1.00 s | 1.100 | 1.10: met |" in rendered["epoch"]
    assert "| `resnet18` | 2.40 s | 2.00 s | 1.200 | 1.10: not met by 0.10 |" in rendered["epoch"]
    assert "| before: process pool (default) | 2 processes |" in rendered["synthetic"]
    assert "| now: thread pool (default) | 2 threads | 12.4 / 12.6 / 13.0 s (median 12.6 s) |" in \
        rendered["synthetic"]
    assert "benign-433 / malignant-145 (exact), benign-269 / normal-1 |" in rendered["duplicates-busi"]
    assert "exact 11/11, resized 10/10, cropped 10/10, flipped 11/11, brightness 10/10, re-encoded 10/10" in \
        rendered["duplicates-synthetic"]
    assert "| 0.807 (so 0.85 sits in the gap) |" in rendered["duplicates-synthetic"]
    assert "per-tensor loop (torch's CPU default) 0.391 s, foreach 0.295 s, fused 0.031 s" in \
        rendered["optimizer-step"]
    assert "| 4.29-4.36 s | 4.32-4.39 s | under 5 s: met |" in rendered["boards-browser"]
    assert "| 5.09 s (4.99, 5.09, 5.19) | 5.12 s | under 5 s: not met by 0.1 s |" in rendered["boards-browser"]


def test_a_result_without_busi_figures_leaves_the_busi_block_alone() -> None:
    docs = fake_docs()["duplicates"]
    del docs[0][0]["busi"]
    bench = {b.name: b for b in run_all.BENCHMARKS}["duplicates"]
    rendered, skipped = run_all.render(bench, fake_result("duplicates", docs))
    assert set(rendered) == {"duplicates-synthetic"} and set(skipped) == {"duplicates-busi"}


def test_median_over_runs_is_taken_leaf_by_leaf() -> None:
    runs = [{"a": 1.0, "b": {"c": 3}, "times": [1, 2], "name": "x", "ok": True},
            {"a": 3.0, "b": {"c": 5}, "times": [3, 4], "name": "x", "ok": True},
            {"a": 2.0, "b": {"c": 4}, "times": [5, 6], "name": "x", "ok": True}]
    assert run_all.median_doc(runs) == {"a": 2.0, "b": {"c": 4}, "times": [1, 2], "name": "x", "ok": True}


def test_list_names_every_benchmark_script(capsys) -> None:
    scripts = sorted(p.name for p in (REPO / "benchmarks").glob("bench_*.py"))
    assert run_all.main(["--list"]) == 0
    out = capsys.readouterr().out
    for script in scripts:
        assert script in out
    assert "no run_all entry" not in out  # every script has an entry
    assert sorted(b.script for b in run_all.BENCHMARKS) == scripts


def test_dry_run_prints_the_commands_and_the_skipped_with_their_reason(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("BUSBENCH_BUSI", str(tmp_path / "no-busi"))
    monkeypatch.setenv("BUSBENCH_CHROMIUM", str(tmp_path / "no-chromium"))
    assert run_all.main(["--dry-run", "--only", "cli,scoring,boards_browser", "--repeats", "2",
                         "--markdown", str(REPO / "BENCHMARKS.md")]) == 0
    out = capsys.readouterr().out
    assert "bench_cli.py --repeats 2 --json" in out
    assert f"SKIP scoring: the BUSI data is not at {tmp_path / 'no-busi'}" in out
    assert f"SKIP boards_browser: no chromium at {tmp_path / 'no-chromium'}" in out
    assert not (tmp_path / "results").exists()


def test_unknown_benchmark_name_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown benchmark"):
        run_all.main(["--dry-run", "--only", "nope"])


def test_committed_blocks_match_the_committed_results(capsys) -> None:
    # once benchmarks/results/*.json are committed with the regenerated Markdown, they cannot drift apart
    assert run_all.check(list(run_all.BENCHMARKS), list(run_all.MARKDOWN), run_all.RESULTS) == 0, \
        capsys.readouterr().out


def test_the_machine_line_says_whether_the_cpu_has_avx512(monkeypatch):
    # Two "AMD EPYC" machines of this project ran the same code twofold apart; the flags from lscpu tell them apart.
    for flags, phrase in (("fpu sse2 avx2 avx512f avx512dq", "AMD EPYC (2 cores, with AVX-512, no GPU)"),
                          ("fpu sse2 avx2", "AMD EPYC (2 cores, without AVX-512, no GPU)")):
        lscpu = f"Architecture: x86_64\nModel name:  AMD EPYC\nFlags:  {flags}\n"
        monkeypatch.setattr(run_all, "_run_text", lambda cmd, out=lscpu: out if cmd == ["lscpu"] else "")
        monkeypatch.setattr(run_all.os, "cpu_count", lambda: 2)
        m = run_all.machine()
        assert m["cpu"] == "AMD EPYC" and run_all.machine_phrase({"machine": m}).startswith(phrase)
    older = {"cpu": "AMD EPYC", "cores": 2, "gpus": [], "python": "3.11.7"}  # stored before the flags were kept
    assert run_all.machine_phrase({"machine": older}) == "AMD EPYC (2 cores, no GPU), Python 3.11.7"
