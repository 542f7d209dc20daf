"""One day played through the webhook gives the same figures everywhere a person can look.

Fevers by temperature only and by symptom only, a correction to normal, an undo and a late
report, a class that never reports: the principal's, teacher's and bureau's `统计`, the school
and bureau digests, the dashboard and the export's summary sheet must agree on every count;
零报告 appears for the complete, clean school and not for the one a class short.
"""
from __future__ import annotations

import datetime as dt
import io
import itertools
import re

import requests

from bot.passwd import set_password
from tests.test_dialogs import say

_ids = itertools.count(50_000)
S1, S2 = "第一实验小学", "第二小学"


def play_the_day(world):
    clock = world.clock
    clock.set(dt.datetime(2020, 2, 4, 7, 40))
    say(world, "zhangls", "37.6")                        # a fever by temperature only
    say(world, "lils", "36.5")
    say(world, "lils", "张三 咳嗽")                        # a symptom only: abnormal, no fever
    say(world, "lils", "李四 38.1")
    say(world, "lils", "李四 36.6")                       # corrected to normal
    say(world, "lils", "三年级2班 应到3 实到3 发热0")
    say(world, "wangxz", "38.0")
    say(world, "wangxz", "撤销")                          # undone …
    clock.set(dt.datetime(2020, 2, 4, 9, 50))            # … and reported late, after the digest time
    say(world, "wangxz", "36.8")
    # 四年级1班 (赵老师) reports nothing.
    say(world, "sunxz", "36.5")                          # 第二小学: everyone, nothing found
    say(world, "wuls", "36.4")
    say(world, "zhouls", "36.6")
    say(world, "zhouls", "一年级1班 应到30 实到30 全部正常")


def test_every_place_shows_the_same_figures(world):
    play_the_day(world)
    day = dt.date(2020, 2, 4)
    config = world.services.config

    # 统计, as each role asks it in private
    principal = say(world, "wangxz", "统计")
    assert "教职工已报 3/4" in principal and "班级已报 1/2" in principal
    assert "发热 1人，体温/症状异常 2人" in principal
    assert "症状：发热1人，咳嗽1人" in principal
    assert "应到3 实到3 缺勤0 因病缺勤0 班级报告发热0" in principal
    teacher = say(world, "zhangls", "统计")
    assert "教职工已报 3/4" in teacher and "发热 1人" in teacher and "体温/症状异常 2人" in teacher
    bureau = say(world, "chenju", "统计")
    assert "教职工已报 6/7，班级已报 2/3" in bureau and "发热 1人" in bureau
    assert "零报告 1所，未报齐 1所" in bureau
    assert f"· {S1} 教职工3/4 班级1/2 发热1 异常2 未报齐" in bureau
    assert f"· {S2} 教职工3/3 班级1/1 发热0 异常0 零报告" in bureau

    # the digests, from the same database
    from scheduler.digest_messages import build_digest_messages
    with world.services.sessions() as s:
        messages = build_digest_messages(s, config, day, "morning",
                                         dt.datetime(2020, 2, 4, 2, 0), chart=False)
    by = {m.dedupe_key: m.content for m in messages}
    group1 = by[f"digest:{day}:morning:school:{S1}:group:0"]
    for line in ("教职工已报 3/4", "班级已报 1/2", "应到3 实到3 缺勤0 因病缺勤0", "发热 1人",
                 "其他症状：咳嗽1人", "未报齐：班级1个、教职工1人"):
        assert line in group1, (line, group1)
    assert "零报告" not in group1
    principal_digest = by[f"digest:{day}:morning:school:{S1}:principal:0:0"]
    assert "体温/症状异常（2人）：" in principal_digest and "37.6℃ 发热" in principal_digest
    group2 = by[f"digest:{day}:morning:school:{S2}:group:0"]
    assert "零报告：今日无发热、无因病缺勤" in group2 and "未报齐" not in group2
    district = by[f"digest:{day}:morning:bureau:0"]
    assert "教职工已报 6/7，班级已报 2/3" in district and "发热 1人" in district
    assert "零报告 1所，未报齐 1所" in district
    lines = district.splitlines()
    s1 = next(i for i, l in enumerate(lines) if l.startswith(f"· {S1}"))
    s2 = next(i for i, l in enumerate(lines) if l.startswith(f"· {S2}"))
    assert s1 < s2                                       # the incomplete school first
    assert lines[s1] == f"· {S1}：教职工3/4 班级1/2 发热1 因病缺勤0 未报齐：教职工1 班级1"
    assert lines[s2] == f"· {S2}：教职工3/3 班级1/1 发热0 因病缺勤0 零报告"

    # the dashboard, logged in as the bureau
    set_password(config, "chenju", "bureau-pass-1")
    web = requests.Session()
    page = web.get(f"{world.server.url}/dashboard/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    web.post(f"{world.server.url}/dashboard/login", timeout=10,
             data={"userid": "chenju", "password": "bureau-pass-1", "csrf_token": token})
    html = web.get(f"{world.server.url}/dashboard/", params={"date": day.isoformat()},
                   timeout=10).text
    row = re.search(rf'data-school="{S1}">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[1:5] == ["1", "0", "3/4", "1/2"], cells          # 发热, 因病缺勤, 教职工, 班级
    assert "未报齐" in cells[0]
    assert "零报告 1所，未报齐 1所" in html
    school_page = web.get(f"{world.server.url}/dashboard/school/{S1}",
                          params={"date": day.isoformat()}, timeout=10).text
    assert "未报齐：班级1个、教职工1人" in school_page

    # the export's summary sheet
    import openpyxl

    from bot.export import export_xlsx_bytes
    with world.services.sessions() as s:
        data = export_xlsx_bytes(s, day, day, config.tz, config=config)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[2]
    rows = {(r[1], r[2]): r for r in sheet.iter_rows(min_row=2, values_only=True)}
    morning = next(v for k, v in rows.items() if k[1] == S1 and "晨" in str(k[0]))
    assert list(morning[3:12]) == [3, 4, 1, 2, 3, 3, 0, 0, 1]
