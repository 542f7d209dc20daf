"""Engines, sessions and schema upgrades for SQLite (the default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout so the webhook and the scheduler can share one file,
its writers taking turns in a queue (`storage.sqlite_lock`);
PostgreSQL (`postgresql+psycopg://`) gets a connection pool sized by `pool_size`.
`upgrade(url)` brings any database to the newest schema with Alembic (what `init-db` runs).
The SQLite file is created owner-only (0600), and SQLite gives its -wal and -shm files the
database file's mode: health records are nobody else's to read on a shared machine.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.sqlite_lock import QueuedConnection, queue_for

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseError(Exception):
    """The database cannot be reached or used; the message is one line for an operator."""


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database if parsed.database and parsed.database != ":memory:" else None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            private_file(path)
            for side in ("-wal", "-shm"):          # left by an older version, maybe 0644
                private_file(path + side, create=False)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30,
                                                  "factory": QueuedConnection})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # pysqlite's own transaction handling defers BEGIN; we begin ourselves (below).
            dbapi_conn.isolation_level = None
            if path is not None:
                dbapi_conn.queue = queue_for(path)

        # BEGIN IMMEDIATE: a transaction that reads then writes takes the write lock up front
        # (no upgrade deadlocks), after waiting its turn in the write queue (storage.sqlite_lock).
        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):  # pragma: no cover - trivial
            conn.connection.dbapi_connection.begin_immediate()

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         pool_timeout=10)


def private_file(path: str | Path, *, create: bool = True) -> None:
    """Creates `path` empty with mode 0600, or takes group and other access off it.

    An empty file is a valid SQLite database. For a file of another owner (chmod refused) the
    mode stays as it is: the operator chose it.
    """
    try:
        if not create and not os.path.exists(path):
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            mode = os.stat(path).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(path, stat.S_IMODE(mode) & ~(stat.S_IRWXG | stat.S_IRWXO))
        except OSError:
            pass
        return
    except OSError:
        return                 # e.g. a read-only folder: SQLite reports it clearly
    os.close(fd)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> str:
    """Creates or upgrades the schema to the newest revision; returns that revision."""
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot upgrade the database: {_one_line(exc)}") from None
    finally:
        engine.dispose()
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _one_line(exc: Exception) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else exc.__class__.__name__


@contextlib.contextmanager
def session_scope(factory: sessionmaker[Session]):
    """A session in one transaction: committed on success, rolled back on any error."""
    with factory() as session:
        with session.begin():
            yield session
