"""Reminder fan-out: the real `remind` job and outbox worker, against the WeCom stand-in.

    python bench/fanout_bench.py [--short] [--backends sqlite,postgresql] [--schools N]

A generated district (`benchlib.Shape`) where nobody has reported: 100 schools of 100 staff
each (1 principal, 24 head teachers, 75 teachers; plus their students, who are not reminded),
so 10,000 people are missing (`--short`: 5 schools, 500). A group chat per school. The bench
runs `scheduler.jobs.run_job_once(..., "remind", ...)`, then drains the outbox with the worker
`scheduler.runner.make_worker` builds, over real HTTP on loopback to `bot.wecom.standin`.
Time is a simulated clock: it runs with the wall clock, and every `sleep` of the worker or the
client (rate-limit waits, backoff) moves it on at once instead of waiting, as the tests do.

Prints the people missing, the message/send and webhook/send calls made (at most 1000 userids
a call: about ceil(n/1000), plus one robot message per school group), the most userids in a
call, the most robot messages per group in any minute of simulated time (WeCom's limit: 20),
wall and simulated time. Checks every missing person got exactly one reminder and every group
@-mentioned exactly its missing staff (exit 1 otherwise). Baseline, same invocation: the same
HTTP requests sent by a bare `requests` loop to a fresh stand-in; the ratio is printed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
import time
import zoneinfo
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (Keys, Shape, append_school_groups, create_pg_database,  # noqa: E402
                      drop_pg_database, insert_district, pg_url, runnable_backends,
                      self_rss_kib, write_config)

from sqlalchemy import select  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.wecom.standin import WeComStandIn  # noqa: E402
from handlers.figures import STAFF_ROLES  # noqa: E402
from scheduler.jobs import run_job_once  # noqa: E402
from bot.wecom.client import make_client  # noqa: E402
from scheduler.runner import make_worker  # noqa: E402
from storage.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from storage.models import OutboxMessage  # noqa: E402

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 3, 4)                    # a Wednesday
ROBOT_LIMIT = 20                             # WeCom: messages a minute per group robot
SEND = "/cgi-bin/message/send"
WEBHOOK = "/cgi-bin/webhook/send"


class SimClock:
    """Wall-clock time from `start`, plus every sleep, which returns at once."""

    def __init__(self, start: dt.datetime):
        self.start = start
        self.t0 = time.monotonic()
        self.slept = 0.0
        self.sleeps = 0

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=time.monotonic() - self.t0 + self.slept)

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.slept += max(0.0, seconds)


def max_per_minute(times: list[dt.datetime]) -> int:
    """The most of `times` within any 60 seconds."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - dt.timedelta(seconds=60):
            j += 1
        best = max(best, i - j + 1)
    return best


def bare_loop(requests_log: list[dict]) -> tuple[float, int]:
    """Sends the same requests with a plain requests.Session to a fresh stand-in; (s, calls)."""
    import requests

    standin = WeComStandIn().start()
    try:
        http = requests.Session()
        t0 = time.perf_counter()
        token = http.get(standin.url + "/cgi-bin/gettoken",
                         params={"corpid": "ww", "corpsecret": "s"}, timeout=5).json()["access_token"]
        for r in requests_log:
            params = {"access_token": token} if r["path"] == SEND else {"key": r["query"]["key"]}
            answer = http.post(standin.url + r["path"], params=params, json=r["json"], timeout=5)
            if answer.json().get("errcode") != 0:
                raise RuntimeError(f"bare loop: {r['path']} answered {answer.text[:200]}")
        elapsed = time.perf_counter() - t0
        return elapsed, len(requests_log) + 1
    finally:
        standin.stop()


def profile_job(sessions, config, check, now, top: int = 12) -> None:
    """cProfile of the remind job's builder (what `run_job_once` calls), rolled back."""
    import cProfile
    import io
    import pstats

    from scheduler.jobs import remind_messages

    prof = cProfile.Profile()
    with sessions() as s:
        t0 = time.perf_counter()
        prof.enable()
        remind_messages(s, config, DAY, check, now)
        prof.disable()
        took = time.perf_counter() - t0
        s.rollback()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    lines = [l for l in buf.getvalue().splitlines() if l.strip()]
    start = next((i for i, l in enumerate(lines) if l.lstrip().startswith("ncalls")), 0)
    print(f"  remind_messages under cProfile: {took:.2f} s; top {top} by own time:")
    root = str(Path(__file__).resolve().parents[1]) + "/"
    for l in lines[start:start + top + 1]:
        print("    " + l.replace(root, ""))


