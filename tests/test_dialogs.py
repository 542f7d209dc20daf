"""A school's conversations as dialog tables, through the running webhook (both endpoints).

Each step: (sender userid, text, what the reply must contain, what it must not contain).
After the steps, the current records are compared with what the table expects.
"""
import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from bot.wecom.signer import AibotSigner
from storage.models import ClassReport, HealthRecord
from storage.records import CURRENT_CLASS, CURRENT_RECORD
from tests.support import AIBOT_AES_KEY, AIBOT_TOKEN

_ids = itertools.count(10_000)


def say(world, userid, text):
    server, _svc, signer, _clock = world
    status, reply = signer.post_text(server.url, userid, text, msg_id=str(next(_ids)))
    assert status == 200
    return reply or ""


def say_in_group(world, userid, text, chat="chat-school1"):
    server = world[0]
    aibot = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY)
    status, reply = aibot.post_text(server.url, chat, userid, text, msgid=f"g{next(_ids)}")
    assert status == 200
    return ((reply or {}).get("stream") or {}).get("content", "")


def play(world, steps):
    for sender, text, want, unwanted in steps:
        reply = say(world, sender, text)
        for w in ([want] if isinstance(want, str) else want):
            assert w in reply, f"{sender}: {text!r} → {reply!r} lacks {w!r}"
        for u in ([unwanted] if isinstance(unwanted, str) else unwanted or []):
            assert u not in reply, f"{sender}: {text!r} → {reply!r} has {u!r}"


def current(world):
    svc = world[1]
    with svc.sessions() as s:
        people = {(r.person.name, r.day.isoformat(), r.check): (r.temperature, r.abnormal)
                  for r in s.scalars(select(HealthRecord).where(*CURRENT_RECORD))}
        classes = {(c.class_name, c.day.isoformat()): (c.expected, c.present, c.absent, c.sick_absent, c.fever)
                   for c in s.scalars(select(ClassReport).where(*CURRENT_CLASS))}
    return people, classes


DAY = "2020-02-04"


def test_teacher_and_head_teacher_reports(world):
    play(world, [
        ("zhangls", "36.5", "已记录：2月4日 体温36.5℃，正常", None),
        ("lils", "三年级2班 应到45 实到44 病假1 发热0", ["三年级2班 应到45 实到44 缺勤1", "发热0"], None),
        ("lils", "张三 36.5，李四 37.6 发热", ["张三 体温36.5℃，正常", "李四 体温37.6℃，发热", "已通知校长"], None),
        ("lils", "欧阳明月 36.6", "欧阳明月 体温36.6℃，正常", None),
    ])
    people, classes = current(world)
    assert people == {("张老师", DAY, "morning"): (36.5, False),
                      ("张三", DAY, "morning"): (36.5, False),
                      ("李四", DAY, "morning"): (37.6, True),
                      ("欧阳明月", DAY, "morning"): (36.6, False)}
    assert classes == {("三年级2班", DAY): (45, 44, 1, 1, 0)}


def test_refusals_store_nothing(world):
    play(world, [
        ("lils", "张山 36.5", "未找到学生“张山”，是否为：张三", "已记录"),
        ("zhangls", "张三 36.5", "您只能报告本人的体温", "已记录"),
        ("lils", "王五 36.5", "“王五”不是您班的学生（四年级1班）", "已记录"),
        ("lils", "四年级1班 应到40 实到40", "不能报告四年级1班", "已记录"),
        ("stranger", "36.5", "不在晨检名单", "已记录"),
        ("chenju", "36.5", "教育局账号无需报告体温", "已记录"),
        ("zhangls", "体温45.2", ["未记录", "36.5"], "已记录"),
        ("lils", "三年级2班 应到45 实到44 缺勤2", ["未记录", "人数对不上"], "已记录"),
    ])
    assert current(world) == ({}, {})


def test_principal_reports_for_anyone_in_school(world):
    play(world, [
        ("wangxz", "王五 36.7", "王五 体温36.7℃，正常", None),
        ("wangxz", "四年级1班 应到40 实到40 全部正常", "四年级1班 应到40 实到40", None),
        ("sunxz", "王五 36.7", "未找到学生“王五”", ["已记录", "四年级1班"]),   # another school
    ])
    people, classes = current(world)
    assert people == {("王五", DAY, "morning"): (36.7, False)}
    assert classes == {("四年级1班", DAY): (40, 40, 0, 0, 0)}


def test_correction_then_query_then_undo(world):
    play(world, [
        ("zhangls", "36.5", "已记录", None),
        ("zhangls", "36.8", ["已记录：2月4日 体温36.8℃，正常", "已更正"], None),
        ("zhangls", "查询", ["您近7天的记录", "2月4日 体温36.8℃，正常"], "36.5"),
        ("zhangls", "撤销", "已撤销：2月4日 体温36.8℃", None),
        ("zhangls", "查询", "2月4日 体温36.5℃，正常", None),
    ])
    assert current(world)[0] == {("张老师", DAY, "morning"): (36.5, False)}
    # 撤销 takes back the latest report only: it never walks back through older ones
    play(world, [("zhangls", "撤销", "没有可撤销的报告", None)])
    assert current(world)[0] == {("张老师", DAY, "morning"): (36.5, False)}


