"""The sick-absence follow-up (因病缺勤追踪) in chat: reading `张三 返校` and its answer.

`返校` closes a child's follow-up and never changes a day's health record, so a child who had
37.8 this morning and is reported back keeps that fever in the day's figures.
"""
from __future__ import annotations

import re

# Said of a student who is back at school (复课, 到校 …), without a reading.
RETURN_WORDS = ("病愈返校", "已返校", "返校", "已复课", "复课", "已到校", "到校上课")
_RETURN = re.compile("|".join(sorted(map(re.escape, RETURN_WORDS), key=len, reverse=True)))


def says_returned(text: str) -> bool:
    """The message says someone is back at school."""
    return bool(_RETURN.search(text or ""))


def closed_reply(names: list[str]) -> str:
    """已销号：张三、李四 返校，因病缺勤追踪结束。"""
    return f"已销号：{'、'.join(names)} 返校，因病缺勤追踪结束。"
