"""The one family of errors whose message is written for the user, answered the same way
wherever it is raised: in a command, a button or a form."""

from __future__ import annotations


class UserError(Exception):
    """A request that cannot be carried out; `str(error)` tells the user why, and what to do."""
