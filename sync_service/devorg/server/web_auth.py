"""The OAuth 2.0 web server flow ("Sign in with Salesforce") as the stand-in org serves it: the authorize
endpoint with its login and approval pages, the authorization_code and refresh_token grants and revocation; it
routes the identity URL and UserInfo to `identity.py`. It follows
shared/reference/salesforce-oauth-identity-conditional.md (sections 1-5, 11, 12; "ref 2.4" below); what that
reference does not settle is marked (unconfirmed) and is the stand-in's choice.

The browser's way through (ref 2.2): `GET /services/oauth2/authorize` checks the client and the redirect URI,
then answers 302 to the login page `/?ec=302&startURL=/setup/secur/RemoteAccessAuthorizationPage.apexp?source=<id>`
(form fields `#username`, `#password`, submit `name=Login`); after sign-in the approval page (approve button
`#oaapprove`, deny `#oadeny`), then 302 to the redirect URI with `code` and `state`. The pages reproduce that
interface only, in the stand-in's own words and markup (ref 11.4). A user who approved the app before skips the
approval page unless `prompt` has `consent`; a user signed in at the org (cookie `devorg_sid`) skips the login
page unless `prompt` has `login`; `immediate=true` answers `immediate_unsuccessful` when either page would show.

Who may sign in: active users of type Standard. The API user's password is the one printed on the first line;
every seeded user's is `oauth.DEMO_USER_PASSWORD`. Partner (PowerPartner) users sign in through Experience Cloud
sites in Salesforce, which the stand-in does not have (ref 11.5): they are refused like a wrong password.

Decisions where the reference is silent, all (unconfirmed):
- Errors shown on the org's page (unknown client, redirect URI not a callback URL; ref 2.4) answer 400 with the
  reference's text in an HTML page. Other authorize errors redirect (RFC 6749 §4.1.2.1): `response_type` other
  than `code` → `unsupported_response_type`; `code_challenge_method` other than `S256` (`plain` is not supported)
  or a challenge that is not 43 base64url characters → `invalid_request`; a scope the connected app does not
  have → `invalid_scope`. No `scope` grants all of the app's scopes. Callback URLs match exactly (no wildcards).
- `openid` is not among the app's scopes, so asking for it is `invalid_scope`: the stand-in issues no ID token,
  no discovery document and no `/id/keys` yet (the reference leaves the ID token's claims open; a later session
  may add them with the stand-in's own RSA key, ref 11.2 and 12 #2).
- A code never issued (or issued to another client) is `invalid_grant` / `invalid authorization code`; any
  exchange by the right client uses the code up, so a wrong verifier or redirect URI burns it too. Tokens issued
  from a reused code are not revoked (RFC 6749 §10.5 SHOULD; Salesforce's behaviour unconfirmed, ref 2.5).
- Client authentication on the token endpoint: `client_id`/`client_secret` in the body or HTTP Basic (ref 12 #6).
  Check order: grant, client, code, redirect URI, PKCE. Every token error is 400 JSON (ref 12 #1).
- Refresh tokens are valid until revoked (the app policy "valid until revoked", ref 3.2); no rotation. A refresh
  with a `code_verifier` is `invalid_grant` / `unexpected code verifier` (ref 3.1).
- `format` other than JSON is not served: token answers are always JSON.
- Identity URL and UserInfo are in `identity.py`.
- Revoke: success 200 with no body; an unknown token 400 JSON `{"error": "invalid_token", ...}` (ref 3.3/12 #5).
- REST calls are not refused for lack of the `api` scope (how Salesforce refuses them is not in the reference).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request

from sync_service.devorg.oauth import (
    APP_SCOPES,
    CODE_SECONDS,
    DEMO_USER_PASSWORD,
    BrowserSession,
    Code,
    Pending,
    RefreshToken,
)
from sync_service.devorg.server import identity
from sync_service.devorg.server.reply import Reply, json_reply

if TYPE_CHECKING:
    from sync_service.devorg.org import Org

AUTHORIZE = "/services/oauth2/authorize"
APPROVAL = "/setup/secur/RemoteAccessAuthorizationPage.apexp"
USERINFO = "/services/oauth2/userinfo"
REVOKE = "/services/oauth2/revoke"
_IDENTITY = re.compile(r"^/id/([A-Za-z0-9]{15,18})/([A-Za-z0-9]{15,18})/?$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_COOKIE = "devorg_sid"
_REFRESH_SCOPES = {"refresh_token", "offline_access"}


def owns(path: str) -> bool:
    return path in ("/", AUTHORIZE, APPROVAL, USERINFO, REVOKE) or _IDENTITY.match(path) is not None


def handle(org: Org, request: Request, path: str, base_url: str) -> Reply:
    if path == AUTHORIZE:
        return authorize(org, request, base_url)
    if path == "/":
        return login(org, request)
    if path == APPROVAL:
        return approval(org, request)
    if path == REVOKE:
        return revoke(org, request)
    if path == USERINFO:
        return identity.userinfo(org, request, base_url)
    match = _IDENTITY.match(path)
    assert match is not None
    return identity.identity(org, request, base_url, match.group(1), match.group(2))


# ---------------------------------------------------------------------------------------------- pages


def _page(status: int, title: str, body: str) -> Reply:
    text = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · stand-in org</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return Reply(status, text, {"Cache-Control": "no-store"}, content_type="text/html;charset=UTF-8")


def _redirect(location: str, **headers: str) -> Reply:
    return Reply(302, None, {"Location": location, "Cache-Control": "no-store", **headers})


def _to_client(redirect_uri: str, params: dict[str, str | None]) -> Reply:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return _redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}")


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


# ---------------------------------------------------------------------------------------------- authorize


def authorize(org: Org, request: Request, base_url: str) -> Reply:
    args = request.args
    app = org.oauth.app
    if request.method not in ("GET", "HEAD"):
        return _page(405, "Method not allowed", "<p>Start sign-in with a GET request.</p>")
    if not _same(args.get("client_id"), org.credentials.client_id):
        return _page(
            400, "Sign-in error", "<p>error=invalid_client_id&amp;error_description=client%20identifier%20invalid</p>"
        )
    redirect_uri = args.get("redirect_uri", "")
    if redirect_uri not in app.callback_urls:
        return _page(
            400,
            "Sign-in error",
            "<p>error=redirect_uri_mismatch&amp;error_description=redirect_uri%20must%20match%20configuration</p>",
        )
    state = args.get("state")

    def refuse(error: str, description: str) -> Reply:
        return _to_client(redirect_uri, {"error": error, "error_description": description, "state": state})

    if args.get("response_type") != "code":
        return refuse("unsupported_response_type", "response type not supported")
    challenge = args.get("code_challenge")
    method = args.get("code_challenge_method")
    if challenge is None and method is not None:
        return refuse("invalid_request", "code challenge method without a code challenge")
    if challenge is not None:
        if (method or "S256") != "S256":
            return refuse("invalid_request", "unsupported code challenge method")
        if not _CHALLENGE.match(challenge):
            return refuse("invalid_request", "invalid code challenge")
    elif app.require_pkce:
        return refuse("invalid_request", "missing required code challenge")
    scopes = (args.get("scope") or " ".join(APP_SCOPES)).split()
    if not scopes or any(s not in APP_SCOPES for s in scopes):
        return refuse("invalid_scope", "the requested scope is not allowed")
    prompt = set((args.get("prompt") or "").split())
    now = org.clock.monotonic()
    source = secrets.token_urlsafe(24)
    pending = Pending(
        org.credentials.client_id, redirect_uri, state, scopes, challenge, prompt, args.get("login_hint", ""), now
    )
    user_id = _signed_in(org, request, pending)
    if args.get("immediate") == "true":
        if user_id is None or "consent" in prompt or (user_id, pending.client_id) not in org.oauth.approvals:
            return refuse("immediate_unsuccessful", "immediate authorization failed")
        return _issue_code(org, pending, user_id)
    with org.lock:
        _forget_stale(org, now)
        org.oauth.pending[source] = pending
    approval_url = f"{APPROVAL}?source={source}"
    if user_id is not None:
        return _redirect(approval_url)
    return _redirect(f"/?ec=302&startURL={quote(approval_url, safe='')}")


def _forget_stale(org: Org, now: float) -> None:
    oauth = org.oauth
    for key in [k for k, p in oauth.pending.items() if now - p.created > CODE_SECONDS]:
        del oauth.pending[key]
    for key in [k for k, c in oauth.codes.items() if now - c.issued > CODE_SECONDS]:
        del oauth.codes[key]


def _signed_in(org: Org, request: Request, pending: Pending | None = None) -> str | None:
    """The user signed in at the org in this browser, if that sign-in counts for `pending`."""
    browser = org.oauth.browser.get(request.cookies.get(_COOKIE, ""))
    if browser is None:
        return None
    if pending is not None and "login" in pending.prompt and browser.logged_in < pending.created:
        return None
    return browser.user_id


def _check_password(org: Org, username: str, password: str) -> str | None:
    """The user id for a correct username and password of an active Standard user; None otherwise."""
    found = org.store.find_by("User", "Username", username.strip()) if username.strip() else []
    if not found:
        return None
    user = found[0]
    if not user.get("IsActive") or user.get("UserType") != "Standard":
        return None
    is_api_user = str(user["Username"]).lower() == org.credentials.username.lower()
    expected = org.credentials.password if is_api_user else DEMO_USER_PASSWORD
    return str(user["Id"]) if _same(password, expected) else None


def _login_form(start_url: str, username: str, message: str | None, status: int = 200) -> Reply:
    problem = f"<p role='alert' id='error'>{html.escape(message)}</p>" if message else ""
    return _page(
        status,
        "Sign in to the stand-in org",
        f"{problem}<form method='post' action='/'>"
        f"<input type='hidden' name='startURL' value='{html.escape(start_url)}'>"
        f"<p><label for='username'>Username</label> <input id='username' name='username' type='email' "
        f"autocomplete='username' value='{html.escape(username)}' required></p>"
        "<p><label for='password'>Password</label> <input id='password' name='password' type='password' "
        "autocomplete='current-password' required></p>"
        "<p><input type='submit' id='Login' name='Login' value='Sign in'></p></form>",
    )


def _pending_for(org: Org, start_url: str) -> tuple[str, Pending] | None:
    prefix = f"{APPROVAL}?source="
    if not start_url.startswith(prefix):
        return None
    source = start_url.removeprefix(prefix)
    pending = org.oauth.pending.get(source)
    if pending is None or org.clock.monotonic() - pending.created > CODE_SECONDS:
        return None
    return source, pending


def login(org: Org, request: Request) -> Reply:
    """The login page (GET) and its form (POST). Only a start URL of a pending authorize request is followed."""
    if request.method == "GET" or request.method == "HEAD":
        start_url = request.args.get("startURL", "")
        found = _pending_for(org, start_url)
        return _login_form(start_url, found[1].login_hint if found else "", None)
    if request.method != "POST":
        return _page(405, "Method not allowed", "")
    form = request.form
    start_url = form.get("startURL", "")
    username = form.get("username", "")
    user_id = _check_password(org, username, form.get("password", ""))
    if user_id is None:
        # Own wording (ref 11.4); 200 like a page the user reads again.
        return _login_form(start_url, username, "Check your username and password and try again.")
    sid = secrets.token_urlsafe(32)
    with org.lock:
        org.oauth.browser[sid] = BrowserSession(user_id, org.clock.monotonic())
    cookie = f"{_COOKIE}={sid}; Path=/; Secure; HttpOnly; SameSite=Lax"
    if _pending_for(org, start_url) is None:
        reply = _page(200, "Signed in", "<p>You are signed in to the stand-in org.</p>")
        reply.headers["Set-Cookie"] = cookie
        return reply
    return _redirect(start_url, **{"Set-Cookie": cookie})


def approval(org: Org, request: Request) -> Reply:
    source = (request.form if request.method == "POST" else request.args).get("source", "")
    found = _pending_for(org, f"{APPROVAL}?source={source}")
    if found is None:
        return _page(
            400,
            "Sign-in request expired",
            "<p>This sign-in request is unknown or has expired. Start again from the app.</p>",
        )
    _, pending = found
    user_id = _signed_in(org, request, pending)
    if user_id is None:
        return _redirect(f"/?ec=302&startURL={quote(f'{APPROVAL}?source={source}', safe='')}")
    approved = (user_id, pending.client_id) in org.oauth.approvals
    if request.method == "POST":
        with org.lock:
            org.oauth.pending.pop(source, None)
        if "oaapprove" in request.form:
            with org.lock:
                org.oauth.approvals.add((user_id, pending.client_id))
            return _issue_code(org, pending, user_id)
        return _to_client(
            pending.redirect_uri,
            {"error": "access_denied", "error_description": "end-user denied authorization", "state": pending.state},
        )
    if approved and "consent" not in pending.prompt:
        with org.lock:
            org.oauth.pending.pop(source, None)
        return _issue_code(org, pending, user_id)
    items = "".join(f"<li>{html.escape(s)}</li>" for s in pending.scopes)
    return _page(
        200,
        "Let the app use your account?",
        f"<p>The connected app asks for:</p><ul>{items}</ul>"
        f"<form method='post' action='{APPROVAL}'><input type='hidden' name='source' value='{html.escape(source)}'>"
        "<button type='submit' id='oaapprove' name='oaapprove' value='1'>Allow</button> "
        "<button type='submit' id='oadeny' name='oadeny' value='1'>Deny</button></form>",
    )


def _issue_code(org: Org, pending: Pending, user_id: str) -> Reply:
    code = "aPrx" + secrets.token_urlsafe(48) + "=="  # the shape of real codes (ref 2.3)
    now = org.clock.monotonic()
    with org.lock:
        _forget_stale(org, now)
        org.oauth.codes[code] = Code(
            pending.client_id, pending.redirect_uri, user_id, pending.scopes, pending.code_challenge, now
        )
    return _to_client(pending.redirect_uri, {"code": code, "state": pending.state})


# ---------------------------------------------------------------------------------------------- token grants


def _failure(error: str, description: str) -> Reply:
    return json_reply(400, {"error": error, "error_description": description})


def _client(org: Org, request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            key, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, None
        return key, secret
    return request.form.get("client_id"), request.form.get("client_secret")


def _client_problem(org: Org, request: Request) -> Reply | None:
    client_id, secret = _client(org, request)
    if not _same(client_id, org.credentials.client_id):
        return _failure("invalid_client_id", "client identifier invalid")
    if (org.oauth.app.require_secret or secret) and not _same(secret, org.credentials.client_secret):
        return _failure("invalid_client", "invalid client credentials")
    return None


def token_response(org: Org, base_url: str, user_id: str, scopes: list[str], refresh: str | None) -> dict[str, Any]:
    """The token endpoint's answer (ref 2.7) for a new session of `user_id`."""
    session = org.open_session(user_id)
    identity_url = f"{base_url}/id/{org.org_id}/{user_id}"
    issued = str(int(time.time() * 1000))
    with org.lock:
        org.oauth.token_scopes[session.token] = scopes
        if refresh is not None:
            org.oauth.refresh_tokens[refresh].access_tokens.add(session.token)
    body: dict[str, Any] = {"access_token": session.token}
    if refresh is not None and _new_refresh(scopes):
        body["refresh_token"] = refresh
    body.update(
        {
            "signature": signature(org, identity_url, issued),
            "scope": " ".join(scopes),
            "instance_url": base_url,
            "id": identity_url,
            "token_type": "Bearer",
            "issued_at": issued,
        }
    )
    return body


