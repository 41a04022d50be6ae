"""Exceptions with one-line messages meant for the person at the keyboard.

Every error a user can cause (a bad file, a bad config, a refused fit) is an
:class:`AlignmentError`; the command line prints its message on one line and
exits 1 without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AlignmentError(Exception):
    """Base class: a problem the user can fix, told in one line."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.column = column
        self.row = row
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as one line: where, what, and what to do."""
        where = []
        if self.file:
            where.append(str(self.file))
        if self.column:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        text = (": ".join([", ".join(where), self.message]) if where else self.message).replace("\n", " ")
        if self.hint:
            text += f" — {self.hint}"
        return text


class ConfigError(AlignmentError):
    """The workspace config file is missing, malformed or names unknown keys."""


class DataError(AlignmentError):
    """An input table cannot be read or breaks the data contract."""


class ModelError(AlignmentError):
    """A scale cannot be fitted or a model folder cannot be read."""


class AgreementError(AlignmentError):
    """An agreement cannot be saved or found."""


class ReportError(AlignmentError):
    """A monthly review could not be rendered."""
