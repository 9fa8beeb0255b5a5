"""Amounts, dates and numbers written the way the recipient's locale writes them (babel).

A contact's locale comes from Salesforce (``de_DE``, ``fr_FR``, sometimes ``de_DE_EURO`` or ``en-GB``);
:func:`normalise_locale` turns whatever is there into a locale babel knows, or the default ``en_US``. One
:class:`Formatter` per locale is cached: parsing a locale is far slower than formatting with it. What it
formats is cached too (a bounded cache per locale, keyed by the value's exact spelling): a send batch writes
the same end dates and amounts over and over, and babel's formatting is most of what rendering costs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

DEFAULT_LOCALE = "en_US"
# Values one locale's formatter remembers before it starts afresh.
FORMATTED_CACHE = 4096


@lru_cache(maxsize=256)
def normalise_locale(value: str | None) -> str:
    """``value`` as a babel locale identifier (``de_DE``), or :data:`DEFAULT_LOCALE` when it is unset or no
    locale babel knows. A Salesforce variant (``de_DE_EURO``) falls back to its language and territory."""
    if not value or not value.strip():
        return DEFAULT_LOCALE
    parts = value.strip().replace("-", "_").split("_")
    for candidate in ("_".join(parts), "_".join(parts[:2]), parts[0]):
        try:
            return str(Locale.parse(candidate))
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return DEFAULT_LOCALE


class Formatter:
    """Formats values for one locale; templates call it as ``fmt.money(...)``, ``fmt.date(...)``."""

    def __init__(self, locale: str) -> None:
        self.locale = Locale.parse(normalise_locale(locale))
        self._done: dict[tuple[object, ...], str] = {}

    def _cached(self, key: tuple[object, ...], make: Callable[[], str]) -> str:
        found = self._done.get(key)
        if found is None:
            if len(self._done) >= FORMATTED_CACHE:
                self._done.clear()
            found = self._done[key] = make()
        return found

    def for_one_email(self) -> EmailFormatter:
        """A formatter that remembers what it formatted, for one email: its text and HTML parts show the
        same amounts and dates, and babel's formatting is most of what rendering an email costs."""
        return EmailFormatter(self)

    def money(self, amount: Decimal | None, currency: str | None) -> str:
        """``12.500,00 €`` (de_DE), ``€12,500.00`` (en_US); without a currency just the number, and an
        empty string for no amount."""
        if amount is None:
            return ""
        if not currency:
            return self._cached(
                ("decimal", str(amount)), lambda: format_decimal(amount, format="#,##0.00", locale=self.locale)
            )
        return self._cached(
            ("money", str(amount), currency), lambda: format_currency(amount, currency, locale=self.locale)
        )

    def date(self, value: date | None, format: str = "long") -> str:
        """``31. Dezember 2025`` (de_DE, long), ``Dec 31, 2025`` (en_US, medium); empty for no date."""
        if value is None:
            return ""
        return self._cached(("date", value, format), lambda: format_date(value, format=format, locale=self.locale))

    def number(self, value: Decimal | int | None) -> str:
        """A quantity: ``1.250`` (de_DE), ``1,250`` (en_US), no trailing zeros."""
        if value is None:
            return ""
        return self._cached(("number", type(value), str(value)), lambda: format_decimal(value, locale=self.locale))


class EmailFormatter:
    """:class:`Formatter`'s methods, each value formatted once per email (never shared between emails)."""

    def __init__(self, formatter: Formatter) -> None:
        self.locale = formatter.locale
        self._formatter = formatter
        self._done: dict[tuple[object, ...], str] = {}

    def money(self, amount: Decimal | None, currency: str | None) -> str:
        key = ("money", amount, currency)
        if key not in self._done:
            self._done[key] = self._formatter.money(amount, currency)
        return self._done[key]

    def date(self, value: date | None, format: str = "long") -> str:
        key = ("date", value, format)
        if key not in self._done:
            self._done[key] = self._formatter.date(value, format)
        return self._done[key]

    def number(self, value: Decimal | int | None) -> str:
        key = ("number", value)
        if key not in self._done:
            self._done[key] = self._formatter.number(value)
        return self._done[key]


@lru_cache(maxsize=256)
def formatter(locale: str) -> Formatter:
    """The cached :class:`Formatter` of a locale."""
    return Formatter(locale)


def warm(locales: Iterable[str | None] = ()) -> list[str]:
    """Load the data of each locale (normalised) and of the default now: babel reads a locale's data files on
    its first date or amount, tens of milliseconds of unpickling, so a process that forks workers (RQ's work
    horses) loads them once for all. Returns the locales loaded; nothing is added to the formatters' caches."""
    loaded = sorted({normalise_locale(locale) for locale in locales} | {DEFAULT_LOCALE})
    for name in loaded:
        locale = formatter(name).locale
        format_date(date(2000, 1, 31), format="long", locale=locale)
        format_date(date(2000, 1, 31), format="medium", locale=locale)
        format_currency(Decimal("1.00"), "USD", locale=locale)
        format_decimal(Decimal("1"), locale=locale)
    return loaded
