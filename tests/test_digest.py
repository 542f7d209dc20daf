"""Digests: exact figures, masking, the zero report, splitting, late reports, the bureau view."""
from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import select

from handlers import digest as d
from handlers.figures import (
    ClassRow, DaySnapshot, FollowUpRow, PersonRow, RecordRow, district_figures, school_figures,
)
from tests.support import ROSTER_CSV, SHANGHAI, make_config

DAY = dt.date(2026, 3, 2)                       # a Monday
AT = dt.datetime(2026, 3, 2, 1, 30)             # 09:30 in Shanghai, naive UTC as stored
S1, S2 = "第一实验小学", "第二小学"
T = 37.3

PEOPLE = (
    PersonRow(1, "陈局长", "bureau", None, None, "chenju"),
    PersonRow(2, "王校长", "principal", S1, None, "wangxz"),
    PersonRow(3, "李老师", "head_teacher", S1, "三年级2班", "lils"),
    PersonRow(4, "张老师", "teacher", S1, "三年级2班", "zhangls"),
    PersonRow(5, "张三", "student", S1, "三年级2班", None),
    PersonRow(6, "李四", "student", S1, "三年级2班", None),
    PersonRow(7, "欧阳明月", "student", S1, "三年级2班", None),
    PersonRow(8, "赵老师", "head_teacher", S1, "四年级1班", "zhaols"),
    PersonRow(9, "王五", "student", S1, "四年级1班", None),
    PersonRow(10, "孙校长", "principal", S2, None, "sunxz"),
    PersonRow(11, "周老师", "head_teacher", S2, "一年级1班", "zhouls"),
    PersonRow(12, "吴老师", "teacher", S2, "一年级1班", "wuls"),
)


def rec(pid, temp=None, symptoms=(), abnormal=None, by=None):
    if abnormal is None:
        abnormal = bool(symptoms) or (temp is not None and temp >= T)
    return RecordRow(pid, temp, tuple(symptoms), abnormal, AT - dt.timedelta(minutes=30), by)


def snapshot(records=None, classes=None, people=PEOPLE) -> DaySnapshot:
    if records is None:
        records = [rec(2, 36.5), rec(3, 36.6), rec(4, 37.8), rec(5, 38.1, ("fever", "cough"), by=3)]
    if classes is None:
        classes = [ClassRow(S1, "三年级2班", 45, 43, 2, 1, 1, AT, 3)]
    return DaySnapshot(DAY, "morning", AT, people, {r.person_id: r for r in records},
                       {(c.school, c.class_name): c for c in classes})


def school_text(snap, school=S1, masked=True, **kw):
    fig = school_figures(snap, school, T)
    parts = d.school_digest(fig, day=DAY, check="morning", taken_at=AT, tz=SHANGHAI,
                            threshold=T, masked=masked, **kw)
    return parts


# --------------------------------------------------------------------------- school digest

def test_school_digest_for_the_group_has_exact_numbers_and_masks_names():
    [text] = school_text(snapshot())
    assert text.splitlines() == [
        "**第一实验小学 3月2日 晨检日报**",
        "教职工已报 3/4",
        "班级已报 1/2",
        "应到45 实到43 缺勤2 因病缺勤1",
        "发热 2人",
        "其他症状：咳嗽1人",
        '<font color="warning">未报齐：班级1个、教职工1人</font>',
        "未报班级（1个）：四年级1班",
        "未报教职工（1人）：赵**",
        "> 数据截至 09:30",
    ]
    for secret in ("赵老师", "张老师", "张三", "37.8", "38.1"):
        assert secret not in text
    assert len(text.encode()) <= d.GROUP_LIMIT


