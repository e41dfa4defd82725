"""``busbench results export`` (issue 18, item 7): the board as CSV, a LaTeX table with CIs, and BibTeX.

The export is checked through the command, against what it exports: each run's own ``metrics.json`` (headline and
interval), the board's order and membership (clean, completed, ranked per split, leaky and failed runs left out),
and, for BibTeX, the entries of ``CITATION.cff``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("pandas")

from benchmark.cli import main  # noqa: E402
from tests import fixtures_leaderboard as fx  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    folder = fx.build(tmp_path_factory.mktemp("export"))
    # A reference with a DOI and an arXiv id, as plugins state theirs.
    doc_path = folder / fx.RUN_IDS["good"] / "run.json"
    doc = json.loads(doc_path.read_text())
    doc["submission"]["reference"] = "Cheyi & Cetin-Kaya, GU J Sci 2024, doi:10.54287/guj.1529857; arXiv:1905.11946"
    doc_path.write_text(json.dumps(doc))
    return folder


def export(capsys, *args: str) -> str:
    capsys.readouterr()
    assert main(["results", "export", *args]) == 0
    return capsys.readouterr().out


def test_csv_is_the_clean_board_with_each_runs_own_scores(runs, capsys):
    rows = list(csv.DictReader(io.StringIO(export(capsys, "--results", str(runs), "--format", "csv"))))
    by_id = {r["run_id"]: r for r in rows}
    # Clean and completed only: the leaky run, the failed run, the segmentation run are not on this board.
    assert set(by_id) == {fx.RUN_IDS["good"], fx.RUN_IDS["weak"], fx.RUN_IDS["hostile"]}
    for run_id, row in by_id.items():
        headline = json.loads((runs / run_id / "metrics.json").read_text())["headline"]
        assert row["headline_metric"] == headline["metric"] == "balanced_accuracy"
        for ours, theirs in (("headline_value", "value"), ("headline_ci_low", "ci_low"),
                             ("headline_ci_high", "ci_high")):
            assert float(row[ours]) == pytest.approx(headline[theirs], abs=1e-12)
        assert row["budget"] == "32 px, 1 ep, scratch" and row["busbench_version"] == "0.1.0"
        assert row["split"].endswith("split.json") and row["protocol"] == "clean"
        assert row["benchmark"] == ""  # a split file made for the test is no named benchmark
    values = [float(r["headline_value"]) for r in rows]
    assert values == sorted(values, reverse=True) and [r["rank"] for r in rows] == ["1", "2", "3"]
    assert by_id[fx.RUN_IDS["hostile"]]["submission"] == fx.HOSTILE_NAME  # CSV quoting keeps it whole


def test_segmentation_board_and_writing_a_file(runs, capsys, tmp_path):
    out = tmp_path / "seg.csv"
    capsys.readouterr()
    assert main(["results", "export", "--results", str(runs), "--task", "segmentation", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["run_id"] for r in rows] == [fx.RUN_IDS["seg"]] and rows[0]["headline_metric"] == "dice"
    assert capsys.readouterr().err == f"wrote {out}\n"
    # an existing file is never overwritten without --force, and nothing is half-written
    assert main(["results", "export", "--results", str(runs), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "--force" in err
    assert list(csv.DictReader(out.open()))[0]["run_id"] == fx.RUN_IDS["seg"]
    assert main(["results", "export", "--results", str(tmp_path / "absent")]) == 2
    assert "is neither a store URL nor a folder" in capsys.readouterr().err


def test_latex_table_has_every_row_with_its_interval_and_escapes_metadata(runs, capsys):
    text = export(capsys, "--results", str(runs), "--format", "latex")
    rows = list(csv.DictReader(io.StringIO(export(capsys, "--results", str(runs)))))
    assert text.count("\\begin{tabular}") == text.count("\\end{tabular}") == 1
    body = text[text.index("\\midrule"):text.index("\\bottomrule")]
    lines = [line for line in body.splitlines()[1:] if line.strip()]
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        value, low, high = (float(row[k]) for k in ("headline_value", "headline_ci_low", "headline_ci_high"))
        assert line.startswith(f"{row['rank']} & ") and f"{value:.3f} [{low:.3f}, {high:.3f}]" in line
    # every special character of the hostile name is escaped: no bare & % $ # _ { } outside the LaTeX we wrote
    hostile = next(line for line in lines if line.split(" & ")[2].startswith(
        f"{float(rows[[r['run_id'] for r in rows].index(fx.RUN_IDS['hostile'])]['headline_value']):.3f}"))
    cell = hostile.split(" & ")[1]
    assert not re.search(r"(?<!\\)[&%$#_{}]", cell.replace("\\textbackslash{}", "").replace(
        "\\textasciitilde{}", "").replace("\\textasciicircum{}", "")), cell
    assert "Balanced accuracy [95\\% CI]" in text and "busbench 0.1.0" in text


def test_bibtex_cites_busbench_the_dataset_and_each_reference(runs, capsys, tmp_path):
    text = export(capsys, "--results", str(runs), "--format", "bibtex")
    assert text.count("{") == text.count("}")  # balanced: every entry closes
    entries = re.findall(r"^@(\w+)\{([^,]+),", text, flags=re.M)
    assert ("software", "busbench") in entries
    # the synthetic data has no reference to cite: said, not invented
    assert "% dataset synthetic:n=30,size=48: no reference" in text
    assert "doi = {10.54287/guj.1529857}" in text and "eprint = {1905.11946}" in text
    assert "note = {Cheyi & Cetin-Kaya" in text
    # on BUSI, the dataset's paper (CC BY 4.0: cited wherever results on it are shown), from CITATION.cff
    busi = export(capsys, "--format", "bibtex")  # the committed runs
    assert "doi = {10.1016/j.dib.2019.104863}" in busi and "title = {Dataset of breast ultrasound images}" in busi
    assert "Al-Dhabyani, Walid" in busi


def test_export_of_the_committed_board_matches_the_leaderboard_ranking(capsys):
    from leaderboard import sources, tables

    rows, problems = sources.runs_of(None)
    assert problems == []
    frame = tables.board_frame(rows)
    expected = [(int(r["rank"]), r["run_id"]) for _, board in tables.by_split(tables.ranking(frame, "classification"))
                for _, r in board.iterrows()]
    records = list(csv.DictReader(io.StringIO(export(capsys))))
    exported = [(int(r["rank"]), r["run_id"]) for r in records]
    assert exported == expected and len(exported) > 10
    # each row names the benchmark its split file is (by the file's bytes)
    names = {r["split"]: r["benchmark"] for r in records}
    assert names["splits/busi/5fold_examination.json"].startswith("busbench-BUSI v2 (examination-grouped")
    assert names["splits/busi/5fold_grouped.json"].startswith("busbench-BUSI v1 (duplicate-grouped")
