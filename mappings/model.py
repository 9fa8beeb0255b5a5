"""The mapping: where each canonical field of the renewal model lives in one org, and what the service
writes back. It is data (YAML an admin can read and edit), validated here for shape and by `validate.py`
against the org's describe() before it can be activated.

A field is mapped from a field path on the entity's Salesforce object — `EndDate`, or a relationship path
such as `Account.Owner.Email` or `SBQQ__Product__r.Family` — with an optional transform.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from mappings.problems import MappingProblem, closest, nearest_line

FieldType = Literal["text", "date", "decimal", "bool", "ref"]


@dataclass(frozen=True)
class CanonicalField:
    type: FieldType
    required: bool = False
    doc: str = ""
    ref: str | None = None  # for type "ref": the canonical entity it points at


# The canonical renewal model. Every mapping maps these; `required` ones must be mapped.
CANONICAL: dict[str, dict[str, CanonicalField]] = {
    "account": {
        "name": CanonicalField("text", True, "Customer or partner name"),
        "is_reseller": CanonicalField("bool", doc="The account resells or distributes"),
        "currency": CanonicalField("text", doc="ISO currency code"),
    },
    "contact": {
        "account": CanonicalField("ref", ref="account"),
        "email": CanonicalField("text", True, "Where the reminder goes"),
        "first_name": CanonicalField("text"),
        "last_name": CanonicalField("text"),
        "locale": CanonicalField("text", doc="e.g. de_DE; formats dates and amounts"),
        "email_opt_out": CanonicalField("bool", doc="The contact opted out of email in Salesforce: no reminders"),
    },
    "rep": {
        "name": CanonicalField("text", True),
        "email": CanonicalField("text", True, "Where the rep's copy goes; Reply-To of reminders"),
        "is_active": CanonicalField("bool"),
        "reseller": CanonicalField("ref", ref="account", doc="The reseller a partner rep works for"),
    },
    "contract": {
        "number": CanonicalField("text", True),
        "account": CanonicalField("ref", True, ref="account"),
        "contact": CanonicalField("ref", ref="contact", doc="The customer who receives the email"),
        "rep": CanonicalField("ref", True, ref="rep"),
        "reseller": CanonicalField("ref", ref="account"),
        "start_date": CanonicalField("date"),
        "end_date": CanonicalField("date", True),
        "status": CanonicalField("text", True),
        "is_cancelled": CanonicalField("bool"),
        "amount": CanonicalField("decimal"),
        "currency": CanonicalField("text"),
        "auto_renew": CanonicalField("bool"),
        "renewed": CanonicalField(
            "bool", doc="Salesforce says the contract is renewed (e.g. its renewal opportunity is won)"
        ),
        # The rep controls as the org holds them (read back by the pull; written per write_back.rep_controls,
        # which fills these in when it writes them on the contract).
        "hold": CanonicalField("bool", doc="Reminders held by a rep"),
        "status_flags": CanonicalField("text", doc="The rep's flags, separated by ';'"),
        "adjustment_pct": CanonicalField("decimal", doc="Renewal price adjustment the rep asked for, percent"),
        "override_amount": CanonicalField("decimal", doc="Renewal price the rep asked for instead of the quote's"),
        "override_reason": CanonicalField("text", doc="Why the rep asked for that price"),
    },
    "renewal_quote": {
        "contract": CanonicalField("ref", True, ref="contract"),
        "number": CanonicalField("text", True),
        "status": CanonicalField("text"),
        "total": CanonicalField("decimal", True),
        "currency": CanonicalField("text"),
        "valid_until": CanonicalField("date"),
        "approval": CanonicalField("text", doc="Approval status, where the org approves quotes apart from status"),
        "contact": CanonicalField("ref", ref="contact", doc="Overrides the contract's contact when set"),
    },
    "quote_line": {
        "quote": CanonicalField("ref", True, ref="renewal_quote"),
        "product": CanonicalField("text", True),
        "product_line": CanonicalField("text", doc="Product family, for the reports"),
        "quantity": CanonicalField("decimal", True),
        "unit_price": CanonicalField("decimal"),
        "net": CanonicalField("decimal"),
    },
    "quote_document": {
        "quote": CanonicalField("ref", True, ref="renewal_quote"),
        "document_id": CanonicalField("ref", True, doc="Id of the Document or ContentVersion with the bytes"),
        "title": CanonicalField("text"),
        "size": CanonicalField("decimal"),
    },
}
ENTITIES = tuple(CANONICAL)
# Pull order: parents before the children that point at them.
PULL_ORDER = ("account", "contact", "rep", "contract", "renewal_quote", "quote_line", "quote_document")


class Transform(BaseModel):
    """How a Salesforce value becomes the canonical one."""

    model_config = ConfigDict(extra="forbid")

    map: dict[str, Any] | None = None  # picklist value → canonical value
    default: Any = None  # for `map`: the value of anything not listed (null when absent)
    date_format: str | None = None  # strptime format when a text field holds a date
    number: bool = False  # parse a text field as a decimal number
    negate: bool = False  # for bools: true when the source is false


class FieldMap(BaseModel):
    """One canonical field: a field path on the entity's object, or a constant."""

    model_config = ConfigDict(extra="forbid")

    field: str | None = None
    constant: Any = None
    transform: Transform | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldMap:
        if (self.field is None) == (self.constant is None):
            raise ValueError("give exactly one of `field` or `constant`")
        return self


class EntityMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object: str
    scope: str | None = Field(default=None, description="SOQL condition: which records are in play")
    fields: dict[str, FieldMap]
    # For documents: which object holds the bytes the `document_id` field points at.
    source: Literal["Document", "ContentVersion", "Attachment"] | None = None

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        """Allow `end_date: EndDate` as short for `end_date: {field: EndDate}`."""
        if isinstance(value, dict):
            return {k: {"field": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


class WriteBackAction(BaseModel):
    """Field values set on one record when an action happens (e.g. the quote's status on Renew)."""

    model_config = ConfigDict(extra="forbid")

    object: str
    record: str  # whose record: `contract`, `renewal_quote`, or `<entity>.<lookup field>` (its parent)
    set: dict[str, Any]


class TaskConventions(BaseModel):
    """How activities look in Salesforce."""

    model_config = ConfigDict(extra="forbid")

    what: str = "contract"  # `contract`, `renewal_quote` or `<entity>.<lookup field>`: the Task's WhatId
    type: str | None = "Email"
    subtype: str | None = "Email"  # TaskSubtype: set on create only
    status: str = "Completed"
    priority: str = "Normal"
    contact_request_status: str = "Not Started"
    contact_request_priority: str = "High"
    contact_request_due_days: int = Field(default=2, ge=0, le=30)
    external_id_field: str | None = None  # Task field flagged External ID in the org, if it has one
    subject_prefix: str = "Renewals"


RepControl = Literal["hold", "status_flags", "adjustment_pct", "override_amount", "override_reason"]
REP_CONTROL_TYPES: dict[str, tuple[str, ...]] = {
    "hold": ("boolean",),
    "status_flags": ("string", "textarea", "multipicklist"),
    "adjustment_pct": ("percent", "double"),
    "override_amount": ("currency", "double"),
    "override_reason": ("string", "textarea"),
}


class RepControls(BaseModel):
    """Where the rep portal's controls are written in the org: one field per control on one record (the
    contract, usually). A control without a field is kept in the service only (and audited)."""

    model_config = ConfigDict(extra="forbid")

    object: str
    record: str = "contract"
    fields: dict[RepControl, str] = Field(default_factory=dict)


class WriteBack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    renew: list[WriteBackAction] = Field(default_factory=list)
    contact_rep: list[WriteBackAction] = Field(default_factory=list)
    rep_controls: RepControls | None = None
    tasks: TaskConventions = Field(default_factory=TaskConventions)


class RenewalRules(BaseModel):
    """When Salesforce says a contract is renewed, and when its quote may be renewed from the email.

    Values are the org's values of the renewal quote's mapped `status` (and `approval`); `validate.py`
    checks them against the field's picklist. The service never renews what these rules refuse: the email
    and the portal offer the rep instead.
    """

    model_config = ConfigDict(extra="forbid")

    # Quote statuses that mean the renewal happened in Salesforce (accepted, ordered, closed won).
    renewed_statuses: list[str] = Field(default_factory=list)
    # Quote statuses the customer may renew from; null: any status not renewed and not refused.
    renewable_statuses: list[str] | None = None
    # When the quote's `approval` is mapped: the values that allow a renewal; null: approval not checked.
    approved_values: list[str] | None = None
    # A quote past its `valid_until` date may still be renewed from the email (not by default).
    renew_expired_quotes: bool = False

    @model_validator(mode="after")
    def _disjoint(self) -> RenewalRules:
        both = set(self.renewed_statuses) & set(self.renewable_statuses or ())
        if both:
            raise ValueError(f"a status cannot be both renewed and renewable: {', '.join(sorted(both))}")
        return self


class Branding(BaseModel):
    """Which brand the emails of this org's contracts carry (the brands themselves are in the brands file)."""

    model_config = ConfigDict(extra="forbid")

    # A contract sold through a reseller gets the reseller's brand (where the brands file has one for it).
    use_reseller_brand: bool = True


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    description: str = ""
    entities: dict[str, EntityMap]
    write_back: WriteBack = Field(default_factory=WriteBack)
    renewal: RenewalRules = Field(default_factory=RenewalRules)
    branding: Branding = Field(default_factory=Branding)
    # Above this many rows an entity is pulled with a Bulk API 2.0 query, below it with REST paging.
    bulk_threshold: int = Field(default=10_000, ge=0)

    # Dotted path → YAML line of its key, set by the loader so problems can name the line; empty otherwise.
    _source_lines: dict[str, int] = PrivateAttr(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """The YAML line of `path`, or of its nearest ancestor that has one (a key left out has no line)."""
        return nearest_line(self._source_lines, path)

    def __eq__(self, other: object) -> bool:
        # Where a mapping was loaded from is not part of what it says: compare the fields only.
        if not isinstance(other, Mapping):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @model_validator(mode="after")
    def _read_back_rep_controls(self) -> Mapping:
        """The pull reads back every rep control written on the contract, so a change made in Salesforce comes
        back and a write never lands over one unseen: a control written on the contract and not mapped on the
        contract entity is mapped to the same field; mapped to another field, it is a mistake."""
        controls = self.write_back.rep_controls
        contract = self.entities.get("contract")
        if controls is None or controls.record != "contract" or contract is None:
            return self
        for control, name in controls.fields.items():
            mapped = contract.fields.get(control)
            if mapped is None:
                contract.fields[control] = FieldMap(field=name)
            elif mapped.field is None or mapped.field.lower() != name.lower():
                raise ValueError(
                    f"write_back.rep_controls.fields.{control} writes {name} but entities.contract.fields.{control} "
                    f"reads {mapped.field or 'a constant'}: the contract must read back the field the control writes"
                )
        return self

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: dict[str, EntityMap]) -> dict[str, EntityMap]:
        issues = canonical_issues({entity: spec.fields for entity, spec in value.items()})
        if issues:
            raise ValueError("; ".join(f"{i.path}: {i.message}" for i in issues))
        return value


def canonical_issues(entities: MappingOf[str, Collection[str]]) -> list[MappingProblem]:
    """Entities and fields that are not in the canonical model, and the required ones left unmapped.

    Takes entity name → its mapped field names, so the loader can run it on raw YAML and give each issue
    its own line (pydantic would report them all at `entities`).
    """
    issues = []
    for entity, fields in entities.items():
        if entity not in CANONICAL:
            issues.append(
                MappingProblem(
                    f"entities.{entity}",
                    f"unknown entity; the canonical ones are {', '.join(CANONICAL)}",
                    closest(entity, CANONICAL),
                )
            )
            continue
        for name in fields:
            if name not in CANONICAL[entity]:
                issues.append(
                    MappingProblem(
                        f"entities.{entity}.fields.{name}",
                        f"{entity} has no canonical field {name}; known: {', '.join(CANONICAL[entity])}",
                        closest(name, CANONICAL[entity]),
                    )
                )
        missing = [f for f, c in CANONICAL[entity].items() if c.required and f not in fields]
        if missing:
            issues.append(
                MappingProblem(f"entities.{entity}.fields", f"required fields not mapped: {', '.join(missing)}")
            )
    missing_entities = [e for e in CANONICAL if e not in entities]
    if missing_entities:
        issues.append(MappingProblem("entities", f"entities missing: {', '.join(missing_entities)}"))
    return issues
