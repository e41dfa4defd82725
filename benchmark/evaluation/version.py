"""The evaluator's version: which scoring code a figure in ``metrics.json`` comes from.

:data:`EVALUATOR_VERSION` goes up by one whenever a change alters a figure the evaluator already reports (a metric's
formula, its convention for empty masks or absent classes, the bootstrap, the pooling); ``CHANGELOG.md`` says when
and what. Adding a new figure leaves existing ones unchanged and keeps the version. Every ``metrics.json`` records
the version that scored it; ``busbench results verify`` checks that the current evaluator reproduces every recorded
figure, and ``--update`` records the version in a run scored before versions were recorded, only when all its
figures reproduce (so that it truthfully stands on this evaluator).
"""

from __future__ import annotations

#: The version of the scoring code (see the module docstring).
EVALUATOR_VERSION = 1
