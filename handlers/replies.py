"""The Chinese answers the bot gives in chat, composed from plain data.

Short enough for a phone screen; every refusal says how to write it right.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from handlers.health import effective_symptoms, symptom_name

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
    return "、".join(symptom_name(s) for s in symptoms)


# What a quoted value (a name, a school, a class) must not carry into WeCom markdown or text:
# markup (<@all>, <font>, [link](…), **, `), line breaks, control and bidi characters.
_MD_SWAP = str.maketrans({"<": "＜", ">": "＞", "[": "［", "]": "］", "*": "＊", "`": "｀",
                          "\r": " ", "\n": " ", "\t": " "})
_INVISIBLE = dict.fromkeys(
    [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x200B, 0x200C, 0x200D, 0x200E, 0x200F,
     *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF])


def escape_md(value: str) -> str:
    """A roster value as plain text inside a message: markup made inert, invisibles dropped."""
    if not value:
        return value
    return value.translate(_MD_SWAP).translate(_INVISIBLE).lstrip("#>").strip()


def reading_text(temperature: float | None, symptoms: Iterable[str], abnormal: bool,
                 threshold: float) -> str:
    """体温36.5℃，正常 / 体温37.8℃，发热 / 咳嗽、乏力，异常"""
    parts = []
    if temperature is not None:
        parts.append(f"体温{temperature:.1f}℃")
    symptoms = effective_symptoms(temperature, symptoms, threshold)
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


def sent_privately(what: str) -> str:
    """The group's answer when the details went to the sender privately."""
    return f"{what}已私信发给您（详情已私信）。"


def private_parts(text: str, limit: int = 2048) -> list[str]:
    """A private text cut at line ends into parts of at most `limit` UTF-8 bytes."""
    parts, current = [], ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if current and len(candidate.encode("utf-8")) > limit:
            parts.append(current)
            candidate = line
        while len(candidate.encode("utf-8")) > limit:
            cut = limit
            while len(candidate[:cut].encode("utf-8")) > limit:
                cut -= 1
            parts.append(candidate[:cut])
            candidate = candidate[cut:]
        current = candidate
    if current or not parts:
        parts.append(current)
    return parts


def recorded_list(day: dt.date, check_text: str, names: list[str], abnormal: list[str], *,
                  unread=(), unread_count: int = 0, problems=(), problem_count: int = 0,
                  missing=(), limit: int = 2000) -> str:
    """The answer to a 接龙 or numbered list: how many were recorded and whom, who is abnormal,
    the lines not understood (by number and text), the names not recorded, and the class's
    students the list leaves out (`未在名单中：王五、赵六`). `unread`/`problems` empty with a
    count: a group's answer, whose details went privately. Whom it recorded is shortened
    (…等N人) to keep the answer within `limit` bytes."""
    head = f"已记录：{day_label(day)}{' ' + check_text if check_text else ''} 共{len(names)}人"
    tail = []
    if abnormal:
        tail.append(f"异常{len(abnormal)}人：" + "；".join(abnormal))
    if unread:
        tail.append("没看懂，未记录：" + "；".join(f"第{u.split('. ', 1)[0]}条“{u.split('. ', 1)[-1]}”"
                                             for u in unread))
    elif unread_count:
        tail.append(f"另有{unread_count}条没看懂，未记录（详情已私信）")
    if problems:
        tail.append("未记录：" + "；".join(problems))
    elif problem_count:
        tail.append(f"另有{problem_count}人与名单不符，未记录（详情已私信）")
    if missing:
        tail.append("未在名单中：" + "、".join(missing))
    if abnormal:
        tail.append("⚠️ 有异常，已通知校长，请安排就医或居家观察并持续跟进。")
    if unread or unread_count or problems or problem_count:
        tail.append("请把未记录的几行改好后再发一次（已记录的会更正，不会重复）。")
    rest = len("\n".join([head, *tail]).encode("utf-8")) + 1
    shown = list(names)
    while shown and len(("记录：" + "、".join(shown) + f"…等{len(names)}人").encode("utf-8")) + rest > limit:
        shown = shown[:max(0, len(shown) - 5)]
    who = "、".join(shown) if len(shown) == len(names) else "、".join(shown) + f"…等{len(names)}人"
    return "\n".join([head, "记录：" + who, *tail])
