"""The read-only web view: objects, a record with its Tasks, and nothing that writes."""

from __future__ import annotations

import uuid

from simple_salesforce import Salesforce

from tests.standin_org import RunningOrg


def test_index_lists_objects_with_counts(org: RunningOrg) -> None:
    response = org.http.get(f"{org.url}/_devorg/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    for name in ("Contract", "Task", "Account", "SBQQ__Quote__c"):
        assert f'href="/_devorg/o/{name}"' in response.text


def test_object_page_lists_records(org: RunningOrg, sf: Salesforce) -> None:
    contract = sf.query("SELECT Id, ContractNumber FROM Contract ORDER BY SystemModstamp DESC LIMIT 1")["records"][0]
    response = org.http.get(f"{org.url}/_devorg/o/Contract")
    assert response.status_code == 200
    assert f'href="/_devorg/r/{contract["Id"]}"' in response.text
    assert org.http.get(f"{org.url}/_devorg/o/Nope__c").status_code == 404


def test_record_page_shows_tasks_created_on_it(org: RunningOrg, sf: Salesforce) -> None:
    contract_id = sf.query("SELECT Id FROM Contract ORDER BY ContractNumber LIMIT 1")["records"][0]["Id"]
    subject = f"Renewal reminder opened <{uuid.uuid4().hex[:6]}> & clicked"
    task_id = sf.Task.create({"Subject": subject, "WhatId": contract_id, "Status": "Completed"})["id"]
    page = org.http.get(f"{org.url}/_devorg/r/{contract_id}")
    assert page.status_code == 200
    assert task_id in page.text
    assert subject.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page.text  # escaped
    assert subject not in page.text
    assert org.http.get(f"{org.url}/_devorg/r/{contract_id[:15]}").status_code == 200
    assert org.http.get(f"{org.url}/_devorg/r/{task_id}").status_code == 200
    assert org.http.get(f"{org.url}/_devorg/r/not-an-id").status_code == 404


def test_web_view_is_read_only(org: RunningOrg, sf: Salesforce) -> None:
    contract_id = sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/_devorg/", f"/_devorg/r/{contract_id}"):
            assert org.http.request(method, f"{org.url}{path}", data="x").status_code == 405
    assert sf.Contract.get(contract_id)["IsDeleted"] is False