def test_school_digest_for_the_principal_names_people_and_follow_ups():
    follow = [FollowUpRow(5, "张三", S1, "三年级2班", ("fever", "cough"), DAY - dt.timedelta(days=3), 2)]
    [text] = school_text(snapshot(), masked=False, followups=follow)
    lines = text.splitlines()
    assert "体温/症状异常（2人）：" in lines
    assert "· 张老师（三年级2班教师）37.8℃ 发热" in lines         # fever from the temperature alone
    assert "· 张三（三年级2班）38.1℃ 发热、咳嗽" in lines
    assert "未报教职工（1人）：赵老师" in lines
    assert "因病缺勤追踪（1人）：" in lines
    assert "· 张三（三年级2班）发热、咳嗽，缺勤第2天" in lines
    assert lines[-1] == "> 数据截至 09:30"
    assert len(text.encode()) <= d.PERSON_LIMIT


def test_zero_report_when_nothing_is_abnormal():
    snap = snapshot(records=[rec(2, 36.5), rec(3, 36.4), rec(4, 36.7), rec(8, 36.6)],
                    classes=[ClassRow(S1, "三年级2班", 45, 45, 0, 0, 0, AT),
                             ClassRow(S1, "四年级1班", 40, 39, 1, 0, 0, AT)])
    [text] = school_text(snap)
    assert "零报告：今日无发热、无因病缺勤" in text
    assert "全部已报 ✅" in text
    assert "应到85 实到84 缺勤1 因病缺勤0" in text
    # one sick absence is enough to drop the zero report
    snap = snapshot(records=[rec(2, 36.5)], classes=[ClassRow(S1, "三年级2班", 45, 44, 1, 1, 0, AT)])
    assert "零报告" not in school_text(snap)[0]


def test_a_class_stated_fever_and_the_same_child_reported_count_once():
    snap = snapshot(records=[rec(5, 38.0, ("fever",)), rec(6, 37.9, ("fever",))],
                    classes=[ClassRow(S1, "三年级2班", 45, 43, 2, 2, 3, AT)])
    assert school_figures(snap, S1, T).fevers == 3     # max(3 stated, 2 named), not 5


def test_a_big_school_splits_between_lines_within_4096_bytes():
    staff = tuple(PersonRow(100 + i, f"欧阳老师{i:03d}", "teacher", S1, None, f"u{i}")
                  for i in range(700))
    snap = snapshot(records=[], classes=[], people=PEOPLE + staff)
    parts = school_text(snap)
    assert len(parts) >= 2
    assert all(len(p.encode("utf-8")) <= 4096 for p in parts)
    assert parts[1].startswith("**第一实验小学 3月2日 晨检日报**（续2）")
    assert all(p.endswith("> 数据截至 09:30") for p in parts)
    # every line survives whole, in order
    bodies = [line for p in parts for line in p.splitlines()[1:-1]]
    names = "、".join(bodies).split("：", 2)[-1]
    assert [n for n in names.split("、") if n.startswith("欧")] == [d.mask(p.name) for p in staff]
    assert "欧******" in parts[0] and "欧阳老师" not in "".join(parts)
    assert "零报告" not in parts[0]          # nothing reported is no zero report
    # the principal's version (2048 bytes a message) also splits, with full names
    private = school_text(snap, masked=False)
    assert len(private) > len(parts)
    assert all(len(p.encode()) <= 2048 for p in private)
    assert "欧阳老师699" in private[-1]


def test_split_lines_never_cuts_a_line():
    lines = [f"第{i}行" + "测" * (i % 50) for i in range(400)]
    parts = d.split_lines("**标题**", lines, 1000, "> 数据截至 09:30")
    assert all(len(p.encode()) <= 1000 for p in parts)
    assert [l for p in parts for l in p.splitlines()[1:-1]] == lines


def test_masking():
    assert d.mask("张三") == "张*" and d.mask("欧阳明月") == "欧***" and d.mask("") == ""


# --------------------------------------------------------------------------- district digest

