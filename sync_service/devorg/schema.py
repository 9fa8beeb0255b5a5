"""The stand-in org's schema registry: objects, fields, relationships and their describe() form.

Everything the org knows about shape lives here, so SOQL resolution, DML validation and describe all agree.
Names are case-insensitive on input (as in Salesforce) and returned with their canonical case.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

# Salesforce describe types. Values are held in their wire form: str for text, ids, picklists, dates
# ("YYYY-MM-DD") and datetimes ("YYYY-MM-DDThh:mm:ss.000+0000", always UTC); bool; int; float.
TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "picklist", "multipicklist", "combobox", "reference", "email", "phone", "url"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
ALL_TYPES = TEXT_TYPES | NUMBER_TYPES | {"boolean", "date", "datetime", "base64"}

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "base64": "xsd:base64Binary",
}


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    filterable: bool = True
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    auto_number: bool = False
    name_field: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted_picklist: bool = False
    default: Any = None
    cascade_delete: bool = False

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def required_on_create(self) -> bool:
        return not self.nillable and self.createable and self.default is None and self.type != "boolean"

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or _label_from_name(self.name),
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "filterable": self.filterable and self.type not in ("textarea", "base64"),
            "sortable": self.type not in ("textarea", "base64", "multipicklist"),
            "groupable": self.type not in ("textarea", "base64", "double", "currency", "percent", "datetime"),
            "externalId": self.external_id,
            "idLookup": self.type == "id" or self.external_id,
            "unique": self.unique,
            "custom": self.custom,
            "calculated": self.calculated,
            "autoNumber": self.auto_number,
            "nameField": self.name_field,
            "defaultedOnCreate": self.default is not None or self.type == "boolean" or self.auto_number,
            "defaultValue": self.default if self.type != "boolean" else bool(self.default),
            "cascadeDelete": self.cascade_delete,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted_picklist,
            "polymorphicForeignKey": self.polymorphic,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": v == self.default, "validFor": None}
                for v in self.picklist
            ],
        }


@dataclass(frozen=True)
class ChildRelationship:
    child_sobject: str
    field: str
    relationship_name: str
    cascade_delete: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "childSObject": self.child_sobject,
            "field": self.field,
            "relationshipName": self.relationship_name,
            "cascadeDelete": self.cascade_delete,
            "deprecatedAndHidden": False,
            "restrictedDelete": False,
        }


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    label: str = ""
    label_plural: str = ""
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    fields: dict[str, FieldDef] = field(default_factory=dict)  # keyed by lower-case name
    children: dict[str, ChildRelationship] = field(default_factory=dict)  # keyed by lower-case name

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def parent_relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is `name` (e.g. ``Account`` → ``AccountId``)."""
        lowered = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lowered:
                return f
        return None

    def child_relationship(self, name: str) -> ChildRelationship | None:
        return self.children.get(name.lower())

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields.values()]

    def describe(self, api_version: str) -> dict[str, Any]:
        base = f"/services/data/v{api_version}/sobjects/{self.name}"
        return {
            **self.global_describe(api_version),
            "fields": [f.describe() for f in self.fields.values()],
            "childRelationships": [c.describe() for c in self.children.values()],
            "recordTypeInfos": [],
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def global_describe(self, api_version: str) -> dict[str, Any]:
        base = f"/services/data/v{api_version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label or _label_from_name(self.name),
            "labelPlural": self.label_plural or (self.label or _label_from_name(self.name)) + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "queryable": self.queryable,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "layoutable": True,
            "activateable": False,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }


class Schema:
    """All objects of one org. Mutable only through the admin hooks (add, rename, delete a field)."""

    def __init__(self, objects: Iterable[ObjectDef]):
        self._objects: dict[str, ObjectDef] = {}
        self._by_prefix: dict[str, ObjectDef] = {}
        for obj in objects:
            self._objects[obj.name.lower()] = obj
            self._by_prefix[obj.key_prefix] = obj
        self._link_children()

    def __iter__(self) -> Iterator[ObjectDef]:
        return iter(self._objects.values())

    def get(self, name: str) -> ObjectDef | None:
        return self._objects.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        return self._by_prefix.get(prefix)

    def object_for_id(self, record_id: str) -> ObjectDef | None:
        return self._by_prefix.get(record_id[:3])

    def _link_children(self) -> None:
        for obj in self._objects.values():
            obj.children.clear()
        for obj in self._objects.values():
            for f in obj.fields.values():
                if f.type != "reference" or not f.relationship_name:
                    continue
                if f.name in _NO_CHILD_FIELDS or (obj.name, f.name) in _DERIVED_LOOKUPS:
                    continue
                child_name = _CHILD_NAMES.get((obj.name, f.name))
                for target in f.reference_to:
                    parent = self.get(target)
                    if parent is None:
                        continue
                    rel = child_name or _default_child_name(obj, f)
                    if rel.lower() in parent.children:
                        stem = f.relationship_name[:-3] if f.relationship_name.endswith("__r") else rel
                        rel = f"{stem}_{rel}" if not rel.endswith("__r") else f"{stem}s__r"
                    if rel.lower() in parent.children:
                        continue
                    parent.children[rel.lower()] = ChildRelationship(obj.name, f.name, rel, f.cascade_delete)

    # --- admin hooks: change the org's shape at run time, like an admin in Setup would ---

    def add_field(self, object_name: str, new: FieldDef) -> FieldDef:
        obj = self._require(object_name)
        if obj.field(new.name) is not None:
            raise ValueError(f"{obj.name}.{new.name} already exists")
        if not new.name.endswith("__c"):
            raise ValueError("only custom fields (ending in __c) can be added")
        obj.fields[new.name.lower()] = new
        self._link_children()
        return new

    def rename_field(self, object_name: str, old: str, new_name: str) -> FieldDef:
        obj = self._require(object_name)
        current = obj.field(old)
        if current is None:
            raise KeyError(f"{obj.name}.{old} does not exist")
        if not current.custom or not new_name.endswith("__c"):
            raise ValueError("only custom fields can be renamed, to a name ending in __c")
        if obj.field(new_name) is not None:
            raise ValueError(f"{obj.name}.{new_name} already exists")
        rel = current.relationship_name
        if rel is not None:
            rel = new_name[:-3] + "__r"
        renamed = replace(current, name=new_name, relationship_name=rel)
        fields = {}
        for key, value in obj.fields.items():
            if key == current.name.lower():
                fields[new_name.lower()] = renamed
            else:
                fields[key] = value
        obj.fields = fields
        self._link_children()
        return renamed

    def delete_field(self, object_name: str, name: str) -> FieldDef:
        obj = self._require(object_name)
        current = obj.field(name)
        if current is None:
            raise KeyError(f"{obj.name}.{name} does not exist")
        if not current.custom:
            raise ValueError("only custom fields can be deleted")
        del obj.fields[current.name.lower()]
        self._link_children()
        return current

    def _require(self, object_name: str) -> ObjectDef:
        obj = self.get(object_name)
        if obj is None:
            raise KeyError(f"no object {object_name}")
        return obj

    def copy(self) -> Schema:
        return Schema(copy.deepcopy(list(self._objects.values())))


