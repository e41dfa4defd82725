"""Classification metrics against scikit-learn (the independent reference) and hand computations."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.metrics.classification import (
    CLASSES,
    MALIGNANT,
    accuracy,
    auc_malignant,
    auc_one_vs_rest,
    auc_ovr_macro,
    balanced_accuracy,
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    log_loss,
    precision_recall_f1,
    sensitivity_malignant,
    sensitivity_specificity_malignant,
    specificity_malignant,
)
from benchmark.metrics.undefined import MetricUndefinedError

LABELS = [0, 1, 2]
SEEDS = [0, 1, 2, 3, 4]


def random_case(seed: int, n: int = 120, concentration: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels with every class present, and Dirichlet probabilities mildly tilted towards the truth."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    y[:3] = [0, 1, 2]
    logits = rng.normal(size=(n, 3)) * concentration
    logits[np.arange(n), y] += rng.uniform(0, 1.5)
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True)


def tied_case(seed: int, n: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities drawn from five fixed rows, so scores tie heavily (including argmax ties)."""
    rng = np.random.default_rng(seed)
    rows = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.2, 0.2], [0.1, 0.2, 0.7]])
    y = rng.integers(0, 3, n)
    y[:3] = [0, 1, 2]
    return y, rows[rng.integers(0, len(rows), n)]


def ece_by_hand(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    conf = p.max(1)
    correct = p.argmax(1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        inside = (conf > lo) & (conf <= hi) if b > 0 else (conf >= lo) & (conf <= hi)
        if inside.any():
            total += inside.sum() / len(y) * abs(correct[inside].mean() - conf[inside].mean())
    return total


@pytest.mark.parametrize("make", [random_case, tied_case])
@pytest.mark.parametrize("seed", SEEDS)
def test_against_sklearn(make, seed: int) -> None:
    y, p = make(seed)
    pred = p.argmax(1)
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    assert balanced_accuracy(y, p) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    np.testing.assert_array_equal(confusion_matrix(y, p), skm.confusion_matrix(y, pred, labels=LABELS))
    prf = precision_recall_f1(y, p)
    ref_p, ref_r, ref_f, ref_s = skm.precision_recall_fscore_support(y, pred, labels=LABELS, zero_division=0)
    np.testing.assert_allclose(prf.precision, ref_p)
    np.testing.assert_allclose(prf.recall, ref_r)
    np.testing.assert_allclose(prf.f1, ref_f)
    assert prf.support == tuple(ref_s)
    macro = skm.precision_recall_fscore_support(y, pred, labels=LABELS, average="macro", zero_division=0)
    assert (prf.macro_precision, prf.macro_recall, prf.macro_f1) == pytest.approx(macro[:3])
    assert auc_ovr_macro(y, p) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    for c in LABELS:
        assert auc_one_vs_rest(y, p, c) == pytest.approx(skm.roc_auc_score(y == c, p[:, c]))
    assert auc_malignant(y, p) == pytest.approx(skm.roc_auc_score(y == MALIGNANT, p[:, MALIGNANT]))
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=LABELS))
    sens, spec = sensitivity_specificity_malignant(y, p)
    assert sens == pytest.approx(skm.recall_score(y == 2, pred == 2))
    assert spec == pytest.approx(skm.recall_score(y != 2, pred != 2))
    for n_bins in (15, 10, 3, 1):
        assert expected_calibration_error(y, p, n_bins) == pytest.approx(ece_by_hand(y, p, n_bins))


def test_argmax_ties_go_to_lower_class() -> None:
    y = np.array([0, 1, 1])
    p = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_array_equal(confusion_matrix(y, p), [[1, 0, 0], [1, 1, 0], [0, 0, 0]])


def test_ece_hand_example_with_bin_edges() -> None:
    # Two bins (0, .5] and (.5, 1]: confidence exactly 0.5 belongs to the first.
    y = np.array([1, 1, 2, 2])
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.0, 0.1, 0.9]])
    # bin 1: confidences .5, .5, both wrong -> |0 - .5|; bin 2: .8, .9, both right -> |1 - .85|.
    # (Were 0.5 put in the upper bin, the single bin would give |.5 - .675| = .175.)
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(2 / 4 * 0.5 + 2 / 4 * 0.15)


