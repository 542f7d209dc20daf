"""Chat for the district's other jobs (CONTRACT.md, "The district's other jobs").

The parser names a message's topic (`kind == "other"`: leave, whereabouts, supplies,
checklist); `answer_topic` hands it to that topic's chat module, which checks the sender's
rights, stores what the message says and composes the answer, all inside the message's own
transaction (so the answer, the stored state and any alert it queues commit together).
`answer_chatter` gives the modules that read plain chatter (a principal's `收到` for a notice)
their turn before the bot stays silent.

Each chat module exposes `answer(ctx: TopicContext) -> str | None` (None: stay silent).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.orm import Session

from handlers.clock import to_utc
from handlers.config import Config
from handlers.parser import ParseResult


@dataclass(frozen=True)
class TopicContext:
    session: Session
    config: Config
    sender: object               # storage.models.Person of the sender (active, on the roster)
    result: ParseResult
    text: str                    # the message as written
    now: dt.datetime             # aware, local
    today: dt.date
    in_group: bool
    msg_id: int

    @property
    def utc_now(self) -> dt.datetime:
        return to_utc(self.now)


# topic → the chat module's `answer`; filled in below as each topic's module exists.
TOPICS: dict[str, Callable[[TopicContext], str | None]] = {}
# modules that may answer chatter (`unrecognized`), in order; the first answer wins.
CHATTER: list[Callable[[TopicContext], str | None]] = []


def answer_topic(ctx: TopicContext) -> str | None:
    handler = TOPICS.get(ctx.result.topic or "")
    if handler is None:
        return None
    return handler(ctx)


def answer_chatter(ctx: TopicContext) -> str | None:
    for handler in CHATTER:
        reply = handler(ctx)
        if reply is not None:
            return reply
    return None


from bot import chat_notices  # noqa: E402 - registers after the tables above exist

TOPICS["checklist"] = chat_notices.answer_checklist
CHATTER.append(chat_notices.answer_chatter)

from bot import chat_whereabouts  # noqa: E402 - registers after the tables above exist

TOPICS.update(leave=chat_whereabouts.answer_leave, whereabouts=chat_whereabouts.answer_whereabouts)

from bot import chat_supplies  # noqa: E402 - registers after the tables above exist

TOPICS["supplies"] = chat_supplies.answer
