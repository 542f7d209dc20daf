"""The I/O edge of `python -m bot parse`: messages in on stdin, parse results out on stdout.

With --jsonl: JSON lines {"id", "text", "today"?} in, one JSON line per input out, in order.
Without: one message per line in, one readable line per message out (for an operator).
"""
from __future__ import annotations

import datetime as dt
import json

from handlers.parser import ParseResult, parse
from handlers.replies import reading_text

KIND_NAMES = {"report": "报告", "command": "命令", "unrecognized": "闲聊（不回复）", "invalid": "拒收",
              "other": "其他工作"}


def run(stdin, stdout, *, jsonl: bool, today: dt.date | None, fever_threshold: float) -> int:
    default_today = today or dt.date.today()
    for lineno, line in enumerate(stdin, start=1):
        if jsonl:
            if not line.strip():
                continue
            stdout.write(json.dumps(_jsonl(line, lineno, default_today, fever_threshold),
                                    ensure_ascii=False) + "\n")
        else:
            text = line.rstrip("\r\n")
            stdout.write(f"{text} → {describe(parse(text, default_today, fever_threshold), fever_threshold)}\n")
    stdout.flush()
    return 0


def _jsonl(line: str, lineno: int, today: dt.date, threshold: float) -> dict:
    try:
        item = json.loads(line)
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError("needs an object with a text")
        day = dt.date.fromisoformat(item["today"]) if item.get("today") else today
    except (ValueError, TypeError) as exc:
        bad = item.get("id") if "item" in locals() and isinstance(item, dict) else None
        return {"id": bad, "kind": "invalid", "command": None, "date": None, "session": None,
                "people": [], "class": None,
                "errors": [{"code": "bad_input", "message": f"第{lineno}行不是有效输入：{exc}"}]}
    return {"id": item.get("id"), **parse(item["text"], day, threshold).to_dict()}


def describe(r: ParseResult, threshold: float) -> str:
    head = KIND_NAMES.get(r.kind, r.kind)
    if r.kind == "command":
        return f"{head} {r.command}"
    if r.kind == "other":
        return f"{head} {r.topic}"
    if r.kind == "unrecognized":
        return head
    if r.kind == "invalid":
        return f"{head} " + "；".join(f"{e.code}: {e.message}" for e in r.errors)
    parts = [head, r.date.isoformat() if r.date else ""]
    if r.session:
        parts.append({"morning": "晨检", "noon": "午检"}.get(r.session, r.session))
    c = r.class_summary
    if c is not None:
        parts.append(f"班级 {c.name or '(未写班级)'} 应到{c.expected} 实到{c.present} 缺勤{c.absent} "
                     f"因病{c.sick_absent} 发热{c.fever}")
    for p in r.people:
        parts.append(f"{p.name or '本人'} {reading_text(p.temperature, p.symptoms, p.abnormal, threshold)}")
    return " ".join(x for x in parts if x)


if __name__ == "__main__":
    import argparse
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", action="store_true")
    ap.add_argument("--today", type=dt.date.fromisoformat)
    ap.add_argument("--threshold", type=float, default=37.3)
    a = ap.parse_args()
    sys.exit(run(sys.stdin, sys.stdout, jsonl=a.jsonl, today=a.today, fever_threshold=a.threshold))
