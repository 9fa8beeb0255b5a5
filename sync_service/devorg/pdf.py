"""Small, valid PDF quote documents, written by hand so seeding 60,000 of them costs microseconds each.

The output is plain PDF 1.4: a catalog, a page tree, the two standard Helvetica fonts (no embedding needed,
every reader has them), one uncompressed content stream per page and a cross-reference table with exact
byte offsets. Nothing time-dependent goes in (no CreationDate), so the same input gives the same bytes,
which the deterministic seed relies on.
"""

from __future__ import annotations

import textwrap

# A4 in points; the text block leaves a ~50 pt margin.
_PAGE_WIDTH, _PAGE_HEIGHT = 595, 842
_MARGIN_X = 50
_TITLE_Y = _PAGE_HEIGHT - 60
_BODY_TOP = _TITLE_Y - 30
_BODY_SIZE, _LEADING = 10, 14
_LINES_PER_PAGE = (_BODY_TOP - 50) // _LEADING
# Helvetica at 10 pt averages about 5 pt per character: 90 characters fit the 495 pt text width.
_WRAP_AT = 90
# C0 and C1 control characters would end the line or confuse the lexer: they print as spaces.
_CONTROLS_TO_SPACE = {code: " " for code in (*range(32), *range(127, 160))}


def _pdf_string(text: str) -> bytes:
    """`text` as a PDF literal string in WinAnsiEncoding (the fonts' encoding).

    WinAnsi (cp1252) agrees with Latin-1 on every printable Latin-1 character and adds a few more (the euro
    sign, typographic quotes); anything it cannot show becomes '?'. Control characters become spaces;
    backslash and parentheses are escaped.
    """
    raw = text.translate(_CONTROLS_TO_SPACE).encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if len(line) <= _WRAP_AT:
            out.append(line)
        else:
            out.extend(textwrap.wrap(line, _WRAP_AT, subsequent_indent="    ") or [""])
    return out


def _page_content(title: str | None, lines: list[str]) -> bytes:
    parts = []
    if title is not None:
        parts.append(b"BT /F2 16 Tf %d %d Td " % (_MARGIN_X, _TITLE_Y) + _pdf_string(title) + b" Tj ET\n")
    parts.append(b"BT /F1 %d Tf %d TL %d %d Td\n" % (_BODY_SIZE, _LEADING, _MARGIN_X, _BODY_TOP))
    for i, line in enumerate(lines):
        if i:
            parts.append(b"T* ")
        parts.append(_pdf_string(line) + b" Tj\n")
    parts.append(b"ET\n")
    return b"".join(parts)


def render_quote_pdf(*, title: str, lines: list[str]) -> bytes:
    """A one-page (more if the lines overflow) PDF showing `title` in bold and `lines` below it."""
    body = _wrap(lines)
    pages = [body[i : i + _LINES_PER_PAGE] for i in range(0, len(body), _LINES_PER_PAGE)] or [[]]
    # Object numbers: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold, 5 info, then page/content pairs.
    page_ids = [6 + 2 * i for i in range(len(pages))]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % n for n in page_ids) + b"] /Count %d >>" % len(pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + _pdf_string(title) + b" /Producer (Stand-in Org) >>",
    ]
    for index, (page_id, page_lines) in enumerate(zip(page_ids, pages, strict=True)):
        content = _page_content(title if index == 0 else None, page_lines)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] " % (_PAGE_WIDTH, _PAGE_HEIGHT)
            + b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    # The binary comment on line 2 tells transfer tools the file is binary (PDF spec 7.5.2).
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref_at = len(out)
    # Each xref entry is exactly 20 bytes, the end-of-line being " \n" (PDF spec 7.5.4).
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


__all__ = ["render_quote_pdf"]
