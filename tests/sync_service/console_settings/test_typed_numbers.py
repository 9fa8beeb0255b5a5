"""Whole numbers as an admin types them (``sync_service.console_settings.typed_numbers``): separators allowed,
and a problem recorded under the field, never raised, so that a check reports every field at once."""

from __future__ import annotations

import pytest

from sync_service.console_settings.typed_numbers import whole_number


@pytest.mark.parametrize(
    ("raw", "value"), [("1,000", 1000), (" 1_000 ", 1000), ("+5", 5), ("0", 0), ("100000000", 100_000_000)]
)
def test_a_whole_number_is_read_with_its_separators(raw: str, value: int) -> None:
    problems: dict[str, str] = {}
    assert whole_number(raw, "field", 0, 100_000_000, problems) == value
    assert problems == {}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "required"),
        ("  ", "required"),
        ("1e3", "'1e3' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
        ("1234567890123", "'1234567890123' is not a whole number"),
        ("-1", "must be from 0 to 10, not -1"),
        ("11", "must be from 0 to 10, not 11"),
    ],
)
def test_a_bad_whole_number_is_a_problem_of_its_field(raw: str, problem: str) -> None:
    problems = {"other": "kept"}
    whole_number(raw, "field", 0, 10, problems)
    assert problems == {"other": "kept", "field": problem}
