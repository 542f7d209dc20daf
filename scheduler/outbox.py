"""The outbox: every outbound WeCom message is a row first, then a delivery.

Whoever decides to send something (a daily job, a fever alert) calls `enqueue` inside its own
database transaction, so the message exists exactly when the decision does. `dedupe_key` is
unique: queueing the same message again stores nothing new.

`OutboxWorker` delivers. It claims ONE due row at a time in a short transaction (PostgreSQL:
`FOR UPDATE SKIP LOCKED`, plus a transaction-scoped advisory lock that serialises the group-robot
rate count; SQLite: `BEGIN IMMEDIATE`, one writer anyway), marks it `sending` with a lease,
commits, sends it, and commits `sent` right after the answer. Errors put the row back to
`pending` with an exponential backoff; WeCom's rate limits (45009 / 130101) wait a minute and
resend; a row still undelivered `MAX_AGE` after it was queued, or refused for good (a bad
userid, a bad robot key), is marked `failed`, logged and shown by `status`.

Exactly once, and where it is only "at least once": a crash between queueing and sending loses
nothing (the row waits as `pending`). A crash after claiming leaves the row `sending` until its
lease expires; it is then sent again. If the crash fell between WeCom's answer and the `sent`
commit (a few milliseconds), or the HTTP answer was lost after WeCom had acted on the request,
that resend is a second copy (so is a client-level retry of a request whose answer was lost).
Sending one row per claim keeps that to at most one message per crashed worker. WeCom's
message/send can drop such copies itself (`enable_duplicate_check`), but the client does not
send that flag yet; group robots have no such switch.
"""
from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.wecom.client import WeComError, WeComRateLimited
from handlers.outgoing import Outgoing
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_AGE = dt.timedelta(hours=6)          # give up on a message this long after it was queued
LEASE = dt.timedelta(minutes=5)          # a claimed row not marked sent by then is resent
BACKOFF_BASE = dt.timedelta(seconds=5)
BACKOFF_CAP = dt.timedelta(minutes=10)
RATE_LIMIT_WAIT = dt.timedelta(seconds=60)
ROBOT_PER_MINUTE = 20                    # WeCom: a group robot takes 20 messages a minute
RATE_LIMIT_CODES = (45009, 45033, 130101)
# Refusals that will not change by retrying: invalid userid / all recipients invalid, bad
# message type, invalid image, empty or too long content, invalid parameter, invalid robot key.
PERMANENT_CODES = frozenset({40003, 40008, 40009, 40058, 44004, 45002, 81013, 93000})
MAX_USERIDS = 1000                       # message/send takes at most 1000 userids per call
_PG_CLAIM_LOCK = 0x6D63_6F62             # "mcob": serialises claims (robot rate counts)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def to_utc(t: dt.datetime) -> dt.datetime:
    """Naive UTC, as every datetime is stored."""
    if t.tzinfo is None:
        return t
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


# --- queueing ----------------------------------------------------------------------------

