"""Early warning on stored data: the day's counts, one alert per school, signal and day, the
bureau lines, the dashboard's pages and `surveillance backtest` (both databases)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from bot.cli import main
from handlers.config import Calendar
from scheduler.surveillance_jobs import surveillance_messages
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import OutboxMessage, Person, School, SurveillanceSignal
from storage.outbox_queue import enqueue
from storage.records import save_class_report, save_record
from storage.roster import apply_roster, load_roster
from storage.surveillance import daily_counts, evaluate_range
from tests.support import ROSTER_CSV, config_toml, make_config

TODAY = dt.date(2026, 3, 20)                  # a Friday
HOLIDAY = dt.date(2026, 3, 12)
CAL = Calendar(holidays=frozenset({HOLIDAY}))
PRIOR = CAL.previous_school_days(TODAY, 12)[::-1]          # oldest first, the holiday skipped
S1 = "第一实验小学"


def utc(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, 0))


@pytest.fixture
def district(db_url, tmp_path):
    """第一实验小学 (8 people): 12 school days of 0/1 sick absences and normal staff readings,
    a report on the holiday, and today 5 sick absences and 4 fevers."""
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_CSV + ",,刘科长,bureau,liuke,13800000009\n", encoding="utf-8")
    config = make_config(db_url, calendar={"holidays": [HOLIDAY.isoformat()]})
    with sessions() as s, s.begin():
        apply_roster(s, load_roster(roster))
        ids = {p.name: p.id for p in s.scalars(select(Person))}
        school = s.scalar(select(School.id).where(School.name == S1))

        def summary(day, sick, fever=0):
            save_class_report(s, school_id=school, class_name="三年级2班", day=day,
                              check="morning", expected=3, present=3 - sick, absent=sick,
                              sick_absent=sick, fever=fever, reported_by_id=ids["李老师"],
                              message_id=None, now=utc(day))

        def reading(name, day, temp=36.5, symptoms=(), check="morning"):
            save_record(s, person_id=ids[name], day=day, check=check, temperature=temp,
                        symptoms=list(symptoms), abnormal=bool(symptoms) or temp >= 37.3,
                        reported_by_id=ids[name], message_id=None, now=utc(day))

        for i, day in enumerate(PRIOR):
            summary(day, i % 2)
            reading("王校长", day)
        summary(HOLIDAY, 3)                       # someone reported on the holiday: not counted
        reading("王校长", HOLIDAY, 38.5)
        summary(TODAY, 5, fever=2)
        reading("王校长", TODAY)
        reading("张三", TODAY, 38.1)
        reading("张三", TODAY, 38.3, check="noon")          # the same child at noon: once
        reading("李四", TODAY, 37.9, ["cough"])
        reading("欧阳明月", TODAY, None, ["fever"])
        reading("王五", TODAY, 38.0)
    yield config, sessions, tmp_path
    engine.dispose()


def test_the_days_counts(district):
    config, sessions, _ = district
    with sessions() as s:
        counts = daily_counts(s, PRIOR[0], TODAY, config.fever_threshold)
        school = s.scalar(select(School.id).where(School.name == S1))
    assert counts.schools[school] == (S1, 8)
    assert counts.counts[(school, "sick_absent")][TODAY] == 5
    # 三年级2班: max(stated 2, three children with a fever record) + 王五 of 四年级1班
    assert counts.counts[(school, "fever")][TODAY] == 4
    assert counts.counts[(school, "respiratory")][TODAY] == 1
    assert (school, "digestive") not in counts.counts
    assert TODAY in counts.reported[(school, "digestive")]            # reported, zero cases


def test_the_holiday_is_skipped_in_the_baseline(district):
    config, sessions, _ = district
    with sessions() as s:
        scored = evaluate_range(s, config, TODAY, TODAY)
    by_signal = {r.signal: r.evaluation for r in scored if r.school == S1}
    sick = by_signal["sick_absent"]
    baseline = [i % 2 for i in range(12)][-9:-2]        # 7 points before the 2 guard points
    assert sick.expected == pytest.approx(sum(baseline) / 7)
    assert sick.score == pytest.approx((5 - 4 / 7) / 1.0 - 0.5) and sick.signal
    assert by_signal["fever"].score == pytest.approx(3.5) and by_signal["fever"].signal
    assert not by_signal["respiratory"].signal          # 1 case: below min_count
    assert {r.evaluation.day for r in scored} == {TODAY}


def test_one_alert_per_school_signal_and_day(district):
    config, sessions, _ = district
    with sessions() as s, s.begin():
        messages, lines = surveillance_messages(s, config, TODAY, "morning")
        assert len(enqueue(s, messages, source="surveillance", now=utc(TODAY, 1))) == 2
    by_key = {m.dedupe_key: m for m in messages}
    assert set(by_key) == {f"surveillance:{TODAY}:1:sick_absent:0", f"surveillance:{TODAY}:1:fever:0"}
    sick = by_key[f"surveillance:{TODAY}:1:sick_absent:0"]
    assert sick.channel == "person" and sick.target == "chenju|liuke|wangxz"
    text = sick.content.splitlines()
    assert text[0] == "【预警】第一实验小学 因病缺勤 今日5人（62.5%），前7个上学日平均0.6人"
    assert text[1] == "3月20日 · EARS C2 得分3.9（阈值3），全校8人"
    assert text[2] == "近14个上学日：·▁▂▁▂▁▂▁▂▁▂▁▂█（今日5）"
    assert lines == ["第一实验小学 因病缺勤 5人（62.5%），平常0.6人，C2得分3.9",
                     "第一实验小学 发热 4人（50.0%），平常0.0人，C2得分3.5"]
    # the noon digest (and any rerun) finds them stored: nothing new is queued
    with sessions() as s, s.begin():
        again, lines_again = surveillance_messages(s, config, TODAY, "noon")
        assert enqueue(s, again, source="surveillance", now=utc(TODAY, 6)) == []
    assert lines_again == lines
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(SurveillanceSignal)) == 2
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 2
        row = s.scalar(select(SurveillanceSignal).where(SurveillanceSignal.signal == "sick_absent"))
        assert (row.count, row.heads, row.method, row.threshold, row.baseline_days) == \
            (5, 8, "c2", 3.0, 7)
        assert row.expected == pytest.approx(4 / 7) and row.sd == pytest.approx(1.0)


def test_off_raises_nothing(district):
    config, sessions, _ = district
    off = make_config(config.database_url, calendar={"holidays": [HOLIDAY.isoformat()]},
                      surveillance={"method": "off"})
    with sessions() as s, s.begin():
        assert surveillance_messages(s, off, TODAY, "morning") == ([], [])
        assert s.scalar(select(func.count()).select_from(SurveillanceSignal)) == 0


def _config_file(district) -> str:
    config, _sessions, tmp_path = district
    path = tmp_path / "config.toml"
    path.write_text(config_toml(config.database_url).replace(
        "holidays = []", f'holidays = ["{HOLIDAY}"]'), encoding="utf-8")
    return str(path)


def test_backtest_prints_each_signal_then_a_summary(district, capsys):
    path = _config_file(district)
    assert main(["--config", path, "surveillance", "backtest", "--from", PRIOR[0].isoformat(),
                 "--to", TODAY.isoformat(), "--jsonl"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [list(r) for r in rows] == [["date", "school", "signal", "count", "expected",
                                       "score", "method"]] * 2
    assert rows[0] == {"date": "2026-03-20", "school": S1, "signal": "sick_absent", "count": 5,
                       "expected": 0.57, "score": 3.93, "method": "c2"}
    assert rows[1]["signal"] == "fever" and rows[1]["score"] == 3.5
    assert f"{S1} 因病缺勤（sick_absent）: 1 signal(s) on 4 school day(s)" in err
    assert "backtest 2026-03-03 to 2026-03-20, EARS C2: 2 signal(s), 1 school(s), 13 school day(s)" in err

    assert main(["--config", path, "surveillance", "backtest", "--from", TODAY.isoformat(),
                 "--to", TODAY.isoformat(), "--method", "c1"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[0].startswith("2026-03-20 第一实验小学 因病缺勤 5人（62.5%）")
    assert "EARS C1" in out


def test_backtest_refuses_a_reversed_range(district, capsys):
    path = _config_file(district)
    assert main(["--config", path, "surveillance", "backtest", "--from", "2026-03-20",
                 "--to", "2026-03-01"]) == 2
    _out, err = capsys.readouterr()
    assert err.strip() == "error: --to 2026-03-01 is before --from 2026-03-20"


def test_the_dashboard_shows_the_days_signals_and_a_schools_series(district):
    import re

    from bot.app import create_app
    from bot.passwd import set_password
    from tests.support import FixedClock

    config, sessions, _ = district
    with sessions() as s, s.begin():
        surveillance_messages(s, config, TODAY, "morning")
    set_password(config, "chenju", "bureau-pass-1")
    set_password(config, "sunxz", "principal-pass-2")
    app = create_app(config, clock=FixedClock(dt.datetime(2026, 3, 20, 10, 0)))

    def client_of(userid, password):
        client = app.test_client()
        page = client.get("/dashboard/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/dashboard/login", data=dict(userid=userid, password=password,
                                                  csrf_token=token))
        return client

    bureau = client_of("chenju", "bureau-pass-1")
    page = bureau.get("/dashboard/signals").get_data(as_text=True)
    assert "异常预警" in page                                   # the nav link
    assert 'data-signal="sick_absent"' in page and 'data-signal="fever"' in page
    assert "5人" in page and "62.5%" in page and "3.9（阈值3）" in page
    series = bureau.get(f"/dashboard/signals/school/{S1}").get_data(as_text=True)
    assert "近28个上学日" in series and "今日预警" in series
    assert "·▁▂▁▂▁▂▁▂▁▂▁▂█" in series                       # the last 14 of the sparkline
    assert bureau.get("/dashboard/signals/school/第九中学").status_code == 404
    # another school's principal sees nothing of it
    principal = client_of("sunxz", "principal-pass-2")
    assert S1 not in principal.get("/dashboard/signals").get_data(as_text=True)
    assert principal.get(f"/dashboard/signals/school/{S1}").status_code == 404
    assert bureau.get("/dashboard/signals?date=2026-03-19").status_code == 200
    app.extensions["morning_check"].engine.dispose()
