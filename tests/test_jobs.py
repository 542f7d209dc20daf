"""The daily jobs over real HTTP to the WeCom stand-in: who gets reminded and escalated, the
school calendar, run-job idempotency, the APScheduler wiring and catch-up.

Also holds the `env` fixture (a migrated database with the test roster, the stand-in, a
FixedClock whose `sleep` advances it) that the outbox, alert and leader tests share.
"""
from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers.config import Config
from scheduler.commands import run_job, status
from scheduler.jobs import JOBS, run_job_once
from scheduler.outbox import OutboxWorker
from bot.wecom.client import make_client
from scheduler.runner import SchedulerRunner
from storage import records as store
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import JobRun, OutboxMessage, Person, School
from storage.roster import apply_roster, load_roster
from tests.support import ROSTER_CSV, FixedClock, create_pg_database, drop_pg_database, make_config

ROOT = Path(__file__).resolve().parents[1]
MONDAY = dt.date(2026, 3, 2)


class Crash(BaseException):
    """A simulated process death: not an Exception, so no `except Exception` swallows it."""


@dataclass
class Env:
    url: str
    backend: str
    config: Config
    engine: object
    sessions: object
    clock: FixedClock
    standin: object
    root: Path = ROOT
    slept: list = field(default_factory=list)

    # -- time: every wait advances the fake clock, never the wall clock --
    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds=seconds)

    def client(self):
        return make_client(self.config, sleep=self.sleep)

    def worker(self, *, sessions=None, **kw) -> OutboxWorker:
        return OutboxWorker(sessions or self.sessions, self.client(), clock=self.clock,
                            sleep=self.sleep, secrets=(self.config.wecom.secret,), **kw)

    def run(self, job: str, **kw) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run_job(self.config, job, client=self.client(), clock=self.clock,
                       sleep=self.sleep, out=out, err=err, **kw)
        return code, out.getvalue(), err.getvalue()

    def status(self) -> str:
        out = io.StringIO()
        assert status(self.config, out=out, clock=self.clock) == 0
        return out.getvalue()

    # -- the roster and reports --
    def person(self, userid: str) -> Person:
        with self.sessions() as s:
            return s.scalar(select(Person).where(Person.userid == userid))

    def record(self, who: str, temperature: float | None = 36.5, symptoms=(), *,
               day: dt.date = MONDAY, check: str = "morning", by: str | None = None) -> None:
        with self.sessions() as s, s.begin():
            person = s.scalar(select(Person).where((Person.userid == who) | (Person.name == who)))
            reporter = s.scalar(select(Person).where(Person.userid == (by or who)))
            abnormal = bool(symptoms) or (temperature is not None
                                          and temperature >= self.config.fever_threshold)
            store.save_record(s, person_id=person.id, day=day, check=check,
                              temperature=temperature, symptoms=symptoms, abnormal=abnormal,
                              reported_by_id=reporter.id, message_id=None)

    def class_report(self, head: str, expected: int = 45, present: int = 45, *,
                     day: dt.date = MONDAY, check: str = "morning", fever: int = 0) -> None:
        with self.sessions() as s, s.begin():
            p = s.scalar(select(Person).where(Person.userid == head))
            store.save_class_report(s, school_id=p.school_id, class_name=p.class_name, day=day,
                                    check=check, expected=expected, present=present,
                                    absent=expected - present, sick_absent=0, fever=fever,
                                    reported_by_id=p.id, message_id=None)

    # -- what the stand-in received --
    def deliveries(self) -> list[tuple]:
        return [d for d in (delivery(r) for r in list(self.standin.received)) if d is not None]

    def person_messages(self) -> list[tuple[frozenset, str]]:
        return [(frozenset(d[1].split("|")), d[2]) for d in self.deliveries() if d[0] == "person"]

    def group_messages(self, key: str | None = None) -> list[tuple]:
        return [d for d in self.deliveries() if d[0] == "group" and key in (None, d[1])]

    def texts_to(self, userid: str) -> list[str]:
        return [text for users, text in self.person_messages() if userid in users]

    def received_count(self) -> int:
        return len(self.deliveries())

    def clear_received(self) -> None:
        with self.standin.lock:
            self.standin.received.clear()

    def assert_each_delivered_once(self) -> None:
        """Every outbox row is sent, and the stand-in got each exactly once, nothing else."""
        with self.sessions() as s:
            rows = s.scalars(select(OutboxMessage)).all()
        assert rows, "nothing was queued"
        assert {r.status for r in rows} == {"sent"}, [(r.dedupe_key, r.status, r.last_error)
                                                     for r in rows if r.status != "sent"]
        got = Counter(self.deliveries())
        want = Counter(row_delivery(r) for r in rows)
        doubled = {k: n for k, n in got.items() if n > want.get(k, 0)}
        lost = {k: n for k, n in want.items() if got.get(k, 0) < n}
        assert not doubled, f"delivered more than once: {doubled}"
        assert not lost, f"never delivered: {lost}"


