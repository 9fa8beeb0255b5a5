"""The service's settings: one frozen object built from ``RENEWALS_*`` environment variables.

Every setting is declared exactly once, as a field of :class:`Settings`, with its parser, default and the
sentence the README's configuration table shows. Parsing is strict: a value that is not clearly what the
setting needs is an error naming the variable, never a silent fallback. Secret values are wrapped in
:class:`Secret` so that no repr, log line or error message can show them.

Nothing here reads the environment at import; :func:`load_settings` does, when called.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from config.settings.parsers import (
    SettingsError,
    parse_api_version,
    parse_bool,
    parse_choice,
    parse_database_url,
    parse_existing_file,
    parse_http_url,
    parse_int,
    parse_loopback_url,
    parse_networks,
    parse_positive_float,
    parse_redis_url,
    parse_region,
    parse_secret,
    parse_secret_keys,
    parse_text,
    parse_topic_arns,
)
from config.settings.secret import Secret

__all__ = ["ENV_PREFIX", "Secret", "Settings", "SettingsError", "get_settings", "load_settings"]

ENV_PREFIX = "RENEWALS_"

SalesforceAuth = Literal["password", "jwt", "client_credentials", "direct"]
SALESFORCE_AUTH_MODES: tuple[str, ...] = ("password", "jwt", "client_credentials", "direct")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")

NEW_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# Shipped inside the config package, so the default works from a checkout and from an installed wheel.
DEFAULT_CADENCE_FILE = Path(__file__).parent.parent / "cadence.yaml"
DEFAULT_BRANDS_FILE = Path(__file__).parent.parent / "brands.yaml"

_SETTING_KEY = "renewals.setting"


@dataclass(frozen=True)
class SettingSpec:
    """How one field of :class:`Settings` is read from the environment and documented."""

    parse: Callable[[str, str], Any]
    doc: str
    default_text: str
    required: bool = False
    # Secrets and URLs that may hold a password: their parsers never echo them, repr masks URL passwords.
    sensitive: bool = False


def _setting(
    parse: Callable[[str, str], Any],
    doc: str,
    *,
    default: Any = dataclasses.MISSING,
    sensitive: bool = False,
    default_text: str | None = None,
) -> Any:
    """``default_text`` replaces the rendered default where it would differ between machines (a path)."""
    required = default is dataclasses.MISSING
    if default_text is None:
        default_text = "(required)" if required else _render_default(default)
    spec = SettingSpec(parse, doc, default_text, required=required, sensitive=sensitive)
    return field(default=default, metadata={_SETTING_KEY: spec})


def _render_default(default: Any) -> str:
    if default is None:
        return "(none)"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def _path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _choice(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        return parse_choice(name, raw.upper() if upper else raw, choices)

    return parse


@dataclass(frozen=True, kw_only=True)
class Settings:
    """All configuration of the web app, the workers, the scheduler and the CLI.

    Field ``foo_bar`` is read from ``RENEWALS_FOO_BAR``. Tests build their own instance with
    :func:`load_settings` on a plain dict, or with :func:`dataclasses.replace`.
    """

    secret_keys: tuple[Secret, ...] = _setting(
        parse_secret_keys,
        "Keys that sign email links and sessions: a comma-separated list, oldest first; the newest signs, "
        "the older ones still verify (rotate by appending).",
        sensitive=True,
    )
    database_url: str = _setting(
        parse_database_url,
        "SQLAlchemy URL of the store: SQLite for one machine, `postgresql+psycopg://...` in production.",
        default="sqlite:///var/renewals.db",
        sensitive=True,
    )
    redis_url: str = _setting(
        parse_redis_url,
        "Redis for the job queues, the scheduler and shared rate limits.",
        default="redis://127.0.0.1:6379/0",
        sensitive=True,
    )
    public_base_url: str = _setting(
        parse_http_url,
        "Base URL customers and reps reach the web app at; every link in an email starts with it.",
        default="http://127.0.0.1:5000",
    )
    log_level: str = _setting(
        _choice(LOG_LEVELS, upper=True),
        "Least severe log level written: DEBUG, INFO, WARNING or ERROR.",
        default="INFO",
    )
    salesforce_auth: SalesforceAuth = _setting(
        _choice(SALESFORCE_AUTH_MODES),
        "How to sign in to Salesforce: `password` (username, password and security token), `jwt` "
        "(JWT bearer with a connected app's certificate), `client_credentials` (connected app's run-as "
        "user) or `direct` (an existing access token for SALESFORCE_INSTANCE_URL).",
        default="password",
    )
    salesforce_instance_url: str | None = _setting(
        parse_http_url,
        "The org's instance URL, e.g. `https://yourcompany.my.salesforce.com`; needed for `direct`, "
        "otherwise learnt at login.",
        default=None,
    )
    salesforce_login_url: str = _setting(
        parse_http_url,
        "Login host: `https://test.salesforce.com` for a sandbox, your My Domain URL for "
        "`client_credentials`, or the stand-in org's URL.",
        default="https://login.salesforce.com",
    )
    salesforce_username: str | None = _setting(
        parse_text, "Salesforce username (for `password` and `jwt`).", default=None
    )
    salesforce_password: Secret | None = _setting(
        parse_secret, "Salesforce password (for `password`).", default=None, sensitive=True
    )
    salesforce_security_token: Secret | None = _setting(
        parse_secret, "The user's security token (for `password`).", default=None, sensitive=True
    )
    salesforce_access_token: Secret | None = _setting(
        parse_secret, "An existing OAuth access token (for `direct`).", default=None, sensitive=True
    )
    salesforce_client_id: str | None = _setting(
        parse_text,
        "Connected app's consumer key (for `jwt` and `client_credentials`; with `password` it selects "
        "the OAuth username-password flow).",
        default=None,
    )
    salesforce_client_secret: Secret | None = _setting(
        parse_secret, "Connected app's consumer secret.", default=None, sensitive=True
    )
    salesforce_private_key_file: Path | None = _setting(
        parse_existing_file,
        "PEM private key whose certificate is uploaded to the connected app (for `jwt`).",
        default=None,
    )
    salesforce_api_version: str = _setting(
        parse_api_version, "Salesforce REST API version, written `59.0` (no leading v).", default="59.0"
    )
    salesforce_ca_bundle: Path | None = _setting(
        parse_existing_file,
        "PEM file of an extra certificate authority to trust for Salesforce (e.g. the stand-in org's); "
        "it adds trust, certificate verification always stays on.",
        default=None,
    )
    salesforce_timeout_seconds: float = _setting(
        parse_positive_float, "Timeout of one Salesforce HTTP request, in seconds.", default=30.0
    )
    api_daily_budget: int = _setting(
        parse_int, "Salesforce API calls the service may make per day (all jobs together).", default=10000
    )
    api_reserve: int = _setting(
        parse_int,
        "API calls always left unused of the org's remaining daily limit, for other integrations.",
        default=5000,
    )
    ses_region: str = _setting(parse_region, "AWS region of the SES account.", default="us-east-1")
    ses_endpoint_url: str | None = _setting(
        parse_http_url,
        "Alternative SES and SNS endpoint: a local moto server for the demo and the tests.",
        default=None,
    )
    ses_configuration_set: str | None = _setting(
        parse_text,
        "SES configuration set that publishes bounce, complaint and delivery events.",
        default=None,
    )
    ses_max_send_rate: float | None = _setting(
        parse_positive_float,
        "Emails per second all workers together may send. Unset: the account's `MaxSendRate`, read from "
        "SES (GetSendQuota) every few minutes; the daily `Max24HourSend` is always respected.",
        default=None,
    )
    ses_daily_quota: int | None = _setting(
        parse_int,
        "Emails per 24 hours all workers together may send. Unset: the account's `Max24HourSend`; reaching "
        "it pauses sending until the quota has room again.",
        default=None,
    )
    sns_topic_arns: tuple[str, ...] = _setting(
        parse_topic_arns,
        "Comma-separated SNS topic ARNs whose SES bounce, complaint and delivery notifications the web app "
        "accepts at `/sns/ses-events`; messages of any other topic are refused before anything is fetched.",
        default=(),
        default_text="(none)",
    )
    sns_certificate_endpoint_url: str | None = _setting(
        parse_loopback_url,
        "Local development only: fetch SNS signing certificates from this endpoint on this machine (a moto "
        "server) instead of the AWS host named in the message, after that host has passed every check.",
        default=None,
    )
    dev_outbox: bool = _setting(
        parse_bool,
        "`true` turns on the development outbox page (`/dev/outbox`): every email the SES endpoint (a local "
        "moto server) accepted, shown exactly as sent, with working links. Demo and development only.",
        default=False,
    )
    brands_file: Path = _setting(
        parse_existing_file,
        "YAML file of the brands emails and pages are sent under: the vendor's (the default) and resellers'; "
        "name, logo, colours, sender, reply-to, footer and legal text. Checked at start. The default is the "
        "file shipped in the `config` package.",
        default=DEFAULT_BRANDS_FILE,
        default_text="config/brands.yaml",
    )
    web_host: str = _setting(parse_text, "Address `renewals web` listens on.", default="127.0.0.1")
    web_port: int = _setting(parse_int, "Port `renewals web` listens on.", default=5000)
    web_workers: int = _setting(parse_int, "Gunicorn worker processes of `renewals web`.", default=2)
    web_threads: int = _setting(
        parse_int,
        "Threads per gunicorn worker of `renewals web` (gthread workers): requests each worker serves at once, so "
        "a client that sends its request slowly holds one thread, not a whole worker.",
        default=8,
    )
    web_proxy_hops: int = _setting(
        parse_int,
        "Reverse proxies in front of the web app that add `X-Forwarded-For`/`-Proto` (exactly; 0: none). The "
        "client address that rate limits and bot rules see is taken from them.",
        default=0,
    )
    bot_address_ranges: tuple[str, ...] = _setting(
        parse_networks,
        "Comma-separated address ranges (CIDR) of known link scanners and mail proxies; hits from them are "
        "labelled machine (never human) in events and reports. Built-in user-agent rules apply too.",
        default=(),
        default_text="(none)",
    )
    quote_cache_dir: Path | None = _setting(
        _path,
        "Directory the web app keeps downloaded quote PDFs in (one file per document version, fetched again "
        "when the quote is regenerated). Unset: `quote-cache` beside a SQLite store, else `var/quote-cache`. "
        "Use a directory only the service can read.",
        default=None,
    )
    admin_idle_minutes: int = _setting(
        parse_int,
        "Minutes without a request after which an admin console sign-in ends (sign-ins end after 12 hours "
        "whatever happens).",
        default=30,
    )
    portal_idle_minutes: int = _setting(
        parse_int,
        "Minutes without a request after which a customer portal session (opened by an email's Review link) ends; "
        "the customer opens the link again. Its own cookie: the admin console's and the rep portal's limits do not "
        "apply to it.",
        default=30,
    )
    portal_max_hours: int = _setting(
        parse_int,
        "Hours after its email link was opened that a customer portal session ends, however active.",
        default=4,
    )
    rep_idle_minutes: int = _setting(
        parse_int,
        "Minutes without a request after which a rep portal session ends (its own cookie, beside the customer "
        "portal's and the admin console's).",
        default=30,
    )
    rep_max_hours: int = _setting(
        parse_int,
        "Hours after it was opened that a rep portal session ends, however active.",
        default=4,
    )
    cadence_file: Path = _setting(
        parse_existing_file,
        "YAML file of the reminder cadence: the days before and after a contract's end date that reminders "
        "are due on, optionally per segment of contracts; checked at start, a mistake is an error saying "
        "where it is. The default is the file shipped in the `config` package.",
        default=DEFAULT_CADENCE_FILE,
        default_text="config/cadence.yaml",
    )
    freshness_limit_hours: float = _setting(
        parse_positive_float,
        "Hours since a mapping's last successful pull after which its data counts as stale: planning and sending "
        "reminders pause (confirmations and contact-request notices still go; Renew reads the org live) until a "
        "pull succeeds again. Shown on the console's Operations page and in `/healthz`.",
        default=6.0,
    )

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.web_port <= 65535:
            problems.append(f"{ENV_PREFIX}WEB_PORT must be between 1 and 65535, not {self.web_port}.")
        for name in (
            "web_workers",
            "web_threads",
            "api_daily_budget",
            "ses_daily_quota",
            "admin_idle_minutes",
            "portal_idle_minutes",
            "portal_max_hours",
            "rep_idle_minutes",
            "rep_max_hours",
        ):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{env_name(name)} must be at least 1.")
        if self.web_proxy_hops < 0:
            problems.append(f"{ENV_PREFIX}WEB_PROXY_HOPS must not be negative.")
        if self.api_reserve < 0:
            problems.append(f"{ENV_PREFIX}API_RESERVE must not be negative.")
        if problems:
            raise SettingsError(problems)

    @property
    def signing_key(self) -> Secret:
        """The newest secret key, the one that signs."""
        return self.secret_keys[-1]

    def salesforce_missing(self) -> list[str]:
        """Environment variables the chosen Salesforce sign-in needs but that are unset."""
        needed = {
            "password": ("salesforce_username", "salesforce_password", "salesforce_security_token"),
            "jwt": ("salesforce_username", "salesforce_client_id", "salesforce_private_key_file"),
            "client_credentials": ("salesforce_client_id", "salesforce_client_secret"),
            "direct": ("salesforce_instance_url", "salesforce_access_token"),
        }[self.salesforce_auth]
        return [env_name(name) for name in needed if getattr(self, name) is None]

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and _spec(f).sensitive:
                value = mask_url_password(value)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"


@dataclass(frozen=True)
class SettingDoc:
    """One row of the README's configuration table."""

    env: str
    default: str
    doc: str
    required: bool


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _spec(f: dataclasses.Field[Any]) -> SettingSpec:
    return cast(SettingSpec, f.metadata[_SETTING_KEY])


