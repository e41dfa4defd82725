"""``busbench report reproduction``: published, reproduced under the paper's protocol, and clean, from a real audit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmark.audit.leaks import LEAKS
from benchmark.audit.paper_protocols import PUBLISHED, read_published
from benchmark.audit.protocols import AuditRequest, audit_protocols
from benchmark.cli import main
from benchmark.data.open import open_dataset
from benchmark.evaluation.training import STILL_IMPROVING
from benchmark.reports.blocks import markers
from benchmark.reports.reproduction import read_audits, reproduction_markdown, reproductions
from benchmark.splits.make import make_split

REPO = Path(__file__).resolve().parents[2]
TINY = "synthetic:n=45,size=48"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder holding one classification audit of every paper protocol, as the audit script publishes it."""
    root = tmp_path_factory.mktemp("repro")
    split = root / "split.json"
    make_split(open_dataset(TINY), k=3, seed=0, val_fraction=0.5).save(split)
    summary = audit_protocols(AuditRequest("small_cnn", TINY, protocols="papers", splits=split, epochs=1,
                                           image_size=32, threads=1, out=root / "audit"))
    folder = root / "results"
    folder.mkdir()
    for row in summary["rows"]:  # published as leaderboard/run_protocol_audit.sh publishes them
        shutil.copytree(row["run_dir"], folder / Path(row["run_dir"]).name, dirs_exist_ok=True)
        row["run_dir"] = f"leaderboard/results/{Path(row['run_dir']).name}"
    (folder / "protocols-small_cnn-test.json").write_text(json.dumps(summary))
    return folder


@pytest.mark.slow
def test_every_reading_is_measured_and_the_gap_splits_exactly(results):
    published = read_published(PUBLISHED)
    audits = read_audits(results)
    assert set(audits) == {"classification"}
    rows = {r["protocol"]: r for r in audits["classification"]["rows"]}
    items = [r for r in reproductions(published, audits) if r.row["task"] == "classification"]
    headline = [r for r in published if r["headline"] == "1" and r["task"] == "classification"]
    assert len(items) == 2 * len(headline)  # every classification paper is ambiguous on one flag: two readings
    for item in items:
        measured = rows[item.protocol]["figures"][item.row["metric"]]
        clean = rows["clean"]["figures"][item.row["metric"]]
        assert item.reproduced.value == measured["value"] and item.reproduced.low == measured["ci_low"]
        assert item.clean.value == clean["value"]
        assert item.explained == pytest.approx(measured["value"] - clean["value"])
        assert item.unexplained == pytest.approx(float(item.row["value"]) - measured["value"])
        assert item.explained + item.unexplained == pytest.approx(float(item.row["value"]) - clean["value"])
    markdown = reproduction_markdown(published, results)
    assert "stand-in for every system: `small_cnn` (from scratch), 32 px, 1 epochs" in markdown
    assert markdown.count("| Cheyi 2024 |") == 36
    assert "`augment-before-split+mask-overlay` (augmentation before the split)" in markdown
    assert "No segmentation reference audit is committed yet" in markdown
    assert "- Cheyi 2024: selection on the reported set unknown: not reproduced" in markdown
    # one epoch: every fold's best epoch is its last, so each run is flagged, beside its score
    assert all(item.flags[0].startswith(STILL_IMPROVING) and item.flags[1].startswith(STILL_IMPROVING)
               for item in items)
    assert f"reproduced: {STILL_IMPROVING}" in markdown


@pytest.mark.slow
def test_every_protocol_of_the_audit_is_listed_with_its_paired_difference(results):
    # Each row of the summary, as the summary holds it: the score and interval, the inflation, the paired
    # difference (or why there is none), the run's convergence flags.
    summary = read_audits(results)["classification"]
    markdown = reproduction_markdown(read_published(PUBLISHED), results)
    table = markdown.split("Every protocol of that audit on balanced accuracy", 1)[1]
    lines = {line.split(" | ")[0].strip("| `"): line for line in table.splitlines() if line.startswith("| `")}
    assert set(lines) == {row["protocol"] for row in summary["rows"]} and len(lines) > 5
    for row in summary["rows"]:
        cells = [c.strip() for c in lines[row["protocol"]].strip("|").split("|")]
        assert cells[2] == f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
        pair = row["paired"] or {}
        if row["protocol"] == "clean":
            assert cells[1] == "the clean protocol" and cells[3] == cells[4] == "-"
            continue
        assert cells[3] == f"{100 * (row['value'] - summary['rows'][0]['value']):+.1f} pp"
        if pair.get("difference") is None:
            assert cells[4] == pair["reason"]
        else:
            assert cells[4] == f"{pair['difference']:+.3f} [{pair['low']:+.3f}, {pair['high']:+.3f}]"
        assert cells[5] == row["_flags"] and cells[5].startswith(STILL_IMPROVING)  # one epoch: still improving
        assert cells[1] == LEAKS.get(row["protocol"], "the leaks named, combined in one run")
    assert "| `naive-split+select-on-test` | the leaks named, combined in one run |" in table


def test_an_audit_without_a_committed_split_is_not_a_reference(tmp_path):
    shutil.copy(REPO / "leaderboard" / "results" / "protocols-small_cnn-BUSI.json", tmp_path)
    assert read_audits(tmp_path) == {}


def test_committed_readme_block_is_current(capsys):
    args = ["report", "reproduction", "--check", str(REPO / "README.md"), "--results",
            str(REPO / "leaderboard" / "results"), "--published", str(REPO / "leaderboard" / "published.csv")]
    assert main(args) == 0, capsys.readouterr().err


def test_a_stale_block_fails_the_check(tmp_path, capsys):
    readme = tmp_path / "README.md"
    begin, end = markers("reproduction")
    readme.write_text(f"x\n{begin}\n| stale |\n{end}\n")
    args = ["report", "reproduction", "--results", str(REPO / "leaderboard" / "results"), "--published",
            str(REPO / "leaderboard" / "published.csv")]
    assert main([*args, "--check", str(readme)]) == 1 and "out of date" in capsys.readouterr().err