def delivery(record) -> tuple | None:
    """One stand-in record as (channel, target, content, mentioned), or None for non-sends."""
    if record.get("errcode") != 0:           # a token fetch's answer or an injected failure
        return None
    path = record["path"]
    body = record.get("json") or {}
    if record.get("errcode") != 0:
        return None                      # refused by the stand-in (an injected fault): not delivered
    if path.endswith("/message/send"):
        msgtype = body.get("msgtype")
        content = (body.get(msgtype) or {}).get("content", "")
        delivered = record.get("delivered")
        if delivered is not None and not delivered:
            return None                  # WeCom's duplicate check held it back from everyone
        users = "|".join(delivered) if delivered is not None else body.get("touser", "")
        return ("person", users, content, ())
    if path.endswith("/webhook/send"):
        msgtype = body.get("msgtype")
        part = body.get(msgtype) or {}
        content = part.get("content") or part.get("base64", "")
        mentioned = tuple(part.get("mentioned_list") or ())
        return ("group", record["query"].get("key", ""), content, mentioned)
    return None


def row_delivery(row: OutboxMessage) -> tuple:
    mentioned = tuple(m for m in row.mentioned.split("|") if m)
    return (row.channel, row.target, row.content, mentioned)


def seed(url: str, tmp_path: Path, roster_csv: str = ROSTER_CSV) -> None:
    upgrade(url)
    roster = tmp_path / "roster.csv"
    roster.write_text(roster_csv, encoding="utf-8")
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s, s.begin():
        apply_roster(s, load_roster(roster))
    engine.dispose()


def _make_env(url: str, backend: str, tmp_path: Path, roster_csv: str = ROSTER_CSV,
              **overrides):
    from bot.wecom.standin import WeComStandIn

    seed(url, tmp_path, roster_csv)
    standin = WeComStandIn()
    standin.start()
    config = make_config(url, api_base=standin.url, **overrides)
    engine = make_engine(url)
    env = Env(url, backend, config, engine, make_sessionmaker(engine),
              FixedClock(dt.datetime(2026, 3, 2, 8, 30)), standin)
    return env


@pytest.fixture
def env_factory(db_url, tmp_path):
    """Builds the env with config overrides (e.g. a calendar); cleans up after the test."""
    made = []

    def make(**overrides) -> Env:
        e = _make_env(db_url, db_url.split(":")[0].split("+")[0], tmp_path, **overrides)
        made.append(e)
        return e

    yield make
    for e in made:
        e.standin.stop()
        e.engine.dispose()


@pytest.fixture
def env(env_factory):
    """A seeded database on each backend, the stand-in, Monday 2 March 2026 08:30 Shanghai."""
    return env_factory()


@pytest.fixture
def pg_env(tmp_path):
    url = create_pg_database()           # skips (or fails under REQUIRE_SERVICES=1) if absent
    e = _make_env(url, "postgresql", tmp_path)
    yield e
    e.standin.stop()
    e.engine.dispose()
    drop_pg_database(url)


