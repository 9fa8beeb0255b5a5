"""Settings an admin changes in the console, stored in ``console_settings``; each overrides the file or
environment default it stands for until an admin resets it.

Readers ask for the *effective* value here (never read the environment default directly when an override
can exist), so a change in the console reaches the jobs and the web app on their next use, with no restart:

=============  ==========================================  ===========================================
setting        default                                     read by
=============  ==========================================  ===========================================
``cadence``    ``RENEWALS_CADENCE_FILE``                   :func:`cadence`: the planning job, ``renewals plan``
``brands``     ``RENEWALS_BRANDS_FILE``                    :func:`brands`: sending, email previews, pages, logos
``api_budget`` ``RENEWALS_API_DAILY_BUDGET``/``_RESERVE``  :func:`api_budget`: pulls, pushes, quote downloads
``bot_rules``  ``RENEWALS_BOT_ADDRESS_RANGES`` + built-ins :func:`bot_rules`: every link hit (``events``)
=============  ==========================================  ===========================================

Each ``check_*``/``edit_*`` function turns what an admin typed into the value to store, or raises
:class:`SettingProblems` naming each field that is wrong and why; nothing is stored then. The caller stores
the value (:func:`store`), audits the change and commits, all in one transaction.

Values, as stored (JSON):

- ``cadence``: ``{"yaml": <the cadence file's text>}``, checked as strictly as the file.
- ``brands``: ``{"default": key, "brands": {key: {...}}, "logos": {sha256: base64 PNG}}``: the brands file's
  data with every logo kept in the store (named ``sha256:<digest>``), so the brands of the console depend on
  no file and every web and worker process, on any machine, sees the same logos. The first change copies the
  file's brands and logos; uploads are checked to be whole PNGs under 200 kB (:func:`brands.check_png`).
- ``api_budget``: ``{"daily_budget": int, "reserve": int}``.
- ``bot_rules``: ``{"ranges": [cidr], "agent_substrings": [str], "too_soon_seconds": float,
  "burst_seconds": float, "burst_links": int}``.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
import yaml
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from config.settings import Settings
from email_actions.mail.brands import (
    BRAND_KEY,
    COLOUR,
    LOGO_REF_PREFIX,
    BrandBook,
    BrandError,
    check_png,
    load_brands,
    logo_ref,
    parse_brands,
)
from sync_service.bot_classifier import BURST_LINKS, BURST_SECONDS, TOO_SOON_SECONDS, BotRules
from sync_service.planning.cadence import (
    DEFAULT_SEGMENT,
    Cadence,
    CadenceError,
    load_cadence,
    parse_cadence_text,
    read_yaml,
)
from sync_service.pull.run import Budget
from sync_service.store.models import ConsoleSetting, utcnow

log = structlog.get_logger(__name__)

CADENCE = "cadence"
BRANDS = "brands"
API_BUDGET = "api_budget"
BOT_RULES = "bot_rules"
NAMES = (CADENCE, BRANDS, API_BUDGET, BOT_RULES)

# Where the console's values say they come from, in error messages.
CADENCE_SOURCE = "the admin console's cadence"
BRANDS_SOURCE = "the admin console's brands"


class SettingProblems(ValueError):
    """What an admin entered cannot be used: each form field named, with why. Nothing was stored."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in self.problems.items()))


# --- the table ---------------------------------------------------------------------------------------------


def stored(session: Session, name: str) -> dict[str, Any] | None:
    """The admin's value of setting `name`, or None when the default applies."""
    value = session.scalar(select(ConsoleSetting.value).where(ConsoleSetting.name == name))
    return dict(value) if value is not None else None


def row(session: Session, name: str) -> ConsoleSetting | None:
    """The stored row of setting `name` (who changed it and when), or None when the default applies."""
    return session.scalar(select(ConsoleSetting).where(ConsoleSetting.name == name))


def store(session: Session, name: str, value: dict[str, Any], *, actor: str) -> None:
    """Save the admin's value (the caller validated it, audits it and commits)."""
    found = row(session, name)
    if found is None:
        session.add(ConsoleSetting(name=name, value=value, updated_by=actor, updated_at=utcnow()))
    else:
        found.value, found.updated_by, found.updated_at = value, actor, utcnow()
    session.flush()