def _new_refresh(scopes: list[str]) -> bool:
    return bool(_REFRESH_SCOPES & set(scopes))


def signature(org: Org, identity_url: str, issued_at: str) -> str:
    """Base64 HMAC-SHA256 of `id` + `issued_at`, keyed with the consumer secret (ref 2.9)."""
    digest = hmac.digest(org.credentials.client_secret.encode(), (identity_url + issued_at).encode(), "sha256")
    return base64.b64encode(digest).decode()


def authorization_code_grant(org: Org, request: Request, base_url: str) -> Reply:
    problem = _client_problem(org, request)
    if problem is not None:
        return problem
    form = request.form
    with org.lock:
        code = org.oauth.codes.get(form.get("code", ""))
        first_use = code is not None and not code.used
        if code is not None:
            code.used = True
    if code is None or code.client_id != org.credentials.client_id:
        return _failure("invalid_grant", "invalid authorization code")
    if not first_use or org.clock.monotonic() - code.issued > CODE_SECONDS:
        return _failure("invalid_grant", "expired authorization code")
    if form.get("redirect_uri") != code.redirect_uri:
        return _failure("redirect_uri_mismatch", "redirect_uri must match configuration")
    verifier = form.get("code_verifier")
    if code.code_challenge is None and verifier is not None:
        return _failure("invalid_grant", "unexpected code verifier")
    if code.code_challenge is not None:
        if verifier is None:
            return _failure("invalid_grant", "invalid code verifier")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not _same(computed, code.code_challenge):
            return _failure("invalid_grant", "invalid code verifier")
    refresh = None
    if _new_refresh(code.scopes):
        refresh = "5Aep" + secrets.token_urlsafe(64) + "=="  # the shape of real refresh tokens (ref 2.7)
        with org.lock:
            org.oauth.refresh_tokens[refresh] = RefreshToken(code.client_id, code.user_id, code.scopes)
    return json_reply(200, token_response(org, base_url, code.user_id, code.scopes, refresh))


