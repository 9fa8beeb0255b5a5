"""Login endpoints: SOAP partner login and the OAuth 2.0 token endpoint (password, client credentials,
JWT bearer), answering in the exact shapes simple-salesforce parses (reference 1.4). The authorization_code and
refresh_token grants of the web server flow are in `web_auth.py`. Every token answer's `signature` is the
base64 HMAC-SHA256 of `id` + `issued_at` keyed with the consumer secret (oauth reference 2.9)."""

from __future__ import annotations

import base64
import hmac
import time
from typing import TYPE_CHECKING
from xml.dom import minidom
from xml.parsers.expat import ExpatError

import jwt
from cryptography import x509
from defusedxml import DefusedXmlException
from defusedxml.minidom import parseString
from werkzeug.wrappers import Request

from sync_service.devorg.server import web_auth
from sync_service.devorg.server.reply import Reply, json_reply

if TYPE_CHECKING:
    from sync_service.devorg.org import Org

_SOAP_FAULT = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>INVALID_LOGIN</faultcode>\
<faultstring>INVALID_LOGIN: Invalid username, password, security token; or user locked out.</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>\
Invalid username, password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>\
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


def _text(doc: minidom.Document, local_name: str) -> str | None:
    for node in doc.getElementsByTagNameNS("*", local_name):
        return "".join(child.nodeValue or "" for child in node.childNodes if child.nodeType == child.TEXT_NODE)
    return None


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def soap_login(org: Org, request: Request, version: str, base_url: str) -> Reply:
    try:
        doc = parseString(request.get_data())
    except (ExpatError, DefusedXmlException):
        return Reply(500, _SOAP_FAULT, content_type="text/xml;charset=UTF-8")
    creds = org.credentials
    username, password = _text(doc, "username"), _text(doc, "password")
    if not (_same(username, creds.username) and _same(password, creds.password + creds.security_token)):
        return Reply(500, _SOAP_FAULT, content_type="text/xml;charset=UTF-8")
    session = org.open_session()
    server_url = f"{base_url}/services/Soap/u/{version}/{org.org_id[:15]}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
        f"<metadataServerUrl>{base_url}/services/Soap/m/{version}/{org.org_id[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{server_url}</serverUrl><sessionId>{session.token}</sessionId>"
        f"<userId>{session.user_id}</userId><userInfo><organizationId>{org.org_id}</organizationId>"
        f"<userEmail>{creds.username}</userEmail><userName>{creds.username}</userName>"
        f"<userTimeZone>{org.tz}</userTimeZone><sessionSecondsValid>{int(org.session_seconds)}"
        "</sessionSecondsValid></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return Reply(200, body, content_type="text/xml;charset=UTF-8")


def _failure(description: str = "authentication failure", error: str = "invalid_grant") -> Reply:
    return json_reply(400, {"error": error, "error_description": description})


def oauth_token(org: Org, request: Request, base_url: str) -> Reply:
    form = request.form
    grant = form.get("grant_type", "")
    creds = org.credentials
    if grant == "password":
        ok = (
            _same(form.get("client_id"), creds.client_id)
            and _same(form.get("client_secret"), creds.client_secret)
            and _same(form.get("username"), creds.username)
            and (
                _same(form.get("password"), creds.password)
                or _same(form.get("password"), creds.password + creds.security_token)
            )
        )
        if not ok:
            return _failure()
    elif grant == "client_credentials":
        header = request.headers.get("Authorization", "")
        try:
            key, _, secret = base64.b64decode(header.removeprefix("Basic ").strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _failure("invalid client credentials", "invalid_client")
        if not (_same(key, creds.client_id) and _same(secret, creds.client_secret)):
            return _failure("invalid client credentials", "invalid_client")
    elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        problem = _check_assertion(org, form.get("assertion", ""))
        if problem is not None:
            return _failure(problem)
    elif grant == "authorization_code":
        return web_auth.authorization_code_grant(org, request, base_url)
    elif grant == "refresh_token":
        return web_auth.refresh_token_grant(org, request, base_url)
    else:
        return _failure("unsupported grant type", "unsupported_grant_type")
    session = org.open_session()
    issued = str(int(time.time() * 1000))
    identity_url = f"{base_url}/id/{org.org_id}/{session.user_id}"
    return json_reply(
        200,
        {
            "access_token": session.token,
            "instance_url": base_url,
            "id": identity_url,
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": web_auth.signature(org, identity_url, issued),
            "scope": "api",
        },
    )


def _check_assertion(org: Org, assertion: str) -> str | None:
    """None when the JWT is signed by the connected app's certificate and its claims fit; else why not."""
    if org.jwt_certificate_pem is None:
        return "no certificate is configured for the connected app"
    public_key = x509.load_pem_x509_certificate(org.jwt_certificate_pem).public_key()
    try:
        claims = jwt.decode(
            assertion,
            public_key,  # type: ignore[arg-type]
            algorithms=["RS256"],
            options={"require": ["iss", "sub", "aud", "exp"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        return "expired authorization code"
    except jwt.PyJWTError:
        return "invalid assertion"
    if not _same(str(claims.get("iss")), org.credentials.client_id):
        return "invalid client identifier"
    if not _same(str(claims.get("sub")), org.credentials.username):
        return "user hasn't approved this consumer"
    aud = str(claims.get("aud", ""))
    if not (aud.startswith("https://") and aud.endswith(".salesforce.com")):
        return "audience is not a Salesforce login host"
    return None