def test_perfect_predictions() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    p = np.eye(3)[y]
    report = classification_report(y, p)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "auc_ovr_macro", "auc_malignant",
                "sensitivity_malignant", "specificity_malignant"):
        assert report[key] == 1.0, key
    assert report["log_loss"] == 0.0
    assert report["ece"] == 0.0
    assert report["undefined"] == {} and report["notes"] == []


def test_missing_class_is_undefined_not_a_number() -> None:
    y, p = random_case(7)
    keep = y != 0  # a fold without a normal case
    y, p = y[keep], p[keep]
    for fn in (balanced_accuracy, auc_ovr_macro, precision_recall_f1):
        with pytest.raises(MetricUndefinedError, match="normal"):
            fn(y, p)
    with pytest.raises(MetricUndefinedError):
        auc_one_vs_rest(y, p, 0)
    report = classification_report(y, p)
    for key in ("balanced_accuracy", "macro_precision", "macro_recall", "macro_f1", "auc_ovr_macro"):
        assert report[key] is None and "normal" in report["undefined"][key]
    assert report["per_class"]["normal"]["recall"] is None
    assert "per_class.normal.recall" in report["undefined"]
    assert "per_class.normal.auc_ovr" in report["undefined"]
    # What is still defined agrees with scikit-learn.
    pred = p.argmax(1)
    _, ref_r, ref_f, _ = skm.precision_recall_fscore_support(y, pred, labels=LABELS, zero_division=0)
    assert report["per_class"]["benign"]["recall"] == pytest.approx(ref_r[1])
    assert report["per_class"]["malignant"]["f1"] == pytest.approx(ref_f[2])
    assert report["auc_malignant"] == pytest.approx(skm.roc_auc_score(y == 2, p[:, 2]))
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))


def test_no_malignant_and_all_malignant() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1]])
    with pytest.raises(MetricUndefinedError, match="malignant"):
        auc_malignant(y, p)
    with pytest.raises(MetricUndefinedError, match="malignant"):
        sensitivity_malignant(y, p)
    with pytest.raises(MetricUndefinedError):
        sensitivity_specificity_malignant(y, p)
    assert specificity_malignant(y, p) == 0.75
    report = classification_report(y, p)
    assert report["auc_malignant"] is None and report["sensitivity_malignant"] is None
    assert report["specificity_malignant"] == 0.75
    y_all = np.array([2, 2])
    p_all = np.array([[0.1, 0.1, 0.8], [0.5, 0.2, 0.3]])
    with pytest.raises(MetricUndefinedError, match="non-malignant"):
        specificity_malignant(y_all, p_all)
    report = classification_report(y_all, p_all)
    assert report["sensitivity_malignant"] == 0.5
    assert report["specificity_malignant"] is None and "specificity_malignant" in report["undefined"]
    assert report["auc_malignant"] is None


def test_single_case() -> None:
    report = classification_report(np.array([1]), np.array([[0.2, 0.5, 0.3]]))
    assert report["accuracy"] == 1.0 and report["n_cases"] == 1
    assert report["auc_ovr_macro"] is None and report["auc_malignant"] is None
    assert report["log_loss"] == pytest.approx(-math.log(0.5))
    assert report["ece"] == pytest.approx(0.5)


def test_never_predicted_class_has_precision_zero_and_a_note() -> None:
    y = np.array([0, 0, 1, 2, 2])
    p = np.array([[0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]])
    report = classification_report(y, p)
    assert report["per_class"]["normal"]["precision"] == 0.0
    assert report["per_class"]["normal"]["recall"] == 0.0
    assert any("normal" in note for note in report["notes"])
    ref = skm.precision_recall_fscore_support(y, p.argmax(1), labels=LABELS, average="macro", zero_division=0)
    assert report["macro_precision"] == pytest.approx(ref[0])
    assert report["macro_f1"] == pytest.approx(ref[2])


