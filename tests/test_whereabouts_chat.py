"""Leave and whereabouts in chat: dialog tables for each wording and role, and refusals.

Through the real webhook: private chat with the app, or an @-mention of the 智能机器人 in the
school group (`handlers.parser.parse` gives these messages kind `other`, topic `leave` or
`whereabouts`; `bot.topics` hands them to `bot.chat_whereabouts`).

Each step: (sender userid, text, what the reply must contain, what it must not contain).
"""
import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from bot.wecom.signer import AibotSigner
from storage.models import Leave, OutboxMessage, Person, School, Whereabouts
from storage.whereabouts import save_leave
from tests.support import AIBOT_AES_KEY, AIBOT_TOKEN

_ids = itertools.count(50_000)


class Webhook:
    def __init__(self, world):
        self.server, self.signer = world[0], world[2]

    def say(self, userid, text, in_group=False):
        if in_group:
            aibot = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY)
            status, reply = aibot.post_text(self.server.url, "chat-school1", userid,
                                            "@晨检 " + text, msgid=f"g{next(_ids)}")
            assert status == 200
            return ((reply or {}).get("stream") or {}).get("content", "")
        status, reply = self.signer.post_text(self.server.url, userid, text, msg_id=str(next(_ids)))
        assert status == 200
        return reply or ""


@pytest.fixture
def chat(world):
    return Webhook(world)


def play(chat, steps, in_group=False):
    for sender, text, want, unwanted in steps:
        reply = chat.say(sender, text, in_group=in_group)
        for w in ([want] if isinstance(want, str) else want):
            assert w in reply, f"{sender}: {text!r} → {reply!r} lacks {w!r}"
        for u in ([unwanted] if isinstance(unwanted, str) else unwanted or []):
            assert u not in reply, f"{sender}: {text!r} → {reply!r} has {u!r}"


def leaves(world):
    with world[1].sessions() as s:
        return sorted((s.get(Person, lv.person_id).name, lv.start.isoformat(), lv.end.isoformat())
                      for lv in s.scalars(select(Leave)))


def statements(world):
    with world[1].sessions() as s:
        return [(s.get(Person, w.person_id).name, w.status, w.place, w.start.isoformat(),
                 w.end.isoformat() if w.end else None)
                for w in s.scalars(select(Whereabouts).order_by(Whereabouts.id))]


def private_messages(world, userid):
    with world[1].sessions() as s:
        return [m.content for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "person", OutboxMessage.target == userid)
            .order_by(OutboxMessage.id))]


# ------------------------------------------------------------------------------ leave

def test_leave_for_oneself_and_for_others(chat, world):
    play(chat, [
        ("zhangls", "请假", "已记录：您 2月4日 请假（1天）", None),
        ("zhangls", "明天请假", "已记录：您 2月5日 请假（1天）", None),
        ("zhaols", "我今天请假", "已记录：您 2月4日 请假", None),
        ("lils", "2月5日至7日请假", "已记录：您 2月5日至2月7日 请假（3天）", None),
        ("lils", "李四 请假至2月6日", "已记录：李四（三年级2班） 2月4日至2月6日 请假（3天）", None),
        ("lils", "欧阳明月 请假3天", "欧阳明月（三年级2班） 2月4日至2月6日", None),
        ("wangxz", "张老师 请假至2月7日", "张老师（教职工） 2月4日至2月7日 请假（4天）", None),
        ("wangxz", "王五 请假", "王五（四年级1班） 2月4日 请假", None),
        ("wangxz", "请假", "已记录：您 2月4日 请假", None),
        ("zhangls", "请假", "已登记过", None),           # the same leave again: stored once
    ])
    assert leaves(world) == sorted([
        ("张老师", "2020-02-04", "2020-02-04"), ("张老师", "2020-02-05", "2020-02-05"),
        ("赵老师", "2020-02-04", "2020-02-04"), ("李老师", "2020-02-05", "2020-02-07"),
        ("李四", "2020-02-04", "2020-02-06"), ("欧阳明月", "2020-02-04", "2020-02-06"),
        ("张老师", "2020-02-04", "2020-02-07"), ("王五", "2020-02-04", "2020-02-04"),
        ("王校长", "2020-02-04", "2020-02-04")])