def refresh_token_grant(org: Org, request: Request, base_url: str) -> Reply:
    problem = _client_problem(org, request)
    if problem is not None:
        return problem
    form = request.form
    if form.get("code_verifier") is not None:
        return _failure("invalid_grant", "unexpected code verifier")
    token = form.get("refresh_token", "")
    refresh = org.oauth.refresh_tokens.get(token)
    if refresh is None or refresh.client_id != org.credentials.client_id:
        return _failure("invalid_grant", "expired access/refresh token")
    body = token_response(org, base_url, refresh.user_id, refresh.scopes, token)
    body.pop("refresh_token", None)  # no rotation: the answer carries no refresh token (ref 3.1)
    return json_reply(200, body)


# ---------------------------------------------------------------------------------------------- revoke


def revoke(org: Org, request: Request) -> Reply:
    if request.method not in ("GET", "POST"):
        return _failure("unsupported_token_type", "token type not supported")
    token = (request.args if request.method == "GET" else request.form).get("token", "")
    oauth = org.oauth
    with org.lock:
        refresh = oauth.refresh_tokens.pop(token, None)
        if refresh is not None:
            for access in refresh.access_tokens:
                org.sessions.pop(access, None)
                oauth.token_scopes.pop(access, None)
            return Reply(200, None)
        if org.sessions.pop(token, None) is not None:
            oauth.token_scopes.pop(token, None)
            return Reply(200, None)
    return _failure("invalid_token", "token was invalid")