def test_undo_never_reaches_another_day(world):
    play(world, [("zhangls", "补报 2月3日 36.6", "已记录：2月3日", None),
                 ("zhangls", "撤销", "没有可撤销的报告", None)])
    assert current(world)[0] == {("张老师", "2020-02-03", "morning"): (36.6, False)}


def test_late_report_for_a_past_day(world):
    play(world, [
        ("zhangls", "补报 2月3日 36.6", "已记录：2月3日 体温36.6℃，正常", None),
        ("zhangls", "昨天 36.4", "2月3日 体温36.4℃", None),
        ("zhangls", "2月5日 36.5", ["未记录"], "已记录"),
    ])
    assert current(world)[0] == {("张老师", "2020-02-03", "morning"): (36.4, False)}


def test_noon_check_goes_to_noon(world):
    world[3].set(dt.datetime(2020, 2, 4, 12, 40))
    play(world, [("zhangls", "36.6", "已记录：2月4日 午检 体温36.6℃", None)])
    assert current(world)[0] == {("张老师", DAY, "noon"): (36.6, False)}


def test_stats_each_role_sees_its_scope(world):
    play(world, [
        ("zhangls", "36.5", "已记录", None),
        ("lils", "三年级2班 应到45 实到44 病假1 发热0", "已记录", None),
        ("lils", "李四 37.9 咳嗽", "已记录", None),
        ("zhouls", "一年级1班 应到30 实到30", "已记录", None),
    ])
    play(world, [
        ("lils", "统计", ["三年级2班", "应到45 实到44", "李四"], ["四年级1班", "第二小学"]),
        ("wangxz", "统计", ["第一实验小学", "教职工已报 1/4", "班级已报 1/2", "李四", "四年级1班：未报"],
         ["第二小学", "一年级1班"]),
        ("chenju", "统计", ["全区", "第一实验小学", "第二小学"], ["李四"]),
        ("zhangls", "统计", ["第一实验小学", "体温/症状异常 1人"], ["李四"]),
    ])


def test_who_has_not_reported(world):
    play(world, [
        ("wangxz", "谁没报", ["班级2个", "三年级2班", "四年级1班", "教职工4人", "李老师", "张老师"], None),
        ("chenju", "谁没报", ["第一实验小学", "第二小学"], ["李老师"]),
    ])
    play(world, [
        ("zhangls", "36.5", "已记录", None),
        ("lils", "36.6", "已记录", None),
        ("lils", "三年级2班 应到45 实到45", "已记录", None),
        ("wangxz", "谁没报", ["四年级1班", "赵老师", "王校长"], ["张老师", "李老师", "三年级2班"]),
        ("zhangls", "谁没报", ["还有2位教职工、1个班级未报"], ["赵老师"]),
    ])


def test_help_fits_the_role(world):
    assert "36.5" in say(world, "zhangls", "帮助")
    assert "应到" in say(world, "lils", "帮助")


def test_group_mention_answered_with_names_masked(world):
    reply = say_in_group(world, "lils", "@晨检 张三 36.5，李四 37.6 发热")
    assert "张* 已记录" in reply and "李* 异常（详情已私信）" in reply   # no one else's reading
    assert "李四" not in reply and "张三" not in reply and "37.6" not in reply
    own = say_in_group(world, "zhangls", "@晨检 36.5")
    assert "已记录：2月4日 体温36.5℃，正常" in own
    assert say_in_group(world, "zhangls", "@晨检 收到") == ""     # chatter: silence
    assert say_in_group(world, "zhangls", "收到") == ""           # not addressed: silence
    assert say_in_group(world, "zhangls", "36.9") == ""           # not addressed: not recorded
    refused = say_in_group(world, "lils", "@晨检 张山 36.5")
    assert "未记录" in refused and "张" not in refused and "私聊" in refused
    stats = say_in_group(world, "wangxz", "@晨检 谁没报")
    assert "赵*" in stats and "赵老师" not in stats
    people, _ = current(world)
    assert people[("李四", DAY, "morning")] == (37.6, True)
    assert people[("张老师", DAY, "morning")] == (36.5, False)


def test_aibot_rejects_bad_signature_and_garbage(world):
    import requests
    server = world[0]
    aibot = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY)
    params, body = aibot.encrypt(aibot.message("c", "lils", "@晨检 36.5", "m-bad"))
    bad = requests.post(f"{server.url}/wecom/aibot", params={**params, "msg_signature": "0" * 40},
                        data=body, timeout=5)
    assert bad.status_code == 403
    garbage = requests.post(f"{server.url}/wecom/aibot", params=params, data=b"<xml>nope</xml>", timeout=5)
    assert garbage.status_code == 400
    ok = requests.get(f"{server.url}/wecom/aibot", params=aibot.verify_url_params("echo123"), timeout=5)
    assert ok.status_code == 200 and ok.text == "echo123"
    # the same msgid twice: one record, the same answer
    first = aibot.post_text(server.url, "c", "zhangls", "@晨检 36.5", msgid="same")
    second = aibot.post_text(server.url, "c", "zhangls", "@晨检 36.5", msgid="same")
    assert first[1]["stream"]["content"] == second[1]["stream"]["content"]
    assert len(current(world)[0]) == 1
