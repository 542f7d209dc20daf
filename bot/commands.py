"""Answers the chat commands: loads what the asker may see, composes with `handlers.answers`."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot.config import Config
from handlers import answers, figures
from handlers.help_text import help_text
from handlers.replies import check_name, class_line, day_label, reading_text
from storage import records as store
from storage.models import ClassReport, HealthRecord, Person
from storage.snapshot import load_snapshot


def answer_command(s: Session, config: Config, person: Person, command: str, now: dt.datetime,
                   check: str, *, in_group: bool = False) -> str:
    today = now.astimezone(config.tz).date()
    if command == "help":
        return help_text(person.role)
    if command == "query":
        return _query(s, config, person, today, check)
    if command == "undo":
        return _undo(s, config, person, now)
    if command == "stats":
        return _stats(s, config, person, today, check, in_group)
    if command == "unreported":
        return _unreported(s, config, person, today, check, in_group)
    return help_text(person.role)


def _query(s: Session, config: Config, person: Person, today: dt.date, check: str) -> str:
    since = today - dt.timedelta(days=6)
    by_day: dict[dt.date, list[HealthRecord]] = {}
    for r in store.person_history(s, person.id, since):
        by_day.setdefault(r.day, []).append(r)
    default = config.checks[0].name
    history = []
    for i in range(7):
        day = today - dt.timedelta(days=i)
        recs = by_day.get(day, [])
        if not recs and not config.calendar.is_school_day(day):
            continue
        texts = []
        for r in recs:
            label = "" if r.check == default else f"{check_name(r.check)} "
            texts.append(label + reading_text(r.temperature, r.symptom_list, r.abnormal,
                                              config.fever_threshold))
        history.append((day, "；".join(texts) or None))
    class_status = None
    if person.role == "head_teacher" and person.school_name:
        snap = load_snapshot(s, today, check, school=person.school_name)
        status = next((c for c in figures.classes(snap, person.school_name)
                       if c.class_name == person.class_name), None)
        if status is not None:
            students = _students(snap, person)
            class_status = answers.class_status_text(
                status, sum(1 for p in students if p.id in snap.records), len(students))
    return answers.query_answer(history, class_status)


def _students(snap, person: Person):
    return [p for p in snap.people_of(person.school_name)
            if p.role == "student" and p.class_name == person.class_name]


def _undo(s: Session, config: Config, person: Person, now: dt.datetime) -> str:
    utc_now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    rows = store.revoke_last(s, person.id, now=utc_now)
    items = []
    for row in rows:
        if isinstance(row, ClassReport):
            items.append(f"{day_label(row.day)} " + class_line(
                row.class_name, row.expected, row.present, row.absent, row.sick_absent, row.fever))
        else:
            who = "" if row.person_id == person.id else f"{row.person.name} "
            items.append(f"{day_label(row.day)} {who}" + reading_text(
                row.temperature, row.symptom_list, row.abnormal, config.fever_threshold))
    return answers.undo_answer(items)


def _stats(s: Session, config: Config, person: Person, today: dt.date, check: str,
           in_group: bool) -> str:
    threshold = config.fever_threshold
    if person.role == "bureau":
        snap = load_snapshot(s, today, check)
        return answers.stats_district(figures.district_figures(snap), today)
    if not person.school_name:
        return "您的账号没有所属学校，无法统计。"
    snap = load_snapshot(s, today, check, school=person.school_name)
    if person.role == "head_teacher":
        status = next((c for c in figures.classes(snap, person.school_name)
                       if c.class_name == person.class_name), None)
        if status is not None:
            return answers.stats_class(status, snap, _students(snap, person), in_group, threshold)
    fig = figures.school_figures(snap, person.school_name)
    if person.role == "principal":
        by_class = []
        for c in figures.classes(snap, person.school_name):
            r = c.report
            by_class.append(f"{c.class_name}：" + ("未报" if r is None else
                            f"实到{r.present}/{r.expected} 因病缺勤{r.sick_absent or 0} 发热{r.fever or 0}"))
        return answers.stats_school(fig, today, in_group, threshold, by_class)
    # a teacher sees the school's numbers, no one's name
    return (f"{fig.school} {day_label(today)}：教职工已报 {fig.staff_reported}/{fig.staff_expected}，"
            f"班级已报 {fig.classes_reported}/{fig.classes_expected}，体温异常 {len(fig.abnormal_people)}人。")


def _unreported(s: Session, config: Config, person: Person, today: dt.date, check: str,
                in_group: bool) -> str:
    if person.role == "bureau":
        snap = load_snapshot(s, today, check)
        return answers.unreported_district(figures.district_figures(snap), today)
    if not person.school_name:
        return "您的账号没有所属学校。"
    snap = load_snapshot(s, today, check, school=person.school_name)
    fig = figures.school_figures(snap, person.school_name)
    if person.role == "principal":
        return answers.unreported_school(fig, today, masked=in_group)
    if person.role == "head_teacher":
        mine = [c for c in fig.missing_classes if c.class_name == person.class_name]
        lines = [answers.unreported_counts(fig, today)]
        if mine:
            lines.append(f"您班（{person.class_name}）的班级情况还未报。")
        if person.id not in snap.records:
            lines.append("您本人今天的体温还未报。")
        return "\n".join(lines)
    text = answers.unreported_counts(fig, today)
    if person.id not in snap.records:
        text += "\n您本人今天的体温还未报。"
    return text
