"""The brands an admin changes in the console (``email_actions.mail.brand_settings``): the brands in force (the
console's when stored, else the brands file's; parsed once per change), the first change copying the file's
brands and logos into the store, the checks that refuse a bad brand beside its field (every problem at once),
logos uploaded or taken from another brand, and the default brand's rules — on SQLite and PostgreSQL."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from config.settings import DEFAULT_BRANDS_FILE, Settings
from email_actions.mail import brand_settings as bs
from email_actions.mail.brands import MAX_LOGO_BYTES, BrandBook, BrandError, check_png, load_brands
from sync_service import console_settings as cs

ACTOR = "admin:test"
# The shipped default brand's fields as the console's form hands them over (colours as the stored brand has them).
NORTHWIND: dict[str, Any] = {
    "name": "Northwind Software",
    "colours": {"primary": "#1f4e79", "accent": "#b35c00", "text": "#1a1a1a", "background": "#ffffff"},
    "sender": "Northwind Renewals <renewals@northwind.example>",
    "reply_to": "",
    "footer": "Northwind Software Ltd · 1 Harbour Street · Bristol BS1 4QA · United Kingdom",
    "legal": "Renewal is subject to the Northwind Software subscription terms.",
    "resellers": "",
    "purchase_order_field": True,
}


def png(width: int = 2, height: int = 1, *, trailing: bytes = b"") -> bytes:
    """A real PNG (RGB, `width` x `height`, white)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
        + trailing
    )


def edit(
    value: dict[str, Any],
    settings: Settings,
    key: str,
    *,
    logo_upload: bytes | None = None,
    logo_from: str = "",
    new: bool = False,
    **changes: Any,
) -> tuple[dict[str, Any], BrandBook]:
    """edit_brand with the default brand's fields as typed, `changes` made (a colour by its name: primary=...)."""
    typed = {**NORTHWIND, "colours": dict(NORTHWIND["colours"])}
    for field, changed in changes.items():
        if field in bs.COLOUR_FIELDS:
            typed["colours"][field] = changed
        else:
            typed[field] = changed
    return bs.edit_brand(value, settings, key, typed, logo_upload=logo_upload, logo_from=logo_from, new=new)


# --- the brands in force, on both backends -----------------------------------------------------------------


def test_the_brands_are_the_files_until_stored(store: sessionmaker[Session], settings: Settings) -> None:
    with store() as session:
        assert bs.brands(session, settings) is load_brands(settings.brands_file)
        assert bs.brands_for_pages(session, settings) is load_brands(settings.brands_file)
        assert bs.brands_value(session, settings) == bs.brands_value_from_file(settings)


def test_a_brands_change_is_seen_on_the_next_read_and_parsed_once_per_change(
    store: sessionmaker[Session], settings: Settings
) -> None:
    with store() as session:
        value, _ = edit(bs.brands_value(session, settings), settings, "northwind", name="First")
        cs.store(session, cs.BRANDS, value, actor=ACTOR)
        session.commit()
    with store() as session:
        first = bs.brands(session, settings)
        assert first.default.name == "First"
        assert bs.brands(session, settings) is first  # unchanged row: the parsed book is reused
        value, _ = edit(bs.brands_value(session, settings), settings, "northwind", name="Second")
        cs.store(session, cs.BRANDS, value, actor=ACTOR)
        session.commit()
    with store() as session:
        assert bs.brands(session, settings).default.name == "Second"
        # Brands that cannot be used any more (here: their logos lost) fail sending loudly; pages fall back.
        cs.store(session, cs.BRANDS, {**value, "logos": {}}, actor=ACTOR)
        session.commit()
        with pytest.raises(BrandError, match="is not among the stored logos"):
            bs.brands(session, settings)
        assert bs.brands_for_pages(session, settings) is load_brands(settings.brands_file)
        cs.reset(session, cs.BRANDS)
        session.commit()
        assert bs.brands(session, settings).default.name == "Northwind Software"


# --- checks (no store needed) ------------------------------------------------------------------------------


