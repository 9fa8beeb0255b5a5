"""The stand-in org's SOQL engine: parse → prepare (names bound to the schema) → run over a RecordSource.

Results and errors are in Salesforce's REST shapes; see `engine` for the run pipeline.
"""

from .engine import PreparedQuery, QueryResult, execute, prepare
from .getters import RecordSource
from .parser import parse
from .syntax import SelectQuery

__all__ = ["PreparedQuery", "QueryResult", "RecordSource", "SelectQuery", "execute", "parse", "prepare"]
