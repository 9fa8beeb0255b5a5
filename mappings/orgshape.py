"""What an org's describe() says about objects, fields and relationship paths, asked once per object.

`OrgShape` answers the validator's questions — does this object exist, what does `Account.Owner.Email` on
Contract resolve to — and says precisely what is wrong when the answer is no, with a correction to suggest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mappings.problems import closest

# describe(object name) → the org's describe JSON of that object, or None when the org has no such object.
Describe = Callable[[str], dict[str, Any] | None]

# SOQL follows at most five child-to-parent relationships in one field path.
MAX_HOPS = 5
# What SOQL can read across a polymorphic lookup (What, Who, Owner on some objects) without TYPEOF.
POLYMORPHIC_FIELDS = {"Id": "id", "Name": "string", "Type": "picklist"}
# `fullmatch` only: `$` would also accept a name followed by a newline.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class PathError(Exception):
    def __init__(self, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


@dataclass(frozen=True)
class ResolvedField:
    """The field a path ends at. `path` is the path spelt as the org spells it."""

    object: str  # the object that holds the field
    name: str
    type: str
    reference_to: tuple[str, ...]
    describe: dict[str, Any]
    path: str


class OrgShape:
    def __init__(self, describe: Describe, object_names: Iterable[str] | None = None):
        self._describe = describe
        self._cache: dict[str, dict[str, Any] | None] = {}
        self.object_names = list(object_names) if object_names is not None else None

    def obj(self, name: str) -> dict[str, Any] | None:
        """The describe of an object, or None if the org has none by that name."""
        key = name.lower()
        if key not in self._cache:
            known = self.object_names is None or key in {n.lower() for n in self.object_names}
            # A name that cannot be an API name is never sent to the org (it would end up in a URL path).
            self._cache[key] = self._describe(name) if known and _NAME.fullmatch(name) else None
        return self._cache[key]

    def require_obj(self, name: str) -> dict[str, Any]:
        """The describe of an object, raising PathError with a "did you mean" when it is unknown or misspelt."""
        found = self.obj(name)
        if found is None:
            suggestion = closest(name, self.object_names) if self.object_names else None
            raise PathError(f"the org has no object {name}", suggestion)
        if found["name"] != name:
            raise PathError(f"the org spells the object {found['name']}", found["name"])
        return found

    def resolve(self, obj: dict[str, Any], path: str) -> ResolvedField:
        """Follow a field path such as `Account.Owner.Email` from `obj`, hop by hop, as SOQL would."""
        segments = path.split(".")
        if not all(_NAME.fullmatch(s) for s in segments):
            raise PathError(f"{path!r} is not a field path (API names joined by dots)")
        if len(segments) - 1 > MAX_HOPS:
            raise PathError(f"{path!r} follows more than {MAX_HOPS} relationships, which SOQL does not allow")
        spelt: list[str] = []
        current = obj
        for index, segment in enumerate(segments[:-1]):
            lookup = _relationship(current, segment, segments, spelt)
            spelt.append(lookup["relationshipName"])
            targets = tuple(lookup.get("referenceTo") or ())
            if len(targets) != 1:
                return _polymorphic(current, lookup, targets, segments[index + 1 :], spelt)
            parent = self.obj(targets[0])
            if parent is None:
                raise PathError(f"{lookup['relationshipName']} points at {targets[0]}, which the org cannot describe")
            current = parent
        return _field(current, segments[-1], spelt)


def fields_of(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in obj.get("fields", [])}


def labels_of(fields: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Field name → label, for suggestions: a field renamed in Setup usually keeps its label."""
    return {name: str(f.get("label") or "") for name, f in fields.items()}


def _relationship(obj: dict[str, Any], segment: str, segments: list[str], spelt: list[str]) -> dict[str, Any]:
    lookups = {f["relationshipName"]: f for f in obj.get("fields", []) if f.get("relationshipName")}
    found = lookups.get(segment) or next((f for r, f in lookups.items() if r.lower() == segment.lower()), None)
    rest = segments[len(spelt) + 1 :]
    if found is not None and found["relationshipName"] == segment:
        return found
    if found is not None:
        fixed = found["relationshipName"]
        raise PathError(f"the org spells the relationship {fixed}", _join(spelt, fixed, rest))
    # `Reseller__c.Name` or `AccountId.Name`: the lookup's field name where its relationship name belongs.
    by_field = {f["name"].lower(): f for f in lookups.values()}
    if segment.lower() in by_field:
        fixed = by_field[segment.lower()]["relationshipName"]
        raise PathError(
            f"broken relationship path: {segment} is a lookup field; across it, use its relationship {fixed}",
            _join(spelt, fixed, rest),
        )
    guess = closest(segment, lookups)
    raise PathError(
        f"broken relationship path: {obj['name']} has no relationship {segment}",
        _join(spelt, guess, rest) if guess else None,
    )


def _polymorphic(
    obj: dict[str, Any], lookup: dict[str, Any], targets: tuple[str, ...], rest: list[str], spelt: list[str]
) -> ResolvedField:
    relationship = lookup["relationshipName"]
    if len(rest) != 1 or rest[0] not in POLYMORPHIC_FIELDS:
        guess = closest(rest[0], POLYMORPHIC_FIELDS) if len(rest) == 1 else None
        raise PathError(
            f"broken relationship path: {relationship} is polymorphic ({', '.join(targets) or 'any object'}); "
            f"only {', '.join(POLYMORPHIC_FIELDS)} can be read across it",
            _join(spelt, guess, []) if guess else None,
        )
    name = rest[0]
    kind = POLYMORPHIC_FIELDS[name]
    describe = {"name": name, "type": kind, "referenceTo": list(targets) if name == "Id" else []}
    return ResolvedField(obj["name"], name, kind, tuple(describe["referenceTo"]), describe, _join(spelt, name, []))


def _field(obj: dict[str, Any], segment: str, spelt: list[str]) -> ResolvedField:
    fields = fields_of(obj)
    found = fields.get(segment) or next((f for n, f in fields.items() if n.lower() == segment.lower()), None)
    if found is not None and found["name"] != segment:
        raise PathError(f"the org spells the field {found['name']}", _join(spelt, found["name"], []))
    if found is None:
        relationships = {(f.get("relationshipName") or "").lower(): f for f in fields.values()}
        lookup = relationships.get(segment.lower())
        if lookup is not None:
            raise PathError(
                f"{segment} is a relationship on {obj['name']}, not a field: map its lookup {lookup['name']}, "
                f"or a field across it such as {lookup['relationshipName']}.Name",
                _join(spelt, lookup["name"], []),
            )
        guess = closest(segment, fields, labels_of(fields))
        raise PathError(f"{obj['name']} has no field {segment}", _join(spelt, guess, []) if guess else None)
    return ResolvedField(
        obj["name"],
        found["name"],
        found["type"],
        tuple(found.get("referenceTo") or ()),
        found,
        _join(spelt, found["name"], []),
    )


def _join(spelt: list[str], segment: str | None, rest: list[str]) -> str:
    return ".".join([*spelt, *([segment] if segment else []), *rest])
