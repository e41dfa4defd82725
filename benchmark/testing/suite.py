"""Running the conformance checks: ``check_submission`` (a list of results) and ``conformance_tests`` (pytest)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from benchmark.plugins import registry
from benchmark.plugins.submission import Submission
from benchmark.testing.checks import (
    check_augment,
    check_batch_independent,
    check_deterministic,
    check_loss_backward,
    check_optimizer_step,
    check_output_shapes,
    check_spec,
)
from benchmark.testing.inputs import CheckOptions, ConformanceFailure
from benchmark.testing.leakage import check_no_test_truth

Check = Callable[[type[Submission], CheckOptions], str]

#: Every check, by name, in the order they run (the spec first: the others assume a usable spec).
CHECKS: dict[str, Check] = {
    "spec": check_spec,
    "output_shapes": check_output_shapes,
    "loss_backward": check_loss_backward,
    "optimizer_step": check_optimizer_step,
    "augment": check_augment,
    "deterministic": check_deterministic,
    "batch_independent": check_batch_independent,
    "no_test_truth": check_no_test_truth,
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        check: The check's name (a key of :data:`CHECKS`).
        passed: Whether the submission passed it.
        message: What was verified, or what was wrong.
        seconds: Wall time of the check.
    """

    check: str
    passed: bool
    message: str
    seconds: float


def resolve(target: str | type[Submission]) -> type[Submission]:
    """The submission class: ``target`` itself, or the class registered under that name.

    Raises:
        BusbenchError: For an unknown name (with close matches).
    """
    return registry.get(target) if isinstance(target, str) else target


def run_check(target: str | type[Submission], check: str, options: CheckOptions | None = None) -> str:
    """Run one check and return its summary.

    Torch's global RNG is restored afterwards, so running the suite does not change the caller's random numbers.

    Raises:
        ConformanceFailure: (an ``AssertionError``) If the submission fails the check; the message names the
            submission and the check.
        KeyError: For an unknown check name.
    """
    fn = CHECKS[check]
    cls = resolve(target)
    name = getattr(getattr(cls, "spec", None), "name", getattr(cls, "__name__", repr(cls)))
    with torch.random.fork_rng(devices=[]):
        try:
            return fn(cls, options or CheckOptions())
        except ConformanceFailure as exc:
            raise ConformanceFailure(f"{name}: check {check!r} failed: {exc}") from exc


def check_submission(
    target: str | type[Submission],
    *,
    options: CheckOptions | None = None,
    checks: Sequence[str] | None = None,
    raise_on_failure: bool = True,
) -> list[CheckResult]:
    """Run the conformance checks on a submission (a registered name or a :class:`Submission` subclass).

    Args:
        target: The submission.
        options: Sizes, hyper-parameters and tolerances (defaults: 32 and 64 px, the spec's defaults).
        checks: Names of the checks to run (default: all of :data:`CHECKS`, in order).
        raise_on_failure: Raise when any check fails instead of returning the failed results.

    Returns:
        One result per check, in order.

    Raises:
        AssertionError: If ``raise_on_failure`` and a check failed; the message has one line per failed check.
        BusbenchError: For an unknown submission name.
        KeyError: For an unknown check name.
    """
    names = list(checks) if checks is not None else list(CHECKS)
    unknown = [c for c in names if c not in CHECKS]
    if unknown:
        raise KeyError(f"unknown check(s) {unknown}; known: {list(CHECKS)}")
    cls = resolve(target)
    results = []
    for check in names:
        start = time.perf_counter()
        try:
            message, passed = run_check(cls, check, options), True
        except ConformanceFailure as exc:
            message, passed = str(exc), False
        results.append(CheckResult(check, passed, message, time.perf_counter() - start))
    failed = [r for r in results if not r.passed]
    if failed and raise_on_failure:
        raise ConformanceFailure(f"{len(failed)} of {len(results)} conformance checks failed:\n"
                                 + "\n".join(f"  - {r.message}" for r in failed))
    return results


def conformance_tests(
    target: str | type[Submission],
    *,
    options: CheckOptions | None = None,
    checks: Sequence[str] | None = None,
) -> Callable[[str], None]:
    """A pytest test function, parametrised over the checks, for a plugin's own test suite.

    Usage::

        from benchmark.testing import conformance_tests
        test_my_model = conformance_tests("my_model")

    The name is looked up when the tests run (not at import), so a plugin that fails to register shows up as
    failing tests rather than a collection error.

    Args:
        target: The submission's registered name or its class.
        options: Sizes, hyper-parameters and tolerances (see :class:`CheckOptions`).
        checks: The checks to generate tests for (default: all).

    Returns:
        A function with a ``pytest.mark.parametrize`` over the check names (test ids are the names).
    """
    import pytest  # only plugin test suites need pytest; the rest of the package does not

    names = list(checks) if checks is not None else list(CHECKS)
    unknown = [c for c in names if c not in CHECKS]
    if unknown:
        raise KeyError(f"unknown check(s) {unknown}; known: {list(CHECKS)}")

    @pytest.mark.parametrize("check", names)
    def test_conformance(check: str) -> None:
        run_check(target, check, options)

    label: Any = target if isinstance(target, str) else getattr(target, "__name__", "submission")
    test_conformance.__doc__ = f"Conformance of {label} with the busbench plugin API."
    return test_conformance
