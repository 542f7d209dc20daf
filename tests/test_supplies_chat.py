"""Supplies (物资储备) end to end on both databases: counts through the running webhook (private
chat and group @-mentions), refusals, history, low-stock alerts delivered once per item and day
over the WeCom stand-in, `supplies plan`, the dashboard page, the export sheet and the digest
lines."""
from __future__ import annotations

import datetime as dt
import itertools
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from bot.wecom.signer import AibotSigner, CallbackSigner
from handlers.supplies import district_supplies_lines
from storage.models import OutboxMessage, School, SupplyCount
from storage.supplies import (latest_counts, load_district_supplies, save_count,
                              supplies_sheet_rows)
from tests.support import (AIBOT_AES_KEY, AIBOT_TOKEN, ROSTER_CSV, SAMPLE_AES_KEY,
                           SAMPLE_CORP_ID, SAMPLE_TOKEN, LiveServer, config_toml)
from tests.test_jobs import _make_env

S1, S2 = "第一实验小学", "第二小学"
DAY = dt.date(2026, 3, 2)                  # the env's clock: Monday 08:30 Shanghai
SUPPLIES = [
    {"name": "口罩", "unit": "个", "per_person_per_day": 2, "min_days": 7},
    {"name": "消毒液", "unit": "升", "per_person_per_day": 0.05, "min_days": 7},
    {"name": "体温枪", "unit": "把", "per_person_per_day": 0.01, "min_days": 7},
]
SUPPLIES_TOML = "".join(
    f'\n[[supplies]]\nname = "{i["name"]}"\nunit = "{i["unit"]}"\n'
    f'per_person_per_day = {i["per_person_per_day"]}\nmin_days = {i["min_days"]}\n'
    for i in SUPPLIES)
# 第一实验小学: 8 people + 刘后勤 = 9 (口罩 for 7 days: 126); 第二小学: 3 + 赵后勤 = 4 (56).
# 第二小学 has a liaison (钱科长); 第一实验小学 has none, so all bureau staff hear of it.
_lines = ROSTER_CSV.strip().splitlines()
ROSTER = "\n".join([_lines[0] + ",schools"] + [line + "," for line in _lines[1:]] + [
    f"{S1},,刘后勤,logistics,liuhq,13800000010,",
    f"{S2},,赵后勤,logistics,zhaohq,13800000011,",
    f",,钱科长,bureau,qianke,13800000009,{S2}",
]) + "\n"
_ids = itertools.count(50_000)


@pytest.fixture
def site(db_url, tmp_path):
    from bot.app import create_app
    from bot.services import Services

    env = _make_env(db_url, db_url.split(":")[0].split("+")[0], tmp_path, roster_csv=ROSTER,
                    supplies=SUPPLIES)
    svc = Services.build(env.config, clock=env.clock)
    app = create_app(services=svc)
    with LiveServer(app) as server:
        yield SimpleNamespace(env=env, svc=svc, server=server, app=app, url=db_url,
                              tmp_path=tmp_path,
                              signer=CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID),
                              aibot=AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY))
    svc.close()
    env.standin.stop()
    env.engine.dispose()


def say(site, userid, text):
    status, reply = site.signer.post_text(site.server.url, userid, text, msg_id=str(next(_ids)))
    assert status == 200
    return reply or ""


def say_in_group(site, userid, text, chat="chat-school1"):
    status, reply = site.aibot.post_text(site.server.url, chat, userid, "@晨检 " + text,
                                         msgid=f"s{next(_ids)}")
    assert status == 200
    return ((reply or {}).get("stream") or {}).get("content", "")


def play(site, steps, speak=say):
    for sender, text, want, unwanted in steps:
        reply = speak(site, sender, text)
        for w in ([want] if isinstance(want, str) else want):
            assert w in reply, f"{sender}: {text!r} → {reply!r} lacks {w!r}"
        for u in ([unwanted] if isinstance(unwanted, str) else unwanted or []):
            assert u not in reply, f"{sender}: {text!r} → {reply!r} has {u!r}"


