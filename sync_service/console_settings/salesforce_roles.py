"""Which Salesforce users may sign in to the admin console with Salesforce, and with which role: the rules in force,
the check of the rules an admin types, and the choice of a role for a user.

A rule matches a Salesforce user by one of three things and gives a console role (``admin`` or ``viewer``):

- ``user``: the user's id (15 or 18 characters, kept as 18; a User id starts with ``005``);
- ``permission_set``: the API name of a permission set assigned to the user (``Renewals_Admin``);
- ``profile``: the name of the user's profile (``System Administrator``), compared without regard to case.

The most specific kind that matches decides: ``user`` before ``permission_set`` before ``profile``; when several
rules of that kind match (a user holding two mapped permission sets), the highest role wins. A user no rule matches
is refused. Rules are kept in the order the admin wrote them (the page shows them so); the order decides nothing.

Stored as ``{"rules": [{"match": "user" | "permission_set" | "profile", "value": str, "role": str}]}``. There is
no file or environment default: until an admin writes rules, nobody signs in with Salesforce (local accounts
are not affected), and an operator who is locked out signs in with a local account (``renewals admin
create-user``). Typed in the console one rule a line, ``<kind> <value> <role>``, e.g. ``profile System
Administrator admin`` (a profile's name may hold spaces: the kind is the first word and the role the last).
Nothing here stores: see :mod:`sync_service.console_settings.store`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sync_service.console_settings.store import SALESFORCE_ROLES, SettingProblems, stored
from sync_service.salesforce.ids import normalise_id
from sync_service.store.models import ADMIN_ROLES

USER, PERMISSION_SET, PROFILE = "user", "permission_set", "profile"
KINDS = (USER, PERMISSION_SET, PROFILE)  # in the order they decide
ROLE_RANK = {"viewer": 1, "admin": 2}
MAX_RULES = 200
MAX_PROFILE_NAME = 255
# A permission set's API name: letters, digits and single underscores, starting with a letter (Salesforce's rule).
API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")


@dataclass(frozen=True)
class RoleRule:
    match: str  # one of KINDS
    value: str
    role: str

    @property
    def text(self) -> str:
        """The rule as an admin writes it."""
        return f"{self.match} {self.value} {self.role}"


def salesforce_roles(session: Session) -> tuple[RoleRule, ...]:
    """The rules in force (none until an admin writes some)."""
    value = stored(session, SALESFORCE_ROLES)
    if value is None:
        return ()
    return tuple(
        RoleRule(str(rule["match"]), str(rule["value"]), str(rule["role"]))
        for rule in value.get("rules", ())
        if isinstance(rule, dict)
    )


def rules_value(rules: Iterable[RoleRule]) -> dict[str, Any]:
    """`rules` as stored (what the audit log shows)."""
    return {"rules": [{"match": r.match, "value": r.value, "role": r.role} for r in rules]}


def rules_text(rules: Iterable[RoleRule]) -> str:
    """`rules` as the console's form shows them, one a line."""
    return "".join(rule.text + "\n" for rule in rules)


def role_for(
    rules: Sequence[RoleRule], *, user_id: str, profile: str | None, permission_sets: Iterable[str]
) -> RoleRule | None:
    """The rule that decides the user's role (its ``role``), or None when no rule matches."""
    user = normalise_id(user_id)
    held = {name.casefold() for name in permission_sets}
    profile_name = profile.casefold() if profile else None
    for kind in KINDS:
        matched = [
            rule
            for rule in rules
            if rule.match == kind
            and (
                (kind == USER and rule.value == user)
                or (kind == PERMISSION_SET and rule.value.casefold() in held)
                or (kind == PROFILE and rule.value.casefold() == profile_name)
            )
        ]
        if matched:
            return max(matched, key=lambda rule: ROLE_RANK[rule.role])
    return None


def check_salesforce_roles(text: str) -> dict[str, Any]:
    """The value to store for the rules as typed (one a line; blank lines and lines starting with # are skipped);
    raises SettingProblems naming each refused line under the field ``rules``."""
    rules: list[RoleRule] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        written = line.strip()
        if not written or written.startswith("#"):
            continue
        rule, problem = _rule(written)
        if problem is not None:
            problems.append(f"line {number} ({written[:120]!r}): {problem}")
            continue
        assert rule is not None
        key = (rule.match, rule.value if rule.match == USER else rule.value.casefold())
        if key in seen:
            problems.append(f"line {number} ({written[:120]!r}) repeats the {rule.match} of line {seen[key]}")
            continue
        seen[key] = number
        rules.append(rule)
    if not problems and len(rules) > MAX_RULES:
        problems.append(f"{len(rules)} rules; at most {MAX_RULES}")
    if problems:
        raise SettingProblems({"rules": "; ".join(problems)})
    return rules_value(rules)


def _rule(line: str) -> tuple[RoleRule | None, str | None]:
    words = line.split()
    kinds = ", ".join(KINDS)
    if len(words) < 3:
        return None, f"write <kind> <value> <role>, where the kind is one of {kinds} and the role admin or viewer"
    kind, role, value = words[0].lower(), words[-1].lower(), " ".join(words[1:-1])
    if kind not in KINDS:
        return None, f"{words[0]!r} is not a kind of rule; write one of {kinds}"
    if role not in ADMIN_ROLES:
        return None, f"{words[-1]!r} is not a role; write {' or '.join(ADMIN_ROLES)}"
    if kind == USER:
        normal = normalise_id(value)
        if normal is None or len(words) != 3:
            return None, f"{value!r} is not a Salesforce user id (15 or 18 letters and digits, as in Setup)"
        if not normal.startswith("005"):
            return None, f"{value!r} is not the id of a user (a user's id starts with 005)"
        return RoleRule(kind, normal, role), None
    if kind == PERMISSION_SET:
        if len(words) != 3 or not API_NAME.match(value) or len(value) > 80:
            return None, (
                f"{value!r} is not a permission set's API name (letters, digits and single underscores, starting "
                "with a letter, at most 80; the API Name in Setup, not the label)"
            )
        return RoleRule(kind, value, role), None
    if len(value) > MAX_PROFILE_NAME or not value.isprintable():
        return None, f"{value[:40]!r} is not a profile name (at most {MAX_PROFILE_NAME} printable characters)"
    return RoleRule(kind, value, role), None
