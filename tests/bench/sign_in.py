"""`renewals bench sign-in` (issue 14): the round trip of a rep's "Sign in with Salesforce" against the stand-in
org, as a browser makes it, beside a plain authenticated REST GET against the same org in the same run.

**Set-up.** The web app is `renewals web` (the product's gunicorn set-up, two workers) on a free port, or, for the
test (``server="in-process"``: no gunicorn to boot), the same app under werkzeug's threaded server in this process,
its request log off (the callback's query carries the code). Its public URL is that address, and the stand-in
org's connected app gets ``<it>/auth/salesforce/callback`` added to its callback URLs (admin hook
``connected-app``; they are put back as they were afterwards). The app is configured with the org's client id and
secret. The store is a migrated SQLite file with one rep whose Salesforce user id is a seeded in-house user of the
org (a Standard user other than the API user), owning one contract, and one rep notice sent to that rep: the
sign-in opens the rep portal for the rep's latest sent email (`email_actions.web.rep_sign_in`), so a rep needs one.

**A round** is what a browser does, with a fresh ``requests.Session`` (no cookies at our app nor at the org, new
connections): ``GET /auth/salesforce/login?next=/rep`` → the org's authorize page → its login page; the login
form posted with the user's name and the demo users' password (``user_password`` the org prints) → the approval
page when the org asks (the first sign-in of that user to the app: the untimed warm-up round takes it) → our
callback (code exchange, identity read, token revoked, rep session opened) → ``/rep``. A round is *signed in*
when it ends on ``/rep`` with 200 and the rep's contract on the page. Its time runs from the first request to the
``/rep`` page's last byte; the rate-limit counters are emptied between rounds (outside the time): the bench signs
in more often a minute than the portal's anti-automation limit lets one address.

**The baseline**, in the same run: ``GET /services/data/v59.0/limits`` with the API user's token, N times on one
keep-alive connection (the median is the figure the ratio divides by), and N times on a new connection each (for
comparison: a round opens several).
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from redis import Redis
from werkzeug.serving import WSGIRequestHandler, make_server

from config.settings import load_settings
from email_actions.web.app import create_app
from sync_service.store import migrate
from sync_service.store.db import Database
from sync_service.store.models import utcnow
from tests.factories import make_contract, make_email, make_rep
from tests.processes import LateApp, RestartableRedis, free_port, renewals_env, start_web, stop_process
from tests.standin_org import RunningOrg, org_browser, start_org, submit_form

CALLBACK_PATH = "/auth/salesforce/callback"
CONTRACT_NUMBER = "C-BENCH-SSO-1"
# The stand-in org's demo users' password (local demo data), when the org does not print it as user_password.
DEMO_PASSWORD = "Renewals-demo-1"
TIMEOUT = 60
WEB_WORKERS = 2


@dataclass(frozen=True)
class Round:
    seconds: float
    signed_in: bool
    approved: bool  # the org asked for the approval page
    requests: int  # HTTP requests the browser made
    org_requests: int  # requests the org served meanwhile (the browser's and our app's)


def sign_in_round(base_url: str, org: RunningOrg, username: str, password: str) -> Round:
    """One browser's sign-in, from our login route to the rep portal."""
    since = time.time()
    with org_browser(org) as http:
        started = time.perf_counter()
        login_page = http.get(f"{base_url}/auth/salesforce/login", params={"next": "/rep"}, timeout=TIMEOUT)
        answer = submit_form(http, login_page, "Login", username=username, password=password, follow=True)
        approved = urlsplit(answer.url).netloc == urlsplit(org.url).netloc and "oaapprove" in answer.text
        if approved:
            answer = submit_form(http, answer, "oaapprove", follow=True)
        seconds = time.perf_counter() - started
        made = sum(1 + len(response.history) for response in (login_page, answer)) + (1 if approved else 0)
    signed_in = answer.status_code == 200 and answer.url == f"{base_url}/rep" and CONTRACT_NUMBER in answer.text
    return Round(seconds, signed_in, approved, made, len(org.requests_since(since)))


def _rest_get_seconds(org: RunningOrg, token: str, runs: int, *, keep_alive: bool) -> list[float]:
    url = f"{org.url}/services/data/v59.0/limits"
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    shared = org_browser(org)
    try:
        shared.get(url, headers=headers, timeout=TIMEOUT).raise_for_status()  # the connection, opened untimed
        for _ in range(runs):
            http = shared if keep_alive else org_browser(org)
            started = time.perf_counter()
            http.get(url, headers=headers, timeout=TIMEOUT).raise_for_status()
            times.append(time.perf_counter() - started)
            if not keep_alive:
                http.close()
    finally:
        shared.close()
    return times


def _rep_user(org: RunningOrg) -> dict[str, Any]:
    rows = org.salesforce().query(
        "SELECT Id, Username FROM User "
        f"WHERE UserType = 'Standard' AND Username != '{org.info['username']}' ORDER BY Username LIMIT 1"
    )["records"]
    if not rows:
        raise RuntimeError("the stand-in org has no in-house user besides the API user")
    return dict(rows[0])


