"""Export: the XLSX read back with openpyxl matches the database; CSV and the formula guard."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.export import ProgressBar, export, export_xlsx_bytes, safe_cell
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import ClassReport, HealthRecord, Person, School
from storage.records import CURRENT_CLASS, CURRENT_RECORD, revoke_last, save_class_report, save_record
from storage.roster import apply_roster, load_roster
from tests.support import ROSTER_CSV, SHANGHAI, make_config

START = dt.date(2026, 3, 2)            # Monday
DAYS = [START + dt.timedelta(days=i) for i in range(12)]
SCHOOL_DAYS = [d for d in DAYS if d.isoweekday() <= 5]
S1, S2 = "第一实验小学", "第二小学"


@pytest.fixture
def seeded(db_url, tmp_path):
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_CSV + "第二小学,,=HYPERLINK(\"x\"),teacher,evil,\n", encoding="utf-8")
    with sessions() as s, s.begin():
        apply_roster(s, load_roster(roster))
        ids = {p.name: p.id for p in s.scalars(select(Person))}
        schools = {x.name: x.id for x in s.scalars(select(School))}
        for n, day in enumerate(SCHOOL_DAYS):
            at = dt.datetime.combine(day, dt.time(0, 30))
            for name in ("王校长", "李老师", "张老师", "赵老师", "孙校长", "周老师"):
                if name == "赵老师" and n % 3 == 0:
                    continue                                        # sometimes missing
                temp = 37.9 if (name == "张老师" and n == 2) else 36.5
                save_record(s, person_id=ids[name], day=day, check="morning", temperature=temp,
                            symptoms=[], abnormal=temp >= 37.3, reported_by_id=ids[name],
                            message_id=None, now=at)
            save_record(s, person_id=ids["=HYPERLINK(\"x\")"], day=day, check="morning",
                        temperature=36.6, symptoms=[], abnormal=False,
                        reported_by_id=ids["=HYPERLINK(\"x\")"], message_id=None, now=at)
            save_class_report(s, school_id=schools[S1], class_name="三年级2班", day=day,
                              check="morning", expected=45, present=45 - n % 3, absent=n % 3,
                              sick_absent=1 if n % 3 else 0, fever=1 if n == 4 else 0,
                              reported_by_id=ids["李老师"], message_id=None, now=at)
            save_class_report(s, school_id=schools[S2], class_name="一年级1班", day=day,
                              check="morning", expected=38, present=38, absent=0, sick_absent=0,
                              fever=0, reported_by_id=ids["周老师"], message_id=None, now=at)
        # a fever for a student of a class without a summary, a correction, and an undo
        save_record(s, person_id=ids["王五"], day=SCHOOL_DAYS[1], check="morning",
                    temperature=38.4, symptoms=["fever", "cough"], abnormal=True,
                    reported_by_id=ids["赵老师"], message_id=None,
                    now=dt.datetime.combine(SCHOOL_DAYS[1], dt.time(1, 0)))
        save_record(s, person_id=ids["王校长"], day=SCHOOL_DAYS[0], check="morning",
                    temperature=36.7, symptoms=[], abnormal=False, reported_by_id=ids["王校长"],
                    message_id=None, now=dt.datetime.combine(SCHOOL_DAYS[0], dt.time(1, 0)))
        save_record(s, person_id=ids["吴老师"], day=SCHOOL_DAYS[0], check="noon",
                    temperature=36.5, symptoms=[], abnormal=False, reported_by_id=ids["吴老师"],
                    message_id=None, now=dt.datetime.combine(SCHOOL_DAYS[0], dt.time(5, 0)))
        revoke_last(s, ids["吴老师"], day=SCHOOL_DAYS[0],
                    now=dt.datetime.combine(SCHOOL_DAYS[0], dt.time(5, 5)))
    yield make_config(db_url), sessions
    engine.dispose()


def sheet_rows(wb, title):
    ws = wb[title]
    rows = list(ws.iter_rows(values_only=True))
    return rows[0], rows[1:]


def test_xlsx_counts_match_the_database(seeded, tmp_path):
    config, sessions = seeded
    out = tmp_path / "out.xlsx"
    with sessions() as s:
        n = export(s, DAYS[0], DAYS[-1], out, SHANGHAI, config=config, progress=False)
        db_records = s.scalar(select(func.count()).select_from(HealthRecord).where(*CURRENT_RECORD))
        db_present = dict(s.execute(
            select(ClassReport.day, func.sum(ClassReport.present)).where(*CURRENT_CLASS)
            .group_by(ClassReport.day)).all())
        db_sick = s.scalar(select(func.sum(ClassReport.sick_absent)).where(*CURRENT_CLASS))
    wb = load_workbook(out)
    assert wb.sheetnames == ["records 个人记录", "classes 班级报告", "summary 每日学校汇总", "watch 摸排"]
    _h, records = sheet_rows(wb, "records 个人记录")
    assert n == len(records) == db_records
    corrected = [r for r in records if r[4] == "王校长" and r[0] == SCHOOL_DAYS[0].isoformat()]
    assert corrected[0][5] == 36.7 and "已被更正" in corrected[0][10]
    assert not [r for r in records if r[4] == "吴老师"]                # revoked: not current
    assert {r[4] for r in records if r[4].startswith("'")} == {"'=HYPERLINK(\"x\")"}

    header, summary = sheet_rows(wb, "summary 每日学校汇总")
    assert header[0] == "日期 day" and header[-1] == "发热 fever"
    # every school day of the range, each configured check, each school (and nothing else)
    assert len(summary) == len(SCHOOL_DAYS) * 2 * 2
    morning = {(r[0], r[2]): r for r in summary if r[1] == "晨检"}
    for day in SCHOOL_DAYS:
        present = morning[(day.isoformat(), S1)][8] + morning[(day.isoformat(), S2)][8]
        assert present == db_present[day]
    assert sum(r[10] for r in summary) == db_sick
    first = morning[(SCHOOL_DAYS[0].isoformat(), S1)]
    #            staff r/e   classes r/e  应到 实到 缺勤 因病 发热
    assert first[3:] == (3, 4, 1, 2, 45, 45, 0, 0, 0)           # 赵老师 missing on day 0
    assert morning[(SCHOOL_DAYS[1].isoformat(), S1)][3:] == (4, 4, 1, 2, 45, 44, 1, 1, 1)  # 王五
    assert morning[(SCHOOL_DAYS[2].isoformat(), S1)][11] == 1   # 张老师 37.9
    assert morning[(SCHOOL_DAYS[4].isoformat(), S1)][11] == 1   # the class's stated fever
    assert morning[(SCHOOL_DAYS[0].isoformat(), S2)][3:7] == (3, 4, 1, 1)   # evil + 孙 + 周
    noon = [r for r in summary if r[1] == "午检"]
    assert all(r[3] == 0 and r[5] == 0 for r in noon)               # the undone noon report
    _h, classes = sheet_rows(wb, "classes 班级报告")
    assert len(classes) == 2 * len(SCHOOL_DAYS)


def test_csv_keeps_records_and_the_formula_guard(seeded, tmp_path):
    config, sessions = seeded
    out = tmp_path / "out.csv"
    with sessions() as s:
        n = export(s, DAYS[0], DAYS[-1], out, SHANGHAI)
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert rows[0][0] == "日期 day" and len(rows) - 1 == n
    assert any(r[4] == "'=HYPERLINK(\"x\")" for r in rows)
    assert safe_cell("+1") == "'+1" and safe_cell(36.5) == 36.5


def test_one_school_one_day_in_memory_for_the_dashboard(seeded):
    config, sessions = seeded
    with sessions() as s:
        data = export_xlsx_bytes(s, SCHOOL_DAYS[1], SCHOOL_DAYS[1], SHANGHAI, config=config,
                                 school=S2)
    wb = load_workbook(io.BytesIO(data))
    _h, records = sheet_rows(wb, "records 个人记录")
    assert {r[2] for r in records} == {S2} and len(records) == 3
    _h, summary = sheet_rows(wb, "summary 每日学校汇总")
    assert [(r[1], r[2]) for r in summary] == [("晨检", S2), ("午检", S2)]


def test_progress_bar_for_a_long_range(seeded, tmp_path):
    config, sessions = seeded
    stream = io.StringIO()
    with sessions() as s:
        export(s, DAYS[0], DAYS[-1], tmp_path / "p.xlsx", SHANGHAI, config=config,
               progress=ProgressBar(stream))
    text = stream.getvalue()
    assert f"{len(SCHOOL_DAYS)}/{len(SCHOOL_DAYS)}" in text and text.endswith("\n")
    assert "\r导出 [" in text
