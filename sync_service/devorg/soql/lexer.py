"""SOQL tokens: names (dotted paths kept whole), quoted strings, numbers, date and datetime literals, operators.

Keywords are not told apart here: SOQL lets many of them double as names (``FROM Order``, a field ``Type``),
so the parser decides from context by comparing the upper-cased text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sync_service.devorg.errors import ApiError, malformed_query, soql_position_message

NAME = "NAME"
STRING = "STRING"
NUMBER = "NUMBER"
DATE = "DATE"
DATETIME = "DATETIME"
OP = "OP"
LPAREN = "("
RPAREN = ")"
COMMA = ","
COLON = ":"
EOF = "EOF"

# Order matters: datetimes before dates before numbers, two-character operators before one-character ones.
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))(?![\w.])
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w.:])
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?![\w.])
  | (?P<string>')
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)

# Backslash escapes allowed in a quoted string; \% and \_ only matter to LIKE, which sees them as literal
# characters, so they are kept apart (see Token.escaped).
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_LIKE_ESCAPES = frozenset("%_")
_WORD_RE = re.compile(r"[^\s(),']+")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # as written (for strings: the decoded value)
    pos: int  # 0-based offset into the query
    escaped: frozenset[int] = frozenset()  # STRING only: indexes of % and _ that were backslash-escaped

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == NAME else ""

    def shown(self) -> str:
        """How Salesforce quotes the token in "unexpected token" messages."""
        return "<EOF>" if self.kind == EOF else f"'{self.text}'"


def syntax_error(soql: str, pos: int, text: str) -> ApiError:
    return malformed_query(soql_position_message(soql, pos + 1, text))


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    end = len(soql)
    while pos < end:
        m = _TOKEN_RE.match(soql, pos)
        if m is None:
            word = _WORD_RE.match(soql, pos)
            raise syntax_error(soql, pos, f"unexpected token: '{word.group() if word else soql[pos]}'")
        kind = m.lastgroup
        if kind == "string":
            token, pos = _read_string(soql, pos)
            tokens.append(token)
            continue
        text = m.group()
        if kind == "name":
            tokens.append(Token(NAME, text, pos))
        elif kind == "number":
            tokens.append(Token(NUMBER, text, pos))
        elif kind == "date":
            tokens.append(Token(DATE, text, pos))
        elif kind == "datetime":
            tokens.append(Token(DATETIME, text, pos))
        elif kind == "op":
            tokens.append(Token(OP, text, pos))
        elif kind == "punct":
            tokens.append(Token(text, text, pos))
        pos = m.end()
    tokens.append(Token(EOF, "", end))
    return tokens


def _read_string(soql: str, start: int) -> tuple[Token, int]:
    out: list[str] = []
    escaped: set[int] = set()
    i = start + 1
    end = len(soql)
    while i < end:
        ch = soql[i]
        if ch == "'":
            return Token(STRING, "".join(out), start, frozenset(escaped)), i + 1
        if ch == "\\":
            nxt = soql[i + 1] if i + 1 < end else ""
            if nxt in _LIKE_ESCAPES and nxt:
                escaped.add(len(out))
                out.append(nxt)
            elif nxt in _ESCAPES and nxt:
                out.append(_ESCAPES[nxt])
            else:
                literal = soql[start + 1 : min(end, i + 2)]
                raise syntax_error(
                    soql,
                    start,
                    f"Invalid string literal '{literal}'. Illegal character sequence '\\{nxt}' in string literal.",
                )
            i += 2
            continue
        out.append(ch)
        i += 1
    raise syntax_error(soql, start, f"line 1:{start} mismatched character '<EOF>' expecting \"'\"")
