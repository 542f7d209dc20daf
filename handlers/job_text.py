"""The wording of the daily jobs' messages: the opening prompt, reminders, escalations.

Plain functions of plain values; `scheduler.jobs` decides who gets which. Every quoted roster
value (a school, a class, a name) is escaped: it cannot carry markup or line breaks.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from handlers.replies import check_name, day_label, escape_md

TEXT_LIMIT = 1900          # bytes: WeCom takes 2048 for a text message


def hhmm(t: dt.time) -> str:
    return f"{t.hour}:{t.minute:02d}"


def fit_names(names: Sequence[str], budget: int) -> str:
    """Names joined by 、 within `budget` bytes, the rest counted (…等N人)."""
    out, used = [], 0
    for n in names:
        piece = ("、" if out else "") + n
        size = len(piece.encode())
        if used + size > budget:
            return "、".join(out) + f"…等{len(names)}人"
        out.append(n)
        used += size
    return "、".join(out)


def open_prompt(check: str, day: dt.date, example_class: str, remind_at: dt.time) -> str:
    label = check_name(check)
    return (f"【{label}开始】{day_label(day)}\n"
            f"请各位老师私聊我报告体温，如：36.5\n"
            f"班主任另报班级情况，如：{escape_md(example_class)} 应到45 实到45\n"
            f"请于{hhmm(remind_at)}前报告")


def reminder(check: str, day: dt.date, variant: str) -> str:
    """`variant`: "own" (their temperature), "class" (their class summary) or "both"."""
    label = check_name(check)
    head = f"【{label}提醒】{day_label(day)} "
    if variant == "own":
        return head + "您的体温还未报告，请直接回复体温，如：36.5"
    if variant == "class":
        return head + "您班的班级情况还未报告，请回复，如：三年级2班 应到45 实到45"
    return head + "您的体温和班级情况还未报告，请回复，如：\n36.5\n三年级2班 应到45 实到45"


def group_reminder(check: str, day: dt.date, staff_missing: int, classes_missing: int) -> str:
    parts = []
    if staff_missing:
        parts.append(f"{staff_missing}位老师未报体温")
    if classes_missing:
        parts.append(f"{classes_missing}个班未报班级情况")
    return (f"【{check_name(check)}提醒】{day_label(day)} 还有{'、'.join(parts)}，"
            f"请被@的老师尽快私聊我报告。")


def escalation(check: str, day: dt.date, school: str, at: dt.time,
               classes: Sequence[tuple[str, Sequence[str]]], staff: Sequence[str],
               observed: Sequence[str] = ()) -> str:
    """【晨检督办】 for a school's principals and liaisons: who is still missing.

    `classes`: (class, its head teachers); `staff`: names; `observed`: missing people under
    home observation (居家观察), named apart because their daily report matters most.
    """
    head = f"【{check_name(check)}督办】{day_label(day)} {escape_md(school)}\n截至{hhmm(at)}仍未报告："
    lines = [head]
    budget = TEXT_LIMIT - len(head.encode()) - 160
    if classes:
        names = [f"{escape_md(c)}（{'、'.join(escape_md(h) for h in heads)}）" for c, heads in classes]
        lines.append(f"班级{len(classes)}个：" + fit_names(names, budget // 2))
    if staff:
        lines.append(f"教职工{len(staff)}人：" + fit_names([escape_md(n) for n in staff], budget // 2))
    if observed:
        lines.append(f"居家观察中未报{len(observed)}人："
                     + fit_names([escape_md(n) for n in observed], budget // 4))
    lines.append("请督促尽快报告。")
    return "\n".join(lines)
