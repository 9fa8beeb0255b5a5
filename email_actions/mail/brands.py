"""Brands: whose name, logo, colours and sender an email and a page carry.

A brands file (``config/brands.yaml`` unless ``RENEWALS_BRANDS_FILE``) names the vendor's brand (``default``)
and any number of reseller brands, each listing the resellers (account names or Salesforce ids) it is used
for. Which brand an email gets follows its contract: the reseller's brand when the contract was sold through
a reseller that has one and the mapping's ``branding.use_reseller_brand`` is on, otherwise the default.

The default brand must be complete or the file is refused (the service does not start). Any other brand
with a problem is kept out of use and its problems are listed: an email that would go out under it is
recorded as skipped with the reason, and the rest of the batch goes on.

An admin may override the file in the console (:mod:`email_actions.mail.brand_settings`); those brands are the
same data, checked by the same :func:`parse_brands`, except that their logos live in the store: a brand's
``logo`` is then ``sha256:<digest>`` of a PNG handed over in ``logos`` (checked by :func:`check_png`).
Readers take a logo's bytes from :meth:`Brand.logo_bytes`, never from the path.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from config.settings import Settings, SettingsError

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
BRAND_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# WCAG 2 AA for normal text.
MIN_CONTRAST = 4.5
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_LOGO_BYTES = 200_000
# A logo kept in the store (the admin console's brands) is named by the SHA-256 of its bytes.
LOGO_REF_PREFIX = "sha256:"
MAX_LOGO_PIXELS = 4096  # width or height of an uploaded logo


class BrandError(ValueError):
    """The brands file cannot be used; every problem is listed with where it is."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"Invalid brands file {source}:\n" + "\n".join(f"- {p}" for p in self.problems))


class BrandUnusable(LookupError):
    """An email's brand has problems; the email is skipped with this message."""


