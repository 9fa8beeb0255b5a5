"""What the org computes by itself on save: formula and roll-up fields, auto numbers, Files plumbing, the
permission set each profile owns.

These mirror standard Salesforce behaviour (Contract.EndDate, Task.AccountId, ContentVersion creating its
ContentDocument, a profile's own permission set and its assignment to the profile's users, one assignment per
user and permission set) and the managed packages' formula fields the service reads (CPQ net totals). The store
calls `before_write` on the record about to be saved and `after_write` once it is in place.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sync_service.devorg.errors import ApiError
from sync_service.devorg.schema import FieldDef, ObjectDef

if TYPE_CHECKING:
    from sync_service.devorg.store import OrgStore, Record

_AUTO_FORMATS = {
    ("Contract", "ContractNumber"): ("{:08d}", 100),
    ("Order", "OrderNumber"): ("{:08d}", 100),
    ("SBQQ__Quote__c", "Name"): ("Q-{:05d}", 1),
    ("SBQQ__QuoteLine__c", "Name"): ("QL-{:07d}", 1),
    ("SBQQ__Subscription__c", "Name"): ("SUB-{:07d}", 1),
    ("Apttus__APTS_Agreement__c", "Apttus__FF_Agreement_Number__c"): ("{:08d}.0", 1),
    ("Apttus_Proposal__Proposal__c", "Name"): ("P-{:07d}", 1),
    ("Apttus_Proposal__Proposal_Line_Item__c", "Name"): ("PLI-{:07d}", 1),
}
# Lookups that tie a record to its account, for Task.AccountId and friends.
_ACCOUNT_FIELD = {
    "Account": "Id",
    "Contact": "AccountId",
    "Opportunity": "AccountId",
    "Contract": "AccountId",
    "Order": "AccountId",
    "SBQQ__Quote__c": "SBQQ__Account__c",
    "Apttus__APTS_Agreement__c": "Apttus__Account__c",
    "Apttus_Proposal__Proposal__c": "Apttus_Proposal__Account__c",
}
# (child object, lookup field) pairs the store keeps a reverse index for, so roll-ups stay O(children).
INDEXED_LOOKUPS = (
    ("SBQQ__QuoteLine__c", "SBQQ__Quote__c"),
    ("OpportunityLineItem", "OpportunityId"),
    ("ContentVersion", "ContentDocumentId"),
    ("PermissionSetAssignment", "AssigneeId"),
)
_BLOB_LENGTH = {
    ("Document", "Body"): "BodyLength",
    ("Attachment", "Body"): "BodyLength",
    ("ContentVersion", "VersionData"): "ContentSize",
}


def next_auto_number(store: OrgStore, obj: ObjectDef, f: FieldDef) -> str:
    fmt, start = _AUTO_FORMATS.get((obj.name, f.name), ("{:08d}", 1))
    return fmt.format(store.next_sequence(f"auto:{obj.name}.{f.name}") + start - 1)


def blob_length_field(sobject: str, field_name: str) -> str | None:
    return _BLOB_LENGTH.get((sobject, field_name))


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _account_of(store: OrgStore, record_id: Any) -> str | None:
    if not isinstance(record_id, str):
        return None
    target = store.get(record_id)
    name = store.object_of(record_id)
    if target is None or name is None or name not in _ACCOUNT_FIELD:
        return None
    value = target.get(_ACCOUNT_FIELD[name])
    return value if isinstance(value, str) else None


def _full_name(record: Record) -> str:
    return " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)


def before_write(store: OrgStore, obj: ObjectDef, record: Record, before: Record | None) -> None:
    name = obj.name
    if name in ("Contact", "Lead", "User"):
        record["Name"] = _full_name(record)
    if name == "User":
        record["AccountId"] = _account_of(store, record.get("ContactId"))
    elif name == "Contract":
        start, term = record.get("StartDate"), record.get("ContractTerm")
        if start and term:
            try:
                end = add_months(date.fromisoformat(start), int(term)) - timedelta(days=1)
            except (ValueError, OverflowError):
                raise ApiError(
                    400, "FIELD_INTEGRITY_EXCEPTION", "Contract Term: value outside of valid range", ["ContractTerm"]
                ) from None
            record["EndDate"] = end.isoformat()
        else:
            record["EndDate"] = None
        status = record.get("Status")
        record["StatusCode"] = "InApproval" if status == "In Approval Process" else status
        if status == "Activated" and (before is None or before.get("Status") != "Activated"):
            record["ActivatedDate"] = record["SystemModstamp"]
    elif name == "Opportunity":
        stage = record.get("StageName") or ""
        record["IsClosed"] = stage.startswith("Closed")
        record["IsWon"] = stage == "Closed Won"
    elif name in ("Task", "Event"):
        record["AccountId"] = _account_of(store, record.get("WhatId")) or _account_of(store, record.get("WhoId"))
        if name == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"
            record["IsHighPriority"] = record.get("Priority") == "High"
            if record["IsClosed"] and not record.get("CompletedDateTime"):
                record["CompletedDateTime"] = record["SystemModstamp"]
            elif not record["IsClosed"]:
                record["CompletedDateTime"] = None
    elif name in ("SBQQ__QuoteLine__c", "SBQQ__Subscription__c"):
        product = store.get(record.get("SBQQ__Product__c") or "") or {}
        record["SBQQ__ProductName__c"] = product.get("Name")
        if name == "SBQQ__QuoteLine__c":
            record["SBQQ__ProductFamily__c"] = product.get("Family")
            record["SBQQ__ProductCode__c"] = product.get("ProductCode")
            price = record.get("SBQQ__NetPrice__c")
            if price is None:
                price = record.get("SBQQ__CustomerPrice__c")
            qty = record.get("SBQQ__Quantity__c")
            record["SBQQ__NetTotal__c"] = None if price is None or qty is None else round(price * qty, 2)
    elif name == "OpportunityLineItem":
        product = store.get(record.get("Product2Id") or "") or {}
        opp = store.get(record.get("OpportunityId") or "") or {}
        record["Name"] = f"{opp.get('Name', '')} {product.get('Name', '')}".strip()
        record["ProductCode"] = product.get("ProductCode")
        record["ListPrice"] = record.get("UnitPrice")
        qty, unit = record.get("Quantity"), record.get("UnitPrice")
        record["TotalPrice"] = None if qty is None or unit is None else round(qty * unit, 2)
    elif name == "PermissionSetAssignment":
        _check_assignment(store, record, before)
    elif name == "ContentVersion" and before is None:
        path = record.get("PathOnClient") or ""
        ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        record["FileExtension"] = ext or None
        record["FileType"] = {"pdf": "PDF", "docx": "WORD_X", "txt": "TEXT", "png": "PNG"}.get(ext, "UNKNOWN")
        record["IsLatest"] = True


def after_write(store: OrgStore, obj: ObjectDef, record: Record, before: Record | None) -> None:
    if not store.automation_enabled:
        return
    name = obj.name
    if name == "SBQQ__QuoteLine__c":
        _roll_up(
            store,
            "SBQQ__QuoteLine__c",
            "SBQQ__Quote__c",
            record.get("SBQQ__Quote__c"),
            "SBQQ__NetTotal__c",
            ("SBQQ__NetAmount__c", "SBQQ__CustomerAmount__c"),
        )
    elif name == "OpportunityLineItem":
        _roll_up(store, "OpportunityLineItem", "OpportunityId", record.get("OpportunityId"), "TotalPrice", ("Amount",))
    elif name == "ContentVersion" and before is None:
        _publish_version(store, record)
    elif name == "Profile" and before is None:
        _profile_permission_set(store, record)
    elif name == "User" and (before is None or before.get("ProfileId") != record.get("ProfileId")):
        _assign_profile_permission_set(store, record, before)


def profile_permission_set(store: OrgStore, profile_id: Any) -> Record | None:
    """The permission set a profile owns (every profile has one in Salesforce), if the org holds it."""
    if not isinstance(profile_id, str):
        return None
    for row in store.find_by("PermissionSet", "ProfileId", profile_id):
        if row.get("IsOwnedByProfile"):
            return row
    return None


def _profile_permission_set(store: OrgStore, profile: Record) -> None:
    # Salesforce names a profile's own permission set "X" + an id and labels it with the id; users never see it.
    store.insert(
        "PermissionSet",
        {
            "Name": f"X{profile['Id']}",
            "Label": profile["Id"],
            "IsOwnedByProfile": True,
            "IsCustom": False,
            "ProfileId": profile["Id"],
        },
        system=True,
    )


def _assign_profile_permission_set(store: OrgStore, user: Record, before: Record | None) -> None:
    """A user is assigned their profile's own permission set; a new profile moves that assignment."""
    new_set = profile_permission_set(store, user.get("ProfileId"))
    old_set = None if before is None else profile_permission_set(store, before.get("ProfileId"))
    if old_set is not None:
        for row in store.children_of("PermissionSetAssignment", "AssigneeId", user["Id"]):
            if row.get("PermissionSetId") == old_set["Id"]:
                if new_set is None:
                    store.delete(row["Id"])
                else:
                    store.update(None, row["Id"], {"PermissionSetId": new_set["Id"]}, system=True)
                return
    if new_set is not None:
        store.insert(
            "PermissionSetAssignment", {"AssigneeId": user["Id"], "PermissionSetId": new_set["Id"]}, system=True
        )


