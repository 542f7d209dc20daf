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
userid, a bad robot key, a server IP that is not among the app's trusted IPs: `PERMANENT_CODES`),
is marked `failed` at its first such answer, logged with the reason and shown by `status`
(and `storage.outbox_queue.failed_since` for the bureau).

Waiting for one's own messages (`run-job`, `notice send`): `drain(keys=...)` sends what is due
and, while another worker (the running scheduler) holds a lease on one of the keys, looks
again every `POLL_SECONDS` instead of sleeping to the lease end, so the command returns as
soon as every key is settled by anyone; `delivery_of` then says who sent what
(`scheduler.commands.wait_delivered` does both).

Exactly once, and where it is only "at least once": a crash between queueing and sending loses
nothing (the row waits as `pending`). A crash after claiming leaves the row `sending` until its
lease expires; it is then sent again. If the crash fell between WeCom's answer and the `sent`
commit (a few milliseconds), or the HTTP answer was lost after WeCom had acted on the request,
that resend is a second copy (so is a client-level retry of a request whose answer was lost).
Sending one row per claim keeps that to at most one message per crashed worker. WeCom's
message/send drops such copies of a private message itself (the client sends
`enable_duplicate_check`); group robots have no such switch.
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

from handlers.outgoing import WeComError, WeComRateLimited
from handlers.outgoing import Outgoing
from storage.models import OutboxMessage
from storage.outbox_queue import (MAX_USERIDS, FailedDelivery, enqueue,  # noqa: F401
                                  failed_since, split_userids, to_utc)

log = logging.getLogger(__name__)

MAX_AGE = dt.timedelta(hours=6)          # give up on a message this long after it was queued
LEASE = dt.timedelta(minutes=5)          # a claimed row not marked sent by then is resent
BACKOFF_BASE = dt.timedelta(seconds=5)
BACKOFF_CAP = dt.timedelta(minutes=10)
RATE_LIMIT_WAIT = dt.timedelta(seconds=60)
ROBOT_PER_MINUTE = 20                    # WeCom: a group robot takes 20 messages a minute
RATE_LIMIT_CODES = (45009, 45033, 130101)
# Refusals that will not change by retrying (WeCom's global error codes): they fail the row at
# once. The message: invalid userid(s) / all recipients invalid or out of the app's visible
# range (40003, 40031, 46004, 60011, 81013, 82001), bad message type, image, characters or
# parameters (40008, 40009, 40033, 40035, 40058), empty, too long or refused content (44004,
# 45002, 82004), an invalid robot key (93000). The deployment, until an administrator acts: the
# secret rejected by gettoken or again right after a fresh token (40001), a wrong corp id or
# agent id (40013, 40056), an API the app may not call or whose permission was withdrawn, a
# disabled app (48002, 48006, 50003), this server's IP not among the app's trusted IPs (60020).
# Retried instead: -1 / HTTP 5xx / network errors (with backoff), rate limits (a minute), and
# 40014 / 42001 (the client has fetched a new token; a second refusal backs off and retries).
PERMANENT_CODES = frozenset({40001, 40003, 40008, 40009, 40013, 40031, 40033, 40035, 40056,
                             40058, 44004, 45002, 46004, 48002, 48006, 50003, 60011, 60020,
                             81013, 82001, 82004, 93000})
# What an operator does about the commonest of them, stored with the error.
HINTS = {
    40001: "check [wecom] secret",
    40013: "check [wecom] corp_id",
    40056: "check [wecom] agent_id",
    48002: "the app lacks the permission for this API",
    50003: "the app is disabled in the WeCom admin console",
    60011: "the recipient is outside the app's visible range",
    60020: "add this server's IP to the app's trusted IPs (企业可信IP) in the WeCom admin console",
    81013: "no recipient is a valid userid in the app's visible range",
    93000: "the group robot's key is invalid (robot removed?): check [[groups]] robot_key",
}
POLL_SECONDS = 0.3                       # how often a waiting command looks at rows another
                                         # worker holds
