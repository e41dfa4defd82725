"""Nested hyper-parameter tuning with Optuna: a study per outer fold on its train/val parts, one test score each.

Modules: :mod:`~benchmark.tuning.space` (search spaces), :mod:`~benchmark.tuning.storage` (storages, study
identity), :mod:`~benchmark.tuning.worker` (the shared trial loop, sampler, pruners), :mod:`~benchmark.tuning.objective`
(one trial), :mod:`~benchmark.tuning.nested` (``busbench tune``), :mod:`~benchmark.tuning.show` (``--show``).
"""
