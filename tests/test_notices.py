"""Bureau notices (统一发布): the texts within WeCom's limits, delivery once per principal
through faults, `收到` in each wording through the real webhook (and silence when nothing
waits), exactly one reminder, `notice status` before and after, the digest's lines, and the
dashboard's send form with its CSRF token.

Also holds the `chat` fixture (the webhook on loopback with a checklist configured, the
stand-in, a FixedClock) that tests/test_checklist.py shares.
"""
from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import types
from contextlib import redirect_stderr, redirect_stdout

import pytest
from sqlalchemy import func, select

from handlers import notices as words
from scheduler.notice_jobs import notice_reminders, queue_notice_reminders, send_notice
from storage.models import InboundMessage, Notice, NoticeDelivery, OutboxMessage, Person
from storage import notices as store
from tests.support import ROSTER_CSV, FixedClock, LiveServer, config_toml, make_config
from tests.test_jobs import env, env_factory  # noqa: F401 - fixtures

CHECKLIST = ("重点场室消毒", "防疫物资储备", "发热应急预案")
SUNDAY = dt.datetime(2026, 3, 1, 9, 0)      # no school: no daily job catches up in the runner
_ids = itertools.count(50_000)


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture
def chat(db_url, tmp_path):
    """The webhook on loopback (with `[[checklist]]`), the stand-in for outbound messages and a
    FixedClock at Tuesday 4 February 2020 08:00; `say(userid, text)` gives the reply ("" for
    silence)."""
    from bot.app import create_app
    from bot.services import Services
    from bot.wecom.signer import CallbackSigner
    from bot.wecom.standin import WeComStandIn
    from storage.db import upgrade
    from storage.roster import apply_roster, load_roster
    from tests.support import SAMPLE_AES_KEY, SAMPLE_CORP_ID, SAMPLE_TOKEN

    upgrade(db_url)
    standin = WeComStandIn().start()
    config = make_config(db_url, api_base=standin.url,
                         checklist=[{"item": i} for i in CHECKLIST],
                         notices={"remind_after": "2h"})
    clock = FixedClock(dt.datetime(2020, 2, 4, 8, 0))
    svc = Services.build(config, clock=clock)
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER_CSV, encoding="utf-8")
    with svc.sessions() as s, s.begin():
        apply_roster(s, load_roster(csv))
    signer = CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    app = create_app(services=svc)
    with LiveServer(app) as server:
        def say(userid: str, text: str) -> str:
            status, reply = signer.post_text(server.url, userid, text, msg_id=str(next(_ids)))
            assert status == 200
            return reply or ""

        yield types.SimpleNamespace(config=config, sessions=svc.sessions, clock=clock,
                                    standin=standin, say=say, server=server, app=app)
    svc.close()
    standin.stop()


def post_notice(c, title="关于延期开学的通知", body="各校：开学时间另行通知。", to="principals"):
    with c.sessions() as s, s.begin():
        return store.queue_notice(s, c.config, title=title, body=body, audience=to,
                                  now=c.clock()).id


def deliveries(sessions) -> dict[tuple[int, str], NoticeDelivery]:
    with sessions() as s:
        return {(d.notice_id, userid): d for d, userid in s.execute(
            select(NoticeDelivery, Person.userid)
            .join(Person, NoticeDelivery.person_id == Person.id))}


# ------------------------------------------------------------------------------ the texts

@pytest.mark.parametrize("lines,line_len", [(1, 10), (3, 700), (40, 120), (1, 9000)])
def test_a_notice_is_split_within_wecoms_limits_with_numbered_parts(lines, line_len):
    body = "\n".join(f"第{i}条：" + "防控" * line_len for i in range(lines))
    sent = dt.datetime(2020, 2, 4, 8, 0)
    for texts, limit, head in ((words.person_texts(7, "开学通知", body, sent), 2048, "【通知】开学通知"),
                               (words.group_markdowns(7, "开学通知", body, sent), 4096,
                                "**【通知】开学通知**")):
        assert all(len(t.encode("utf-8")) <= limit for t in texts)
        assert all(t.startswith(head) for t in texts)
        if len(texts) > 1:
            assert [re.search(r"（(\d+)/(\d+)）", t.splitlines()[0]).groups() for t in texts] == [
                (str(k), str(len(texts))) for k in range(1, len(texts) + 1)]
        assert "通知编号7" in texts[-1] and "收到" in texts[-1]
        assert all("通知编号7" not in t for t in texts[:-1])
        # nothing lost or doubled: the parts' bodies are the text again
        inner = "".join("".join(t.splitlines()[1:-2] if k == len(texts) - 1
                                else t.splitlines()[1:]) for k, t in enumerate(texts))
        assert inner == body.replace("\n", "")