# System lookups that do not appear as child relationships on their parent.
_NO_CHILD_FIELDS = frozenset({"OwnerId", "CreatedById", "LastModifiedById"})

# Read-only lookups derived from other fields (Task.AccountId follows WhatId/WhoId): no child relationship.
_DERIVED_LOOKUPS = frozenset({("Task", "AccountId"), ("Event", "AccountId"), ("User", "AccountId")})

# Child relationship names that do not follow the plural-of-the-object rule.
_CHILD_NAMES: dict[tuple[str, str], str] = {
    ("Contact", "AccountId"): "Contacts",
    ("Opportunity", "AccountId"): "Opportunities",
    ("Contract", "AccountId"): "Contracts",
    ("Order", "AccountId"): "Orders",
    ("Order", "ContractId"): "Orders",
    ("Task", "WhatId"): "Tasks",
    ("Task", "WhoId"): "Tasks",
    ("Event", "WhatId"): "Events",
    ("Event", "WhoId"): "Events",
    ("OpportunityLineItem", "OpportunityId"): "OpportunityLineItems",
    ("ContentDocumentLink", "LinkedEntityId"): "ContentDocumentLinks",
    ("ContentDocumentLink", "ContentDocumentId"): "ContentDocumentLinks",
    ("ContentVersion", "ContentDocumentId"): "ContentVersions",
    ("Attachment", "ParentId"): "Attachments",
    ("Account", "ParentId"): "ChildAccounts",
    ("User", "ManagerId"): "ManagedUsers",
    ("PermissionSetAssignment", "PermissionSetId"): "Assignments",
    ("SBQQ__QuoteLine__c", "SBQQ__Quote__c"): "SBQQ__LineItems__r",
    ("SBQQ__Subscription__c", "SBQQ__Contract__c"): "SBQQ__Subscriptions__r",
    ("SBQQ__QuoteDocument__c", "SBQQ__Quote__c"): "SBQQ__R00N70000001lX7YEAU__r",
    ("SBQQ__Quote__c", "SBQQ__Opportunity2__c"): "SBQQ__Quotes2__r",
    ("Apttus_Proposal__Proposal_Line_Item__c", "Apttus_Proposal__Proposal__c"): (
        "Apttus_Proposal__R00N70000001yUfBEAU__r"
    ),
    ("Apttus_Config2__AssetLineItem__c", "Apttus_CMConfig__AgreementId__c"): "Apttus_CMConfig__AssetLineItems__r",
    ("Apttus_Proposal__Proposal__c", "Apttus_QPComply__MasterAgreementId__c"): "Apttus_QPComply__Proposals__r",
}


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"


def _default_child_name(obj: ObjectDef, f: FieldDef) -> str:
    assert f.relationship_name is not None
    if obj.custom:
        # Custom child objects: the object's plural, e.g. SBQQ__QuoteLines__r; a second lookup to the same
        # parent is named after its field (admins must pick distinct names in Setup).
        return f"{_plural(obj.name[:-3])}__r"
    plural = obj.label_plural.replace(" ", "") if obj.label_plural else _plural(obj.name)
    if f.custom:
        stem = f.relationship_name[:-3] if f.relationship_name.endswith("__r") else f.relationship_name
        return f"{stem}_{plural}__r"
    return plural


def _label_from_name(name: str) -> str:
    stem = name[:-3] if name.endswith("__c") else name
    if "__" in stem:
        stem = stem.split("__", 1)[1]
    out = []
    for i, ch in enumerate(stem):
        if ch == "_":
            out.append(" ")
        elif ch.isupper() and i > 0 and stem[i - 1].islower():
            out.append(" " + ch)
        else:
            out.append(ch)
    return "".join(out).strip()
