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

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from handlers.config import Check, Config
from handlers import figures
from handlers.outgoing import Outgoing
from handlers import job_text as text
from scheduler.digest_messages import build_digest_messages
from scheduler.surveillance_jobs import surveillance_messages
from scheduler.watch_jobs import observation_ending_messages
from handlers.clock import to_utc
from storage.outbox_queue import enqueue, split_userids
from storage import job_runs
from storage.models import JobRun
from storage.recipients import liaison_map, principal_map
from storage.roster_queries import example_class, school_ids_by_name, school_names
from storage.snapshot import load_snapshot
from storage.whereabouts import observed_missing

log = logging.getLogger(__name__)

JOBS = ("open", "remind", "escalate", "digest")
JOB_TIME_FIELD = {"open": "opens", "remind": "remind", "escalate": "escalate", "digest": "digest"}


def job_time(check: Check, job: str) -> dt.time:
    return check.time_of(JOB_TIME_FIELD[job])


def school_groups(config: Config) -> list:
    return [g for g in config.groups if g.scope != "bureau"]


# --- open ---------------------------------------------------------------------------------

def open_messages(session: Session, config: Config, day: dt.date, check: Check,
                  now: dt.datetime) -> list[Outgoing]:
    """A short prompt to each school group: the check is open, how to report. With the first
    check of the day, each principal hears of home observations that end today (once)."""
    out = []
    if check == config.checks[0]:
        out += observation_ending_messages(session, config, day)
    known = set(school_names(session))
    for g in school_groups(config):
        if g.scope not in known:
            log.warning("group %r names no school on the roster", g.scope)
        content = text.open_prompt(check.name, day, example_class(session, g.scope) or "三年级2班",
                                   check.remind)
        out.append(Outgoing("group", g.robot_key, "text", content,
                            f"open:{day}:{check.name}:group:{g.scope}"))
    return out


# --- remind -------------------------------------------------------------------------------

def remind_messages(session: Session, config: Config, day: dt.date, check: Check,
                    now: dt.datetime) -> list[Outgoing]:
    """Private reminders to everyone still missing, and one @-mention text per school group."""
    snap = load_snapshot(session, day, check.name, taken_at=to_utc(now), students="reported")
    own = {p.userid for p in figures.missing_staff(snap) if p.userid}
    klass = {h.userid for c in figures.missing_classes(snap) for h in c.head_teachers if h.userid}
    variants = {"own": own - klass, "class": klass - own, "both": own & klass}
    out = []
    for variant, userids in variants.items():
        content = text.reminder(check.name, day, variant)
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
        content = text.group_reminder(check.name, day, len(staff), len(cls))
        out.append(Outgoing("group", g.robot_key, "text", content,
                            f"remind:{day}:{check.name}:group:{g.scope}",
                            mentioned=tuple(sorted(mention))))
    return out


# --- escalate -----------------------------------------------------------------------------

def escalate_messages(session: Session, config: Config, day: dt.date, check: Check,
                      now: dt.datetime) -> list[Outgoing]:
    """Each school's principals (and its liaisons, 责任到人) get the classes and staff still
    missing (nothing if none)."""
    snap = load_snapshot(session, day, check.name, taken_at=to_utc(now), students="reported")
    at = now.astimezone(config.tz).time()
    school_ids = school_ids_by_name(session)
    heads_of, liaisons_of = principal_map(session), liaison_map(session)
    out = []
    for school in snap.schools():
        principals = heads_of.get(school_ids.get(school), [])
        liaisons = [u for u in liaisons_of.get(school_ids.get(school), []) if u not in principals]
        if not principals and not liaisons:
            continue
        staff = figures.missing_staff(snap, school)
        cls = figures.missing_classes(snap, school)
        observed = observed_missing(session, day, check.name, school_ids.get(school))
        if not staff and not cls and not observed:
            continue
        content = text.escalation(
            check.name, day, school, at,
            [(c.class_name, [h.name for h in c.head_teachers]) for c in cls],
            [p.name for p in staff],
            [r.name for r in observed])
        for i, batch in enumerate(split_userids(principals)):
            out.append(Outgoing("person", "|".join(batch), "text", content,
                                f"escalate:{day}:{check.name}:{school}:{i}"))
        for i, batch in enumerate(split_userids(liaisons)):
            out.append(Outgoing("person", "|".join(batch), "text", content,
                                f"escalate:{day}:{check.name}:{school}:liaison:{i}"))
    return out


# --- digest -------------------------------------------------------------------------------

def digest_messages(session: Session, config: Config, day: dt.date, check: Check,
                    now: dt.datetime) -> list[Outgoing]:
    """What `scheduler.digest_messages` builds for the day (school, principal, bureau), and the
    early-warning alerts of the day's signals (stored with their figures, once per school,
    signal and day)."""
    alerts, signal_lines = surveillance_messages(session, config, day, check, now=to_utc(now))
    return alerts + list(build_digest_messages(session, config, day, check.name, to_utc(now),
                                               signal_lines=signal_lines))


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
            existing = job_runs.job_run(s, day, check.name, job, for_update=True)
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
            existing = job_runs.job_run(s, day, check.name, job)
        return RunResult(job, day, check.name, "already_done",
                         runs=existing.runs if existing else 0, previous=existing)
    log.info("%s %s %s: queued %d of %d message(s)", job, day, check.name, len(queued),
             len(messages))
    return RunResult(job, day, check.name, "done", tuple(queued), len(messages), runs)


def _again(m: Outgoing, run_no: int) -> Outgoing:
    return Outgoing(m.channel, m.target, m.msgtype, m.content, f"{m.dedupe_key}#{run_no}",
                    m.mentioned)


last_runs = job_runs.last_runs     # re-exported for `status`