def test_a_bad_notice_is_refused_with_the_reason():
    assert words.notice_problems("", "正文") == ["通知标题不能为空"]
    assert words.notice_problems("标题", "  ") == ["通知正文不能为空"]
    assert words.notice_problems("一\n二", "正文") == ["通知标题只能是一行"]
    assert "太长" in words.notice_problems("标" * 61, "正文")[0]
    assert "最多20条" in words.notice_problems("标题", "长" * 20000)[0]


@pytest.mark.parametrize("text,ack,listing", [
    ("收到", True, False), ("已收到", True, False), ("收到通知", True, False),
    ("收到！", True, False), ("好的，收到", True, False), ("收到了", True, False),
    ("收到学生家长的电话", False, False), ("没收到", False, False), ("36.5", False, False),
    ("通知", False, True), ("查看通知", False, True), ("明天开会的通知", False, False),
])
def test_acknowledgement_and_listing_wordings(text, ack, listing):
    assert words.is_ack(text) is ack
    assert words.is_notice_list(text) is listing


def test_digest_lines():
    assert words.checklist_digest_line(12, 15) == "开学准备：已全部完成 12/15 校"
    assert words.checklist_digest_line(0, 0) is None
    pending = [words.PendingNotice(3, "关于延期开学", ("城南中学", "城西小学"), 15),
               words.PendingNotice(4, "全部确认", (), 15)]
    assert words.notices_digest_lines(pending) == [
        "通知未确认：《关于延期开学》 城南中学、城西小学（已确认 13/15 校）"]


# ------------------------------------------------------------------------------ delivery

def test_send_reaches_every_principal_once_through_faults(env):
    env.standin.fail_next("/cgi-bin/message/send", status=500, times=2)   # down, then back
    env.standin.fail_next("/cgi-bin/message/send", errcode=42001)         # token expired
    env.standin.fail_next("/cgi-bin/message/send", errcode=45009)         # rate limited
    body = "\n".join(f"{i}. " + "请各校做好开学前准备工作。" * 30 for i in range(8))
    sent = env.clock()
    result = send_notice(env.config, env.sessions, env.client(), title="开学准备工作",
                         body=body, clock=env.clock, sleep=env.sleep)
    assert result.unsent == []
    parts = words.person_texts(result.notice.id, "开学准备工作", body, sent)
    assert len(parts) > 1
    for userid in ("wangxz", "sunxz"):                 # the two principals, each part once
        got = env.texts_to(userid)
        assert len(got) == len(parts) and len(set(got)) == len(parts)
        assert all(t.startswith("【通知】开学准备工作") for t in got)
        assert all(len(t.encode()) <= 2048 for t in got)
    reached = {u for users, _t in env.person_messages() for u in users}
    assert reached == {"wangxz", "sunxz"}             # no teacher, no bureau person
    assert env.group_messages() == []
    env.assert_each_delivered_once()
    assert env.slept, "the faults were waited out on the clock"


def test_to_all_reaches_the_school_groups_too_and_groups_only_spares_the_private_copy(env):
    r_all = send_notice(env.config, env.sessions, env.client(), title="防控提示",
                        body="请各校加强晨午检。", audience="all", clock=env.clock,
                        sleep=env.sleep)
    assert r_all.unsent == [] and r_all.notice.groups == ("第一实验小学", "第二小学")
    for key in ("school1-key", "school2-key"):
        got = env.group_messages(key)
        assert len(got) == 1 and got[0][2].startswith("**【通知】防控提示**")
    assert env.group_messages("bureau-key") == []
    assert len(env.texts_to("wangxz")) == 1 and len(env.texts_to("sunxz")) == 1
    env.assert_each_delivered_once()
    env.clear_received()
    r_groups = send_notice(env.config, env.sessions, env.client(), title="第二条",
                           body="只发群。", audience="groups", clock=env.clock, sleep=env.sleep)
    assert r_groups.unsent == [] and r_groups.notice.private == 0
    assert env.person_messages() == []
    assert len(env.group_messages("school1-key")) == 1
    rows = deliveries(env.sessions)
    assert not rows[(r_groups.notice.id, "wangxz")].private    # still asked to acknowledge
    assert len(env.group_messages("school2-key")) == 1 and env.group_messages("bureau-key") == []