class Colours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary: str = Field(description="Buttons and the header bar; white text sits on it")
    accent: str = Field(description="Highlights: the amount due, the stage badge")
    text: str = "#1a1a1a"
    background: str = "#ffffff"

    @field_validator("primary", "accent", "text", "background")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not COLOUR.match(value):
            raise ValueError(f"{value!r} is not a colour written #rrggbb")
        return value.lower()


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = ""  # set from the brands file's key
    name: str = Field(min_length=1, max_length=80)
    logo: Path  # a PNG, relative to the brands file; served by the web app at /brand/<key>/logo.png
    colours: Colours
    sender: str  # "Name <address>": a verified SES identity
    reply_to: str | None = None  # default: the contract's rep, then the sender
    footer: str = Field(min_length=1)  # postal address: bulk-mail rules want one in every email
    legal: str = Field(min_length=1)
    purchase_order_field: bool = False  # the Renew page asks for an optional PO number
    # Reseller account names or Salesforce ids (15 or 18 characters) that use this brand; `"*"`: every
    # reseller no other brand names.
    resellers: tuple[str, ...] = ()
    # Set by the loader: a digest of everything that shapes the rendered email, for render caches.
    fingerprint: str = ""
    # Set by the loader: the logo's bytes, as checked (a logo kept in the store has no file).
    _logo_data: bytes | None = PrivateAttr(default=None)

    @field_validator("sender", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, address = parseaddr(value)
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", address):
            raise ValueError(f"{value!r} is not an email address such as 'Renewals <renewals@example.com>'")
        return value

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    def logo_path(self) -> str:
        return f"/brand/{self.key}/logo.png"

    def logo_bytes(self) -> bytes:
        """The logo PNG: as the loader checked it, else read from `logo` (a brand built by hand)."""
        if self._logo_data is not None:
            return self._logo_data
        return Path(self.logo).read_bytes()


@dataclass(frozen=True)
class BrandBook:
    """The usable brands, the default one, and the problems of the unusable ones."""

    default: Brand
    brands: dict[str, Brand]
    problems: dict[str, list[str]] = field(default_factory=dict)
    # Lower-cased reseller name or Salesforce id → brand key (including unusable brands, to name them).
    by_reseller: dict[str, str] = field(default_factory=dict)

    def for_reseller(self, *, sf_id: str | None, name: str | None) -> Brand:
        """The brand of a contract sold through this reseller (the default when the reseller has none)."""
        for probe in (sf_id, sf_id[:15] if sf_id else None, name):
            if not probe:
                continue
            key = self.by_reseller.get(probe.strip().lower())
            if key is None:
                continue
            if key in self.problems:
                raise BrandUnusable(f"brand {key!r} cannot be used: {'; '.join(self.problems[key])}")
            return self.get(key)
        if (sf_id or name) and "*" in self.by_reseller:
            return self.get(self.by_reseller["*"])
        return self.default

    def get(self, key: str) -> Brand:
        if key in self.problems:
            raise BrandUnusable(f"brand {key!r} cannot be used: {'; '.join(self.problems[key])}")
        return self.brands[key]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def check_png(data: bytes) -> list[str]:
    """Why `data` is not a logo that may be uploaded (a whole, well-formed PNG under MAX_LOGO_BYTES); [] if it is.

    Walks the chunks: IHDR first with a sane size, every chunk's CRC right, image data present, IEND last
    and nothing after it. It does not decode the pixels; mail clients and browsers do that.
    """
    if not data:
        return ["the file is empty"]
    if len(data) > MAX_LOGO_BYTES:
        return [f"{len(data)} bytes; keep it under {MAX_LOGO_BYTES}"]
    if not data.startswith(PNG_SIGNATURE):
        return ["not a PNG file (mail clients do not all show SVG, JPEG is not accepted either)"]
    position, chunks = len(PNG_SIGNATURE), list[bytes]()
    while position < len(data):
        if position + 12 > len(data):
            return ["the PNG is cut short"]
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            return ["the PNG is cut short"]
        body = data[position + 8 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            return [f"the PNG is damaged (bad checksum in its {kind.decode('latin-1')!r} chunk)"]
        if not chunks and kind == b"IHDR":
            if length != 13:
                return ["the PNG's header is damaged"]
            width, height = struct.unpack(">II", body[:8])
            if not (1 <= width <= MAX_LOGO_PIXELS and 1 <= height <= MAX_LOGO_PIXELS):
                return [f"{width} x {height} pixels; keep width and height under {MAX_LOGO_PIXELS}"]
        chunks.append(kind)
        position = end
        if kind == b"IEND":
            break
    if not chunks or chunks[0] != b"IHDR":
        return ["the PNG has no header"]
    if b"IDAT" not in chunks:
        return ["the PNG has no image data"]
    if chunks[-1] != b"IEND" or position != len(data):
        return ["the PNG does not end where it should (cut short, or something is appended)"]
    return []


def logo_ref(data: bytes) -> str:
    """How the brands data names a logo kept in the store."""
    return LOGO_REF_PREFIX + hashlib.sha256(data).hexdigest()


def _read_logo(brand: Brand, base: Path, logos: Mapping[str, bytes] | None) -> tuple[Path, bytes, list[str]]:
    ref = str(brand.logo)
    if ref.startswith(LOGO_REF_PREFIX):
        data = (logos or {}).get(ref.removeprefix(LOGO_REF_PREFIX))
        if data is None:
            return brand.logo, b"", [f"logo: {ref} is not among the stored logos"]
        return brand.logo, data, []
    logo = brand.logo if brand.logo.is_absolute() else base / brand.logo
    try:
        return logo, logo.read_bytes(), []
    except OSError:
        return logo, b"", [f"logo: no such file {logo}"]


def _check_brand(
    key: str, raw: Any, base: Path, logos: Mapping[str, bytes] | None = None
) -> tuple[Brand | None, list[str]]:
    if not BRAND_KEY.match(str(key)):
        return None, [f"brand key {key!r} must be lower case letters, digits, - or _ (at most 40)"]
    if not isinstance(raw, dict):
        return None, ["must be a mapping of name, logo, colours, sender, footer and legal"]
    try:
        brand = Brand.model_validate({**raw, "key": key})
    except ValidationError as exc:
        return None, [
            f"{'.'.join(str(p) for p in err['loc']) or 'brand'}: "
            + ("missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        ]
    logo, data, problems = _read_logo(brand, base, logos)
    if data and not data.startswith(PNG_SIGNATURE):
        problems.append("logo: must be a PNG (mail clients do not all show SVG)")
    elif len(data) > MAX_LOGO_BYTES:
        problems.append(f"logo: {len(data)} bytes; keep it under {MAX_LOGO_BYTES}")
    colours = brand.colours
    for what, fg, bg in (
        ("text on background", colours.text, colours.background),
        ("white button text on primary", "#ffffff", colours.primary),
    ):
        ratio = contrast(fg, bg)
        if ratio < MIN_CONTRAST:
            problems.append(f"colours: {what} has contrast {ratio:.2f}:1, below {MIN_CONTRAST}:1 (WCAG AA)")
    if problems:
        return None, problems
    digest = hashlib.sha256(brand.model_dump_json().encode() + data).hexdigest()[:16]
    checked = brand.model_copy(update={"logo": logo, "fingerprint": digest})
    checked._logo_data = data
    return checked, []


def parse_brands(data: object, *, source: str, base: Path, logos: Mapping[str, bytes] | None = None) -> BrandBook:
    """Check already-parsed YAML data; raises :class:`BrandError` if the default brand is not usable.
    `logos`: the PNGs that ``sha256:<digest>`` logos name, by digest (the console's brands)."""
    if not isinstance(data, dict) or not isinstance(data.get("brands"), dict) or not data["brands"]:
        raise BrandError(source, ["the file must be a mapping with `default:` and a non-empty `brands:` section"])
    unknown = set(data) - {"default", "brands"}
    if unknown:
        raise BrandError(source, [f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}"])
    default_key = str(data.get("default"))
    if default_key not in data["brands"]:
        raise BrandError(source, [f"`default: {default_key}` must name one of the brands below"])
    brands: dict[str, Brand] = {}
    problems: dict[str, list[str]] = {}
    by_reseller: dict[str, str] = {}
    for key, raw in data["brands"].items():
        brand, found = _check_brand(str(key), raw, base, logos)
        if brand is None:
            problems[str(key)] = found
        else:
            brands[str(key)] = brand
        resellers = raw.get("resellers", ()) if isinstance(raw, dict) else ()
        for reseller in resellers or ():
            by_reseller.setdefault(str(reseller).strip().lower(), str(key))
    if default_key in problems:
        raise BrandError(source, [f"brands.{default_key}: {p}" for p in problems[default_key]])
    return BrandBook(default=brands[default_key], brands=brands, problems=problems, by_reseller=by_reseller)


def load_brands(path: str | Path) -> BrandBook:
    """Read and check a brands file (cached per path and modification time)."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise BrandError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from exc
    return _load(path.resolve(), stamp)


@lru_cache(maxsize=8)
def _load(path: Path, stamp: int) -> BrandBook:
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BrandError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise BrandError(source, [f"not valid YAML: {exc}"]) from exc
    return parse_brands(data, source=source, base=path.parent)


def brand_for_contract(book: BrandBook, contract: Any, *, use_reseller_brand: bool) -> Brand:
    """The brand a contract's emails carry: its reseller's where the mapping says so, else the default.
    Raises :class:`BrandUnusable` when that brand has problems."""
    reseller = getattr(contract, "reseller_account", None)
    if not use_reseller_brand or reseller is None:
        return book.default
    return book.for_reseller(sf_id=reseller.sf_id, name=reseller.name)


def check_brands_file(settings: Settings) -> None:
    """Refuse to start on a brands file whose default brand is unusable (other brands are checked per email)."""
    try:
        load_brands(settings.brands_file)
    except BrandError as exc:
        name = "RENEWALS_BRANDS_FILE"
        raise SettingsError([f"{name}={str(settings.brands_file)!r}: {problem}" for problem in exc.problems]) from exc
