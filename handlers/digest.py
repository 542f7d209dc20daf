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
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from handlers.figures import DaySnapshot, FollowUpRow, PersonRow, RecordRow, SchoolFigures

from handlers.parser import SYMPTOM_NAMES
from handlers.replies import check_name as check_label, day_label, mask  # noqa: F401

GROUP_LIMIT = 4096        # bytes: WeCom group robot markdown
PERSON_LIMIT = 2048       # bytes: WeCom app message (text or markdown) to a person
NAMES_PER_LINE = 10       # long name lists wrap into lines a phone shows whole
ZERO_REPORT = "零报告：今日无发热、无因病缺勤"


# ---------------------------------------------------------------------------------- figures

def symptom_name(code: str) -> str:
    return SYMPTOM_NAMES.get(code, code)


def has_fever(record: RecordRow, threshold: float) -> bool:
    """A stated fever, or a temperature at or above the threshold."""
    return "fever" in record.symptoms or (
        record.temperature is not None and record.temperature >= threshold)


def record_symptoms(record: RecordRow, threshold: float) -> tuple[str, ...]:
    """The record's symptoms with "fever" added when only the temperature says so."""
    if has_fever(record, threshold) and "fever" not in record.symptoms:
        return ("fever", *record.symptoms)
    return tuple(record.symptoms)


def symptom_counts(fig: SchoolFigures, threshold: float) -> dict[str, int]:
    """People per symptom among the school's individual reports (fever by temperature too)."""
    counts: Counter[str] = Counter()
    for _p, r in fig.abnormal_people:
        counts.update(set(record_symptoms(r, threshold)))
    return dict(counts)


@dataclass(frozen=True)
class SchoolTally:
    """The numbers one school contributes to a digest line, a chart point or a summary row."""
    school: str
    staff_reported: int
    staff_expected: int
    classes_reported: int
    classes_expected: int
    expected: int           # 应到
    present: int            # 实到
    absent: int             # 缺勤
    sick_absent: int        # 因病缺勤
    fevers: int             # 发热 (people, counted once)
    missing: int            # staff + classes still missing

    @property
    def reported(self) -> int:
        return self.staff_reported + self.classes_reported

    @property
    def due(self) -> int:
        return self.staff_expected + self.classes_expected

    @property
    def reported_nothing(self) -> bool:
        return self.due > 0 and self.reported == 0


def fever_counts(snapshot: DaySnapshot, threshold: float) -> dict[str, int]:
    """Fevers per school, each person once, in one pass over the snapshot.

    Staff count from their own reports. A class counts the larger of the fevers its head
    teacher states in the class summary and its students reported one by one with a fever
    (the same child is often in both).
    """
    staff: Counter[str] = Counter()
    students: Counter[tuple[str, str]] = Counter()
    for pid, r in snapshot.records.items():
        p = snapshot.person(pid)
        if p is None or not p.school or not has_fever(r, threshold):
            continue
        if p.role == "student" and p.class_name:
            students[(p.school, p.class_name)] += 1
        else:
            staff[p.school] += 1
    stated = {key: (row.fever or 0) for key, row in snapshot.class_reports.items()}
    out: Counter[str] = Counter(staff)
    for key in set(stated) | set(students):
        out[key[0]] += max(stated.get(key, 0), students.get(key, 0))
    return dict(out)


def fever_count(snapshot: DaySnapshot, school: str, threshold: float) -> int:
    """One school's fevers (see `fever_counts`)."""
    return fever_counts(snapshot, threshold).get(school, 0)


def tally(snapshot: DaySnapshot, fig: SchoolFigures, threshold: float, *,
          fevers: int | None = None) -> SchoolTally:
    if fevers is None:
        fevers = fever_count(snapshot, fig.school, threshold)
    return SchoolTally(
        school=fig.school, staff_reported=fig.staff_reported, staff_expected=fig.staff_expected,
        classes_reported=fig.classes_reported, classes_expected=fig.classes_expected,
        expected=fig.expected, present=fig.present, absent=fig.absent,
        sick_absent=fig.sick_absent, fevers=fevers,
        missing=len(fig.missing_staff) + len(fig.missing_classes))


def tallies(snapshot: DaySnapshot, figs: Sequence[SchoolFigures], threshold: float
            ) -> list[SchoolTally]:
    counts = fever_counts(snapshot, threshold)
    return [tally(snapshot, f, threshold, fevers=counts.get(f.school, 0)) for f in figs]


@dataclass(frozen=True)
class DistrictTotals:
    schools: int
    schools_silent: int
    staff_reported: int
    staff_expected: int
    classes_reported: int
    classes_expected: int
    expected: int
    present: int
    absent: int
    sick_absent: int
    fevers: int

    @property
    def rate(self) -> float | None:
        """Reporting rate in percent (staff and classes together), None with nothing due."""
        due = self.staff_expected + self.classes_expected
        return None if due == 0 else 100.0 * (self.staff_reported + self.classes_reported) / due


def district_totals(tallies: Sequence[SchoolTally]) -> DistrictTotals:
    return DistrictTotals(
        schools=len(tallies), schools_silent=sum(1 for t in tallies if t.reported_nothing),
        staff_reported=sum(t.staff_reported for t in tallies),
        staff_expected=sum(t.staff_expected for t in tallies),
        classes_reported=sum(t.classes_reported for t in tallies),
        classes_expected=sum(t.classes_expected for t in tallies),
        expected=sum(t.expected for t in tallies), present=sum(t.present for t in tallies),
        absent=sum(t.absent for t in tallies), sick_absent=sum(t.sick_absent for t in tallies),
        fevers=sum(t.fevers for t in tallies))


# ---------------------------------------------------------------------------------- text