def test_cli_send_prints_the_id_and_status_shows_who_acknowledged_when(env, tmp_path, capsys):
    from bot.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(env.url, env.standin.url), encoding="utf-8")
    base = ["--config", str(cfg)]
    body = tmp_path / "notice.txt"
    body.write_text("\ufeff各校：\n请于2月10日前完成开学准备。\n", encoding="utf-8")
    assert main(base + ["notice", "status"]) == 0
    assert "还没有发布过通知" in capsys.readouterr().out
    assert main(base + ["notice", "send", "--title", "开学准备", "--file", str(body)]) == 0
    out, err = capsys.readouterr()
    notice_id = int(out.strip())
    assert f"notice {notice_id}: 2 principal(s) privately" in err
    assert [t.splitlines()[:3] for t in env.texts_to("wangxz")] == [
        ["【通知】开学准备", "各校：", "请于2月10日前完成开学准备。"]]

    assert main(base + ["notice", "status", str(notice_id)]) == 0
    before = capsys.readouterr().out
    assert "已确认 0/2" in before and "未确认 2/2" in before
    assert "第一实验小学 王校长（wangxz）" in before and "第二小学 孙校长（sunxz）" in before

    with env.sessions() as s, s.begin():
        wang = s.scalar(select(Person).where(Person.userid == "wangxz"))
        at = dt.datetime(2026, 3, 2, 1, 5)               # 09:05 Shanghai
        acked, left = store.acknowledge_oldest(s, wang.id, now=at, message_id=None,
                                               tz=env.config.tz)
    assert acked.id == notice_id and left == 0
    assert main(base + ["notice", "status", str(notice_id)]) == 0
    after = capsys.readouterr().out
    assert re.search(r"已确认 1/2：\n  第一实验小学 王校长（wangxz） 2026-03-02 09:05", after)
    assert "未确认 1/2：\n  第二小学 孙校长（sunxz） 私信发送" in after
    assert main(base + ["notice", "status"]) == 0
    assert re.search(rf"#{notice_id} .*《开学准备》 已确认 1/2，未确认：第二小学孙校长",
                     capsys.readouterr().out)


@pytest.mark.parametrize("argv,message", [
    (["notice", "status", "99"], "no notice #99"),
    (["notice", "send", "--title", " ", "--text", "x"], "通知标题不能为空"),
    (["notice", "send", "--title", "t", "--file", "/nonexistent/n.txt"], "no such file"),
])
def test_cli_mistakes_get_one_line(env, tmp_path, capsys, argv, message):
    from bot.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(env.url, env.standin.url), encoding="utf-8")
    assert main(["--config", str(cfg)] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with env.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Notice)) == 0


# ------------------------------------------------------------------------------ in chat

def test_each_wording_acknowledges_the_oldest_open_notice(chat):
    first = post_notice(chat, "第一条通知")
    chat.clock.advance(minutes=5)
    second = post_notice(chat, "第二条通知")
    chat.clock.advance(minutes=5)
    third = post_notice(chat, "第三条通知")
    chat.clock.advance(minutes=20)                     # 08:30
    steps = [("wangxz", "已收到", "已确认收到通知《第一条通知》（2月4日 08:00发布）", "还有2条"),
             ("wangxz", "收到", "《第二条通知》", "还有1条"),
             ("wangxz", "收到通知", "《第三条通知》", None),
             ("sunxz", "收到！", "《第一条通知》", "还有2条")]
    for userid, text, want, more in steps:
        reply = chat.say(userid, text)
        assert want in reply, (text, reply)
        assert (more in reply) if more else ("还有" not in reply), reply
        chat.clock.advance(minutes=1)
    rows = deliveries(chat.sessions)
    assert rows[(first, "wangxz")].acked_at == dt.datetime(2020, 2, 4, 0, 30)   # 08:30 local
    assert rows[(second, "wangxz")].acked_at == dt.datetime(2020, 2, 4, 0, 31)
    assert rows[(third, "wangxz")].acked_at == dt.datetime(2020, 2, 4, 0, 32)
    assert rows[(first, "sunxz")].acked_at is not None
    assert rows[(second, "sunxz")].acked_at is None and rows[(third, "sunxz")].acked_at is None
    with chat.sessions() as s:          # which message acknowledged it
        msg = s.get(InboundMessage, rows[(first, "wangxz")].ack_message_id)
        assert msg.content == "已收到" and msg.sender == "wangxz"


def chatter(c, userid: str, text: str) -> str | None:
    """What the CHATTER handlers answer (None: they leave the message as chatter)."""
    from bot.topics import TopicContext, answer_chatter
    from handlers.parser import parse

    now = c.clock()
    with c.sessions() as s, s.begin():
        person = s.scalar(select(Person).where(Person.userid == userid))
        return answer_chatter(TopicContext(s, c.config, person, parse(text, now.date()), text,
                                           now, now.date(), False, None))


