"""The one family of errors whose message is written for the user, answered the same way
wherever it is raised: in a command, a button or a form."""

from __future__ import annotations


class UserError(Exception):
    """A request that cannot be carried out, telling the user why and what to do.

    `message` is the English text with `{placeholders}`, marked for translation where it is
    written (bot/ui/i18n.py `mark`), and `values` fill them: the answer shown to the user is
    translated into their language first. `str(error)` is the English answer, for the log."""

    def __init__(self, message: str, /, **values: object) -> None:
        super().__init__(message.format(**values) if values else message)
        self.message = message
        self.values = values
