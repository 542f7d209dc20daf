"""The sick-absence follow-up list follows the child: absent for illness until reported back.

A present child with a fever is a fever, not an absence; the list ends with `返校`, a later
reading of the child at school, or a class summary with nobody absent; `返校` never changes
the day's health record.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from storage.followups import open_followups
from storage.models import Person, School
from storage.records import close_followup, save_class_report, save_record
from tests.test_dialogs import say

MON, TUE, WED = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)
S1 = "第一实验小学"


@pytest.fixture
def db(roster_db):
    return roster_db


def ids(s):
    return {p.name: p.id for p in s.scalars(select(Person))}


def reading(s, name, day, temp, symptoms=(), absent=False):
    i = ids(s)
    save_record(s, person_id=i[name], day=day, check="morning", temperature=temp,
                symptoms=list(symptoms), abnormal=bool(symptoms) or (temp or 0) >= 37.3,
                reported_by_id=i["李老师"], message_id=None,
                now=dt.datetime.combine(day, dt.time(0, 30)), absent=absent)


def summary(s, day, expected, present, sick):
    school = s.scalar(select(School).where(School.name == S1))
    save_class_report(s, school_id=school.id, class_name="三年级2班", day=day, check="morning",
                      expected=expected, present=present, absent=expected - present,
                      sick_absent=sick, fever=0, reported_by_id=ids(s)["李老师"],
                      message_id=None, now=dt.datetime.combine(day, dt.time(0, 40)))


def listed(config, sessions, day):
    with sessions() as s:
        return [(f.name, f.days_absent) for f in open_followups(s, S1, day, config.calendar)]


def test_present_children_with_a_fever_are_no_absences(db):
    config, sessions = db
    with sessions() as s, s.begin():
        for name in ("张三", "李四", "欧阳明月"):
            reading(s, name, MON, 38.0, ("fever",))          # at school, with a fever
        summary(s, MON, 3, 3, 0)
    assert listed(config, sessions, MON) == []


def test_a_sick_absentee_stays_listed_by_school_day_until_the_class_is_full(db):
    config, sessions = db
    with sessions() as s, s.begin():
        reading(s, "张三", MON, 38.5, ("fever",), absent=True)
        summary(s, MON, 3, 2, 1)
    assert listed(config, sessions, MON) == [("张三", 1)]
    with sessions() as s, s.begin():
        summary(s, TUE, 3, 2, 1)                             # still away, not named again
    assert listed(config, sessions, TUE) == [("张三", 2)]
    with sessions() as s, s.begin():
        summary(s, WED, 3, 3, 0)                             # the whole class is back
    assert listed(config, sessions, WED) == []


def test_a_later_reading_at_school_ends_the_follow_up(db):
    config, sessions = db
    with sessions() as s, s.begin():
        reading(s, "张三", MON, 38.5, ("fever",), absent=True)
        reading(s, "张三", TUE, 36.6)
    assert listed(config, sessions, TUE) == []
    assert listed(config, sessions, MON) == [("张三", 1)]    # as it stood that day


def test_return_closes_the_follow_up_and_keeps_the_days_record(db):
    config, sessions = db
    with sessions() as s, s.begin():
        reading(s, "张三", MON, 37.8, ("fever",), absent=True)
        close_followup(s, person_id=ids(s)["张三"], day=TUE, closed_by_id=ids(s)["李老师"],
                       message_id=None)
    assert listed(config, sessions, MON) == [("张三", 1)]
    assert listed(config, sessions, TUE) == []


def test_fanxiao_in_chat_closes_and_never_overwrites_the_fever(world):
    say(world, "lils", "张三 37.8")
    reply = say(world, "lils", "张三 返校")
    assert reply == "已销号：张三 返校，因病缺勤追踪结束。"
    stats = say(world, "wangxz", "统计")
    assert "发热 1人" in stats and "张三（三年级2班）体温37.8℃" in stats


def test_a_named_sick_absentee_in_a_class_summary_is_followed_up(world):
    from storage.followups import open_followups

    say(world, "lils", "三年级2班 应到3 实到2 病假1（张三 发热37.8）")
    say(world, "lils", "李四 38.0")                          # present, with a fever: no absence
    with world.services.sessions() as s:
        rows = open_followups(s, S1, dt.date(2020, 2, 4), world.services.config.calendar)
    assert [(f.name, f.days_absent, f.symptoms) for f in rows] == [("张三", 1, ("fever",))]
    assert say(world, "lils", "张三 返校") == "已销号：张三 返校，因病缺勤追踪结束。"
    with world.services.sessions() as s:
        assert open_followups(s, S1, dt.date(2020, 2, 4), world.services.config.calendar) == []
