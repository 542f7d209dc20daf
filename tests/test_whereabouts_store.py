"""Leave and whereabouts behind the chat: the day's rows and counts, history, the principal's
end-of-observation notice, the escalation's list, `watch import` / `watch list`, the
dashboard page and the export's 摸排 sheet."""
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import requests
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.passwd import set_password
from handlers.whereabouts import Draft, counts_line
from scheduler.watch_jobs import observation_ending_messages, observed_missing_lines
from storage.models import Leave, OutboxMessage, Person, School, Whereabouts
from storage.outbox_queue import enqueue
from storage.records import save_record
from storage import whereabouts as store
from tests.support import config_toml

ROOT = Path(__file__).resolve().parent.parent
D = lambda m, d: dt.date(2020, m, d)          # noqa: E731
TUESDAY = D(2, 4)


def ids(s):
    return {p.name: p.id for p in s.scalars(select(Person))}


def school_id(s, name="第一实验小学"):
    return s.scalar(select(School.id).where(School.name == name))


def observe(s, who, start, end, place="武汉", returned_on=None):
    store.save_whereabouts(s, person_id=who, draft=Draft("observing", place, start, end,
                                                         returned_on), reported_by_id=None)


def test_rows_counts_and_history(world):
    svc = world[1]
    with svc.sessions() as s, s.begin():
        p = ids(s)
        store.save_whereabouts(s, person_id=p["王五"], draft=Draft("away", "湖北", D(2, 1)),
                               reported_by_id=None)
        observe(s, p["李四"], D(2, 1), D(2, 14), returned_on=D(2, 1))
        observe(s, p["张老师"], D(1, 22), TUESDAY, place=None)
        store.save_leave(s, person_id=p["欧阳明月"], start=TUESDAY, end=D(2, 6), reported_by_id=None)
        store.save_leave(s, person_id=p["吴老师"], start=D(2, 5), end=D(2, 5), reported_by_id=None)
        # 王五 comes back on 2月5日 (told on that day): the 4th still reads as away
        store.save_whereabouts(s, person_id=p["王五"], draft=Draft("observing", "湖北", D(2, 5),
                               D(2, 18), D(2, 5)), reported_by_id=None)
    with svc.sessions() as s:
        p, s1 = ids(s), school_id(s)
        assert store.on_leave_ids(s, TUESDAY) == {p["欧阳明月"]}
        assert store.on_leave_ids(s, D(2, 5)) == {p["欧阳明月"], p["吴老师"]}
        assert store.observed_ids(s, TUESDAY) == {p["李四"], p["张老师"]}
        assert store.observed_ids(s, D(2, 5)) == {p["李四"], p["王五"]}     # 张老师's ended
        counts = store.watch_counts(s, TUESDAY)
        assert counts_line(counts) == "在外未返 1、居家观察 2、今日期满 1、请假 1"
        assert store.watch_counts(s, D(2, 5), s1) == {"away": 0, "observing": 2, "ending_today": 0,
                                                      "on_leave": 1, "returned": 0}
        assert store.watch_counts(s, D(2, 5), school_id(s, "第二小学"))["on_leave"] == 1
        rows = store.watch_rows(s, TUESDAY, s1)
        assert [(r.name, r.status, r.place, r.start, r.end, r.ending_today) for r in rows] == [
            ("王五", "away", "湖北", D(2, 1), None, False),
            ("张老师", "observing", None, D(1, 22), TUESDAY, True),
            ("李四", "observing", "武汉", D(2, 1), D(2, 14), False),
            ("欧阳明月", "leave", None, TUESDAY, D(2, 6), False)]
        sheet = store.watch_sheet_rows(s, TUESDAY, D(2, 5))
        assert sheet[0] == ("日期", "学校", "班级", "姓名", "状态", "地点", "开始", "结束", "返回日期")
        assert ("2020-02-04", "第一实验小学", "四年级1班", "王五", "在外未返", "湖北", "2020-02-01", "", "") in sheet
        assert ("2020-02-05", "第一实验小学", "四年级1班", "王五", "居家观察", "湖北", "2020-02-05",
                "2020-02-18", "2020-02-05") in sheet
        assert ("2020-02-04", "第一实验小学", "三年级2班", "张老师", "居家观察（今日期满）", "",
                "2020-01-22", "2020-02-04", "") in sheet
        # the sheet, the counts and the list agree day by day
        for day in (TUESDAY, D(2, 5)):
            assert len([r for r in sheet[1:] if r[0] == day.isoformat()]) == len(store.watch_rows(s, day))
        # history kept: nothing was overwritten
        assert s.scalar(select(func.count()).select_from(Whereabouts)) == 4
        assert s.scalar(select(func.count()).select_from(Leave)) == 2


