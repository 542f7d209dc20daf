"""Groups carry figures, never health: every command and report kind @-mentioned in a school
group through /wecom/aibot, and no reply names another person in full, or shows anyone's
temperature or symptoms but the sender's own. What the group may not see goes privately."""
from __future__ import annotations

import re

from sqlalchemy import select

from storage.models import OutboxMessage
from tests.test_dialogs import say_in_group

NAMES = {"陈局长": "chenju", "王校长": "wangxz", "李老师": "lils", "张老师": "zhangls",
         "张三": None, "李四": None, "欧阳明月": None, "赵老师": "zhaols", "王五": None}
SYMPTOMS = ("咳嗽", "发热", "发烧", "乏力", "咽痛")
TEMPERATURE = re.compile(r"\d{2}\.\d℃")

# (sender, text, the sender's own reading may show)
STEPS = [
    ("zhangls", "@晨检 37.8 咳嗽", True),
    ("lils", "@晨检 36.6", True),
    ("lils", "@晨检 张三 37.9 咳嗽，李四 36.5", False),
    ("lils", "@晨检 李四 38.2", False),
    ("lils", "@晨检 三年级2班 应到3 实到2 病假1 发热1", False),
    ("lils", "@晨检 王五 36.5", False),                     # not her class
    ("lils", "@晨检 体温3.65", True),                       # refused: her own reading
    ("lils", "@晨检 统计", False),
    ("lils", "@晨检 谁没报", False),
    ("lils", "@晨检 查询", False),
    ("lils", "@晨检 撤销", False),
    ("lils", "@晨检 张三 返校", False),
    ("wangxz", "@晨检 统计", False),
    ("wangxz", "@晨检 谁没报", False),
    ("wangxz", "@晨检 查询", False),
    ("wangxz", "@晨检 帮助", False),
    ("zhangls", "@晨检 统计", False),
    ("zhangls", "@晨检 撤销", True),
    ("chenju", "@晨检 统计", False),
]


def test_no_group_reply_carries_anyone_elses_health(world):
    for sender, text, own_reading in STEPS:
        reply = say_in_group(world, sender, text)
        me = next(n for n, u in NAMES.items() if u == sender)
        for name in NAMES:
            if name != me and not text.endswith("帮助"):     # help's examples are no people
                assert name not in reply, (sender, text, reply)
        if not own_reading and not text.endswith("帮助"):
            assert not TEMPERATURE.search(reply), (sender, text, reply)
        for line in reply.splitlines():
            if "*" in line:                               # a masked name: nothing health next to it
                assert not any(s in line for s in SYMPTOMS), (sender, text, line)
                assert "班" not in line.split("*")[-1][:8] or "班级" in line, (sender, text, line)


def test_what_the_group_did_not_see_goes_to_the_sender_privately(world):
    say_in_group(world, "lils", "@晨检 张三 37.9 咳嗽")
    reply = say_in_group(world, "lils", "@晨检 查询")
    assert "详情已私信" in reply
    stats = say_in_group(world, "wangxz", "@晨检 统计")
    assert "张*" in stats and "详情已私信" in stats and "37.9" not in stats
    with world.services.sessions() as s:
        private: dict[str, str] = {}
        for m in s.scalars(select(OutboxMessage).where(OutboxMessage.source == "reply")):
            private[m.target] = private.get(m.target, "") + m.content + "\n"
    assert "张三 体温37.9℃" in private["lils"]          # the recorded report, in full
    assert "您近7天的记录" in private["lils"]
    assert "· 张三（三年级2班）体温37.9℃" in private["wangxz"]
