"""The opening checklist (开学准备清单): the wordings, marking and taking back with who and
when (history kept), who may, `checklist status`, the digest line and the dashboard table."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from handlers import notices as words
from handlers.parser import ParseResult, parse
from storage import notices as store
from storage.models import ChecklistMark, Person, School
from tests.support import config_toml
from tests.test_jobs import env, env_factory  # noqa: F401 - fixtures
from tests.test_notices import CHECKLIST, chat  # noqa: F401 - fixture

S1, S2 = "第一实验小学", "第二小学"


@pytest.mark.parametrize("text,action,done,numbers,names", [
    ("清单", "show", True, (), ()),
    ("开学准备清单", "show", True, (), ()),
    ("清单 1 3 已完成", "mark", True, (1, 3), ()),
    ("清单1、3已完成", "mark", True, (1, 3), ()),
    ("清单 １，３ 完成", "mark", True, (1, 3), ()),
    ("完成 2", "mark", True, (2,), ()),
    ("完成2", "mark", True, (2,), ()),
    ("清单 第2项 完成", "mark", True, (2,), ()),
    ("已完成：重点场室消毒", "mark", True, (), ("重点场室消毒",)),
    ("已完成：重点场室消毒、发热应急预案", "mark", True, (), ("重点场室消毒", "发热应急预案")),
    ("重点场室消毒 已完成", "mark", True, (), ("重点场室消毒",)),
    ("清单 2 未完成", "mark", False, (2,), ()),
    ("清单2没完成", "mark", False, (2,), ()),
    ("取消 2", "mark", False, (2,), ()),
])
def test_checklist_wordings(text, action, done, numbers, names):
    r = words.read_checklist(text)
    assert (r.action, r.done, r.numbers, r.names) == (action, done, numbers, names)


@pytest.mark.parametrize("text", ["完成了", "今天天气不错", "36.5", ""])
def test_what_is_no_checklist_message(text):
    assert words.read_checklist(text) is None


def test_items_are_found_by_number_or_name():
    def resolve(text):
        return words.resolve_items(words.read_checklist(text), CHECKLIST)

    assert resolve("清单 3 1 完成") == ([3, 1], [])
    assert resolve("已完成：物资") == ([2], [])
    assert resolve("清单 4 完成") == ([], ["清单共3项，没有第4项"])
    assert resolve("已完成：操场") == ([], ["清单中没有“操场”"])
    assert resolve("清单 全部完成") == ([1, 2, 3], [])


# ------------------------------------------------------------------------------ in chat

def topic(c, userid: str, text: str) -> str | None:
    """The `checklist` topic's answer, as the inbox asks for it once parse names the topic."""
    from bot.topics import TopicContext, answer_topic

    now = c.clock()
    with c.sessions() as s, s.begin():
        person = s.scalar(select(Person).where(Person.userid == userid))
        return answer_topic(TopicContext(s, c.config, person,
                                         ParseResult(kind="other", topic="checklist"), text,
                                         now, now.date(), False, None))


DIALOG = [
    ("wangxz", "清单", ["第一实验小学 开学准备清单（已完成 0/3）", "1. ⬜ 重点场室消毒",
                       "3. ⬜ 发热应急预案", "清单 1 3 已完成"], ["✅"]),
    ("wangxz", "清单 1 3 已完成", ["已标记完成：1. 重点场室消毒、3. 发热应急预案",
                                "1. ✅ 重点场室消毒（王校长 2月4日 08:01）", "（已完成 2/3）",
                                "2. ⬜ 防疫物资储备"], []),
    ("wangxz", "完成 2", ["已标记完成：2. 防疫物资储备", "（已完成 3/3）", "全部准备工作已完成"], []),
    ("wangxz", "已完成：重点场室消毒", ["此前已完成：1. 重点场室消毒"], ["已标记完成"]),
    ("wangxz", "清单 2 未完成", ["已改为未完成：2. 防疫物资储备", "2. ⬜ 防疫物资储备",
                              "（已完成 2/3）"], []),
    ("wangxz", "清单 5 完成", ["未能标记：清单共3项，没有第5项"], ["已标记完成"]),
    ("sunxz", "清单", ["第二小学 开学准备清单（已完成 0/3）"], ["✅"]),       # its own school
    ("zhangls", "清单 1 已完成", ["由校长填报"], ["已标记"]),                  # a teacher
    ("chenju", "清单", ["由各校校长填报"], ["已标记"]),                       # the bureau
]


def play(answer, steps):
    for userid, text, wants, unwanted in steps:
        reply = answer(userid, text) or ""
        for w in wants:
            assert w in reply, f"{userid}: {text!r} → {reply!r} lacks {w!r}"
        for u in unwanted:
            assert u not in reply, f"{userid}: {text!r} → {reply!r} has {u!r}"