def as_chatter(reply: str) -> bool:
    """Chatter's answer: silence, or in a private chat the generic hint that
    handlers/conversation.py gives any unrecognized text."""
    from handlers.replies import hint
    return reply in ("", hint())


def test_shou_dao_with_nothing_to_acknowledge_is_silent_and_changes_nothing(chat):
    assert chatter(chat, "wangxz", "收到") is None      # no notice at all
    assert as_chatter(chat.say("wangxz", "收到"))
    notice = post_notice(chat)
    for userid in ("zhangls", "chenju"):               # a teacher, the bureau: never sent one
        assert chatter(chat, userid, "收到") is None
        assert as_chatter(chat.say(userid, "收到"))
    assert "已确认" in chat.say("wangxz", "收到")
    before = {k: (d.acked_at, d.ack_message_id) for k, d in deliveries(chat.sessions).items()}
    for text in ("收到", "收到了", "已收到"):            # nothing left for him
        assert chatter(chat, "wangxz", text) is None
        assert as_chatter(chat.say("wangxz", text))
    after = {k: (d.acked_at, d.ack_message_id) for k, d in deliveries(chat.sessions).items()}
    assert after == before and after[(notice, "sunxz")] == (None, None)


def test_tong_zhi_lists_a_principals_past_notices(chat):
    assert chat.say("wangxz", "通知") == "还没有收到过教育局的通知。"
    post_notice(chat, "第一条", "请做好消毒。")
    chat.clock.advance(hours=1)
    post_notice(chat, "第二条", "请统计返校人员。")
    chat.say("wangxz", "收到")
    reply = chat.say("wangxz", "通知")
    assert reply.index("《第二条》") < reply.index("《第一条》")          # newest first
    assert "《第一条》2月4日 08:00（已确认 2月4日 09:00）" in reply
    assert "《第二条》2月4日 09:00（未确认）" in reply and "请统计返校人员" in reply
    assert "1条未确认" in reply
    assert chatter(chat, "zhangls", "通知") is None     # a teacher's 通知 is chatter
    assert as_chatter(chat.say("zhangls", "通知"))


def test_a_group_mention_acknowledges_too(chat):
    from bot.wecom.signer import AibotSigner
    from tests.support import AIBOT_AES_KEY, AIBOT_TOKEN

    post_notice(chat, "群里确认")
    status, reply = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY).post_text(
        chat.server.url, "chat-school1", "wangxz", "@晨检 收到", msgid="g-ack-1")
    assert status == 200 and "《群里确认》" in reply["stream"]["content"]


# ------------------------------------------------------------------------------ reminders

def test_exactly_one_reminder_after_remind_after(env_factory):
    env = env_factory(notices={"remind_after": "2h"})
    env.clock.set(SUNDAY)
    with env.sessions() as s, s.begin():
        notice_id = store.queue_notice(s, env.config, title="请确认", body="正文",
                                       now=env.clock()).id
        wang = s.scalar(select(Person).where(Person.userid == "wangxz"))
        store.acknowledge_oldest(s, wang.id, now=env.clock(), message_id=None,
                                 tz=env.config.tz)
    env.clock.advance(hours=1, minutes=59)
    with env.sessions() as s, s.begin():
        assert notice_reminders(s, env.config, env.clock()) == []
    env.clock.advance(minutes=1)
    with env.sessions() as s, s.begin():
        due = notice_reminders(s, env.config, env.clock())
        store.enqueue(s, due, source="notice-remind", now=env.clock())
    assert [(m.target, m.dedupe_key) for m in due] == [
        ("sunxz", f"notice:{notice_id}:remind:sunxz")]             # not the one who acked
    assert "【通知提醒】《请确认》" in due[0].content
    env.clock.advance(hours=3)
    assert queue_notice_reminders(env.sessions, env.config, env.clock()) == []
    env.worker().drain()
    reminders = [t for t in env.texts_to("sunxz") if t.startswith("【通知提醒】")]
    assert len(reminders) == 1
    assert not [t for t in env.texts_to("wangxz") if t.startswith("【通知提醒】")]
    assert deliveries(env.sessions)[(notice_id, "sunxz")].reminded_at is not None


