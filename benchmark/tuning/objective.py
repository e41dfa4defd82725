"""The objective of one outer fold's study: train on the fold's ``train`` part, score on its ``val`` part only.

Each trial trains in the outer fold's :class:`~benchmark.engine.plugin_process.PluginProcess`, which was given the
fold's ``train`` and ``val`` cases and nothing else: no trial can read, score on or select with the outer test
cases. Each epoch's validation score is reported
to the trial (the pruner may stop it); the trial's value is the best validation score over its epochs, the score of
the epoch the engine would select.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from benchmark.engine.loop import PluginError, TrainSettings
from benchmark.engine.plugin_process import PluginProcess
from benchmark.plugins.spec import SearchParam
from benchmark.plugins.submission import Submission
from benchmark.tuning.space import suggest
from benchmark.tuning.worker import ERROR_ATTR, SURPLUS_ATTR, check_place


def make_objective(cls: type[Submission], base: Mapping[str, Any], space: Mapping[str, SearchParam],
                   plugin: PluginProcess, *, fold: int, seed: int, n_trials: int,
                   progress: bool = False) -> Callable[[optuna.Trial], float]:
    """The objective of the study of outer fold ``fold``.

    Args:
        cls: The submission class (its hyper-parameters are checked here before a trial trains).
        base: Hyper-parameters the search space's values are laid over.
        space: The search space.
        plugin: The fold's plugin process, loaded with its inner training cases and the inner validation cases
            (the only cases a trial is scored on).
        fold: Outer fold number (part of the training seeds, as in ``busbench run``).
        seed: Run seed.
        n_trials: The study's requested number of trials (a trial beyond it stops before training).
        progress: Show batch progress bars.

    Returns:
        ``objective(trial) -> best validation score``; raises ``optuna.TrialPruned`` when the pruner says so and
        :class:`~benchmark.engine.loop.PluginError` (recorded as the trial's ``error`` attribute) when the
        submission's code fails.
    """

    def objective(trial: optuna.Trial) -> float:
        check_place(trial, n_trials)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # which process ran it
        hparams = cls({**base, **suggest(trial, space)}).hparams
        settings = TrainSettings(int(hparams["epochs"]), int(hparams["batch_size"]), seed, fold, progress)

        def report(epoch: int, score: float) -> None:
            # Time spent training so far, kept with each epoch: a trial killed later still counts what it trained,
            # and never the time until another worker noticed it was dead.
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch} (validation {score:.4f})")

        plugin.start()  # once per fold: its start-up is not a trial's training time
        started = time.perf_counter()
        try:
            # A trial never resumes mid-way (a retried trial starts afresh), so its checkpoint is scratch.
            trained = plugin.train(hparams, settings, None, on_epoch=report)
        except PluginError as exc:
            trial.set_user_attr(ERROR_ATTR, str(exc))
            raise
        trial.set_user_attr("best_epoch", trained.best_epoch)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        return max(h["val_score"] for h in trained.history)

    return objective


def describe_trial(fold: int, trial: FrozenTrial) -> str:
    """One line on an ended trial, for the log."""
    value = f"value {trial.value:.4f}" if trial.value is not None else ""
    if trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values:
        last = max(trial.intermediate_values)
        value = f"pruned after epoch {last} (validation {trial.intermediate_values[last]:.4f})"
    surplus = "surplus: the study was full" if SURPLUS_ATTR in trial.user_attrs else ""
    extra = trial.user_attrs.get(ERROR_ATTR) or surplus
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(trial.params.items()))
    return f"fold {fold} trial {trial.number}: {trial.state.name.lower()} {value} {params} {extra}".rstrip()


def print_trial(fold: int) -> Callable[[FrozenTrial], None]:
    """A callback printing :func:`describe_trial` to stderr."""
    return lambda trial: print(describe_trial(fold, trial), file=sys.stderr)
