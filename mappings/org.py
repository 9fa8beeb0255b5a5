"""Validating a mapping against a live org through simple-salesforce.

One validation costs one global describe, one describe per object the mapping names (cached, so an object
named by several entities is described once) and one `LIMIT 1` query per scope filter.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from mappings.model import Mapping
from mappings.orgshape import Describe
from mappings.problems import MappingProblem
from mappings.validate import validate


def describer(sf: Salesforce) -> Describe:
    """describe(object name) → the object's describe JSON, or None when the org has no such object."""

    @cache
    def describe(name: str) -> dict[str, Any] | None:
        try:
            return dict(getattr(sf, name).describe())
        except SalesforceResourceNotFound:
            return None

    return describe


def object_names(sf: Salesforce) -> list[str]:
    described = sf.describe() or {}
    return [str(obj["name"]) for obj in described.get("sobjects", [])]


def validate_in_org(mapping: Mapping, sf: Salesforce) -> list[MappingProblem]:
    """The problems of `mapping` in the org `sf` is signed in to; empty means it can be activated."""
    return validate(mapping, describer(sf), object_names=object_names(sf), run_query=sf.query)
