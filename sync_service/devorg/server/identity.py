"""The identity URL (`GET /id/<orgId>/<userId>`) and UserInfo (`GET /services/oauth2/userinfo`) of the stand-in
org, for tokens of any grant (shared/reference/salesforce-oauth-identity-conditional.md 4.1-4.4, "ref" below).

Fields and their order follow ref 4.2 and 4.3. Decisions where the reference is silent, all (unconfirmed):
- A missing, unknown, revoked or expired token answers 403 `Bad_OAuth_Token` as text/plain, on both (ref 4.4).
- A token may read its own user's identity whatever its scopes; another user's only with `api` or `full` and
  if that user is Standard (ref 4.1), else 403 `Bad_OAuth_Token` too. An id of another org or of no user answers
  404 `Bad_Id`.
- Only JSON is served (`format=xml` is ignored). `email_verified` is true for every user; addresses, mobile
  phone and photos are placeholders. These calls do not count against the API limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug.wrappers import Request

from sync_service.devorg.errors import ApiError
from sync_service.devorg.server.reply import Reply, json_reply

if TYPE_CHECKING:
    from sync_service.devorg.org import Org

_NO_STORE = {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}


def _bearer(org: Org, request: Request) -> tuple[str, list[str]] | None:
    """(user id, scopes) of the request's live access token: Bearer header, `oauth_token` or `access_token`."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.args.get("oauth_token") or request.args.get("access_token")
    try:
        session = org.check_session(token)
    except ApiError:
        return None
    return session.user_id, org.oauth.token_scopes.get(session.token, ["api"])


def _bad_token() -> Reply:
    return Reply(403, "Bad_OAuth_Token", {"Cache-Control": "no-store"}, content_type="text/plain;charset=UTF-8")


def _urls(org: Org, base_url: str, user_id: str, version: str | None) -> dict[str, str]:
    v = version or "{version}"
    org15 = org.org_id[:15]
    data = f"{base_url}/services/data/v{v}"
    return {
        "enterprise": f"{base_url}/services/Soap/c/{v}/{org15}",
        "metadata": f"{base_url}/services/Soap/m/{v}/{org15}",
        "partner": f"{base_url}/services/Soap/u/{v}/{org15}",
        "rest": f"{data}/",
        "sobjects": f"{data}/sobjects/",
        "search": f"{data}/search/",
        "query": f"{data}/query/",
        "recent": f"{data}/recent/",
        "tooling_soap": f"{base_url}/services/Soap/T/{v}/{org15}",
        "tooling_rest": f"{data}/tooling/",
        "profile": f"{base_url}/{user_id}",
        "feeds": f"{data}/chatter/feeds",
        "groups": f"{data}/chatter/groups",
        "users": f"{data}/chatter/users",
        "feed_items": f"{data}/chatter/feed-items",
        "feed_elements": f"{data}/chatter/feed-elements",
        "custom_domain": base_url,
    }


def _user_for(org: Org, request: Request, org_id: str, user_id: str) -> tuple[dict[str, Any], bool] | Reply:
    caller = _bearer(org, request)
    if caller is None:
        return _bad_token()
    record = org.store.get(user_id)
    if org_id[:15] != org.org_id[:15] or record is None or org.store.object_of(user_id) != "User":
        return Reply(404, "Bad_Id", content_type="text/plain;charset=UTF-8")
    own = str(record["Id"]) == caller[0]
    if not own and not ({"api", "full"} & set(caller[1]) and record.get("UserType") == "Standard"):
        return _bad_token()
    return record, own


def identity(org: Org, request: Request, base_url: str, org_id: str, user_id: str) -> Reply:
    found = _user_for(org, request, org_id, user_id)
    if isinstance(found, Reply):
        return found
    user, own = found
    uid = str(user["Id"])
    version = request.args.get("version")
    version = None if version in (None, "latest") else version
    body = {
        "id": f"{base_url}/id/{org.org_id}/{uid}",
        "asserted_user": own,
        "user_id": uid,
        "organization_id": org.org_id,
        "username": user["Username"],
        "nick_name": user.get("Alias"),
        "display_name": _name(user),
        "email": user.get("Email"),
        "email_verified": True,
        "first_name": user.get("FirstName"),
        "last_name": user.get("LastName"),
        "timezone": user.get("TimeZoneSidKey"),
        "photos": {"picture": f"{base_url}/profilephoto/005/F", "thumbnail": f"{base_url}/profilephoto/005/T"},
        "addr_street": None,
        "addr_city": None,
        "addr_state": None,
        "addr_country": None,
        "addr_zip": None,
        "mobile_phone": None,
        "mobile_phone_verified": False,
        "is_lightning_login_user": False,
        "status": {"created_date": None, "body": None},
        "urls": _urls(org, base_url, uid, version),
        "active": bool(user.get("IsActive")),
        "user_type": str(user.get("UserType") or "Standard").upper(),
        "language": user.get("LanguageLocaleKey"),
        "locale": user.get("LocaleSidKey"),
        "utcOffset": _utc_offset_ms(org, user),
        "last_modified_date": _sf_datetime(user.get("LastModifiedDate")),
        "is_app_installed": True,
    }
    return json_reply(200, body, **_NO_STORE)


def userinfo(org: Org, request: Request, base_url: str) -> Reply:
    caller = _bearer(org, request)
    if caller is None:
        return _bad_token()
    found = _user_for(org, request, org.org_id, caller[0])
    if isinstance(found, Reply):
        return found
    user, _ = found
    uid = str(user["Id"])
    photos = {"picture": f"{base_url}/profilephoto/005/F", "thumbnail": f"{base_url}/profilephoto/005/T"}
    body = {
        "sub": f"{base_url}/id/{org.org_id}/{uid}",
        "user_id": uid,
        "organization_id": org.org_id,
        "preferred_username": user["Username"],
        "nickname": user.get("Alias"),
        "name": _name(user),
        "email": user.get("Email"),
        "email_verified": True,
        "given_name": user.get("FirstName"),
        "family_name": user.get("LastName"),
        "zoneinfo": user.get("TimeZoneSidKey"),
        "photos": photos,
        "profile": f"{base_url}/{uid}",
        "picture": photos["picture"],
        "address": {"country": None},
        "is_salesforce_integration_user": False,
        "urls": _urls(org, base_url, uid, None),
        "active": bool(user.get("IsActive")),
        "user_type": str(user.get("UserType") or "Standard").upper(),
        "language": user.get("LanguageLocaleKey"),
        "locale": user.get("LocaleSidKey"),
        "utcOffset": _utc_offset_ms(org, user),
        "updated_at": _sf_datetime(user.get("LastModifiedDate")),
        "is_app_installed": True,
    }
    return json_reply(200, body, **_NO_STORE)


def _name(user: dict[str, Any]) -> str:
    return " ".join(str(p) for p in (user.get("FirstName"), user.get("LastName")) if p)


def _utc_offset_ms(org: Org, user: dict[str, Any]) -> int:
    try:
        zone = ZoneInfo(str(user.get("TimeZoneSidKey") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    offset = org.now().astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() * 1000)


def _sf_datetime(value: Any) -> str | None:
    """`2013-04-19T22:12:04.000+0000` (ref 4.2) from a stored stamp."""
    if value is None:
        return None
    text = str(value)
    return text.replace("Z", "+0000") if text.endswith("Z") else text
