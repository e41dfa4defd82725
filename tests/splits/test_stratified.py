"""busbench's StratifiedGroupKFold deals every group to the fold scikit-learn's own class deals it to."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from benchmark.splits.stratified import stratified_group_folds


def _sklearn(labels, groups, k, seed):
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), labels, groups)]


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    classes = ["normal", "benign", "malignant"][: int(rng.integers(2, 4))]
    labels = rng.choice(classes, n, p=rng.dirichlet(np.ones(len(classes)) * 2)).tolist()
    if seed % 3 == 0:  # one case per group, all alike: every choice is a tie, decided by the fold sizes
        groups = [f"g{i}" for i in range(n)]
    else:  # groups of several cases, some of mixed labels
        groups = [f"g{g}" for g in rng.integers(0, max(5, n // int(rng.integers(1, 5))), n)]
    k = int(rng.integers(2, 7))
    return labels, groups, k, int(rng.integers(0, 1000))


@pytest.mark.parametrize("seed", range(60))
def test_the_folds_are_scikit_learns(seed):
    labels, groups, k, split_seed = _problem(seed)
    ours = stratified_group_folds(labels, groups, k, split_seed)
    theirs = _sklearn(labels, groups, k, split_seed)
    assert [t.tolist() for t in ours] == [t.tolist() for t in theirs]


def test_busi_sized_problems_match_too():
    rng = np.random.default_rng(1)
    labels = rng.choice(["normal", "benign", "malignant"], 780, p=[0.17, 0.56, 0.27]).tolist()
    groups = [f"g{g}" for g in rng.integers(0, 560, 780)]
    for seed in range(5):
        ours = stratified_group_folds(labels, groups, 5, seed)
        assert [t.tolist() for t in ours] == [t.tolist() for t in _sklearn(labels, groups, 5, seed)]