def assert_marks_after_dialog(c):
    with c.sessions() as s:
        s1 = s.scalar(select(School.id).where(School.name == S1))
        wang = s.scalar(select(Person.id).where(Person.userid == "wangxz"))
        marks = store.current_marks(s, s1, c.config.tz)
        assert {i: m.done for i, m in marks.items()} == {
            "重点场室消毒": True, "防疫物资储备": False, "发热应急预案": True}
        history = store.mark_history(s, s1, "防疫物资储备")
        assert [(m.done, m.marked_by_id, m.replaced_at is None) for m in history] == [
            (True, wang, False), (False, wang, True)]                   # undone, kept
        assert history[0].created_at == dt.datetime(2020, 2, 4, 0, 2)   # 08:02 Shanghai
        assert history[1].created_at == dt.datetime(2020, 2, 4, 0, 4)
        s2 = s.scalar(select(School.id).where(School.name == S2))
        assert store.current_marks(s, s2, c.config.tz) == {}


def test_marking_undo_and_who_may(chat):
    def answer(userid, text):
        reply = topic(chat, userid, text)
        chat.clock.advance(minutes=1)
        return reply

    play(answer, DIALOG)
    assert_marks_after_dialog(chat)


def test_the_same_dialog_through_the_webhook(chat):
    assert parse("清单 1 3 已完成", dt.date(2020, 2, 4)).topic == "checklist"

    def answer(userid, text):
        reply = chat.say(userid, text)
        chat.clock.advance(minutes=1)
        return reply

    play(answer, DIALOG)
    assert_marks_after_dialog(chat)
    with chat.sessions() as s:                 # each mark names the message that made it
        assert all(m.message_id for m in s.scalars(select(ChecklistMark)))


def test_without_a_checklist_configured(env):
    from bot.topics import TopicContext, answer_topic

    with env.sessions() as s, s.begin():
        wang = s.scalar(select(Person).where(Person.userid == "wangxz"))
        now = env.clock()
        reply = answer_topic(TopicContext(s, env.config, wang,
                                          ParseResult(kind="other", topic="checklist"), "清单",
                                          now, now.date(), False, None))
    assert reply == "目前没有需要填报的开学准备清单。"


# ------------------------------------------------------------------------------ status

def test_checklist_status_and_the_digest_line(chat, tmp_path, capsys):
    from bot.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(chat.config.database_url, chat.standin.url)
                   + "".join(f'\n[[checklist]]\nitem = "{i}"\n' for i in CHECKLIST),
                   encoding="utf-8")
    assert main(["--config", str(cfg), "checklist", "status"]) == 0
    before = capsys.readouterr().out
    assert "开学准备清单 3 项，已全部完成 0/2 校" in before
    assert re.search(rf"{S1}\s+·\s+·\s+·\s+0/3", before)
    for userid, text in (("wangxz", "清单 1 2 3 已完成"), ("sunxz", "完成 2"),
                         ("wangxz", "清单 3 未完成"), ("wangxz", "完成 3")):
        topic(chat, userid, text)
    assert main(["--config", str(cfg), "checklist", "status"]) == 0
    after = capsys.readouterr().out
    assert "已全部完成 1/2 校" in after
    assert re.search(rf"{S1}\s+✓\s+✓\s+✓\s+3/3", after)
    assert re.search(rf"{S2}\s+·\s+✓\s+·\s+1/3", after)
    assert "1. 重点场室消毒" in after and "3. 发热应急预案" in after
    with chat.sessions() as s:
        done, total = store.checklist_finished(s, chat.config.checklist)
    assert words.checklist_digest_line(done, total) == "开学准备：已全部完成 1/2 校"


def test_checklist_status_without_items(env, tmp_path, capsys):
    from bot.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(env.url, env.standin.url), encoding="utf-8")
    assert main(["--config", str(cfg), "checklist", "status"]) == 0
    assert "未配置开学准备清单" in capsys.readouterr().out


# ------------------------------------------------------------------------------ dashboard

def test_dashboard_table_school_by_item(chat):
    from bot.passwd import set_password
    from tests.test_dashboard import log_in, text_of

    set_password(chat.config, "chenju", "bureau-pass-1")
    set_password(chat.config, "sunxz", "principal-pass-2")
    topic(chat, "wangxz", "清单 1 3 已完成")
    bureau = chat.app.test_client()
    assert log_in(bureau, "chenju", "bureau-pass-1").status_code == 302
    page = bureau.get("/dashboard/checklist")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "已全部完成 0/2 校" in text_of(page)
    row1 = re.search(rf'data-school="{S1}">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r">([✓·])<", row1) == ["✓", "·", "✓"] and "2/3" in row1
    assert "王校长 2月4日 08:00" in row1                    # who and when, on hover
    row2 = re.search(rf'data-school="{S2}">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r">([✓·])<", row2) == ["·", "·", "·"]
    principal = chat.app.test_client()
    assert log_in(principal, "sunxz", "principal-pass-2").status_code == 302
    own = principal.get("/dashboard/checklist").get_data(as_text=True)
    assert f'data-school="{S2}"' in own and f'data-school="{S1}"' not in own
