"""Whatever is done to a link's token, the answer is a friendly 4xx page and nothing changes; and keys rotate.

Every token route and method is tried with tokens truncated, mutated (any character, including ones a URL
must escape), signed with a key the service does not have, past their age, or made for another purpose.
A mutation that happens to be another spelling of the genuine token (itsdangerous's last character has
spare bits) is the genuine link and may act; it is recognised by verifying it, and dedupe is on the email's
nonce, so it cannot act twice.
"""

from __future__ import annotations

import dataclasses
import string
import time
from collections.abc import Iterator
from unittest import mock
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from redis import Redis
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from config.settings import Settings
from config.settings.parsers import parse_secret_keys
from email_actions.mail.links import LINKS, LinkInvalid, Links, Purpose
from sync_service.store import models
from tests.email_actions.web.act.test_actions import COUNTED, Site, close_site, open_site, renew_form, seed, text
from tests.email_actions.web.hits import drain
from tests.standin_org import RunningOrg

ROUTES: tuple[Purpose, ...] = ("renew", "contact", "unsubscribe")
METHODS = ("GET", "HEAD", "POST")
# Everything the actions may write; click events are left out (a genuine spelling's GET records one).
STATE = ("renewals", "contact_requests", "outbox_items", "email_messages", "email_suppressions")
TOKEN_CHARACTERS = string.ascii_letters + string.digits + "-_."
ODD_CHARACTERS = "%+=/ ~é\u202e\x00"
KEY_A = "key-a-0123456789-abcdefghijklmnopqrstuvwxyz"
KEY_B = "key-b-0123456789-abcdefghijklmnopqrstuvwxyz"
FUZZ = hypothesis_settings(
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one site for all examples, on purpose
)


@pytest.fixture
def site(settings: Settings, cpq_org: RunningOrg) -> Iterator[Site]:
    """The app reading quotes live from the CPQ stand-in org (seed puts them there)."""
    running = open_site(settings, settings.database_url, cpq_org)
    yield running
    close_site(running)


def the_message(site: Site) -> models.EmailMessage:
    """The site's one seeded email (seeded on the first example; examples share the site)."""
    with site.sessions() as session:
        message = session.scalars(select(models.EmailMessage)).one_or_none()
    if message is not None:
        return message
    seed(site)
    with site.sessions() as session:
        return session.scalars(select(models.EmailMessage)).one()


def state(site: Site) -> dict[str, int]:
    """The rows of every table in STATE, once the link hits so far are drained (`Site.counts` for those tables
    only: each example reads it twice, and the other tables' counts were most of an example's time)."""
    drain(site.app)
    with site.sessions() as session:
        return {name: session.scalar(select(func.count()).select_from(COUNTED[name])) or 0 for name in STATE}


def hit(site: Site, route: str, method: str, token: str, *, fresh_purpose: str = "renew") -> TestResponse:
    """One request with `token` on a route ("fresh" is the fresh-link form), as a client without cookies."""
    client = site.client(use_cookies=False)
    if route == "fresh":
        return client.post("/links/fresh", data={"token": token, "purpose": fresh_purpose})
    data = {"List-Unsubscribe": "One-Click"} if method == "POST" else None
    return client.open(f"{LINKS[route].path}{quote(token, safe='')}", method=method, data=data)


def genuine(site: Site, purpose: Purpose, token: str) -> bool:
    try:
        site.links().verify(purpose, token)
    except LinkInvalid:
        return False
    return True


def assert_friendly_4xx(response: TestResponse, method: str) -> None:
    assert 400 <= response.status_code < 500, response.status_code
    if method != "HEAD":
        body = response.get_data(as_text=True)
        assert "<h1>" in body and "Traceback" not in body


def signed(key: str, purpose: str, payload: object, *, at: float | None = None) -> str:
    serializer = URLSafeTimedSerializer(key, salt=f"renewals.{purpose}")
    if at is None:
        return str(serializer.dumps(payload))
    with mock.patch("time.time", return_value=at):
        return str(serializer.dumps(payload))


@st.composite
def mangled(draw: st.DrawFn, token: str) -> str:
    """`token` truncated, or with characters replaced, inserted or deleted."""
    how = draw(st.sampled_from(["truncate", "replace", "insert", "delete"]))
    characters = st.sampled_from(TOKEN_CHARACTERS + ODD_CHARACTERS)
    if how == "truncate":
        return token[: draw(st.integers(0, len(token) - 1))]
    position = draw(st.integers(0, len(token) - 1))
    if how == "replace":
        return token[:position] + draw(characters) + token[position + 1 :]
    if how == "insert":
        return token[:position] + draw(characters) + token[position:]
    return token[:position] + token[position + 1 :]


@FUZZ
@given(data=st.data())
def test_truncated_and_mutated_tokens_get_a_4xx_page(site: Site, redis: Redis, data: st.DataObject) -> None:
    redis.flushdb()  # the rate limits are not what this test is about
    message = the_message(site)
    route = data.draw(st.sampled_from([*ROUTES, "fresh"]), label="route")
    method = "POST" if route == "fresh" else data.draw(st.sampled_from(METHODS), label="method")
    purpose: Purpose = "renew" if route == "fresh" else route  # type: ignore[assignment]
    token = data.draw(mangled(site.links().token(purpose, message.id, message.nonce)), label="token")
    before = state(site)

    response = hit(site, route, method, token)

    if genuine(site, purpose, token):
        # Another spelling of the real link: it is the real link (the dedupe is on the email's nonce).
        assert response.status_code < 500
        return
    assert_friendly_4xx(response, method)
    assert state(site) == before