# --- remind --------------------------------------------------------------------------------

def test_remind_reaches_exactly_the_missing_people_and_head_teachers(env):
    env.record("zhangls")                    # a teacher who reported
    env.record("lils")                       # head teacher: own report in, class summary missing
    env.class_report("zhaols")               # head teacher: class in, own report missing
    env.record("zhouls")
    env.class_report("zhouls")               # 第二小学's head teacher: all done
    env.record("wuls")
    code, out, _err = env.run("remind")
    assert code == 0, out
    assert "remind 2026-03-02 morning: queued" in out and "sent" in out

    to_people = env.person_messages()
    reached = Counter(u for users, _t in to_people for u in users)
    # Missing own report: wangxz, zhaols (principal, head teacher), sunxz. Missing class: lils.
    assert set(reached) == {"wangxz", "zhaols", "sunxz", "lils"}
    assert all(n == 1 for n in reached.values()), reached
    assert "班级情况" in env.texts_to("lils")[0] and "体温" not in env.texts_to("lils")[0]
    assert "体温还未报告" in env.texts_to("wangxz")[0]
    # Nobody who reported, no student, no bureau person.
    assert not set(reached) & {"zhangls", "zhouls", "wuls", "chenju"}

    school1 = env.group_messages("school1-key")
    assert len(school1) == 1
    assert set(school1[0][3]) == {"wangxz", "zhaols", "lils"}      # @-mentions by userid
    assert "2位老师未报体温" in school1[0][2] and "1个班" in school1[0][2]
    school2 = env.group_messages("school2-key")
    assert len(school2) == 1 and set(school2[0][3]) == {"sunxz"}
    assert env.group_messages("bureau-key") == []
    env.assert_each_delivered_once()


def test_remind_batches_at_most_1000_userids_per_send(env):
    with env.sessions() as s, s.begin():
        school = s.scalar(select(School).where(School.name == "第一实验小学"))
        s.add_all(Person(name=f"老师{i}", role="teacher", school_id=school.id,
                         userid=f"t{i:04d}") for i in range(1500))
    code, out, _ = env.run("remind")
    assert code == 0, out
    sizes = sorted(len(users) for users, text in env.person_messages() if "体温还未报告" in text)
    assert sizes == [504, 1000]      # 1500 new teachers + wangxz, zhangls, sunxz, wuls
    env.assert_each_delivered_once()


# --- escalate ------------------------------------------------------------------------------

def test_escalate_goes_to_exactly_the_principals_of_schools_with_missing_reports(env):
    for who in ("sunxz", "zhouls", "wuls", "wangxz", "zhangls"):
        env.record(who)
    env.class_report("zhouls")               # 第二小学 is complete
    env.class_report("zhaols")
    env.clock.set(dt.datetime(2026, 3, 2, 9, 0))
    code, out, _ = env.run("escalate")
    assert code == 0, out
    to_people = env.person_messages()
    assert [users for users, _t in to_people] == [frozenset({"wangxz"})]
    text = to_people[0][1]
    assert "三年级2班（李老师）" in text            # the class still missing, with its head teacher
    assert "四年级1班" not in text
    assert "李老师" in text and "赵老师" in text      # staff still missing their own report
    assert "张老师" not in text and "王校长" not in text
    assert env.group_messages() == []
    env.assert_each_delivered_once()


# --- open and digest -----------------------------------------------------------------------

def test_open_prompts_each_school_group_with_examples(env):
    env.clock.set(dt.datetime(2026, 3, 2, 7, 0))
    code, out, _ = env.run("open")
    assert code == 0, out
    groups = {d[1]: d[2] for d in env.group_messages()}
    assert set(groups) == {"school1-key", "school2-key"}
    assert "晨检开始" in groups["school1-key"] and "36.5" in groups["school1-key"]
    assert "三年级2班 应到45 实到45" in groups["school1-key"]
    assert env.person_messages() == []


