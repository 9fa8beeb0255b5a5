"""The brands in force (the admin console's, else the brands file's) and the rules of editing them in the
console: changing or adding a brand (name, colours, sender, reply-to, footer, legal text, resellers, logo),
removing one, choosing the default.

The console's brands are stored through :mod:`sync_service.console_settings.store` (setting ``brands``) as
``{"default": key, "brands": {key: {...}}, "logos": {sha256: base64 PNG}}``: the brands file's data with every
logo kept in the store (named ``sha256:<digest>``), so the brands of the console depend on no file and every
web and worker process, on any machine, sees the same logos. The first change copies the file's brands and
logos (:func:`brands_value_from_file`); uploads are checked to be whole PNGs under 200 kB
(:func:`~email_actions.mail.brands.check_png`). Every value is checked by the brands file's own parser
(:func:`~email_actions.mail.brands.parse_brands`), so the console accepts nothing the file would refuse.

It lives in the email library, beside the brands it checks (the domain imports nothing from ``email_actions``).
Like every setting's rules it raises :class:`~sync_service.console_settings.store.SettingProblems` keyed by the
console form's field names and never stores, audits or commits: the console does that in one transaction. No
web framework here: the console's form (:mod:`email_actions.web.console.settings_forms`) hands over what was
typed.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
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
from sync_service.console_settings.store import BRANDS, SettingProblems, stored
from sync_service.store.models import ConsoleSetting

log = structlog.get_logger(__name__)

# Where the console's brands say they come from, in error messages.
BRANDS_SOURCE = "the admin console's brands"
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


def edit_brand(
    value: Mapping[str, Any],
    settings: Settings,
    key: str,
    typed: Mapping[str, Any],
    *,
    logo_upload: bytes | None = None,
    logo_from: str = "",
    new: bool = False,
) -> tuple[dict[str, Any], BrandBook]:
    """`value` with brand `key` changed (or added, `new`) as an admin typed it, and the book it makes; raises
    SettingProblems keyed by the form's fields. The brand must come out usable, and so must the default.

    `typed` is the brand as typed, under the keys a stored brand has: the texts of :data:`TEXT_LIMITS`,
    ``colours`` (a mapping of :data:`COLOUR_FIELDS`), ``resellers`` (one a line) and ``purchase_order_field``;
    what is missing counts as empty. The logo is `logo_upload` (a new PNG) if given, else brand `logo_from`'s,
    else the brand's own.
    """
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
    for field, limit in TEXT_LIMITS.items():
        written = str(typed.get(field) or "")
        text = " ".join(written.split()) if field != "legal" else written.strip()
        if field == "reply_to" and not text:
            continue
        if not text:
            problems[field] = "required"
        elif len(text) > limit:
            problems[field] = f"{len(text)} characters; at most {limit}"
        brand[field] = text
        if field in problems:
            stand_ins[field] = "Stand-in <stand-in@example.com>" if field in ("sender", "reply_to") else "stand-in"
    colours = typed.get("colours") if isinstance(typed.get("colours"), Mapping) else {}
    brand["colours"] = {c: str((colours or {}).get(c) or "").strip() for c in COLOUR_FIELDS}
    for colour, written in brand["colours"].items():
        if not COLOUR.match(written):
            problems[f"colours.{colour}"] = f"{written!r} is not a colour written #rrggbb"
    readable = {c: v if COLOUR.match(v) else STAND_IN_COLOURS[c] for c, v in brand["colours"].items()}
    if readable != brand["colours"]:
        stand_ins["colours"] = readable
    brand["purchase_order_field"] = bool(typed.get("purchase_order_field"))
    brand["resellers"] = _resellers(str(typed.get("resellers") or ""), key, all_brands, problems)
    brand["logo"] = _logo(logo_upload, logo_from, previous, all_brands, logos, problems)
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
    upload: bytes | None,
    logo_from: str,
    previous: Mapping[str, Any] | None,
    all_brands: Mapping[str, Any],
    logos: dict[str, str],
    problems: dict[str, str],
) -> str:
    if upload is not None:
        found = check_png(upload)
        if found:
            problems["logo"] = "; ".join(found)
            return ""
        ref = logo_ref(upload)
        logos[ref.removeprefix(LOGO_REF_PREFIX)] = base64.b64encode(upload).decode("ascii")
        return ref
    if logo_from:
        source = all_brands.get(logo_from)
        if not isinstance(source, dict) or not source.get("logo"):
            problems["logo"] = f"there is no brand {logo_from!r} to take the logo of"
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
