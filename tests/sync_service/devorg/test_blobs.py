"""Blob fields: Document.Body and ContentVersion.VersionData bytes, their length fields and Files plumbing."""

from __future__ import annotations

import base64

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from sync_service.devorg.pdf import render_quote_pdf
from tests.standin_org import RunningOrg


def test_document_bodies_are_pdfs_of_body_length(org: RunningOrg, sf: Salesforce) -> None:
    documents = sf.query("SELECT Id, Name, BodyLength, ContentType FROM Document ORDER BY Name LIMIT 3")["records"]
    assert len(documents) == 3
    for document in documents:
        body = sf.Document.get_base64(document["Id"])
        assert body.startswith(b"%PDF")
        assert len(body) == document["BodyLength"] > 0
        assert document["ContentType"] == "application/pdf"
    record = sf.Document.get(documents[0]["Id"])
    assert record["Body"] == f"/services/data/v59.0/sobjects/Document/{documents[0]['Id']}/Body"
    raw = org.rest("GET", f"sobjects/Document/{documents[0]['Id']}/Body", sf.session_id)
    assert raw.headers["Content-Type"].startswith("application/pdf")


def test_quote_documents_point_at_their_pdf(sf: Salesforce) -> None:
    quote_doc = sf.query("SELECT SBQQ__DocumentId__c FROM SBQQ__QuoteDocument__c LIMIT 1")["records"][0]
    body = sf.Document.get_base64(quote_doc["SBQQ__DocumentId__c"])
    assert body.startswith(b"%PDF") and body.rstrip().endswith(b"%%EOF")


def test_content_version_round_trip(sf: Salesforce) -> None:
    contract_id = sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"]
    pdf = render_quote_pdf(title="Renewal quote", lines=["Line one", "Line two"])
    created = sf.ContentVersion.create(
        {
            "Title": "Renewal quote",
            "PathOnClient": "renewal-quote.pdf",
            "VersionData": base64.b64encode(pdf).decode(),
            "FirstPublishLocationId": contract_id,
        }
    )
    version = sf.query(
        "SELECT Id, ContentSize, FileType, ContentDocumentId, IsLatest FROM ContentVersion "
        f"WHERE Id = '{created['id']}'"
    )["records"][0]
    data = sf.ContentVersion.get_base64(created["id"], base64_field="VersionData")
    assert data == pdf and data.startswith(b"%PDF")
    assert version["ContentSize"] == len(pdf)
    assert version["FileType"] == "PDF" and version["IsLatest"] is True
    links = sf.query(f"SELECT ContentDocumentId FROM ContentDocumentLink WHERE LinkedEntityId = '{contract_id}'")[
        "records"
    ]
    assert version["ContentDocumentId"] in {link["ContentDocumentId"] for link in links}
    document = sf.query(
        f"SELECT LatestPublishedVersionId, ContentSize FROM ContentDocument WHERE Id = '{version['ContentDocumentId']}'"
    )["records"][0]
    assert document == {
        "attributes": document["attributes"],
        "LatestPublishedVersionId": created["id"],
        "ContentSize": len(pdf),
    }


def test_missing_blob_is_not_found(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "no blob here"})["id"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.get_base64(task_id, base64_field="Body")
    document_id = sf.query("SELECT Id FROM Document LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Document.get_base64(document_id, base64_field="Nope")
