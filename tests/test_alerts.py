"""Fever, symptom and cluster alerts: reported through the Inbox, queued in the same
transaction, delivered to the principal (and for clusters the bureau) over real HTTP."""
from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from scheduler.alerts import FeverAlerts
from storage import records as store
from storage.models import OutboxMessage, Person
from tests.support import ROSTER_CSV
from tests.test_jobs import MONDAY, env, env_factory  # noqa: F401 - fixtures

WEDNESDAY = dt.date(2026, 3, 4)
MORE_STUDENTS = ROSTER_CSV + "".join(
    f"第一实验小学,三年级2班,{name},student,,\n" for name in ("赵六", "钱七", "孙八"))
_ids = itertools.count(1)


@pytest.fixture
def chat(env):
    c = Chat(env)
    yield c
    c.close()


class Chat:
    """Sends text messages through the real Inbox (with its default hooks) as a roster user."""

    def __init__(self, env):
        from bot.services import Services

        self.env = env
        self.services = Services.build(env.config, clock=env.clock)

    def say(self, userid: str, text: str, outcome: str = "recorded"):
        from bot.inbox import Inbound

        n = next(_ids)
        answer = self.services.inbox.receive(Inbound(
            channel="callback", msg_key=f"msg:{n}", sender=userid, msg_type="text",
            content=text, body=f"<xml><MsgId>{n}</MsgId></xml>"))
        assert answer.outcome == outcome, (text, answer)
        return answer

    def deliver(self):
        return self.env.worker().drain(timeout=120)

    def close(self):
        self.services.close()


def alert_rows(env, prefix: str) -> list[OutboxMessage]:
    with env.sessions() as s:
        return list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedupe_key.startswith(prefix)).order_by(OutboxMessage.id)))


def test_services_wire_the_alert_hook_by_default(env):
    from bot.services import Services

    services = Services.build(env.config)
    try:
        assert any(isinstance(h, FeverAlerts) for h in services.inbox.hooks)
    finally:
        services.close()