def test_run_job_digest_twice_sends_one_set(env):
    env.record("zhangls", 38.1)
    env.clock.set(dt.datetime(2026, 3, 2, 9, 30))
    code, out, _ = env.run("digest")
    assert code == 0, out
    first = env.deliveries()
    assert first, "the digest sent nothing"
    assert any(d[1] == "bureau-key" for d in first)
    assert {"school1-key", "school2-key"} <= {d[1] for d in first if d[0] == "group"}
    code, out, _ = env.run("digest")
    assert code == 0
    assert "already done" in out and "nothing sent" in out
    assert env.deliveries() == first
    env.assert_each_delivered_once()
    # --force sends the set again (a new one, not a retry of the old one): the groups get it
    # again; a principal's private copy, word for word the one they got minutes ago, is held
    # back by WeCom's duplicate check (a corrected digest differs, so it reaches them).
    code, out, _ = env.run("digest", force=True)
    assert code == 0 and "(run 2)" in out
    again = env.deliveries()[len(first):]
    assert [d for d in again if d[0] == "group"] == [d for d in first if d[0] == "group"]
    assert [d for d in again if d[0] == "person"] == []
    assert len(env.standin.sends("/cgi-bin/message/send")) == 2 * len(
        [d for d in first if d[0] == "person"])
    with env.sessions() as s:
        run = s.scalar(select(JobRun).where(JobRun.job == "digest"))
        assert run.runs == 2


# --- the calendar --------------------------------------------------------------------------

def test_nothing_runs_on_a_holiday_everything_on_a_make_up_day(env_factory):
    env = env_factory(calendar={"weekdays": [1, 2, 3, 4, 5], "holidays": ["2026-03-02"],
                                "extra_days": ["2026-03-07"]})
    for job in JOBS:
        code, out, _ = env.run(job)
        assert code == 0
        assert "not run" in out and "not a school day" in out
    saturday = dt.date(2026, 3, 8)            # a plain Sunday: no school either
    for job in JOBS:
        assert "not run" in env.run(job, day=saturday)[1]
    assert env.deliveries() == []
    with env.sessions() as s:
        assert s.scalars(select(JobRun)).all() == []
    # Reports on a day off are still recorded (the inbox's job); the jobs just skip the day.
    env.record("zhangls", day=MONDAY)

    make_up = dt.date(2026, 3, 7)             # Saturday, a make-up school day
    env.clock.set(dt.datetime(2026, 3, 7, 9, 30))
    for job in JOBS:
        code, out, _ = env.run(job, day=make_up)
        assert code == 0 and "queued" in out, out
    with env.sessions() as s:
        assert {r.job for r in s.scalars(select(JobRun))} == set(JOBS)
    kinds = {d[0] for d in env.deliveries()}
    assert kinds == {"person", "group"}
    env.assert_each_delivered_once()


def test_scheduler_catch_up_skips_a_holiday(env_factory):
    env = env_factory(calendar={"weekdays": [1, 2, 3, 4, 5], "holidays": ["2026-03-02"],
                                "extra_days": []})
    runner = SchedulerRunner(env.config, sessions=env.sessions, clock=env.clock,
                             worker=env.worker())
    env.clock.set(dt.datetime(2026, 3, 2, 15, 0))
    assert runner.catch_up() == []
    assert runner.run_scheduled("morning", "remind").outcome == "day_off"
    with env.sessions() as s:
        assert s.scalars(select(JobRun)).all() == []
    runner.leader.release()


# --- run-job output and status -------------------------------------------------------------

def test_run_job_rejects_an_unknown_check(env):
    code, out, err = env.run("remind", check="evening")
    assert code == 2 and "no check named 'evening'" in err


