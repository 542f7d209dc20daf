"""One scheduler per deployment: the lease (SQLite), the advisory lock (PostgreSQL), takeover,
catch-up after a restart, and jobs that run once even when two schedulers fire them."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select

from scheduler.jobs import JOBS, run_job_once
from scheduler.leader import PgAdvisoryLeader, SqliteLeaseLeader, current_lease
from scheduler.runner import SchedulerRunner
from storage.models import JobRun, OutboxMessage
from tests.test_jobs import Crash, env, env_factory, pg_env  # noqa: F401 - fixtures

MONDAY = dt.date(2026, 3, 2)


def eventually(poll, within: float = 30.0) -> bool:
    """`poll()` until it is true. Only for a dead PostgreSQL connection: the server drops its
    advisory lock as soon as it notices the closed socket, a few milliseconds later."""
    deadline = time.monotonic() + within
    while not poll():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- the SQLite lease ----------------------------------------------------------------------

def test_sqlite_lease_one_leader_and_takeover_after_expiry(env):
    clock = env.clock
    a = SqliteLeaseLeader(env.sessions, name="A", clock=clock)
    b = SqliteLeaseLeader(env.sessions, name="B", clock=clock)
    assert a.poll() is True
    assert b.poll() is False
    clock.advance(seconds=10)
    assert a.poll() is True                   # renewed
    clock.advance(seconds=25)
    assert b.poll() is False                  # renewed 25 s ago: still A's
    with env.sessions() as s:
        lease = current_lease(s)
        assert lease.holder == "A"
        since = lease.since
    clock.advance(seconds=31)                 # A died: no renewal for 31 s
    assert b.poll() is True
    assert a.poll() is False                  # A wakes up and finds it taken: steps down
    with env.sessions() as s:
        lease = current_lease(s)
        assert lease.holder == "B" and lease.since > since
    b.release()
    assert a.poll() is True                   # a clean release frees it at once


# --- the PostgreSQL advisory lock ----------------------------------------------------------

def test_pg_advisory_lock_one_leader_and_release(pg_env):
    a = PgAdvisoryLeader(pg_env.sessions, pg_env.url, name="A", clock=pg_env.clock)
    b = PgAdvisoryLeader(pg_env.sessions, pg_env.url, name="B", clock=pg_env.clock)
    try:
        assert a.poll() is True
        assert b.poll() is False
        assert a.poll() is True
        # A's process dies: its connection ends and the server drops the lock with it.
        a._conn.invalidate()
        a._conn = None
        assert eventually(b.poll)
        assert a.poll() is False
        with pg_env.sessions() as s:
            assert current_lease(s).holder == "B"
    finally:
        a.release()
        b.release()


def test_pg_lock_of_a_killed_process_is_taken_over(pg_env):
    child = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time\n"
            "from scheduler.leader import PgAdvisoryLeader\n"
            "from storage.db import make_engine, make_sessionmaker\n"
            f"url = {pg_env.url!r}\n"
            "leader = PgAdvisoryLeader(make_sessionmaker(make_engine(url)), url, name='child')\n"
            "print('leads' if leader.poll() else 'idle', flush=True)\n"
            "time.sleep(600)\n")],
        stdout=subprocess.PIPE, text=True, cwd=str(pg_env.root))
    me = PgAdvisoryLeader(pg_env.sessions, pg_env.url, name="me", clock=pg_env.clock)
    try:
        assert child.stdout.readline().strip() == "leads"
        assert me.poll() is False
        child.kill()                         # SIGKILL: no clean release
        child.wait(10)
        assert eventually(me.poll), "the dead process's lock was never released"
    finally:
        if child.poll() is None:
            child.kill()
        me.release()


# --- two schedulers ------------------------------------------------------------------------

def _runner(e, name):
    from scheduler.leader import make_leader
    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(e.url)
    sessions = make_sessionmaker(engine)
    leader = make_leader(sessions, e.url, name=name, clock=e.clock)
    runner = SchedulerRunner(e.config, sessions=sessions, clock=e.clock, leader=leader,
                             worker=e.worker(sessions=sessions))
    runner._test_engine = engine
    return runner


def _close(runner):
    runner.shutdown()
    runner._test_engine.dispose()


def test_two_schedulers_on_postgresql_run_each_job_once(pg_env):
    e = pg_env
    a, b = _runner(e, "A"), _runner(e, "B")
    try:
        e.clock.set(dt.datetime(2026, 3, 2, 6, 0))
        assert a.poll_leader() is True
        assert b.poll_leader() is False
        for check in e.config.checks:
            for job in JOBS:
                at = getattr(check, {"open": "opens"}.get(job, job))
                e.clock.set(dt.datetime.combine(MONDAY, at))
                # Both APSchedulers fire at the same moment, in parallel threads.
                results = {}
                threads = [threading.Thread(target=lambda r=r: results.setdefault(
                    r.leader.name, r.run_scheduled(check.name, job))) for r in (a, b)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                assert results["B"] is None               # idle: not the leader
                assert results["A"].outcome == "done"
        with e.sessions() as s:
            runs = s.execute(select(JobRun.check, JobRun.job, JobRun.runs)).all()
        assert sorted(runs) == sorted((c.name, j, 1) for c in e.config.checks for j in JOBS)
        e.assert_each_delivered_once()
    finally:
        _close(a)
        _close(b)


def test_two_leaders_at_once_still_queue_each_job_once(env):
    """A stalled leader waking up after its lease was taken: JobRun keeps the job single."""
    e = env
    e.clock.set(dt.datetime(2026, 3, 2, 8, 30))
    check = e.config.check(None)
    results = []

    def run():
        results.append(run_job_once(e.sessions, e.config, "remind", MONDAY, check, e.clock(),
                                    trigger="schedule"))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.outcome for r in results) == ["already_done"] * 3 + ["done"]
    done = next(r for r in results if r.outcome == "done")
    with e.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == len(done.queued)


def test_standby_takes_over_and_catches_up_todays_missed_jobs(env):
    e = env
    a, b = _runner(e, "A"), _runner(e, "B")
    try:
        e.clock.set(dt.datetime(2026, 3, 2, 6, 55))
        assert a.poll_leader() is True            # nothing due yet: no catch-up
        e.clock.set(dt.datetime(2026, 3, 2, 7, 0))
        assert a.run_scheduled("morning", "open").outcome == "done"
        assert b.poll_leader() is False
        # A dies at 7:05; nobody runs the 8:30 remind. B notices at 9:05 (SQLite: lease
        # expiry; PostgreSQL: the lock went with A's connection).
        if e.backend == "postgresql":
            a.leader._conn.invalidate()
            a.leader._conn = None
        e.clock.set(dt.datetime(2026, 3, 2, 9, 5))
        assert eventually(b.poll_leader)          # takes over and catches up
        with e.sessions() as s:
            runs = {(r.check, r.job): r for r in s.scalars(select(JobRun))}
        assert set(runs) == {("morning", "open"), ("morning", "remind"), ("morning", "escalate")}
        assert runs[("morning", "open")].trigger == "schedule"
        assert runs[("morning", "remind")].trigger == "catch-up"
        assert runs[("morning", "remind")].runner == "B"
        e.assert_each_delivered_once()
    finally:
        _close(a)
        _close(b)


def test_restart_never_catches_up_a_day_that_is_over(env):
    e = env
    r = _runner(e, "A")
    try:
        e.clock.set(dt.datetime(2026, 3, 2, 7, 30))        # Monday, after the 7:00 open
        r.catch_up()
        e.clock.set(dt.datetime(2026, 3, 3, 6, 0))         # down all Monday, back Tuesday 6:00
        assert r.catch_up() == []
        with e.sessions() as s:
            days = {(d, j) for d, j in s.execute(select(JobRun.day, JobRun.job))}
        assert days == {(MONDAY, "open")}
        # A run that APScheduler delivers late, after midnight, is never run for the new day.
        e.clock.set(dt.datetime(2026, 3, 3, 0, 5))
        assert r.run_scheduled("morning", "digest") is None
        with e.sessions() as s:
            assert s.scalar(select(func.count()).select_from(JobRun)) == 1
    finally:
        _close(r)


@pytest.mark.parametrize("where", ["before_commit", "after_commit_before_send",
                                   "while_sending"])
def test_scheduler_killed_mid_job_and_restarted_loses_and_doubles_nothing(env, where):
    """The process dies (a) inside the job's transaction, (b) after queueing but before any
    send, (c) after claiming a message, before it went out. The restarted scheduler delivers
    every message exactly once."""
    e = env
    e.clock.set(dt.datetime(2026, 3, 2, 8, 0))
    first = _runner(e, "first")
    try:
        assert first.poll_leader() is True        # catch-up: open at 7:00 is due
        e.clock.set(dt.datetime(2026, 3, 2, 8, 30))
        if where == "before_commit":
            import scheduler.jobs as jobs_mod
            real = jobs_mod.enqueue

            def dying_enqueue(*a, **kw):
                real(*a, **kw)
                raise Crash("killed while queueing")
            jobs_mod.enqueue = dying_enqueue
            try:
                with pytest.raises(Crash):
                    first.run_scheduled("morning", "remind")
            finally:
                jobs_mod.enqueue = real
        elif where == "after_commit_before_send":
            first.worker.run_once = lambda *a, **kw: (_ for _ in ()).throw(Crash("killed"))
            with pytest.raises(Crash):
                first.run_scheduled("morning", "remind")
        else:
            calls = []

            def die_on_second(m):
                calls.append(m)
                if len(calls) == 2:
                    raise Crash("killed mid-send")
            first.worker.before_send = die_on_second
            with pytest.raises(Crash):
                first.run_scheduled("morning", "remind")
        _die(e, first)
    finally:
        _close(first)
    e.clock.advance(minutes=1)
    second = _runner(e, "second")
    try:
        e.clock.advance(seconds=40)                    # SQLite: the dead lease expired
        assert eventually(second.poll_leader)         # catch-up runs remind only if lost
        e.clock.advance(minutes=6)                     # past the claim lease of the dead one
        second.worker.drain(timeout=3600)
        with e.sessions() as s:
            runs = s.scalars(select(JobRun).where(JobRun.job == "remind")).all()
        assert len(runs) == 1 and runs[0].runs == 1
        assert runs[0].trigger == ("catch-up" if where == "before_commit" else "schedule")
        e.assert_each_delivered_once()
        assert e.received_count() > 0
    finally:
        _close(second)


def _die(e, runner):
    """Simulates the death of the process: its lock goes, nothing is cleaned up."""
    leader = runner.leader
    if isinstance(leader, PgAdvisoryLeader) and leader._conn is not None:
        leader._conn.invalidate()
        leader._conn = None
    leader.is_leader = False
    leader.release = lambda: None
