"""An outbound message as plain data: what a job or an alert wants sent, before the outbox.

`channel`: "person" (POST /cgi-bin/message/send to userids) or "group" (POST
/cgi-bin/webhook/send to a group robot). `target`: userids joined by "|" for a person message,
the robot key for a group. `msgtype`: "text", "markdown" or "image" (content: base64 PNG).
`dedupe_key` names the message's identity (e.g. "remind:2026-03-02:morning:person:lils"): the
outbox stores each key once, so a job run twice sends nothing new.

The delivery outcomes the WeCom client raises and the outbox settles by (`WeComError` and its
kinds) live here too, so `scheduler/` never imports `bot/`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    channel: str
    target: str
    msgtype: str
    content: str
    dedupe_key: str
    mentioned: tuple[str, ...] = ()


class WeComError(Exception):
    """An answer with a non-zero errcode (or -1 for a transport failure); no secrets in it."""

    def __init__(self, errcode: int, errmsg: str):
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeCom errcode {errcode}: {errmsg}")


class WeComRateLimited(WeComError):
    """45009 / 45033 / 130101: an API frequency limit or a group robot's 20 messages a minute.
    Not retried here: the caller (the outbox) decides when to resend."""


class WeComUnavailable(WeComError):
    """Network errors, timeouts, HTTP 5xx or errcode -1 that outlasted the retries."""