_PG_CLAIM_LOCK = 0x6D63_6F62             # "mcob": serialises claims (robot rate counts)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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

    def drain(self, *, keys: Iterable[str] | None = None, timeout: float = 60.0,
              poll: float | None | str = "auto") -> DrainResult:
        """Sends until nothing (of `keys`, if given) is waiting, sleeping to each next retry.

        A row another worker holds (`sending`, its lease not over) is that worker's to settle:
        with `poll` (by default `POLL_SECONDS` when `keys` are given: a command waiting for
        its own messages), this looks again every `poll` seconds and returns once it is
        settled; with `poll=None` (the default without `keys`), it sleeps to the lease end and
        then sends the row itself. Stops after `timeout` seconds of the worker's clock; what
        is left stays queued.
        """
        keys = list(keys) if keys is not None else None
        if poll == "auto":
            poll = POLL_SECONDS if keys is not None else None
        total = DrainResult()
        start = self._now()
        wall_deadline = time.monotonic() + timeout + 30     # a safety net for odd clocks
        while True:
            total.add(self.run_once())
            waiting, held = self._waiting(keys)
            if waiting is None:
                return total
            now = self._now()
            elapsed = (now - start).total_seconds()
            if elapsed >= timeout or time.monotonic() > wall_deadline:
                return total
            pause = max(0.0, (waiting - now).total_seconds())
            if poll is not None and held:
                pause = min(pause, poll)
            pause = min(pause, timeout - elapsed)
            self.sleep(max(pause, 0.05))
            if self._now() <= now and waiting > now:
                # Time does not move (a no-op sleep on a fixed clock): what is due is sent.
                return total

    def next_due(self, keys: list[str] | None = None) -> dt.datetime | None:
        """When the earliest unfinished row (of `keys`) may be tried next; None if none waits."""
        return self._waiting(keys)[0]

    def _waiting(self, keys: list[str] | None) -> tuple[dt.datetime | None, bool]:
        """`next_due`, and whether another worker's lease holds one of those rows now."""
        if keys is not None and not keys:
            return None, False
        now = self._now()
        with self.sessions() as s:
            q = select(OutboxMessage.status, OutboxMessage.next_attempt_at,
                       OutboxMessage.claimed_until).where(
                OutboxMessage.status.in_(("pending", "sending")))
            if keys is not None:
                q = q.where(OutboxMessage.dedupe_key.in_(keys))
            rows = s.execute(q).all()
        times = [(cu if st == "sending" and cu else na) for st, na, cu in rows]
        held = any(st == "sending" and cu is not None and cu >= now for st, _na, cu in rows)
        return (min(times) if times else None), held

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
        # A ValueError is the client refusing the row itself (no userid, no key, bad base64).
        permanent = code in PERMANENT_CODES or (isinstance(exc, ValueError)
                                                and not _is_transport_error(exc))
        if code in HINTS:
            hint = f" ({HINTS[code]})"
            error = error[:480 - len(hint)] + hint
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


def held_messages(session: Session, limit: int = 20) -> list[OutboxMessage]:
    """Rows being sent: each under its worker's lease (`claimed_by`, until `claimed_until`)."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == "sending")
                                .order_by(OutboxMessage.id).limit(limit)))


def retrying_messages(session: Session, limit: int = 20) -> list[OutboxMessage]:
    """Pending rows that have failed at least once (their last error says why), oldest first."""
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.attempts > 0,
        OutboxMessage.last_error.is_not(None))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)))


# --- what became of one command's messages ------------------------------------------------

def process_of(worker: str | None) -> str:
    """`host:pid` of a worker or leader name (`host:pid:suffix`, see `worker_id`)."""
    return (worker or "").rsplit(":", 1)[0]


@dataclass
class Delivery:
    """The messages one command queued, once it has waited for them: who sent how many, which
    failed (key, reason) and which are still waiting (key, status, last error)."""
    queued: int = 0
    sent_here: int = 0
    sent_by_scheduler: int = 0
    sent_by_others: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str, str | None]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.sent_here + self.sent_by_scheduler + self.sent_by_others

    @property
    def ok(self) -> bool:
        return not self.failed and not self.waiting

    def describe(self) -> str:
        """`sent 3, 5 by the running scheduler, 1 failed, 2 not delivered yet`."""
        parts = [f"sent {self.sent_here}"]
        if self.sent_by_scheduler:
            parts.append(f"{self.sent_by_scheduler} by the running scheduler")
        if self.sent_by_others:
            parts.append(f"{self.sent_by_others} by another worker")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.waiting:
            parts.append(f"{len(self.waiting)} not delivered yet")
        return ", ".join(parts)

    def warning(self) -> str | None:
        """One line for stderr about what did not go out, or None."""
        if self.ok:
            return None
        left = len(self.failed) + len(self.waiting)
        worst = next((e for _k, e in self.failed if e), None) or next(
            (e for _k, _s, e in self.waiting if e), "no answer yet")
        line = f"warning: {left} message(s) not delivered ({len(self.failed)} failed): {worst}"
        if self.waiting:
            return line + "; pending ones stay queued for the scheduler (see `status`)"
        return line + " (see `status`)"


def delivery_of(session: Session, keys: Iterable[str], worker: str,
                scheduler: str | None = None) -> Delivery:
    """What became of the rows `keys`: sent by `worker` (this process), by the process of
    `scheduler` (the leading scheduler's name), by someone else; failed; still waiting."""
    keys = list(dict.fromkeys(keys))
    result = Delivery(queued=len(keys))
    if not keys:
        return result
    leader = process_of(scheduler) if scheduler else None
    rows = session.execute(
        select(OutboxMessage.dedupe_key, OutboxMessage.status, OutboxMessage.claimed_by,
               OutboxMessage.last_error).where(OutboxMessage.dedupe_key.in_(keys))
        .order_by(OutboxMessage.id)).all()
    for key, status, by, error in rows:
        if status == "sent":
            if by == worker:
                result.sent_here += 1
            elif leader is not None and process_of(by) == leader:
                result.sent_by_scheduler += 1
            else:
                result.sent_by_others += 1
        elif status == "failed":
            result.failed.append((key, error or "failed"))
        else:
            result.waiting.append((key, status, error))
    return result
