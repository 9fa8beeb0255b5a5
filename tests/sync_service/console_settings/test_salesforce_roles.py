"""The Salesforce sign-in rules: what an admin types is checked line by line (each refused line named, nothing
kept), and the most specific kind of rule that matches a user decides their role — user, then permission set, then
profile — the higher role among rules of that kind."""

from __future__ import annotations

import pytest

from sync_service.console_settings import RoleRule, SettingProblems, check_salesforce_roles, role_for, rules_text
from sync_service.salesforce.ids import normalise_id

ALEX = "0055e000000001IAAQ"  # an 18-character User id (its case-safe suffix is right)


def rules(text: str) -> list[RoleRule]:
    value = check_salesforce_roles(text)
    return [RoleRule(r["match"], r["value"], r["role"]) for r in value["rules"]]


def test_rules_are_read_one_a_line_and_kept_in_order() -> None:
    typed = f"""
    # who may sign in
    profile System Administrator viewer
    PERMISSION_SET Renewals_Admin ADMIN
    user {ALEX[:15]} admin
    """
    read = rules(typed)
    assert read == [
        RoleRule("profile", "System Administrator", "viewer"),
        RoleRule("permission_set", "Renewals_Admin", "admin"),
        RoleRule("user", ALEX, "admin"),  # kept as the 18-character id
    ]
    assert rules(rules_text(read)) == read
    assert check_salesforce_roles("") == {"rules": []}


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("owner Alex admin", "'owner' is not a kind of rule"),
        ("profile Standard User superuser", "'superuser' is not a role"),
        ("user 005ABC admin", "'005ABC' is not a Salesforce user id"),
        (f"user {ALEX[:15]}AAA admin", "is not a Salesforce user id"),  # a wrong case-safe suffix
        ("user 0015e000000001IAAQ admin", "is not the id of a user"),
        ("permission_set Renewals Admin admin", "is not a permission set's API name"),
        ("permission_set Renewals__Admin admin", "is not a permission set's API name"),
        ("profile admin", "write <kind> <value> <role>"),
    ],
)
def test_a_bad_line_is_refused_naming_it(line: str, says: str) -> None:
    with pytest.raises(SettingProblems) as refused:
        check_salesforce_roles(f"profile Standard User viewer\n{line}\n")
    (problem,) = refused.value.problems.values()
    assert list(refused.value.problems) == ["rules"]
    assert problem.startswith(f"line 2 ({line!r})") and says in problem


def test_a_repeated_rule_and_too_many_rules_are_refused() -> None:
    with pytest.raises(SettingProblems, match=r"line 3 .* repeats the profile of line 1"):
        check_salesforce_roles(
            "profile Standard User viewer\nuser 0055e000000001IAAQ admin\nprofile standard user admin"
        )
    many = "\n".join(f"permission_set Set_{n} viewer" for n in range(201))
    with pytest.raises(SettingProblems, match="201 rules; at most 200"):
        check_salesforce_roles(many)


RULES = [
    RoleRule("profile", "Standard User", "viewer"),
    RoleRule("profile", "System Administrator", "admin"),
    RoleRule("permission_set", "Renewals_Viewer", "viewer"),
    RoleRule("permission_set", "Renewals_Admin", "admin"),
    RoleRule("user", ALEX, "viewer"),
]


@pytest.mark.parametrize(
    ("user_id", "profile", "sets", "decided_by"),
    [
        ("0055e000000002IAAQ", "Standard User", [], RULES[0]),
        ("0055e000000002IAAQ", "standard user", [], RULES[0]),  # profile names compare without case
        ("0055e000000002IAAQ", "Standard User", ["Renewals_Viewer"], RULES[2]),  # permission set before profile
        ("0055e000000002IAAQ", "System Administrator", ["Renewals_Viewer"], RULES[2]),
        ("0055e000000002IAAQ", None, ["Renewals_Viewer", "Renewals_Admin"], RULES[3]),  # the higher role
        (ALEX, "System Administrator", ["Renewals_Admin"], RULES[4]),  # the user's own rule first
        (ALEX[:15], "System Administrator", [], RULES[4]),
        ("0055e000000002IAAQ", "Partner Community User", ["Other"], None),
    ],
)
def test_the_most_specific_rule_decides(
    user_id: str, profile: str | None, sets: list[str], decided_by: RoleRule | None
) -> None:
    assert role_for(RULES, user_id=user_id, profile=profile, permission_sets=sets) == decided_by


def test_ids_are_compared_in_their_case_safe_form() -> None:
    assert normalise_id(ALEX[:15]) == ALEX and normalise_id(ALEX) == ALEX
    assert normalise_id(ALEX.lower()) is None and normalise_id("005") is None
