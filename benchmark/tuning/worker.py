"""One worker's share of a study: run trials until the study holds the requested number, shared safely.

Any number of workers (processes, machines) may run :func:`run_study` on the same study at once, and a worker may
die at any point. The rules that keep the count exact:

* A trial *holds a place* when it is finished (complete, pruned, or failed by the submission's own code: those
  parameters would fail again) or still pending (running or waiting). A trial failed because its worker died
  (heartbeat gone stale) does not: its retry, queued with the same parameters, holds the place instead. A trial
  interrupted by Ctrl-C does not either, so a resumed study replaces it.
* A worker starts a trial only while fewer than ``n_trials`` places are held. Two workers can still start one each
  for the last place; the trial with the higher number then sees ``n_trials`` places held ahead of it, records
  itself as a surplus failure (user attribute ``surplus``) before training anything, and its worker's next look
  finds every place held.
* When every place is held but trials are still running elsewhere, the worker waits for them (and fails and retries
  stale ones), so every worker ends with the same finished study and picks the same best parameters.

Sampling is TPE (:class:`TrialSeededTPE`): the random stream of the trial at place ``k`` is seeded from
``(seed, k)``, which makes a one-worker study reproducible, a killed and resumed one propose the same parameters at
each place, and keeps parallel workers from drawing the same first points. A resumed worker may start the next place
before the dead trial's heartbeat goes stale, so its retry can end up with a higher trial number than the trial
that follows it: list trials in the order of their places with :func:`place_order`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import text

from benchmark.engine.loop import PluginError, derived_seed

#: Pruner names accepted by ``busbench tune --pruner``.
PRUNERS = ("median", "hyperband", "none")

#: Trial user attributes set by busbench.
ERROR_ATTR = "error"
SURPLUS_ATTR = "surplus"


class SurplusTrial(Exception):
    """The study already holds its requested number of trials ahead of this one (see module docstring)."""


def finished(trial: FrozenTrial) -> bool:
    """Complete, pruned, or failed by the submission's own code (not by a dead worker, Ctrl-C or surplus)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs


def holds_place(trial: FrozenTrial) -> bool:
    """Finished, running or waiting: counts towards the study's requested number of trials."""
    return finished(trial) or trial.state in (TrialState.RUNNING, TrialState.WAITING)


def place_order(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """``trials`` in the order of the places they hold: a retry sits where the dead trial it replaces started."""
    return sorted(trials, key=lambda t: (t.system_attrs.get("failed_trial", t.number), t.number))


def check_place(trial: optuna.Trial, n_trials: int) -> None:
    """Raise :class:`SurplusTrial` (recording it on the trial) when ``n_trials`` places are held ahead of it."""
    ahead = sum(1 for t in trial.study.get_trials(deepcopy=False) if t.number < trial.number and holds_place(t))
    if ahead >= n_trials:
        trial.set_user_attr(SURPLUS_ATTR, True)
        raise SurplusTrial(f"the study holds {n_trials} trials already")


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """TPE whose randomness for a trial is seeded from ``(seed, place)`` (one TPE sampler per trial).

    A trial's place is the number of earlier trials that hold a place in the study (:func:`holds_place`): a trial
    whose worker died holds none, and its retry takes its place. So a study that was killed and resumed seeds every
    later trial as the uninterrupted study would, and proposes the same parameters at each place (the trial
    numbers, which count the dead trial, differ; :func:`place_order` lists trials by place).

    Args:
        seed: Base seed (busbench derives it from the run seed and the outer fold).
    """

    def __init__(self, seed: int):
        self._seed = seed
        self._by_trial: dict[int, optuna.samplers.TPESampler] = {}

    def _inner(self, study: optuna.Study, trial: FrozenTrial) -> optuna.samplers.TPESampler:
        if trial.number not in self._by_trial:
            place = sum(1 for t in study.get_trials(deepcopy=False) if t.number < trial.number and holds_place(t))
            seed = derived_seed(self._seed, place) % 2**32  # numpy's RandomState takes 32-bit seeds
            self._by_trial[trial.number] = optuna.samplers.TPESampler(seed=seed)
        return self._by_trial[trial.number]

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Make the trial's own TPE sampler."""
        self._inner(study, trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        """Delegated to the trial's TPE sampler."""
        return self._inner(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        """Delegated to the trial's TPE sampler."""
        return self._inner(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> Any:
        """Delegated to the trial's TPE sampler."""
        return self._inner(study, trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Delegated, then the trial's sampler is dropped."""
        inner = self._by_trial.pop(trial.number, None)
        if inner is not None:
            inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Nothing to do: every trial is seeded from its place."""


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """The pruner for ``--pruner`` (median: Optuna's defaults; hyperband: 1..epochs epochs as the resource)."""
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}")


def fail_stale(study: optuna.Study, storage: RDBStorage) -> None:
    """Fail trials whose worker died; the storage's callback queues their retries with the same parameters.

    Optuna fails trials whose heartbeat went stale. A worker killed between creating a trial and its first heartbeat
    leaves a running trial with no heartbeat at all, which Optuna never fails; such a trial older than the grace
    period is failed and retried here the same way.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    grace = 2 * (storage.get_heartbeat_interval() or 60)
    now = datetime.now()  # Optuna stamps trials with the local naive time
    old = {t._trial_id: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
           if t.datetime_start is not None and (now - t.datetime_start).total_seconds() > grace}
    if not old:
        return
    with storage.engine.connect() as conn:
        beating = {row[0] for row in conn.execute(text("SELECT trial_id FROM trial_heartbeats"))}
    retry = storage.get_heartbeat_stale_trial_callback()
    for trial_id in set(old) - beating:
        try:
            failed = storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another worker got there first
        if failed and retry is not None:
            retry(study, storage.get_trial(trial_id))


def run_study(study: optuna.Study, storage: RDBStorage, objective: Callable[[optuna.Trial], float], n_trials: int,
              *, timeout: float | None = None, poll: float = 0.5,
              on_trial: Callable[[FrozenTrial], None] | None = None) -> str:
    """Run trials of ``study`` until it holds ``n_trials`` finished ones (see module docstring).

    Args:
        study: The shared study.
        storage: Its storage (from :func:`benchmark.tuning.storage.open_storage`).
        objective: The objective; it must call :func:`check_place` first.
        n_trials: Finished trials the study should hold, counted over every worker and invocation.
        timeout: Start no trial after this many seconds (running ones are waited for); ``None``: no limit.
        poll: Seconds between looks at the study while other workers' trials run.
        on_trial: Called with each trial this worker ends.

    Returns:
        ``"complete"`` when the study holds ``n_trials`` finished trials, ``"timeout"`` when time ran out first.
    """
    started = time.monotonic()
    callbacks = [lambda _study, trial: on_trial(trial)] if on_trial is not None else []
    while True:
        fail_stale(study, storage)
        trials = study.get_trials(deepcopy=False)
        if sum(map(finished, trials)) >= n_trials:
            return "complete"
        running = sum(t.state == TrialState.RUNNING for t in trials)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        out_of_time = timeout is not None and time.monotonic() - started >= timeout
        if not out_of_time and (waiting or sum(map(holds_place, trials)) < n_trials):
            # One trial at a time, so the place count is looked at again before each (a surplus trial ends here
            # too, and the next look finds every place held).
            study.optimize(objective, n_trials=1, catch=(PluginError, SurplusTrial), callbacks=callbacks)
            continue
        if running == 0 and (out_of_time or not waiting):
            return "timeout"
        time.sleep(poll)