def enqueue(session: Session, messages: Iterable[Outgoing], *, source: str,
            now: dt.datetime) -> list[str]:
    """Queues each message unless its dedupe_key is stored already; returns the new keys.

    Runs in the caller's transaction (INSERT … ON CONFLICT DO NOTHING on both backends, so a
    racing transaction with the same key waits for the other and then stores nothing).
    """
    now = to_utc(now)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    queued = []
    for m in messages:
        if len(m.dedupe_key) > 200:
            raise ValueError(f"dedupe key too long: {m.dedupe_key[:60]}…")
        if m.channel not in ("person", "group") or m.msgtype not in ("text", "markdown", "image"):
            raise ValueError(f"cannot send {m.channel}/{m.msgtype} ({m.dedupe_key})")
        stmt = insert(OutboxMessage).values(
            dedupe_key=m.dedupe_key, source=source[:32], channel=m.channel, target=m.target,
            msgtype=m.msgtype, content=m.content, mentioned="|".join(m.mentioned),
            status="pending", attempts=0, next_attempt_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(OutboxMessage.id)
        if session.execute(stmt).scalar() is not None:
            queued.append(m.dedupe_key)
    return queued


def split_userids(userids: Iterable[str], size: int = MAX_USERIDS) -> list[list[str]]:
    ids = list(dict.fromkeys(u for u in userids if u))
    return [ids[i:i + size] for i in range(0, len(ids), size)]


# --- delivery ----------------------------------------------------------------------------

_SECRETS = re.compile(r"(access_token|corpsecret|secret|key|token)=([^&\s'\"]+)", re.I)


def clean_error(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """One line about an error, with tokens, secrets and robot keys blanked out."""
    errcode = getattr(exc, "errcode", None)
    errmsg = getattr(exc, "errmsg", None)
    if errcode is not None:
        msg = f"errcode {errcode}: {errmsg or ''}".strip()
    else:
        msg = f"{type(exc).__name__}: {exc}"
    msg = _SECRETS.sub(lambda m: f"{m.group(1)}=***", msg)
    for s in secrets:
        if s and len(s) >= 4:
            msg = msg.replace(s, "***")
    msg = " ".join(msg.split())
    return msg[:480]


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    keys_sent: list[str] = field(default_factory=list)

    def add(self, other: "DrainResult") -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.deferred += other.deferred
        self.keys_sent += other.keys_sent


@dataclass(frozen=True)
class _Claimed:
    id: int
    dedupe_key: str
    channel: str
    target: str
    msgtype: str
    content: str
    mentioned: tuple[str, ...]
    attempts: int
    created_at: dt.datetime
    last_error: str | None


class OutboxWorker:
    """Delivers due outbox rows through a WeComClient; safe to run in several processes."""

    def __init__(self, sessions: sessionmaker[Session], client, *,
                 clock: Callable[[], dt.datetime] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 name: str | None = None, max_age: dt.timedelta = MAX_AGE,
                 lease: dt.timedelta = LEASE, robot_per_minute: int = ROBOT_PER_MINUTE,
                 secrets: Iterable[str] = ()):
        self.sessions = sessions
        self.client = client
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.sleep = sleep
        self.name = name or worker_id()
        self.max_age = max_age
        self.lease = lease
        self.robot_per_minute = robot_per_minute
        self.secrets = tuple(secrets)
        # Hooks for tests that simulate a crash at a precise point.
        self.before_send: Callable[[_Claimed], None] | None = None
        self.after_send: Callable[[_Claimed], None] | None = None

    def _now(self) -> dt.datetime:
        return to_utc(self.clock())

    # One pass: claim, send and settle due rows until none is due or `limit` is reached.
    def run_once(self, limit: int = 500) -> DrainResult:
        result = DrainResult()
        blocked: set[tuple[str, str]] = set()      # (channel, target) rate-limited this pass
        for _ in range(limit):
            claimed = self._claim(blocked, result)
            if claimed is None:
                break
            self._deliver(claimed, blocked, result)
        return result

    def drain(self, *, keys: Iterable[str] | None = None, timeout: float = 60.0) -> DrainResult:
        """Sends until nothing (of `keys`, if given) is waiting, sleeping to each next retry.

        Stops after `timeout` seconds of the worker's clock; what is left stays queued.
        """
        keys = list(keys) if keys is not None else None
        total = DrainResult()
        start = self._now()
        wall_deadline = time.monotonic() + timeout + 30     # a safety net for odd clocks
        while True:
            total.add(self.run_once())
            waiting = self.next_due(keys)
            if waiting is None:
                return total
            now = self._now()
            if (now - start).total_seconds() >= timeout or time.monotonic() > wall_deadline:
                return total
            pause = max(0.0, (waiting - now).total_seconds())
            pause = min(pause, timeout - (now - start).total_seconds())
            self.sleep(max(pause, 0.05))
            if self._now() <= now and waiting > now:
                # Time does not move (a no-op sleep on a fixed clock): what is due is sent.
                return total

    def next_due(self, keys: list[str] | None = None) -> dt.datetime | None:
        """When the earliest unfinished row (of `keys`) may be tried next; None if none waits."""
        with self.sessions() as s:
            q = select(OutboxMessage.status, OutboxMessage.next_attempt_at,
                       OutboxMessage.claimed_until).where(
                OutboxMessage.status.in_(("pending", "sending")))
            if keys is not None:
                if not keys:
                    return None
                q = q.where(OutboxMessage.dedupe_key.in_(keys))
            times = [(cu if st == "sending" and cu else na) for st, na, cu in s.execute(q)]
        return min(times) if times else None

    # --- claim ---------------------------------------------------------------------------

    def _claim(self, blocked: set, result: DrainResult) -> _Claimed | None:
        now = self._now()
        with self.sessions() as s, s.begin():
            pg = s.get_bind().dialect.name == "postgresql"
            if pg:
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CLAIM_LOCK})
            due = or_(
                and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now),
            )
            q = (select(OutboxMessage).where(due)
                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(50))
            if pg:
                q = q.with_for_update(skip_locked=True)
            for row in s.scalars(q):
                if (row.channel, row.target) in blocked or (
                        row.channel == "person" and ("person", "*") in blocked):
                    continue
                if row.status == "sending":
                    # Its worker died or stalled mid-delivery: it may or may not have gone out.
                    log.warning("outbox #%s %s: lease expired while sending, sending again",
                                row.id, row.dedupe_key)
                    row.last_error = "interrupted while sending; sent again"
                if row.channel == "group":
                    free_at = self._robot_free_at(s, row.target, now)
                    if free_at is not None:
                        row.status = "pending"
                        row.next_attempt_at = free_at
                        row.claimed_until = None
                        blocked.add((row.channel, row.target))
                        result.deferred += 1
                        continue
                row.status = "sending"
                row.attempts += 1
                row.claimed_by = self.name
                row.claimed_until = now + self.lease
                return _Claimed(row.id, row.dedupe_key, row.channel, row.target, row.msgtype,
                                row.content, tuple(m for m in row.mentioned.split("|") if m),
                                row.attempts, row.created_at, row.last_error)
        return None

    def _robot_free_at(self, s: Session, key: str, now: dt.datetime) -> dt.datetime | None:
        """None if the robot may send now, else when it may (20 a minute, counted in the DB)."""
        window = now - dt.timedelta(seconds=60)
        recent = list(s.scalars(
            select(OutboxMessage.sent_at).where(
                OutboxMessage.channel == "group", OutboxMessage.target == key,
                OutboxMessage.status == "sent", OutboxMessage.sent_at > window)
            .order_by(OutboxMessage.sent_at.desc()).limit(self.robot_per_minute)))
        in_flight = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.channel == "group", OutboxMessage.target == key,
            OutboxMessage.status == "sending", OutboxMessage.claimed_until >= now)) or 0
        if len(recent) + in_flight < self.robot_per_minute:
            return None
        if len(recent) < self.robot_per_minute:      # the in-flight ones: look again shortly
            return now + dt.timedelta(seconds=2)
        return recent[-1] + dt.timedelta(seconds=60, milliseconds=1)

    # --- send and settle -----------------------------------------------------------------

    def _deliver(self, m: _Claimed, blocked: set, result: DrainResult) -> None:
        if self.before_send:
            self.before_send(m)
        try:
            self._send(m)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
            self._settle_error(m, exc, blocked, result)
            return
        if self.after_send:
            self.after_send(m)
        self._settle_sent(m, result)

    def _send(self, m: _Claimed) -> None:
        c = self.client
        if m.channel == "person":
            users = [u for u in m.target.split("|") if u]
            if m.msgtype == "markdown":
                c.message_send_markdown(users, m.content)
            else:
                c.message_send_text(users, m.content)
            return
        if m.msgtype == "text":
            c.webhook_send_text(m.target, m.content, mentioned_list=list(m.mentioned) or None)
        elif m.msgtype == "markdown":
            c.webhook_send_markdown(m.target, m.content)
        else:
            c.webhook_send_image(m.target, base64.b64decode(m.content))

    def _settle_sent(self, m: _Claimed, result: DrainResult) -> None:
        now = self._now()
        with self.sessions() as s, s.begin():
            row = s.get(OutboxMessage, m.id)
            row.status = "sent"
            row.sent_at = now
            row.claimed_until = None
        result.sent += 1
        result.keys_sent.append(m.dedupe_key)

    def _settle_error(self, m: _Claimed, exc: Exception, blocked: set,
                      result: DrainResult) -> None:
        now = self._now()
        error = clean_error(exc, self.secrets)
        code = getattr(exc, "errcode", None)
        if not isinstance(exc, WeComError):
            log.warning("outbox #%s %s: %s", m.id, m.dedupe_key, error,
                        exc_info=not _is_transport_error(exc))
        rate_limited = isinstance(exc, WeComRateLimited) or code in RATE_LIMIT_CODES
        permanent = code in PERMANENT_CODES
        too_old = now - m.created_at >= self.max_age
        with self.sessions() as s, s.begin():
            row = s.get(OutboxMessage, m.id)
            row.last_error = error
            row.claimed_until = None
            if permanent or too_old:
                row.status = "failed"
                result.failed += 1
                log.error("outbox #%s %s failed after %s attempt(s): %s", m.id, m.dedupe_key,
                          m.attempts, error)
                return
            row.status = "pending"
            if rate_limited:
                row.next_attempt_at = now + RATE_LIMIT_WAIT
                blocked.add((m.channel, m.target))
                if m.channel == "person":        # the app's own limit: hold every person row
                    blocked.add(("person", "*"))
                log.info("outbox #%s rate limited (%s), retrying in %ss", m.id, code,
                         RATE_LIMIT_WAIT.seconds)
            else:
                delay = min(BACKOFF_BASE * (2 ** max(0, m.attempts - 1)), BACKOFF_CAP)
                row.next_attempt_at = now + delay
                log.info("outbox #%s %s: %s; retry %s in %ss", m.id, m.dedupe_key, error,
                         m.attempts + 1, int(delay.total_seconds()))
            if row.next_attempt_at - m.created_at > self.max_age:
                row.next_attempt_at = m.created_at + self.max_age
            result.retried += 1


def _is_transport_error(exc: Exception) -> bool:
    mod = type(exc).__module__ or ""
    return mod.startswith(("requests", "urllib3", "http", "socket")) or isinstance(exc, OSError)


# --- reading for `status` ----------------------------------------------------------------

@dataclass(frozen=True)
class Backlog:
    pending: int
    sending: int
    failed: int
    sent: int
    oldest_pending: dt.datetime | None


def backlog(session: Session) -> Backlog:
    counts = dict(session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    oldest = session.scalar(select(func.min(OutboxMessage.created_at)).where(
        OutboxMessage.status.in_(("pending", "sending"))))
    return Backlog(counts.get("pending", 0), counts.get("sending", 0), counts.get("failed", 0),
                   counts.get("sent", 0), oldest)


def failed_messages(session: Session, limit: int = 20) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")
                                .order_by(OutboxMessage.id.desc()).limit(limit)))
