"""The district's other jobs inside the daily rhythm, through the webhook and the real jobs.

- Leave: nobody on leave is reminded, escalated or counted missing; 请假 is counted apart, in
  `谁没报`, the digests and the dashboard's figures alike.
- 摸排: a missed report of someone under home observation is named at escalation; the
  principal hears once, privately, that an observation ends today; digests carry counts in the
  group and names for the principal.
- Liaisons: a fever in their school reaches them; nothing of another school does.
- Early warning: the digest job stores the day's signals, alerts once, and the bureau digest
  lists them.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from scheduler.jobs import digest_messages, escalate_messages, open_messages, remind_messages
from storage.models import LiaisonSchool, OutboxMessage, Person, School
from tests.test_dialogs import say

DAY = dt.date(2020, 2, 4)
S1, S2 = "第一实验小学", "第二小学"


def job(world, builder, hhmm: str):
    svc = world.services
    h, m = map(int, hhmm.split(":"))
    now = dt.datetime(2020, 2, 4, h, m, tzinfo=svc.config.tz)
    with svc.sessions() as s:
        return builder(s, svc.config, DAY, svc.config.check(None), now)


def test_leave_is_never_chased_and_counted_apart(world):
    assert "请假" in say(world, "zhangls", "我今天请假")
    reminders = job(world, remind_messages, "08:30")
    assert not any("zhangls" in m.target.split("|") for m in reminders if m.channel == "person")
    assert not any("zhangls" in m.mentioned for m in reminders)
    escalation = next(m.content for m in job(world, escalate_messages, "09:00")
                      if S1 in m.content)
    assert "张老师" not in escalation
    unreported = say(world, "wangxz", "谁没报")
    assert "张老师" not in unreported and "王校长" in unreported
    stats = say(world, "wangxz", "统计")
    assert "教职工已报 0/3（请假1人）" in stats
    digest = {m.dedupe_key: m.content for m in job(world, digest_messages, "09:30")}
    group = digest[f"digest:{DAY}:morning:school:{S1}:group:0"]
    assert "教职工已报 0/3（请假1人）" in group and "请假 1" in group and "张老师" not in group
    principal = digest[f"digest:{DAY}:morning:school:{S1}:principal:0:0"]
    assert "请假（1人）：" in principal and "张老师" in principal
    # a report on a leave day still counts, and ends the leave for that day
    say(world, "zhangls", "36.5")
    assert "教职工已报 1/4" in say(world, "wangxz", "统计")


def test_a_missed_report_under_observation_is_named_and_the_end_told_once(world):
    say(world, "lils", "张三 1月22日从武汉返回")            # 14 days: observation ends 2月4日
    escalation = next(m.content for m in job(world, escalate_messages, "09:00")
                      if S1 in m.content)
    assert "居家观察中未报1人：张三" in escalation
    ending = [m for m in job(world, open_messages, "07:00") if m.dedupe_key.startswith("watch-end:")]
    assert len(ending) == 1 and ending[0].target == "wangxz" and "张三" in ending[0].content
    digest = {m.dedupe_key: m.content for m in job(world, digest_messages, "09:30")}
    group = digest[f"digest:{DAY}:morning:school:{S1}:group:0"]
    assert "居家观察 1、今日期满 1" in group and "张三" not in group
    assert "张三" in digest[f"digest:{DAY}:morning:school:{S1}:principal:0:0"]


def test_a_liaison_hears_of_a_fever_in_their_school_only(world):
    svc = world.services
    with svc.sessions() as s, s.begin():
        s.add(Person(name="刘科长", role="bureau", userid="liuke", active=True))
        s.flush()
        liu = s.scalar(select(Person).where(Person.userid == "liuke"))
        s1 = s.scalar(select(School).where(School.name == S1))
        s.add(LiaisonSchool(person_id=liu.id, school_id=s1.id))
    say(world, "zhangls", "37.9")
    say(world, "wuls", "38.2")                              # 第二小学: not liu's school
    with svc.sessions() as s:
        alerts = list(s.scalars(select(OutboxMessage).where(OutboxMessage.source == "alert")))
    to_liu = [a.content for a in alerts if "liuke" in a.target.split("|")]
    assert len(to_liu) == 1 and "张老师" in to_liu[0] and "吴老师" not in to_liu[0]


def test_the_digest_job_raises_an_early_warning_once(world):
    from storage.records import save_class_report

    svc = world.services
    with svc.sessions() as s, s.begin():
        s1 = s.scalar(select(School).where(School.name == S1))
        lils = s.scalar(select(Person).where(Person.userid == "lils"))
        day = DAY
        for back in range(1, 15):                           # a quiet fortnight …
            d = DAY - dt.timedelta(days=back)
            if svc.config.calendar.is_school_day(d):
                save_class_report(s, school_id=s1.id, class_name="三年级2班", day=d,
                                  check="morning", expected=40, present=40, absent=0,
                                  sick_absent=0, fever=0, reported_by_id=lils.id,
                                  message_id=None)
        save_class_report(s, school_id=s1.id, class_name="三年级2班", day=day, check="morning",
                          expected=40, present=32, absent=8, sick_absent=8, fever=0,
                          reported_by_id=lils.id, message_id=None)     # … then 8 sick at once
    first = job(world, digest_messages, "09:30")
    warnings = [m for m in first if m.dedupe_key.startswith("surveillance:")]
    assert warnings and all("【预警】" in m.content and S1 in m.content for m in warnings)
    assert "wangxz" in warnings[0].target.split("|")
    bureau = next(m.content for m in first if m.dedupe_key.endswith(":bureau:0"))
    assert "异常信号预警（1）" in bureau and "因病缺勤" in bureau
    again = job(world, digest_messages, "09:30")
    assert {m.dedupe_key for m in again if m.dedupe_key.startswith("surveillance:")} == \
        {m.dedupe_key for m in warnings}                     # the same keys: queued once


def test_a_liaisons_dashboard_lists_their_schools_first(world):
    import re

    import requests

    from bot.passwd import set_password

    svc = world.services
    with svc.sessions() as s, s.begin():
        liu = Person(name="刘科长", role="bureau", userid="liuke", active=True)
        s.add(liu)
        s.flush()
        s2 = s.scalar(select(School).where(School.name == S2))
        s.add(LiaisonSchool(person_id=liu.id, school_id=s2.id))
    set_password(svc.config, "liuke", "liaison-pass-1")
    set_password(svc.config, "chenju", "bureau-pass-1")

    def schools_as(userid, password):
        web = requests.Session()
        page = web.get(f"{world.server.url}/dashboard/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        web.post(f"{world.server.url}/dashboard/login", timeout=10,
                 data={"userid": userid, "password": password, "csrf_token": token})
        html = web.get(f"{world.server.url}/dashboard/", timeout=10).text
        return re.findall(r'data-school="([^"]+)"', html), html

    mine, html = schools_as("liuke", "liaison-pass-1")
    assert mine[0] == S2 and "我联系" in html
    everyone, html = schools_as("chenju", "bureau-pass-1")
    assert set(everyone) == {S1, S2} and "我联系" not in html