def test_the_scheduler_leader_queues_the_reminder_once(env_factory):
    from scheduler.runner import SchedulerRunner

    env = env_factory(notices={"remind_after": "30m"})
    env.clock.set(SUNDAY)
    with env.sessions() as s, s.begin():
        store.queue_notice(s, env.config, title="请确认", body="正文", now=env.clock())
    runners = [SchedulerRunner(env.config, sessions=env.sessions, client=env.client(),
                               clock=env.clock) for _ in range(2)]
    try:
        env.clock.advance(minutes=31)
        for _ in range(3):
            for r in runners:
                r.poll_leader()
                r.drain_outbox()
            env.clock.advance(seconds=10)
        for who in ("wangxz", "sunxz"):
            assert len([t for t in env.texts_to(who) if t.startswith("【通知提醒】")]) == 1
    finally:
        for r in runners:
            r.shutdown(wait=False)
    with env.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.source == "notice-remind")) == 2


# ------------------------------------------------------------------------------ the digest

def test_pending_acknowledgements_name_the_schools_that_have_not(chat):
    post_notice(chat, "第一条")
    post_notice(chat, "第二条")
    chat.say("wangxz", "收到")
    with chat.sessions() as s:
        pending = store.pending_acknowledgements(s, chat.config.tz)
    assert words.notices_digest_lines(pending) == [
        "通知未确认：《第一条》 第二小学（已确认 1/2 校）",
        "通知未确认：《第二条》 第一实验小学、第二小学（已确认 0/2 校）"]
    with chat.sessions() as s:
        later = store.pending_acknowledgements(
            s, chat.config.tz, since=chat.clock() + dt.timedelta(minutes=1))
    assert later == []


# ------------------------------------------------------------------------------ dashboard

def _dashboard(chat):
    from bot.passwd import set_password
    from tests.test_dashboard import csrf_of, log_in

    set_password(chat.config, "chenju", "bureau-pass-1")
    set_password(chat.config, "wangxz", "principal-pass-1")
    return chat.app, csrf_of, log_in


def test_dashboard_sends_a_notice_from_the_form_and_refuses_one_without_csrf(chat):
    app, csrf_of, log_in = _dashboard(chat)
    c = app.test_client()
    assert log_in(c, "chenju", "bureau-pass-1").status_code == 302
    page = c.get("/dashboard/notices")
    assert page.status_code == 200 and "发布通知" in page.get_data(as_text=True)
    token = csrf_of(page.get_data(as_text=True))
    form = dict(title="关于开学的通知", text="第一段\n第二段", to="principals")
    refused = c.post("/dashboard/notices", data=form)                 # no token
    assert refused.status_code == 400 and "页面已过期" in refused.get_data(as_text=True)
    assert c.post("/dashboard/notices", data={**form, "csrf_token": "forged"}).status_code == 400
    with chat.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Notice)) == 0
    bad = c.post("/dashboard/notices", data={**form, "title": "", "csrf_token": token})
    assert bad.status_code == 400 and "通知标题不能为空" in bad.get_data(as_text=True)
    sent = c.post("/dashboard/notices", data={**form, "csrf_token": token})
    assert sent.status_code == 302
    detail = c.get(sent.headers["Location"]).get_data(as_text=True)
    assert "已发布" in detail and "关于开学的通知" in detail and "王校长" in detail
    with chat.sessions() as s:
        n = s.scalar(select(Notice))
        assert n.sent_by_id == s.scalar(select(Person.id).where(Person.userid == "chenju"))
        keys = set(s.scalars(select(OutboxMessage.dedupe_key)))
    assert keys == {f"notice:{n.id}:person:wangxz:1", f"notice:{n.id}:person:sunxz:1"}

    chat.clock.advance(minutes=12)
    assert "已确认" in chat.say("wangxz", "收到")
    detail = c.get(f"/dashboard/notices/{n.id}").get_data(as_text=True)
    acked = detail[detail.index("已确认（1人）"):]
    assert "王校长" in acked and "2月4日 08:12" in acked
    waiting = detail[detail.index("未确认（1人）"):detail.index("已确认（1人）")]
    assert "孙校长" in waiting and "王校长" not in waiting
    listing = c.get("/dashboard/notices").get_data(as_text=True)
    assert "1/2" in listing


def test_a_principal_sees_their_notices_but_cannot_send(chat):
    app, csrf_of, log_in = _dashboard(chat)
    post_notice(chat, "给校长的通知", "请阅读。")
    c = app.test_client()
    assert log_in(c, "wangxz", "principal-pass-1").status_code == 302
    page = c.get("/dashboard/notices").get_data(as_text=True)
    assert "给校长的通知" in page and "未确认" in page and "发布通知" not in page
    token = csrf_of(page)
    assert c.post("/dashboard/notices", data=dict(title="t", text="x", csrf_token=token)
                  ).status_code == 403
    with chat.sessions() as s:
        notice_id = s.scalar(select(Notice.id))
    assert c.get(f"/dashboard/notices/{notice_id}").status_code == 404
