"""A push's claim never reads past the done rows the outbox keeps: with thousands done and a few pending, a
claim takes the oldest pending rows, and its plan reaches them through an index of pending rows (PostgreSQL:
the partial index of pending rows by kind and id; SQLite: the status index) instead of walking the table or
its primary key past every done row, which made a backlog drain in quadratic time. Plans are read after
ANALYZE, as the database's statistics would be in production."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import TaskConventions
from sync_service.outbox.push import Pusher
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.transport import make_session
from sync_service.store import models
from sync_service.store.models import utcnow

DONE, PENDING = 5000, 200


def test_a_claim_reads_the_pending_rows_not_past_the_done_ones(store: sessionmaker[Session]) -> None:
    engine = store.kw["bind"]
    now = utcnow()
    rows = [
        {
            "key": f"rnw-{n}",
            "kind": "task",
            "sobject": "Task",
            "status": "done" if n < DONE else "pending",
            "next_attempt_at": now,
            "payload": {"subject": f"Task {n}"},
        }
        for n in range(DONE + PENDING)
    ]
    with engine.begin() as connection:
        connection.execute(insert(models.OutboxItem), rows)
        connection.exec_driver_sql("ANALYZE")
    statements: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        sf: Any = SimpleNamespace(session=make_session(timeout=5))
        pusher = Pusher(store, sf, TaskConventions(), Budget(daily_budget=10**6, reserve=0), batch=50)
        claimed = pusher._claim("task", utcnow())
    finally:
        event.remove(engine, "before_cursor_execute", remember)

    assert [item.key for item in claimed] == [f"rnw-{n}" for n in range(DONE, DONE + 50)]
    ((claim, parameters),) = statements
    with engine.connect() as connection:
        plan = " | ".join(str(row[-1]) for row in connection.exec_driver_sql(_explain(engine) + claim, parameters))
    if engine.dialect.name == "postgresql":
        assert "ix_outbox_items_pending_kind_id" in plan or "ix_outbox_items_status_next_attempt_at" in plan, plan
        assert "pk_outbox_items" not in plan and "Seq Scan on outbox_items" not in plan, plan
    else:
        assert "USING INDEX ix_outbox_items_" in plan and "SCAN outbox_items" not in plan, plan


def _explain(engine: Any) -> str:
    return "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
