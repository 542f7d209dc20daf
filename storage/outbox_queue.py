"""Queueing an outbound message: a row in the outbox, in the caller's transaction.

Whoever decides to send something (a daily job, a fever alert, a notice, a chat answer that
alerts someone) calls `enqueue` inside its own database transaction, so the message exists
exactly when the decision does; `scheduler.outbox.OutboxWorker` delivers it.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.clock import to_utc
from handlers.outgoing import Outgoing
from storage.models import OutboxMessage

MAX_USERIDS = 1000                       # message/send takes at most 1000 userids per call


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


# --- failed deliveries, for the bureau (digest, dashboard) --------------------------------

@dataclass(frozen=True)
class FailedDelivery:
    """A message the outbox gave up on: when it was queued, what decided it (`source`: alert,
    remind, digest, ...), to whom (`target`: "wangxz +2", or the group's name), why."""
    id: int
    created_at: dt.datetime              # naive UTC, as stored
    source: str
    channel: str
    target: str
    errcode: int | None                  # WeCom's errcode, if WeCom answered one
    error: str                           # the whole reason (errcode, errmsg, a hint)


_ERRCODE = re.compile(r"\berrcode (-?\d+)")


def failed_since(session: Session, since: dt.datetime, *,
                 robot_names: Mapping[str, str] | None = None,
                 limit: int = 200) -> list[FailedDelivery]:
    """Messages queued at or after `since` that ended `failed`, oldest first.

    Robot keys never leave this function: a group target is named by `robot_names`
    (robot key → the group's scope, e.g. from `[[groups]]`) or "group robot".
    """
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "failed",
                                    OutboxMessage.created_at >= to_utc(since))
        .order_by(OutboxMessage.created_at, OutboxMessage.id).limit(limit))
    out = []
    for r in rows:
        if r.channel == "group":
            target = (robot_names or {}).get(r.target) or "group robot"
        else:
            users = [u for u in r.target.split("|") if u]
            target = (users[0] if users else "?") + (
                f" +{len(users) - 1}" if len(users) > 1 else "")
        error = r.last_error or "failed"
        m = _ERRCODE.search(error)
        out.append(FailedDelivery(r.id, r.created_at, r.source, r.channel, target,
                                  int(m.group(1)) if m else None, error))
    return out