def stock(site):
    with site.env.sessions() as s:
        names = {i: n for i, n in s.execute(select(School.id, School.name))}
        return {(names[sid], item): row.quantity
                for (sid, item), row in latest_counts(s, DAY).items()}


def lowstock_rows(site):
    with site.env.sessions() as s:
        return [(r.dedupe_key, frozenset(r.target.split("|")), r.content) for r in s.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith("lowstock:"))
            .order_by(OutboxMessage.id))]


def count(site, school, item, quantity, day=DAY):
    with site.env.sessions() as s, s.begin():
        sid = s.scalar(select(School.id).where(School.name == school))
        save_count(s, school_id=sid, item=site.env.config.supply(item), quantity=quantity,
                   day=day, now=dt.datetime(day.year, day.month, day.day, 1, 0),
                   reported_by_id=None, message_id=None)


# ------------------------------------------------------------------------------ chat

def test_counts_replies_and_history_through_the_webhook(site):
    play(site, [
        ("liuhq", "物资 口罩2000个 消毒液50升 体温枪10把",
         ["已记录：第一实验小学 3月2日 物资盘点（在册 9人）", "· 口罩 2,000个，可用 111.1天",
          "· 消毒液 50升，可用 111.1天", "· 体温枪 10把，可用 111.1天"], ["未记录", "⚠️"]),
        ("sunxz", "库存 消毒液 50L", "· 消毒液 50升，可用 250天", None),
        ("zhaohq", "盘点：口罩2000", "· 口罩 2,000个，可用 250天", None),
        ("liuhq", "物资 口罩2000个 酒精10瓶 消毒液3桶",
         ["· 口罩 2,000个", "未记录：酒精 10瓶（酒精不在统计的物资中，统计的物资：口罩、消毒液、体温枪）",
          "未记录：消毒液 3桶（消毒液按升计，例如：消毒液50升）"], None),
        ("wangxz", "物资 消毒液 1500毫升", "· 消毒液 1.5升，可用 3.3天 ⚠️ 低于7天", None),
        ("liuhq", "物资 口罩 很多", "没看懂物资数量", "已记录"),
    ])
    assert stock(site) == {(S1, "口罩"): 2000, (S1, "消毒液"): 1.5, (S1, "体温枪"): 10,
                           (S2, "消毒液"): 50, (S2, "口罩"): 2000}
    with site.env.sessions() as s:                # every count is kept
        assert s.scalar(select(func.count(SupplyCount.id))) == 7


def test_only_the_principal_or_logistics_may_count(site):
    play(site, [
        ("zhangls", "物资 口罩2000个", "只有校长或本校后勤人员可以登记物资库存", "已记录"),
        ("lils", "盘点 口罩2000个", "只有校长或本校后勤人员可以登记物资库存", "已记录"),
        ("chenju", "物资 口罩2000个", "教育局账号不登记学校物资", "已记录"),
    ])
    assert stock(site) == {}


def test_the_keyword_alone_answers_the_school_s_or_the_district_s_counts(site):
    count(site, S1, "口罩", 100)
    count(site, S2, "口罩", 2000)
    count(site, S2, "消毒液", 10, day=DAY - dt.timedelta(days=8))
    play(site, [
        ("zhangls", "物资", ["第一实验小学 物资库存（截至 3月2日，在册 9人）：",
                           "· 口罩 100个，可用 5.5天 ⚠️ 低于7天", "· 消毒液 未盘点"], S2),
        ("sunxz", "库存", ["第二小学 物资库存", "· 口罩 2,000个，可用 250天",
                         "· 消毒液 未盘点（最近 2月22日）"], [S1, "10升"]),
        ("chenju", "物资", ["全区物资库存（截至 3月2日）：",
                          "口罩：共 2,100个，学校 2所，低于7天 1所，未盘点 0所",
                          "· 第一实验小学 100个，可用 5.5天",
                          "消毒液：共 0升，学校 2所，低于7天 0所，未盘点 2所"], None),
    ])