def test_log_loss_clips_zero_probability() -> None:
    y = np.array([0, 1])
    p = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert log_loss(y, p) == pytest.approx(-math.log(1e-15) / 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_report_is_json_ready_and_consistent(seed: int) -> None:
    y, p = random_case(seed, n=60)
    report = classification_report(y, p)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["classes"] == list(CLASSES)
    assert report["confusion_matrix"] == confusion_matrix(y, p).tolist()
    assert report["balanced_accuracy"] == pytest.approx(report["macro_recall"])
    assert sum(report["support"].values()) == report["n_cases"] == 60


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        (np.array([0, 1]), np.full((3, 3), 1 / 3), "shape"),
        (np.array([0, 3]), np.full((2, 3), 1 / 3), "outside"),
        (np.array([0.0, 1.0]), np.full((2, 3), 1 / 3), "integer"),
        (np.array([0, 1]), np.array([[0.5, 0.5, 0.5], [0.2, 0.3, 0.5]]), "sum to 1"),
        (np.array([0, 1]), np.array([[1.2, -0.2, 0.0], [0.2, 0.3, 0.5]]), "negative"),
        (np.array([0, 1]), np.array([[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5]]), "non-finite"),
        (np.array([], dtype=int), np.zeros((0, 3)), "empty"),
        (np.zeros((2, 1), dtype=int), np.full((2, 3), 1 / 3), "one-dimensional"),
    ],
)
def test_bad_input_raises_value_error(y: np.ndarray, p: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        accuracy(y, p)
    assert not isinstance(info.value, MetricUndefinedError)


def test_ece_rejects_bad_bins() -> None:
    y, p = random_case(0, n=10)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, p, n_bins=0)


def test_metrics_import_neither_torch_nor_sklearn() -> None:
    # The evaluator must run where only numpy/scipy are installed; scikit-learn is the tests' reference only.
    code = "import sys, benchmark.metrics; print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- benign vs malignant (two columns) ----------------------------------------------------------------------------
def binary_case(seed: int, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Benign (0) / malignant (1) labels and two-column probabilities, mildly tilted towards the truth, with ties."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    score = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1).round(1)  # rounding makes ties
    return y, np.stack([1 - score, score], 1)


@pytest.mark.parametrize("seed", SEEDS)
def test_two_classes_against_sklearn(seed: int) -> None:
    y, p = binary_case(seed)
    pred = p.argmax(1)
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    assert balanced_accuracy(y, p) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    np.testing.assert_array_equal(confusion_matrix(y, p), skm.confusion_matrix(y, pred, labels=[0, 1]))
    prf = precision_recall_f1(y, p)
    macro = skm.precision_recall_fscore_support(y, pred, labels=[0, 1], average="macro", zero_division=0)
    assert (prf.macro_precision, prf.macro_recall, prf.macro_f1) == pytest.approx(macro[:3])
    auc = skm.roc_auc_score(y, p[:, 1])
    assert auc_malignant(y, p) == pytest.approx(auc) and auc_ovr_macro(y, p) == pytest.approx(auc)
    sens, spec = sensitivity_specificity_malignant(y, p)
    assert sens == pytest.approx(skm.recall_score(y, pred)) and spec == pytest.approx(skm.recall_score(1 - y, 1 - pred))
    assert balanced_accuracy(y, p) == pytest.approx((sens + spec) / 2)
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=[0, 1]))
    report = classification_report(y, p)
    assert report["classes"] == ["benign", "malignant"] and set(report["per_class"]) == {"benign", "malignant"}
    assert report["undefined"] == {} and len(report["confusion_matrix"]) == 2


def test_two_classes_refuse_other_shapes_and_labels() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 3\) \(normal, benign, malignant\) or \(2, 2\) \(benign, "):
        accuracy(np.array([0, 1]), np.full((2, 4), 0.25))
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        accuracy(np.array([0, 2]), np.full((2, 2), 0.5))
    with pytest.raises(MetricUndefinedError, match="no case of class malignant"):
        balanced_accuracy(np.array([0, 0]), np.full((2, 2), 0.5))