def test_status_shows_backlog_failures_runs_and_leader(env):
    env.run("remind")
    env.standin.fail_next("/cgi-bin/message/send", errcode=81013, times=5)
    env.clock.set(dt.datetime(2026, 3, 2, 9, 0))
    code, out, err = env.run("escalate")
    assert code == 1 and "not delivered" in err
    runner = SchedulerRunner(env.config, sessions=env.sessions, clock=env.clock,
                             worker=env.worker())
    runner.leader.name = "host-a:123:abc"
    assert runner.leader.poll() is True
    text = env.status()
    assert "outbox: 0 pending" in text and "failed" in text
    assert "errcode 81013" in text
    assert "test-secret" not in text and "access_token=" not in text.replace("access_token=***", "")
    assert "morning:remind last for 2026-03-02" in text
    assert "morning:escalate last for 2026-03-02" in text
    assert "scheduler: host-a:123:abc leads since 2026-03-02 09:00" in text
    runner.leader.release()
    assert "scheduler: none leads" in env.status()


# --- APScheduler wiring --------------------------------------------------------------------

def test_scheduler_jobs_have_ids_timezone_and_misfire_grace_to_end_of_day(env):
    runner = SchedulerRunner(env.config, sessions=env.sessions, clock=env.clock,
                             worker=env.worker())
    sched = runner.build_scheduler()
    jobs = {j.id: j for j in sched.get_jobs()}
    want = {f"{c.name}:{j}" for c in env.config.checks for j in JOBS}
    assert want <= set(jobs)
    assert {"leader:poll", "outbox:drain"} <= set(jobs)
    remind = jobs["morning:remind"]
    assert str(remind.trigger.timezone) == "Asia/Shanghai"
    assert "hour='8'" in str(remind.trigger) and "minute='30'" in str(remind.trigger)
    assert remind.coalesce is True
    # 8:30 → the end of the day is 15.5 hours later: late is fine, tomorrow is not.
    assert 15.4 * 3600 < remind.misfire_grace_time <= 15.5 * 3600
    assert jobs["outbox:drain"].trigger.interval == dt.timedelta(seconds=2)
    # Registering again (in a running scheduler) replaces rather than duplicates.
    sched.start(paused=True)
    try:
        runner.register(sched)
        assert sorted(j.id for j in sched.get_jobs()) == sorted(jobs)
    finally:
        sched.shutdown(wait=False)
    runner.leader.release()


def test_catch_up_runs_todays_due_jobs_in_order_once(env):
    runner = SchedulerRunner(env.config, sessions=env.sessions, clock=env.clock,
                             worker=env.worker())
    env.clock.set(dt.datetime(2026, 3, 2, 9, 10))
    done = runner.catch_up()
    assert [(r.check, r.job) for r in done] == [("morning", "open"), ("morning", "remind"),
                                                ("morning", "escalate")]
    assert runner.catch_up() == []
    env.assert_each_delivered_once()
    env.clock.set(dt.datetime(2026, 3, 2, 12, 45))
    assert [(r.check, r.job) for r in runner.catch_up()] == [("morning", "digest"),
                                                             ("noon", "open")]
    runner.leader.release()


def test_run_scheduled_runs_the_job_in_the_leader(env):
    runner = SchedulerRunner(env.config, sessions=env.sessions, clock=env.clock,
                             worker=env.worker())
    env.clock.set(dt.datetime(2026, 3, 2, 13, 30))
    result = runner.run_scheduled("noon", "remind")
    assert result.outcome == "done" and result.check == "noon"
    assert all("午检提醒" in t for _u, t in env.person_messages())
    assert runner.run_scheduled("noon", "remind").outcome == "already_done"
    env.assert_each_delivered_once()
    runner.leader.release()


def test_job_transaction_is_all_or_nothing(env, monkeypatch):
    import scheduler.jobs as jobs_mod

    def broken(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setitem(jobs_mod.BUILDERS, "remind", broken)
    with pytest.raises(RuntimeError):
        run_job_once(env.sessions, env.config, "remind", MONDAY, env.config.check(None),
                     env.clock())
    with env.sessions() as s:
        assert s.scalars(select(JobRun)).all() == []
        assert s.scalars(select(OutboxMessage)).all() == []
