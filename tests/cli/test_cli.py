"""The command line as a user meets it: outputs, exit codes, one-line errors, nothing half written."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from tests.helpers import tiny_busi

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_data_info_text_and_json(tmp_path, capsys):
    root = tiny_busi(tmp_path, per_class=4)
    code, out, _ = run(capsys, "data", "info", str(root))
    assert code == 0 and "normal 4, benign 4, malignant 4" in out and "fingerprint" in out
    code, out, _ = run(capsys, "data", "info", str(root), "--json")
    info = json.loads(out)
    assert info["cases"] == 12 and info["mask_files"] == 12 and info["empty_masks"]["normal"] == 4
    assert info["height_range"] == [24, 24] and info["width_range"] == [32, 32]


def test_data_manifest_csv_and_json(tmp_path, capsys):
    root = tiny_busi(tmp_path)
    code, out, _ = run(capsys, "data", "manifest", str(root), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 9
    assert {"case_id", "image", "label", "mask", "group", "fingerprint"} <= set(rows[0])
    out_file = tmp_path / "m.json"
    code, _, _ = run(capsys, "data", "manifest", str(root), "--format", "json", "--out", str(out_file))
    assert code == 0 and len(json.loads(out_file.read_text())["cases"]) == 9


def test_splits_make_verify_show(tmp_path, capsys):
    root = tiny_busi(tmp_path / "d", per_class=9)
    split = tmp_path / "s.json"
    code, out, _ = run(capsys, "splits", "make", str(root), "--k", "3", "--out", str(split))
    assert code == 0 and split.exists() and "near-duplicate on their training side: 0" in out
    code, out, _ = run(capsys, "splits", "verify", str(split), str(root))
    assert code == 0 and out.startswith("OK")
    code, out, _ = run(capsys, "splits", "show", str(split), "--json")
    assert code == 0 and len(json.loads(out)["folds"]) == 3
    # made once: no silent overwrite
    before = split.read_bytes()
    code, _, err = run(capsys, "splits", "make", str(root), "--k", "3", "--out", str(split))
    assert code == 2 and "exists already" in err and split.read_bytes() == before


def test_errors_are_one_line_and_nonzero(tmp_path, capsys):
    root = tiny_busi(tmp_path / "d")
    (root / "Dataset_BUSI_with_GT" / "benign" / "benign (1).png").write_bytes(b"truncated")
    out_file = tmp_path / "never.json"
    code, out, err = run(capsys, "splits", "make", str(root), "--k", "2", "--out", str(out_file))
    assert code == 2 and err.count("\n") == 1 and err.startswith("busbench: error: ")
    assert "benign (1).png" in err and not out_file.exists()
    code, _, err = run(capsys, "data", "info", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err


def test_console_script_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmark", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("busbench ")


@pytest.mark.parametrize("cmd", [["data", "info"], ["splits", "make"], ["splits", "verify"], ["splits", "show"]])
def test_help_lists_every_command(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*cmd, "--help"])
    assert exc.value.code == 0 and "usage: busbench" in capsys.readouterr().out


@pytest.mark.slow
def test_end_to_end_on_real_busi(busi_dir, capsys):
    code, out, _ = run(capsys, "data", "info", str(busi_dir), "--json")
    info = json.loads(out)
    assert code == 0 and info["classes"] == {"normal": 133, "benign": 437, "malignant": 210}
    assert info["mask_files"] == 798 and info["cases_with_several_masks"] == 17
    # re-detect duplicates on the real data and check both committed files against them
    code, out, _ = run(capsys, "splits", "show", str(REPO / "splits/busi/5fold_grouped.json"), str(busi_dir))
    assert code == 0 and "near-duplicate on their training side: 0 of 780" in out
    code, out, _ = run(capsys, "splits", "show", str(REPO / "splits/busi/5fold_naive.json"), str(busi_dir))
    assert code == 0 and "near-duplicate on their training side: 275 of 780 (35.3%)" in out
    code, out, _ = run(capsys, "data", "duplicates", str(busi_dir))
    assert code == 0 and "benign-433 (benign), malignant-145 (malignant)" in out


def test_import_busbra_published_folds(tmp_path, capsys):
    from tests.fixtures_busbra import write_busbra

    fx = write_busbra(tmp_path / "BUSBRA", n_patients=10, images_per_patient=2, ks=(5,))
    out_file = tmp_path / "busbra_5fold.json"
    code, out, _ = run(capsys, "splits", "import-busbra", str(fx.root), "--k", "5", "--out", str(out_file))
    assert code == 0 and "same-patient image on their training side: 0" in out
    from benchmark.data.case import case_id_from_name
    from benchmark.data.open import open_dataset
    from benchmark.splits.verify import load_split

    split = load_split(out_file, open_dataset(fx.root))
    for i, fold in enumerate(split.folds):
        expected = {case_id_from_name(x) for x, f in fx.test_fold[5].items() if f == i + 1}
        assert set(fold.test) == expected
        val = {case_id_from_name(x) for x, flags in fx.valid[5].items() if flags.get(i + 1) == 0}
        assert set(fold.val) == val


def _every_help() -> dict[str, str]:
    """The --help text of every command and sub-command, as a user sees it."""
    import argparse

    from benchmark.cli import build_parser
    from benchmark.cli.audit_cmds import ACTIONS

    out: dict[str, str] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        out[path] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")

    walk(build_parser(), "busbench")
    for name, (make, _) in ACTIONS.items():
        out[f"busbench audit {name}"] = make().format_help()
    return out


def test_no_help_text_shows_a_doubled_percent_sign_or_runs_usages_together():
    helps = _every_help()
    assert len(helps) > 20
    assert not [path for path, text in helps.items() if "%%" in text]
    audit = helps["busbench audit"].splitlines()
    assert audit[:4] == ["usage: ", "  busbench audit DATASET [options]", "  busbench audit rescore RUN [options]",
                         "  busbench audit protocols SUBMISSION --dataset D [options]"]


@pytest.mark.parametrize("command", [
    lambda f, d: ["splits", "verify", str(f), d],
    lambda f, d: ["splits", "show", str(f), d],
    lambda f, d: ["tune", "small_cnn", "--dataset", d, "--splits", str(f), "--trials", "1", "--space", str(f)],
])
def test_a_deeply_nested_json_file_is_a_one_line_error(tmp_path, capsys, command):
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run(capsys, *command(nested, "synthetic:n=45,size=48"))
    assert code == 2 and err.count("\n") == 1 and str(nested) in err, err
    assert "nested more deeply than a JSON reader follows" in err
