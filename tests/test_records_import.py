"""`records import`: the export's workbook back in, all or nothing, idempotent, and the round
trip export → import into a database without records → export giving the same workbook."""
from __future__ import annotations

import csv
import datetime as dt

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.cli import main
from bot.export import CLASS_HEADER, RECORD_HEADER, export
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import ClassReport, HealthRecord, Person, School
from storage.records import revoke_last, save_class_report, save_record
from storage.records_import import (CLASS_COLUMNS, RECORD_COLUMNS, RecordsImportError,
                                    import_records)
from storage.roster import apply_roster, load_roster
from tests.support import (ROSTER_CSV, SHANGHAI, config_toml, create_pg_database,
                           drop_pg_database, make_config)

START = dt.date(2026, 3, 2)
DAYS = [START + dt.timedelta(days=i) for i in range(5)]
S1, S2 = "第一实验小学", "第二小学"
ROSTER = ROSTER_CSV + "第二小学,,=HYPERLINK(\"x\"),teacher,evil,\n"
CHECKS = ["morning", "noon"]


class Db:
    def __init__(self, url: str, tmp_path):
        upgrade(url)
        self.url = url
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        roster = tmp_path / "roster.csv"
        roster.write_text(ROSTER, encoding="utf-8")
        with self.sessions() as s, s.begin():
            apply_roster(s, load_roster(roster))
        self.config = make_config(url)

    def ids(self):
        with self.sessions() as s:
            return ({p.name: p.id for p in s.scalars(select(Person))},
                    {x.name: x.id for x in s.scalars(select(School))})

    def count(self, model) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(model))

    def export(self, path) -> dict:
        with self.sessions() as s:
            export(s, DAYS[0], DAYS[-1], path, SHANGHAI, config=self.config, progress=False)
        wb = load_workbook(path)
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}

    def load(self, path):
        with self.sessions() as s, s.begin():
            return import_records(s, path, tz=SHANGHAI, checks=CHECKS, threshold=37.3)


@pytest.fixture
def seeded(db_url, tmp_path):
    db = Db(db_url, tmp_path)
    ids, schools = db.ids()
    at = lambda day, h, m=0: dt.datetime.combine(day, dt.time(h, m))      # noqa: E731 (UTC)
    with db.sessions() as s, s.begin():
        for n, day in enumerate(DAYS):
            for name in ("王校长", "李老师", "张老师", "孙校长", "=HYPERLINK(\"x\")"):
                save_record(s, person_id=ids[name], day=day, check="morning",
                            temperature=37.6 if (name == "张老师" and n == 1) else 36.5,
                            symptoms=["cough", "sore_throat"] if (name == "张老师" and n == 1) else [],
                            abnormal=name == "张老师" and n == 1, reported_by_id=ids[name],
                            message_id=None, now=at(day, 0, 10 + n))
            save_class_report(s, school_id=schools[S1], class_name="三年级2班", day=day,
                              check="morning", expected=45, present=45 - n % 2, absent=n % 2,
                              sick_absent=n % 2, fever=0, reported_by_id=ids["李老师"],
                              message_id=None, now=at(day, 0, 30))
        # a head teacher's report for a student, a summary with unknown counts
        save_record(s, person_id=ids["王五"], day=DAYS[1], check="morning", temperature=38.4,
                    symptoms=["fever", "cough"], abnormal=True, reported_by_id=ids["赵老师"],
                    message_id=None, now=at(DAYS[1], 1))
        save_class_report(s, school_id=schools[S2], class_name="一年级1班", day=DAYS[2],
                          check="noon", expected=38, present=None, absent=None,
                          sick_absent=None, fever=None, reported_by_id=ids["周老师"],
                          message_id=None, now=at(DAYS[2], 5))
        # a correction, a correction taken back, a class summary corrected
        save_record(s, person_id=ids["王校长"], day=DAYS[0], check="morning", temperature=36.7,
                    symptoms=[], abnormal=False, reported_by_id=ids["王校长"], message_id=None,
                    now=at(DAYS[0], 1))
        save_record(s, person_id=ids["孙校长"], day=DAYS[3], check="morning", temperature=37.9,
                    symptoms=[], abnormal=True, reported_by_id=ids["孙校长"], message_id=None,
                    now=at(DAYS[3], 2))
        revoke_last(s, ids["孙校长"], day=DAYS[3], now=at(DAYS[3], 2, 5))
        save_class_report(s, school_id=schools[S1], class_name="三年级2班", day=DAYS[4],
                          check="morning", expected=45, present=43, absent=2, sick_absent=2,
                          fever=1, reported_by_id=ids["李老师"], message_id=None,
                          now=at(DAYS[4], 1))
    yield db
    db.engine.dispose()


