"""`python -m bot demo`: a whole simulated day, and its transcript shows every step."""
import io
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

from bot.demo import run_demo

ROOT = Path(__file__).resolve().parents[1]


def test_demo_day_transcript_has_every_step(tmp_path):
    out = io.StringIO()
    assert run_demo(seed=1, out=str(tmp_path), stream=out) == 0
    text = out.getvalue()
    for step in ("【晨检开始】",                       # the check opens in each school group
                 "已记录：",                           # teachers report and are answered
                 "【体温异常】",                       # a fever alerts the principal
                 "未记录：体温3.65℃",                  # a typo refused ...
                 "群内回复",                           # an @-mention in a group
                 "应到", "是否为：",                   # class summaries, a misspelt student
                 "不在晨检名单",                       # an outsider
                 "【晨检提醒】", "@",                  # reminders, privately and in groups
                 "【晨检督办】",                       # escalation to principals
                 "晨检日报", "全区", "[图片] 近14个上学日趋势图",   # digests and the chart
                 "请假（1天）",                        # a teacher on leave …
                 "从武汉返回，居家观察至",              # … and a student back from an outbreak area
                 "人员摸排：在外未返 0、居家观察 1",     # … in the digests
                 "【通知】", "已确认收到通知",           # a notice, acknowledged …
                 "通知未确认：", "（已确认 2/3 校）",    # … by two of three principals
                 "已标记完成：1. 重点场室消毒",          # a checklist item marked done
                 "开学准备：已全部完成 0/3 校",
                 "⚠️ 低于7天", "【物资不足】",           # a count below cover alerts …
                 "supplies plan", "口罩 到 "):          # … and the plan moves stock to it
        assert step in text, step
    reminders = text[text.index("── 08:30"):text.index("── 迟到的报告")]
    on_leave = text[text.index("请假 A teacher"):].splitlines()[1].split()[1]
    assert on_leave not in reminders                    # nobody on leave is chased
    assert (tmp_path / "transcript.txt").read_text(encoding="utf-8").count("\n") > 50
    chart = next(tmp_path.glob("trend-*.png"))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wb = load_workbook(next(tmp_path.glob("records-*.xlsx")), read_only=True)
    assert wb.worksheets[0].max_row > 50


def test_demo_cli_exits_zero(tmp_path):
    res = subprocess.run([sys.executable, "-m", "bot", "demo", "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "晨检日报" in res.stdout and "Traceback" not in res.stderr