def test_a_fever_reaches_the_principal_at_once_with_name_class_and_reading(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("lils", "张三 37.9 咳嗽")
    rows = alert_rows(env, "fever:")
    assert len(rows) == 1 and rows[0].target == "wangxz"
    chat.deliver()
    texts = env.texts_to("wangxz")
    assert len(texts) == 1
    text = texts[0]
    assert "张三" in text and "三年级2班" in text and "37.9" in text and "咳嗽" in text
    assert "第一实验小学" in text and "李老师" in text          # who reported it
    assert env.texts_to("sunxz") == [] and env.texts_to("chenju") == []
    assert env.group_messages() == []                         # never in a group
    env.assert_each_delivered_once()


def test_a_symptom_without_fever_alerts_too(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("zhouls", "36.6 腹泻")
    chat.deliver()
    assert len(env.texts_to("sunxz")) == 1 and "腹泻" in env.texts_to("sunxz")[0]


def test_same_reading_again_alerts_once_and_a_normal_correction_retracts_once(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("zhangls", "37.8")
    chat.say("zhangls", "37.8")                 # reported again: same reading
    assert len(alert_rows(env, "fever:")) == 1
    chat.say("zhangls", "36.5")                 # corrected to normal: the alert is withdrawn
    chat.say("zhangls", "36.4")                 # normal again: nothing more to withdraw
    assert len(alert_rows(env, "fever:")) == 1
    assert len(alert_rows(env, "retract:")) == 1
    chat.say("zhangls", "38.5")                 # a new, higher reading is news
    rows = alert_rows(env, "fever:")
    assert len(rows) == 2 and "38.5" in rows[1].content
    chat.deliver()
    texts = env.texts_to("wangxz")
    assert len(texts) == 3
    assert texts[1] == "【更正】张老师 3月2日 体温已更正为36.5℃，此前的异常提醒撤销"
    env.assert_each_delivered_once()


def test_undo_of_a_fever_retracts_the_alert_to_everyone_who_got_it(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("lils", "张三 37.9 咳嗽")
    chat.say("lils", "撤销", outcome="command")
    again = chat.say("lils", "撤销", outcome="command")    # nothing left: no second correction
    assert again.reply == "没有可撤销的报告。"
    assert len(alert_rows(env, "retract:")) == 1
    chat.deliver()
    assert env.texts_to("wangxz")[-1] == "【更正】张三 3月2日的异常报告已撤销，此前的异常提醒撤销"


def test_normal_reports_alert_nobody(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("zhangls", "36.5")
    chat.say("lils", "张三 36.4")
    with env.sessions() as s:
        assert s.scalars(select(OutboxMessage)).all() == []


def test_three_fevers_in_a_class_make_one_cluster_alert_to_principal_and_bureau(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("lils", "张三 38.0")
    chat.say("lils", "李四 38.2")
    assert alert_rows(env, "cluster:") == []
    chat.say("lils", "欧阳明月 37.9")
    chat.say("zhangls", "38.4")                 # a fourth in the same class: same cluster
    chat.say("lils", "张三 38.6")               # and a new reading of one of them
    cluster = alert_rows(env, "cluster:")
    assert {r.target for r in cluster} == {"wangxz", "chenju", "bureau-key"}
    chat.deliver()
    env.assert_each_delivered_once()
    principal = [t for t in env.texts_to("wangxz") if "聚集" in t]
    assert len(principal) == 1
    assert "三年级2班" in principal[0] and "发热3人" in principal[0]
    assert "24小时内报告" in principal[0]
    assert "张三" in principal[0]                              # the principal sees names
    bureau = [t for t in env.texts_to("chenju") if "聚集" in t]
    assert len(bureau) == 1
    assert "第一实验小学" in bureau[0] and "三年级2班" in bureau[0] and "24小时内报告" in bureau[0]
    group = env.group_messages("bureau-key")
    assert len(group) == 1
    assert "第一实验小学 三年级2班" in group[0][2] and "24小时内报告" in group[0][2]
    assert "张三" not in group[0][2] and "李四" not in group[0][2]   # a group sees no names
    # The individual fever alerts went to the principal only.
    assert len([t for t in env.texts_to("wangxz") if "体温异常" in t]) == 5
    assert all("体温异常" not in t for t in env.texts_to("chenju"))


def test_a_corrected_cluster_member_is_retracted_to_everyone_the_cluster_alarmed(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    for name, t in (("张三", "38.0"), ("李四", "38.2"), ("欧阳明月", "37.9")):
        chat.say("lils", f"{name} {t}")
    chat.say("lils", "李四 36.6")                 # a typo: she is well
    chat.deliver()
    fix = "【更正】李四 3月2日 体温已更正为36.6℃，此前的异常提醒撤销"
    assert env.texts_to("wangxz").count(fix) == 1         # fever and cluster alert: told once
    assert env.texts_to("chenju").count(fix) == 1         # the cluster's bureau recipient
    assert all("李四" not in str(d) for d in env.group_messages("bureau-key"))
    env.assert_each_delivered_once()


def test_three_with_the_same_symptom_make_a_cluster(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    for name in ("张三", "李四", "欧阳明月"):
        chat.say("lils", f"{name} 36.8 呕吐")
    cluster = alert_rows(env, "cluster:")
    assert len(cluster) == 3 and "呕吐3人" in cluster[0].content


def test_fevers_in_different_classes_make_no_cluster(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("lils", "张三 38.0")
    chat.say("lils", "李四 38.1")
    chat.say("zhaols", "王五 38.3")
    assert alert_rows(env, "cluster:") == []


def test_more_than_five_in_a_class_over_three_days_make_a_cluster(env_factory):
    env = env_factory(roster_csv=MORE_STUDENTS)
    chat = Chat(env)
    # Monday and Tuesday, recorded earlier (no cluster: never three on one day).
    env.record("张三", 38.0, ("fever",), day=MONDAY, by="lils")
    env.record("李四", 36.8, ("cough",), day=MONDAY, by="lils")
    env.record("欧阳明月", 38.1, ("fever",), day=MONDAY + dt.timedelta(days=1), by="lils")
    env.record("赵六", 36.9, ("headache",), day=MONDAY + dt.timedelta(days=1), by="lils")
    env.clock.set(dt.datetime(2026, 3, 4, 7, 20))
    chat.say("lils", "钱七 36.7 皮疹")
    assert alert_rows(env, "cluster:") == []    # five over three days: not more than five
    chat.say("lils", "孙八 37.6")
    cluster = alert_rows(env, "cluster:")
    assert {r.target for r in cluster} == {"wangxz", "chenju", "bureau-key"}
    assert "近3天" in cluster[0].content and "6人" in cluster[0].content
    # Thursday, one more: still the same cluster, no second alert within three days.
    env.clock.set(dt.datetime(2026, 3, 5, 7, 20))
    chat.say("lils", "张三 38.3")
    assert len(alert_rows(env, "cluster:")) == 3
    chat.close()


def test_a_class_summary_stating_three_fevers_is_a_cluster(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    chat.say("zhouls", "一年级1班 应到40 实到37 病假3 发热3")
    cluster = alert_rows(env, "cluster:")
    assert {r.target for r in cluster} == {"sunxz", "chenju", "bureau-key"}
    assert "第二小学 一年级1班" in cluster[0].content


def test_alerts_are_queued_in_the_recording_transaction(env):
    """If the transaction that stores the record rolls back, no alert exists either."""
    hook = FeverAlerts(env.config)
    with env.sessions() as s:
        s.begin()
        teacher = s.scalar(select(Person).where(Person.userid == "zhangls"))
        new, old = store.save_record(s, person_id=teacher.id, day=MONDAY, check="morning",
                                     temperature=38.2, symptoms=("fever",), abnormal=True,
                                     reported_by_id=teacher.id, message_id=None)
        hook.on_recorded(s, SimpleNamespace(reporter=teacher, day=MONDAY, check="morning",
                                            records=[(None, new, old)], class_report=None,
                                            now=env.clock()))
        assert s.scalars(select(OutboxMessage)).all() != []    # queued, not yet committed
        s.rollback()
    with env.sessions() as s:
        assert s.scalars(select(OutboxMessage)).all() == []


def test_a_principal_alert_survives_injected_failures(env, chat):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 20))
    env.standin.fail_next("/cgi-bin/message/send", errcode=42001)
    env.standin.fail_next("/cgi-bin/message/send", status=500)
    chat.say("zhangls", "38.8")
    chat.deliver()
    assert len(env.texts_to("wangxz")) == 1
    env.assert_each_delivered_once()
