"""Roster import: all-or-nothing validation with line numbers; re-import updates."""
import pytest
from sqlalchemy import func, select

from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import Person, School
from storage.roster import RosterError, apply_roster, load_roster
from tests.support import ROSTER_CSV


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


def test_import_then_reimport_updates_not_duplicates(tmp_path, sessions):
    rows = load_roster(write(tmp_path, ROSTER_CSV))
    with sessions() as s, s.begin():
        first = apply_roster(s, rows)
    assert len(first.added) == 12 and not first.changed and not first.removed
    changed = ROSTER_CSV.replace("张老师,teacher,zhangls,13800000004",
                                 "张老师,teacher,zhangls,13900000000")
    changed = "\n".join(l for l in changed.splitlines() if "王五" not in l) + "\n"
    with sessions() as s, s.begin():
        second = apply_roster(s, load_roster(write(tmp_path, changed)))
    assert second.changed == ["张老师"] and second.removed == ["王五"] and not second.added
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 12
        assert s.scalar(select(func.count()).select_from(School)) == 2
        wang5 = s.scalar(select(Person).where(Person.name == "王五"))
        assert wang5.active is False          # deactivated, history kept


def test_bad_rows_are_named_and_nothing_is_written(tmp_path, sessions):
    bad = ROSTER_CSV + "第一实验小学,三年级2班,,teacher,noname,\n第一实验小学,,刘老师,厨师,liuls,\n"
    with pytest.raises(RosterError) as err:
        load_roster(write(tmp_path, bad))
    text = "\n".join(err.value.problems)
    assert "line 14: name is empty" in text
    assert "line 15: role '厨师'" in text
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 0


def test_chinese_headers_and_gbk_file(tmp_path):
    text = "学校,班级,姓名,角色,企业微信账号,手机\n第一实验小学,三年级2班,李老师,班主任,lils,13800000003\n"
    rows = load_roster(write(tmp_path, text, encoding="gb18030"))
    assert rows[0].role == "head_teacher" and rows[0].class_name == "三年级2班"


def test_duplicate_userid_is_refused(tmp_path):
    text = "school,class,name,role,userid\n一小,,甲,teacher,a\n一小,,乙,teacher,a\n"
    with pytest.raises(RosterError, match="line 3: same person as line 2"):
        load_roster(write(tmp_path, text))


def test_missing_header_and_unknown_type(tmp_path):
    with pytest.raises(RosterError, match="header lacks"):
        load_roster(write(tmp_path, "a,b,c\n1,2,3\n"))
    with pytest.raises(RosterError, match="unsupported file type"):
        load_roster(write(tmp_path, "x", name="roster.pdf"))
    with pytest.raises(RosterError, match="not found"):
        load_roster(tmp_path / "missing.csv")


def test_xlsx_roster_with_one_bad_row(tmp_path):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["学校", "班级", "姓名", "角色", "企业微信账号", "手机"])
    ws.append(["第一实验小学", "三年级2班", "李老师", "班主任", "lils", 13800000003])
    ws.append(["第一实验小学", None, "赵老师", "班主任", "zhaols", None])
    path = tmp_path / "roster.xlsx"
    wb.save(path)
    with pytest.raises(RosterError) as err:
        load_roster(path)
    assert err.value.problems == ["line 3: class is empty (a head_teacher belongs to a class)"]
    ws.delete_rows(3)
    wb.save(path)
    rows = load_roster(path)
    assert rows[0].mobile == "13800000003"
