"""The hand-written quote PDFs: valid structure, readable text, safe escaping, stable bytes."""

from __future__ import annotations

import io
import re

import pypdf

from sync_service.devorg.pdf import render_quote_pdf


def _read(data: bytes) -> pypdf.PdfReader:
    # strict: pypdf raises instead of silently repairing a broken xref or object.
    return pypdf.PdfReader(io.BytesIO(data), strict=True)


def test_text_holds_quote_number_and_total() -> None:
    data = render_quote_pdf(
        title="Renewal Quote Q-00042",
        lines=["Quote number: Q-00042", "1. Premier Support: 1 x USD 9,600.00", "Total: USD 10,080.00"],
    )
    assert data.startswith(b"%PDF-1.4")
    assert data.rstrip().endswith(b"%%EOF")
    reader = _read(data)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Q-00042" in text
    assert "Total: USD 10,080.00" in text
    assert reader.metadata is not None and reader.metadata.title == "Renewal Quote Q-00042"


def test_xref_offsets_point_at_their_objects() -> None:
    data = render_quote_pdf(title="T", lines=["a", "b"])
    xref_at = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert data[xref_at:].startswith(b"xref\n")
    header, _, rest = data[xref_at + 5 :].partition(b"\n")
    first, count = (int(x) for x in header.split())
    entries = [rest[i * 20 : (i + 1) * 20] for i in range(count)]
    assert first == 0 and entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert len(entry) == 20 and entry.endswith(b" n \n")
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number)


def test_parentheses_and_backslashes_are_escaped() -> None:
    tricky = r"Acme (Europe) Ltd \ C:\path ((nested)) )("
    text = _read(render_quote_pdf(title=tricky, lines=[tricky])).pages[0].extract_text()
    assert text.count(tricky) == 2


def test_characters_outside_winansi_are_replaced() -> None:
    data = render_quote_pdf(title="Quote", lines=["Müller \u2013 5 € 日本語 Ωmega", "tab\there\x00nul"])
    text = _read(data).pages[0].extract_text()
    assert "Müller \u2013 5 €" in text  # Latin-1 and the cp1252 extras survive
    assert "??? ?mega" in text  # CJK and Greek do not exist in Helvetica's WinAnsi encoding
    assert "tab here nul" in text
    assert b"\x00" not in data and b"\t" not in data


def test_long_input_wraps_and_flows_onto_more_pages() -> None:
    lines = [f"line {i}" for i in range(120)] + ["word " * 60]
    reader = _read(render_quote_pdf(title="Long", lines=lines))
    assert len(reader.pages) == 3
    text = "".join(page.extract_text() for page in reader.pages)
    for i in (0, 59, 119):
        assert re.search(rf"\bline {i}\b", text)
    assert max(len(line) for line in text.splitlines()) <= 95


def test_same_input_gives_same_bytes() -> None:
    first = render_quote_pdf(title="Renewal Quote Q-1", lines=["Total: EUR 1.00"])
    assert first == render_quote_pdf(title="Renewal Quote Q-1", lines=["Total: EUR 1.00"])


def test_empty_body_is_still_a_valid_page() -> None:
    reader = _read(render_quote_pdf(title="Only a title", lines=[]))
    assert "Only a title" in reader.pages[0].extract_text()
