"""The objects one app (or one scheduler process) shares: config, database, crypto, inbox.

Built once per process by `Services.build` and reached in request handlers via `services()`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.enterprise.crypto import WeChatCrypto

from handlers.config import Config
from bot.inbox import Inbox
from storage.db import make_engine, make_sessionmaker

EXTENSION = "morning_check"


@dataclass
class Services:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    crypto: WeChatCrypto
    inbox: Inbox
    clock: Callable[[], dt.datetime]
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, *, clock: Callable[[], dt.datetime] | None = None,
              pool_size: int = 5, hooks=None) -> "Services":
        engine = make_engine(config.database_url, pool_size=pool_size)
        sessions = make_sessionmaker(engine)
        clock = clock or config.now
        crypto = WeChatCrypto(config.wecom.token, config.wecom.encoding_aes_key,
                              config.wecom.corp_id)
        if hooks is None:
            from scheduler.alerts import FeverAlerts
            hooks = [FeverAlerts(config)]      # fever and cluster alerts, queued in the outbox
        inbox = Inbox(config, sessions, clock=clock, hooks=hooks)
        return cls(config, engine, sessions, crypto, inbox, clock)

    def close(self) -> None:
        self.engine.dispose()


def services() -> Services:
    return current_app.extensions[EXTENSION]
