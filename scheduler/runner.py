"""The scheduler process: APScheduler jobs per check, leadership, catch-up and the outbox.

`SchedulerRunner` registers, in the configured timezone, one cron job per check and job with
the id `{check}:{job}` (replace_existing, coalesce, misfire grace up to the end of the day),
plus two interval jobs: `leader:poll` (every 10 s: take or keep the lead) and `outbox:drain`
(every 2 s: deliver what is due, so alerts go out within seconds).

Every process registers the same jobs, but a daily job only runs in the leader; the others
stay idle. When a process becomes leader (at start, or taking over from a dead one) it catches
up: any of today's jobs whose time has passed and that has no JobRun runs now, in order. Days
that are over are never caught up. JobRun keeps every job single even if two leaders overlap.

`start_in_background(config)` (used by `serve`) runs it on a BackgroundScheduler and returns the
runner (`.shutdown()`); `run_scheduler(config)` in `scheduler.commands` blocks on it.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Callable

from handlers.config import Config
from scheduler.jobs import JOBS, job_time, run_job_once
from scheduler.leader import Leader, make_leader
from scheduler.notice_jobs import queue_notice_reminders
from scheduler.outbox import OutboxWorker

log = logging.getLogger(__name__)

OUTBOX_POLL_SECONDS = 2
LEADER_POLL_SECONDS = 10


def make_worker(config: Config, sessions, client, *, clock=None, sleep=None) -> OutboxWorker:
    """The outbox worker for `config`, sending through `client` (`bot.wecom.client.make_client`)."""
    kw = {}
    if sleep is not None:
        kw["sleep"] = sleep
    return OutboxWorker(sessions, client, clock=clock or config.now,
                        secrets=(config.wecom.secret, *(g.robot_key for g in config.groups)),
                        **kw)


class SchedulerRunner:
    def __init__(self, config: Config, *, sessions=None, engine=None, client=None,
                 clock: Callable[[], dt.datetime] | None = None, leader: Leader | None = None,
                 worker: OutboxWorker | None = None, blocking: bool = False):
        from storage.db import make_engine, make_sessionmaker

        self.config = config
        self.clock = clock or config.now
        self._own_engine = None
        if sessions is None:
            engine = engine or make_engine(config.database_url)
            self._own_engine = engine
            sessions = make_sessionmaker(engine)
        self.sessions = sessions
        self.leader = leader or make_leader(sessions, config.database_url, clock=self.clock)
        if worker is None and client is None:
            raise TypeError("SchedulerRunner needs a WeCom client or an outbox worker")
        self.worker = worker or make_worker(config, sessions, client, clock=self.clock)
        self.blocking = blocking
        self.scheduler = None
        self._lock = threading.Lock()          # one leadership change / catch-up at a time
        self._stopped = False
        self._polled = False

    # --- APScheduler wiring ----------------------------------------------------------------

    def build_scheduler(self):
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.schedulers.blocking import BlockingScheduler

        # APScheduler logs every run at INFO: every 2 s for the outbox. Our jobs log their own.
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        cls = BlockingScheduler if self.blocking else BackgroundScheduler
        sched = cls(timezone=self.config.tz,
                    job_defaults={"coalesce": True, "max_instances": 1})
        self.register(sched)
        self.scheduler = sched
        return sched

    def register(self, sched) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        tz = self.config.tz
        for check in self.config.checks:
            for job in JOBS:
                at = job_time(check, job)
                # Late is fine until the day is over, never into the next day.
                grace = max(60, int((dt.datetime.combine(dt.date.min, dt.time.max)
                                     - dt.datetime.combine(dt.date.min, at)).total_seconds()))
                sched.add_job(self.run_scheduled, CronTrigger(hour=at.hour, minute=at.minute,
                                                              timezone=tz),
                              args=(check.name, job), id=f"{check.name}:{job}",
                              name=f"{check.name} {job} at {at:%H:%M}", replace_existing=True,
                              coalesce=True, misfire_grace_time=grace, max_instances=1)
        sched.add_job(self.poll_leader, IntervalTrigger(seconds=LEADER_POLL_SECONDS, timezone=tz),
                      id="leader:poll", replace_existing=True, coalesce=True,
                      misfire_grace_time=LEADER_POLL_SECONDS, max_instances=1)
        sched.add_job(self.drain_outbox, IntervalTrigger(seconds=OUTBOX_POLL_SECONDS, timezone=tz),
                      id="outbox:drain", replace_existing=True, coalesce=True,
                      misfire_grace_time=OUTBOX_POLL_SECONDS * 5, max_instances=1)

    def start(self) -> "SchedulerRunner":
        """Takes the lead if free (catching up), then starts the scheduler.

        With `blocking=True` this call blocks until `shutdown()` (from a signal handler).
        """
        sched = self.scheduler or self.build_scheduler()
        # The first leadership poll (and the catch-up it may run) happens at once, in the
        # scheduler's own thread, so a web worker starting us is not held up.
        sched.modify_job("leader:poll", next_run_time=dt.datetime.now(self.config.tz))
        sched.start()
        return self

    def shutdown(self, wait: bool = True) -> None:
        self._stopped = True
        if self.scheduler is not None and self.scheduler.running:
            try:
                self.scheduler.shutdown(wait=wait)
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.exception("scheduler shutdown")
        self.leader.release()
        if self._own_engine is not None:
            self._own_engine.dispose()

    # --- the scheduled functions -----------------------------------------------------------

    def poll_leader(self) -> bool:
        with self._lock:
            was = self.leader.is_leader
            leads = self.leader.poll()
            if not leads and not self._polled:
                log.info("another scheduler leads; this one stays idle and takes over if it stops")
            self._polled = True
            if leads and not was and not self._stopped:
                self.catch_up()
        if leads and not self._stopped:
            self.remind_notices()
        return leads

    def remind_notices(self) -> None:
        """Queues the notices' due reminders (one per principal; scheduler.notice_jobs)."""
        try:
            queue_notice_reminders(self.sessions, self.config, self.clock())
        except Exception:  # noqa: BLE001 - tried again at the next leadership poll
            log.exception("queueing notice reminders failed")

    def catch_up(self, now: dt.datetime | None = None) -> list:
        """Runs today's jobs whose time has passed and that have no JobRun yet, in order."""
        now = (now or self.clock()).astimezone(self.config.tz)
        day = now.date()
        results = []
        if not self.config.calendar.is_school_day(day):
            return results
        due = sorted(((job_time(c, j), ci, JOBS.index(j), c, j)
                      for ci, c in enumerate(self.config.checks) for j in JOBS
                      if job_time(c, j) <= now.time()), key=lambda t: t[:3])
        for _t, _ci, _ji, check, job in due:
            result = run_job_once(self.sessions, self.config, job, day, check, now,
                                  trigger="catch-up", runner=self.leader.name)
            if result.outcome == "done":
                log.info("caught up %s", result.describe())
                results.append(result)
        if results:
            self.drain_outbox()
        return results

    def run_scheduled(self, check_name: str, job: str):
        """The APScheduler job: runs `job` of `check_name` for today, if we lead."""
        now = self.clock().astimezone(self.config.tz)
        check = self.config.check(check_name)
        if now.time() < job_time(check, job):
            # A run delayed past midnight belongs to a day that is over: never run it.
            log.warning("%s:%s fired at %s, before its time: a late run from yesterday, skipped",
                        check_name, job, now)
            return None
        with self._lock:
            leads = self.leader.poll()
        if not leads:
            log.info("%s:%s not run here: another scheduler leads", check_name, job)
            return None
        result = run_job_once(self.sessions, self.config, job, now.date(), check, now,
                              trigger="schedule", runner=self.leader.name)
        log.info("%s", result.describe())
        if result.queued:
            self.drain_outbox()
        return result

    def drain_outbox(self):
        try:
            return self.worker.run_once()
        except Exception:  # noqa: BLE001 - the next poll tries again; never kill the scheduler
            log.exception("outbox delivery pass failed")
            return None


def start_in_background(config: Config, client) -> SchedulerRunner:
    """The scheduler in this process (for `serve`); call `.shutdown()` to stop it."""
    return SchedulerRunner(config, client=client).start()
