"""Rendering an email: subject, plain text and HTML, with CSS inlined once per template and brand.

Mail clients (Gmail, Outlook) drop or ignore ``<style>`` blocks, so the HTML must carry its CSS inline.
premailer does that, but it parses the document, runs every selector and reserialises: far too slow to run
for each of 60,000 emails. Everything premailer sees depends only on the template and the brand, so it runs
once per (template, brand fingerprint) and the result is cached; per email only Jinja runs.

The HTML templates therefore have two stages of Jinja:

1. **Brand stage** — ``[% … %]``, ``[[ … ]]``, ``[# … #]``: template inheritance, macros (buttons, tables)
   and the brand's colours and logo size. Only checked values (``#rrggbb`` colours, integers, the brand
   key) go in here: whatever this stage writes becomes per-email template source.
2. **Per-email stage** — ``{% … %}``, ``{{ … }}``: everything that differs by email (names, amounts,
   links). Before premailer these tags are swapped for opaque placeholders (statements between elements
   become HTML comments, everything else an alphanumeric token, since lxml would URL-escape braces and
   spaces inside ``href`` and ``src``), then swapped back, and the result is compiled as the per-email
   template and cached.

``Renderer(inline=False)`` skips premailer: the same templates rendered bare, the benchmark's baseline.
Templates use ``StrictUndefined``; any template error becomes a :class:`TemplateProblem` naming the
template and the cause, so the sending job can skip that one email with the reason.
"""

from __future__ import annotations

import bisect
import logging
import re
import secrets
import struct
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from premailer import Premailer

from email_actions.mail.brands import Brand
from email_actions.mail.rendering.context import EmailContext
from email_actions.mail.rendering.formatting import formatter

TEMPLATES_DIR = Path(__file__).with_name("templates")
KINDS = ("reminder", "rep_notice", "confirmation", "contact_request", "renewal_refused")
# Largest width the logo is shown at; a wider PNG is shown at half its size (sharp on 2x screens).
LOGO_MAX_WIDTH = 200

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_BRAND_TAG = re.compile(r"\[\[.*?\]\]|\[%.*?%\]|\[#.*?#\]", re.DOTALL)
_MARK = re.compile(r"\x00(\d+)\x00")
# Spans of the marked-up source where a per-email statement cannot become an HTML comment.
_HTML_SPAN = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)


