"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has neither a decimal nor a time-zone-aware timestamp type, and tests run on both databases, so the
two types the domain depends on are made exact here:

- :class:`ExactDecimal` (``Money`` = 18 digits, 2 decimals): PostgreSQL ``NUMERIC``; on SQLite a scaled
  ``BIGINT`` (cents for money), because SQLite would store ``NUMERIC`` as a binary float and lose cents on
  large amounts. Sums in SQL stay exact; a raw SQLite query sees minor units.
- :class:`UTCDateTime`: always returns an aware UTC ``datetime`` and refuses naive ones, so no code can
  mix local and UTC times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._unit = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal | int):
            # A float has already lost the exact amount; refuse it rather than store a near miss.
            raise TypeError(f"expected Decimal or int, got {type(value).__name__}")
        quantized = Decimal(value).quantize(self._unit)
        if quantized != value:
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        if dialect.name == "sqlite":
            return int(quantized.scaleb(self.scale))
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(self._unit)


class Money(ExactDecimal):
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(18, 2)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("only time-zone-aware datetimes are stored (use datetime.now(UTC))")
        value = value.astimezone(UTC)
        # SQLite keeps the text as given; store it without offset so string order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
