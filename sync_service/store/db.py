"""Engines and sessions for the store.

A :class:`Database` is made from a URL and connects only when first used. Jobs and scripts open their own
unit of work with :func:`session_scope`; web requests share one session per app context through
:func:`current_session`, closed when the context ends (uncommitted work is rolled back).

SQLite is configured so it behaves like the production database where it matters: foreign keys enforced,
WAL journal (readers don't block the writer), a busy timeout instead of instant "database is locked", and
SQLAlchemy controls BEGIN so SAVEPOINTs work (pysqlite's own transaction handling breaks them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
_EXTENSION_KEY = "renewals.database"
# Execution option of a connection that only reads: on SQLite it begins a plain (deferred) transaction even on
# an engine made with `sqlite_immediate`, so a long read (a report) never holds the write lock.
READ_ONLY_OPTION = "renewals_read_only"


def make_engine(url: str, *, sqlite_immediate: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`. With `sqlite_immediate`, SQLite transactions start with BEGIN IMMEDIATE (the write
    lock taken up front, waiting up to the busy timeout), so a transaction that reads and then writes never
    fails with "database is locked" because another process wrote in between; that is what web requests and
    jobs need when several processes share one SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        # SQLite creates the file but not its folder; do it here, when the engine is made, never at import.
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate if sqlite_immediate else _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    # Autocommit at the driver level; SQLAlchemy's "begin" hook below emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def _begin_immediate(connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")  # a reader: WAL lets it read while others write
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its session factory for one database URL."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        # Objects stay readable after commit: jobs commit, then use ids and values to enqueue follow-ups.
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """One unit of work: committed if the block succeeds, rolled back if it raises."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def init_app(app: Flask) -> None:
    settings = cast(Settings, app.extensions["renewals.settings"])
    # The app's processes (gunicorn workers, RQ work horses) share the store: on SQLite, serialize writers.
    app.extensions[_EXTENSION_KEY] = Database(settings.database_url, sqlite_immediate=True)
    app.teardown_appcontext(_close_current_session)


def current_database() -> Database:
    """The database of the current Flask app (in a request or a job)."""
    return cast(Database, current_app.extensions[_EXTENSION_KEY])


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work on the current app's database; see :meth:`Database.session_scope`."""
    with current_database().session_scope() as session:
        yield session


def current_session() -> Session:
    """The session shared by the current app context, opened on first use and closed at its end."""
    if "db_session" not in g:
        g.db_session = current_database().sessionmaker()
    return cast(Session, g.db_session)


def use_read_only_session() -> Session:
    """Make this request's session a reader (for requests that only read, e.g. the console's GET pages): on
    SQLite its transaction does not take the write lock that renewals and link hits queue for. Call it before
    anything else uses :func:`current_session` in the request."""
    if "db_session" not in g:
        session = current_database().sessionmaker()
        session.connection(execution_options={READ_ONLY_OPTION: True})
        g.db_session = session
    return cast(Session, g.db_session)


def _close_current_session(exception: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