def as_of(taken_at: dt.datetime, tz) -> str:
    """HH:MM in the local time zone; a naive datetime is UTC (as stored)."""
    if taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=dt.timezone.utc)
    return taken_at.astimezone(tz).strftime("%H:%M")


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
    symptoms = record_symptoms(r, threshold)
    if symptoms:
        parts.append("、".join(symptom_name(s) for s in symptoms))
    return " ".join(parts) or "异常"


ROLE_LABELS = {"principal": "校长", "head_teacher": "班主任", "teacher": "教师", "bureau": "教育局"}


def who(p: PersonRow) -> str:
    """三年级2班 for a student, 三年级2班班主任 / 教师 / 校长 for staff."""
    if p.role == "student":
        return p.class_name or "学生"
    return (p.class_name or "") + ROLE_LABELS.get(p.role, "教职工")


def school_digest(fig: SchoolFigures, *, day: dt.date, check: str, taken_at: dt.datetime,
                  tz, threshold: float, fevers: int, masked: bool,
                  followups: Sequence[FollowUpRow] = (), limit: int | None = None) -> list[str]:
    """The school's digest, split into messages of at most `limit` bytes.

    `fevers`: the school's fever count (see `fever_count`). `masked=True`: the group version,
    `masked=False`: the principal's, with names, readings and the follow-up list.
    """
    limit = limit or (GROUP_LIMIT if masked else PERSON_LIMIT)
    title = f"**{fig.school} {day_label(day)} {check_label(check)}日报**"
    lines = [
        f"教职工已报 {fig.staff_reported}/{fig.staff_expected}",
        f"班级已报 {fig.classes_reported}/{fig.classes_expected}",
        f"应到{fig.expected} 实到{fig.present} 缺勤{fig.absent} 因病缺勤{fig.sick_absent}",
    ]
    counts = symptom_counts(fig, threshold)
    lines.append(f"发热 {fevers}人")
    others = {s: n for s, n in counts.items() if s != "fever"}
    if others:
        lines.append("其他症状：" + symptom_text(others))
    reported = fig.staff_reported + fig.classes_reported > 0
    if reported and fevers == 0 and fig.sick_absent == 0 and not fig.abnormal_people:
        lines.append(f'<font color="info">{ZERO_REPORT}</font>')
    if not masked and fig.abnormal_people:
        lines.append(f"体温/症状异常（{len(fig.abnormal_people)}人）：")
        for p, r in fig.abnormal_people:
            lines.append(f"· {p.name}（{who(p)}）{reading(r, threshold)}")
    if fig.missing_classes:
        lines += name_lines("未报班级", [c.class_name for c in fig.missing_classes], "个")
    if fig.missing_staff:
        staff_names = [mask(p.name) if masked else p.name for p in fig.missing_staff]
        lines += name_lines("未报教职工", staff_names)
    if fig.complete:
        lines.append("全部已报 ✅")
    if not masked and followups:
        lines.append(f"因病缺勤追踪（{len(followups)}人）：")
        for f in followups:
            sym = "、".join(symptom_name(s) for s in f.symptoms) or "未注明症状"
            lines.append(f"· {f.name}（{f.class_name or '—'}）{sym}，缺勤第{f.days_absent}天")
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
    text = (f"· {t.school}：教职工{t.staff_reported}/{t.staff_expected} "
            f"班级{t.classes_reported}/{t.classes_expected} 发热{t.fevers} 因病缺勤{t.sick_absent}")
    if t.reported_nothing:
        return f'<font color="warning">{text} 未报告</font>'
    missing_staff = t.staff_expected - t.staff_reported
    missing_classes = t.classes_expected - t.classes_reported
    if t.missing:
        text += f" 未报：教职工{missing_staff} 班级{missing_classes}"
    return text


def district_digest(tallies: Sequence[SchoolTally], *, day: dt.date, check: str,
                    taken_at: dt.datetime, tz, previous: Sequence[SchoolTally] | None = None,
                    previous_day: dt.date | None = None, alerts: Sequence[str] = (),
                    limit: int = GROUP_LIMIT) -> list[str]:
    """The bureau's digest; `previous` is the previous school day's tallies (same check)."""
    title = f"**全区 {day_label(day)} {check_label(check)}日报**"
    total = district_totals(tallies)
    lines = [
        f"学校 {total.schools}所，未报告 {total.schools_silent}所，上报率 {_rate(total)}",
        f"教职工已报 {total.staff_reported}/{total.staff_expected}，"
        f"班级已报 {total.classes_reported}/{total.classes_expected}",
        f"应到{total.expected} 实到{total.present} 缺勤{total.absent} 因病缺勤{total.sick_absent}",
        f"发热 {total.fevers}人",
    ]
    if total.staff_reported + total.classes_reported and total.fevers == 0 and total.sick_absent == 0:
        lines.append(f'<font color="info">{ZERO_REPORT}</font>')
    if previous is not None and previous_day is not None:
        before = district_totals(previous)
        rate_change = ("" if total.rate is None or before.rate is None
                       else f"，上报率{_signed(round(total.rate - before.rate), '个百分点')}")
        lines.append(f"较上一上学日（{day_label(previous_day)}）：发热{_signed(total.fevers - before.fevers)}，"
                     f"因病缺勤{_signed(total.sick_absent - before.sick_absent)}{rate_change}")
    if alerts:
        lines.append(f'<font color="warning">预警（{len(alerts)}）：</font>')
        lines += [f"· {a}" for a in alerts]
    lines.append("各校情况（未报告的学校在前）：")
    order = sorted(tallies, key=lambda t: (not t.reported_nothing, -t.missing, t.school))
    lines += [school_line(t) for t in order]
    footer = f"> 数据截至 {as_of(taken_at, tz)}"
    return split_lines(title, lines, limit, footer)
