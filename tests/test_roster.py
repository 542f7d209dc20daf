"""Roster import: all-or-nothing validation with line numbers, one spelling per class and
name, liaisons, the --force guard, and XLSX files that lie about their size."""
import os
import pty
import re
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import LiaisonSchool, Person, School
from storage.roster import RosterError, TooManyRemoved, apply_roster, load_roster
from tests.support import ROSTER_CSV

ROOT = Path(__file__).resolve().parents[1]
HEADER = "school,class,name,role,userid,mobile\n"


@pytest.fixture
def sessions(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def write(tmp_path, text, name="roster.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def imported(sessions, path, **kw):
    with load_roster(path) as roster, sessions() as s, s.begin():
        return apply_roster(s, roster, **kw)


def people(sessions, **where):
    with sessions() as s:
        q = select(Person.name, Person.class_name).where(Person.active.is_(True))
        for k, v in where.items():
            q = q.where(getattr(Person, k) == v)
        return sorted(s.execute(q).all())


def count(sessions, model) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def problems_of(path) -> list[str]:
    with pytest.raises(RosterError) as err:
        load_roster(path)
    return err.value.problems


# --- import and re-import -----------------------------------------------------------------

def test_import_then_reimport_updates_not_duplicates(tmp_path, sessions):
    first = imported(sessions, write(tmp_path, ROSTER_CSV))
    assert (first.added, first.changed, first.removed) == (12, 0, 0)
    changed = ROSTER_CSV.replace("张老师,teacher,zhangls,13800000004",
                                 "张老师,teacher,zhangls,13900000000")
    changed = "\n".join(l for l in changed.splitlines() if "王五" not in l) + "\n"
    second = imported(sessions, write(tmp_path, changed))
    assert second.changed_names == ["张老师"] and second.removed_names == ["王五"]
    assert (second.added, second.changed, second.removed, second.unchanged) == (0, 1, 1, 10)
    assert count(sessions, Person) == 12 and count(sessions, School) == 2
    with sessions() as s:
        wang5 = s.scalar(select(Person).where(Person.name == "王五"))
        assert wang5.active is False          # deactivated, history kept
    again = imported(sessions, write(tmp_path, ROSTER_CSV))
    assert again.changed_names == ["张老师", "王五"] and again.added == 0   # 王五 is back
    assert people(sessions, name="王五") == [("王五", "四年级1班")]


def test_bad_rows_are_named_and_nothing_is_written(tmp_path, sessions):
    bad = ROSTER_CSV + "第一实验小学,三年级2班,,teacher,noname,\n第一实验小学,,刘老师,厨师,liuls,\n"
    text = "\n".join(problems_of(write(tmp_path, bad)))
    assert "line 14: name is empty" in text
    assert "line 15: role '厨师'" in text and "logistics/后勤" in text
    assert count(sessions, Person) == 0


def test_chinese_headers_and_gbk_file(tmp_path):
    text = "学校,班级,姓名,角色,企业微信账号,手机\n第一实验小学,三年级2班,李老师,班主任,lils,13800000003\n"
    [row] = list(load_roster(write(tmp_path, text, encoding="gb18030")))
    assert row.role == "head_teacher" and row.class_name == "三年级2班"


def test_duplicate_userid_is_refused(tmp_path):
    text = "school,class,name,role,userid\n一小,,甲,teacher,a\n一小,,乙,teacher,a\n"
    assert problems_of(write(tmp_path, text)) == ["line 3: same person as line 2 (userid a)"]


def test_missing_header_and_unknown_type(tmp_path):
    with pytest.raises(RosterError, match="header lacks"):
        load_roster(write(tmp_path, "a,b,c\n1,2,3\n"))
    with pytest.raises(RosterError, match="unsupported file type"):
        load_roster(write(tmp_path, "x", name="roster.pdf"))
    with pytest.raises(RosterError, match="not found"):
        load_roster(tmp_path / "missing.csv")
    with pytest.raises(RosterError, match="empty"):
        load_roster(write(tmp_path, "\n\n"))


def test_logistics_role(tmp_path, sessions):
    text = HEADER + "一小,,王后勤,后勤,wanghq,\n一小,,李师傅,logistics,lisf,\n一小,,无账号,后勤,,\n"
    assert problems_of(write(tmp_path, text)) == [
        "line 4: userid is empty (everyone but students needs their WeCom account)"]
    imported(sessions, write(tmp_path, text.rsplit("一小,,无账号", 1)[0]))
    with sessions() as s:
        assert sorted(s.scalars(select(Person.role))) == ["logistics", "logistics"]


# --- one spelling per class and name --------------------------------------------------------

def test_class_spellings_are_one_class_and_the_summary_says_so(tmp_path, sessions):
    text = HEADER + (
        "一小,三年级（2）班,李老师,班主任,lils,\n"
        "一小,三年级（2）班,张三,学生,,\n"
        "一小,三年级（2）班,李四,学生,,\n"
        "一小,三年级(2)班,王五,学生,,\n"
        "一小,三年级2班,赵六,学生,,\n"
        "一小,三年级 2 班,钱七,学生,,\n"
        "一小,初二(1)班,孙八,学生,,\n")
    summary = imported(sessions, write(tmp_path, text))
    assert summary.added == 7
    with sessions() as s:
        assert sorted(set(s.scalars(select(Person.class_name)))) == ["三年级2班", "初二1班"]
    text = summary.describe()
    assert "三年级（2）班 → 三年级2班 (3 rows)" in text
    assert "三年级(2)班 → 三年级2班 (1 row)" in text and "初二(1)班 → 初二1班 (1 row)" in text
    # the same student written in another spelling is the same student
    dup = HEADER + "一小,三年级（2）班,张三,学生,,\n一小,三年级2班,张三,学生,,\n"
    assert problems_of(write(tmp_path, dup)) == ["line 3: same person as line 2 (张三 in 三年级2班)"]


def test_people_stored_before_canonical_spellings_are_matched_not_duplicated(tmp_path, sessions):
    with sessions() as s, s.begin():      # as an older import stored them
        school = School(name="一小")
        s.add(school)
        s.flush()
        s.add_all([Person(name="张三", role="student", school_id=school.id, class_name="三年级（2）班"),
                   Person(name="胡 杰", role="student", school_id=school.id, class_name="三年级(2)班"),
                   Person(name="李四", role="student", school_id=school.id, class_name="三年级2班")])
    summary = imported(sessions, write(tmp_path, HEADER + "一小,三年级2班,张三,学生,,\n"
                                       "一小,三年级2班,胡杰,学生,,\n一小,三年级2班,李四,学生,,\n"))
    assert (summary.added, summary.changed, summary.unchanged) == (0, 2, 1)
    assert count(sessions, Person) == 3
    assert people(sessions) == [("张三", "三年级2班"), ("李四", "三年级2班"), ("胡杰", "三年级2班")]


def test_padded_names_are_cleaned(tmp_path, sessions):
    text = HEADER + ("一小,三年级2班,胡 杰,学生,,\n一小,三年级2班,Tom  Lee,学生,,\n"
                     "一小,三年级2班,买买提 • 艾力,学生,,\n一小,三年级2班,扎西\u200b顿珠,学生,,\n")
    summary = imported(sessions, write(tmp_path, text))
    assert [n for n, _ in people(sessions)] == sorted(["胡杰", "Tom Lee", "买买提·艾力", "扎西顿珠"])
    assert summary.cleaned_name_rows == 4 and "'胡 杰' → 胡杰" in summary.describe()


# --- every value validated -----------------------------------------------------------------

BAD_VALUES = [
    # (row after the header, the problem reported for it)
    ("一小,三年级2班," + "明" * 51 + ",学生,,", "name is longer than 50 characters (51)"),
    ("一小," + "班" * 51 + ",张三,学生,,", "class is longer than 50 characters (51)"),
    ("一" * 101 + ",,王校长,校长,wxz,", "school is longer than 100 characters (101)"),
    ("一小,,王老师,教师," + "a" * 65 + ",", "userid is longer than 64 characters (65)"),
    ("一小,,王老师,教师,wang ls,", "userid 'wang ls' has characters WeCom does not allow"),
    ("一小,,王老师,教师,wangls,1380000000012345678901234", "is not a phone number"),
    ("一小,三年级2班,<@all>,学生,,", "name contains markup"),
    ("一小,三年级2班,[点我](http://evil.example),学生,,", "name contains a markdown link"),
    ("一小,三年级2班,\"张\n三\",学生,,", "name contains a line break"),
    ("一小,三年级2班,张\u202e三,学生,,", "name contains a bidirectional control character (U+202E)"),
    ("一小,三年级2班,\x1b[2J张三,学生,,", "name contains an escape sequence (ESC)"),
    ("<font color=\"warning\">一小</font>,,王校长,校长,wxz,", "school contains markup"),
    ("一小,三年级`2`班,张三,学生,,", "class contains a backtick"),
    ("一小,三年级2班,**张三**,学生,,", "name contains a run of '*'"),
    ("一小,三年级2班,张\x00三,学生,,", None),       # a NUL: not a text file at all
]


@pytest.mark.parametrize("row, problem", BAD_VALUES)
def test_each_unsafe_value_is_refused_with_its_line(tmp_path, row, problem):
    text = HEADER + "一小,三年级2班,李四,学生,,\n" + row + "\n"
    found = problems_of(write(tmp_path, text))
    if problem is None:
        assert found == ["roster.csv: this is not a CSV text file"]
    else:
        assert len(found) == 1 and found[0].startswith("line 3: ") and problem in found[0], found


def test_all_bad_values_of_a_file_are_listed_and_nothing_is_written(tmp_path, sessions):
    rows = [r for r, p in BAD_VALUES if p]
    text = HEADER + "\n".join(rows) + "\n"
    found = problems_of(write(tmp_path, text))
    # one problem per bad row, each with its own line (the quoted name spans lines 10-11)
    assert len(found) == len(rows)
    assert [f.split(":")[0] for f in found][:8] == [f"line {n}" for n in range(2, 10)]
    assert count(sessions, Person) == 0 and count(sessions, School) == 0


def test_values_as_long_as_their_columns_are_stored(tmp_path, sessions):
    school, cls, name = "校" * 100, "班" * 50, "明" * 50
    text = HEADER + f"{school},{cls},{name},学生,,\n{school},,王校长,校长,{'u' * 64},{'1' * 20}\n"
    assert imported(sessions, write(tmp_path, text)).added == 2      # PostgreSQL too
    assert people(sessions, role="student") == [(name, cls)]


def test_a_file_that_is_not_a_roster_is_refused_in_bounded_memory(tmp_path):
    one_line = write(tmp_path, HEADER + "一小," * 100_000 + "\n", name="wide.csv")
    assert problems_of(one_line) == ["line 2: longer than 65536 characters; is this a roster?"]
    columns = HEADER.strip() + "," + ",".join(f"c{i}" for i in range(500)) + "\n"
    wide = write(tmp_path, columns + "一小,三年级2班,张三,学生,,," + "x," * 500 + "\n")
    [row] = list(load_roster(wide))                # columns past the 64th are never read
    assert row.name == "张三"


def test_thousands_of_bad_rows_are_counted_not_all_listed(tmp_path):
    text = HEADER + "一小,三年级2班,,学生,,\n" * 5000
    with pytest.raises(RosterError) as err:
        load_roster(write(tmp_path, text))
    assert err.value.total == 5000 and len(err.value.problems) == 101
    assert err.value.problems[-1] == "… and 4900 more bad row(s) not shown"


# --- liaisons: the schools column ------------------------------------------------------------

LIAISONS = ("school,class,name,role,userid,mobile,联系学校\n"
            ",,陈局,教育局,chenju,,一小、二小\n"
            ",,林科,教育局,linke,,二小;三小\n"
            ",,吴科,教育局,wuke,,\n"
            "一小,,王校长,校长,wangxz,,\n"
            "二小,,孙校长,校长,sunxz,,\n"
            "三小,,周校长,校长,zhouxz,,\n")


def liaison_map(sessions) -> dict[str, list[str]]:
    with sessions() as s:
        rows = s.execute(select(Person.userid, School.name)
                         .join(LiaisonSchool, LiaisonSchool.person_id == Person.id)
                         .join(School, School.id == LiaisonSchool.school_id)).all()
    out: dict[str, list[str]] = {}
    for userid, school in sorted(rows):
        out.setdefault(userid, []).append(school)
    return out


def test_schools_column_writes_liaisons_and_reimport_replaces_them(tmp_path, sessions):
    summary = imported(sessions, write(tmp_path, LIAISONS))
    assert liaison_map(sessions) == {"chenju": ["一小", "二小"], "linke": ["三小", "二小"]}
    assert "liaisons: 2 bureau people with schools" in summary.describe()
    again = LIAISONS.replace("一小、二小", "三小").replace("二小;三小", "")
    again = again.replace(",,吴科,教育局,wuke,,", ",,吴科,教育局,wuke,,\"一小, 二小\"")
    imported(sessions, write(tmp_path, again))
    assert liaison_map(sessions) == {"chenju": ["三小"], "wuke": ["一小", "二小"]}
    assert count(sessions, LiaisonSchool) == 3


def test_a_roster_without_the_column_leaves_liaisons_alone(tmp_path, sessions):
    imported(sessions, write(tmp_path, LIAISONS))
    plain = "\n".join(l.rsplit(",", 1)[0] for l in LIAISONS.splitlines()) + "\n"
    summary = imported(sessions, write(tmp_path, plain.replace("联系学校", "").rstrip(",")))
    assert summary.liaisons is None
    assert liaison_map(sessions) == {"chenju": ["一小", "二小"], "linke": ["三小", "二小"]}


def test_a_school_already_imported_counts_and_an_unknown_one_is_a_line_error(tmp_path, sessions):
    imported(sessions, write(tmp_path, HEADER + "四小,,钱校长,校长,qianxz,\n"))
    text = ("school,class,name,role,userid,mobile,schools\n"
            ",,陈局,bureau,chenju,,四小\n"               # in the database, not in this file
            ",,林科,bureau,linke,,一小、城西小学校\n"      # 城西小学校 is nobody's school
            "一小,,王校长,principal,wangxz,,\n"
            "四小,,钱校长,principal,qianxz,,\n")
    path = write(tmp_path, text)
    with pytest.raises(RosterError) as err, load_roster(path) as roster, sessions() as s, s.begin():
        apply_roster(s, roster)
    assert err.value.problems == [
        "line 3: schools: '城西小学校' is not a school of the roster "
        "(neither in this file nor already imported)"]
    assert count(sessions, Person) == 1 and count(sessions, LiaisonSchool) == 0
    # given the stored schools, load_roster reports it with the row errors
    with pytest.raises(RosterError, match="line 3: schools: '城西小学校'"):
        load_roster(path, known_schools=["四小"])
    imported(sessions, write(tmp_path, text.replace("、城西小学校", "")))
    assert liaison_map(sessions) == {"chenju": ["四小"], "linke": ["一小"]}


def test_schools_on_a_row_that_is_not_bureau_is_an_error(tmp_path):
    text = "school,class,name,role,userid,mobile,schools\n一小,,王校长,principal,wangxz,,一小\n"
    assert problems_of(write(tmp_path, text)) == [
        "line 2: schools (联系学校) is only for bureau rows"]


# --- the fifth that needs --force --------------------------------------------------------------

def test_deactivating_more_than_a_fifth_needs_force(tmp_path, sessions):
    imported(sessions, write(tmp_path, ROSTER_CSV))                    # 12 active
    lines = ROSTER_CSV.splitlines()
    fewer = write(tmp_path, "\n".join(lines[:-3]) + "\n", name="fewer.csv")   # 3 of 12: a fourth
    with pytest.raises(TooManyRemoved) as err:
        imported(sessions, fewer)
    assert (err.value.removed, err.value.active) == (3, 12)
    assert "would deactivate 3 of the 12 active people" in str(err.value)
    assert "--force" in str(err.value)
    assert len(people(sessions)) == 12                                 # nothing written
    two_gone = write(tmp_path, "\n".join(lines[:-2]) + "\n", name="two.csv")  # under a fifth
    assert imported(sessions, two_gone).removed == 2
    assert imported(sessions, fewer, force=True).removed == 1
    assert len(people(sessions)) == 9


# --- XLSX ---------------------------------------------------------------------------------------

def make_xlsx(path, rows):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def rewrite_part(path, part, change):
    """Rewrites one part of a zip (an XLSX) through `change(bytes) -> bytes`."""
    with zipfile.ZipFile(path) as zf:
        parts = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in parts:
            zf.writestr(info.filename, change(data) if info.filename == part else data)


def dimension(xml: bytes, ref: bytes) -> bytes:
    """The sheet with its stored dimension replaced by `ref`."""
    new, n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="' + ref + b'"', xml)
    assert n == 1
    return new


def district_rows(n):
    yield ["学校", "班级", "姓名", "角色", "企业微信账号", "手机"]
    yield ["一小", None, "王校长", "校长", "wangxz", 13800000002]
    for i in range(n):
        yield ["一小", f"{i % 6 + 1}年级（{i % 4 + 1}）班", f"学生{i}", "学生", None, None]


def test_xlsx_roster_with_one_bad_row(tmp_path):
    path = make_xlsx(tmp_path / "roster.xlsx", [
        ["学校", "班级", "姓名", "角色", "企业微信账号", "手机"],
        ["第一实验小学", "三年级2班", "李老师", "班主任", "lils", 13800000003],
        ["第一实验小学", None, "赵老师", "班主任", "zhaols", None]])
    assert problems_of(path) == ["line 3: class is empty (a head_teacher belongs to a class)"]
    from openpyxl import load_workbook
    wb = load_workbook(path)
    wb.active.delete_rows(3)
    wb.save(path)
    [row] = list(load_roster(path))
    assert row.mobile == "13800000003"


def test_a_stale_xlsx_dimension_still_imports_every_row(tmp_path, sessions):
    path = make_xlsx(tmp_path / "roster.xlsx", district_rows(300))
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: dimension(xml, b"A1:B2"))
    with zipfile.ZipFile(path) as zf:
        assert b'ref="A1:B2"' in zf.read("xl/worksheets/sheet1.xml")
    summary = imported(sessions, path)
    assert summary.added == 301
    assert "1年级（1）班 → 1年级1班" in summary.describe()


def test_a_declared_xfd_dimension_does_not_allocate(tmp_path):
    path = make_xlsx(tmp_path / "roster.xlsx", district_rows(2000))
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: dimension(xml, b"A1:XFD2002"))
    tracemalloc.start()
    try:
        with load_roster(path) as roster:
            assert len(roster) == 2001
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 << 20, f"peak {peak >> 20} MB"     # 16384 columns × 2002 rows: ~300 MB


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    path = tmp_path / "bomb.xlsx"
    make_xlsx(path, district_rows(3))
    padding = b" " * (50 << 20)                           # 50 MB of spaces: ~50 KB packed
    rewrite_part(path, "xl/worksheets/sheet1.xml",
                 lambda xml: xml.replace(b"<sheetData>", b"<sheetData>" + padding))
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(RosterError) as err:
            load_roster(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "zip bomb" in err.value.problems[0] and "xl/worksheets/sheet1.xml" in err.value.problems[0]
    assert peak < 10 << 20


# --- through the command line --------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path):
    url = f"sqlite:///{tmp_path}/bot.db"
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text(text.replace('url = "sqlite:///data/bot.db"', f'url = "{url}"'), encoding="utf-8")
    upgrade(url)
    return {**os.environ, "BOT_CONFIG": str(cfg)}


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "bot", "roster", "import", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def error_lines(res) -> list[str]:
    return [l for l in res.stderr.splitlines() if " INFO " not in l]   # alembic's log lines


@pytest.mark.slow
def test_malformed_xlsx_gets_one_line_and_no_traceback(tmp_path, cli_env):
    garbage = tmp_path / "garbage.xlsx"
    garbage.write_bytes(os.urandom(4096))
    not_a_book = tmp_path / "notabook.xlsx"
    with zipfile.ZipFile(not_a_book, "w") as zf:
        zf.writestr("hello.txt", "hi")
    broken_sheet = make_xlsx(tmp_path / "broken.xlsx", district_rows(50))
    rewrite_part(broken_sheet, "xl/worksheets/sheet1.xml", lambda xml: xml[:len(xml) // 2])
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(make_xlsx(tmp_path / "whole.xlsx", district_rows(50)).read_bytes()[:3000])
    for path in (garbage, not_a_book, broken_sheet, truncated):
        res = cli(cli_env, str(path))
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr
        [line] = error_lines(res)
        assert line.startswith(f"error: {path}: nothing imported: {path.name}: not a readable "
                               "XLSX file ("), line


@pytest.mark.slow
def test_cli_force_and_progress(tmp_path, cli_env):
    roster = write(tmp_path, ROSTER_CSV)
    res = cli(cli_env, str(roster))
    assert res.returncode == 0 and "added 12" in res.stdout
    assert "\r" not in res.stderr                         # no progress bar off a terminal
    fewer = write(tmp_path, "\n".join(ROSTER_CSV.splitlines()[:-3]) + "\n", name="fewer.csv")
    res = cli(cli_env, str(fewer))
    assert res.returncode == 2 and error_lines(res) == [
        f"error: {fewer}: nothing imported: this import would deactivate 3 of the 12 active "
        "people (more than a fifth); check the file, or pass --force to deactivate them"]
    # with --force, and stderr on a terminal: a progress bar, cleared at the end
    master, slave = pty.openpty()
    try:
        res = subprocess.run([sys.executable, "-m", "bot", "roster", "import", str(fewer),
                              "--force"], cwd=ROOT, env=cli_env, stdout=subprocess.PIPE,
                             stderr=slave, text=True, timeout=120)
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert res.returncode == 0 and "removed 3" in res.stdout
    assert b"writing [" in shown and b"100%" in shown and shown.rstrip().endswith(b"\x1b[K")
