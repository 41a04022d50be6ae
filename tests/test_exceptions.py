"""One-line messages: where, what, and what to do."""

from __future__ import annotations

import pytest

from alignment.exceptions import AlignmentError, ConfigError, DataError


def test_one_line_names_file_column_row_and_hint():
    error = DataError("not a date: 'tomorrow'", file="leads.csv", column="created_at", row=17,
                      hint="use YYYY-MM-DD")
    expected = "leads.csv, column 'created_at', row 17: not a date: 'tomorrow' — use YYYY-MM-DD"
    assert error.one_line() == expected


def test_newlines_never_break_the_line():
    assert "\n" not in ConfigError("first\nsecond", file="a.toml").one_line()


def test_subclasses_are_alignment_errors():
    with pytest.raises(AlignmentError):
        raise ConfigError("bad")
