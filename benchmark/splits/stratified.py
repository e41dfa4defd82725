"""scikit-learn's ``StratifiedGroupKFold(shuffle=True)``, with its per-group fold choice computed in one array step.

Split files record that their folds come from scikit-learn's ``StratifiedGroupKFold`` and with which version (see
:mod:`benchmark.splits.provenance`), so the folds must stay exactly what that class makes. It deals the groups one at
a time (the most unevenly labelled first) to the fold whose class proportions then spread least, a tie (within
``numpy.isclose``) going to the fold with fewer cases. scikit-learn evaluates the k candidate folds of every group in
a Python loop, each with ``numpy.std`` and ``numpy.isclose`` on small arrays: about 0.3 s for BUSI's 5 folds on a
2-core AMD EPYC, and a split is dealt six times (the outer folds, then each training side's validation part). Here
the k candidates are evaluated as one (k, k, classes) array, with the same operations in the same order, so every
figure and therefore every choice is the same; only this step is replaced, the rest is scikit-learn's own
(``tests/splits/test_stratified.py`` compares the two on random and tied inputs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

# numpy.isclose's defaults, which scikit-learn's tie rule uses
_RTOL, _ATOL = 1e-05, 1e-08


def _close(a: float, b: float) -> bool:
    """``numpy.isclose(a, b)`` for a finite ``a``: ``|a - b| <= atol + rtol * |b|``, false when ``b`` is infinite."""
    return math.isfinite(b) and abs(a - b) <= _ATOL + _RTOL * abs(b)


def best_fold(y_counts_per_fold: np.ndarray, y_cnt: np.ndarray, group_y_counts: np.ndarray) -> int:
    """The fold a group goes to: the one whose class proportions spread least with the group added.

    Args:
        y_counts_per_fold: (k, classes) cases of each class dealt to each fold so far.
        y_cnt: (classes,) cases of each class in all.
        group_y_counts: (classes,) the group's cases of each class.

    Returns:
        The first fold with the lowest mean over classes of the standard deviation over folds of the class's share,
        a later fold winning a tie (``numpy.isclose``) only when it holds fewer cases.
    """
    k = y_counts_per_fold.shape[0]
    proposed = np.repeat(y_counts_per_fold[None], k, axis=0)  # candidate i: the group added to fold i
    proposed[np.arange(k), np.arange(k)] += group_y_counts
    evals = np.mean(np.std(proposed / y_cnt.reshape(1, 1, -1), axis=1), axis=1).tolist()
    samples = y_counts_per_fold.sum(axis=1).tolist()
    best, min_eval, min_samples = 0, math.inf, math.inf
    for i, (value, size) in enumerate(zip(evals, samples, strict=True)):
        if value < min_eval or (_close(value, min_eval) and size < min_samples):
            best, min_eval, min_samples = i, value, size
    return best


@cache
def _splitter_class() -> type[Any]:
    from sklearn.model_selection import StratifiedGroupKFold

    class _StratifiedGroupKFold(StratifiedGroupKFold):
        def _find_best_fold(self, y_counts_per_fold: np.ndarray, y_cnt: np.ndarray,
                            group_y_counts: np.ndarray) -> int:
            return best_fold(y_counts_per_fold, y_cnt, group_y_counts)

    return _StratifiedGroupKFold


def stratified_group_folds(labels: Sequence[str], groups: Sequence[str], k: int, seed: int) -> list[np.ndarray]:
    """The k test parts (index arrays, ascending) of ``StratifiedGroupKFold(k, shuffle=True, random_state=seed)``."""
    splitter = _splitter_class()(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), labels, groups)]