def _check_assignment(store: OrgStore, record: Record, before: Record | None) -> None:
    """A user holds a permission set at most once (Salesforce refuses the second assignment)."""
    if before is not None and before.get("PermissionSetId") == record.get("PermissionSetId"):
        return
    assignee, permission_set = record.get("AssigneeId"), record.get("PermissionSetId")
    if not isinstance(assignee, str):
        return
    for row in store.children_of("PermissionSetAssignment", "AssigneeId", assignee):
        if row["Id"] != record["Id"] and row.get("PermissionSetId") == permission_set:
            raise ApiError(
                400,
                "DUPLICATE_VALUE",
                f"Duplicate PermissionSetAssignment. Assignee: {assignee}; Permission Set: {permission_set}",
                [],
            )


def _roll_up(
    store: OrgStore, child: str, parent_field: str, parent_id: Any, value_field: str, targets: tuple[str, ...]
) -> None:
    if not isinstance(parent_id, str):
        return
    total = sum(row.get(value_field) or 0.0 for row in store.children_of(child, parent_field, parent_id))
    store.touch(parent_id, dict.fromkeys(targets, round(total, 2)))


def _publish_version(store: OrgStore, version: Record) -> None:
    doc_id = version.get("ContentDocumentId")
    if doc_id is None:
        doc = store.insert("ContentDocument", {"Title": version.get("Title")}, system=True)
        doc_id = doc["Id"]
        store.touch(version["Id"], {"ContentDocumentId": doc_id, "VersionNumber": "1"})
        location = version.get("FirstPublishLocationId")
        if location:
            store.insert(
                "ContentDocumentLink",
                {"LinkedEntityId": location, "ContentDocumentId": doc_id, "ShareType": "V", "Visibility": "AllUsers"},
            )
    else:
        number = 1
        for row in store.children_of("ContentVersion", "ContentDocumentId", doc_id):
            if row["Id"] != version["Id"]:
                number += 1
                if row.get("IsLatest"):
                    store.touch(row["Id"], {"IsLatest": False})
        store.touch(version["Id"], {"VersionNumber": str(number)})
    store.touch(
        doc_id,
        {
            "Title": version.get("Title"),
            "LatestPublishedVersionId": version["Id"],
            "FileType": version.get("FileType"),
            "FileExtension": version.get("FileExtension"),
            "ContentSize": version.get("ContentSize"),
        },
    )
