"""The renewal reports of the admin console: pure queries over the store, aggregated in SQL.

Every function takes a session and a period (or a day) and answers with plain dataclasses. Each table or
chart is one ``SELECT`` whatever the store holds: no query per row, and no raw rows loaded into Python to be
counted there (lists shown on a page are limited, with their full count from a window function). What a
contract's customer did with its reminder emails is joined and grouped in bulk (:func:`.facts.activity`)
rather than asked per contract: PostgreSQL hash-joins it, SQLite reads it from the covering indexes of
migration 0009. The queries run the same on SQLite and PostgreSQL; the one thing the two spell differently,
the first day of a date's month, is :class:`~.periods.month_of`.

- :mod:`.renewals`: the funnel, revenue due against renewed by month, breakdowns and rankings;
- :mod:`.cancellations`, :mod:`.at_risk` (the customers to call), :mod:`.health` (the account health score).

The definitions (the console shows them beside the figures):

- **Due**: contracts not deleted in Salesforce whose end date falls in the period. Cancelled contracts stay
  in: a cancellation is a renewal lost, so it lowers the renewal rate instead of leaving the count.
- **Emailed**: due contracts with at least one reminder email that left (status sent, delivered, bounced or
  complained).
- **Opened by a human**: due contracts with a ``human``-labelled event of any kind (open, click, download) on
  one of their reminder emails: a click or a download implies the email was opened.
- **Clicked**: due contracts with a ``human``-labelled click or download on a reminder email, other than its
  unsubscribe link.
- **Renewed**: due contracts renewed, whoever renewed them (``contracts.renewed_at``), with the channel as a
  breakdown: **from the email** (the customer, on the confirm page of the email's Renew link or in the portal
  its Review link opens: both are reached from the email, so they are one channel) and **in Salesforce** (a
  rep closed the renewal there: the pull saw the renewal opportunity won, the quote accepted, the agreement
  renewed). The steps are counted independently: a renewal counts even when the click before it was labelled
  ``machine``, or when nobody clicked (renewed in Salesforce).
- Events labelled ``machine`` never count anywhere.
- **Renewal rate**: renewed ÷ due (contract counts).

Money is never added across currencies. A contract's currency is its own (``XXX``, ISO 4217's "no
currency", when the org left it empty); every amount comes with the one currency it is in, and the pages
that add amounts take that currency as a filter. The renewed amount in a currency is the sum of renewals
made in that currency; a contract renewed in Salesforce has no renewal made here, so its own amount (what was due)
counts as renewed, in its own currency.
"""

from sync_service.reports.at_risk import AtRisk, at_risk
from sync_service.reports.cancellations import (
    CancellationMonth,
    ContractRow,
    cancellations_by_month,
    cancelled_contracts,
)
from sync_service.reports.facts import NO_CURRENCY, SENT_STATUSES, ZERO, Page, rate
from sync_service.reports.health import HEALTH_BANDS, Health, HealthBand, HealthReport, account_health, health_bands
from sync_service.reports.periods import Period, PeriodError, default_period, month_of, parse_period, today_utc
from sync_service.reports.renewals import (
    DIMENSIONS,
    MIN_DUE_FOR_RATE,
    NOT_SET,
    CurrencyCount,
    Figures,
    Funnel,
    GroupFigures,
    MonthFigures,
    breakdown,
    currencies,
    funnel,
    revenue_by_month,
)

__all__ = [
    "DIMENSIONS",
    "HEALTH_BANDS",
    "MIN_DUE_FOR_RATE",
    "NOT_SET",
    "NO_CURRENCY",
    "SENT_STATUSES",
    "ZERO",
    "AtRisk",
    "CancellationMonth",
    "ContractRow",
    "CurrencyCount",
    "Figures",
    "Funnel",
    "GroupFigures",
    "Health",
    "HealthBand",
    "HealthReport",
    "MonthFigures",
    "Page",
    "Period",
    "PeriodError",
    "account_health",
    "at_risk",
    "breakdown",
    "cancellations_by_month",
    "cancelled_contracts",
    "currencies",
    "default_period",
    "funnel",
    "health_bands",
    "month_of",
    "parse_period",
    "rate",
    "revenue_by_month",
    "today_utc",
]