def test_end_of_observation_notice_goes_once_to_the_principal(world):
    svc = world[1]
    config = svc.config
    now = dt.datetime(2020, 2, 4, 9, 0)
    with svc.sessions() as s, s.begin():
        p = ids(s)
        observe(s, p["李四"], D(1, 22), TUESDAY, returned_on=D(1, 22))
        observe(s, p["王五"], D(1, 25), D(2, 7))              # a Friday
        observe(s, p["周老师"], D(1, 26), D(2, 8))            # a Saturday
    with svc.sessions() as s, s.begin():
        assert observation_ending_messages(s, config, D(2, 3)) == []
        first = observation_ending_messages(s, config, TUESDAY)
        assert [(m.channel, m.target) for m in first] == [("person", "wangxz")]
        assert "【居家观察期满】第一实验小学 三年级2班 李四：居家观察今日期满（1月22日从武汉返回，共14天）" in first[0].content
        assert "2月5日起不再列入观察名单" in first[0].content
        assert len(enqueue(s, first, source="watch", now=now)) == 1
        # the job runs again (a restart's catch-up, run-job): nothing new is queued
        assert enqueue(s, observation_ending_messages(s, config, TUESDAY), source="watch", now=now) == []
    with svc.sessions() as s:
        sent = list(s.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("watch-end:%"))))
        assert len(sent) == 1 and sent[0].target == "wangxz"
        # Friday tells of Friday's end and of Saturday's (no job runs on a Saturday)
        friday = observation_ending_messages(s, config, D(2, 7))
        assert sorted(m.target for m in friday) == ["sunxz", "wangxz"]
        assert any("周老师" in m.content and "2月8日期满" in m.content for m in friday)
        assert observation_ending_messages(s, config, D(2, 10)) == []      # Monday: over


def test_extended_observation_is_told_on_its_new_last_day(world):
    svc = world[1]
    with svc.sessions() as s, s.begin():
        p = ids(s)
        observe(s, p["李四"], D(1, 22), TUESDAY)
        observe(s, p["李四"], D(1, 22), D(2, 6))               # extended before the notice
    with svc.sessions() as s:
        assert observation_ending_messages(s, svc.config, TUESDAY) == []
        [m] = observation_ending_messages(s, svc.config, D(2, 6))
        assert m.dedupe_key.endswith(":2020-02-06") and "李四" in m.content


def test_escalation_names_a_missed_person_under_observation(world):
    svc = world[1]
    with svc.sessions() as s, s.begin():
        p = ids(s)
        observe(s, p["李四"], D(2, 1), D(2, 14))
        observe(s, p["张老师"], D(2, 1), D(2, 14))
        observe(s, p["王五"], D(2, 1), D(2, 14))
        store.save_leave(s, person_id=p["王五"], start=TUESDAY, end=TUESDAY, reported_by_id=None)
        save_record(s, person_id=p["张老师"], day=TUESDAY, check="morning", temperature=36.5,
                    symptoms=[], abnormal=False, reported_by_id=p["张老师"], message_id=None)
    with svc.sessions() as s:
        lines = observed_missing_lines(s, TUESDAY, "morning", school_id(s))
        assert lines == ["· 李四（三年级2班）居家观察至2月14日，今天未报体温"]
        assert observed_missing_lines(s, TUESDAY, "noon", school_id(s)) == [
            "· 张老师（教职工）居家观察至2月14日，今天未报体温",
            "· 李四（三年级2班）居家观察至2月14日，今天未报体温"]
        assert observed_missing_lines(s, TUESDAY, "morning", school_id(s, "第二小学")) == []


# ------------------------------------------------------------------------------ CLI

def run(cfg, *args):
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def counts(world):
    with world[1].sessions() as s:
        return (s.scalar(select(func.count()).select_from(Whereabouts)),
                s.scalar(select(func.count()).select_from(Leave)))


SHEET = """姓名,学校,状态,地点,开始,结束
王五,第一实验小学,在外未返,湖北,2020-02-01,
李四,第一实验小学,已返回,武汉,2020/2/1,
张三,第一实验小学,已返回,广州,2020年2月2日,
张老师,第一实验小学,居家观察,,2020-02-01,2020-02-10
吴老师,第二小学,请假,,2020-02-04,2020-02-05
"""


