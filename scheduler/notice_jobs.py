"""Delivering bureau notices: the one reminder per principal, and `notice send`'s wait.

- `notice_reminders(session, config, now)`: the reminders due now (`[notices] remind_after`
  after a notice, to each principal who has not acknowledged it), marked as sent in the same
  transaction. Exactly one per principal and notice: the delivery row's `reminded_at` is
  claimed once, and the reminder's dedupe key `notice:<id>:remind:<userid>` is unique in the
  outbox. `queue_notice_reminders` is its transaction; the scheduler's outbox poll calls it.
- `send_notice(...)`: `notice send` — queues the notice (`storage.notices.queue_notice`) in
  one transaction, then delivers exactly its messages through the outbox worker, waiting out
  retries up to `timeout`; what is still undelivered then stays queued for the scheduler.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers import notices as words
from handlers.config import Config
from handlers.outgoing import Outgoing
from storage.models import OutboxMessage
from storage.notices import QueuedNotice, claim_reminders, queue_notice
from storage.outbox_queue import enqueue

DELIVERY_TIMEOUT = 150.0       # as run-job: a rate-limit minute and a few backoffs


def notice_reminders(session: Session, config: Config, now: dt.datetime) -> list[Outgoing]:
    """The reminders due at `now`; the caller queues them in this same transaction."""
    due = claim_reminders(session, now=now, remind_after=config.notices.remind_after,
                          tz=config.tz)
    return [Outgoing("person", r.userid, "text",
                     words.reminder_text(r.notice_id, r.title, r.sent_at),
                     f"notice:{r.notice_id}:remind:{r.userid}")
            for r in due]


def queue_notice_reminders(sessions, config: Config, now: dt.datetime) -> list[str]:
    """Claims and queues the due reminders in one transaction; returns the queued keys."""
    with sessions() as s, s.begin():
        return enqueue(s, notice_reminders(s, config, now), source="notice-remind", now=now)


@dataclass(frozen=True)
class SendResult:
    notice: QueuedNotice
    sent: int                                   # outbox rows delivered while we waited
    unsent: list[tuple[str, str, str | None]]   # (dedupe key, status, last error)
    described: str = ""                         # "sent 3, 5 by the running scheduler"


def send_notice(config: Config, sessions, client, *, title: str, body: str,
                audience: str = "principals", sent_by_id: int | None = None,
                clock: Callable[[], dt.datetime] | None = None,
                sleep: Callable[[float], None] = time.sleep,
                timeout: float = DELIVERY_TIMEOUT) -> SendResult:
    """Queues a notice and delivers it, done as soon as every message is settled by anyone (a
    running scheduler may send some); raises storage.notices.NoticeError for a bad one."""
    from scheduler.commands import wait_delivered

    clock = clock or config.now
    with sessions() as s, s.begin():
        queued = queue_notice(s, config, title=title, body=body, audience=audience,
                              sent_by_id=sent_by_id, now=clock())
    delivery = wait_delivered(config, sessions, queued.keys, client, clock=clock, sleep=sleep,
                              timeout=timeout)
    return SendResult(queued, delivery.sent, unsent(sessions, queued.keys), delivery.describe())


def unsent(sessions, keys: list[str]) -> list[tuple[str, str, str | None]]:
    if not keys:
        return []
    with sessions() as s:
        return [tuple(r) for r in s.execute(
            select(OutboxMessage.dedupe_key, OutboxMessage.status, OutboxMessage.last_error)
            .where(OutboxMessage.dedupe_key.in_(keys), OutboxMessage.status != "sent"))]
