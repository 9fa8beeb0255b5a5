"""The profiles every org has, and the permission sets the seeder adds: who a user is in the org's eyes.

Salesforce creates its standard profiles with the org; the stand-in creates the three its users need when its
first user is made (by the seeder, or by the first API sign-in to an empty org): ``System Administrator`` (the
integration user and the seeded admin), ``Standard User`` (the in-house sales team) and ``Partner Community User``
(resellers' partner users). Each profile owns a permission set that its users are assigned
(:mod:`sync_service.devorg.automation`), as in Salesforce.

Those records exist before any user, so nobody created them; :func:`stamp_creator` records the first user as
their creator once it exists (as the first user records itself).
"""

from __future__ import annotations

from sync_service.devorg.store import OrgStore

SYSTEM_ADMINISTRATOR = "System Administrator"
STANDARD_USER = "Standard User"
PARTNER_COMMUNITY_USER = "Partner Community User"
# (name, user type, description)
STANDARD_PROFILES = (
    (SYSTEM_ADMINISTRATOR, "Standard", "Can configure and customize the application."),
    (STANDARD_USER, "Standard", "Can create and edit most major types of records."),
    (PARTNER_COMMUNITY_USER, "PowerPartner", "Partner users of the org's Experience Cloud site."),
)
# A permission set the seeder assigns to the seeded admin (the admin console's sign-in rules can name it).
RENEWALS_ADMIN = ("Renewals_Admin", "Renewals Admin", "Administers the renewals service's admin console.")


def standard_profiles(store: OrgStore) -> dict[str, str]:
    """The standard profiles' ids by name, creating those the org lacks (inside the caller's transaction)."""
    found = {str(row["Name"]): str(row["Id"]) for row in store.rows("Profile") if not row.get("IsDeleted")}
    for name, user_type, description in STANDARD_PROFILES:
        if name not in found:
            record = store.insert(
                "Profile", {"Name": name, "UserType": user_type, "Description": description}, system=True
            )
            found[name] = str(record["Id"])
    return found


def stamp_creator(store: OrgStore, user_id: str) -> None:
    """Record `user_id` as the creator of the profiles and permission sets made before any user existed."""
    for sobject in ("Profile", "PermissionSet"):
        for row in list(store.rows(sobject)):
            if row.get("CreatedById") is None:
                store.update(
                    sobject, row["Id"], {"CreatedById": user_id, "LastModifiedById": user_id}, user_id, system=True
                )


def add_permission_set(store: OrgStore, name: str, label: str, description: str, assignees: list[str]) -> str:
    """A custom permission set assigned to `assignees`; its id."""
    record = store.insert("PermissionSet", {"Name": name, "Label": label, "Description": description}, system=True)
    for user_id in assignees:
        store.insert("PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": record["Id"]})
    return str(record["Id"])