def test_leave_refusals_store_nothing(chat, world):
    play(chat, [
        ("zhangls", "李四 请假", "您只能登记本人的请假和去向", "已记录"),
        ("lils", "王五 请假", "“王五”不是您班的学生（四年级1班）", "已记录"),
        ("lils", "张山 请假", "未找到“张山”，是否为：张三", "已记录"),
        ("sunxz", "王五 请假", "未找到“王五”", ["已记录", "四年级1班"]),   # another school
        ("chenju", "请假", "教育局账号不登记请假和去向", "已记录"),
        ("zhangls", "请假至2月3日", "2月3日已经过去了", "已记录"),
        ("zhangls", "2月30日请假", "不存在", "已记录"),
    ])
    assert leaves(world) == []


def test_leave_for_someone_else_in_a_group_goes_privately(chat, world):
    play(chat, [
        ("lils", "李四 请假至2月6日", ["已记录李*的请假", "详情已私信"], ["李四", "2月6日"]),
        ("zhangls", "明天请假", "已记录：您 2月5日 请假", None),     # one's own: said in the group
    ], in_group=True)
    assert leaves(world) == [("张老师", "2020-02-05", "2020-02-05"),
                             ("李四", "2020-02-04", "2020-02-06")]
    assert any("李四（三年级2班） 2月4日至2月6日 请假" in m for m in private_messages(world, "lils"))


# ------------------------------------------------------------------------------ whereabouts

def test_whereabouts_wordings_and_roles(chat, world):
    play(chat, [
        ("zhaols", "王五 在湖北未返", "已记录：王五（四年级1班） 在湖北未返（2月4日登记）", None),
        ("lils", "李四 2月1日从武汉返回",
         "李四（三年级2班） 2月1日从武汉返回，居家观察至2月14日（武汉为重点地区，自返回之日起观察14天）", None),
        ("lils", "张三 2月2日从广州返回", "张三（三年级2班） 2月2日从广州返回。", "居家观察"),
        ("zhangls", "居家观察14天", "已记录：您 2月4日起居家观察至2月17日", None),
        ("wangxz", "李四 居家观察至2月16日", "李四（三年级2班） 2月1日从武汉返回，居家观察至2月16日", None),
        ("wangxz", "赵老师 在武汉未返", "赵老师（教职工） 在武汉未返", None),
        ("lils", "李四 解除观察", "李四（三年级2班） 2月4日解除居家观察", None),
        ("lils", "李四 解除观察", "未记录：李四目前不在居家观察名单中", "已记录"),
        ("sunxz", "2月3日从武汉返回", "已记录：您 2月3日从武汉返回，居家观察至2月16日", None),
    ])
    # history kept: every statement is its own row
    assert statements(world) == [
        ("王五", "away", "湖北", "2020-02-04", None),
        ("李四", "observing", "武汉", "2020-02-01", "2020-02-14"),
        ("张三", "returned", "广州", "2020-02-02", None),
        ("张老师", "observing", None, "2020-02-04", "2020-02-17"),
        ("李四", "observing", "武汉", "2020-02-01", "2020-02-16"),
        ("赵老师", "away", "武汉", "2020-02-04", None),
        ("李四", "released", "武汉", "2020-02-04", None),
        ("孙校长", "observing", "武汉", "2020-02-03", "2020-02-16"),
    ]


def test_whereabouts_refusals(chat, world):
    play(chat, [
        ("zhangls", "李四 在湖北未返", "您只能登记本人的请假和去向", "已记录"),
        ("lils", "王五 2月1日从武汉返回", "“王五”不是您班的学生（四年级1班）", "已记录"),
        ("zhouls", "李四 居家观察14天", "未找到“李四”", "已记录"),
        ("chenju", "李四 在湖北未返", "教育局账号不登记", "已记录"),
        ("lils", "李四 2月10日从武汉返回", "晚于今天", "已记录"),
        ("zhangls", "解除观察", "未记录：您目前不在居家观察名单中", "已记录"),
    ])
    assert statements(world) == []


def test_whereabouts_of_someone_else_in_a_group(chat, world):
    play(chat, [
        ("lils", "李四 2月1日从武汉返回", ["已记录李*的去向", "详情已私信"], ["李四", "武汉"]),
        ("zhangls", "在湖北未返", "已记录：您 在湖北未返", None),
    ], in_group=True)
    assert any("李四（三年级2班） 2月1日从武汉返回" in m for m in private_messages(world, "lils"))


# ------------------------------------------------------------------------------ 摸排

