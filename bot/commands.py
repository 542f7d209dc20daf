"""Answers the chat commands: loads what the asker may see, composes with `handlers.answers`."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from handlers import answers, figures, replies
from handlers.clock import to_utc
from handlers.config import Config
from handlers.help_text import help_text
from handlers.outgoing import Outgoing
from handlers.replies import check_name, class_line, day_label, mask, reading_text
from storage import records as store
from storage.models import ClassReport, HealthRecord, Person
from storage.outbox_queue import enqueue
from storage.snapshot import load_snapshot


@dataclass(frozen=True)
class CommandContext:
    session: Session
    config: Config
    person: Person
    now: dt.datetime
    check: str
    in_group: bool = False
    msg_id: int | None = None
    hooks: tuple = ()            # inbox hooks: `on_revoked(session, rows, now)` for retractions

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.config.tz).date()


def answer_command(ctx: CommandContext, command: str) -> str:
    """The reply to a chat command. In a group the reply carries counts and masked names only;
    anything personal goes to the sender privately (详情已私信)."""
    person = ctx.person
    if command == "help":
        return help_text(person.role)
    if command == "query":
        return _in_private(ctx, _query(ctx.session, ctx.config, person, ctx.today, ctx.check),
                           replies.sent_privately("您近7天的记录"))
    if command == "undo":
        return _undo(ctx)
    if command == "stats":
        return _stats(ctx)
    if command == "unreported":
        return _unreported(ctx.session, ctx.config, person, ctx.today, ctx.check, ctx.in_group)
    return help_text(person.role)


def _in_private(ctx: CommandContext, full: str, group_reply: str) -> str:
    """In a private chat: the full answer. In a group: `group_reply`, and the full answer goes
    to the sender privately through the outbox."""
    if not ctx.in_group:
        return full
    if ctx.person.userid:
        enqueue(ctx.session, [Outgoing("person", ctx.person.userid, "text", part,
                                       f"reply:{ctx.msg_id}:{i}")
                              for i, part in enumerate(replies.private_parts(full))],
                source="reply", now=ctx.now)
    return group_reply


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


def open_checks(config: Config, now: dt.datetime) -> list[str]:
    """Today's checks that have opened by `now` (the first one always)."""
    local = now.astimezone(config.tz).time()
    return [c.name for i, c in enumerate(config.checks) if i == 0 or c.opens <= local]


def _undo(ctx: CommandContext) -> str:
    s, config, person = ctx.session, ctx.config, ctx.person
    utc_now = to_utc(ctx.now)
    rows = store.revoke_last(s, person.id, day=ctx.today, checks=open_checks(config, ctx.now),
                             now=utc_now)
    for hook in ctx.hooks:
        on_revoked = getattr(hook, "on_revoked", None)
        if on_revoked is not None:
            on_revoked(s, [r for r in rows if isinstance(r, HealthRecord)], ctx.now)
    items, masked_items = [], []
    for row in rows:
        if isinstance(row, ClassReport):
            line = f"{day_label(row.day)} " + class_line(
                row.class_name, row.expected, row.present, row.absent, row.sick_absent, row.fever)
            items.append(line)
            masked_items.append(line)          # a class's counts are the group's figures
        else:
            own = row.person_id == person.id
            who = "" if own else f"{row.person.name} "
            items.append(f"{day_label(row.day)} {who}" + reading_text(
                row.temperature, row.symptom_list, row.abnormal, config.fever_threshold))
            masked_items.append(f"{day_label(row.day)} " + ("您本人的报告" if own else
                                                            f"{mask(row.person.name)} 的报告"))
    if not ctx.in_group:
        return answers.undo_answer(items)
    return answers.undo_answer(masked_items)


def _stats(ctx: CommandContext) -> str:
    s, config, person, today, check = ctx.session, ctx.config, ctx.person, ctx.today, ctx.check
    threshold = config.fever_threshold
    if person.role == "bureau":
        snap = load_snapshot(s, today, check)
        return answers.stats_district(figures.district_figures(snap, threshold), today)
    if not person.school_name:
        return "您的账号没有所属学校，无法统计。"
    snap = load_snapshot(s, today, check, school=person.school_name)
    if person.role == "head_teacher":
        status = next((c for c in figures.classes(snap, person.school_name)
                       if c.class_name == person.class_name), None)
        if status is not None:
            students = _students(snap, person)
            full = answers.stats_class(status, snap, students, False, threshold)
            if not ctx.in_group:
                return full
            return _in_private(ctx, full, answers.stats_class(status, snap, students, True,
                                                              threshold))
    fig = figures.school_figures(snap, person.school_name, threshold)
    if person.role == "principal":
        by_class = []
        for c in figures.classes(snap, person.school_name):
            r = c.report
            by_class.append(f"{c.class_name}：" + ("未报" if r is None else
                            f"实到{r.present}/{r.expected} 因病缺勤{r.sick_absent or 0} 发热{r.fever or 0}"))
        full = answers.stats_school(fig, today, False, threshold, by_class)
        if not ctx.in_group:
            return full
        return _in_private(ctx, full, answers.stats_school(fig, today, True, threshold, by_class))
    # a teacher sees the school's numbers, no one's name
    return answers.stats_counts(fig, today)


def _unreported(s: Session, config: Config, person: Person, today: dt.date, check: str,
                in_group: bool) -> str:
    if person.role == "bureau":
        snap = load_snapshot(s, today, check)
        return answers.unreported_district(
            figures.district_figures(snap, config.fever_threshold), today)
    if not person.school_name:
        return "您的账号没有所属学校。"
    snap = load_snapshot(s, today, check, school=person.school_name)
    fig = figures.school_figures(snap, person.school_name, config.fever_threshold)
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
