"""Conformance checks for submissions: run them in a plugin's own test suite.

::

    # tests/test_my_plugin.py
    from benchmark.testing import conformance_tests
    test_my_model = conformance_tests("my_model")   # one pytest test per check

    # or, anywhere:
    from benchmark.testing import check_submission
    check_submission("my_model")                     # raises AssertionError listing every failed check

The checks are small (random images of 32 and 64 px, CPU, seconds each; the leakage check trains 2 folds of 1
epoch): the spec is complete and valid; outputs have the task's shape at the spec's channels and 2 sizes, finite,
rows summing to 1;
the loss is a finite scalar whose gradients reach the parameters; ``configure_optimizers`` trains the model;
``augment`` keeps shapes and binary masks and draws randomness only from its generator; two builds under one seed
are identical; a case's prediction does not depend on the rest of its batch; and a whole ``busbench run`` on noise
images whose labels the pixels do not carry scores at chance, so the predictions did not come from the test
folds' ground truth (see :mod:`benchmark.testing.leakage`).
"""

from benchmark.testing.inputs import CheckOptions, ConformanceFailure
from benchmark.testing.leakage import write_noise_dataset
from benchmark.testing.suite import CHECKS, CheckResult, check_submission, conformance_tests, run_check

__all__ = [
    "CHECKS",
    "CheckOptions",
    "CheckResult",
    "ConformanceFailure",
    "check_submission",
    "conformance_tests",
    "run_check",
    "write_noise_dataset",
]
