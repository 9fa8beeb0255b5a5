"""`renewals bench sign-in` at a tiny scale, on the session's CPQ org and Redis: every round of a rep's "Sign in
with Salesforce" lands signed in on the rep portal (the app served in the test's process: no gunicorn to boot).
Rounds and requests are counted, never timed."""

from __future__ import annotations

from tests.bench.sign_in import sign_in_figures
from tests.standin_org import RunningOrg


def test_every_sign_in_round_lands_signed_in_on_the_rep_portal(cpq_org: RunningOrg, redis_url: str) -> None:
    callbacks = cpq_org.admin("GET", "connected-app")["callback_urls"]

    figures = sign_in_figures(2, org=cpq_org, redis_url=redis_url, server="in-process")

    assert figures["rounds"] == figures["signed_in"] == 2 and figures["warm_up_signed_in"]
    # Our login route, the org's authorize and login pages, the login POST, the authorize step after it, our
    # callback and the rep portal; at the org besides the browser's four: the code exchange, identity, revoke.
    assert figures["browser_requests_per_round"] == 7
    assert figures["org_requests_per_round"] == 7
    assert figures["approval_pages"] <= 1  # the org asks once per user and app, and remembers the approval
    assert cpq_org.admin("GET", "connected-app")["callback_urls"] == callbacks