def test_district_digest_lists_silent_schools_first_with_totals_and_change():
    snap = snapshot()
    tallies = [f.tally() for f in district_figures(snap, T)]
    before = snapshot(records=[rec(2, 36.5), rec(3, 36.6), rec(4, 36.6), rec(8, 36.5),
                               rec(10, 36.4), rec(11, 36.5), rec(12, 36.6)],
                      classes=[ClassRow(S1, "三年级2班", 45, 42, 3, 3, 0, AT)])
    previous = [f.tally() for f in district_figures(before, T)]
    [text] = d.district_digest(tallies, day=DAY, check="morning", taken_at=AT, tz=SHANGHAI,
                               previous=previous, previous_day=DAY - dt.timedelta(days=3),
                               alerts=["3月2日 第一实验小学 三年级2班 今日发热3人"])
    lines = text.splitlines()
    assert lines[0] == "**全区 3月2日 晨检日报**"
    assert "学校 2所，未报告 1所，上报率 40%" in lines          # (3+1)/(4+2+3+1)
    assert "教职工已报 3/7，班级已报 1/3" in lines
    assert "应到45 实到43 缺勤2 因病缺勤1" in lines
    assert "发热 2人" in lines
    assert "较上一上学日（2月27日）：发热+2，因病缺勤−2，上报率−40个百分点" in lines
    assert "· 3月2日 第一实验小学 三年级2班 今日发热3人" in lines
    school_lines = [l for l in lines if "第二小学" in l or "第一实验小学：" in l]
    assert "第二小学" in school_lines[0] and "未报告" in school_lines[0]   # silent first
    assert "· 第一实验小学：教职工3/4 班级1/2 发热2 因病缺勤1 未报齐：教职工1 班级1" == school_lines[1]
    assert lines[-1] == "> 数据截至 09:30"


# --------------------------------------------------------------------------- from the database

@pytest.fixture
def db(roster_db):
    return roster_db


def person_id(session, name):
    from storage.models import Person
    return session.scalar(select(Person.id).where(Person.name == name))


def report(session, name, temp, symptoms=(), at=AT, by=None, absent=False):
    from storage.records import save_record
    pid = person_id(session, name)
    save_record(session, person_id=pid, day=DAY, check="morning", temperature=temp,
                symptoms=list(symptoms), abnormal=bool(symptoms) or (temp or 0) >= T,
                reported_by_id=person_id(session, by) if by else pid, message_id=None, now=at,
                absent=absent)


def by_key(messages, part):
    return [m for m in messages if part in m.dedupe_key]


