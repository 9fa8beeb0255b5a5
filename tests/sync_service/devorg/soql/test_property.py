"""Property: for random WHERE clauses over random rows, the engine keeps exactly the rows that a plain,
independent Python evaluation of the same expression tree keeps (and in source order).

The reference below deliberately shares no code with the engine: it evaluates Python values (dates,
aware datetimes, numbers), matches LIKE with its own matcher, and decides date literals by converting each
datetime to the user's local date instead of converting day boundaries to UTC.
"""

from __future__ import annotations

import calendar
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_service.devorg.ids import make_id
from tests.sync_service.devorg.soql.records import DictSource, run

ACCOUNTS = [make_id("001", n) for n in (1, 2, 3)]
ACCOUNT_NAMES = {ACCOUNTS[0]: "Acme", ACCOUNTS[1]: "acme", ACCOUNTS[2]: "O'Brien"}
FIELDS = {
    "Name": "text",
    "Status": "text",
    "Account.Name": "text",
    "ContractTerm": "number",
    "Total_Contract_Value__c": "number",
    "StartDate": "date",
    "EndDate": "date",
    "ActivatedDate": "datetime",
    "Auto_Renew__c": "boolean",
    "AccountId": "ref",
    "Reseller__c": "ref",
}
TEXTS = ["Acme", "acme", "ACME corp", "Beta", "b_ta", "50%", "50% off", "O'Brien", "back\\slash", "Zed", "draft"]
NUMBERS: list[int | float] = [0, 1, 12, 12.5, -3, 300.0, 1200]
DATES = [date(2025, 12, 31), date(2026, 1, 1), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 14)]
DATES += [date(2026, 3, 15), date(2026, 3, 16), date(2026, 3, 31), date(2026, 4, 1), date(2026, 12, 31)]
INSTANTS = [
    datetime(2025, 12, 31, 13, 0, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    datetime(2026, 3, 14, 15, 0, tzinfo=UTC),
    datetime(2026, 3, 15, 6, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 15, 7, 0, tzinfo=UTC),
    datetime(2026, 3, 16, 12, 0, tzinfo=UTC),
]
NOWS = [
    datetime(2026, 3, 15, 18, 30, tzinfo=UTC),
    datetime(2026, 3, 1, 7, 30, tzinfo=UTC),
    datetime(2026, 1, 1, 5, 0, tzinfo=UTC),
]
ZONES: list[tzinfo] = [UTC, ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Tokyo"), ZoneInfo("Asia/Kolkata")]
RANGES = ["TODAY", "YESTERDAY", "TOMORROW", "THIS_MONTH", "LAST_MONTH", "NEXT_MONTH", "THIS_YEAR", "LAST_YEAR"]
RANGES += ["THIS_QUARTER", "THIS_WEEK", "LAST_N_DAYS", "NEXT_N_DAYS", "NEXT_N_MONTHS"]
ORDER_OPS = ["<", "<=", ">", ">="]


# --- the expression tree ---


@dataclass(frozen=True)
class Cmp:
    field: str
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Any  # Python value; a list for IN; a tuple of LIKE parts; a Range
    soql: str


@dataclass(frozen=True)
class Range:
    name: str
    n: int | None


@dataclass(frozen=True)
class Node:
    kind: str  # AND OR NOT
    children: tuple[Any, ...]


def to_soql(node: Any) -> str:
    if isinstance(node, Cmp):
        return node.soql
    if node.kind == "NOT":
        return f"NOT ({to_soql(node.children[0])})"
    return f" {node.kind} ".join(f"({to_soql(c)})" for c in node.children)


# --- generation ---


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def id_literal(draw: st.DrawFn, value: str) -> str:
    return quote(value if draw(st.booleans()) else value[:15])


@st.composite
def literal(draw: st.DrawFn, kind: str) -> tuple[Any, str]:
    if kind == "text":
        value = draw(st.sampled_from(TEXTS))
        return value, quote(value)
    if kind == "number":
        value = draw(st.sampled_from(NUMBERS))
        return value, repr(value)
    if kind == "date":
        value = draw(st.sampled_from(DATES))
        return value, value.isoformat()
    if kind == "datetime":
        instant = draw(st.sampled_from(INSTANTS))
        offset = draw(st.sampled_from([timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-8)]))
        shown = instant.astimezone(timezone(offset))
        text = shown.strftime("%Y-%m-%dT%H:%M:%S")
        if draw(st.booleans()):
            text += ".000"
        sign = "-" if offset < timedelta(0) else "+"
        hours, rest = divmod(abs(offset), timedelta(hours=1))
        text += "Z" if not offset and draw(st.booleans()) else f"{sign}{hours:02d}:{rest // timedelta(minutes=1):02d}"
        return instant, text
    if kind == "boolean":
        value = draw(st.booleans())
        return value, draw(st.sampled_from(["TRUE", "true", "True"] if value else ["FALSE", "false"]))
    value = draw(st.sampled_from(ACCOUNTS))
    return value, id_literal(draw, value)


@st.composite
def like_pattern(draw: st.DrawFn) -> tuple[tuple[Any, ...], str]:
    parts = draw(st.lists(st.sampled_from(["%", "_", *TEXTS, "a", "e", "%", "'"]), min_size=1, max_size=4))
    soql = ""
    tokens: list[Any] = []
    for part in parts:
        if part in ("%", "_"):
            tokens.append(part)
            soql += part
        else:
            tokens.append(("lit", part))
            soql += part.replace("\\", "\\\\").replace("'", "\\'").replace("%", "\\%").replace("_", "\\_")
    return tuple(tokens), f"'{soql}'"


@st.composite
def comparison(draw: st.DrawFn) -> Cmp:
    field = draw(st.sampled_from(sorted(FIELDS)))
    kind = FIELDS[field]
    choices = ["=", "!=", "IN", "NOT IN", "null"]
    if kind in ("text", "number", "date", "datetime", "ref"):
        choices += ORDER_OPS if kind != "ref" else []
    if kind == "text":
        choices += ["LIKE", "NOT LIKE"]
    if kind in ("date", "datetime"):
        choices += ["range"] * 3
    if kind == "boolean":
        choices = ["=", "!=", "null"]
    choice = draw(st.sampled_from(choices))
    if choice == "null":
        op = draw(st.sampled_from(["=", "!="]))
        return Cmp(field, op, None, f"{field} {op} {draw(st.sampled_from(['null', 'NULL']))}")
    if choice in ("LIKE", "NOT LIKE"):
        tokens, text = draw(like_pattern())
        cmp = Cmp(field, "LIKE", tokens, f"{field} LIKE {text}")
        return cmp if choice == "LIKE" else Cmp(field, "NOT LIKE", tokens, f"NOT {field} LIKE {text}")
    if choice in ("IN", "NOT IN"):
        items = draw(st.lists(literal(kind), min_size=1, max_size=3))
        values = [v for v, _ in items]
        texts = [t for _, t in items]
        if kind != "boolean" and draw(st.booleans()):
            values.append(None)
            texts.append("null")
        return Cmp(field, choice, values, f"{field} {choice} ({', '.join(texts)})")
    if choice == "range":
        op = draw(st.sampled_from(["=", "!=", *ORDER_OPS]))
        name = draw(st.sampled_from(RANGES))
        n = draw(st.integers(0, 40)) if name.endswith(("_DAYS", "_MONTHS")) else None
        text = f"{name}:{n}" if n is not None else name
        return Cmp(field, op, Range(name, n), f"{field} {op} {text}")
    value, text = draw(literal(kind))
    op = "<>" if choice == "!=" and draw(st.booleans()) else choice
    return Cmp(field, choice, value, f"{field} {op} {text}")


conditions = st.recursive(
    comparison(),
    lambda children: st.one_of(
        st.builds(lambda c: Node("NOT", (c,)), children),
        st.builds(lambda cs: Node("AND", tuple(cs)), st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda cs: Node("OR", tuple(cs)), st.lists(children, min_size=2, max_size=3)),
    ),
    max_leaves=8,
)


@st.composite
def contract_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for i in range(draw(st.integers(0, 12))):
        row: dict[str, Any] = {"Id": make_id("800", i + 1), "IsDeleted": False}
        maybe = st.none() | st.just(True)
        if draw(maybe):
            row["Name"] = draw(st.sampled_from(TEXTS))
        if draw(maybe):
            row["Status"] = draw(st.sampled_from(TEXTS))
        if draw(maybe):
            row["ContractTerm"] = draw(st.sampled_from([0, 1, 12, -3, 1200]))
        if draw(maybe):
            row["Total_Contract_Value__c"] = float(draw(st.sampled_from(NUMBERS)))
        for name in ("StartDate", "EndDate"):
            if draw(maybe):
                row[name] = draw(st.sampled_from(DATES)).isoformat()
        if draw(maybe):
            row["ActivatedDate"] = draw(st.sampled_from(INSTANTS)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        if draw(maybe):
            row["Auto_Renew__c"] = draw(st.booleans())
        for name in ("AccountId", "Reseller__c"):
            if draw(maybe):
                row[name] = draw(st.sampled_from(ACCOUNTS))
        rows.append(row)
    return rows


# --- the reference evaluator ---


def field_value(row: dict[str, Any], field: str) -> Any:
    if field == "Account.Name":
        account = row.get("AccountId")
        return ACCOUNT_NAMES.get(account) if account is not None else None
    value = row.get(field)
    kind = FIELDS[field]
    if kind == "boolean":
        return bool(value)
    if value is None:
        return None
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "datetime":
        return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return value


def like(text: str, tokens: tuple[Any, ...]) -> bool:
    text = text.lower()

    def match(i: int, j: int) -> bool:
        if j == len(tokens):
            return i == len(text)
        token = tokens[j]
        if token == "%":
            return any(match(k, j + 1) for k in range(i, len(text) + 1))
        if token == "_":
            return i < len(text) and match(i + 1, j + 1)
        literal_text = token[1].lower()
        return text.startswith(literal_text, i) and match(i + len(literal_text), j + 1)

    return match(0, 0)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def range_days(r: Range, today: date) -> tuple[date, date]:
    month = today.replace(day=1)
    quarter = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    sunday = today - timedelta(days=today.isoweekday() % 7)
    n = r.n or 0
    return {
        "TODAY": (today, today),
        "YESTERDAY": (today - timedelta(days=1), today - timedelta(days=1)),
        "TOMORROW": (today + timedelta(days=1), today + timedelta(days=1)),
        "THIS_MONTH": (month, month_end(month)),
        "LAST_MONTH": (add_months(month, -1), month - timedelta(days=1)),
        "NEXT_MONTH": (add_months(month, 1), month_end(add_months(month, 1))),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year, 12, 31)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
        "THIS_QUARTER": (quarter, month_end(add_months(quarter, 2))),
        "THIS_WEEK": (sunday, sunday + timedelta(days=6)),
        "LAST_N_DAYS": (today - timedelta(days=n), today),
        "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=n)),
        "NEXT_N_MONTHS": (add_months(month, 1), add_months(month, n + 1) - timedelta(days=1)),
    }[r.name]


def equal(kind: str, value: Any, literal_value: Any) -> bool:
    if kind == "boolean":
        return value == bool(literal_value)  # Salesforce: "= null" on a checkbox means "= false"
    if value is None or literal_value is None:
        return value is None and literal_value is None
    if kind == "text":
        return value.lower() == literal_value.lower()
    if kind == "ref":
        return value[:15] == literal_value[:15]
    return value == literal_value


def ordered(kind: str, op: str, value: Any, literal_value: Any) -> bool:
    if value is None:
        return False
    if kind == "text":
        value, literal_value = value.lower(), literal_value.lower()
    return {"<": value < literal_value, "<=": value <= literal_value, ">": value > literal_value}.get(
        op, value >= literal_value
    )


def evaluate(node: Any, row: dict[str, Any], today: date, tz: tzinfo) -> bool:
    if isinstance(node, Node):
        results = [evaluate(c, row, today, tz) for c in node.children]
        return {"AND": all(results), "OR": any(results), "NOT": not results[0]}[node.kind]
    kind = FIELDS[node.field]
    value = field_value(row, node.field)
    if node.op == "LIKE":
        return value is not None and like(value, node.value)
    if node.op == "NOT LIKE":
        return not (value is not None and like(value, node.value))
    if node.op in ("IN", "NOT IN"):
        found = any(equal(kind, value, v) for v in node.value)
        return found if node.op == "IN" else not found
    if isinstance(node.value, Range):
        first, last = range_days(node.value, today)
        day = value.astimezone(tz).date() if isinstance(value, datetime) else value
        if node.op == "!=":
            return not (day is not None and first <= day <= last)
        if day is None:
            return False
        return {"=": first <= day <= last, "<": day < first, "<=": day <= last, ">": day > last}.get(
            node.op, day >= first
        )
    if node.op == "=":
        return equal(kind, value, node.value)
    if node.op == "!=":
        return not equal(kind, value, node.value)
    return ordered(kind, node.op, value, node.value)


@settings(
    max_examples=int(os.environ.get("SOQL_PROPERTY_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    rows=contract_rows(),
    condition=conditions,
    now=st.sampled_from(NOWS),
    tz=st.sampled_from(ZONES),
)
def test_engine_matches_reference_evaluation(
    rows: list[dict[str, Any]], condition: Any, now: datetime, tz: tzinfo
) -> None:
    accounts = [{"Id": account_id, "IsDeleted": False, "Name": name} for account_id, name in ACCOUNT_NAMES.items()]
    source = DictSource({"Contract": rows, "Account": accounts})
    soql = f"SELECT Id FROM Contract WHERE {to_soql(condition)}"
    result = run(soql, source, now=now, tz=tz)
    today = now.astimezone(tz).date()
    expected = [row["Id"] for row in rows if evaluate(condition, row, today, tz)]
    assert [rec["Id"] for rec in result.records] == expected, soql
