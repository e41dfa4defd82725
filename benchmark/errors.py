"""The one error type a user sees: a file (or other input) and what is wrong with it."""

from __future__ import annotations

import os


class BusbenchError(Exception):
    """A problem with user input, reported as one line naming the input and the problem.

    The command-line entry point prints ``busbench: error: <where>: <problem>`` and exits non-zero;
    library callers can catch it and read ``where`` and ``problem``.

    Args:
        where: The file, folder or other input at fault (a path or a short description).
        problem: What is wrong with it, in words a user can act on.
    """

    def __init__(self, where: str | os.PathLike[str], problem: str):
        self.where = str(where)
        self.problem = " ".join(problem.split())  # one line, whatever the caller built
        super().__init__(f"{self.where}: {self.problem}")


def list_some(items: list[str] | tuple[str, ...] | set[str], most: int = 8) -> str:
    """Format a list of names for an error message, cut after ``most`` entries with a count of the rest.

    Args:
        items: Names (case ids, file names) to show.
        most: How many to show before summarising the rest.

    Returns:
        A comma-separated string such as ``"a, b, c and 12 more"``.
    """
    ordered = sorted(items)
    shown = ", ".join(ordered[:most])
    rest = len(ordered) - most
    return f"{shown} and {rest} more" if rest > 0 else shown
