"""``renewals demo``: the whole system on one machine, for ``make demo``.

Starts Redis, the stand-in Salesforce org (seeded), moto's server as the SES and SNS endpoint, migrates a
SQLite store, then the web app, a worker and the scheduler — all as child processes configured through
``RENEWALS_*`` variables exactly as in production — pulls the org, plans and sends today's reminders (read
them in the development outbox), prints where to click, and stops everything on Ctrl-C or SIGTERM.

moto is wired like a real SES account: the brands' senders are verified identities, and bounces, complaints
and deliveries of the sender domain go to an SNS topic whose HTTPS subscription is the web app's
``/sns/ses-events`` (signed notifications, verified with the certificate moto serves).

The demo's signing key is generated once into ``var/demo/secret`` (mode 600) by this command only; the
app itself never writes secrets. The only credentials printed are the stand-in org's throwaway ones; the
admin console's demo users (``admin`` and ``viewer``) get passwords generated once into
``var/demo/admin-password`` and ``var/demo/viewer-password`` (mode 600), whose paths are printed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

import boto3
import click
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from config.settings import ENV_PREFIX, load_settings
from email_actions.mail.brands import load_brands

REDIS_PORT = 6390
ORG_PORT = 8443
WEB_HOST = "127.0.0.1"
WEB_PORT = 5000
SES_PORT = 5025
SES_TOPIC_NAME = "renewals-ses-events"
# moto's default account and region: the ARN the demo's topic gets.
SES_TOPIC_ARN = f"arn:aws:sns:us-east-1:123456789012:{SES_TOPIC_NAME}"
# A real account's typical production rate; moto itself enforces none.
SES_RATE = "14"
# Reminders `make demo` sends before printing where to click; the rest go from the worker.
DEMO_FIRST_SENDS = 25
# Dummy credentials: the demo talks to moto only (every AWS client gets its endpoint URL).
DEMO_AWS_ENV = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1"}
ORG_STARTUP_TIMEOUT_SECONDS = 900
# Where Sign in with Salesforce returns: the rep portal's and the admin console's callbacks.
CALLBACK_PATHS = ("/auth/salesforce/callback", "/admin/auth/salesforce/callback")
STOP_TIMEOUT_SECONDS = 10


class DemoError(click.ClickException):
    pass


@dataclass(frozen=True)
class OrgInfo:
    """What the stand-in org announces on its first line of output."""

    instance_url: str
    ca_cert: str
    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str
    user_password: str  # every seeded Salesforce user's (the reps'), for Sign in with Salesforce

    @classmethod
    def from_line(cls, line: str) -> OrgInfo:
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise DemoError("The stand-in org's first line of output is not a JSON object.")
        fields = cls.__dataclass_fields__
        missing = [name for name in fields if not isinstance(data.get(name), str)]
        if missing:
            raise DemoError(f"The stand-in org's first line lacks: {', '.join(missing)}.")
        return cls(**{name: data[name] for name in fields})


def ensure_secret(path: Path) -> str:
    """The demo's signing key: read from ``path``, or generated there once, readable by the owner only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


