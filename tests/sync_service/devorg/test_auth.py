"""Every login flow simple-salesforce has, against the stand-in over TLS, and re-login after expiry."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from sync_service.salesforce.client import connect
from sync_service.salesforce.transport import make_session
from tests.standin_org import RunningOrg

COUNT_CONTRACTS = "SELECT COUNT() FROM Contract"


def _works(sf: Salesforce) -> None:
    assert sf.query(COUNT_CONTRACTS)["totalSize"] >= 120


def _oauth_password(org: RunningOrg, password: str) -> Salesforce:
    """The OAuth username-password flow: consumer key and secret with username and password."""
    return Salesforce(
        username=org.info["username"],
        password=password,
        consumer_key=org.info["client_id"],
        consumer_secret=org.info["client_secret"],
        domain="login",
        session=make_session(timeout=30, ca_bundle=org.ca, login_base_url=org.url),
        version="59.0",
    )


def _other_key(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "other-key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def test_soap_password_login(org: RunningOrg) -> None:
    since = time.time()
    sf = connect(org.connection("password"))
    assert sf.auth_type == "password"
    assert sf.sf_instance == org.url.removeprefix("https://")
    assert sf.session_id.startswith("00D")
    _works(sf)
    soap = [e for e in org.requests_since(since) if e["path"].startswith("/services/Soap/u/")]
    assert [(e["method"], e["status"]) for e in soap] == [("POST", 200)]


def test_soap_bad_password_is_invalid_login(org: RunningOrg) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        connect(org.connection("password", password="not-the-password"))
    assert caught.value.code == "INVALID_LOGIN"
    assert "Invalid username, password, security token" in caught.value.auth_message


def test_soap_password_without_the_security_token_fails(org: RunningOrg) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        connect(org.connection("password", security_token="WRONGTOKEN"))
    assert caught.value.code == "INVALID_LOGIN"


def test_soap_login_with_an_organization_id(org: RunningOrg) -> None:
    """The `ipfilter` flavour of SOAP login: no token, a LoginScopeHeader with the org id instead."""
    sf = Salesforce(
        username=org.info["username"],
        password=org.info["password"] + org.info["security_token"],
        organizationId=org.info["org_id"],
        domain="login",
        session=make_session(timeout=30, ca_bundle=org.ca, login_base_url=org.url),
        version="59.0",
    )
    _works(sf)
    assert sf.is_sandbox() is False


def test_oauth_password_flow(org: RunningOrg) -> None:
    since = time.time()
    sf = _oauth_password(org, org.info["password"])
    _works(sf)
    assert org.logins_since(since) == 1
    assert any(e["path"] == "/services/oauth2/token" for e in org.requests_since(since))


def test_oauth_password_flow_bad_password(org: RunningOrg) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        _oauth_password(org, "wrong")
    assert caught.value.code == "invalid_grant"


def test_client_credentials_flow(org: RunningOrg) -> None:
    sf = connect(org.connection("client_credentials"))
    _works(sf)
    assert sf.Contract.describe()["name"] == "Contract"


def test_client_credentials_with_a_wrong_secret(org: RunningOrg) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        connect(org.connection("client_credentials", client_secret="0" * 64))
    assert caught.value.code == "invalid_client"


def test_jwt_bearer_with_the_generated_key(org: RunningOrg) -> None:
    sf = connect(org.connection("jwt"))
    _works(sf)


def test_jwt_signed_by_another_key_is_refused(org: RunningOrg, tmp_path: Path) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        connect(org.connection("jwt", private_key_file=_other_key(tmp_path)))
    assert caught.value.code == "invalid_grant"


def test_jwt_for_another_user_is_refused(org: RunningOrg) -> None:
    # Salesforce answers "user hasn't approved this consumer", on which the client also warns.
    with pytest.raises(SalesforceAuthenticationFailed) as caught, pytest.warns(UserWarning, match="self-authorize"):
        connect(org.connection("jwt", username="someone.else@renewals.devorg"))
    assert caught.value.code == "invalid_grant"


def test_jwt_from_another_connected_app_is_refused(org: RunningOrg) -> None:
    with pytest.raises(SalesforceAuthenticationFailed):
        connect(org.connection("jwt", client_id="3MVGnot-this-app"))


def _assertion(org: RunningOrg, **claims: object) -> str:
    key = serialization.load_pem_private_key(Path(org.info["jwt_private_key"]).read_bytes(), password=None)
    payload = {
        "iss": org.info["client_id"],
        "sub": org.info["username"],
        "aud": "https://login.salesforce.com",
        "exp": int((datetime.now(UTC) + timedelta(minutes=3)).timestamp()),
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256")  # type: ignore[arg-type]


def _token_request(org: RunningOrg, assertion: str) -> tuple[int, dict[str, str]]:
    response = org.http.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    return response.status_code, response.json()


def test_jwt_claims_are_checked(org: RunningOrg) -> None:
    status, body = _token_request(org, _assertion(org))
    assert status == 200 and body["token_type"] == "Bearer" and body["instance_url"] == org.url
    expired = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp())
    for bad in (_assertion(org, exp=expired), _assertion(org, sub="nobody@example.com"), "not.a.jwt"):
        status, body = _token_request(org, bad)
        assert status == 400
        assert body["error"] == "invalid_grant" and body["error_description"]


def test_direct_auth_with_a_valid_token(org: RunningOrg, sf: Salesforce) -> None:
    since = time.time()
    direct = connect(org.connection("direct", instance_url=org.url, access_token=sf.session_id))
    assert direct.auth_type == "direct"
    _works(direct)
    assert org.logins_since(since) == 0


def test_direct_auth_after_expiry_raises_expired_session(org: RunningOrg) -> None:
    token = connect(org.connection("password")).session_id
    direct = connect(org.connection("direct", instance_url=org.url, access_token=token))
    _works(direct)
    assert org.admin("POST", "sessions/expire", {"token": token}) == {"expired": 1}
    with pytest.raises(SalesforceExpiredSession) as caught:
        direct.query(COUNT_CONTRACTS)
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    with pytest.raises(SalesforceExpiredSession):
        direct.Contract.describe()


def test_relogin_after_all_sessions_expire(org: RunningOrg) -> None:
    since = time.time()
    sf = connect(org.connection("password"))
    contract_id = sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"]
    first_token = sf.session_id

    org.admin("POST", "sessions/expire", {})
    _works(sf)  # Salesforce._call_salesforce: 401 INVALID_SESSION_ID, log in again, retry
    assert sf.session_id != first_token

    org.admin("POST", "sessions/expire", {})
    assert sf.Contract.get(contract_id)["Id"] == contract_id  # the SFType path re-logs in too

    assert org.logins_since(since) == 3
    statuses = [e["status"] for e in org.requests_since(since) if e["path"].startswith("/services/data/")]
    assert statuses.count(401) == 2


def test_idle_sessions_expire_after_session_seconds(org: RunningOrg) -> None:
    org.admin("PUT", "settings", {"session_seconds": 60})
    sf = connect(org.connection("password"))
    _works(sf)
    direct = connect(org.connection("direct", instance_url=org.url, access_token=sf.session_id))
    org.advance_clock(61)  # a minute and a second idle, on the org's clock: no test sleeps through it
    with pytest.raises(SalesforceExpiredSession):
        direct.query(COUNT_CONTRACTS)
    since = time.time()
    _works(sf)  # the password client logs in again by itself
    assert org.logins_since(since) == 1


def test_activity_keeps_a_session_alive(org: RunningOrg) -> None:
    org.admin("PUT", "settings", {"session_seconds": 60})
    sf = connect(org.connection("password"))
    _works(sf)
    since = time.time()
    # 120 s on the org's clock in all, twice the idle timeout, each gap half of it (however slow the machine).
    for _ in range(4):
        org.advance_clock(30)
        _works(sf)
    assert org.logins_since(since) == 0