def test_in_a_group_stock_stays_with_its_own_school(site):
    count(site, S2, "口罩", 30)
    play(site, [
        # 第一实验小学's group: its own people see their own school's figures
        ("liuhq", "物资 口罩2000个", "· 口罩 2,000个，可用 111.1天", None),
        ("zhangls", "物资", "第一实验小学 物资库存", None),
        # another school's principal, and the bureau, hear only that it went privately
        ("sunxz", "物资", "详情已私信", ["第二小学", "30个", "2,000"]),
        ("chenju", "物资", "详情已私信", ["第二小学", "2,000"]),
        ("zhaohq", "物资 口罩60个", "已记录 1项物资，详情已私信", ["60个", "第二小学"]),
    ], speak=say_in_group)
    site.env.worker().drain(timeout=60)
    assert any("第二小学 物资库存" in t and "30个" in t for t in site.env.texts_to("sunxz"))
    assert any("全区物资库存" in t for t in site.env.texts_to("chenju"))
    assert any("· 口罩 60个" in t for t in site.env.texts_to("zhaohq"))
    assert stock(site) == {(S1, "口罩"): 2000, (S2, "口罩"): 60}


def test_low_stock_alerts_once_per_item_and_day(site):
    play(site, [
        ("liuhq", "盘点 口罩100个 消毒液50升",
         ["· 口罩 100个，可用 5.5天 ⚠️ 低于7天", "⚠️ 口罩 储备不足，请尽快补充；已通知校长、教育局。"],
         None),
        ("liuhq", "盘点 口罩90个", "已通知校长、教育局", None),              # again: no new alert
        ("wangxz", "盘点 口罩80个 消毒液1升", ["⚠️ 口罩、消毒液 储备不足", "已通知教育局"], "校长"),
        ("zhaohq", "物资 口罩10个", "已通知校长、教育局", None),
    ])
    rows = lowstock_rows(site)
    s1 = site.env.person("wangxz").school_id
    s2 = site.env.person("sunxz").school_id
    assert [(k, t) for k, t, _c in rows] == [
        # 第一实验小学 has no liaison: every bureau person; never the sender
        (f"lowstock:{s1}:口罩:2026-03-02", frozenset({"wangxz", "chenju", "qianke"})),
        (f"lowstock:{s1}:消毒液:2026-03-02", frozenset({"chenju", "qianke"})),
        (f"lowstock:{s2}:口罩:2026-03-02", frozenset({"sunxz", "qianke"})),   # its liaison only
    ]
    site.env.worker().drain(timeout=60)
    to_principal = site.env.texts_to("wangxz")
    assert len(to_principal) == 1 and to_principal[0].startswith("【物资不足】3月2日 第一实验小学")
    assert "口罩 库存100个，可用 5.5天，低于7天" in to_principal[0]
    assert len(site.env.texts_to("qianke")) == 3 and site.env.texts_to("liuhq") == []

    site.env.clock.advance(days=1)                # the next day, still low: alerted again
    play(site, [("liuhq", "盘点 口罩100个", "已通知校长、教育局", None)])
    assert [k for k, *_x in lowstock_rows(site)][-1] == f"lowstock:{s1}:口罩:2026-03-03"
    assert len(lowstock_rows(site)) == 4


def test_enough_stock_alerts_nobody(site):
    play(site, [("liuhq", "物资 口罩126个", "· 口罩 126个，可用 7天", ["⚠️", "已通知"])])
    assert lowstock_rows(site) == []


# ------------------------------------------------------------------------------ plan, export, digest

