"""The bureau digest carries the district's other jobs, and liaisons get their own schools.

Notices not acknowledged, the opening checklist, the supplies plan when a school is short,
deliveries that failed; a liaison (责任到人) gets the escalation list and a private digest of
the schools they answer for, and nothing of other schools.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from scheduler.digest_messages import build_digest_messages
from scheduler.jobs import escalate_messages
from storage.models import LiaisonSchool, OutboxMessage, Person, School
from storage.notices import queue_notice
from storage.supplies import save_count
from tests.support import ROSTER_CSV, roster_database


DAY = dt.date(2026, 3, 2)
AT = dt.datetime(2026, 3, 2, 1, 30)                     # 09:30 Shanghai, naive UTC
S1, S2 = "第一实验小学", "第二小学"
ROSTER = ROSTER_CSV + ",,刘科长,bureau,liuke,13800000009\n"


@pytest.fixture
def env(db_url, tmp_path):
    engine, db = roster_database(db_url, tmp_path, ROSTER,
                                 supplies=[{"name": "口罩", "unit": "个",
                                            "per_person_per_day": 2, "min_days": 7}],
                                 checklist=[{"item": "重点场室消毒"}])
    config, sessions = db
    with sessions() as s, s.begin():
        school = {x.name: x.id for x in s.scalars(select(School))}
        liu = s.scalar(select(Person).where(Person.userid == "liuke"))
        s.add(LiaisonSchool(person_id=liu.id, school_id=school[S2]))
    yield config, sessions, school
    engine.dispose()


def test_the_bureau_digest_carries_notices_checklist_supplies_and_failures(env):
    config, sessions, school = env
    with sessions() as s, s.begin():
        queue_notice(s, config, title="开学准备", body="请落实。", now=AT - dt.timedelta(hours=2))
        item = config.supply("口罩")
        save_count(s, school_id=school[S1], item=item, quantity=20, day=DAY, now=AT,
                   reported_by_id=None, message_id=None)             # 8 people: 1.2 days
        save_count(s, school_id=school[S2], item=item, quantity=2000, day=DAY, now=AT,
                   reported_by_id=None, message_id=None)
        s.add(OutboxMessage(dedupe_key="fever:x", source="alert", channel="person",
                            target="wangxz", msgtype="text", content="…", mentioned="",
                            status="failed", attempts=1, next_attempt_at=AT, created_at=AT,
                            last_error="errcode 60020: not allow to access from your ip"))
    with sessions() as s:
        messages = build_digest_messages(s, config, DAY, "morning", AT, chart=False)
    bureau = next(m.content for m in messages if m.dedupe_key.endswith(":bureau:0"))
    assert "通知未确认：《开学准备》 第一实验小学、第二小学（已确认 0/2 校）" in bureau
    assert "开学准备：已全部完成 0/2 校" in bureau
    assert "物资储备不足" in bureau and f"从 {S2} 调" in bureau and f"口罩 到 {S1}" in bureau
    assert "近24小时有1条消息发送失败（体温异常提醒1）" in bureau and "60020" in bureau
    group = next(m.content for m in messages if m.dedupe_key.endswith(f"school:{S1}:group:0"))
    assert "口罩" not in group and "60020" not in group


def test_a_liaison_gets_their_schools_digest_and_escalation_only(env):
    config, sessions, _school = env
    with sessions() as s:
        messages = build_digest_messages(s, config, DAY, "morning", AT, chart=False)
        escalations = escalate_messages(s, config, DAY, config.check(None),
                                        dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.timezone.utc))
    mine = [m for m in messages if m.target == "liuke"]
    assert len(mine) == 1 and ":liaison:liuke:" in mine[0].dedupe_key
    assert mine[0].content.startswith("**您联系的学校（1所） 3月2日 晨检日报**")
    assert f"· {S2}" in mine[0].content and S1 not in mine[0].content
    to_liu = [m for m in escalations if m.target == "liuke"]
    assert len(to_liu) == 1 and S2 in to_liu[0].content and S1 not in to_liu[0].content
    assert not any(m.target == "chenju" for m in escalations)     # no schools: no escalations


def test_the_export_has_the_supplies_and_watch_sheets(env):
    import io

    import openpyxl

    from bot.export import export_xlsx_bytes
    from storage.whereabouts import save_leave

    config, sessions, school = env
    with sessions() as s, s.begin():
        save_count(s, school_id=school[S1], item=config.supply("口罩"), quantity=20, day=DAY,
                   now=AT, reported_by_id=None, message_id=None)
        zhang = s.scalar(select(Person).where(Person.userid == "zhangls"))
        save_leave(s, person_id=zhang.id, start=DAY, end=DAY, reported_by_id=zhang.id,
                   message_id=None, now=AT)
    with sessions() as s:
        wb = openpyxl.load_workbook(io.BytesIO(export_xlsx_bytes(s, DAY, DAY, config.tz,
                                                                 config=config)))
    watch = list(wb["watch 摸排"].iter_rows(values_only=True))
    assert any("张老师" in row and "请假" in str(row) for row in watch[1:]), watch
    supplies = list(wb["supplies 物资"].iter_rows(values_only=True))
    assert any(S1 in row and "口罩" in row for row in supplies[1:]), supplies