@FUZZ
@given(
    route=st.sampled_from([*ROUTES, "fresh"]),
    method=st.sampled_from(METHODS),
    key=st.text(min_size=1, max_size=64).filter(lambda k: k not in (KEY_A, KEY_B)),
)
def test_tokens_signed_with_an_unknown_key_get_a_4xx_page(
    site: Site, redis: Redis, route: str, method: str, key: str
) -> None:
    redis.flushdb()
    message = the_message(site)
    purpose = "renew" if route == "fresh" else route
    method = "POST" if route == "fresh" else method
    token = signed(key, purpose, {"m": message.id, "p": purpose, "n": message.nonce})
    before = state(site)
    response = hit(site, route, method, token)
    assert_friendly_4xx(response, method)
    assert response.status_code == 404
    assert state(site) == before


@FUZZ
@given(route=st.sampled_from(ROUTES), method=st.sampled_from(METHODS), days_past=st.integers(1, 3650))
def test_expired_tokens_get_the_expired_page(
    site: Site, redis: Redis, route: Purpose, method: str, days_past: int
) -> None:
    redis.flushdb()
    message = the_message(site)
    at = time.time() - LINKS[route].max_age - days_past * 86400
    with mock.patch("time.time", return_value=at):
        token = site.links().token(route, message.id, message.nonce)
    before = state(site)
    response = hit(site, route, method, token)
    assert response.status_code == 410
    if method != "HEAD":
        assert "This link has expired" in text(response) and "Email me a fresh link" in text(response)
    assert state(site) == before


@FUZZ
@given(
    made_for=st.sampled_from(sorted(LINKS)),
    route=st.sampled_from([*ROUTES, "fresh"]),
    method=st.sampled_from(METHODS),
    fresh_purpose=st.sampled_from(sorted(LINKS)),
)
def test_tokens_of_another_purpose_get_a_4xx_page(
    site: Site, redis: Redis, made_for: Purpose, route: str, method: str, fresh_purpose: str
) -> None:
    assume(made_for != (fresh_purpose if route == "fresh" else route))  # the right purpose is not this case
    redis.flushdb()
    message = the_message(site)
    method = "POST" if route == "fresh" else method
    token = site.links().token(made_for, message.id, message.nonce)
    before = state(site)
    response = hit(site, route, method, token, fresh_purpose=fresh_purpose)
    assert_friendly_4xx(response, method)
    assert state(site) == before


@FUZZ
@given(
    route=st.sampled_from(ROUTES),
    method=st.sampled_from(METHODS),
    payload=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=20),
        st.lists(st.integers(), max_size=3),
        st.fixed_dictionaries(
            {"m": st.one_of(st.integers(), st.text(max_size=5), st.booleans()), "n": st.text(max_size=30)},
            optional={"p": st.text(max_size=12)},
        ),
    ),
)
def test_well_signed_tokens_with_a_wrong_payload_get_a_4xx_page(
    site: Site, redis: Redis, route: Purpose, method: str, payload: object
) -> None:
    """A token signed with the service's own key (as a leaked key or a bug would allow) still has to name an
    existing email, its nonce and the route's purpose."""
    redis.flushdb()
    the_message(site)
    token = signed(site.settings.signing_key.reveal(), route, payload)
    before = state(site)
    response = hit(site, route, method, token)
    assert_friendly_4xx(response, method)
    assert state(site) == before


def test_another_spelling_of_a_used_renew_link_does_not_renew_twice(site: Site) -> None:
    seeded = seed(site)
    token = site.links().token("renew", seeded.message_id, seeded.nonce)
    spellings = [token[:-1] + c for c in TOKEN_CHARACTERS if c != token[-1]]
    other = next(s for s in spellings if genuine(site, "renew", s))
    client = site.client()
    first = client.post(f"/a/renew/{token}", data=renew_form(client, f"/a/renew/{token}"))
    second = client.post(f"/a/renew/{other}", data=renew_form(client, f"/a/renew/{other}"))
    assert "your contract is renewed" in text(first) and "already renewed on" in text(second)
    assert site.counts()["renewals"] == 1


# --- Key rotation ------------------------------------------------------------------------------------------


def with_keys(settings: Settings, keys: str) -> Settings:
    return dataclasses.replace(settings, secret_keys=parse_secret_keys("RENEWALS_SECRET_KEYS", keys))


def test_a_link_signed_with_an_older_key_works_until_that_key_is_removed(
    settings: Settings, cpq_org: RunningOrg
) -> None:
    old_only = open_site(with_keys(settings, KEY_A), settings.database_url, cpq_org)
    rotated = open_site(with_keys(settings, f"{KEY_A},{KEY_B}"), settings.database_url, cpq_org)
    retired = open_site(with_keys(settings, KEY_B), settings.database_url, cpq_org)
    try:
        seeded = seed(old_only)
        path = seeded.path(old_only, "renew")  # signed with key A, as emails sent before the rotation were

        assert rotated.client().get(path).status_code == 200
        assert retired.client().get(path).status_code == 404

        # After the rotation the newest key signs: its links verify with B alone, not with A alone.
        new_token = rotated.links().token("renew", seeded.message_id, seeded.nonce)
        assert Links(with_keys(settings, KEY_B)).verify("renew", new_token).message_id == seeded.message_id
        with pytest.raises(LinkInvalid):
            Links(with_keys(settings, KEY_A)).verify("renew", new_token)
        assert retired.client().get(f"/a/renew/{new_token}").status_code == 200

        # The page's form token rotates the same way: a form from before the rotation still confirms.
        client = old_only.client()
        form = renew_form(client, path)
        assert rotated.client().post(path, data=form).status_code == 200
        assert rotated.counts()["renewals"] == 1
    finally:
        for running in (old_only, rotated, retired):
            close_site(running)