def bench_backend(backend: str, shape: Shape, workdir: Path,
                  profile: bool = False) -> tuple[list[str], dict]:
    print(f"\n== {backend} ==", flush=True)
    problems: list[str] = []
    pg_name = None
    if backend == "postgresql":
        pg_name = create_pg_database("mc_bench_fanout")
        url = pg_url(pg_name)
    else:
        url = f"sqlite:///{workdir}/fanout.db"
    engine = None
    standin = WeComStandIn().start()
    try:
        upgrade(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        schools, people = insert_district(engine, shape)
        cfg = write_config(workdir / f"{backend}.toml", url, Keys.random(), api_base=standin.url)
        append_school_groups(cfg, schools)
        config = load_config(str(cfg))
        load_s = time.perf_counter() - t0
        missing = {p["userid"] for p in people if p["role"] in STAFF_ROLES and p["userid"]}
        by_school = {}
        for p in people:
            if p["role"] in STAFF_ROLES and p["userid"]:
                by_school.setdefault(p["school_id"], set()).add(p["userid"])
        key_school = {f"bench-school-{s['id']}": s["id"] for s in schools}
        print(f"district: {len(schools)} schools, {len(people):,} people, nobody reported: "
              f"{len(missing):,} staff missing; loaded in {load_s:.1f} s", flush=True)
        print(f"RSS after load: {self_rss_kib() / 1024:.0f} MiB", flush=True)

        sessions = make_sessionmaker(engine)
        clock = SimClock(dt.datetime.combine(DAY, dt.time(8, 30), tzinfo=SHANGHAI))
        check = config.check("morning")

        t_job = time.perf_counter()
        result = run_job_once(sessions, config, "remind", DAY, check, clock(), trigger="manual",
                              runner="fanout-bench")
        job_s = time.perf_counter() - t_job
        if result.outcome != "done":
            problems.append(f"remind job: {result.outcome}")
            return problems, {}

        client = make_client(config, sleep=clock.sleep)
        worker = make_worker(config, sessions, client, clock=clock, sleep=clock.sleep)
        sim_start = clock()
        t_drain = time.perf_counter()
        drained = worker.drain(keys=list(result.queued), timeout=6 * 3600)
        drain_s = time.perf_counter() - t_drain
        sim_s = (clock() - sim_start).total_seconds()
        total_s = job_s + drain_s
        print(f"RSS after the fan-out: {self_rss_kib() / 1024:.0f} MiB", flush=True)

        # --- what the stand-in got -------------------------------------------------------
        received = list(standin.received)
        sends = [r for r in received if r["path"] == SEND and r["errcode"] == 0]
        hooks = [r for r in received if r["path"] == WEBHOOK and r["errcode"] == 0]
        refused = [r for r in received if r["errcode"] != 0]
        tokens = [r for r in received if r["path"] == "/cgi-bin/gettoken"]
        # who received it: WeCom's duplicate check (the stand-in's `delivered`) may hold some back
        reached = Counter(u for r in sends
                          for u in r.get("delivered", r["json"]["touser"].split("|")))
        max_users = max((len(r["json"]["touser"].split("|")) for r in sends), default=0)
        with sessions() as s:
            rows = list(s.scalars(select(OutboxMessage).where(
                OutboxMessage.dedupe_key.in_(result.queued))))
        group_sent = {}
        for r in rows:
            if r.channel == "group" and r.sent_at is not None:
                group_sent.setdefault(r.target, []).append(r.sent_at)
        per_minute = max((max_per_minute(v) for v in group_sent.values()), default=0)
        n = len(missing)
        least_calls = math.ceil(n / 1000)

        print(f"people missing: {n:,}; remind job queued {len(result.queued)} messages "
              f"({sum(1 for r in rows if r.channel == 'person')} person, "
              f"{sum(1 for r in rows if r.channel == 'group')} group)")
        print(f"calls: message/send {len(sends)} (ceil({n}/1000) = {least_calls}; one batch "
              f"series per reminder wording), webhook/send {len(hooks)} for {len(config.groups) - 1}"
              f" school groups, gettoken {len(tokens)}, refused {len(refused)}")
        print(f"max userids in one message/send: {max_users}")
        print(f"robot messages per group in any minute (simulated): max {per_minute} "
              f"(limit {ROBOT_LIMIT})")
        print(f"outbox: sent {drained.sent}, retried {drained.retried}, failed {drained.failed}, "
              f"deferred {drained.deferred}; rows not sent: "
              f"{sum(1 for r in rows if r.status != 'sent')}")
        print(f"time: job {job_s:.3f} s + outbox drain {drain_s:.3f} s = {total_s:.3f} s wall; "
              f"simulated drain time {sim_s:.1f} s, of which {clock.slept:.1f} s in "
              f"{clock.sleeps} sleep(s) not waited", flush=True)

        # --- checks ----------------------------------------------------------------------
        if set(reached) != missing:
            problems.append(f"reminded {len(set(reached))} people, {len(missing)} missing: "
                            f"{len(missing - set(reached))} never reminded, "
                            f"{len(set(reached) - missing)} reminded but not missing")
        doubled = {u: c for u, c in reached.items() if c > 1}
        if doubled:
            problems.append(f"{len(doubled)} people reminded more than once, "
                            f"e.g. {next(iter(doubled.items()))}")
        if max_users > 1000:
            problems.append(f"a message/send call carried {max_users} userids (WeCom: 1000)")
        if len(sends) > least_calls + 2:
            problems.append(f"{len(sends)} message/send calls for {n} people "
                            f"(at most ceil(n/1000) + 2 expected)")
        if per_minute > ROBOT_LIMIT:
            problems.append(f"a group robot sent {per_minute} messages within a minute")
        mentions = Counter()
        for r in hooks:
            key = r["query"]["key"]
            mentioned = r["json"].get("text", {}).get("mentioned_list") or []
            mentions[key] += 1
            want = by_school.get(key_school.get(key), set())
            if set(mentioned) != want:
                problems.append(f"group {key}: @-mentioned {len(set(mentioned))}, "
                                f"{len(want)} missing there")
        if sorted(mentions) != sorted(key_school) or any(c != 1 for c in mentions.values()):
            problems.append(f"group messages: {dict(mentions)} (one per school group expected)")
        if refused or drained.failed or any(r.status != "sent" for r in rows):
            problems.append(f"{len(refused)} refused call(s), {drained.failed} failed row(s)")

        # --- baseline: the same requests, a bare requests loop --------------------------
        log = sends + hooks
        bare_s, bare_calls = bare_loop(log)
        print(f"baseline: bare requests loop, {bare_calls} calls to a fresh stand-in: "
              f"{bare_s:.3f} s")
        print(f"result {backend}: ratio drain / bare loop {drain_s / bare_s:.1f}x "
              f"({drain_s:.3f} s / {bare_s:.3f} s); ratio job + drain / bare loop "
              f"{total_s / bare_s:.1f}x ({total_s:.3f} s); {'OK' if not problems else 'PROBLEMS'}",
              flush=True)
        if profile:
            profile_job(sessions, config, check, clock())
        return problems, {"drain": drain_s, "bare": bare_s}
    finally:
        standin.stop()
        if engine is not None:
            engine.dispose()
        if pg_name:
            drop_pg_database(pg_name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="5 schools, 500 missing: a few seconds")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--schools", type=int, default=None, help="100 staff missing per school")
    ap.add_argument("--profile", action="store_true", help="cProfile the remind job's builder")
    a = ap.parse_args()
    shape = Shape(schools=a.schools or (5 if a.short else 100), classes=24 if not a.short else 8,
                  teachers=75 if not a.short else 91,
                  students_per_class=38 if not a.short else 10)
    print(f"reminder fan-out bench: {shape.schools} schools x {shape.staff_per_school} staff, "
          f"{shape.people:,} people", flush=True)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mc-fanout-bench-") as tmp:
        for backend in runnable_backends(a.backends):
            p, _ = bench_backend(backend, shape, Path(tmp), a.profile)
            problems += [f"{backend}: {x}" for x in p]
    print()
    for p in problems:
        print("ERROR:", p)
    if problems:
        return 1
    print("every missing person reminded exactly once; robot limits kept")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