@pytest.fixture
def empty(db_url, tmp_path):
    """A second database of the same kind, with the roster and no records."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/second.db"
    else:
        url = create_pg_database()
    (tmp_path / "b").mkdir()
    db = Db(url, tmp_path / "b")
    yield db
    db.engine.dispose()
    if not url.startswith("sqlite"):
        drop_pg_database(url)


def test_the_import_reads_the_exports_own_headers():
    assert list(RECORD_COLUMNS) == RECORD_HEADER
    assert list(CLASS_COLUMNS) == CLASS_HEADER


def test_export_then_import_into_an_empty_database_round_trips_exactly(seeded, empty, tmp_path):
    before = seeded.export(tmp_path / "a.xlsx")
    assert any("已撤销" in (r[10] or "") for r in before["records 个人记录"][1:])
    assert any("已被更正" in (r[10] or "") for r in before["records 个人记录"][1:])
    assert any("已被更正" in (r[11] or "") for r in before["classes 班级报告"][1:])
    summary = empty.load(tmp_path / "a.xlsx")
    assert summary.records_added == len(before["records 个人记录"]) - 1
    assert summary.classes_added == len(before["classes 班级报告"]) - 1
    assert summary.history == 3
    after = empty.export(tmp_path / "b.xlsx")
    assert after == before
    # re-importing changes nothing
    rows = (empty.count(HealthRecord), empty.count(ClassReport))
    again = empty.load(tmp_path / "a.xlsx")
    assert again.unchanged == summary.records_added + summary.classes_added
    assert (again.records_added, again.classes_added, again.records_replaced,
            again.classes_replaced) == (0, 0, 0, 0)
    assert (empty.count(HealthRecord), empty.count(ClassReport)) == rows
    assert empty.export(tmp_path / "c.xlsx") == before


def test_a_csv_of_the_records_sheet_and_a_correction_by_a_later_file(seeded, empty, tmp_path):
    out = tmp_path / "records.csv"
    with seeded.sessions() as s:
        n = export(s, DAYS[0], DAYS[-1], out, SHANGHAI)
    assert empty.load(out).records_added == n
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    changed = [r for r in rows if r[4] == "李老师" and r[0] == DAYS[2].isoformat()][0]
    changed[5], changed[6], changed[7] = "38.2", "发热、腹泻", "是"
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows(rows)
    summary = empty.load(fixed)
    assert (summary.records_replaced, summary.unchanged) == (1, n - 1)
    assert empty.load(fixed).unchanged == n                      # and only once
    with empty.sessions() as s:
        current = s.scalar(select(HealthRecord).join(Person, Person.id == HealthRecord.person_id)
                           .where(Person.name == "李老师", HealthRecord.day == DAYS[2],
                                  HealthRecord.replaced_at.is_(None)))
        assert (current.temperature, current.symptom_list) == (38.2, ["fever", "diarrhea"])


BAD = [
    RECORD_HEADER,
    ["2026-03-02", "morning", S1, "三年级2班", "张三", "36.6", "", "否", "", "", ""],     # fine
    ["2026-03-32", "morning", S1, "", "李老师", "36.6", "", "", "", "", ""],
    ["2026-03-02", "evening", S1, "", "李老师", "36.6", "", "", "", "", ""],
    ["2026-03-02", "晨检", "第九中学", "", "李老师", "36.6", "", "", "", "", ""],
    ["2026-03-02", "晨检", S1, "", "钱七", "36.6", "", "", "", "", ""],
    ["2026-03-02", "晨检", S1, "", "李老师", "45.1", "头疼得厉害", "也许", "", "", ""],
    ["2026-03-02", "morning", S1, "三年级2班", "张三", "37.0", "", "", "", "", ""],
    ["2026-03-02", "morning", S1, "", "李老师", "36.6", "", "", "", "昨天早上", ""],
]


def test_a_file_with_bad_rows_writes_nothing_and_names_each_line(empty, tmp_path):
    path = tmp_path / "bad.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(BAD)
    with pytest.raises(RecordsImportError) as caught:
        empty.load(path)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(3, 10)]
    assert "is not a date" in problems[0]
    assert "'evening' is not a configured check" in problems[1]
    assert "school '第九中学' is not on the roster" in problems[2]
    assert "钱七 is not on the roster of this school" in problems[3]
    assert "temperature 45.1 is outside 34.0–42.5℃" in problems[4]
    assert "symptom '头疼得厉害' is unknown" in problems[4] and "neither 是 nor 否" in problems[4]
    assert "the same record as line 2" in problems[5]
    assert "is not a time" in problems[6]
    assert empty.count(HealthRecord) == 0


def test_class_summaries_that_do_not_add_up(empty, tmp_path):
    path = tmp_path / "classes.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["日期", "学校", "班级", "应到", "实到", "缺勤", "因病缺勤", "发热"])
        w.writerow(["2026-03-02", S1, "三年级2班", "45", "44", "1", "1", "0"])
        w.writerow(["2026-03-03", S1, "三年级2班", "45", "40", "1", "0", "0"])
        w.writerow(["2026-03-04", S1, "三年级2班", "45", "44", "1", "2", "-1"])
    with pytest.raises(RecordsImportError) as caught:
        empty.load(path)
    assert caught.value.problems[0].startswith("line 3: 应到45 ≠ 实到40 + 缺勤1")
    assert caught.value.problems[1].startswith("line 4: fever '-1' is not a whole number")
    assert "病假2 is more than 缺勤1" in caught.value.problems[1]
    assert empty.count(ClassReport) == 0


def test_the_summary_sheet_is_refused_and_an_unknown_header_explained(empty, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("日期 day,检次 check,学校 school,教职工已报 staff reported\n", encoding="utf-8")
    with pytest.raises(RecordsImportError, match="summary sheet"):
        empty.load(path)
    path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(RecordsImportError, match="neither the export's records sheet"):
        empty.load(path)


def test_the_verb_answers_in_one_line_or_a_list(empty, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(config_toml(empty.url), encoding="utf-8")
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(BAD[:3])
    assert main(["--config", str(config), "records", "import", str(bad)]) == 2
    _out, err = capsys.readouterr()
    assert err.splitlines()[0] == f"error: {bad}: nothing imported: line 3: day '2026-03-32' is not a date like 2026-03-02"
    assert "Traceback" not in err
    assert main(["--config", str(config), "records", "import", str(tmp_path / "nope.xlsx")]) == 2
    assert "file not found" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    with good.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(BAD[:2])
    assert main(["--config", str(config), "records", "import", str(good)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"records import {good}: 1 record(s) and 0 class summary(ies) added, 0 corrected, "
        "0 unchanged, 0 earlier version(s) kept as history")


def test_a_progress_bar_counts_the_rows(seeded, empty, tmp_path):
    import io

    from bot.cli_surveillance import ProgressBar

    seeded.export(tmp_path / "a.xlsx")
    stream = io.StringIO()
    with empty.sessions() as s, s.begin():
        summary = import_records(s, tmp_path / "a.xlsx", tz=SHANGHAI, checks=CHECKS,
                                 threshold=37.3, progress=ProgressBar(stream))
    rows = summary.records_added + summary.classes_added
    text = stream.getvalue()
    assert "\r导入 [" in text and f" {rows}/{rows}" in text and text.endswith("\n")
