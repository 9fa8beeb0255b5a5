"""The stand-in org's SOQL engine: parse → prepare (names bound to the schema) → run over a RecordSource.

Results and errors are in Salesforce's REST shapes; see `engine` for the run pipeline.
"""

from sync_service.devorg.soql.engine import PreparedQuery, QueryResult, execute, prepare
from sync_service.devorg.soql.getters import RecordSource
from sync_service.devorg.soql.parser import parse
from sync_service.devorg.soql.syntax import SelectQuery

__all__ = ["PreparedQuery", "QueryResult", "RecordSource", "SelectQuery", "execute", "parse", "prepare"]
