"""Engines and sessions for the store.

A :class:`Database` is made from a URL and connects only when first used. Jobs and scripts open their own
unit of work with :func:`session_scope`; web requests share one session per app context through
:func:`current_session`, closed when the context ends (uncommitted work is rolled back).

A GET or HEAD only shows a page, so its session *reads*: on SQLite its transactions are plain (deferred) ones
that never take the write lock, so a page answers while a pull, a push or a renewal writes (WAL lets readers
read beside the writer). The few writes such a request makes (an email link's hit, a sign-in's session row)
go through :func:`writing`: the read transaction ends, the write runs in a short transaction of its own (BEGIN
IMMEDIATE on SQLite) and commits, and the session reads again afterwards. Other methods' sessions, jobs' and
scripts' write as before.

On SQLite those short writes also take a lock of the process first (:func:`write_lock`): the threads of one
gunicorn worker then queue on a Python lock, each woken the moment the previous one commits, instead of
meeting in SQLite's busy handler, which sleeps in growing steps (1, 2, 5, 10 ms, ...) whether or not the lock
frees sooner, and so serialises writers far beyond their cost. Processes still wait for each other in SQLite.

SQLite is configured so it behaves like the production database where it matters: foreign keys enforced,
WAL journal (readers don't block the writer), a busy timeout instead of instant "database is locked", and
SQLAlchemy controls BEGIN so SAVEPOINTs work (pysqlite's own transaction handling breaks them). Each connection
may keep up to ``SQLITE_CACHE_KIB`` of pages in memory instead of SQLite's 2 MB default: a pull inserts tens of
thousands of rows into tables whose indexes are keyed on Salesforce ids, which arrive in no particular order,
and with 2 MB those indexes' pages are evicted and read back again and again (a 60,000-contract pull took a
fifth longer). SQLite fills the cache only as pages are read, so a page view's connection stays small.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 65_536
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
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")  # negative: KiB, not pages
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def _begin_immediate(connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")  # a reader: WAL lets it read while others write
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class StoreSession(Session):
    """A session that, while it is a reader (:func:`reads_only`), begins each transaction on the engine's
    read-only view (``READ_ONLY_OPTION``). The choice is made per transaction: it changes only between
    transactions (:func:`writing` ends the open one first), never inside one."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        bind = super().get_bind(*args, **kwargs)
        reader = self.info.get(_READER_KEY)
        return reader if reader is not None and self.info.get(_READS_KEY) else bind


_READER_KEY = "renewals.reader_engine"
_READS_KEY = "renewals.reads_only"


def _reader(sessions: sessionmaker[Session], reader_engine: Engine) -> Session:
    session = sessions()
    session.info[_READER_KEY] = reader_engine
    session.info[_READS_KEY] = True
    return session


def reader_sessions(sessions: sessionmaker[Session]) -> Callable[[], Session]:
    """Reader sessions (as :meth:`Database.reader_session`) made by `sessions`, for code that is handed a
    session factory: on an engine made with `sqlite_immediate`, their reads take no write lock, and their
    writes go through :func:`writing`. Sessions of another class than :class:`StoreSession` read and write
    as plain sessions."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine):
        return sessions
    reader_engine = engine.execution_options(**{READ_ONLY_OPTION: True})
    return lambda: _reader(sessions, reader_engine)


class Database:
    """An engine and its session factory for one database URL."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        # The same engine and pool; its connections begin read transactions (see _begin_immediate).
        self.reader_engine = self.engine.execution_options(**{READ_ONLY_OPTION: True})
        # Objects stay readable after commit: jobs commit, then use ids and values to enqueue follow-ups.
        self.sessionmaker = cast(
            "sessionmaker[Session]", sessionmaker(self.engine, class_=StoreSession, expire_on_commit=False)
        )

    def reader_session(self) -> Session:
        """A session whose transactions read (see :func:`reads_only`); :func:`writing` for its writes."""
        return _reader(self.sessionmaker, self.reader_engine)

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


READ_METHODS = frozenset({"GET", "HEAD"})


def current_session() -> Session:
    """The session shared by the current app context, opened on first use and closed at its end. In a GET or
    HEAD request it is a reader (see the module docstring): its writes go through :func:`writing`."""
    if "db_session" not in g:
        database = current_database()
        reads = has_request_context() and request.method in READ_METHODS
        g.db_session = database.reader_session() if reads else database.sessionmaker()
    return cast(Session, g.db_session)


def use_read_only_session() -> Session:
    """Make this request's session a reader whatever its method (e.g. the console's pages that only read): on
    SQLite its transactions do not take the write lock that renewals and link hits queue for. Call it before
    anything else uses :func:`current_session` in the request."""
    if "db_session" not in g:
        g.db_session = current_database().reader_session()
    return cast(Session, g.db_session)


def use_writer_session() -> Session:
    """Make this request's session a writer whatever its method, for the rare GET that changes state by
    protocol (an OAuth callback signing someone in). Call it before anything else uses :func:`current_session`
    in the request."""
    if "db_session" not in g:
        g.db_session = current_database().sessionmaker()
    return cast(Session, g.db_session)


def reads_only(session: Session) -> bool:
    """Whether `session` begins read transactions (a GET's or HEAD's, outside :func:`writing`)."""
    return bool(session.info.get(_READS_KEY))


# One lock per SQLite database file in this process (see the module docstring); re-entrant, so a short write
# that calls another never waits for itself.
_SQLITE_WRITE_LOCKS: dict[str, threading.RLock] = {}
_SQLITE_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """The process's lock around a short write transaction on `engine`'s database: a lock per SQLite
    database, nothing on other databases (PostgreSQL takes row locks, not a database-wide one)."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    key = str(engine.url)
    lock = _SQLITE_WRITE_LOCKS.get(key)
    if lock is None:
        with _SQLITE_WRITE_LOCKS_GUARD:
            lock = _SQLITE_WRITE_LOCKS.setdefault(key, threading.RLock())
    return lock


@contextmanager
def writing(session: Session) -> Iterator[Session]:
    """Write with a reader session: the transaction it has open (a read) is committed first, the block runs in
    a write transaction of its own (on SQLite BEGIN IMMEDIATE: the write lock is taken up front, so the block
    never fails on a stale snapshot) and is committed at its end, or rolled back if it raises; then the
    session reads again. Keep the block short: it holds the write lock. Objects loaded before stay usable
    (sessions do not expire on commit). On a writer session it is a plain unit of work: commit before and after.
    On SQLite the block holds the process's :func:`write_lock`."""
    reads = reads_only(session)
    session.commit()
    session.info[_READS_KEY] = False
    try:
        with write_lock(session.get_bind().engine):
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    finally:
        session.info[_READS_KEY] = reads


def _close_current_session(exception: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
