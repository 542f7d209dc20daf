"""What a chat module for the district's other jobs is handed: one message, in its transaction."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
    chat_id: str | None = None   # the group chat a message came from (the 智能机器人's chatid)

    @property
    def utc_now(self) -> dt.datetime:
        return to_utc(self.now)
