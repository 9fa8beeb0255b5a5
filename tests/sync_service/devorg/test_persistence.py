"""The org keeps its data, credentials, schema changes and API usage across a restart on the same directory."""

from __future__ import annotations

import base64
from pathlib import Path

from sync_service.salesforce.client import connect
from tests.standin_org import start_org, stop_org


def test_records_survive_a_restart(tmp_path: Path) -> None:
    first = start_org(tmp_path)
    try:
        sf = connect(first.connection("password"))
        first.admin("POST", "schema", {"op": "add", "object": "Task", "field": "Kept__c", "type": "string"})
        account_id = sf.Account.create({"Name": "Persistent Ltd"})["id"]
        task_id = sf.Task.create({"Subject": "still here", "WhatId": account_id, "Kept__c": "yes"})["id"]
        deleted_id = sf.Task.create({"Subject": "deleted before restart"})["id"]
        sf.Task.delete(deleted_id)
        version_id = sf.ContentVersion.create(
            {"Title": "blob", "PathOnClient": "blob.bin", "VersionData": base64.b64encode(b"\x00\x01bytes").decode()}
        )["id"]
        used = first.api_used()
        credentials = {k: first.info[k] for k in ("username", "password", "security_token", "client_id")}
    finally:
        stop_org(first)

    second = start_org(tmp_path)
    try:
        assert {k: second.info[k] for k in credentials} == credentials
        sf = connect(second.connection("password"))
        task = sf.Task.get(task_id)
        assert (task["Subject"], task["WhatId"], task["AccountId"], task["Kept__c"]) == (
            "still here",
            account_id,
            account_id,
            "yes",
        )
        assert sf.query(f"SELECT COUNT() FROM Task WHERE Id = '{deleted_id}'")["totalSize"] == 0
        assert sf.query(f"SELECT COUNT() FROM Task WHERE Id = '{deleted_id}'", include_deleted=True)["totalSize"] == 1
        assert sf.ContentVersion.get_base64(version_id, base64_field="VersionData") == b"\x00\x01bytes"
        assert second.api_used() >= used
        # new ids continue the sequence instead of reusing old ones
        assert sf.Task.create({"Subject": "after restart"})["id"] not in (task_id, deleted_id)
    finally:
        stop_org(second)
