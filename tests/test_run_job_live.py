"""`python -m bot run-job` as an operator runs it, beside a running `python -m bot serve` or alone.

Issue 19: with `serve` running (its scheduler's outbox worker drains every 2 s), a `run-job
digest --force` whose rows the server's worker had claimed used to sleep to that lease's end (five
minutes ahead), i.e. the whole 150 s delivery timeout, though the server had sent everything within
a second. Now it polls such rows and returns once every message it queued is settled by anyone.

To make the server's worker hold one of run-job's rows for certain, the stand-in answers the first
group-robot call slowly (run-job's first row: the server's next drain claims the following row
meanwhile) and the first private-message call more slowly still (past the client's 5 s timeout:
the client sends again and WeCom's duplicate check keeps the late copy from anyone, as it would).
Everything else is the real thing: real processes, SQLite and PostgreSQL, the stand-in on loopback.
"""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
import zoneinfo
from collections import Counter

import pytest

from tests.test_jobs import row_delivery
from tests.test_whole_day import ROOT, Deployment, pg_url  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

IP_NOT_TRUSTED = "not allow to access from your ip, from ip: 203.0.113.7"


def quiet_plan(now: dt.datetime) -> tuple[str, dict[str, dt.datetime]]:
    """A timezone where today's jobs all lie after 23:00, so no job fires and nothing is
    caught up while the test runs: every message comes from the run-job under test."""
    for tzname in ("Asia/Shanghai", "UTC"):
        local = now.astimezone(zoneinfo.ZoneInfo(tzname))
        if local.hour < 22:
            at = local.replace(hour=23, minute=0, second=0, microsecond=0)
            return tzname, {"opens": at, "remind": at + dt.timedelta(minutes=10),
                            "escalate": at + dt.timedelta(minutes=20),
                            "digest": at + dt.timedelta(minutes=30)}
    raise AssertionError("unreachable: Shanghai and UTC are eight hours apart")


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/bot.db"
    else:
        url = request.getfixturevalue("pg_url")
    d = Deployment(f"run-job-{request.param}", url, tmp_path)
    try:
        d.plan(*quiet_plan(dt.datetime.now(dt.timezone.utc)))
        d.prepare()
        yield d
    finally:
        d.stop()
    for label in d.logs:
        assert "Traceback" not in d.log_text(label), d.log_text(label)[-4000:]


def run(d: Deployment, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """A CLI verb as a subprocess; its result and how long it took (seconds)."""
    start = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=d.env,
                         capture_output=True, text=True, timeout=200)
    return res, time.monotonic() - start


def wait_standin_idle(d: Deployment, timeout: float = 30) -> None:
    """Until the stand-in has answered every request (a delayed one finishes late)."""
    deadline = time.monotonic() + timeout
    while d.standin.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert d.standin.in_flight == 0


def assert_each_delivered_once(d: Deployment) -> list:
    wait_standin_idle(d)
    rows = d.outbox()
    assert rows and {r.status for r in rows} == {"sent"}, [
        (r.dedupe_key, r.status, r.last_error) for r in rows if r.status != "sent"]
    got, want = Counter(d.deliveries()), Counter(row_delivery(r) for r in rows)
    assert got == want, {k: (got[k], want[k]) for k in set(got) | set(want) if got[k] != want[k]}
    return rows


SENT = re.compile(r"digest \S+ morning: queued (\d+) message\(s\), sent (\d+)"
                  r"(?:, (\d+) by the running scheduler)?$")


def test_run_job_beside_serve_returns_once_the_server_has_sent_its_messages(deployment):
    d = deployment
    d.spawn("serve", [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
                      "--port", str(d.port)])
    d.wait_healthy()
    d.wait_for("the server's scheduler leading", lambda: "now leads" in d.log_text("serve"), 60)
    d.standin.fail_next("/cgi-bin/webhook/send", delay=3)        # run-job's first row: slow
    d.standin.fail_next("/cgi-bin/message/send", delay=8)        # the server's: slower still

    res, took = run(d, "run-job", "digest", "--force")
    finished = time.time()
    assert res.returncode == 0, res.stdout + res.stderr
    m = SENT.search(res.stdout.strip())
    assert m, res.stdout
    queued, here, by_server = int(m[1]), int(m[2]), int(m[3] or 0)
    assert by_server >= 1, res.stdout               # the server's worker sent some of them ...
    assert here + by_server == queued >= 5, res.stdout
    assert took < 30, f"run-job took {took:.0f}s"   # ... and run-job did not sleep out its lease
    rows = assert_each_delivered_once(d)
    last_sent = max(r.sent_at for r in rows).replace(tzinfo=dt.timezone.utc).timestamp()
    assert finished - last_sent < 10, f"exited {finished - last_sent:.1f}s after the last send"
    assert {r.source for r in rows} == {"digest"}

    status, _ = run(d, "status")
    assert status.returncode == 0 and f"{queued} sent" in status.stdout, status.stdout


def test_run_job_without_a_server_delivers_by_itself(deployment):
    d = deployment
    res, took = run(d, "run-job", "digest")
    assert res.returncode == 0, res.stdout + res.stderr
    m = SENT.search(res.stdout.strip())
    assert m and m[3] is None and int(m[1]) == int(m[2]) >= 5, res.stdout
    assert took < 30
    assert_each_delivered_once(d)


def test_60020_fails_at_once_and_status_shows_the_errcode(tmp_path):
    """The server's IP is not trusted by the WeCom app: private messages fail at their first
    answer (not after 150 s of retries), run-job says so, and `status` shows errcode and hint."""
    d = Deployment("ip-not-trusted", f"sqlite:///{tmp_path}/bot.db", tmp_path)
    try:
        d.plan(*quiet_plan(dt.datetime.now(dt.timezone.utc)))
        d.prepare()
        d.standin.fail_next("/cgi-bin/message/send", errcode=60020, errmsg=IP_NOT_TRUSTED,
                            times=1000)
        res, took = run(d, "run-job", "digest")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "failed" in res.stdout and "errcode 60020" in res.stderr, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        assert took < 30, f"run-job took {took:.0f}s"
        rows = d.outbox()
        people = [r for r in rows if r.channel == "person"]
        assert people and all((r.status, r.attempts) == ("failed", 1) for r in people)
        assert all(r.status == "sent" for r in rows if r.channel == "group")

        status, _ = run(d, "status")
        assert status.returncode == 0, status.stderr
        failed = [line for line in status.stdout.splitlines() if "failed #" in line]
        assert len(failed) == len(people), status.stdout
        assert all("errcode 60020" in line and "203.0.113.7" in line and "trusted IPs" in line
                   for line in failed), status.stdout
        assert f"{len(people)} failed" in status.stdout
    finally:
        d.stop()
