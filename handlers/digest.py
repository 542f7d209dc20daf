"""The daily digests (每日一报) in Chinese, as pure functions of plain figures.

- `school_digest`: one school's figures for its group chat (other people's names masked, no
  one's health details) or, `masked=False`, for the principal privately (full names, who is
  abnormal and why, the sick-absence follow-up list).
- `district_digest`: the bureau group's digest: one line per school, schools that reported
  nothing first, district totals, the change against the previous school day, open alerts.

Every message is WeCom markdown and fits its byte limit (UTF-8): `split_lines` packs whole lines
into as many messages as needed, repeating the title with （续n） on each continuation.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

from handlers.figures import (DistrictTotals, FollowUpRow, PersonRow, RecordRow, SchoolFigures,
                              SchoolTally, attention_order, district_totals)
from handlers.clock import local_text
from handlers.health import effective_symptoms, symptom_name
from handlers.replies import check_name as check_label, day_label, escape_md, mask

GROUP_LIMIT = 4096        # bytes: WeCom group robot markdown
PERSON_LIMIT = 2048       # bytes: WeCom app message (text or markdown) to a person
NAMES_PER_LINE = 10       # long name lists wrap into lines a phone shows whole
ZERO_REPORT = "零报告：今日无发热、无因病缺勤"


# ---------------------------------------------------------------------------------- text

def as_of(taken_at: dt.datetime, tz) -> str:
    """HH:MM in the local time zone; a naive datetime is UTC (as stored)."""
    return local_text(taken_at, tz, "%H:%M")


def name_lines(label: str, names: list[str], unit: str = "人",
               per_line: int = NAMES_PER_LINE) -> list[str]:
    """"未报教职工（12人）：a、b、…" wrapped after every `per_line` names."""
    if not names:
        return []
    lines = []
    for i in range(0, len(names), per_line):
        chunk = "、".join(names[i:i + per_line])
        lines.append(f"{label}（{len(names)}{unit}）：{chunk}" if i == 0 else chunk)
    return lines


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def split_lines(title: str, lines: Iterable[str], limit: int, footer: str = "") -> list[str]:
    """Packs whole lines into messages of at most `limit` UTF-8 bytes.

    The first message starts with `title`, each further one with `title（续n）`; every
    message ends with `footer` (e.g. 数据截至 09:30) so a reader of any part knows its time.
    A line is never cut unless it alone exceeds a message (then it is cut between characters).
    """
    parts: list[list[str]] = []
    current: list[str] = []

    def head(n: int) -> str:
        return title if n == 0 else f"{title}（续{n + 1}）"

    def size(body: list[str], n: int) -> int:
        return _utf8("\n".join([head(n), *body] + ([footer] if footer else [])))

    for line in lines:
        for piece in _fit(line, limit - size([], 9) - 1):
            if current and size(current + [piece], len(parts)) > limit:
                parts.append(current)
                current = []
            current.append(piece)
    parts.append(current)
    return ["\n".join([head(i), *body] + ([footer] if footer else []))
            for i, body in enumerate(parts)]


def _fit(line: str, room: int) -> list[str]:
    if _utf8(line) <= room:
        return [line]
    pieces, cur = [], ""
    for ch in line:
        if _utf8(cur + ch) > room:
            pieces.append(cur)
            cur = ""
        cur += ch
    return pieces + [cur]


def symptom_text(counts: dict[str, int]) -> str:
    """发热2人，咳嗽1人: fever first, then by count."""
    order = sorted(counts.items(), key=lambda kv: (kv[0] != "fever", -kv[1], kv[0]))
    return "，".join(f"{symptom_name(s)}{n}人" for s, n in order)


def reading(r: RecordRow, threshold: float) -> str:
    """38.1℃ 发热、咳嗽"""
    parts = []
    if r.temperature is not None:
        parts.append(f"{r.temperature:.1f}℃")
    symptoms = effective_symptoms(r.temperature, r.symptoms, threshold)
    if symptoms:
        parts.append("、".join(symptom_name(s) for s in symptoms))
    return " ".join(parts) or "异常"


ROLE_LABELS = {"principal": "校长", "head_teacher": "班主任", "teacher": "教师", "bureau": "教育局"}


def who(p: PersonRow) -> str:
    """三年级2班 for a student, 三年级2班班主任 / 教师 / 校长 for staff."""
    if p.role == "student":
        return p.class_name or "学生"
    return (p.class_name or "") + ROLE_LABELS.get(p.role, "教职工")


def completeness_line(fig: SchoolFigures) -> str | None:
    """零报告 for a complete, clean school; 未报齐：班级3个、教职工2人 when anything due is missing."""
    if fig.zero_report:
        return f'<font color="info">{ZERO_REPORT}</font>'
    if not fig.complete:
        parts = []
        if fig.missing_classes:
            parts.append(f"班级{len(fig.missing_classes)}个")
        if fig.missing_staff:
            parts.append(f"教职工{len(fig.missing_staff)}人")
        return f'<font color="warning">未报齐：{"、".join(parts)}</font>'
    return None


def school_digest(fig: SchoolFigures, *, day: dt.date, check: str, taken_at: dt.datetime,
                  tz, threshold: float, masked: bool,
                  followups: Sequence[FollowUpRow] = (), extra_lines: Sequence[str] = (),
                  limit: int | None = None) -> list[str]:
    """The school's digest, split into messages of at most `limit` bytes.

    `masked=True`: the group version (counts, masked names of who is missing, nobody's health),
    `masked=False`: the principal's, with names, readings and the follow-up list.
    `extra_lines`: further sections (摸排, supplies, notices …), already worded for the audience.
    """
    limit = limit or (GROUP_LIMIT if masked else PERSON_LIMIT)
    title = f"**{escape_md(fig.school)} {day_label(day)} {check_label(check)}日报**"
    lines = [
        f"教职工已报 {fig.staff_reported}/{fig.staff_expected}"
        + (f"（请假{len(fig.staff_on_leave)}人）" if fig.staff_on_leave else ""),
        f"班级已报 {fig.classes_reported}/{fig.classes_expected}",
        f"应到{fig.expected} 实到{fig.present} 缺勤{fig.absent} 因病缺勤{fig.sick_absent}",
        f"发热 {fig.fevers}人",
    ]
    others = {s: n for s, n in fig.symptom_counts.items() if s != "fever"}
    if others:
        lines.append("其他症状：" + symptom_text(others))
    status = completeness_line(fig)
    if status:
        lines.append(status)
    if not masked and fig.abnormal_people:
        lines.append(f"体温/症状异常（{len(fig.abnormal_people)}人）：")
        for p, r in fig.abnormal_people:
            lines.append(f"· {escape_md(p.name)}（{escape_md(who(p))}）{reading(r, threshold)}")
    if fig.missing_classes:
        lines += name_lines("未报班级", [escape_md(c.class_name) for c in fig.missing_classes], "个")
    if fig.missing_staff:
        staff_names = [mask(escape_md(p.name)) if masked else escape_md(p.name)
                       for p in fig.missing_staff]
        lines += name_lines("未报教职工", staff_names)
    if fig.complete:
        lines.append("全部已报 ✅")
    lines += list(extra_lines)
    if not masked and followups:
        lines.append(f"因病缺勤追踪（{len(followups)}人）：")
        for f in followups:
            sym = "、".join(symptom_name(s) for s in f.symptoms) or "未注明症状"
            lines.append(f"· {escape_md(f.name)}（{escape_md(f.class_name or '—')}）{sym}，"
                         f"缺勤第{f.days_absent}天")
        lines.append("学生返校后由班主任发送“姓名 返校”销号，如：张三 返校")
    footer = f"> 数据截至 {as_of(taken_at, tz)}"
    return split_lines(title, lines, limit, footer)


def _signed(n: float, unit: str = "") -> str:
    if n == 0:
        return "持平"
    sign = "+" if n > 0 else "−"
    value = f"{abs(n):.1f}" if isinstance(n, float) else str(abs(n))
    return f"{sign}{value}{unit}"


def _rate(t: DistrictTotals) -> str:
    return "—" if t.rate is None else f"{t.rate:.0f}%"


def school_line(t: SchoolTally) -> str:
    text = (f"· {escape_md(t.school)}：教职工{t.staff_reported}/{t.staff_expected} "
            f"班级{t.classes_reported}/{t.classes_expected} 发热{t.fevers} 因病缺勤{t.sick_absent}")
    if t.reported_nothing:
        return f'<font color="warning">{text} 未报告</font>'
    missing_staff = t.staff_expected - t.staff_reported
    missing_classes = t.classes_expected - t.classes_reported
    if t.missing:
        text += f" 未报齐：教职工{missing_staff} 班级{missing_classes}"
    elif t.zero_report:
        text += " 零报告"
    return text


def district_digest(tallies: Sequence[SchoolTally], *, day: dt.date, check: str,
                    taken_at: dt.datetime, tz, previous: Sequence[SchoolTally] | None = None,
                    previous_day: dt.date | None = None, alerts: Sequence[str] = (),
                    extra_lines: Sequence[str] = (), title: str = "全区",
                    limit: int = GROUP_LIMIT) -> list[str]:
    """The bureau's digest; `previous` is the previous school day's tallies (same check).

    `title`: whose schools these are (全区, or a liaison's 您联系的学校（3所）)."""
    title = f"**{title} {day_label(day)} {check_label(check)}日报**"
    total = district_totals(tallies)
    lines = [
        f"学校 {total.schools}所，未报告 {total.schools_silent}所，上报率 {_rate(total)}",
        f"教职工已报 {total.staff_reported}/{total.staff_expected}，"
        f"班级已报 {total.classes_reported}/{total.classes_expected}",
        f"应到{total.expected} 实到{total.present} 缺勤{total.absent} 因病缺勤{total.sick_absent}",
        f"发热 {total.fevers}人",
    ]
    if total.zero_report:
        lines.append(f'<font color="info">{ZERO_REPORT}（全区）</font>')
    else:
        lines.append(f"零报告 {total.schools_zero_report}所，未报齐 {total.schools_incomplete}所")
    if previous is not None and previous_day is not None:
        before = district_totals(previous)
        rate_change = ("" if total.rate is None or before.rate is None
                       else f"，上报率{_signed(round(total.rate - before.rate), '个百分点')}")
        lines.append(f"较上一上学日（{day_label(previous_day)}）：发热{_signed(total.fevers - before.fevers)}，"
                     f"因病缺勤{_signed(total.sick_absent - before.sick_absent)}{rate_change}")
    if alerts:
        lines.append(f'<font color="warning">预警（{len(alerts)}）：</font>')
        lines += [f"· {escape_md(a)}" for a in alerts]
    lines += list(extra_lines)
    lines.append("各校情况（未报告、未报齐的学校在前）：")
    lines += [school_line(t) for t in attention_order(tallies)]
    footer = f"> 数据截至 {as_of(taken_at, tz)}"
    return split_lines(title, lines, limit, footer)


SOURCE_NAMES = {"alert": "体温异常提醒", "cluster": "聚集预警", "remind": "提醒", "escalate": "督办",
                "digest": "日报", "notice": "通知", "retraction": "更正", "reply": "私信回复",
                "surveillance": "异常信号预警", "supplies": "物资提醒", "lowstock": "物资不足提醒",
                "notice-remind": "通知提醒", "whereabouts": "摸排提醒", "open": "开始提示"}


def failed_lines(failed: Sequence) -> list[str]:
    """⚠️ 近24小时有3条消息发送失败（体温异常提醒2、日报1），最近一条：errcode 60020 …"""
    if not failed:
        return []
    kinds: dict[str, int] = {}
    for f in failed:
        name = SOURCE_NAMES.get(f.source, f.source)
        kinds[name] = kinds.get(name, 0) + 1
    last = failed[-1]
    reason = escape_md(last.error)[:120]
    return [f'<font color="warning">近24小时有{len(failed)}条消息发送失败'
            f'（{"、".join(f"{k}{n}" for k, n in kinds.items())}）</font>',
            f"最近一条（{escape_md(last.target)}）：{reason}；请管理员运行 status 查看"]