def reset(session: Session, name: str) -> None:
    """Forget the admin's value: the file or environment default applies again."""
    found = row(session, name)
    if found is not None:
        session.delete(found)
        session.flush()


# --- API budget --------------------------------------------------------------------------------------------

MAX_API_CALLS = 100_000_000  # far above any org's daily limit: a bigger number is a typing mistake


def api_budget(session: Session, settings: Settings) -> Budget:
    """The daily API budget and reserve in force: the console's, else RENEWALS_API_DAILY_BUDGET/_RESERVE."""
    value = stored(session, API_BUDGET) or {}
    return Budget(
        daily_budget=int(value.get("daily_budget", settings.api_daily_budget)),
        reserve=int(value.get("reserve", settings.api_reserve)),
    )


def check_api_budget(daily_budget: str, reserve: str) -> dict[str, Any]:
    """The value to store for the budget fields as typed; raises SettingProblems.

    The budget must be at least 1 and the reserve at least 0. They are not compared: the budget caps the calls
    *this service* makes in a day, the reserve is what it leaves of *the org's* remaining daily limit (shared
    with every other integration), so a reserve larger than the budget is ordinary (an org with 100,000 calls
    a day keeps 20,000 for others and lets this service use 10,000).
    """
    problems: dict[str, str] = {}
    budget = _whole(daily_budget, "daily_budget", 1, MAX_API_CALLS, problems)
    kept = _whole(reserve, "reserve", 0, MAX_API_CALLS, problems)
    if problems:
        raise SettingProblems(problems)
    return {"daily_budget": budget, "reserve": kept}


def _whole(raw: str, field: str, low: int, high: int, problems: dict[str, str]) -> int:
    text = raw.strip().replace(",", "").replace("_", "")
    if not re.fullmatch(r"[+-]?\d{1,12}", text):
        problems[field] = f"{raw.strip()!r} is not a whole number" if raw.strip() else "required"
        return 0
    value = int(text)
    if not low <= value <= high:
        problems[field] = f"must be from {low:,} to {high:,}, not {value:,}"
    return value


# --- cadence -----------------------------------------------------------------------------------------------

MAX_CADENCE_CHARS = 20_000


def cadence_text(session: Session, settings: Settings) -> str:
    """The cadence in force, as YAML: the console's, else the cadence file's text."""
    value = stored(session, CADENCE)
    if value is not None:
        return str(value["yaml"])
    return settings.cadence_file.read_text(encoding="utf-8")


def cadence(session: Session, settings: Settings) -> Cadence:
    """The cadence in force: the console's, else RENEWALS_CADENCE_FILE (read now, so an edit applies at once).
    Raises CadenceError when it cannot be used (the file was broken since start)."""
    value = stored(session, CADENCE)
    if value is None:
        return load_cadence(settings.cadence_file)
    return parse_cadence_text(str(value["yaml"]), source=CADENCE_SOURCE)


def check_cadence_text(text: str) -> dict[str, Any]:
    """The value to store for a whole cadence typed as YAML; raises SettingProblems (field ``yaml``)."""
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise SettingProblems({"yaml": "the cadence is empty; it needs at least a `default:` section"})
    if len(text) > MAX_CADENCE_CHARS:
        raise SettingProblems({"yaml": f"{len(text):,} characters; a cadence fits in {MAX_CADENCE_CHARS:,}"})
    try:
        parse_cadence_text(text, source=CADENCE_SOURCE)
    except CadenceError as exc:
        raise SettingProblems({"yaml": "; ".join(exc.problems)}) from exc
    return {"yaml": text if text.endswith("\n") else text + "\n"}


@dataclass(frozen=True)
class StageFields:
    """One segment's stages as the form shows them (days, comma-separated)."""

    segment: str
    days_before_end: str
    days_after_end: str


def stage_fields(parsed: Cadence) -> list[StageFields]:
    """The default segment's and each named segment's stages, for the per-stage form (default first)."""
    out = []
    for segment in (parsed.default, *parsed.segments[:-1]):
        before = sorted((-o for o in segment.offsets if o < 0), reverse=True)
        after = sorted(o for o in segment.offsets if o >= 0)
        out.append(StageFields(segment.name, ", ".join(map(str, before)), ", ".join(map(str, after))))
    return out


