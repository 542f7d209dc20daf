"""One scheduler per deployment: whoever holds the lock runs the jobs, the others stay idle.

PostgreSQL: `pg_try_advisory_lock` on a dedicated connection held for the life of the process.
The server releases the lock the moment that connection ends (process killed, machine gone),
so a standby's next `poll()` takes over. The holder also writes a `scheduler_leases` row
(holder, since, renewed_at) only so that `status` can say who leads.

SQLite: the `scheduler_leases` row is the lock. The holder renews `expires_at` every ~10 s;
a standby takes the row once it has expired (TTL 30 s), so a dead leader is replaced within
about 40 s. A leader that cannot renew in time steps down.

Either way the jobs are idempotent through JobRun, so even two leaders at once (a stalled
leader waking up after its lease was taken) queue each job once.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from scheduler.outbox import to_utc, worker_id
from storage.models import SchedulerLease

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = dt.timedelta(seconds=30)
RENEW_EVERY = dt.timedelta(seconds=10)
ADVISORY_KEY = 0x6D63_7363_6864   # "mcschd": the scheduler's advisory lock id


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Leader:
    """Common part: `poll()` takes or keeps leadership and returns whether we lead."""

    def __init__(self, sessions: sessionmaker[Session], *, name: str | None = None,
                 clock: Callable[[], dt.datetime] | None = None, ttl: dt.timedelta = LEASE_TTL):
        self.sessions = sessions
        self.name = name or worker_id()
        self.clock = clock or _utcnow
        self.ttl = ttl
        self.is_leader = False
        self.since: dt.datetime | None = None

    def _now(self) -> dt.datetime:
        return to_utc(self.clock())

    def poll(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def _write_row(self, s: Session, now: dt.datetime, *, taking: bool) -> None:
        row = s.get(SchedulerLease, LEASE_NAME, with_for_update=True)
        if row is None:
            s.add(SchedulerLease(name=LEASE_NAME, holder=self.name, since=now, renewed_at=now,
                                 expires_at=now + self.ttl))
            return
        if taking or row.holder != self.name:
            row.holder, row.since = self.name, now
        row.renewed_at, row.expires_at = now, now + self.ttl

    def _clear_row(self) -> None:
        try:
            with self.sessions() as s, s.begin():
                row = s.get(SchedulerLease, LEASE_NAME, with_for_update=True)
                if row is not None and row.holder == self.name:
                    row.expires_at = self._now()
        except SQLAlchemyError as exc:
            log.warning("could not clear the scheduler lease: %s", _one_line(exc))


class SqliteLeaseLeader(Leader):
    """The lease row is the lock (SQLite, or any database without advisory locks)."""

    def poll(self) -> bool:
        now = self._now()
        try:
            with self.sessions() as s, s.begin():
                row = s.get(SchedulerLease, LEASE_NAME, with_for_update=True)
                mine = row is not None and row.holder == self.name
                if row is None or mine or row.expires_at <= now:
                    if mine and self.is_leader and row.expires_at <= now:
                        # We overslept our own lease; nobody took it, so keep it but say so.
                        log.warning("scheduler lease renewed late (expired %s)", row.expires_at)
                    taking = not (mine and self.is_leader)
                    self._write_row(s, now, taking=taking)
                    if taking:
                        self.since = now
                    got = True
                else:
                    got = False
        except SQLAlchemyError as exc:
            log.warning("scheduler lease check failed: %s", _one_line(exc))
            got = False
        self._changed(got)
        return got

    def release(self) -> None:
        if self.is_leader:
            self._clear_row()
        self._changed(False)

    def _changed(self, got: bool) -> None:
        if got and not self.is_leader:
            log.info("scheduler %s now leads", self.name)
        elif self.is_leader and not got:
            log.warning("scheduler %s no longer leads", self.name)
        self.is_leader = got
        if not got:
            self.since = None


class PgAdvisoryLeader(Leader):
    """PostgreSQL advisory lock on a connection of its own, held while the process lives."""

    def __init__(self, sessions: sessionmaker[Session], url: str, **kw):
        super().__init__(sessions, **kw)
        self.url = url
        self._engine: Engine | None = None
        self._conn = None

    def _connection(self):
        if self._conn is None:
            if self._engine is None:
                self._engine = create_engine(self.url, poolclass=NullPool)
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def poll(self) -> bool:
        now = self._now()
        try:
            fresh = self._conn is None          # a new connection holds no lock yet
            conn = self._connection()
            if self.is_leader and not fresh:
                conn.execute(text("SELECT 1"))           # still connected = still holding it
                got = True
            else:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                        {"k": ADVISORY_KEY}).scalar())
        except SQLAlchemyError as exc:
            log.warning("scheduler lock connection lost: %s", _one_line(exc))
            self._drop_connection()
            got = False
        if got:
            try:
                with self.sessions() as s, s.begin():
                    self._write_row(s, now, taking=not self.is_leader)
            except SQLAlchemyError as exc:        # informational only; the lock is what counts
                log.warning("could not record the scheduler lease: %s", _one_line(exc))
        if got and not self.is_leader:
            self.since = now
            log.info("scheduler %s now leads (advisory lock)", self.name)
        elif self.is_leader and not got:
            log.warning("scheduler %s no longer leads", self.name)
            self.since = None
        self.is_leader = got
        return got

    def release(self) -> None:
        if self.is_leader:
            self._clear_row()
            try:
                self._connection().execute(text("SELECT pg_advisory_unlock(:k)"),
                                           {"k": ADVISORY_KEY})
            except SQLAlchemyError:
                pass
        self.is_leader = False
        self.since = None
        self._drop_connection()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except SQLAlchemyError:
                pass
            self._conn = None


def make_leader(sessions: sessionmaker[Session], url: str, **kw) -> Leader:
    if url.startswith("postgresql"):
        return PgAdvisoryLeader(sessions, url, **kw)
    return SqliteLeaseLeader(sessions, **kw)


def current_lease(session: Session) -> SchedulerLease | None:
    return session.scalar(select(SchedulerLease).where(SchedulerLease.name == LEASE_NAME))


def advisory_lock_held(session: Session) -> bool | None:
    """PostgreSQL: whether some session holds this database's scheduler lock; None elsewhere.

    Advisory locks are per database, but pg_locks lists those of every database of the server:
    only this database's count (another deployment or test database may hold its own)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    hi, lo = (ADVISORY_KEY >> 32) & 0xFFFFFFFF, ADVISORY_KEY & 0xFFFFFFFF
    n = session.scalar(text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = :hi AND objid = :lo AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"hi": hi, "lo": lo})
    return bool(n)


def _one_line(exc: Exception) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__
