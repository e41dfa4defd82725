"""Training building blocks that the plugin base class and submissions share: augmentations and recipes.

A leaf package: it imports nothing from busbench but :mod:`benchmark.errors`, so that :mod:`benchmark.plugins`
(whose :class:`~benchmark.plugins.submission.Submission` uses these blocks for its default hooks) can import it
without importing :mod:`benchmark.models`, which builds on the plugins.
"""
