"""The wording of the alerts sent the moment a report is recorded (private WeCom text).

- `fever_alert`: 【体温异常】 to the school's principals and liaisons;
- `cluster_alert`: 【聚集性疫情预警】 for the principal, the bureau people, and the bureau group
  (the group's version names nobody);
- `retraction`: 【更正】 when a reading that raised an alert is corrected to normal or undone.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

from handlers.health import effective_symptoms, symptom_name
from handlers.replies import check_name, day_label, escape_md

REPORT_RULE = "根据学校传染病报告制度，须在24小时内报告"
MAX_NAMES = 30


def reading(temperature: float | None, symptoms: Iterable[str], threshold: float) -> str:
    """体温37.8℃，症状：发热、咳嗽"""
    parts = []
    if temperature is not None:
        parts.append(f"体温{temperature:.1f}℃")
    shown = effective_symptoms(temperature, symptoms, threshold)
    if shown:
        parts.append("症状：" + "、".join(symptom_name(s) for s in shown))
    return "，".join(parts) or "异常"


def fever_alert(*, day: dt.date, check: str, school: str, where: str, name: str,
                temperature: float | None, symptoms: Iterable[str], threshold: float,
                reporter: str | None, corrected: bool) -> str:
    lines = [f"【体温异常】{day_label(day)} {check_name(check)}" + ("（更正）" if corrected else ""),
             f"{escape_md(school)} {escape_md(where)} {escape_md(name)}",
             reading(temperature, symptoms, threshold)]
    if reporter:
        lines.append(f"报告人：{escape_md(reporter)}")
    lines.append("请跟进：就医或居家观察，明日继续报告。")
    return "\n".join(lines)


def fever_summary(n: int) -> str:
    return f"今日发热{n}人"


def same_symptom_summary(code: str, n: int) -> str:
    return f"今日{symptom_name(code)}{n}人"


def window_summary(days: int, n: int) -> str:
    return f"近{days}天发热或有症状{n}人"


def cluster_alert(day: dt.date, school: str, class_name: str, summary: str,
                  names: Sequence[str], *, audience: str) -> str:
    """`audience`: "principal", "bureau" (both private, with names) or "group" (no names)."""
    lines = [f"【聚集性疫情预警】{day_label(day)}", f"{escape_md(school)} {escape_md(class_name)}",
             summary]
    if names and audience != "group":
        shown = "、".join(escape_md(n) for n in names[:MAX_NAMES])
        more = f"等{len(names)}人" if len(names) > MAX_NAMES else ""
        lines.append(f"名单：{shown}{more}")
    action = {"principal": "请立即核实并上报教育局。", "bureau": "请督促学校处置。"}.get(audience, "")
    lines.append(f"{REPORT_RULE}。{action}")
    return "\n".join(lines)


def retraction(name: str, day: dt.date, temperature: float | None, *, undone: bool) -> str:
    """【更正】张三 12月2日 体温已更正为36.6℃，此前的异常提醒撤销"""
    if undone:
        what = "的异常报告已撤销"
    elif temperature is not None:
        what = f" 体温已更正为{temperature:.1f}℃"
    else:
        what = " 已更正为正常"
    return f"【更正】{escape_md(name)} {day_label(day)}{what}，此前的异常提醒撤销"