def run_cli(site, capsys, *args):
    from bot.cli import main

    path = site.tmp_path / "config.toml"
    path.write_text(config_toml(site.url) + SUPPLIES_TOML, encoding="utf-8")
    code = main(["--config", str(path), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_supplies_plan_command(site, capsys):
    count(site, S1, "口罩", 2000)               # 1874 above its 126
    count(site, S2, "口罩", 20)                 # 36 short of its 56
    count(site, S2, "体温枪", 0)
    count(site, S1, "体温枪", 1)                # 0.63 needed: nothing to give
    code, out, err = run_cli(site, capsys, "supplies", "plan", "--date", "2026-03-02")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "物资调配方案（截至 3月2日）"
    assert "从 第一实验小学 调 36个 口罩 到 第二小学" in lines
    assert "消毒液：各校均未在7天内盘点，无法调配" in lines
    assert "全区尚缺 体温枪 1把，需向上级申请" in lines

    code, out, _ = run_cli(site, capsys, "supplies", "plan", "--item", "口罩",
                           "--date", "2026-03-20")       # 18 days on: nobody counted this week
    assert code == 0 and "口罩：各校均未在7天内盘点，无法调配" in out
    assert "未盘点（未计入调配）：第一实验小学（最近 3月2日）、第二小学（最近 3月2日）" in out
    assert "体温枪" not in out

    code, out, err = run_cli(site, capsys, "supplies", "plan", "--item", "酒精")
    assert code == 2 and out == ""
    assert err.strip() == "error: --item '酒精' is not a [[supplies]] item (口罩, 消毒液, 体温枪)"


def test_export_sheet_and_digest_lines(site):
    count(site, S1, "口罩", 2000, day=DAY - dt.timedelta(days=1))
    count(site, S1, "口罩", 1500)
    count(site, S2, "口罩", 20)
    with site.env.sessions() as s:
        rows = supplies_sheet_rows(s, site.env.config, DAY - dt.timedelta(days=1), DAY)
        plans = load_district_supplies(s, site.env.config, DAY)
    assert rows[0] == ("盘点日期", "学校", "物资", "数量", "单位", "在册人数", "可用天数", "状态",
                       "盘点人", "盘点时间")
    assert rows[1:] == [
        ("2026-03-01", S1, "口罩", "2000", "个", 9, "111.1", "充足", "", "2026-03-01 09:00"),
        ("2026-03-02", S1, "口罩", "1500", "个", 9, "83.3", "充足", "", "2026-03-02 09:00"),
        ("2026-03-02", S2, "口罩", "20", "个", 4, "2.5", "不足", "", "2026-03-02 09:00"),
    ]
    lines = district_supplies_lines(plans)
    assert lines[0] == '<font color="warning">物资储备不足：</font>'
    assert "从 第一实验小学 调 36个 口罩 到 第二小学" in lines


# ------------------------------------------------------------------------------ dashboard

def _log_in(client, userid, password):
    from tests.test_dashboard import log_in
    assert log_in(client, userid, password).status_code == 302


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_dashboard_page_bureau_sees_the_district_principal_their_school(site):
    from bot.passwd import set_password

    count(site, S1, "口罩", 2000)
    count(site, S2, "口罩", 20)
    count(site, S2, "消毒液", 5, day=DAY - dt.timedelta(days=10))
    set_password(site.env.config, "chenju", "bureau-pass-1")
    set_password(site.env.config, "sunxz", "principal-pass-1")

    c = site.app.test_client()
    r = c.get("/dashboard/supplies", follow_redirects=True)
    assert r.request.path == "/dashboard/login"

    _log_in(c, "chenju", "bureau-pass-1")
    page = _text(c.get("/dashboard/supplies"))
    assert "全区 物资储备 3月2日" in page
    assert "2,000个 · 111.1天" in page and "20个 · 2.5天" in page
    assert "未盘点（最近 2月20日）" in page
    assert "从 第一实验小学 调 36个 口罩 到 第二小学" in page

    c = site.app.test_client()
    _log_in(c, "sunxz", "principal-pass-1")
    page = _text(c.get("/dashboard/supplies"))
    assert "第二小学 物资储备" in page and "20个 · 2.5天" in page
    assert S1 not in page and "2,000" not in page and "调配方案" not in page