@pytest.fixture
def listed(chat, world):
    play(chat, [
        ("zhaols", "王五 在湖北未返", "已记录", None),
        ("lils", "李四 2月1日从武汉返回", "已记录", None),
        ("lils", "欧阳明月 请假至2月5日", "已记录", None),
        ("wangxz", "张老师 居家观察至2月4日", "已记录", None),    # its last day is today
        ("sunxz", "吴老师 请假", "已记录", None),
    ])
    return chat


def test_watch_list_of_each_scope_in_private(listed, world):
    play(listed, [
        ("wangxz", "摸排", ["第一实验小学 2月4日 人员摸排：在外未返 1、居家观察 2、今日期满 1、请假 1",
                          "王五（四年级1班）湖北", "李四（三年级2班）至2月14日，2月1日从武汉返回",
                          "张老师（教职工）至2月4日（今日期满）", "欧阳明月（三年级2班）2月4日至2月5日"],
         ["吴老师", "第二小学"]),
        ("lils", "摸排", ["第一实验小学 2月4日 人员摸排：在外未返 1、居家观察 2", "李四", "欧阳明月"],
         ["王五", "张老师（"]),
        ("zhangls", "摸排", ["第一实验小学 2月4日 人员摸排：在外未返 1", "您本人：2月4日起居家观察至2月4日"],
         ["王五", "李四"]),
        ("zhouls", "摸排", ["第二小学 2月4日 人员摸排：在外未返 0、居家观察 0、今日期满 0、请假 1",
                          "一年级1班：暂无"], ["吴老师", "王五"]),
        ("chenju", "摸排", ["全区 2月4日 人员摸排：在外未返 1、居家观察 2、今日期满 1、请假 2",
                          "· 第一实验小学：在外未返 1、居家观察 2、今日期满 1、请假 1",
                          "· 第二小学：在外未返 0、居家观察 0、今日期满 0、请假 1",
                          "王五（第一实验小学 四年级1班）", "吴老师（第二小学 教职工）"], None),
    ])


def test_watch_list_in_a_group_gives_counts_and_names_privately(listed, world):
    play(listed, [
        ("wangxz", "摸排", ["在外未返 1、居家观察 2、今日期满 1、请假 1", "详情已私信"],
         ["王五", "李四", "张老师", "欧阳明月"]),
        ("chenju", "摸排", ["全区 2月4日 人员摸排：在外未返 1、居家观察 2、今日期满 1、请假 2", "详情已私信"],
         ["王五", "吴老师", "第一实验小学："]),
        ("zhouls", "摸排", "第二小学 2月4日 人员摸排：在外未返 0", ["详情已私信", "吴老师"]),
    ], in_group=True)
    sent = private_messages(world, "wangxz")
    assert any("王五（四年级1班）湖北" in m and "李四" in m for m in sent), sent
    assert any("· 第二小学：在外未返 0、居家观察 0、今日期满 0、请假 1" in m
               and "王五（第一实验小学 四年级1班）" in m for m in private_messages(world, "chenju"))
    assert private_messages(world, "zhouls") == []     # no names to send


def test_empty_list(chat, world):
    play(chat, [("wangxz", "摸排", ["在外未返 0、居家观察 0、今日期满 0、请假 0", "暂无"], None)])


def test_a_report_on_a_leave_day_is_still_taken(chat, world):
    play(chat, [
        ("zhangls", "请假", "已记录：您 2月4日 请假", None),
        ("zhangls", "36.5", "已记录：2月4日 体温36.5℃，正常", None),
    ])


def test_a_long_list_fits_the_reply_and_the_rest_goes_privately(chat, world):
    with world[1].sessions() as s, s.begin():
        school = s.scalar(select(School).where(School.name == "第一实验小学"))
        for i in range(150):
            kid = Person(name=f"学生{chr(0x4e00 + i)}{chr(0x4e10 + i)}", role="student",
                         school_id=school.id, class_name="三年级2班")
            s.add(kid)
            s.flush()
            save_leave(s, person_id=kid.id, start=dt.date(2020, 2, 4), end=dt.date(2020, 2, 5),
                       reported_by_id=None)
    reply = chat.say("wangxz", "摸排")
    assert len(reply.encode("utf-8")) <= 2048
    assert "请假 150" in reply and "条已私信" in reply
    sent = private_messages(world, "wangxz")
    assert sent and all(len(m.encode("utf-8")) <= 2048 for m in sent)
    everything = reply + "".join(sent)
    assert everything.count("（三年级2班）2月4日至2月5日") == 150