def test_the_first_change_copies_the_files_brands_and_logos_into_the_value(settings: Settings) -> None:
    value = bs.brands_value_from_file(settings)
    assert value["default"] == "northwind" and set(value["brands"]) == {"northwind", "partner"}
    logo = (DEFAULT_BRANDS_FILE.parent / "brands" / "northwind.png").read_bytes()
    ref = value["brands"]["northwind"]["logo"]
    assert ref.startswith("sha256:") and len(value["logos"]) == 2
    changed, book = edit(value, settings, "northwind", name="Northwind Cloud")
    assert book.default.name == "Northwind Cloud"
    assert book.default.logo_bytes() == logo
    assert changed["brands"]["northwind"]["logo"] == ref
    assert changed["brands"]["partner"] == value["brands"]["partner"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"name": "  "}, "name", "required"),
        ({"primary": "#dddddd"}, "colours.primary", "white button text on primary has contrast 1.36:1, below 4.5:1"),
        ({"text": "#eeeeee"}, "colours.text", "text on background has contrast"),
        ({"accent": "orange"}, "colours.accent", "'orange' is not a colour written #rrggbb"),
        ({"sender": "renewals at northwind"}, "sender", "is not an email address"),
        ({"reply_to": "nobody"}, "reply_to", "is not an email address"),
        ({"footer": ""}, "footer", "required"),
        ({"legal": "x" * 2001}, "legal", "at most 2000"),
        ({"resellers": "*"}, "resellers", "every other reseller (*) is listed under brand 'partner' already"),
        ({"logo_upload": b"GIF89a not a png"}, "logo", "not a PNG file"),
        ({"logo_upload": png(1, 1)[:-6]}, "logo", "cut short"),
        ({"logo_upload": png(5000, 1)}, "logo", "5000 x 1 pixels"),
        ({"logo_from": "nobody"}, "logo", "there is no brand 'nobody'"),
    ],
)
def test_a_bad_brand_is_refused_beside_its_field(
    settings: Settings, changes: dict[str, Any], field: str, reason: str
) -> None:
    value = bs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems) as refused:
        edit(value, settings, "northwind", **changes)
    assert field in refused.value.problems, refused.value.problems
    assert reason in refused.value.problems[field]


def test_every_problem_of_a_brand_is_reported_at_once(settings: Settings) -> None:
    value = bs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems) as refused:
        edit(value, settings, "northwind", name="", primary="#ffff00", resellers="*")
    assert set(refused.value.problems) == {"name", "colours.primary", "resellers"}


def test_an_uploaded_logo_replaces_the_old_one_and_a_new_brand_may_take_anothers(settings: Settings) -> None:
    value = bs.brands_value_from_file(settings)
    logo = png(4, 2)
    changed, book = edit(value, settings, "partner", logo_upload=logo, name="Partners")
    assert book.brands["partner"].logo_bytes() == logo
    assert len(changed["logos"]) == 2  # the partner's old logo is no longer used by any brand: dropped
    added, book = edit(
        changed, settings, "acme-it", name="Acme IT", resellers="Acme IT Ltd", logo_from="partner", new=True
    )
    assert book.brands["acme-it"].logo_bytes() == logo
    assert added["brands"]["acme-it"]["logo"] == added["brands"]["partner"]["logo"]
    assert book.for_reseller(sf_id=None, name="acme it ltd").key == "acme-it"


def test_a_new_brand_needs_a_free_key_and_a_logo(settings: Settings) -> None:
    value = bs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems) as refused:
        edit(value, settings, "Partner!", new=True)
    assert set(refused.value.problems) == {"key", "logo"}
    with pytest.raises(cs.SettingProblems) as refused:
        edit(value, settings, "partner", logo_upload=png(), new=True)
    assert refused.value.problems == {"key": "there is a brand 'partner' already"}


def test_the_default_brand_cannot_be_removed_nor_a_broken_one_made_default(settings: Settings) -> None:
    value = bs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems, match="default brand cannot be removed"):
        bs.remove_brand(value, settings, "northwind")
    removed = bs.remove_brand(value, settings, "partner")
    assert set(removed["brands"]) == {"northwind"} and len(removed["logos"]) == 1
    value["brands"]["partner"]["colours"]["primary"] = "#eeeeee"
    with pytest.raises(cs.SettingProblems) as refused:
        bs.set_default_brand(value, settings, "partner")
    assert "contrast" in refused.value.problems["default"]
    assert bs.set_default_brand(bs.brands_value_from_file(settings), settings, "partner")["default"] == "partner"


def test_check_png_accepts_a_whole_png_only() -> None:
    assert check_png(png()) == []
    assert check_png(b"") == ["the file is empty"]
    assert "appended" in check_png(png(trailing=b"<script>"))[0]
    damaged = bytearray(png())
    damaged[-20] ^= 0xFF
    assert "damaged" in check_png(bytes(damaged))[0] or "checksum" in check_png(bytes(damaged))[0]
    assert "keep it under" in check_png(png() + b"\0" * MAX_LOGO_BYTES)[0]
