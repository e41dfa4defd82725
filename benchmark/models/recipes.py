"""The training recipes of :mod:`benchmark.training.recipes`, re-exported for committed submissions.

The recipes moved to :mod:`benchmark.training.recipes` so that the plugin base class can use them without
importing :mod:`benchmark.models`. Committed submissions import them from here, and a submission's source files
are part of its runs' identity (:func:`benchmark.results.identity.source_fingerprint`), so those imports stay and
this module keeps them working. New code imports from :mod:`benchmark.training.recipes`.
"""

from __future__ import annotations

from benchmark.training.recipes import OPTIMIZERS, RECIPE_DEFAULTS, SCHEDULES, adam, lr_factor, recipe_optimizers

__all__ = ["OPTIMIZERS", "RECIPE_DEFAULTS", "SCHEDULES", "adam", "lr_factor", "recipe_optimizers"]
