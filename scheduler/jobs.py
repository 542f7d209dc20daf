"""The four daily jobs of a check: open, remind, escalate, digest.

Each job is a function `(session, config, day, check, now) -> list[Outgoing]`: it reads the
day's figures and says what to send; it sends nothing itself. `run_job_once` runs one of them
for a day and check inside ONE transaction that also writes the job's `JobRun` row (unique per
day, check and job) and queues the messages in the outbox. Either all of it is stored or none
of it, and a second run of the same job finds the JobRun and queues nothing (unless forced,
when the messages are queued again under new dedupe keys).
No job runs on a day off (`config.calendar.is_school_day`).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Check, Config
from handlers import figures
from handlers.outgoing import Outgoing
from handlers.replies import check_name as check_label, day_label  # noqa: F401
from scheduler.digest_messages import build_digest_messages
from scheduler.outbox import enqueue, split_userids, to_utc
from storage.models import JobRun, Person, School
from storage.snapshot import load_snapshot

log = logging.getLogger(__name__)

JOBS = ("open", "remind", "escalate", "digest")
JOB_TIME_FIELD = {"open": "opens", "remind": "remind", "escalate": "escalate", "digest": "digest"}
TEXT_LIMIT = 1900          # bytes: WeCom takes 2048 for a text message


def job_time(check: Check, job: str) -> dt.time:
    return check.time_of(JOB_TIME_FIELD[job])


def hhmm(t: dt.time) -> str:
    return f"{t.hour}:{t.minute:02d}"


def fit_names(names: list[str], budget: int) -> str:
    """Names joined by 、 within `budget` bytes, the rest counted (…等N人)."""
    out, used = [], 0
    for i, n in enumerate(names):
        piece = ("、" if out else "") + n
        size = len(piece.encode())
        if used + size > budget:
            return "、".join(out) + f"…等{len(names)}人"
        out.append(n)
        used += size
    return "、".join(out)


def school_groups(config: Config) -> list:
    return [g for g in config.groups if g.scope != "bureau"]


def _school_names(session: Session) -> list[str]:
    return list(session.scalars(select(School.name).order_by(School.name)))


# --- open ---------------------------------------------------------------------------------

def open_messages(session: Session, config: Config, day: dt.date, check: Check,
                  now: dt.datetime) -> list[Outgoing]:
    """A short prompt to each school group: the check is open, how to report."""
    label = check_label(check.name)
    out = []
    known = set(_school_names(session))
    for g in school_groups(config):
        if g.scope not in known:
            log.warning("group %r names no school on the roster", g.scope)
        example_class = _example_class(session, g.scope)
        content = (f"【{label}开始】{day_label(day)}\n"
                   f"请各位老师私聊我报告体温，如：36.5\n"
                   f"班主任另报班级情况，如：{example_class} 应到45 实到45\n"
                   f"请于{hhmm(check.remind)}前报告")
        out.append(Outgoing("group", g.robot_key, "text", content,
                            f"open:{day}:{check.name}:group:{g.scope}"))
    return out


def _example_class(session: Session, school: str) -> str:
    name = session.scalar(select(Person.class_name).join(School, Person.school_id == School.id)
                          .where(School.name == school, Person.role == "head_teacher",
                                 Person.active.is_(True), Person.class_name.is_not(None))
                          .order_by(Person.class_name).limit(1))
    return name or "三年级2班"


# --- remind -------------------------------------------------------------------------------

def remind_messages(session: Session, config: Config, day: dt.date, check: Check,
                    now: dt.datetime) -> list[Outgoing]:
    """Private reminders to everyone still missing, and one @-mention text per school group."""
    snap = load_snapshot(session, day, check.name, taken_at=to_utc(now), students="reported")
    label = check_label(check.name)
    own = {p.userid for p in figures.missing_staff(snap) if p.userid}
    klass = {h.userid for c in figures.missing_classes(snap) for h in c.head_teachers if h.userid}
    variants = {
        "own": (own - klass,
                f"【{label}提醒】{day_label(day)} 您的体温还未报告，请直接回复体温，如：36.5"),
        "class": (klass - own,
                  f"【{label}提醒】{day_label(day)} 您班的班级情况还未报告，"
                  f"请回复，如：三年级2班 应到45 实到45"),
        "both": (own & klass,
                 f"【{label}提醒】{day_label(day)} 您的体温和班级情况还未报告，请回复，如：\n"
                 f"36.5\n三年级2班 应到45 实到45"),
    }
    out = []
    for variant, (userids, content) in variants.items():
        for i, batch in enumerate(split_userids(sorted(userids))):
            out.append(Outgoing("person", "|".join(batch), "text", content,
                                f"remind:{day}:{check.name}:person:{variant}:{i}"))
    for g in school_groups(config):
        staff = [p for p in figures.missing_staff(snap, g.scope) if p.userid]
        cls = figures.missing_classes(snap, g.scope)
        mention = list(dict.fromkeys(
            [p.userid for p in staff] + [h.userid for c in cls for h in c.head_teachers
                                          if h.userid]))
        if not mention:
            continue
        parts = []
        if staff:
            parts.append(f"{len(staff)}位老师未报体温")
        if cls:
            parts.append(f"{len(cls)}个班未报班级情况")
        content = (f"【{label}提醒】{day_label(day)} 还有{'、'.join(parts)}，"
                   f"请被@的老师尽快私聊我报告。")
        out.append(Outgoing("group", g.robot_key, "text", content,
                            f"remind:{day}:{check.name}:group:{g.scope}",
                            mentioned=tuple(sorted(mention))))
    return out


# --- escalate -----------------------------------------------------------------------------

def escalate_messages(session: Session, config: Config, day: dt.date, check: Check,
                      now: dt.datetime) -> list[Outgoing]:
    """Each school's principals get the classes and staff still missing (nothing if none)."""
    snap = load_snapshot(session, day, check.name, taken_at=to_utc(now), students="reported")
    label = check_label(check.name)
    at = hhmm(now.astimezone(config.tz).time())
    out = []
    for school in snap.schools():
        principals = figures.principal_userids(snap, school)
        if not principals:
            continue
        staff = figures.missing_staff(snap, school)
        cls = figures.missing_classes(snap, school)
        if not staff and not cls:
            continue
        head = f"【{label}督办】{day_label(day)} {school}\n截至{at}仍未报告："
        lines = [head]
        budget = TEXT_LIMIT - len(head.encode()) - 120
        if cls:
            names = [f"{c.class_name}（{'、'.join(h.name for h in c.head_teachers)}）" for c in cls]
            lines.append(f"班级{len(cls)}个：" + fit_names(names, budget // 2))
        if staff:
            lines.append(f"教职工{len(staff)}人：" + fit_names([p.name for p in staff], budget // 2))
        lines.append("请督促尽快报告。")
        content = "\n".join(lines)
        for i, batch in enumerate(split_userids(principals)):
            out.append(Outgoing("person", "|".join(batch), "text", content,
                                f"escalate:{day}:{check.name}:{school}:{i}"))
    return out


# --- digest -------------------------------------------------------------------------------

def digest_messages(session: Session, config: Config, day: dt.date, check: Check,
                    now: dt.datetime) -> list[Outgoing]:
    """What `scheduler.digest_messages` builds for the day (school, principal, bureau)."""
    return list(build_digest_messages(session, config, day, check.name, to_utc(now)))


BUILDERS: dict[str, Callable[..., list[Outgoing]]] = {
    "open": open_messages,
    "remind": remind_messages,
    "escalate": escalate_messages,
    "digest": digest_messages,
}


# --- running one job ----------------------------------------------------------------------

@dataclass(frozen=True)
class RunResult:
    job: str
    day: dt.date
    check: str
    outcome: str                  # done | day_off | already_done
    queued: tuple[str, ...] = ()  # dedupe keys queued by this run
    built: int = 0                # messages the job produced (queued ones are new)
    runs: int = 0
    previous: JobRun | None = None

    def describe(self, tz=None) -> str:
        what = f"{self.job} {self.day} {self.check}"
        if self.outcome == "day_off":
            return f"{what}: not run, {self.day} is not a school day"
        if self.outcome == "already_done":
            when = ""
            if self.previous is not None:
                at = self.previous.finished_at.replace(tzinfo=dt.timezone.utc)
                when = (f" at {at.astimezone(tz):%Y-%m-%d %H:%M}" if tz is not None
                        else f" at {at:%Y-%m-%d %H:%M} UTC")
            return f"{what}: already done{when}; nothing sent (use --force to send again)"
        again = f" (run {self.runs})" if self.runs > 1 else ""
        return f"{what}{again}: queued {len(self.queued)} message(s)"


def run_job_once(sessions: sessionmaker[Session], config: Config, job: str, day: dt.date,
                 check: Check, now: dt.datetime, *, force: bool = False,
                 trigger: str = "manual", runner: str = "") -> RunResult:
    """Runs one job for a day and check, idempotently (see the module docstring)."""
    if job not in BUILDERS:
        raise ValueError(f"unknown job {job!r}")
    if not config.calendar.is_school_day(day):
        return RunResult(job, day, check.name, "day_off")
    try:
        with sessions() as s, s.begin():
            existing = s.scalar(select(JobRun).where(
                JobRun.day == day, JobRun.check == check.name, JobRun.job == job)
                .with_for_update())
            if existing is not None and not force:
                return RunResult(job, day, check.name, "already_done", runs=existing.runs,
                                 previous=existing)
            utc_now = to_utc(now)
            if existing is None:
                run = JobRun(day=day, check=check.name, job=job, runs=1, queued=0,
                             trigger=trigger, runner=runner[:100], started_at=utc_now,
                             finished_at=utc_now)
                s.add(run)
                s.flush()       # a racing run of the same job waits here, then fails
            else:
                run = existing
                run.runs += 1
                run.trigger, run.runner, run.started_at = trigger, runner[:100], utc_now
            messages = BUILDERS[job](s, config, day, check, now)
            if run.runs > 1:
                messages = [_again(m, run.runs) for m in messages]
            queued = enqueue(s, messages, source=job, now=now)
            run.queued = len(queued)
            run.finished_at = to_utc(now)
            runs = run.runs
    except IntegrityError:
        # Another scheduler (or run-job) stored this JobRun between our read and our insert.
        log.info("%s %s %s: done by another runner at the same time", job, day, check.name)
        with sessions() as s:
            existing = s.scalar(select(JobRun).where(
                JobRun.day == day, JobRun.check == check.name, JobRun.job == job))
        return RunResult(job, day, check.name, "already_done",
                         runs=existing.runs if existing else 0, previous=existing)
    log.info("%s %s %s: queued %d of %d message(s)", job, day, check.name, len(queued),
             len(messages))
    return RunResult(job, day, check.name, "done", tuple(queued), len(messages), runs)


def _again(m: Outgoing, run_no: int) -> Outgoing:
    return Outgoing(m.channel, m.target, m.msgtype, m.content, f"{m.dedupe_key}#{run_no}",
                    m.mentioned)


def last_runs(session: Session) -> list[JobRun]:
    """The latest run of every (check, job), newest day first."""
    rows = list(session.scalars(select(JobRun).order_by(JobRun.day.desc(), JobRun.id.desc())
                                .limit(200)))
    seen, out = set(), []
    for r in rows:
        if (r.check, r.job) in seen:
            continue
        seen.add((r.check, r.job))
        out.append(r)
    return out