def test_watch_import_all_or_nothing_then_list(world, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(world[1].config.database_url), encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(SHEET + "李明,第一实验小学,在外未返,湖北,,\n"
                   "王五,第三中学,在外未返,湖北,,\n张三,第一实验小学,出差,,,\n"
                   "李四,第一实验小学,居家观察,,2020-02-30,\n", encoding="utf-8")
    res = run(cfg, "watch", "import", str(bad))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "nothing imported, 4 problem(s)" in res.stderr
    assert "line 7: no 李明 in 第一实验小学 on the roster" in res.stderr
    assert "line 8: 学校 '第三中学' is not a school of the roster" in res.stderr
    assert "line 9: 状态 '出差' is not one of" in res.stderr
    assert "line 10: 开始 '2020-02-30' is not a date" in res.stderr
    assert counts(world) == (0, 0)                       # nothing of a bad file is written

    good = tmp_path / "good.csv"
    good.write_text(SHEET, encoding="utf-8")
    res = run(cfg, "watch", "import", str(good))
    assert res.returncode == 0, res.stderr
    assert "5 row(s): 5 added, 0 already stored" in res.stdout
    assert counts(world) == (4, 1)
    res = run(cfg, "watch", "import", str(good))          # again: nothing new
    assert res.returncode == 0 and "0 added, 5 already stored" in res.stdout
    assert counts(world) == (4, 1)

    res = run(cfg, "watch", "list", "--date", "2020-02-04")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "学校\t班级\t姓名\t状态\t地点\t开始\t结束"
    assert "第一实验小学\t三年级2班\t李四\t居家观察\t武汉\t2020-02-01\t2020-02-14" in lines
    assert "第一实验小学\t三年级2班\t张三\t已返回\t广州\t2020-02-02\t" in lines
    assert "第二小学\t一年级1班\t吴老师\t请假\t\t2020-02-04\t2020-02-05" in lines
    assert lines[-1] == "全区 2020-02-04：在外未返 1、居家观察 2、今日期满 0、请假 1"
    res = run(cfg, "watch", "list", "--school", "第二小学", "--date", "2020-02-04")
    assert res.returncode == 0 and "李四" not in res.stdout and "吴老师" in res.stdout
    res = run(cfg, "watch", "list", "--school", "第九中学")
    assert res.returncode == 2
    assert res.stderr.splitlines()[-1] == "error: --school '第九中学' is not a school of the roster"
    res = run(cfg, "watch", "list", "--date", "2月4日")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_watch_import_xlsx_and_bad_files(world, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(world[1].config.database_url), encoding="utf-8")
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "学校", "班级", "状态", "地点", "开始", "结束"])
    ws.append(["王五", "第一实验小学", "四年级1班", "居家观察", "武汉", dt.datetime(2020, 2, 1), None])
    ws.append(["李四", "第一实验小学", "", "请假", None, dt.date(2020, 2, 4), dt.date(2020, 2, 4)])
    path = tmp_path / "watch.xlsx"
    wb.save(path)
    res = run(cfg, "watch", "import", str(path))
    assert res.returncode == 0, res.stderr
    with world[1].sessions() as s:
        [w] = s.scalars(select(Whereabouts))
        assert (w.status, w.place, w.start, w.end) == ("observing", "武汉", D(2, 1), D(2, 14))
    no_header = tmp_path / "no_header.csv"
    no_header.write_text("名字,地方\n王五,湖北\n", encoding="utf-8")
    res = run(cfg, "watch", "import", str(no_header))
    assert res.returncode == 2 and "header lacks column(s) 姓名, 学校, 状态" in res.stderr
    res = run(cfg, "watch", "import", str(tmp_path / "missing.csv"))
    assert res.returncode == 2 and "file not found" in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------------------------------ dashboard

def dashboard_login(server, userid, password) -> requests.Session:
    web = requests.Session()
    page = web.get(f"{server.url}/dashboard/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = web.post(f"{server.url}/dashboard/login", timeout=10, allow_redirects=False,
                 data=dict(userid=userid, password=password, csrf_token=token))
    assert r.status_code == 302
    return web


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_dashboard_shows_the_list_per_school(world):
    server, svc = world[0], world[1]
    with svc.sessions() as s, s.begin():
        p = ids(s)
        store.save_whereabouts(s, person_id=p["王五"], draft=Draft("away", "湖北", D(2, 1)),
                               reported_by_id=None)
        observe(s, p["李四"], D(2, 1), D(2, 14), returned_on=D(2, 1))
        store.save_leave(s, person_id=p["吴老师"], start=TUESDAY, end=TUESDAY, reported_by_id=None)
    set_password(svc.config, "chenju", "bureau-pass-1")
    set_password(svc.config, "wangxz", "principal-pass-1")

    bureau = dashboard_login(server, "chenju", "bureau-pass-1")
    page = bureau.get(f"{server.url}/dashboard/watch", timeout=10)
    assert page.status_code == 200
    body = text_of(page.text)
    assert "全区 2月4日 人员摸排" in body
    assert "在外未返 1、居家观察 1、今日期满 0、请假 1" in body
    for name in ("王五", "李四", "吴老师", "第二小学"):
        assert name in body
    with svc.sessions() as s:        # the same figures as the digests' line
        assert counts_line(store.watch_counts(s, TUESDAY)) in body
    assert "人员摸排" in text_of(bureau.get(f"{server.url}/dashboard/", timeout=10).text)  # the nav link

    principal = dashboard_login(server, "wangxz", "principal-pass-1")
    body = text_of(principal.get(f"{server.url}/dashboard/watch?date=2020-02-04", timeout=10).text)
    assert "第一实验小学 2月4日 人员摸排" in body and "王五" in body and "李四" in body
    assert "吴老师" not in body and "第二小学" not in body
    body = text_of(principal.get(f"{server.url}/dashboard/watch?date=2020-02-03", timeout=10).text)
    assert "王五" in body and "李四" in body           # a past day as it stood

    assert requests.get(f"{server.url}/dashboard/watch", timeout=10,
                        allow_redirects=False).status_code == 302       # logged out: the login