def demo_environment(org: OrgInfo, secret_key: str, demo_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of every service process: the caller's, minus its RENEWALS_*, plus the demo's."""
    env = {name: value for name, value in base.items() if not name.startswith(ENV_PREFIX)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(DEMO_AWS_ENV)
    ses = f"http://127.0.0.1:{SES_PORT}"
    demo_settings = {
        "SECRET_KEYS": secret_key,
        "DATABASE_URL": f"sqlite:///{demo_dir / 'renewals.db'}",
        "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "PUBLIC_BASE_URL": f"http://{WEB_HOST}:{WEB_PORT}",
        "WEB_HOST": WEB_HOST,
        "WEB_PORT": str(WEB_PORT),
        "DEV_OUTBOX": "true",
        "SES_ENDPOINT_URL": ses,
        "SES_MAX_SEND_RATE": SES_RATE,
        "SES_DAILY_QUOTA": "50000",
        "SNS_TOPIC_ARNS": SES_TOPIC_ARN,
        "SNS_CERTIFICATE_ENDPOINT_URL": ses,
        "SALESFORCE_AUTH": "password",
        "SALESFORCE_LOGIN_URL": org.instance_url,
        "SALESFORCE_INSTANCE_URL": org.instance_url,
        "SALESFORCE_CA_BUNDLE": org.ca_cert,
        "SALESFORCE_USERNAME": org.username,
        "SALESFORCE_PASSWORD": org.password,
        "SALESFORCE_SECURITY_TOKEN": org.security_token,
        "SALESFORCE_CLIENT_ID": org.client_id,
        "SALESFORCE_CLIENT_SECRET": org.client_secret,
    }
    env.update({ENV_PREFIX + name: value for name, value in demo_settings.items()})
    return env


class _Stop(Exception):
    """Raised from the SIGTERM handler so the normal shutdown path runs."""


class Supervisor:
    """Starts child processes, notices when one dies, and stops them newest first, one after another
    (so the worker can finish its job while Redis is still there)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[str]]] = []

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(
        self, name: str, argv: list[str], env: Mapping[str, str], *, pipe_stdout: bool = False
    ) -> subprocess.Popen[str]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(name).open("a") as log:
            # A session of its own: Ctrl-C reaches only us, and we stop the children in order.
            process = subprocess.Popen(
                argv,
                env=dict(env),
                stdout=subprocess.PIPE if pipe_stdout else log,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        self.children.append((name, process))
        return process

    def exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def read_first_line(process: subprocess.Popen[str], timeout: float, copy_to: Path) -> str:
    """The first stdout line of ``process``; later lines are appended to ``copy_to`` so the pipe never fills."""
    assert process.stdout is not None
    stream: IO[str] = process.stdout
    first: list[str] = []
    got_first = threading.Event()

    def pump() -> None:
        first.append(stream.readline())
        got_first.set()
        with copy_to.open("a") as log:
            for line in stream:
                log.write(line)
                log.flush()

    threading.Thread(target=pump, name="devorg-stdout", daemon=True).start()
    if not got_first.wait(timeout):
        raise DemoError(f"The stand-in org printed nothing within {timeout:.0f} s.")
    if not first[0]:
        raise DemoError(f"The stand-in org exited (code {process.wait()}) before announcing itself; see {copy_to}.")
    return first[0]


def wait_until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise DemoError(f"{what} did not come up within {timeout:.0f} s.")


def _redis_answers() -> bool:

    try:
        return bool(Redis(host="127.0.0.1", port=REDIS_PORT, socket_timeout=1).ping())
    except RedisConnectionError:
        return False


def _ses_answers() -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{SES_PORT}/moto-api/", timeout=2) as response:
        return bool(response.status == 200)


def wire_local_ses(env: Mapping[str, str]) -> None:
    """Set moto up like the SES account the brands need: verified senders, and the sender domain's
    bounce, complaint and delivery notifications published to the web app's SNS endpoint."""

    settings = load_settings(env)
    endpoint = settings.ses_endpoint_url
    keys = {name.lower(): env[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    ses = boto3.client("ses", endpoint_url=endpoint, region_name="us-east-1", **keys)
    sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1", **keys)
    domains = set()
    for brand in load_brands(settings.brands_file).brands.values():
        ses.verify_email_identity(EmailAddress=brand.sender_address)
        domains.add(brand.sender_address.rsplit("@", 1)[1])
    topic = sns.create_topic(Name=SES_TOPIC_NAME)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{settings.public_base_url}/sns/ses-events")
    for domain in sorted(domains):
        ses.verify_domain_identity(Domain=domain)
        for kind in ("Bounce", "Complaint", "Delivery"):
            ses.set_identity_notification_topic(Identity=domain, NotificationType=kind, SnsTopic=topic)


def plan_and_send(renewals: str, env: Mapping[str, str], log: Path) -> str:
    """Plan today's reminders and send the first of them now, so the development outbox has mail before anyone
    clicks; the scheduler's send job (every five minutes) sends the rest at the account's rate."""
    output = []
    for argv in ([renewals, "plan"], [renewals, "send", "--due", "--limit", str(DEMO_FIRST_SENDS)]):
        done = subprocess.run(argv, env=dict(env), capture_output=True, text=True)
        with log.open("a") as file:
            file.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise DemoError(f"`{' '.join(argv[1:])}` failed; see {log}.")
        output.append(done.stdout.strip())
    return (
        "Planned today's reminders and sent the first ones (the worker sends the rest within minutes):\n"
        + "\n".join(output)
    )


# The console's demo users: name, role. Their passwords are generated once into var/demo/<name>-password.
CONSOLE_USERS = (("admin", "admin"), ("viewer", "viewer"))


def console_users(renewals: str, env: Mapping[str, str], demo_dir: Path, log: Path) -> None:
    """Create the admin console's demo users on first start (an admin who edits, a viewer who reads), each with
    a password generated into a file only the owner can read; never printed, never logged."""
    for name, role in CONSOLE_USERS:
        password = ensure_secret(demo_dir / f"{name}-password")
        done = subprocess.run(
            [renewals, "admin", "create-user", name, "--role", role, "--password-stdin"],
            env=dict(env),
            input=password + "\n",
            capture_output=True,
            text=True,
        )
        with log.open("a") as file:
            file.write(done.stdout + done.stderr)
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise DemoError(f"`admin create-user {name}` failed; see {log}.")


# Who signs in to the console with Salesforce in the demo (the stand-in org's admin holds Renewals_Admin).
DEMO_ROLE_RULES = "permission_set Renewals_Admin admin\nprofile Standard User viewer"


def console_salesforce_roles(env: Mapping[str, str]) -> None:
    """Give the console's Sign in with Salesforce its demo rules, unless an admin has written some."""
    from sqlalchemy.orm import Session

    from sync_service.console_settings.salesforce_roles import check_salesforce_roles, salesforce_roles
    from sync_service.console_settings.store import SALESFORCE_ROLES, store
    from sync_service.store.db import make_engine

    engine = make_engine(load_settings(env).database_url)
    try:
        with Session(engine) as session, session.begin():
            if not salesforce_roles(session):
                store(session, SALESFORCE_ROLES, check_salesforce_roles(DEMO_ROLE_RULES), actor="demo")
    finally:
        engine.dispose()


def _web_answers() -> bool:
    with urllib.request.urlopen(f"http://{WEB_HOST}:{WEB_PORT}/healthz", timeout=2) as response:
        return bool(response.status == 200)


def _ports_in_use(ports: tuple[int, ...]) -> list[int]:
    in_use = []
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                in_use.append(port)
    return in_use


def _renewals_executable() -> str:
    beside_python = Path(sys.executable).with_name("renewals")
    found = str(beside_python) if beside_python.exists() else shutil.which("renewals")
    if not found:
        raise DemoError("The renewals command is not installed; run `make demo`.")
    return found


def first_pull(renewals: str, env: Mapping[str, str], log: Path) -> str:
    """Activate the Salesforce CPQ preset (first start only) and pull the org, so the store has its contracts
    before anyone clicks; returns the pull's summary. Later pulls are the scheduler's."""
    listed = subprocess.run([renewals, "mappings", "list"], env=dict(env), capture_output=True, text=True)
    steps = []
    if "active" not in listed.stdout:
        steps.append([renewals, "mappings", "import", "--preset", "salesforce_cpq", "--activate", "--author", "demo"])
    steps.append([renewals, "sync", "--full"])
    output = []
    for argv in steps:
        done = subprocess.run(argv, env=dict(env), capture_output=True, text=True)
        with log.open("a") as file:
            file.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise DemoError(f"`{' '.join(argv[1:])}` failed; see {log}.")
        output.append(done.stdout.strip())
    return "Pulled the stand-in org through the salesforce_cpq mapping:\n" + output[-1]


# Made once per demo store: a marker file says the changes were made (a restart must not make more).
SALESFORCE_CHANGES_MARKER = "salesforce-changes"


def salesforce_changes(renewals: str, env: Mapping[str, str], demo_dir: Path, log: Path) -> str:
    """On first start, change three contracts in the stand-in org the way reps do in Salesforce, then pull:
    a renewal won there, a contract's reminders held there, a customer opted out of email there. The store
    follows the org (the system of record): the first contract shows Renewed and counts as renewed in
    Salesforce, the other two get no reminder. Returns what was changed, for the person trying the demo."""
    marker = demo_dir / SALESFORCE_CHANGES_MARKER
    if marker.exists():
        return marker.read_text()
    from sync_service.salesforce.client import connect
    from sync_service.salesforce.connect_settings import connection_from_settings

    sf = connect(connection_from_settings(load_settings(env)))
    today = datetime.now(UTC).date()
    soon = (today + timedelta(days=45)).isoformat()
    rows = sf.query(
        "SELECT Id, ContractNumber, CustomerSignedId, SBQQ__RenewalOpportunity__c FROM Contract "
        f"WHERE Status = 'Activated' AND EndDate >= {today.isoformat()} AND EndDate <= {soon} "
        "AND SBQQ__RenewalOpportunity__c != null AND SBQQ__RenewalOpportunity__r.IsWon = false "
        "AND CustomerSignedId != null ORDER BY EndDate LIMIT 3"
    )["records"]
    if len(rows) < 3:
        return "No contracts due within 45 days to change in the stand-in org; skipped the Salesforce changes."
    won, held, opted_out = rows
    records = [
        {"attributes": {"type": "Opportunity"}, "id": won["SBQQ__RenewalOpportunity__c"], "StageName": "Closed Won"},
        {"attributes": {"type": "Contract"}, "id": held["Id"], "Renewal_Reminders_Held__c": True},
        {"attributes": {"type": "Contact"}, "id": opted_out["CustomerSignedId"], "HasOptedOutOfEmail": True},
    ]
    partner = _partner_deal(sf, today, {row["Id"] for row in rows})
    if partner is not None:
        records.append({"attributes": {"type": "Contract"}, "id": partner["Id"], "OwnerId": partner["partner_user"]})
    answers = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records})
    if not isinstance(answers, list) or not all(answer.get("success") for answer in answers):
        raise DemoError(f"The stand-in org refused the demo's changes: {answers}")
    done = subprocess.run([renewals, "sync"], env=dict(env), capture_output=True, text=True)
    with log.open("a") as file:
        file.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise DemoError(f"`sync` failed; see {log}.")
    lines = [
        "Changed in the stand-in org as a rep would in Salesforce, then pulled (Salesforce wins):",
        f"  contract {won['ContractNumber']}: its renewal opportunity is Closed Won: the store marks it renewed",
        "    in Salesforce (no reminders; the portal shows Renewed; the reports count it under 'in Salesforce')",
        f"  contract {held['ContractNumber']}: Renewal Reminders Held set in Salesforce: no reminders",
        f"  contract {opted_out['ContractNumber']}: its customer opted out of email in Salesforce: no reminders",
    ]
    if partner is not None:
        lines += [
            f"  contract {partner['ContractNumber']}: handed to {partner['partner_username']}, a partner rep at",
            "    its reseller (not a Salesforce user who can sign in): their rep notice's link offers an emailed code",
        ]
    summary = "\n".join(lines)
    marker.write_text(summary)
    return summary


def _partner_deal(sf: Any, today: date, taken: set[str]) -> dict[str, Any] | None:
    """The reseller's contract ending soonest (within 45 days, not among `taken`) whose reseller has an active
    partner user, with that user's id and username; None if the org has none."""
    soon = (today + timedelta(days=45)).isoformat()
    deals = sf.query(
        "SELECT Id, ContractNumber, Reseller__c FROM Contract WHERE Status = 'Activated' "
        f"AND EndDate >= {today.isoformat()} AND EndDate <= {soon} AND Reseller__c != null ORDER BY EndDate LIMIT 20"
    )["records"]
    for deal in deals:
        if deal["Id"] in taken:
            continue
        users = sf.query(
            "SELECT Id, Username FROM User WHERE IsActive = true AND UserType = 'PowerPartner' "
            f"AND AccountId = '{deal['Reseller__c']}' ORDER BY Username LIMIT 1"
        )["records"]
        if users:
            return {**deal, "partner_user": users[0]["Id"], "partner_username": users[0]["Username"]}
    return None


def where_to_click(org: OrgInfo, log_dir: Path, demo_dir: Path = Path("var/demo")) -> str:
    return "\n".join(
        [
            "",
            "Renewals demo is running.",
            "",
            f"  Web app:               http://{WEB_HOST}:{WEB_PORT}/",
            f"  Emails sent (outbox):  http://{WEB_HOST}:{WEB_PORT}/dev/outbox  (open one, click its links)",
            f"  Admin console:         http://{WEB_HOST}:{WEB_PORT}/admin/  (reports, operations, mappings, settings)",
            f"    sign in as admin (password in {demo_dir / 'admin-password'})",
            f"    or as viewer, who reads only (password in {demo_dir / 'viewer-password'})",
            f"    or Sign in with Salesforce as admin@renewals.devorg (an admin), password {org.user_password}",
            "  Rep portal:            open a rep notice in the outbox and click its link: the rep signs in first.",
            "    In-house reps: Sign in with Salesforce, as the rep the notice went to (its To: address is the",
            f"    rep's Salesforce username), password {org.user_password}",
            "    Partner reps (at a reseller; the demo hands them one contract, above): Email me a sign-in code;",
            "    the code's email shows in the outbox",
            f"  Stand-in org web view: {org.instance_url}/_devorg/",
            f"    its certificate is signed by the demo CA in {org.ca_cert}",
            f"  Stand-in org sign-in:  username {org.username}",
            f"                         password {org.password}  security token {org.security_token}",
            "",
            f"  Logs:                  {log_dir}/ (web, worker, scheduler, devorg, redis, ses)",
            "",
            "Press Ctrl-C to stop everything.",
            "",
        ]
    )


@click.command()
@click.option(
    "--dir", "demo_dir", default="var/demo", show_default=True, type=click.Path(path_type=Path), help="Demo state."
)
@click.option("--contracts", default=2000, show_default=True, help="Contracts seeded into the stand-in org.")
def demo(demo_dir: Path, contracts: int) -> None:
    """Start Redis, the stand-in org, the web app, a worker and the scheduler; print where to click."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise DemoError("redis-server is not installed; `make demo` installs it.")
    renewals = _renewals_executable()
    if busy := _ports_in_use((REDIS_PORT, ORG_PORT, WEB_PORT, SES_PORT)):
        ports = ", ".join(map(str, busy))
        raise DemoError(f"Port {ports} on 127.0.0.1 is in use; is another demo running? Stop it first.")
    (demo_dir / "redis").mkdir(parents=True, exist_ok=True)
    secret_key = ensure_secret(demo_dir / "secret")

    def request_stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop()

    signal.signal(signal.SIGTERM, request_stop)
    supervisor = Supervisor(demo_dir / "logs")
    try:
        base_env = dict(os.environ)
        base_env["PYTHONUNBUFFERED"] = "1"
        redis_argv = [redis_server, "--bind", "127.0.0.1", "--port", str(REDIS_PORT)]
        redis_argv += ["--dir", str(demo_dir / "redis"), "--save", "", "--appendonly", "no"]
        supervisor.start("redis", redis_argv, base_env)
        wait_until(_redis_answers, "Redis", 15)

        org_argv = [renewals, "devorg", "serve", "--port", str(ORG_PORT), "--data", str(demo_dir / "org")]
        org_argv += ["--seed-contracts", str(contracts), "--flavour", "salesforce_cpq"]
        for callback in CALLBACK_PATHS:  # Sign in with Salesforce comes back to the demo's web app
            org_argv += ["--callback-url", f"http://{WEB_HOST}:{WEB_PORT}{callback}"]
        click.echo(f"Starting the stand-in org (first start seeds {contracts} contracts)...")
        org_process = supervisor.start("devorg", org_argv, base_env, pipe_stdout=True)
        first_line = read_first_line(org_process, ORG_STARTUP_TIMEOUT_SECONDS, supervisor.log_path("devorg"))
        org = OrgInfo.from_line(first_line)

        env = demo_environment(org, secret_key, demo_dir, os.environ)
        moto_server = str(Path(sys.executable).with_name("moto_server"))
        supervisor.start("ses", [moto_server, "-H", "127.0.0.1", "-p", str(SES_PORT)], env)
        wait_until(_ses_answers, "The local SES endpoint (moto)", 30)
        wire_local_ses(env)
        with supervisor.log_path("db-upgrade").open("a") as migration_log:
            subprocess.run([renewals, "db", "upgrade"], env=env, check=True, stdout=migration_log, stderr=migration_log)
        click.echo(first_pull(renewals, env, supervisor.log_path("sync")))
        click.echo(salesforce_changes(renewals, env, demo_dir, supervisor.log_path("sync")))
        console_users(renewals, env, demo_dir, supervisor.log_path("admin"))
        console_salesforce_roles(env)
        supervisor.start("web", [renewals, "web"], env)
        wait_until(_web_answers, "The web app", 60)
        # Plan and the first sends before the worker starts: on a store a previous demo left with emails
        # queued, the worker would start sending them at once, and on SQLite its send transactions and the
        # planner's update would queue for the one write lock (beyond the busy timeout under load).
        click.echo(plan_and_send(renewals, env, supervisor.log_path("send")))
        supervisor.start("worker", [renewals, "worker"], env)
        supervisor.start("scheduler", [renewals, "scheduler"], env)
        click.echo(where_to_click(org, supervisor.log_path("web").parent, demo_dir))

        while (ended := supervisor.exited()) is None:
            time.sleep(0.5)
        name, code = ended
        raise DemoError(
            f"The {name} process stopped (exit code {code}); see {supervisor.log_path(name)}. Stopping the demo."
        )
    except (KeyboardInterrupt, _Stop):
        click.echo("\nStopping the demo...")
    except subprocess.CalledProcessError as exc:
        log_path = supervisor.log_path("db-upgrade")
        raise DemoError(f"`renewals db upgrade` failed (exit code {exc.returncode}); see {log_path}.") from None
    finally:
        # A second Ctrl-C or SIGTERM (a supervisor that signals the group, an impatient hand) must not cut the
        # stop short and leave the services running.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        supervisor.stop_all()
