"""Recursive-descent SOQL parser: text → `SelectQuery`. Syntax only; names are checked in `resolve`.

Errors are MALFORMED_QUERY with Salesforce's caret layout, pointing at the first token that does not fit.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

from sync_service.devorg.errors import ApiError
from sync_service.devorg.soql import lexer
from sync_service.devorg.soql.dates import RANGE_LITERALS, RANGE_LITERALS_N
from sync_service.devorg.soql.lexer import Token, syntax_error
from sync_service.devorg.soql.syntax import (
    And,
    Call,
    Comparison,
    Condition,
    DateLiteral,
    Expr,
    Literal,
    Name,
    Not,
    Or,
    OrderItem,
    SelectItem,
    SelectQuery,
    SubSelect,
)

# Words that end the FROM clause, so they are never taken as the object's alias.
_CLAUSE_WORDS = frozenset({"WHERE", "WITH", "GROUP", "ORDER", "LIMIT", "OFFSET", "FOR", "USING", "HAVING", "UPDATE"})
_WITH_MODES = frozenset({"SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE"})
_FOR_MODES = frozenset({"VIEW", "REFERENCE", "UPDATE"})
_MAX_DEPTH = 60  # parentheses and subqueries; deeper input is refused rather than overflowing the stack


def parse(soql: str) -> SelectQuery:
    """Parse one SOQL statement; raises ApiError(400, MALFORMED_QUERY)."""
    if not isinstance(soql, str):
        raise syntax_error("", 0, "unexpected token: <EOF>")
    parser = _Parser(soql, lexer.tokenize(soql))
    try:
        query = parser.select()
    except RecursionError:
        raise syntax_error(soql, 0, "query is nested too deeply") from None
    parser.expect(lexer.EOF)
    return query


class _Parser:
    def __init__(self, soql: str, tokens: list[Token]):
        self.soql = soql
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    # --- token helpers ---

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != lexer.EOF:
            self.i += 1
        return token

    def error(self, token: Token | None = None) -> ApiError:
        token = token or self.tok
        return syntax_error(self.soql, token.pos, f"unexpected token: {token.shown()}")

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.error()
        return self.advance()

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == lexer.NAME and self.tok.upper in words

    def expect_word(self, word: str) -> Token:
        if not self.at_word(word):
            raise self.error()
        return self.advance()

    def nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise syntax_error(self.soql, self.tok.pos, "query is nested too deeply")

    # --- statement ---

    def select(self) -> SelectQuery:
        start = self.expect_word("SELECT").pos
        items = self.select_list()
        self.expect_word("FROM")
        if self.tok.kind != lexer.NAME:
            raise self.error()
        sobject_token = self.advance()
        query = SelectQuery(items, Name(sobject_token.text, sobject_token.pos), pos=start)
        if self.tok.kind == lexer.NAME and self.tok.upper not in _CLAUSE_WORDS and "." not in self.tok.text:
            query.alias = self.advance().text
        if self.at_word("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.at_word("WITH"):
            self.advance()
            if not self.at_word(*_WITH_MODES):
                raise self.error()
            self.advance()  # sharing modes change nothing in a single-user stand-in
        if self.at_word("GROUP"):
            self.advance()
            self.expect_word("BY")
            query.group_by = [self.expr()]
            while self.tok.kind == lexer.COMMA:
                self.advance()
                query.group_by.append(self.expr())
            if self.at_word("HAVING"):
                self.advance()
                query.having = self.condition()
        if self.at_word("ORDER"):
            self.advance()
            self.expect_word("BY")
            query.order_by = [self.order_item()]
            while self.tok.kind == lexer.COMMA:
                self.advance()
                query.order_by.append(self.order_item())
        if self.at_word("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.at_word("OFFSET"):
            self.advance()
            query.offset = self.integer()
        if self.at_word("FOR"):
            self.advance()
            if not self.at_word(*_FOR_MODES):
                raise self.error()
            self.advance()  # record locking and view tracking are no-ops here
        return query

    def integer(self) -> int:
        token = self.tok
        if token.kind != lexer.NUMBER or not token.text.isdigit():
            raise self.error()
        self.advance()
        return int(token.text)

    def select_list(self) -> list[SelectItem | SubSelect]:
        items = [self.select_item()]
        while self.tok.kind == lexer.COMMA:
            self.advance()
            items.append(self.select_item())
        return items

    def select_item(self) -> SelectItem | SubSelect:
        if self.tok.kind == lexer.LPAREN:
            pos = self.advance().pos
            self.nest()
            sub = self.select()
            self.expect(lexer.RPAREN)
            self.depth -= 1
            return SubSelect(sub, pos)
        if self.at_word("TYPEOF", "FROM"):
            raise self.error()  # an empty item; TYPEOF is not supported by the stand-in
        expr = self.expr()
        alias = None
        # An alias is a bare name followed by ',' or FROM; anything else after a field is a syntax error
        # at that word (so "SELECT Id FORM Contract" points at FORM, as Salesforce does).
        nxt = self.peek()
        if (
            self.tok.kind == lexer.NAME
            and self.tok.upper != "FROM"
            and "." not in self.tok.text
            and (nxt.kind == lexer.COMMA or (nxt.kind == lexer.NAME and nxt.upper == "FROM"))
        ):
            alias = self.advance().text
        return SelectItem(expr, alias)

    def expr(self) -> Expr:
        token = self.tok
        if token.kind != lexer.NAME:
            raise self.error()
        self.advance()
        if self.tok.kind != lexer.LPAREN:
            return Name(token.text, token.pos)
        self.advance()
        self.nest()
        arg: Expr | None = None
        if self.tok.kind != lexer.RPAREN:
            arg = self.expr()
        end = self.expect(lexer.RPAREN)
        self.depth -= 1
        return Call(token.upper, arg, token.pos, self.soql[token.pos : end.pos + 1])

    def order_item(self) -> OrderItem:
        item = OrderItem(self.expr())
        if self.at_word("ASC", "DESC"):
            item.descending = self.advance().upper == "DESC"
        if self.at_word("NULLS"):
            self.advance()
            if not self.at_word("FIRST", "LAST"):
                raise self.error()
            item.nulls_first = self.advance().upper == "FIRST"
        return item

    # --- WHERE / HAVING ---

    def condition(self) -> Condition:
        first = self.unary()
        if not self.at_word("AND", "OR"):
            return first
        op = self.tok.upper
        items = [first]
        while self.at_word("AND", "OR"):
            if self.tok.upper != op:
                raise self.error()  # SOQL needs parentheses to mix AND and OR
            self.advance()
            items.append(self.unary())
        return And(items) if op == "AND" else Or(items)

    def unary(self) -> Condition:
        self.nest()
        try:
            if self.at_word("NOT"):
                self.advance()
                return Not(self.unary())
            if self.tok.kind == lexer.LPAREN:
                self.advance()
                inner = self.condition()
                self.expect(lexer.RPAREN)
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Comparison:
        lhs = self.expr()
        token = self.tok
        if token.kind == lexer.OP:
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(lhs, op, self.literal(), token.pos)
        if self.at_word("LIKE"):
            self.advance()
            return Comparison(lhs, "LIKE", self.literal(), token.pos)
        if self.at_word("INCLUDES", "EXCLUDES"):
            self.advance()
            return Comparison(lhs, token.upper, self.literal_list(), token.pos)
        if self.at_word("NOT"):
            self.advance()
            self.expect_word("IN")
            return Comparison(lhs, "NOT IN", self.in_operand(), token.pos)
        if self.at_word("IN"):
            self.advance()
            return Comparison(lhs, "IN", self.in_operand(), token.pos)
        raise self.error()

    def in_operand(self) -> list[Literal] | SelectQuery:
        if self.tok.kind == lexer.LPAREN and self.peek().upper == "SELECT":
            self.advance()
            self.nest()
            sub = self.select()
            self.expect(lexer.RPAREN)
            self.depth -= 1
            return sub
        return self.literal_list()

    def literal_list(self) -> list[Literal]:
        self.expect(lexer.LPAREN)
        values = [self.literal()]
        while self.tok.kind == lexer.COMMA:
            self.advance()
            values.append(self.literal())
        self.expect(lexer.RPAREN)
        return values

    def literal(self) -> Literal:
        token = self.tok
        kind = token.kind
        if kind == lexer.STRING:
            self.advance()
            return Literal("string", token.text, token.pos, token.text, token.escaped)
        if kind == lexer.NUMBER:
            self.advance()
            text = token.text
            value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
            if isinstance(value, float) and not math.isfinite(value):
                raise self.error(token)
            return Literal("number", value, token.pos, text)
        if kind == lexer.DATE:
            self.advance()
            return Literal("date", self.parse_date(token), token.pos, token.text)
        if kind == lexer.DATETIME:
            self.advance()
            return Literal("datetime", self.parse_datetime(token), token.pos, token.text)
        if kind == lexer.NAME:
            word = token.upper
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", word == "TRUE", token.pos, token.text)
            if word == "NULL":
                self.advance()
                return Literal("null", None, token.pos, token.text)
            if word in RANGE_LITERALS:
                self.advance()
                return Literal("range", DateLiteral(word, None), token.pos, token.text)
            if word in RANGE_LITERALS_N:
                self.advance()
                self.expect(lexer.COLON)
                n = self.integer()
                text = self.soql[token.pos : self.tokens[self.i - 1].pos + len(self.tokens[self.i - 1].text)]
                return Literal("range", DateLiteral(word, n), token.pos, text)
        raise self.error()

    def parse_date(self, token: Token) -> date:
        try:
            return date.fromisoformat(token.text)
        except ValueError:
            raise syntax_error(self.soql, token.pos, f"line 1:{token.pos} no viable date: {token.text}") from None

    def parse_datetime(self, token: Token) -> datetime:
        text = token.text
        try:
            day = date.fromisoformat(text[:10])
            hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
            rest = text[19:]
            micros = 0
            if rest.startswith("."):
                digits = rest[1:].split("Z")[0].split("+")[0].split("-")[0]
                micros = int((digits + "000000")[:6])
                rest = rest[1 + len(digits) :]
            offset = timedelta(0)
            if rest != "Z":
                sign = -1 if rest[0] == "-" else 1
                hh, mm = int(rest[1:3]), int(rest[-2:])
                if hh > 23 or mm > 59:
                    raise ValueError(text)
                offset = sign * timedelta(hours=hh, minutes=mm)
            return datetime(day.year, day.month, day.day, hour, minute, second, micros, timezone(offset))
        except (ValueError, IndexError):
            raise syntax_error(self.soql, token.pos, f"line 1:{token.pos} no viable datetime: {text}") from None
