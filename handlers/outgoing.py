"""An outbound message as plain data: what a job or an alert wants sent, before the outbox.

`channel`: "person" (POST /cgi-bin/message/send to userids) or "group" (POST
/cgi-bin/webhook/send to a group robot). `target`: userids joined by "|" for a person message,
the robot key for a group. `msgtype`: "text", "markdown" or "image" (content: base64 PNG).
`dedupe_key` names the message's identity (e.g. "remind:2026-03-02:morning:person:lils"): the
outbox stores each key once, so a job run twice sends nothing new.
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