def registry() -> Iterator[SettingDoc]:
    """Every setting in declaration order, as documented in the README."""
    for f in dataclasses.fields(Settings):
        spec = _spec(f)
        yield SettingDoc(env_name(f.name), spec.default_text, spec.doc, spec.required)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (default: the process environment).

    An empty variable counts as unset. All problems are reported at once, each naming its variable.
    """
    if environ is None:
        environ = os.environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in dataclasses.fields(Settings):
        spec = _spec(f)
        name = env_name(f.name)
        raw = environ.get(name, "").strip()
        if not raw:
            if spec.required:
                problems.append(_missing_message(name))
            continue
        try:
            value = spec.parse(name, raw)
        except SettingsError as exc:
            problems.extend(exc.problems)
            continue
        values[f.name] = value
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def get_settings() -> Settings:
    """The running app's settings inside a Flask app context (views, jobs), else the environment's."""
    # Imported here, not at the top: the settings are a leaf every process and command loads, and most of them
    # (the `renewals` subcommands, the parsers' tests) never need Flask.
    from flask import current_app, has_app_context

    if has_app_context():
        return cast(Settings, current_app.extensions["renewals.settings"])
    return load_settings()


def _missing_message(name: str) -> str:
    if name == env_name("secret_keys"):
        return (
            f"{name} is required but not set. Generate a key with\n    {NEW_KEY_COMMAND}\n"
            f"and set {name} to it (several keys: comma-separated, oldest first)."
        )
    return f"{name} is required but not set."


def mask_url_password(url: str) -> str:
    """``scheme://user:***@host/...`` for a URL carrying a password; other text unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***"
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))