def check_stages(current_text: str, catch_up_days: str, stages: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The value to store when the per-stage form changes the stages of the cadence `current_text`.

    `stages` maps a segment's name (``default`` too) to the days before and after its end date as typed; the
    segments' rules stay as they are (they are edited as YAML). Problems are keyed ``catch_up_days`` and
    ``<segment>.days_before_end``/``<segment>.days_after_end``; raises SettingProblems.
    """
    data = read_yaml(current_text)
    if not isinstance(data, dict):
        raise SettingProblems({"yaml": "the cadence in force is not a mapping; edit it as YAML"})
    data = copy.deepcopy(data)
    problems: dict[str, str] = {}
    days = _whole(catch_up_days, "catch_up_days", 0, 10**6, problems)
    if "catch_up_days" not in problems:
        data["catch_up_days"] = days
    sections: dict[str, dict[str, Any]] = {}
    if isinstance(data.get("default"), dict):
        sections[DEFAULT_SEGMENT] = data["default"]
    for section in data.get("segments") or []:
        if isinstance(section, dict) and isinstance(section.get("name"), str):
            sections[section["name"]] = section
    for name, (before, after) in stages.items():
        section = sections.get(name)
        if section is None:
            problems[f"{name}.days_before_end"] = f"there is no segment {name!r} in the cadence any more; reload"
            continue
        for key, raw in (("days_before_end", before), ("days_after_end", after)):
            numbers = _day_list(raw, f"{name}.{key}", problems)
            if numbers:
                section[key] = numbers
            else:
                section.pop(key, None)
    if not problems:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        try:
            parse_cadence_text(text, source=CADENCE_SOURCE)
        except CadenceError as exc:
            problems.update(_cadence_fields(exc.problems, data))
        else:
            return {"yaml": text}
    raise SettingProblems(problems)


def _day_list(raw: str, field: str, problems: dict[str, str]) -> list[int]:
    parts = [part for part in re.split(r"[\s,;]+", raw.strip()) if part]
    bad = [part for part in parts if not re.fullmatch(r"\d{1,6}", part)]
    if bad:
        problems[field] = f"{', '.join(map(repr, bad))}: write whole numbers of days, e.g. 90, 60, 30"
        return []
    return [int(part) for part in parts]


def _cadence_fields(problems: list[str], data: Mapping[str, Any]) -> dict[str, str]:
    """parse_cadence's problems ("segments[1].days_before_end: ...") keyed by the per-stage form's fields."""
    names = [s.get("name") if isinstance(s, dict) else None for s in data.get("segments") or []]
    out: dict[str, str] = {}
    for problem in problems:
        where, _, _ = problem.partition(": ")
        segment, _, key = where.partition(".")
        if (match := re.fullmatch(r"segments\[(\d+)\]", segment)) and int(match.group(1)) < len(names):
            segment = str(names[int(match.group(1))])
        if segment == "catch_up_days":
            field = "catch_up_days"
        elif "before and after the end date are the same stage" in problem:
            field = f"{segment}.days_after_end"  # the second list named it; the first is fine alone
        else:
            field = f"{segment}.{key if key in ('days_before_end', 'days_after_end') else 'days_before_end'}"
        out[field] = f"{out[field]}; {problem}" if field in out else problem
    return out


# --- bot rules ---------------------------------------------------------------------------------------------

MAX_RANGES = 500
MAX_AGENT_SUBSTRINGS = 100
# A range wider than this covers much of the internet: every person there would be labelled a machine.
MIN_PREFIX = {4: 8, 6: 16}
# User agents of people's browsers and mail apps (those the built-in rules call human): an extra substring
# found in one of them would label ordinary readers machines, so it is refused.
HUMAN_AGENTS = {
    "Chrome on Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Edge on Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Firefox on Linux": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Safari on a Mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Safari on an iPhone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Chrome on Android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Apple Mail": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
}
TOO_SOON_RANGE = (0.0, 300.0)
BURST_SECONDS_RANGE = (1.0, 120.0)
BURST_LINKS_RANGE = (2, 20)


def bot_rules(session: Session, settings: Settings) -> BotRules:
    """The bot-classification rules in force: the console's, else RENEWALS_BOT_ADDRESS_RANGES and the
    built-in thresholds (the built-in user-agent families always apply)."""
    value = stored(session, BOT_RULES)
    if value is None:
        return BotRules(ranges=tuple(settings.bot_address_ranges))
    return BotRules(
        ranges=tuple(value.get("ranges", ())),
        agent_substrings=tuple(value.get("agent_substrings", ())),
        too_soon_seconds=float(value.get("too_soon_seconds", TOO_SOON_SECONDS)),
        burst_seconds=float(value.get("burst_seconds", BURST_SECONDS)),
        burst_links=int(value.get("burst_links", BURST_LINKS)),
    )


def bot_rules_value(rules: BotRules) -> dict[str, Any]:
    return {
        "ranges": list(rules.ranges),
        "agent_substrings": list(rules.agent_substrings),
        "too_soon_seconds": rules.too_soon_seconds,
        "burst_seconds": rules.burst_seconds,
        "burst_links": rules.burst_links,
    }


def check_bot_rules(
    ranges: str, agent_substrings: str, too_soon_seconds: str, burst_seconds: str, burst_links: str
) -> dict[str, Any]:
    """The value to store for the bot-rule fields as typed (ranges and substrings one a line); raises
    SettingProblems."""
    problems: dict[str, str] = {}
    networks = _networks(ranges, problems)
    substrings = _agent_substrings(agent_substrings, problems)
    too_soon = _number(too_soon_seconds, "too_soon_seconds", TOO_SOON_RANGE, problems)
    window = _number(burst_seconds, "burst_seconds", BURST_SECONDS_RANGE, problems)
    links = _whole(burst_links, "burst_links", *BURST_LINKS_RANGE, problems)
    if problems:
        raise SettingProblems(problems)
    return {
        "ranges": networks,
        "agent_substrings": substrings,
        "too_soon_seconds": too_soon,
        "burst_seconds": window,
        "burst_links": links,
    }


def _networks(raw: str, problems: dict[str, str]) -> list[str]:
    out: list[str] = []
    bad, wide = [], []
    for part in (p for p in re.split(r"[\s,]+", raw.strip()) if p):
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError:
            bad.append(part)
            continue
        if network.prefixlen < MIN_PREFIX[network.version]:
            wide.append(part)
        elif str(network) not in out:
            out.append(str(network))
    if bad:
        problems["ranges"] = (
            f"{', '.join(map(repr, bad))}: not an address range; write one per line in CIDR notation, such as "
            "40.92.0.0/15 or 2a01:111::/32 (a bare address is one host)"
        )
    elif wide:
        problems["ranges"] = (
            f"{', '.join(map(repr, wide))}: too wide (shorter than /{MIN_PREFIX[4]} for IPv4 or "
            f"/{MIN_PREFIX[6]} for IPv6); every person in it would count as a machine"
        )
    elif len(out) > MAX_RANGES:
        problems["ranges"] = f"{len(out)} ranges; at most {MAX_RANGES}"
    return out


def _agent_substrings(raw: str, problems: dict[str, str]) -> list[str]:
    out: list[str] = []
    for line in raw.splitlines():
        text = line.strip()
        if not text:
            continue
        if not 3 <= len(text) <= 120 or not text.isprintable():
            problems["agent_substrings"] = f"{text[:40]!r}: each line must be 3 to 120 printable characters"
            return []
        humans = [name for name, agent in HUMAN_AGENTS.items() if text.casefold() in agent.casefold()]
        if humans:
            problems["agent_substrings"] = (
                f"{text!r} is part of ordinary browsers' user agents ({', '.join(humans)}): every person using "
                "them would count as a machine"
            )
            return []
        if text.casefold() not in (o.casefold() for o in out):
            out.append(text)
    if len(out) > MAX_AGENT_SUBSTRINGS:
        problems["agent_substrings"] = f"{len(out)} lines; at most {MAX_AGENT_SUBSTRINGS}"
    return out


def _number(raw: str, field: str, bounds: tuple[float, float], problems: dict[str, str]) -> float:
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        problems[field] = f"{text!r} is not a number of seconds" if text else "required"
        return 0.0
    if not math.isfinite(value) or not bounds[0] <= value <= bounds[1]:
        problems[field] = f"must be from {bounds[0]:g} to {bounds[1]:g} seconds, not {text}"
    return value


# --- brands ------------------------------------------------------------------------------------------------

MAX_RESELLERS = 1000
MAX_RESELLER_CHARS = 120
TEXT_LIMITS = {"name": 80, "sender": 200, "reply_to": 200, "footer": 300, "legal": 2000}
COLOUR_FIELDS = ("primary", "accent", "text", "background")
# Readable colours the whole check uses in place of ones refused already (white text on black passes).
STAND_IN_COLOURS = {"primary": "#000000", "accent": "#000000", "text": "#000000", "background": "#ffffff"}

# Parsed console brands per database: (row id, updated_at) → book. Parsing checks every logo and hashes it,
# too much for every page; the stamp changes with every save, so each process sees a change on its next read.
_brands_cache: dict[str, tuple[tuple[int, datetime], BrandBook]] = {}


def brands(session: Session, settings: Settings) -> BrandBook:
    """The brands in force: the console's, else RENEWALS_BRANDS_FILE (cached per modification time).
    Raises BrandError when the console's cannot be used any more (reset them in the console)."""
    stamp = session.execute(
        select(ConsoleSetting.id, ConsoleSetting.updated_at).where(ConsoleSetting.name == BRANDS)
    ).first()
    if stamp is None:
        return load_brands(settings.brands_file)
    key = (stamp[0], stamp[1])
    database = str(session.get_bind().engine.url)
    cached = _brands_cache.get(database)
    if cached is not None and cached[0] == key:
        return cached[1]
    value = stored(session, BRANDS)
    if value is None:  # reset since the stamp was read
        return load_brands(settings.brands_file)
    book = _parse_brands_value(value, settings)
    _brands_cache[database] = (key, book)  # one entry per database: the older book goes
    return book


def brands_for_pages(session: Session, settings: Settings) -> BrandBook:
    """:func:`brands`, except that when the console's brands cannot be used any more (a rule tightened since
    they were saved) or the store cannot be read, the brands file's are used and the problem logged: a
    customer's page and a logo must render. Sending does not fall back: it fails, saying why."""
    try:
        return brands(session, settings)
    except BrandError as exc:
        log.error("the admin console's brands cannot be used; the brands file's apply", problems=exc.problems)
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("the brands in force cannot be read; the brands file's apply", error=type(exc).__name__)
    return load_brands(settings.brands_file)


def brands_value(session: Session, settings: Settings) -> dict[str, Any]:
    """The brands in force as the console stores them: its value, else the file's data with the logos read
    into it (the starting point of the first change)."""
    value = stored(session, BRANDS)
    if value is not None:
        return copy.deepcopy(value)
    return brands_value_from_file(settings)


def brands_value_from_file(settings: Settings) -> dict[str, Any]:
    """The brands file's data as the console stores brands, with every readable logo read into it."""
    path = settings.brands_file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # Plain JSON from here (YAML may hold dates and the like; a brand holds only text, lists and flags).
    data = json.loads(json.dumps(data, default=str))
    logos: dict[str, str] = {}
    for raw in (data.get("brands") or {}).values():
        if not isinstance(raw, dict) or not isinstance(raw.get("logo"), str):
            continue
        logo = path.parent / raw["logo"]
        try:
            png = logo.read_bytes()
        except OSError:
            continue  # the brand stays as it is: unusable, with the file's problem
        raw["logo"] = logo_ref(png)
        logos[raw["logo"].removeprefix(LOGO_REF_PREFIX)] = base64.b64encode(png).decode("ascii")
    return {"default": data.get("default"), "brands": data.get("brands") or {}, "logos": logos}


def _logos(value: Mapping[str, Any]) -> dict[str, bytes]:
    return {digest: base64.b64decode(encoded) for digest, encoded in (value.get("logos") or {}).items()}


def _parse_brands_value(value: Mapping[str, Any], settings: Settings) -> BrandBook:
    return parse_brands(
        {"default": value.get("default"), "brands": value.get("brands")},
        source=BRANDS_SOURCE,
        base=settings.brands_file.parent,
        logos=_logos(value),
    )


def audit_view(value: Mapping[str, Any]) -> dict[str, Any]:
    """The brands value without the logos' bytes (the audit log names a logo by its digest)."""
    return {"default": value.get("default"), "brands": copy.deepcopy(value.get("brands") or {})}


@dataclass(frozen=True)
class BrandForm:
    """One brand's fields as typed in the console."""

    name: str
    primary: str
    accent: str
    text: str
    background: str
    sender: str
    reply_to: str
    footer: str
    legal: str
    resellers: str  # one a line
    purchase_order_field: bool
    logo_upload: bytes | None = None  # a new logo, or None to keep (or copy) one
    logo_from: str = ""  # a brand key whose logo this brand takes (for a new brand)


def brand_form(brand: Mapping[str, Any]) -> dict[str, Any]:
    """A stored brand's fields for the form (its colours flattened)."""
    colours = brand.get("colours") if isinstance(brand.get("colours"), dict) else {}
    resellers = brand.get("resellers") or []
    return {
        "name": brand.get("name") or "",
        **{f"colours.{c}": (colours or {}).get(c, "") for c in COLOUR_FIELDS},
        "sender": brand.get("sender") or "",
        "reply_to": brand.get("reply_to") or "",
        "footer": brand.get("footer") or "",
        "legal": brand.get("legal") or "",
        "resellers": "\n".join(str(r) for r in resellers) if isinstance(resellers, list) else "",
        "purchase_order_field": bool(brand.get("purchase_order_field")),
    }


def edit_brand(
    value: Mapping[str, Any], settings: Settings, key: str, form: BrandForm, *, new: bool = False
) -> tuple[dict[str, Any], BrandBook]:
    """`value` with brand `key` changed (or added, `new`) as `form` says, and the book it makes; raises
    SettingProblems keyed by the form's fields. The brand must come out usable, and so must the default."""
    changed: dict[str, Any] = copy.deepcopy(dict(value))
    all_brands: dict[str, Any] = changed.setdefault("brands", {})
    logos: dict[str, str] = changed.setdefault("logos", {})
    problems: dict[str, str] = {}
    if new:
        if not BRAND_KEY.match(key):
            problems["key"] = "lower-case letters, digits, - and _, starting with a letter, at most 40"
        elif key in all_brands:
            problems["key"] = f"there is a brand {key!r} already"
    elif key not in all_brands:
        raise KeyError(key)
    previous = all_brands.get(key) if not new else None
    brand: dict[str, Any] = {}
    # What the whole check sees instead of a field refused already: parse_brands stops at a field it cannot
    # read, so without these a bad name would hide a bad contrast until the name is fixed.
    stand_ins: dict[str, Any] = {}
    for field in ("name", "sender", "reply_to", "footer", "legal"):
        text = " ".join(getattr(form, field).split()) if field != "legal" else getattr(form, field).strip()
        if field == "reply_to" and not text:
            continue
        if not text:
            problems[field] = "required"
        elif len(text) > TEXT_LIMITS[field]:
            problems[field] = f"{len(text)} characters; at most {TEXT_LIMITS[field]}"
        brand[field] = text
        if field in problems:
            stand_ins[field] = "Stand-in <stand-in@example.com>" if field in ("sender", "reply_to") else "stand-in"
    brand["colours"] = {c: getattr(form, c).strip() for c in COLOUR_FIELDS}
    for colour, written in brand["colours"].items():
        if not COLOUR.match(written):
            problems[f"colours.{colour}"] = f"{written!r} is not a colour written #rrggbb"
    readable = {c: v if COLOUR.match(v) else STAND_IN_COLOURS[c] for c, v in brand["colours"].items()}
    if readable != brand["colours"]:
        stand_ins["colours"] = readable
    brand["purchase_order_field"] = form.purchase_order_field
    brand["resellers"] = _resellers(form.resellers, key, all_brands, problems)
    brand["logo"] = _logo(form, previous, all_brands, logos, problems)
    # Checked whole even when a field is refused already, so that every problem is shown at once (a field
    # keeps the first reason found for it); a new brand whose key is refused is checked under a stand-in key.
    check_key = key
    if "key" in problems:
        check_key = next(k for k in (f"new-brand-{n}" for n in range(len(all_brands) + 1)) if k not in all_brands)
    all_brands[check_key] = {**brand, **stand_ins}
    changed["logos"] = _referenced_logos(all_brands, logos)
    book: BrandBook | None = None
    try:
        book = _parse_brands_value(changed, settings)
        found = _brand_fields(book.problems.get(check_key, []))
    except BrandError as exc:
        found = _brand_fields(exc.problems, prefix=f"brands.{changed.get('default')}: ")
    for field, reason in found.items():
        problems.setdefault(field, reason)
    if problems or book is None:
        raise SettingProblems(problems or {"name": "the brands cannot be used"})
    return changed, book


def remove_brand(value: Mapping[str, Any], settings: Settings, key: str) -> dict[str, Any]:
    """`value` without brand `key` (never the default); raises KeyError or SettingProblems (field ``key``)."""
    changed: dict[str, Any] = copy.deepcopy(dict(value))
    if key not in changed.get("brands", {}):
        raise KeyError(key)
    if key == changed.get("default"):
        raise SettingProblems({"key": "the default brand cannot be removed; make another brand the default first"})
    del changed["brands"][key]
    changed["logos"] = _referenced_logos(changed["brands"], changed.get("logos") or {})
    _parse_brands_value(changed, settings)  # the default is untouched, so this cannot fail; checked all the same
    return changed


def set_default_brand(value: Mapping[str, Any], settings: Settings, key: str) -> dict[str, Any]:
    """`value` with `key` as the default brand, which must be usable; raises SettingProblems (``default``)."""
    changed: dict[str, Any] = copy.deepcopy(dict(value))
    if key not in changed.get("brands", {}):
        raise SettingProblems({"default": f"there is no brand {key!r}"})
    changed["default"] = key
    try:
        _parse_brands_value(changed, settings)
    except BrandError as exc:
        raise SettingProblems({"default": "; ".join(exc.problems)}) from exc
    return changed


def _resellers(raw: str, key: str, all_brands: Mapping[str, Any], problems: dict[str, str]) -> list[str]:
    out: list[str] = []
    taken = {
        str(name).strip().casefold(): other
        for other, brand in all_brands.items()
        if other != key and isinstance(brand, dict)
        for name in brand.get("resellers") or []
    }
    for line in raw.splitlines():
        name = " ".join(line.split())
        if not name or name.casefold() in (o.casefold() for o in out):
            continue
        if len(name) > MAX_RESELLER_CHARS or not name.isprintable():
            problems["resellers"] = f"{name[:40]!r}: one reseller a line, at most {MAX_RESELLER_CHARS} characters"
            return out
        if name.casefold() in taken:
            what = "every other reseller (*)" if name == "*" else repr(name)
            problems["resellers"] = f"{what} is listed under brand {taken[name.casefold()]!r} already"
            return out
        out.append(name)
    if len(out) > MAX_RESELLERS:
        problems["resellers"] = f"{len(out)} resellers; at most {MAX_RESELLERS}"
    return out


def _logo(
    form: BrandForm,
    previous: Mapping[str, Any] | None,
    all_brands: Mapping[str, Any],
    logos: dict[str, str],
    problems: dict[str, str],
) -> str:
    if form.logo_upload is not None:
        found = check_png(form.logo_upload)
        if found:
            problems["logo"] = "; ".join(found)
            return ""
        ref = logo_ref(form.logo_upload)
        logos[ref.removeprefix(LOGO_REF_PREFIX)] = base64.b64encode(form.logo_upload).decode("ascii")
        return ref
    if form.logo_from:
        source = all_brands.get(form.logo_from)
        if not isinstance(source, dict) or not source.get("logo"):
            problems["logo"] = f"there is no brand {form.logo_from!r} to take the logo of"
            return ""
        return str(source["logo"])
    if previous is not None and previous.get("logo"):
        return str(previous["logo"])
    problems["logo"] = "upload a PNG logo, or take another brand's"
    return ""


def _referenced_logos(all_brands: Mapping[str, Any], logos: Mapping[str, str]) -> dict[str, str]:
    """The stored logos some brand still names (an old logo goes when no brand uses it)."""
    used = {
        str(brand.get("logo", "")).removeprefix(LOGO_REF_PREFIX)
        for brand in all_brands.values()
        if isinstance(brand, dict)
    }
    return {digest: data for digest, data in logos.items() if digest in used}


def _brand_fields(problems: list[str], prefix: str = "") -> dict[str, str]:
    """parse_brands' problems ("colours.primary: ...", "colours: white button text on primary ...") keyed by
    the brand form's fields."""
    out: dict[str, str] = {}
    for problem in problems:
        problem = problem.removeprefix(prefix)
        where, _, reason = problem.partition(": ")
        field = where
        if where == "colours":
            field = "colours.primary" if "on primary" in reason else "colours.text"
        elif where not in {"name", "sender", "reply_to", "footer", "legal", "logo", "resellers"} and not (
            where.startswith("colours.")
        ):
            field, reason = "name", problem
        out[field] = f"{out[field]}; {reason}" if field in out else reason
    return out
