"""Profiles, permission sets and their assignments in the stand-in org: seeded as an org has them, queried with
simple-salesforce through relationship paths, and kept by the org's own automation (a profile's own permission
set, its assignment to the profile's users, one assignment per user and set)."""

from __future__ import annotations

from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from sync_service.devorg.errors import ApiError
from sync_service.devorg.org import Org, org_id_for
from sync_service.devorg.profiles import STANDARD_USER, SYSTEM_ADMINISTRATOR
from sync_service.devorg.seed import seed_org
from tests.standin_org import RunningOrg


def test_every_user_has_a_profile_read_through_the_relationship(sf: Salesforce, org: RunningOrg) -> None:
    users = sf.query_all("SELECT Id, Username, UserType, ProfileId, Profile.Name FROM User")["records"]
    by_type: dict[str, set[str]] = {}
    for user in users:
        assert user["ProfileId"].startswith("00e") and user["Profile"]["attributes"]["type"] == "Profile"
        by_type.setdefault(user["UserType"], set()).add(user["Profile"]["Name"])
    assert by_type == {"Standard": {SYSTEM_ADMINISTRATOR, STANDARD_USER}, "PowerPartner": {"Partner Community User"}}
    api = next(u for u in users if u["Username"] == org.info["username"])
    assert api["Profile"]["Name"] == SYSTEM_ADMINISTRATOR
    profiles = sf.query("SELECT Id, Name, UserType FROM Profile WHERE Name = 'Standard User'")["records"]
    assert [(p["Name"], p["UserType"]) for p in profiles] == [(STANDARD_USER, "Standard")]


def test_permission_set_assignments_of_a_user_by_api_name(sf: Salesforce) -> None:
    admin = sf.query("SELECT Id FROM User WHERE Username LIKE 'admin@%'")["records"][0]
    soql = f"SELECT PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = '{admin['Id']}'"
    names = sorted(r["PermissionSet"]["Name"] for r in sf.query(soql)["records"])
    # The seeded permission set, and the one the user's profile owns (named X + an id, as Salesforce does).
    assert len(names) == 2 and names[0] == "Renewals_Admin" and names[1].startswith("X00e")
    custom = sf.query(soql + " AND PermissionSet.IsOwnedByProfile = false")["records"]
    assert [r["PermissionSet"]["Name"] for r in custom] == ["Renewals_Admin"]
    # A 15-character id filters alike; the set's label and its own assignments (child relationship).
    assert sf.query(soql.replace(admin["Id"], admin["Id"][:15]))["totalSize"] == 2
    sets = sf.query(
        "SELECT Name, Label, IsOwnedByProfile, ProfileId, (SELECT AssigneeId FROM Assignments) "
        "FROM PermissionSet WHERE Name = 'Renewals_Admin'"
    )["records"]
    assert [(s["Label"], s["IsOwnedByProfile"], s["ProfileId"]) for s in sets] == [("Renewals Admin", False, None)]
    assert [a["AssigneeId"] for a in sets[0]["Assignments"]["records"]] == [admin["Id"]]


def test_each_profile_owns_a_permission_set_its_users_are_assigned(sf: Salesforce) -> None:
    owned = sf.query_all("SELECT Id, ProfileId, Profile.Name FROM PermissionSet WHERE IsOwnedByProfile = true")
    assert sorted(r["Profile"]["Name"] for r in owned["records"]) == sorted(
        [SYSTEM_ADMINISTRATOR, STANDARD_USER, "Partner Community User"]
    )
    users = sf.query_all("SELECT Id, ProfileId FROM User")["records"]
    assigned = sf.query_all(
        "SELECT AssigneeId, PermissionSet.ProfileId FROM PermissionSetAssignment "
        "WHERE PermissionSet.IsOwnedByProfile = true"
    )["records"]
    assert sorted((a["AssigneeId"], a["PermissionSet"]["ProfileId"]) for a in assigned) == sorted(
        (u["Id"], u["ProfileId"]) for u in users
    )


def test_a_profile_change_moves_the_assignment_and_a_second_assignment_is_refused() -> None:
    org = Org(None)
    api = org.api_user_id()  # an empty org's first user: the standard profiles come with it
    store = org.store
    profiles = {r["Name"]: r["Id"] for r in store.rows("Profile")}
    with store.transaction():
        user = store.insert(
            "User",
            {
                "Username": "u@x.example",
                "LastName": "U",
                "Alias": "u",
                "Email": "u@x.example",
                "ProfileId": profiles[STANDARD_USER],
            },
        )
    assert all(r["CreatedById"] == api for r in [*store.rows("Profile"), *store.rows("PermissionSet")])

    def owned_profile() -> list[str]:
        rows = store.children_of("PermissionSetAssignment", "AssigneeId", user["Id"])
        return [store.get(r["PermissionSetId"])["ProfileId"] for r in rows]  # type: ignore[index]

    assert owned_profile() == [profiles[STANDARD_USER]]
    with store.transaction():
        store.update("User", user["Id"], {"ProfileId": profiles[SYSTEM_ADMINISTRATOR]})
    assert owned_profile() == [profiles[SYSTEM_ADMINISTRATOR]]
    with store.transaction():
        permission_set = store.insert("PermissionSet", {"Name": "Extra", "Label": "Extra"})
        store.insert("PermissionSetAssignment", {"AssigneeId": user["Id"], "PermissionSetId": permission_set["Id"]})
    with pytest.raises(ApiError) as refused, store.transaction():
        store.insert("PermissionSetAssignment", {"AssigneeId": user["Id"], "PermissionSetId": permission_set["Id"]})
    assert refused.value.error_code == "DUPLICATE_VALUE"
    with pytest.raises(ApiError) as missing, store.transaction():
        store.insert("User", {"Username": "v@x.example", "LastName": "V", "Alias": "v", "Email": "v@x.example"})
    assert missing.value.error_code == "REQUIRED_FIELD_MISSING" and missing.value.fields == ["ProfileId"]


def test_an_org_started_with_another_number_is_another_org(tmp_path: Path) -> None:
    org = Org(tmp_path, org_number=2)
    seed_org(org.store, contracts=3, flavour="standard", api_username=org.credentials.username)
    assert org.org_id == org_id_for(2) != org_id_for(1)
    assert [r["Id"] for r in org.store.rows("Organization")] == [org.org_id]
    assert org.open_session().token.startswith(org.org_id[:15] + "!")
    org.store.close()
    assert Org(tmp_path).org_id == org_id_for(2)  # kept with the data
    with pytest.raises(ValueError, match="org number 2"):
        Org(tmp_path, org_number=3)