@contextmanager
def _callback_at(org: RunningOrg, url: str) -> Iterator[None]:
    """The org's connected app accepting `url` as a callback too, for the block; its callback URLs as they were
    afterwards."""
    before = list(org.admin("GET", "connected-app")["callback_urls"])
    org.admin("PUT", "connected-app", {"callback_urls": [*before, url]})
    try:
        yield
    finally:
        org.admin("PUT", "connected-app", {"callback_urls": before})


def _store(work: Path, sf_user_id: str) -> str:
    """A migrated SQLite store holding the rep (the org's user), a contract of theirs and a notice sent to them."""
    url = f"sqlite:///{work / 'renewals.db'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        with db.session_scope() as session:
            rep = make_rep(session, name="Bench Rep", email="bench.rep@vendor.example")
            rep.sf_id = sf_user_id
            contract = make_contract(
                session, end_date=utcnow().date() + timedelta(days=30), rep=rep, number=CONTRACT_NUMBER
            )
            make_email(session, contract, kind="rep_notice", sent_at=utcnow() - timedelta(hours=1))
    finally:
        db.dispose()
    return url


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-95 * len(ordered) // 100) - 1))]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No access log: the callback's query holds the authorization code."""


@contextmanager
def _served_here(env: dict[str, str], late: LateApp, server: Any) -> Iterator[None]:
    """The app over `env` served by `server` (bound already) in a thread of this process."""
    app = create_app(load_settings(env))
    late.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["renewals.database"].dispose()


def sign_in_figures(
    rounds: int = 50,
    *,
    org: RunningOrg | None = None,
    redis_url: str | None = None,
    server: Literal["gunicorn", "in-process"] = "gunicorn",
) -> dict[str, Any]:
    """Time `rounds` sign-ins after one untimed warm-up (a given org and Redis are used, not stopped)."""
    if rounds < 1:
        raise ValueError("at least one round")
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="renewals-bench-sign-in-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        if org is None:
            org = start_org(work / "org", "--seed-contracts", "30", "--flavour", "salesforce_cpq")
            stack.callback(org.stop)
        redis_url = redis_url or stack.enter_context(RestartableRedis(work)).url
        late = LateApp()
        here = None
        if server == "in-process":
            here = make_server("127.0.0.1", 0, late, threaded=True, request_handler=_QuietHandler)
            port = here.server_port
        else:
            port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        stack.enter_context(_callback_at(org, base_url + CALLBACK_PATH))
        user = _rep_user(org)
        env = renewals_env(
            {
                "RENEWALS_SECRET_KEYS": secrets.token_urlsafe(32),
                "RENEWALS_DATABASE_URL": _store(work, user["Id"]),
                "RENEWALS_REDIS_URL": redis_url,
                "RENEWALS_PUBLIC_BASE_URL": base_url,
                "RENEWALS_WEB_HOST": "127.0.0.1",
                "RENEWALS_WEB_PORT": str(port),
                "RENEWALS_WEB_WORKERS": str(WEB_WORKERS),
                "RENEWALS_LOG_LEVEL": "WARNING",
                **org.salesforce_env(),
                "RENEWALS_SALESFORCE_CLIENT_ID": org.info["client_id"],
                "RENEWALS_SALESFORCE_CLIENT_SECRET": org.info["client_secret"],
            }
        )
        if here is not None:
            stack.enter_context(_served_here(env, late, here))
        else:
            web = start_web(env, work / "web.log", base_url + "/healthz")
            stack.callback(stop_process, web)
        redis = Redis.from_url(redis_url)
        stack.callback(redis.close)
        password = str(org.info.get("user_password") or DEMO_PASSWORD)

        warm_up = sign_in_round(base_url, org, user["Username"], password)
        timed: list[Round] = []
        for _ in range(rounds):
            redis.flushdb()  # the portal's per-address limit: not what is measured
            timed.append(sign_in_round(base_url, org, user["Username"], password))

        token = org.salesforce().session_id
        rest = _rest_get_seconds(org, token, rounds, keep_alive=True)
        rest_new = _rest_get_seconds(org, token, rounds, keep_alive=False)
        times = [r.seconds for r in timed]
        median, rest_median = statistics.median(times), statistics.median(rest)
        return {
            "rounds": rounds,
            "server": f"gunicorn, {WEB_WORKERS} workers" if here is None else "werkzeug, threaded, in process",
            "signed_in": sum(r.signed_in for r in timed),
            "warm_up_signed_in": warm_up.signed_in,
            "approval_pages": sum(r.approved for r in [warm_up, *timed]),
            "browser_requests_per_round": statistics.median(r.requests for r in timed),
            "org_requests_per_round": statistics.median(r.org_requests for r in timed),
            "sign_in_median_ms": _ms(median),
            "sign_in_p95_ms": _ms(_p95(times)),
            "rest_get_median_ms": _ms(rest_median),
            "rest_get_new_connection_median_ms": _ms(statistics.median(rest_new)),
            "ratio_vs_rest_get": round(median / rest_median, 1) if rest_median else None,
        }
    raise AssertionError("unreachable")
