"""The scheduler's command-line verbs: `run-job`, `scheduler`, `status`.

Each returns an exit code and prints for an operator; `bot.cli` parses the arguments.
"""
from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import time
from typing import Callable, TextIO

from handlers.clock import local_text
from handlers.config import Config
from storage.db import DatabaseError

log = logging.getLogger(__name__)

JOBS = ("open", "remind", "escalate", "digest")
DELIVERY_TIMEOUT = 150.0       # seconds run-job waits for what nobody has delivered (one
                               # rate-limit minute and a few backoffs) before leaving it to
                               # the scheduler; rows another worker is sending are polled


def _sessions(config: Config):
    """An engine and sessions on a database that has this module's tables (init-db run)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(config.database_url)
    try:
        ready = all(inspect(engine).has_table(t)
                    for t in ("outbox_messages", "job_runs", "scheduler_leases"))
    except SQLAlchemyError as exc:
        engine.dispose()
        first = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise DatabaseError("cannot reach the database: " + (first[0] if first else "")) from None
    if not ready:
        engine.dispose()
        raise DatabaseError("the database schema is not up to date: run `python -m bot init-db` first")
    return engine, make_sessionmaker(engine)


def run_job(config: Config, job: str, day: dt.date | None = None, check: str | None = None,
            force: bool = False, *, client, clock: Callable[[], dt.datetime] | None = None,
            sleep: Callable[[float], None] = time.sleep, out: TextIO | None = None,
            err: TextIO | None = None, deliver_timeout: float = DELIVERY_TIMEOUT) -> int:
    """Runs one job now and delivers what it queued; prints one line. Exit code."""
    from scheduler.jobs import run_job_once
    from scheduler.outbox import worker_id

    out = out or sys.stdout
    err = err or sys.stderr
    if job not in JOBS:
        print(f"error: unknown job {job!r} (one of {', '.join(JOBS)})", file=err)
        return 2
    try:
        check_obj = config.check(check)
    except KeyError:
        print(f"error: no check named {check!r} (configured: "
              f"{', '.join(c.name for c in config.checks)})", file=err)
        return 2
    clock = clock or config.now
    now = clock().astimezone(config.tz)
    day = day or now.date()
    engine, sessions = _sessions(config)
    try:
        result = run_job_once(sessions, config, job, day, check_obj, now, force=force,
                              trigger="manual", runner="run-job " + worker_id())
        if result.outcome != "done":
            print(result.describe(config.tz), file=out)
            return 0
        delivery = wait_delivered(config, sessions, result.queued, client, clock=clock,
                                  sleep=sleep, timeout=deliver_timeout)
        print(result.describe(config.tz) + ", " + delivery.describe(), file=out)
        warning = delivery.warning()
        if warning:
            print(warning, file=err)
            return 1
        return 0
    finally:
        engine.dispose()


def wait_delivered(config: Config, sessions, keys, client, *,
                   clock: Callable[[], dt.datetime] | None = None,
                   sleep: Callable[[float], None] = time.sleep,
                   timeout: float = DELIVERY_TIMEOUT, poll: float | None = None):
    """Delivers the outbox rows `keys` (just queued by the caller) through `client` and waits
    until each is settled by anyone: sent or failed here, or by another worker (the running
    scheduler) whose lease on a row is polled every `poll` seconds, never slept out. Rows that
    nobody settles within `timeout` seconds stay queued. Returns a `scheduler.outbox.Delivery`
    (`.describe()`: "sent 3, 5 by the running scheduler"; `.warning()`; `.ok`).
    """
    from scheduler.leader import current_lease
    from scheduler.outbox import POLL_SECONDS, delivery_of
    from scheduler.runner import make_worker

    keys = list(keys)
    worker = make_worker(config, sessions, client, clock=clock, sleep=sleep)
    if keys:
        worker.drain(keys=keys, timeout=timeout, poll=poll or POLL_SECONDS)
    with sessions() as s:
        lease = current_lease(s)
        return delivery_of(s, keys, worker.name, scheduler=lease.holder if lease else None)


def run_scheduler(config: Config, client) -> int:
    """Runs the scheduler in the foreground until SIGINT/SIGTERM, sending through `client`."""
    from scheduler.runner import SchedulerRunner

    engine, sessions = _sessions(config)
    runner = SchedulerRunner(config, sessions=sessions, client=client, blocking=True)

    def stop(signum, _frame):
        log.info("signal %s: stopping the scheduler", signum)
        runner.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler %s starting (%s, %d check(s))", runner.leader.name, config.timezone,
             len(config.checks))
    try:
        runner.start()          # blocks until shutdown()
    finally:
        runner.shutdown(wait=False)
        engine.dispose()
    return 0


def status(config: Config, *, out: TextIO | None = None,
           clock: Callable[[], dt.datetime] | None = None) -> int:
    """Prints the outbox backlog; the rows being sent (whose lease, until when), retrying
    (last WeCom errcode and message, next try) and failed (why); each job's last run; the
    leader."""
    from scheduler.jobs import last_runs
    from scheduler.leader import advisory_lock_held, current_lease
    from scheduler.outbox import (backlog, failed_messages, held_messages, retrying_messages,
                                  to_utc)

    out = out or sys.stdout
    now = to_utc((clock or config.now)())
    tz = config.tz

    def local(t: dt.datetime | None) -> str:
        return local_text(t, tz)

    engine, sessions = _sessions(config)
    try:
        with sessions() as s:
            b = backlog(s)
            oldest = ""
            if b.oldest_pending is not None:
                oldest = f", oldest queued {_ago(now - b.oldest_pending)} ago"
            print(f"outbox: {b.pending} pending, {b.sending} sending, {b.failed} failed, "
                  f"{b.sent} sent{oldest}", file=out)
            for m in held_messages(s):
                lease = ("lease ended " + local(m.claimed_until) + ", to be sent again"
                         if m.claimed_until is None or m.claimed_until < now
                         else "lease until " + local(m.claimed_until))
                last = f"; last error: {m.last_error}" if m.last_error else ""
                print(f"  sending #{m.id} {m.dedupe_key} ({m.channel} {_who(m, config)}) held by "
                      f"{m.claimed_by or '?'}, {lease}, attempt {m.attempts}{last}", file=out)
            for m in retrying_messages(s):
                print(f"  retrying #{m.id} {m.dedupe_key} ({m.channel} {_who(m, config)}) after "
                      f"{m.attempts} attempt(s), next {local(m.next_attempt_at)}, queued "
                      f"{local(m.created_at)}: {m.last_error}", file=out)
            for m in failed_messages(s):
                print(f"  failed #{m.id} {m.dedupe_key} ({m.channel} {_who(m, config)}) after "
                      f"{m.attempts} attempt(s), queued {local(m.created_at)}: {m.last_error}",
                      file=out)
            runs = last_runs(s)
            print("jobs:" + ("" if runs else " none run yet"), file=out)
            for r in sorted(runs, key=lambda r: (r.check, JOBS.index(r.job)
                                                 if r.job in JOBS else 9)):
                again = f", {r.runs} runs" if r.runs > 1 else ""
                print(f"  {r.check}:{r.job} last for {r.day} at {local(r.finished_at)} "
                      f"({r.trigger}{again}), queued {r.queued}", file=out)
            lease = current_lease(s)
            held = advisory_lock_held(s)
            if lease is None or (held is False) or (held is None and lease.expires_at <= now):
                print("scheduler: none leads" + (
                    f" (last: {lease.holder}, lease ended {local(lease.expires_at)})"
                    if lease else ""), file=out)
            else:
                print(f"scheduler: {lease.holder} leads since {local(lease.since)} "
                      f"(renewed {_ago(now - lease.renewed_at)} ago)", file=out)
    finally:
        engine.dispose()
    return 0


def _who(m, config: Config) -> str:
    if m.channel == "group":
        g = next((g for g in config.groups if g.robot_key == m.target), None)
        return g.scope if g else "robot not in [[groups]]"
    users = m.target.split("|")
    return users[0] + (f" +{len(users) - 1}" if len(users) > 1 else "")


def _ago(delta: dt.timedelta) -> str:
    s = max(0, int(delta.total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}min"
    return f"{s // 3600}h"
