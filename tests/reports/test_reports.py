"""The ledger of published results (``busbench report published``) and the seed-paper report (``report seeds``)."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.plugins import ModelSpec
from benchmark.reports.blocks import markers
from benchmark.reports.published import SOURCE_COLUMNS, build_published, default_source, write_published
from benchmark.reports.seed_papers import PAPERS
from benchmark.reports.seeds import seeds_markdown
from benchmark.results.rundir import file_sha256

REPO = Path(__file__).resolve().parents[2]
CHEYI, BANIADAM, DAJAM, LI, MUNU = sorted(PAPERS)
CHEYI_FLAGS = {"split_protocol": "not stated for classifiers", "pretrained": "pretrained, source not stated"}

# Hand-written source rows: (source row, expected ledger values). Free text shaped like the real source's.
CASES = [
    (dict(source_file=CHEYI, model="VGG16", condition="all layers trained, with enhancing and overlaying",
          metric="accuracy", value="0.96", **CHEYI_FLAGS),
     dict(mask_in_input="yes", split="not_stated", augmentation_timing="before_split_possible",
          selection_on_test="unknown", empty_mask_convention="n/a", pretrained="pretrained_unnamed",
          busbench_submission="cheyi2024_vgg16", headline="1")),
    (dict(source_file=CHEYI, model="VGG16", condition="all layers trained, without enhancing and overlaying",
          metric="accuracy", value="0.76", **CHEYI_FLAGS),
     dict(mask_in_input="no", busbench_submission="cheyi2024_vgg16", headline="1")),
    (dict(source_file=CHEYI, model="Inceptionv3", condition="last 4 layers fine-tuned, with enhancing and overlaying",
          metric="accuracy", value="0.63", **CHEYI_FLAGS),
     dict(mask_in_input="yes", busbench_submission="cheyi2024_inceptionv3", headline="0")),
    (dict(source_file=CHEYI, model="Proposed Model (custom CNN)", condition="model size", metric="other",
          value="3097283", pretrained="scratch (custom CNN; implied)"),
     dict(mask_in_input="n/a", pretrained="none", busbench_submission="cheyi2024_cnn", headline="0")),
    (dict(source_file=BANIADAM, model="U-Net", metric="accuracy", value="0.8786", image_size="512x512 (L83)",
          epochs="contradictory: '60 epochs' and 'The number of epochs was 100' (L167)"),
     dict(split="contradictory", mask_in_input="unclear", selection_on_test="no", image_size="512",
          epochs="contradictory", busbench_submission="", headline="0")),
    (dict(source_file=BANIADAM, task="segmentation", model="U-Net", metric="iou", averaging="per-class: normal",
          value="1.0"),
     dict(mask_in_input="n/a", empty_mask_convention="normal_included_iou_1", busbench_submission="baniadam2021_unet",
          headline="0")),
    (dict(source_file=BANIADAM, task="segmentation", model="U-Net", metric="iou", averaging="per-class: benign",
          value="0.7927"),
     dict(empty_mask_convention="lesion_only", headline="0")),
    (dict(source_file=BANIADAM, task="segmentation", model="U-Net", condition="per-category test images, averaged",
          metric="iou", averaging="macro (unweighted mean of the 3 per-class IoUs)", value="0.91"),
     dict(empty_mask_convention="normal_included_iou_1", busbench_submission="baniadam2021_unet", headline="1")),
    (dict(source_file=LI, model="ResNet34 with pre-training", condition="validation set", metric="accuracy",
          value="0.962", pretrained="pretrained (source not stated)", epochs="100 (L101, L167)"),
     dict(selection_on_test="yes", mask_in_input="yes", split="single_split", pretrained="pretrained_unnamed",
          epochs="100", busbench_submission="li2025_resnet34", headline="1")),
    (dict(source_file=LI, model="ResNet34", condition="independent test set", metric="accuracy",
          averaging="overall", value="0.4936"),
     dict(selection_on_test="no", busbench_submission="li2025_resnet34", headline="1")),
    (dict(source_file=LI, task="segmentation", model="U2NET", metric="iou", value="0.6938"),
     dict(busbench_submission="", empty_mask_convention="not_stated", headline="0")),
    (dict(source_file=DAJAM, model="VGG16", metric="accuracy", averaging="overall", value="0.90",
          image_size="224x224 for VGG16 (L122); others not stated", pretrained="ImageNet (L259)", epochs="50 (L259)"),
     dict(image_size="224", pretrained="imagenet", epochs="50", augmentation_timing="ambiguous",
          selection_on_test="likely", mask_in_input="no", headline="1")),
    (dict(source_file=DAJAM, model="MobileNet", metric="f1", averaging="macro", value="0.98",
          image_size="224x224 for VGG16 (L122); others not stated"),
     dict(image_size="not_stated", busbench_submission="dajam2025_mobilenet", headline="0")),
    (dict(source_file=MUNU, model="CNN (custom)", metric="accuracy", averaging="overall", value="0.82",
          image_size="128x128 (L142)"),
     dict(split="single_random_split", augmentation_timing="training_only", image_size="128",
          busbench_submission="munukurthi2024_cnn", headline="1")),
    (dict(source_file=DAJAM, cited_work="Jabeen 2022", model="VGG16", metric="accuracy", value="0.991",
          split_protocol="K-fold cross-validation (L73)",
          augmentation_timing="not stated ('experiment was conducted on an augmented Breast Ultrasound Images (BUSI) "
                              "dataset', L47)",
          uses_mask_in_input="not stated (classifier applied to segmented lesion region, L47)",
          pretrained="ImageNet then cancer-cell microscopy (L33-35)"),
     dict(split="kfold", augmentation_timing="before_split_possible", mask_in_input="unclear",
          selection_on_test="unknown", pretrained="mixed", busbench_submission="", headline="0")),
]


def _source_row(**given: str) -> dict[str, str]:
    row = dict.fromkeys(SOURCE_COLUMNS, "not stated")
    row.update(paper="P", cited_work="", table_or_section="Table 1", task="classification", classes="3-class",
               dataset="BUSI", condition="test set", averaging="not stated", notes="a note, with a comma")
    row.update(given)
    return row


def _write_source(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SOURCE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture()
def ledger(tmp_path: Path) -> Path:
    source = _write_source(tmp_path / "source.csv", [_source_row(**row) for row, _ in CASES])
    write_published(source, tmp_path / "published.csv")
    return tmp_path / "published.csv"


def test_flags_follow_the_rules(tmp_path):
    source = _write_source(tmp_path / "source.csv", [_source_row(**row) for row, _ in CASES])
    rows = build_published(source)
    for (given, expected), row in zip(CASES, rows, strict=True):
        assert {k: row[k] for k in expected} == expected, given
        assert row["value"] == given["value"] and row["citation"] == PAPERS[given["source_file"]].citation
        assert row["source_notes"] == "a note, with a comma"  # free text kept verbatim
    assert "never says how a class" in rows[4]["busbench_notes"]
    assert len({r["row_id"] for r in rows}) == len(rows) and rows == build_published(source)  # stable, deterministic


def test_cli_writes_the_ledger(tmp_path, ledger, capsys):
    out = tmp_path / "again.csv"
    assert main(["report", "published", "--source", str(tmp_path / "source.csv"), "--out", str(out)]) == 0
    assert out.read_bytes() == ledger.read_bytes()
    assert f"{len(CASES)} rows" in capsys.readouterr().out


@pytest.mark.parametrize("damage, problem", [
    (lambda text: text.replace(",notes", ""), "missing column(s) notes"),
    (lambda text: text + "one,two\n", "line 3: has 2 fields"),
    (lambda text: text.replace("000_d60307e705147af6.txt", "999_unknown.txt"), "unknown source_file"),
])
def test_malformed_source_is_one_line_exit_2(tmp_path, capsys, damage, problem):
    source = _write_source(tmp_path / "source.csv", [_source_row(**CASES[0][0])])
    source.write_text(damage(source.read_text()))
    out = tmp_path / "published.csv"
    assert main(["report", "published", "--source", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(source) in err and problem in err and not out.exists()


def test_missing_source_is_exit_2(tmp_path, capsys):
    assert main(["report", "published", "--source", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.csv: does not exist" in capsys.readouterr().err


def test_committed_ledger_is_a_fresh_build(tmp_path):
    source = default_source()
    if not source.is_file():
        pytest.skip(f"seed published results not found at {source} (set BUSBENCH_SHARED)")
    assert main(["report", "published", "--source", str(source), "--out", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_bytes() == (REPO / "leaderboard" / "published.csv").read_bytes()


def test_citations_come_from_the_seed_texts():
    seeds = default_source().parents[1] / "seeds"
    if not seeds.is_dir():
        pytest.skip(f"seed papers not found at {seeds}")
    for name, paper in PAPERS.items():
        header = (seeds / name).read_text()[:4000]
        first_author = paper.citation.split(",")[0]
        assert first_author.lower() in header.lower(), name
        doi = re.search(r"doi:(\S+)", paper.citation)
        assert doi is None or doi.group(1).rstrip(".") in header, name


def _fixture_run(results: Path, run_id: str, name: str, created: str, metrics: dict, *, sha: str,
                 status: str = "completed", kind: str = "trained", protocol: str = "clean") -> None:
    # A FABRICATED run folder, a test fixture only: numbers are made up to check the report's arithmetic.
    folder = results / run_id
    folder.mkdir(parents=True)
    run = {"run_id": run_id, "kind": kind, "created": created, "status": status, "submission": {"name": name},
           "image_size": 64, "epochs": 3, "pretrained": False,
           "split": {"path": "splits/busi/5fold_grouped.json", "sha256": sha, "protocol": protocol}}
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_seeds_report_puts_ours_beside_published(tmp_path, ledger):
    split = tmp_path / "split.json"
    split.write_text("{}")
    sha, results = file_sha256(split), tmp_path / "results"
    accuracy = {"pooled": {"accuracy": 0.5}, "ci": {"accuracy": {"low": 0.4, "high": 0.6}}}
    _fixture_run(results, "fixture-vgg16-old", "cheyi2024_vgg16", "2026-01-01T00:00:00+00:00", accuracy, sha=sha)
    accuracy = {"pooled": {"accuracy": 0.7}, "ci": {"accuracy": {"low": 0.65, "high": 0.75}}}
    _fixture_run(results, "fixture-vgg16-new", "cheyi2024_vgg16", "2026-02-01T00:00:00+00:00", accuracy, sha=sha)
    ignored = {"pooled": {"accuracy": 0.1}, "ci": {}}
    _fixture_run(results, "fixture-vgg16-failed", "cheyi2024_vgg16", "2026-03-01", ignored, sha=sha, status="failed")
    _fixture_run(results, "fixture-vgg16-other-split", "cheyi2024_vgg16", "2026-04-01", ignored, sha="0" * 64)
    _fixture_run(results, "fixture-vgg16-leaky", "cheyi2024_vgg16", "2026-05-01", ignored, sha=sha,
                 kind="protocol-audit", protocol="select-on-test")
    collapsed = {"pooled": {"accuracy": 0.56, "per_class": {"normal": {"predicted": 0}, "benign": {"predicted": 780},
                                                           "malignant": {"predicted": 0}}}, "ci": {}}
    _fixture_run(results, "fixture-dajam-vgg16", "dajam2025_vgg16", "2026-01-01", collapsed, sha=sha)
    iou = {"pooled": {"iou": 0.57, "paper_compatible": {"iou": 0.56}}, "ci": {"iou": {"low": 0.54, "high": 0.6}}}
    _fixture_run(results, "fixture-unet", "baniadam2021_unet", "2026-01-01", iou, sha=sha)
    specs = {"cheyi2024_vgg16": ModelSpec(name="cheyi2024_vgg16", task="classification",
                                          notes=("paper: no size; choice: input 224 px", "paper: Adam (L1)")),
             "cheyi2024_unet": ModelSpec(name="cheyi2024_unet", task="segmentation", notes=("Dice loss",))}
    text = seeds_markdown(ledger, results, split_file=split, specs=specs)
    lines = text.splitlines()
    with_overlay = next(line for line in lines if "0.96" in line)
    assert "0.700 [0.650, 0.750] (newest of 2 runs)" in with_overlay and "+26.0 pp" in with_overlay
    assert "`fixture-vgg16-new`: 64 px, 3 ep, scratch" in with_overlay
    assert "mask/label overlay in input" in with_overlay
    collapsed_line = next(line for line in lines if "dajam2025_vgg16" in line)
    assert "0.560; predicts benign for every case" in collapsed_line
    assert "predicts" not in with_overlay
    without = next(line for line in lines if "0.76" in line)
    assert "+6.0 pp" in without and "mask/label overlay" not in without
    unet = next(line for line in lines if "baniadam2021_unet" in line)
    assert "0.570 [0.540, 0.600]; paper-compatible 0.560" in unet and "+34.0 pp" in unet
    li = [line for line in lines if "li2025_resnet34" in line]
    assert len(li) == 2 and all("not yet run" in line for line in li)
    assert any("`cheyi2024_unet`" in line and "no segmentation metric" in line for line in lines)
    assert "| `cheyi2024_vgg16` | P | classification | input 224 px |" in lines  # the choices only
    assert "| `cheyi2024_unet` | P | segmentation | Dice loss |" in lines  # no choice: prefix, all notes
    assert not any(line.startswith("| `li2025") for line in lines)  # unregistered: not in the choices table


def _readme_args(readme: Path, *flag: str) -> list[str]:
    return ["report", "seeds", *flag, str(readme), "--results", str(REPO / "leaderboard" / "results"),
            "--published", str(REPO / "leaderboard" / "published.csv")]


def test_committed_readme_block_is_current(capsys):
    assert main(_readme_args(REPO / "README.md", "--check")) == 0, capsys.readouterr().err


def test_check_fails_on_a_stale_readme_and_write_renews_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    BEGIN, END = markers("seeds")  # noqa: N806
    head, rest = readme.read_text().split(BEGIN, 1)
    readme.write_text(f"{head}{BEGIN}\n| stale | table |\n{END}{rest.split(END, 1)[1]}")
    assert main(_readme_args(readme, "--check")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of date" in err
    assert main(_readme_args(readme, "--write")) == 0
    assert readme.read_text() == (REPO / "README.md").read_text()
    assert main(_readme_args(readme, "--check")) == 0
    readme.write_text("no markers here\n")
    assert main(_readme_args(readme, "--check")) == 2
