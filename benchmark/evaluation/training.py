"""How a run was trained, read from its folder: its budget, and whether its training converged.

Every table that shows a score also shows how it was bought (:func:`budget_text`) and what the per-epoch history
says about it (:func:`convergence`), so that a number from a short, from-scratch or stalled run is not read as a
trained model's. Pure functions of a run's documents (``run.json``, ``metrics.json`` and its folds'
``fold-K/result.json``), computed the same way for ``busbench run``/``tune``, ``busbench results list``, the README
tables and the leaderboard; :func:`read_fold_results` is the one reader of the fold files.

Flags (see :func:`convergence`):

* **still improving (budget-limited)**: the selected (best-validation) epoch lies in the last tenth of the epochs
  trained (the last epoch alone below 20 epochs: ``best_epoch > n - max(1, floor(n / 10))``) in more than half of
  the completed folds. The model was still getting better on validation when the epoch budget stopped it.
* **did not learn**: the training loss never fell clearly below the chance-level loss, i.e. its minimum over the
  epochs is not below ``CLEARLY_BELOW`` (0.95) times the chance level in more than half of the completed folds.
  A network that never left its starting point sits at the chance level (ratio 0.99-1.00 on the committed runs that
  predict one class for every case); dropout and augmentation keep the training loss of models that do learn
  within 0.85-0.95 of it early on, hence 0.95 and not lower.
* **learning unknown**: the chance level cannot be derived from what the run records; never guessed.

Chance-level loss: the loss of the best prediction that ignores the image. Classification with the engine's
cross-entropy: predicting the class prior ``p`` for every case, whose loss is the entropy ``H(p) = -sum_c p_c ln
p_c`` (``ln 3`` = 1.099 for balanced classes; 0.980 for BUSI's 133/437/210). ``p`` is read from the scored cases'
labels (``metrics.json`` ``pooled.per_class[c].support``): the folds are stratified, so every training part has the
same distribution up to rounding. Segmentation (the engine's BCE + soft Dice, or a paper's ``seg_loss``) and the
two-stage classifiers (cross-entropy plus a segmentation loss) have chance levels that depend on the share of
lesion pixels in the training masks, e.g. ``H(pi) + 1 - pi`` for BCE + Dice predicting the pixel prior ``pi``, and
``SegmentationSubmission`` sums its loss over however many maps the model returns (U^2-Net: seven); no run records
either, so their learning flag is "unknown". A classification run whose hyper-parameters name a ``seg_loss`` is
such a two-stage run; any other classification run trained with the engine's cross-entropy (no registered
classification submission overrides it otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from benchmark.results.rundir import RunDir

#: A fold "learned" when its minimum training loss is below this share of the chance-level loss.
CLEARLY_BELOW = 0.95
#: A fold is "still improving" when its selected epoch lies in this last share of its epochs (at least one epoch).
LAST_SHARE = 0.1
STILL_IMPROVING = "still improving (budget-limited)"
DID_NOT_LEARN = "did not learn"
LEARNING_UNKNOWN = "learning unknown"


@dataclass(frozen=True)
class FoldCurve:
    """What one completed fold's history says.

    Attributes:
        fold: The fold.
        epochs: Epochs trained (entries of its history).
        best_epoch: The selected epoch (1-based), ``None`` when not recorded.
        min_train_loss: The lowest epoch-mean training loss, ``None`` when no epoch recorded one.
    """

    fold: int
    epochs: int
    best_epoch: int | None
    min_train_loss: float | None


@dataclass(frozen=True)
class Convergence:
    """A run's convergence evidence.

    Attributes:
        folds: The completed folds with a history.
        budget_limited: Whether the run was still improving (``None``: no completed fold with a history).
        chance_loss: The chance-level training loss, ``None`` when it cannot be derived.
        did_not_learn: Whether the training loss never fell clearly below it (``None``: unknown).
    """

    folds: tuple[FoldCurve, ...]
    budget_limited: bool | None
    chance_loss: float | None
    did_not_learn: bool | None

    def flags(self) -> list[str]:
        """The flags in words (empty for a run that learned and stopped improving before its budget ran out).

        A run without any completed fold history (predictions made outside busbench, a run whose folds all
        failed) has no flag at all: there is no training to judge.
        """
        if not self.folds:
            return []
        out = [STILL_IMPROVING] if self.budget_limited else []
        if self.did_not_learn is None:
            out.append(LEARNING_UNKNOWN)
        elif self.did_not_learn:
            out.append(DID_NOT_LEARN)
        return out

    def text(self) -> str:
        """The flags joined by ``"; "`` (``""`` when there is none)."""
        return "; ".join(self.flags())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def fold_curves(fold_results: Iterable[dict[str, Any] | None]) -> tuple[FoldCurve, ...]:
    """The completed folds that recorded a history, as :class:`FoldCurve` (failed and unfinished folds dropped).

    Args:
        fold_results: Parsed ``fold-K/result.json`` documents (``None`` for a fold that has none).
    """
    out: list[FoldCurve] = []
    for doc in fold_results:
        if not isinstance(doc, dict) or doc.get("status", "completed") != "completed":
            continue
        history = [h for h in doc.get("history") or [] if isinstance(h, dict)]
        if not history:
            continue
        losses = [x for h in history if (x := _number(h.get("train_loss"))) is not None]
        best = doc.get("best_epoch")
        out.append(FoldCurve(fold=int(doc.get("fold", len(out))), epochs=len(history),
                             best_epoch=best if isinstance(best, int) and not isinstance(best, bool) else None,
                             min_train_loss=min(losses) if losses else None))
    return tuple(out)


def _most(flags: Sequence[bool]) -> bool:
    return sum(flags) * 2 > len(flags)


def still_improving(folds: Sequence[FoldCurve]) -> bool | None:
    """Whether the selected epoch lies in the last tenth of the epochs in more than half of the folds.

    The last tenth is the last ``max(1, floor(LAST_SHARE * n))`` of a fold's ``n`` epochs (a single epoch: always
    its last, so a one-epoch run is budget-limited). Folds without a recorded best epoch do not count.

    Returns:
        ``None`` when no fold recorded a best epoch.
    """
    judged = [(f.best_epoch, f.epochs) for f in folds if f.best_epoch is not None]
    if not judged:
        return None
    return _most([best > epochs - max(1, math.floor(LAST_SHARE * epochs)) for best, epochs in judged])


def class_entropy(counts: Iterable[float]) -> float | None:
    """Entropy in nats of a class distribution given by its counts: ``-sum p ln p`` (``None`` without any count)."""
    values = [float(c) for c in counts if c > 0]
    total = sum(values)
    if total <= 0:
        return None
    return -sum(c / total * math.log(c / total) for c in values)


def chance_loss(run: dict[str, Any], metrics: dict[str, Any]) -> float | None:
    """The chance-level training loss of a run (module docstring), ``None`` when it cannot be derived.

    Args:
        run: Its ``run.json``.
        metrics: Its ``metrics.json`` (the class supports; an external run's are those of its training data, scored
            on its own folds, and unknown for one trained with ``--train all``).
    """
    hparams = hparams if isinstance(hparams := run.get("hparams"), dict) else {}
    if run.get("task") != "classification" or "seg_loss" in hparams:
        return None
    if "pooled" not in metrics and isinstance(metrics.get("internal"), dict):
        metrics = metrics["internal"]  # an external run: its models trained on the training data's folds
    pooled = pooled if isinstance(pooled := metrics.get("pooled"), dict) else {}
    per_class = per_class if isinstance(per_class := pooled.get("per_class"), dict) else {}
    supports = [row.get("support") for row in per_class.values() if isinstance(row, dict)]
    if not supports or not all(_number(s) is not None for s in supports):
        return None
    return class_entropy(cast("list[float]", supports))  # every one a number (checked above)


def did_not_learn(folds: Sequence[FoldCurve], chance: float | None) -> bool | None:
    """Whether the minimum training loss stayed at or above ``CLEARLY_BELOW * chance`` in most folds.

    "Most" is more than half of the folds that recorded a training loss: a run learned when more than half of them
    got below. ``None`` when ``chance`` is unknown or no fold recorded a training loss.
    """
    judged = [f.min_train_loss for f in folds if f.min_train_loss is not None]
    if chance is None or not judged:
        return None
    return not _most([loss < CLEARLY_BELOW * chance for loss in judged])


def convergence(run: dict[str, Any], metrics: dict[str, Any] | None,
                fold_results: Iterable[dict[str, Any] | None]) -> Convergence:
    """A run's convergence evidence from its documents (see the module docstring for the rules).

    Args:
        run: Its ``run.json``.
        metrics: Its ``metrics.json`` (``None`` when it has none).
        fold_results: Its folds' ``result.json`` documents (:func:`read_fold_results`).
    """
    folds = fold_curves(fold_results)
    chance = chance_loss(run, metrics or {})
    return Convergence(folds, still_improving(folds), chance, did_not_learn(folds, chance))


def read_fold_results(run_dir: str | Path | None, run: dict[str, Any]) -> list[dict[str, Any] | None]:
    """The ``fold-K/result.json`` documents of the folds ``run.json`` lists (``[]`` when the folder is not here).

    An unreadable file counts as missing: the flags then rest on the other folds.
    """
    if not run_dir or not Path(run_dir).is_dir():
        return []
    folds = folds if isinstance(folds := run.get("folds"), dict) else {}
    rd, out = RunDir(run_dir), []
    for key in sorted(folds, key=str):
        try:
            out.append(rd.fold_result(int(key)))
        except (ValueError, OSError):
            out.append(None)
    return out


def budget_text(run: dict[str, Any]) -> str:
    """How a run's score was bought: input size, epochs, and the pretrained weights' source or ``scratch``.

    For example ``"224 px, 30 ep, ImageNet (timm: resnet18.a1_in1k)"`` or ``"128 px, 30 ep, scratch"``. The
    pretrained source is the submission's ``pretrained`` string (its spec), shown only when the run used it
    (``run.json`` ``pretrained`` true). Predictions scored with ``busbench evaluate`` (kind ``predictions``) were
    trained elsewhere, and their budget is not known; any other field a run does not record is named as such.
    """
    if run.get("kind") == "predictions":
        return "trained outside busbench: budget not recorded"
    size, epochs = run.get("image_size"), run.get("epochs")
    sub = sub if isinstance(sub := run.get("submission"), dict) else {}
    source = str(sub.get("pretrained") or "").strip()
    if source.lower().startswith("imagenet"):
        source = "ImageNet" + source[len("imagenet"):]
    by_flag: dict[Any, str] = {True: source or "pretrained (source not recorded)", False: "scratch"}
    weights = by_flag.get(run.get("pretrained"), "weights not recorded")
    return ", ".join([f"{size} px" if isinstance(size, int) else "input size not recorded",
                      f"{epochs} ep" if isinstance(epochs, int) else "epochs not recorded", weights])



def trained_text(run: dict[str, Any], metrics: dict[str, Any] | None, run_dir: str | Path | None) -> str:
    """A run's budget and flags as every table shows them: ``"128 px, 30 ep, scratch; did not learn"``.

    Its collapse flag (:func:`benchmark.evaluation.score.constant_prediction`) is shown apart, beside the score.

    Args:
        run: Its ``run.json``.
        metrics: Its ``metrics.json`` (``None`` when it has none).
        run_dir: Its folder, where the fold histories are read (no flag when it is not on this machine).
    """
    flags = convergence(run, metrics, read_fold_results(run_dir, run)).text()
    return budget_text(run) + (f"; {flags}" if flags else "")


def how_trained(row: dict[str, Any]) -> str:
    """:func:`trained_text` of a results-store row (:meth:`benchmark.results.store.ResultsStore.list_runs`)."""
    run = run if isinstance(run := row.get("run_json"), dict) else {}
    return trained_text(run, row.get("metrics_json"), row.get("run_dir"))
