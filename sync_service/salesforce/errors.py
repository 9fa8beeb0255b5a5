"""What can stop a pull, in words an admin can act on."""

from __future__ import annotations


class PullFailed(Exception):
    """A permanent failure: retrying will not help until the mapping or the org changes."""


class BudgetPaused(Exception):
    """The API budget's reserve is reached: the pull waits for the next window; nothing is lost."""


class TransientError(Exception):
    """A failure worth retrying (server busy, row lock, connection reset)."""
