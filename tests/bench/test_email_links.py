"""`renewals bench email-links` on the session's CPQ org, Redis and moto: no email link changes state without a
sign-in but through the customer's own Renew, Contact rep and unsubscribe (issue 14). Links and state changes are
counted, never timed."""

from __future__ import annotations

from sync_service.store import models
from tests.bench.email_links import Parts, allowed_lines, email_link_figures, not_allowed_lines
from tests.standin_org import RunningOrg

# The customer's links whose changes are all allowed: the Renew and Contact rep pages' POSTs, the unsubscribe
# POST (the page's and RFC 8058's), and Review, whose portal offers the same Renew with its confirm page.
ALLOWED = {
    "reminder renew: contact rep, renew",  # its page links to the Contact rep form too
    "reminder contact: contact rep",
    "reminder unsubscribe: unsubscribe",
    "reminder review: renew from the portal",
    "confirmation review: renew from the portal",
    "renewal_refused contact: contact rep",
    "renewal_refused review: renew from the portal",
}


def test_no_email_link_changes_state_without_a_sign_in_but_the_customers_own_actions(
    cpq_org: RunningOrg, redis_url: str, ses_endpoint: str
) -> None:
    figures = email_link_figures(Parts(org=cpq_org, redis_url=redis_url, ses_url=ses_endpoint))

    # One email of every kind the product sends, each read back from SES with its links.
    assert set(figures["emails"]) == set(models.EMAIL_KINDS) and not figures["emails_not_received"]
    found = figures["links_found"]
    assert set(found["reminder"]) >= {"renew", "review", "contact", "quote", "open", "unsubscribe"}
    assert "rep" in found["rep_notice"] and "rep" in found["contact_request"]
    assert figures["links_tried"] == sum(sum(purposes.values()) for purposes in found.values())

    assert list(not_allowed_lines(figures)) == []
    assert figures["not_allowed_links"] == figures["target_not_allowed_links"] == 0
    assert set(allowed_lines(figures)) == ALLOWED
