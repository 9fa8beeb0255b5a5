"""The standard objects of the stand-in org, field by field, as an org with multi-currency shows them.

Only fields the service, its admins or the seed data use are listed, plus the system fields every record has.
Managed-package objects (Salesforce CPQ, Conga) are in `catalogue_packages.py`.
"""

from __future__ import annotations

from dataclasses import replace

from sync_service.devorg.catalogue_packages import package_objects
from sync_service.devorg.fielddefs import (
    CURRENCIES,
    auto_number,
    blob,
    check,
    day,
    email,
    integer,
    longtext,
    moment,
    money,
    number,
    percent,
    phone,
    pick,
    readonly,
    ref,
    renewal_control_fields,
    required,
    sobject,
    text,
    url,
)
from sync_service.devorg.schema import FieldDef, ObjectDef, Schema

# Objects a Task may point at through WhatId (activities enabled).
WHAT_TARGETS = (
    "Account",
    "Opportunity",
    "Contract",
    "Order",
    "SBQQ__Quote__c",
    "Apttus__APTS_Agreement__c",
    "Apttus_Proposal__Proposal__c",
)
TASK_EXTERNAL_ID_FIELD = "Renewals_Event_Key__c"
USER_TYPES = ("Standard", "PowerPartner", "CsnOnly")


def _name(length: int = 255) -> FieldDef:
    return required(text("Name", length, name_field=True))


def _full_name() -> FieldDef:
    return readonly(text("Name", 121, name_field=True))


