"""Helpers for the mapping tests: edit a preset's YAML, validate it against an org, find lines."""

from __future__ import annotations

from simple_salesforce import Salesforce

from mappings.loader import load, preset_text
from mappings.org import validate_in_org
from mappings.problems import MappingProblem

FLAVOURS = ("salesforce_cpq", "conga_cpq", "standard")


def edited(text: str, *changes: tuple[str, str]) -> str:
    """`text` with each (old, new) replaced once; fails loudly if `old` is not there."""
    for old, new in changes:
        assert old in text, f"{old!r} is not in the YAML"
        text = text.replace(old, new, 1)
    return text


def cpq_yaml(*changes: tuple[str, str]) -> str:
    return edited(preset_text("salesforce_cpq"), *changes)


def problems_in(sf: Salesforce, text: str) -> list[MappingProblem]:
    return validate_in_org(load(text), sf)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the YAML")


def only(problems: list[MappingProblem], path: str) -> MappingProblem:
    """The one problem at `path`, failing with the full list otherwise."""
    found = [p for p in problems if p.path == path]
    assert len(found) == 1, f"expected one problem at {path}, got: {[str(p) for p in problems]}"
    return found[0]
