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

from typing import Callable

from bot import chat_notices, chat_supplies, chat_whereabouts
from bot.topic_context import TopicContext

__all__ = ["TOPICS", "CHATTER", "TopicContext", "answer_topic", "answer_chatter"]

# topic → the chat module's `answer`
TOPICS: dict[str, Callable[[TopicContext], str | None]] = {
    "leave": chat_whereabouts.answer_leave,
    "whereabouts": chat_whereabouts.answer_whereabouts,
    "supplies": chat_supplies.answer,
    "checklist": chat_notices.answer_checklist,
}
# modules that may answer chatter (`unrecognized`), in order; the first answer wins.
CHATTER: list[Callable[[TopicContext], str | None]] = [chat_notices.answer_chatter]


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
