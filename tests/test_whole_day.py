"""A whole school day on real processes and the real clock, as deployments run it.

Two deployments live through the same day side by side, each with its own WeCom stand-in:

- one machine: `python -m bot serve` on SQLite (web server and scheduler in one process);
- past one machine: PostgreSQL, `gunicorn -w 2 'bot.app:create_app()'` (web workers that never
  schedule) and two `python -m bot scheduler` processes (one leads, one stays idle); the leader
  is killed with SIGKILL after the reminders and the other finishes the day.

The day is squeezed into minutes: the check opens one minute after the processes start, reminds
and escalates a minute later, sends the digest a minute after that. Teachers report over the
encrypted callback between the opening and the reminders (one delivery arrives twice, on both
web workers at once). At the end every outbox row is sent and the stand-in got each message
exactly once, nothing else: reminders reach exactly the missing, escalations exactly the
principals, the fever alert goes to the principal within seconds, digests reach each group once.

This test waits on wall time (about four minutes): it is the only one that does.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import zoneinfo
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from bench.benchlib import free_port
from bot.wecom.signer import CallbackSigner
from bot.wecom.standin import WeComStandIn
from storage.db import make_engine, make_sessionmaker
from storage.models import OutboxMessage
from tests.support import (ROSTER_CSV, SAMPLE_AES_KEY, SAMPLE_CORP_ID, SAMPLE_TOKEN,
                           config_toml, create_pg_database, drop_pg_database)
from tests.test_jobs import delivery, row_delivery

pytestmark = pytest.mark.slow          # whole processes: the CI tier, not the fast loop

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def day_plan(now: dt.datetime) -> tuple[str, dict[str, dt.time]]:
    """A timezone and the check's times: opens next minute, remind/escalate +2, digest +3.

    Near midnight in Shanghai the day would end mid-test, so the day runs in UTC instead.
    """
    for tzname in ("Asia/Shanghai", "UTC"):
        local = now.astimezone(zoneinfo.ZoneInfo(tzname))
        start = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        if local.second > 40:                       # too little time to boot before opening
            start += dt.timedelta(minutes=1)
        if (start + dt.timedelta(minutes=3)).date() == local.date():
            times = {"opens": start, "remind": start + dt.timedelta(minutes=1),
                     "escalate": start + dt.timedelta(minutes=1),
                     "digest": start + dt.timedelta(minutes=2)}
            return tzname, {k: v for k, v in times.items()}
    raise AssertionError("unreachable: Shanghai and UTC cannot both be at midnight")


class Deployment:
    """One deployment's processes, its stand-in and its database."""

    def __init__(self, name: str, db_url: str, tmp: Path):
        self.name, self.db_url, self.tmp = name, db_url, tmp
        self.standin = WeComStandIn().start()
        self.config = tmp / f"{name}.toml"
        self.plan("Asia/Shanghai", {k: dt.datetime(2026, 3, 2, 7) for k in
                                    ("opens", "remind", "escalate", "digest")})
        self.env = {**os.environ, "BOT_CONFIG": str(self.config), "PYTHONUNBUFFERED": "1"}
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.port = free_port()
        self.signer = CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
        self.replies: list[tuple[str, int, str]] = []
        self.sent_at: dict[str, float] = {}

    def plan(self, tzname: str, times: dict[str, dt.datetime]) -> None:
        self.config.write_text(config_toml(self.db_url, self.standin.url, tzname=tzname, times=times),
                               encoding="utf-8")

    # --- processes -------------------------------------------------------------------------
    def cli(self, *args: str) -> None:
        res = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr

    def spawn(self, label: str, argv: list[str]) -> None:
        log = self.tmp / f"{self.name}-{label}.log"
        self.logs[label] = log
        self.procs[label] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=open(log, "wb"),
                                             stderr=subprocess.STDOUT, start_new_session=True)

    def prepare(self) -> None:
        roster = self.tmp / "roster.csv"
        roster.write_text(ROSTER_CSV, encoding="utf-8")
        self.cli("init-db")
        self.cli("roster", "import", str(roster))

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for label, p in self.procs.items():
                assert p.poll() is None, f"{self.name} {label} exited:\n{self.log_text(label)}"
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:      # refused, or too slow on a loaded machine
                pass
            time.sleep(0.2)
        pytest.fail(f"{self.name}: the web server did not come up")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self, label: str) -> str:
        return self.logs[label].read_text(encoding="utf-8", errors="replace")

    def kill(self, label: str) -> None:
        os.killpg(self.procs[label].pid, signal.SIGKILL)
        self.procs[label].wait(10)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        self.standin.stop()

    # --- teachers ----------------------------------------------------------------------------
    def report(self, userid: str, text: str, msg_id: int, *, times: int = 1) -> None:
        """Posts one encrypted text message (`times` copies at once: WeCom retrying)."""
        params, body = self.signer.encrypt(self.signer.text_message_xml(userid, text, msg_id))
        answers: list = []

        def post():
            r = requests.post(f"{self.url}/wecom/callback", params=params, data=body.encode(),
                              timeout=10)
            answers.append((r.status_code, r.text))

        threads = [threading.Thread(target=post) for _ in range(times)]
        self.sent_at[userid] = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for status, body_text in answers:
            assert status == 200, (self.name, userid, text, status, body_text)
            self.replies.append((userid, status, self.signer.decrypt_reply(body_text)))

    # --- what was sent ----------------------------------------------------------------------------
    def deliveries(self) -> list[tuple]:
        return [d for d in (delivery(r) for r in list(self.standin.received)) if d is not None]

    def outbox(self) -> list[OutboxMessage]:
        engine = make_engine(self.db_url)
        try:
            with make_sessionmaker(engine)() as s:
                return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        finally:
            engine.dispose()

    def wait_for(self, what: str, predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        logs = "\n".join(f"--- {k}\n{self.log_text(k)[-3000:]}" for k in self.logs)
        pytest.fail(f"{self.name}: {what} did not happen in {timeout:.0f}s; got "
                    f"{self.deliveries()}\n{logs}")

    def sources_sent(self, source: str) -> list[OutboxMessage]:
        return [r for r in self.outbox() if r.source == source and r.status == "sent"]


def sleep_until(when: dt.datetime, extra: float = 0.0) -> None:
    delay = (when - dt.datetime.now(when.tzinfo)).total_seconds() + extra
    if delay > 0:
        time.sleep(delay)


@pytest.fixture
def pg_url():
    url = create_pg_database()          # skips (fails under REQUIRE_SERVICES=1) when absent
    yield url
    drop_pg_database(url)


def leader_of(dep: Deployment, labels: tuple[str, ...]) -> str | None:
    leaders = [k for k in labels if "now leads" in dep.log_text(k)]
    return leaders[0] if len(leaders) == 1 else None


def test_a_whole_day_on_serve_and_on_postgresql_with_two_workers_and_two_schedulers(
        tmp_path, pg_url):
    one = Deployment("serve-sqlite", f"sqlite:///{tmp_path}/bot.db", tmp_path)
    many = Deployment("pg-2web-2sched", pg_url, tmp_path)
    deployments = (one, many)
    try:
        for d in deployments:
            d.prepare()
        tzname, times = day_plan(dt.datetime.now(dt.timezone.utc))
        for d in deployments:
            d.plan(tzname, times)
        one.spawn("serve", [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
                            "--port", str(one.port)])
        many.spawn("gunicorn", [str(BIN / "gunicorn"), "-w", "2", "-k", "gthread", "--threads",
                                "4", "-b", f"127.0.0.1:{many.port}", "bot.app:create_app()"])
        many.spawn("scheduler-a", [sys.executable, "-m", "bot", "scheduler"])
        many.spawn("scheduler-b", [sys.executable, "-m", "bot", "scheduler"])
        for d in deployments:
            d.wait_healthy()
        many.wait_for("one scheduler leading",
                      lambda: leader_of(many, ("scheduler-a", "scheduler-b")) is not None, 30)
        assert "leads" not in many.log_text("gunicorn")          # web workers never schedule

        # --- the check opens: one prompt per school group ---------------------------------
        sleep_until(times["opens"])
        for d in deployments:
            d.wait_for("the opening prompts",
                       lambda d=d: {x[1] for x in d.deliveries()} == {"school1-key", "school2-key"},
                       30)

        # --- teachers report -------------------------------------------------------------
        for d in deployments:
            d.report("zhangls", "36.5", 9001)
            d.report("lils", "36.4", 9002, times=2)              # WeCom retried: two at once
            d.report("lils", "张三 36.5，李四 37.6 发热", 9003)    # a fever: the principal is told
            d.report("zhaols", "四年级1班 应到1 实到1 病假0 发热0", 9004)
            d.report("zhouls", "36.6", 9005)
            d.report("zhouls", "一年级1班 应到1 实到1 病假0 发热0", 9006)
            d.report("wuls", "体温36.7 无咳嗽", 9007)
        for d in deployments:
            assert all(text.startswith("已记录") for _u, _s, text in d.replies), d.replies
            d.wait_for("the fever alert to the principal",
                       lambda d=d: any(x[0] == "person" and x[1] == "wangxz" and "李四" in x[2]
                                       for x in d.deliveries()), 15)
            alert_at = next(r["time"] for r in d.standin.received
                            if (delivery(r) or ("",))[0] == "person" and "李四" in str(r["json"]))
            assert alert_at - d.sent_at["lils"] < 10, "the alert took more than seconds"

        # --- reminders and escalation ----------------------------------------------------------
        sleep_until(times["remind"])
        for d in deployments:
            d.wait_for("reminders and escalations",
                       lambda d=d: len(d.sources_sent("remind")) >= 1
                       and len(d.sources_sent("escalate")) >= 1
                       and not [r for r in d.outbox() if r.status != "sent"], 60)
        led = leader_of(many, ("scheduler-a", "scheduler-b"))
        assert led is not None
        many.kill(led)                                 # the leader dies; the other finishes
        standby = "scheduler-b" if led == "scheduler-a" else "scheduler-a"

        # --- the digest ------------------------------------------------------------------------
        sleep_until(times["digest"])
        for d in deployments:
            d.wait_for("the digests",
                       lambda d=d: len(d.sources_sent("digest")) >= 3
                       and not [r for r in d.outbox() if r.status != "sent"], 60)
        time.sleep(6)                                  # anything doubled would show by now
        assert "now leads" in many.log_text(standby), many.log_text(standby)[-3000:]

        for d in deployments:
            check_the_day(d)
    finally:
        for d in deployments:
            d.stop()
    for d in deployments:
        for label in d.logs:
            assert "Traceback" not in d.log_text(label), d.log_text(label)[-4000:]


def check_the_day(d: Deployment) -> None:
    rows = d.outbox()
    assert {r.status for r in rows} == {"sent"}, [(r.dedupe_key, r.status) for r in rows]
    got = Counter(d.deliveries())
    want = Counter(row_delivery(r) for r in rows)
    assert got == want, (d.name, {k: (got[k], want[k]) for k in set(got) | set(want)
                                  if got[k] != want[k]})

    by_source = Counter(r.source for r in rows)
    assert set(by_source) == {"open", "alert", "remind", "escalate", "digest"}, by_source
    # The reminders: exactly the missing own reports and class summaries, each once.
    reminded = Counter(u for r in rows if r.source == "remind" and r.channel == "person"
                       for u in r.target.split("|"))
    assert reminded == Counter({"wangxz": 1, "zhaols": 1, "sunxz": 1, "lils": 1}), reminded
    group_reminders = {r.target: set(r.mentioned.split("|")) for r in rows
                       if r.source == "remind" and r.channel == "group"}
    assert group_reminders == {"school1-key": {"wangxz", "zhaols", "lils"},
                               "school2-key": {"sunxz"}}
    # Escalation: each principal with someone missing in the school, once.
    escalated = Counter(r.target for r in rows if r.source == "escalate")
    assert escalated == Counter({"wangxz": 1, "sunxz": 1}), escalated
    # The alert: the principal of 第一实验小学 only, with the name, class and temperature.
    alerts = [r for r in rows if r.source == "alert"]
    assert [a.target for a in alerts] == ["wangxz"]
    assert "李四" in alerts[0].content and "37.6" in alerts[0].content
    assert "三年级2班" in alerts[0].content
    # Digests: each school group and principal, and the bureau group.
    digest_targets = {r.target for r in rows if r.source == "digest"}
    assert {"school1-key", "school2-key", "bureau-key", "wangxz", "sunxz"} <= digest_targets
    # The message delivered twice at once was stored once: one reply each, the same answer.
    lils_answers = [t for u, _s, t in d.replies if u == "lils"]
    assert len(lils_answers) == 3 and lils_answers[0] == lils_answers[1]