def standard_objects(task_external_id: bool) -> list[ObjectDef]:
    task_fields = [
        FieldDef("Subject", "combobox", length=255),
        ref("WhoId", "Contact", "Lead", rel="Who"),
        ref("WhatId", *WHAT_TARGETS, rel="What"),
        readonly(ref("AccountId", "Account")),
        day("ActivityDate", label="Due Date Only"),
        required(
            pick(
                "Status",
                ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
                default="Not Started",
            )
        ),
        required(pick("Priority", ("High", "Normal", "Low"), default="Normal")),
        readonly(check("IsHighPriority")),
        readonly(check("IsClosed")),
        pick("Type", ("Call", "Email", "Meeting", "Other")),
        replace(
            pick("TaskSubtype", ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"), restricted=True),
            updateable=False,
        ),
        longtext("Description", label="Comments"),
        readonly(moment("CompletedDateTime")),
        check("IsReminderSet"),
        moment("ReminderDateTime"),
        readonly(check("IsArchived")),
    ]
    if task_external_id:
        task_fields.append(text(TASK_EXTERNAL_ID_FIELD, 80, external_id=True, unique=True, label="Renewals Event Key"))
    return [
        sobject(
            "Organization",
            "00D",
            text("Name", 80, name_field=True),
            check("IsSandbox"),
            text("OrganizationType", 40),
            text("TimeZoneSidKey", 40),
            text("DefaultLocaleSidKey", 40),
            owner=False,
            currency=False,
            createable=False,
        ),
        sobject(
            "User",
            "005",
            required(text("Username", 80, unique=True)),
            text("FirstName", 40),
            required(text("LastName", 80)),
            _full_name(),
            required(text("Alias", 8)),
            required(email("Email")),
            text("Title", 80),
            phone("Phone"),
            check("IsActive", default=True),
            pick("UserType", USER_TYPES, default="Standard"),
            ref("ManagerId", "User"),
            ref("ContactId", "Contact"),
            readonly(ref("AccountId", "Account")),
            required(pick("LanguageLocaleKey", ("en_US", "de", "fr", "ja", "es"), default="en_US")),
            required(
                pick(
                    "LocaleSidKey",
                    ("en_US", "en_GB", "de_DE", "fr_FR", "ja_JP", "en_AU", "en_CA", "de_CH"),
                    default="en_US",
                )
            ),
            required(
                pick(
                    "TimeZoneSidKey",
                    (
                        "America/Los_Angeles",
                        "America/New_York",
                        "Europe/London",
                        "Europe/Berlin",
                        "Asia/Tokyo",
                        "Australia/Sydney",
                    ),
                    default="America/Los_Angeles",
                )
            ),
            required(pick("DefaultCurrencyIsoCode", CURRENCIES, default="USD")),
            required(ref("ProfileId", "Profile")),
            owner=False,
        ),
        *access_objects(),
        sobject(
            "Account",
            "001",
            pick("Type", ("Customer", "Reseller", "Distributor", "Partner", "Prospect", "Other")),
            ref("ParentId", "Account", rel="Parent"),
            pick(
                "Industry",
                ("Technology", "Manufacturing", "Healthcare", "Finance", "Retail", "Education", "Government", "Energy"),
            ),
            text("BillingStreet", 255),
            text("BillingCity", 40),
            text("BillingState", 80),
            text("BillingPostalCode", 20),
            text("BillingCountry", 80),
            text("ShippingState", 80),
            text("ShippingCountry", 80),
            phone("Phone"),
            url("Website"),
            money("AnnualRevenue"),
            integer("NumberOfEmployees"),
            check("IsPartner"),
            longtext("Description"),
            name_field=_name(),
        ),
        sobject(
            "Contact",
            "003",
            ref("AccountId", "Account"),
            text("FirstName", 40),
            required(text("LastName", 80)),
            _full_name(),
            email("Email"),
            phone("Phone"),
            text("Title", 128),
            text("MailingCountry", 80),
            check("HasOptedOutOfEmail"),
            pick(
                "Preferred_Locale__c",
                ("en_US", "en_GB", "de_DE", "fr_FR", "ja_JP", "en_AU", "en_CA", "de_CH", "es_ES"),
                label="Preferred Locale",
            ),
        ),
        sobject(
            "Lead",
            "00Q",
            text("FirstName", 40),
            required(text("LastName", 80)),
            _full_name(),
            required(text("Company", 255)),
            email("Email"),
            required(
                pick(
                    "Status",
                    ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"),
                    default="Open - Not Contacted",
                )
            ),
        ),
        sobject(
            "Product2",
            "01t",
            text("ProductCode", 255),
            pick("Family", ("Software", "Support", "Services", "Hardware", "Training")),
            check("IsActive", default=True),
            longtext("Description", 4000),
            name_field=_name(),
            owner=False,
        ),
        sobject(
            "Pricebook2",
            "01s",
            check("IsActive", default=True),
            check("IsStandard"),
            longtext("Description", 255),
            name_field=_name(),
            owner=False,
            currency=False,
        ),
        sobject(
            "PricebookEntry",
            "01u",
            required(ref("Pricebook2Id", "Pricebook2")),
            required(ref("Product2Id", "Product2")),
            required(money("UnitPrice")),
            check("IsActive", default=True),
            name_field=readonly(text("Name", 255, name_field=True)),
            owner=False,
        ),
        sobject(
            "Opportunity",
            "006",
            ref("AccountId", "Account"),
            required(
                pick(
                    "StageName",
                    (
                        "Prospecting",
                        "Qualification",
                        "Needs Analysis",
                        "Proposal/Price Quote",
                        "Negotiation/Review",
                        "Closed Won",
                        "Closed Lost",
                    ),
                )
            ),
            required(day("CloseDate")),
            money("Amount"),
            percent("Probability"),
            pick("Type", ("New Business", "Existing Business", "Renewal")),
            readonly(check("IsClosed")),
            readonly(check("IsWon")),
            ref("ContractId", "Contract"),
            ref("Pricebook2Id", "Pricebook2"),
            longtext("Description"),
            text("NextStep", 255),
            check("SBQQ__Renewal__c", label="Renewal"),
            ref("SBQQ__RenewedContract__c", "Contract", label="Renewed Contract"),
            ref("SBQQ__AmendedContract__c", "Contract", label="Amended Contract"),
            ref("SBQQ__PrimaryQuote__c", "SBQQ__Quote__c", label="Primary Quote"),
            check("SBQQ__Contracted__c", label="Contracted"),
            check("SBQQ__Ordered__c", label="Ordered"),
            name_field=_name(120),
        ),
        sobject(
            "OpportunityLineItem",
            "00k",
            required(ref("OpportunityId", "Opportunity", cascade_delete=True)),
            ref("Product2Id", "Product2"),
            ref("PricebookEntryId", "PricebookEntry"),
            readonly(text("Name", 376, name_field=True)),
            readonly(text("ProductCode", 255)),
            required(number("Quantity")),
            money("UnitPrice"),
            readonly(money("ListPrice")),
            readonly(money("TotalPrice")),
            money("Discount"),
            day("ServiceDate"),
            longtext("Description", 255),
            owner=False,
        ),
        sobject(
            "Contract",
            "800",
            required(ref("AccountId", "Account")),
            auto_number("ContractNumber"),
            text("Name", 80, name_field=True),
            required(pick("Status", ("Draft", "In Approval Process", "Activated"), default="Draft")),
            readonly(pick("StatusCode", ("Draft", "InApproval", "Activated", "Terminated", "Expired"))),
            day("StartDate"),
            integer("ContractTerm"),
            readonly(day("EndDate")),
            readonly(moment("ActivatedDate"), calculated=False),
            ref("CustomerSignedId", "Contact", rel="CustomerSigned"),
            day("CustomerSignedDate"),
            day("CompanySignedDate"),
            pick("OwnerExpirationNotice", ("15", "30", "45", "60", "90", "120")),
            longtext("Description"),
            longtext("SpecialTerms", 4000),
            text("BillingCountry", 80),
            money("Total_Contract_Value__c", label="Total Contract Value"),
            check("Auto_Renew__c", label="Auto Renew"),
            check("Cancelled__c", label="Cancelled"),
            text("Cancellation_Reason__c", 255, label="Cancellation Reason"),
            ref("Reseller__c", "Account", label="Reseller"),
            check("SBQQ__RenewalForecast__c", label="Renewal Forecast"),
            check("SBQQ__RenewalQuoted__c", label="Renewal Quoted"),
            ref("SBQQ__RenewalOpportunity__c", "Opportunity", label="Renewal Opportunity"),
            integer("SBQQ__RenewalTerm__c", label="Renewal Term"),
            percent("SBQQ__RenewalUpliftRate__c", label="Renewal Uplift (%)"),
            ref("SBQQ__RenewalOwner__c", "User", label="Renewal Owner"),
            check("SBQQ__Evergreen__c", label="Evergreen"),
            ref("SBQQ__Opportunity__c", "Opportunity", label="Opportunity"),
            ref("SBQQ__Quote__c", "SBQQ__Quote__c", label="Quote"),
            pick("SBQQ__AmendmentRenewalBehavior__c", ("Latest End Date", "Earliest End Date")),
            *renewal_control_fields(),
        ),
        sobject(
            "Order",
            "801",
            required(ref("AccountId", "Account")),
            ref("ContractId", "Contract"),
            ref("OpportunityId", "Opportunity"),
            ref("Pricebook2Id", "Pricebook2"),
            auto_number("OrderNumber"),
            required(pick("Status", ("Draft", "Activated"), default="Draft")),
            required(day("EffectiveDate")),
            readonly(money("TotalAmount")),
            ref("SBQQ__Quote__c", "SBQQ__Quote__c", label="Quote"),
            check("SBQQ__Contracted__c", label="Contracted"),
            text("PoNumber", 80),
        ),
        sobject("Task", "00T", *task_fields),
        sobject(
            "Event",
            "00U",
            text("Subject", 255),
            ref("WhoId", "Contact", "Lead", rel="Who"),
            ref("WhatId", *WHAT_TARGETS, rel="What"),
            readonly(ref("AccountId", "Account")),
            moment("StartDateTime"),
            moment("EndDateTime"),
            moment("ActivityDateTime"),
            integer("DurationInMinutes"),
            longtext("Description"),
        ),
        sobject(
            "Document",
            "015",
            required(text("Name", 255, name_field=True)),
            text("DeveloperName", 80),
            blob("Body"),
            readonly(integer("BodyLength")),
            text("ContentType", 120),
            text("Type", 40),
            required(ref("FolderId", "User", rel="Folder")),
            check("IsPublic"),
            longtext("Description", 255),
            owner=False,
            currency=False,
        ),
        sobject(
            "Attachment",
            "00P",
            required(ref("ParentId", *WHAT_TARGETS, "Contact", rel="Parent")),
            required(text("Name", 255, name_field=True)),
            blob("Body"),
            readonly(integer("BodyLength")),
            text("ContentType", 120),
            check("IsPrivate"),
            longtext("Description", 500),
            currency=False,
        ),
        sobject(
            "ContentDocument",
            "069",
            readonly(text("Title", 255, name_field=True), calculated=False),
            readonly(ref("LatestPublishedVersionId", "ContentVersion"), calculated=False),
            readonly(text("FileType", 20)),
            readonly(text("FileExtension", 40)),
            readonly(integer("ContentSize")),
            currency=False,
            createable=False,
        ),
        sobject(
            "ContentVersion",
            "068",
            required(text("Title", 255, name_field=True)),
            required(text("PathOnClient", 500)),
            blob("VersionData"),
            replace(ref("ContentDocumentId", "ContentDocument"), updateable=False),
            readonly(check("IsLatest")),
            readonly(text("FileType", 20)),
            readonly(text("FileExtension", 40)),
            readonly(integer("ContentSize")),
            readonly(text("VersionNumber", 20)),
            replace(ref("FirstPublishLocationId", *WHAT_TARGETS, "User", rel="FirstPublishLocation"), updateable=False),
            longtext("Description", 1000),
            currency=False,
        ),
        sobject(
            "ContentDocumentLink",
            "06A",
            required(ref("LinkedEntityId", *WHAT_TARGETS, "User", "Contact", rel="LinkedEntity")),
            required(replace(ref("ContentDocumentId", "ContentDocument", cascade_delete=True), updateable=False)),
            required(pick("ShareType", ("V", "C", "I"), restricted=True, default="V")),
            required(
                pick("Visibility", ("AllUsers", "InternalUsers", "SharedUsers"), restricted=True, default="AllUsers")
            ),
            owner=False,
            currency=False,
        ),
    ]


def access_objects() -> list[ObjectDef]:
    """Who may do what in the org: profiles, permission sets and their assignments to users (the fields the
    Object Reference lists, minus the Permissions* flags and the licence lookups, which nothing here reads).

    As in Salesforce, every profile owns a permission set (``IsOwnedByProfile``; named ``X`` + the profile's
    id) and every user is assigned the one of their profile; :mod:`sync_service.devorg.automation` keeps both.
    """
    return [
        sobject(
            "Profile",
            "00e",
            readonly(pick("UserType", USER_TYPES, restricted=True), calculated=False),
            text("Description", 255),
            check("IsSsoEnabled"),
            name_field=required(text("Name", 255, name_field=True, unique=True)),
            owner=False,
            currency=False,
        ),
        sobject(
            "PermissionSet",
            "0PS",
            required(text("Label", 80, label="Permission Set Label")),
            text("Description", 255),
            readonly(check("IsOwnedByProfile"), calculated=False),
            readonly(check("IsCustom", default=True), calculated=False),
            readonly(ref("ProfileId", "Profile"), calculated=False),
            readonly(text("NamespacePrefix", 15), calculated=False),
            name_field=required(text("Name", 80, name_field=True, unique=True, label="Permission Set Name")),
            label="Permission Set",
            owner=False,
            currency=False,
        ),
        sobject(
            "PermissionSetAssignment",
            "0Pa",
            required(replace(ref("AssigneeId", "User", rel="Assignee"), updateable=False)),
            required(replace(ref("PermissionSetId", "PermissionSet", cascade_delete=True), updateable=False)),
            moment("ExpirationDate", label="Expires On"),
            label="Permission Set Assignment",
            owner=False,
            currency=False,
        ),
    ]


def build_schema(task_external_id: bool = True) -> Schema:
    return Schema(standard_objects(task_external_id) + package_objects())


__all__ = ["TASK_EXTERNAL_ID_FIELD", "WHAT_TARGETS", "build_schema"]