def test_digest_messages_from_the_database_and_a_late_report(db):
    from scheduler.digest_messages import build_digest_messages
    from storage.records import save_class_report
    from storage.models import School

    config, sessions = db
    with sessions() as s, s.begin():
        for name, t in (("王校长", 36.5), ("李老师", 36.6), ("张老师", 37.8)):
            report(s, name, t, at=AT - dt.timedelta(hours=1))
        school = s.scalar(select(School).where(School.name == S1))
        save_class_report(s, school_id=school.id, class_name="三年级2班", day=DAY, check="morning",
                          expected=45, present=43, absent=2, sick_absent=1, fever=1,
                          reported_by_id=person_id(s, "李老师"), message_id=None,
                          now=AT - dt.timedelta(hours=1))
    with sessions() as s:
        first = build_digest_messages(s, config, DAY, "morning", AT, alerts=[])
    group = by_key(first, ":school:第一实验小学:group:")
    assert [m.channel for m in group] == ["group"] and group[0].target == "school1-key"
    assert group[0].msgtype == "markdown"
    assert "教职工已报 3/4" in group[0].content and "赵*" in group[0].content
    principal = by_key(first, ":school:第一实验小学:principal:")
    assert principal[0].channel == "person" and principal[0].target == "wangxz"
    assert "赵老师" in principal[0].content and "张老师（三年级2班教师）37.8℃ 发热" in principal[0].content
    bureau = by_key(first, ":bureau:")
    assert bureau[0].target == "bureau-key" and "发热 2人" in bureau[0].content
    chart = by_key(first, ":chart")
    assert chart[-1] is first[-1] and chart[0].msgtype == "image"
    assert base64.b64decode(chart[0].content)[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.index(bureau[0]) < first.index(chart[0])

    # 赵老师 reports at 10:00, after the digest; the next digest counts him
    late = AT + dt.timedelta(minutes=30)
    with sessions() as s, s.begin():
        report(s, "赵老师", 38.2, ("fever",), at=late)
    later = AT + dt.timedelta(minutes=35)
    with sessions() as s:
        again = build_digest_messages(s, config, DAY, "morning", later, alerts=[])
        forced = build_digest_messages(s, config, DAY, "morning", later, alerts=[], force=True)
    text = by_key(again, ":school:第一实验小学:group:")[0].content
    assert "教职工已报 4/4" in text and "未报教职工" not in text
    assert "发热 3人" in text and "> 数据截至 10:05" in text
    assert "发热 3人" in by_key(again, ":bureau:")[0].content
    # unforced: the same keys (the outbox sends nothing twice); forced: new keys with the time
    assert [m.dedupe_key for m in again] == [m.dedupe_key for m in first]
    assert all(m.dedupe_key.endswith("@20260302T020500") for m in forced)
    assert len({m.dedupe_key for m in forced} & {m.dedupe_key for m in first}) == 0


def test_previous_school_day_skips_weekends_and_holidays():
    config = make_config("sqlite://", calendar={"holidays": ["2026-02-27"]})
    assert config.calendar.previous_school_day(DAY) == dt.date(2026, 2, 26)
    days = config.calendar.school_days_until(DAY, 14)
    assert len(days) == 14 and days[-1] == DAY and dt.date(2026, 2, 27) not in days
    assert all(x.isoweekday() <= 5 for x in days)


def test_open_cluster_alerts_and_follow_ups_come_from_the_database(db):
    from scheduler.digest_messages import build_digest_messages
    from storage.models import OutboxMessage

    config, sessions = db
    with sessions() as s, s.begin():
        report(s, "张三", 38.4, ("fever",), by="李老师", absent=True)
        for key, day in (("cluster:1:三年级2班:2026-03-02:bureau-group", DAY),
                         ("cluster:1:四年级1班:2026-02-20:bureau-group", dt.date(2026, 2, 20))):
            s.add(OutboxMessage(dedupe_key=key, source="cluster", channel="group",
                                target="bureau-key", msgtype="text", status="sent",
                                content=f"【聚集性疫情预警】{d.day_label(day)}\n第一实验小学 {key.split(':')[2]}\n"
                                        "今日发热3人\n根据学校传染病报告制度，须在24小时内报告"))
    with sessions() as s:
        messages = build_digest_messages(s, config, DAY, "morning", AT, chart=False)
    bureau = by_key(messages, ":bureau:")[0].content
    assert "· 3月2日 第一实验小学 三年级2班 今日发热3人" in bureau
    assert "四年级1班" not in bureau                       # an old alert is no longer open
    principal = by_key(messages, ":school:第一实验小学:principal:")[0].content
    assert "因病缺勤追踪（1人）：" in principal and "· 张三（三年级2班）发热，缺勤第1天" in principal
    assert "张三" not in by_key(messages, ":school:第一实验小学:group:")[0].content
    assert not by_key(messages, ":chart")


def test_without_a_bureau_group_the_bureau_people_get_it_privately(db):
    from scheduler.digest_messages import build_digest_messages

    config, sessions = db
    config = make_config(config.database_url, groups=[{"scope": S1, "robot_key": "school1-key"}])
    with sessions() as s:
        messages = build_digest_messages(s, config, DAY, "morning", AT)
    private = by_key(messages, ":bureau-people:")
    assert private and private[0].channel == "person" and private[0].target == "chenju"
    assert all(len(m.content.encode()) <= d.PERSON_LIMIT for m in private)
    assert not by_key(messages, ":chart") and not by_key(messages, ":school:第二小学:group:")
    assert by_key(messages, ":school:第二小学:principal:")[0].target == "sunxz"
