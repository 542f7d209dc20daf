"""`python -m bot parse`: JSON lines in and out, in order, and a readable mode for operators."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args, stdin):
    return subprocess.run([sys.executable, "-m", "bot", "parse", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_jsonl_keeps_order_and_ids():
    lines = [{"id": "b", "text": "36.5"}, {"id": 7, "text": "帮助"},
             {"id": "c", "text": "昨天 36.6", "today": "2020-02-04"}]
    res = run(["--jsonl", "--today", "2021-05-06"], "".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines))
    out = [json.loads(l) for l in res.stdout.splitlines()]
    assert [o["id"] for o in out] == ["b", 7, "c"]
    assert out[0]["date"] == "2021-05-06" and out[1]["command"] == "help"
    assert out[2]["date"] == "2020-02-03"


def test_malformed_line_gets_an_answer_not_a_traceback():
    res = run(["--jsonl"], 'not json\n{"id": 1, "text": "36.5"}\n')
    out = [json.loads(l) for l in res.stdout.splitlines()]
    assert res.returncode == 0 and "Traceback" not in res.stderr
    assert out[0]["errors"][0]["code"] == "bad_input" and out[1]["kind"] == "report"


def test_readable_mode():
    res = run(["--today", "2020-02-04"], "张三 36.5，李四 37.6 发热\n收到\n")
    lines = res.stdout.splitlines()
    assert "张三 体温36.5℃，正常" in lines[0] and "李四 体温37.6℃，发热" in lines[0]
    assert "闲聊" in lines[1]


def test_bad_today_is_one_line():
    res = run(["--today", "2020-13-01"], "36.5\n")
    assert res.returncode != 0 and "Traceback" not in res.stderr