class TemplateProblem(Exception):
    """A template cannot be rendered: a syntax error, an undefined variable, a missing file. The message
    names the template (and the brand for HTML) and the cause; the email is skipped with it."""

    def __init__(self, template: str, cause: str) -> None:
        self.template = template
        self.cause = cause
        super().__init__(f"template {template}: {cause}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{exc.name or exc.filename or 'template'}, line {exc.lineno}: " if exc.lineno else ""
        return f"syntax error in {where}{exc.message}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"missing template file {exc.name}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined value: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _logo_size(brand: Brand) -> tuple[int, int]:
    """The width and height the logo is shown at, read from the PNG header."""
    try:
        header = brand.logo_bytes()[:24]
        width, height = struct.unpack(">II", header[16:24])
    except (OSError, struct.error):
        return LOGO_MAX_WIDTH, LOGO_MAX_WIDTH // 4
    if width > LOGO_MAX_WIDTH:
        shown = width // 2 if width // 2 <= LOGO_MAX_WIDTH else LOGO_MAX_WIDTH
        height, width = max(1, round(height * shown / width)), shown
    return width, height


class Renderer:
    """Renders :class:`EmailContext` values; keep one per process (it holds the compiled templates).

    ``premailer_runs`` counts the CSS inlining passes made, at most one per HTML template and brand.
    """

    def __init__(self, templates: Path | str | None = None, *, inline: bool = True) -> None:
        self.templates = Path(templates) if templates is not None else TEMPLATES_DIR
        self.inline = inline
        self.premailer_runs = 0
        loader = jinja2.FileSystemLoader(self.templates)
        # Brand stage: its own delimiters, so per-email tags pass through it as text.
        self._brand_env = jinja2.Environment(
            loader=loader,
            block_start_string="[%",
            block_end_string="%]",
            variable_start_string="[[",
            variable_end_string="]]",
            comment_start_string="[#",
            comment_end_string="#]",
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,
        )
        self._html_env = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, auto_reload=False
        )
        self._text_env = jinja2.Environment(
            loader=loader,
            # Plain text and subjects: nothing here is read as HTML, so escaping would only garble names.
            autoescape=False,  # noqa: S701
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._html_cache: dict[tuple[str, str], jinja2.Template | TemplateProblem] = {}
        self._lock = threading.Lock()

    def render(self, context: EmailContext) -> RenderedEmail:
        """The email's three parts; raises :class:`TemplateProblem`."""
        variables = context.template_variables()
        variables["fmt"] = formatter(context.locale).for_one_email()
        subject_name = f"{context.kind}.subject.txt"
        subject = " ".join(self._render_text(subject_name, variables).split())
        if not subject:
            raise TemplateProblem(subject_name, "the subject is empty")
        variables["subject"] = subject
        text = self._render_text(f"{context.kind}.txt", variables)
        html_name = f"{context.kind}.html"
        template = self.html_template(context.kind, context.brand)
        try:
            html = template.render(variables)
        except Exception as exc:
            raise TemplateProblem(f"{html_name} (brand {context.brand.key})", _describe(exc)) from exc
        return RenderedEmail(subject=subject, text=text, html=html)

    def text_templates(self, kind: str) -> None:
        """Load and compile the kind's subject and text templates now (jinja keeps them for the process)."""
        for name in (f"{kind}.subject.txt", f"{kind}.txt"):
            try:
                self._text_env.get_template(name)
            except Exception as exc:
                raise TemplateProblem(name, _describe(exc)) from exc

    def _render_text(self, name: str, variables: dict[str, Any]) -> str:
        try:
            return self._text_env.get_template(name).render(variables)
        except Exception as exc:
            raise TemplateProblem(name, _describe(exc)) from exc

    def html_template(self, kind: str, brand: Brand) -> jinja2.Template:
        """The per-email HTML template of a kind under a brand: brand stage and CSS inlining done (cached)."""
        key = (kind, brand.fingerprint or brand.model_dump_json())
        compiled = self._html_cache.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._html_cache.get(key)
                if compiled is None:
                    try:
                        compiled = self._compile_html(f"{kind}.html", brand)
                    except TemplateProblem as problem:
                        # Remembered too: every email of a broken template fails at once, without
                        # parsing or inlining it again.
                        compiled = problem
                    self._html_cache[key] = compiled
        if isinstance(compiled, TemplateProblem):
            raise TemplateProblem(compiled.template, compiled.cause)
        return compiled

    def _compile_html(self, name: str, brand: Brand) -> jinja2.Template:
        where = f"{name} (brand {brand.key})"
        try:
            # Per-email syntax is checked on the source files first, so an error names the file and line.
            for source_name in self._brand_sources(name):
                self._check_email_syntax(source_name)
            width, height = _logo_size(brand)
            staged = self._brand_env.get_template(name).render(
                colours=brand.colours, brand_key=brand.key, logo_width=width, logo_height=height
            )
            if self.inline:
                staged = self._inline(staged, where)
            return self._html_env.from_string(staged)
        except TemplateProblem:
            raise
        except Exception as exc:
            raise TemplateProblem(where, _describe(exc)) from exc

    def _brand_sources(self, name: str) -> list[str]:
        """The template and every file it extends, includes or imports in the brand stage."""
        found: list[str] = []
        pending = [name]
        while pending:
            current = pending.pop()
            if current in found:
                continue
            found.append(current)
            source = self._brand_env.loader.get_source(self._brand_env, current)[0]  # type: ignore[union-attr]
            referenced = jinja2.meta.find_referenced_templates(self._brand_env.parse(source))
            pending.extend(ref for ref in referenced if ref is not None)
        return found

    def _check_email_syntax(self, name: str) -> None:
        """Parse a source file's per-email tags, its brand-stage tags blanked out (lines kept)."""
        loader = self._html_env.loader
        assert loader is not None
        source, filename, _ = loader.get_source(self._html_env, name)
        blanked = _BRAND_TAG.sub(_blank, source)
        self._html_env.parse(blanked, name, filename)

    def _inline(self, source: str, where: str) -> str:
        protected, restore = _protect(source)
        inlined = Premailer(
            protected,
            allow_network=False,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
            # The width and height attributes stay as written (premailer would copy `height: auto` in).
            disable_basic_attributes=["width", "height"],
            strip_important=False,
            keep_style_tags=False,
        ).transform()
        self.premailer_runs += 1
        return restore(inlined, where)


def _blank(match: re.Match[str]) -> str:
    """A brand-stage tag replaced for the per-email syntax check: a name for ``[[ … ]]``, else its newlines."""
    tag = match.group(0)
    return "_" if tag.startswith("[[") else "\n" * tag.count("\n")


def _protect(source: str) -> tuple[str, Any]:
    """``source`` with its per-email Jinja tags replaced by placeholders premailer and lxml leave alone, and
    the function that puts them back (raising :class:`TemplateProblem` if one was lost)."""
    tags: list[str] = []

    def mark(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"\x00{len(tags) - 1}\x00"

    marked = _JINJA_TAG.sub(mark, source)
    spans = [(m.start(), m.end()) for m in _HTML_SPAN.finditer(marked)]
    starts = [start for start, _ in spans]
    salt = secrets.token_hex(4)

    def token(index: int) -> str:
        return f"rnw{salt}j{index:05d}z"

    def place(match: re.Match[str]) -> str:
        index = int(match.group(1))
        placeholder = token(index)
        if tags[index].startswith("{{"):
            return placeholder
        # A statement between elements becomes a comment (lxml keeps comments where they are, even
        # between table rows, where it would move text); inside a tag or a comment it stays a bare token.
        at = bisect.bisect_right(starts, match.start()) - 1
        if at >= 0 and spans[at][1] > match.start():
            return placeholder
        return f"<!--{placeholder}-->"

    protected = _MARK.sub(place, marked)
    pattern = re.compile(rf"<!--(rnw{salt}j(\d{{5}})z)-->|rnw{salt}j(\d{{5}})z")

    def restore(html: str, where: str) -> str:
        seen: set[int] = set()

        def back(match: re.Match[str]) -> str:
            index = int(match.group(2) or match.group(3))
            seen.add(index)
            return tags[index]

        restored = pattern.sub(back, html)
        lost = [tags[i] for i in range(len(tags)) if i not in seen]
        if lost:
            raise TemplateProblem(
                where,
                f"template tag {lost[0]!r} did not survive CSS inlining: per-email tags cannot go in the "
                "style block (brand values there are [[ … ]])",
            )
        return restored

    return protected, restore


@lru_cache(maxsize=1)
def default_renderer() -> Renderer:
    """The process's renderer over the packaged templates (its caches live as long as the process)."""
    return Renderer()
