"""``busbench report references``: the clean runs on one split, their budget, and the paired effect of pretraining."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.engine.runner import RunRequest, run_submission
from benchmark.evaluation.compare import compare_runs
from benchmark.reports.blocks import markers
from benchmark.reports.references import references_markdown
from tests.helpers import write_tiny_split

REPO = Path(__file__).resolve().parents[2]
SPEC = "synthetic:n=30,seed=7,size=48"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[bool, Path]]:
    """Lite0 with and without ImageNet weights, all three folds of a tiny split, 1 epoch at 32 px."""
    root = tmp_path_factory.mktemp("refs")
    split = write_tiny_split(root / "tiny.json", SPEC, val_fraction=0.3)
    runs = {}
    for pretrained in (True, False):
        outcome = run_submission(RunRequest("efficientnet_lite0", SPEC, split, epochs=1, image_size=32,
                                            hparams={"batch_size": 4, "pretrained": pretrained}, precision="fp32",
                                            threads=1, out=root / "results"))
        assert outcome.status == "completed", outcome.failed
        runs[pretrained] = outcome.run_dir
    return root / "results", split, runs


@pytest.mark.slow
def test_table_and_pretraining_effect_match_busbench_compare(two_runs):
    results, split, runs = two_runs
    markdown = references_markdown(results, split_file=split)
    rows = [line for line in markdown.splitlines() if line.startswith("| `efficientnet_lite0`")]
    assert len(rows) == 2
    assert {row.split(" | ")[1] for row in rows} == {"ImageNet", "scratch"}
    for row, run in zip(sorted(rows), (runs[True], runs[False]), strict=True):  # "ImageNet" sorts before "scratch"
        assert f"`{run.name}`" in row and "32 px, 1 ep" in row
    assert "No completed segmentation run on this split yet." in markdown
    effect = [line for line in markdown.splitlines() if line.startswith("- `efficientnet_lite0`")]
    assert len(effect) == 1
    expected = compare_runs(runs[False], runs[True], SPEC)["bootstrap"]  # b - a = pretrained - scratch
    assert f"**{expected['difference']:+.3f}** [{expected['low']:+.3f}, {expected['high']:+.3f}]" in effect[0]


def test_a_run_on_another_split_is_left_out(two_runs, tmp_path):
    results, _, _ = two_runs
    other = write_tiny_split(tmp_path / "other.json", "synthetic:n=30,seed=8,size=48", val_fraction=0.3)
    markdown = references_markdown(results, split_file=other)
    assert "No completed classification run on this split yet." in markdown


def test_committed_readme_block_is_current(capsys):
    args = ["report", "references", "--check", str(REPO / "README.md"), "--results",
            str(REPO / "leaderboard" / "results")]
    assert main(args) == 0, capsys.readouterr().err


def test_check_fails_on_a_stale_block_and_write_renews_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    begin, end = markers("references")
    head, rest = readme.read_text().split(begin, 1)
    readme.write_text(f"{head}{begin}\n| stale |\n{end}{rest.split(end, 1)[1]}")
    args = ["report", "references", "--results", str(REPO / "leaderboard" / "results")]
    assert main([*args, "--check", str(readme)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main([*args, "--write", str(readme)]) == 0
    assert readme.read_text() == (REPO / "README.md").read_text()
