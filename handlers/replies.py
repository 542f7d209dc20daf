"""The Chinese answers the bot gives in chat, composed from plain data.

Short enough for a phone screen; every refusal says how to write it right.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from handlers.parser import SYMPTOM_NAMES

SESSION_NAMES = {"morning": "晨检", "noon": "午检", "afternoon": "午检", "evening": "晚检"}


def day_label(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def check_name(check: str) -> str:
    """"morning" → 晨检, "noon" → 午检; another configured name as it is."""
    return SESSION_NAMES.get(check, check)


def mask(name: str) -> str:
    """张三 → 张*, 欧阳明 → 欧** (what a group may see of someone else)."""
    return name[0] + "*" * max(1, len(name) - 1) if name else name


def check_label(check: str | None, default_check: str | None = None) -> str:
    """"晨检"/"午检" for a named check other than the default, else ""."""
    if not check or check == default_check:
        return ""
    return check_name(check)


def symptoms_text(symptoms: Iterable[str]) -> str:
    return "、".join(SYMPTOM_NAMES.get(s, s) for s in symptoms)


def reading_text(temperature: float | None, symptoms: Iterable[str], abnormal: bool,
                 threshold: float) -> str:
    """体温36.5℃，正常 / 体温37.8℃，发热 / 咳嗽、乏力，异常"""
    parts = []
    if temperature is not None:
        parts.append(f"体温{temperature:.1f}℃")
    symptoms = list(symptoms)
    if temperature is not None and temperature >= threshold and "fever" not in symptoms:
        symptoms = ["fever", *symptoms]
    if symptoms:
        parts.append(symptoms_text(symptoms))
    if not abnormal:
        parts.append("正常" if parts else "身体正常（未填体温）")
    elif not symptoms:
        parts.append("异常")
    return "，".join(parts)


def recorded_self(day: dt.date, check_text: str, temperature, symptoms, abnormal,
                  threshold: float, replaced: bool) -> str:
    head = f"已记录：{day_label(day)}{' ' + check_text if check_text else ''} "
    text = head + reading_text(temperature, symptoms, abnormal, threshold)
    if replaced:
        text += "（已更正此前的报告）"
    if abnormal:
        text += "\n" + fever_next_steps()
    return text


def fever_next_steps() -> str:
    return "⚠️ 已通知校长。请勿带病上班/上课，尽快就医或居家观察，明天继续报告体温。"


def recorded_many(day: dt.date, check_text: str, lines: list[str], any_abnormal: bool) -> str:
    head = f"已记录：{day_label(day)}{' ' + check_text if check_text else ''} 共{len(lines)}项"
    text = "\n".join([head, *lines])
    if any_abnormal:
        text += "\n⚠️ 有异常，已通知校长，请安排就医或居家观察并持续跟进。"
    return text


def class_line(class_name: str, expected, present, absent, sick_absent, fever) -> str:
    """三年级2班 应到45 实到44 缺勤1（因病1） 发热0; counts not given are left out."""
    parts = [class_name]
    for label, value in (("应到", expected), ("实到", present), ("缺勤", absent)):
        if value is not None:
            parts.append(f"{label}{value}")
    text = " ".join(parts)
    if sick_absent:
        text += f"（因病{sick_absent}）"
    if fever is not None:
        text += f" 发热{fever}"
    return text


def hint() -> str:
    return "没看懂这条消息。报体温请直接发数字，如：36.5；发“帮助”查看更多写法。"


def refusal(errors) -> str:
    lines = ["未记录：" + errors[0].message] if errors else ["未记录，请检查格式后重发。"]
    lines += [e.message for e in errors[1:]]
    return "\n".join(lines)


def not_recorded(problems: list[str]) -> str:
    text = "未记录：" + "；".join(problems)
    if not text.endswith(("？", "。")):
        text += "。"
    return text + "\n请修改后重新发送整条消息。"


def not_recorded_in_group() -> str:
    return ("未记录：有学生的名字或班级与名单不符。为保护学生隐私，请私聊我发送同样的内容，"
            "我会告诉您名单上的写法。")


def bureau_reports_nothing() -> str:
    return "教育局账号无需报告体温。发送“统计”查看全区今日情况，发送“谁没报”查看未报学校。"


def cannot_report() -> str:
    return "您的账号不需要报告体温。如有疑问请联系学校管理员。"


def unknown_sender() -> str:
    return ("您好，您还不在晨检名单中，本条消息未作记录。"
            "请联系本校班主任或学校管理员把您加入名单；名单更新后再发送体温即可。")


def inactive_sender() -> str:
    return "您的账号已不在当前晨检名单中，本条消息未作记录。如有疑问请联系学校管理员。"


def non_text_hint() -> str:
    return "暂时只能读取文字消息。报体温请直接发数字，如：36.5；发“帮助”查看写法。"
