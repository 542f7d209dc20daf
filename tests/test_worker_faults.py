"""Faults past one process, on real gunicorn workers: a worker killed mid-request, the same
message on four workers at once, PostgreSQL restarted during a burst.

What WeCom sees must stay simple: an answer means the message is stored; no answer or a 5xx
means it will retry, and the retry lands exactly one record.
"""
from __future__ import annotations

import concurrent.futures
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from bench.benchlib import Gunicorn
from bot.wecom.signer import CallbackSigner
from storage.db import make_engine, make_sessionmaker
from storage.models import HealthRecord, InboundMessage
from tests.support import (REQUIRE_SERVICES, SAMPLE_AES_KEY, SAMPLE_CORP_ID, SAMPLE_TOKEN,
                           config_toml, create_pg_database, drop_pg_database, pg_connect)
from tests.test_jobs import seed

pytestmark = pytest.mark.slow          # whole processes: the CI tier, not the fast loop

TEACHERS = 120
ROSTER = "school,class,name,role,userid,mobile\n第一实验小学,,王校长,principal,wangxz,13800000002\n" + \
    "".join(f"第一实验小学,,教师{i:03d},teacher,t{i:03d},139{i:08d}\n" for i in range(TEACHERS))
SIGNER = CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)


class Site:
    def __init__(self, url: str, tmp: Path, workers: int, threads: int = 4):
        seed(url, tmp, ROSTER)
        cfg = tmp / "config.toml"
        cfg.write_text(config_toml(url), encoding="utf-8")
        self.url = url
        self.server = Gunicorn("bot.app:create_app()", workers=workers, threads=threads,
                               env={"BOT_CONFIG": str(cfg)}, log=tmp / "gunicorn.log")
        self.log = tmp / "gunicorn.log"
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()
        self.engine.dispose()

    def post(self, params, body, timeout=30):
        return requests.post(f"{self.server.url}/wecom/callback", params=params,
                             data=body.encode(), timeout=timeout)

    def count(self, model, *where) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where))

    def wait_workers(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.server.worker_pids()) == n:
                try:
                    if requests.get(f"{self.server.url}/healthz", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        pytest.fail(f"gunicorn did not come back to {n} workers")

    def assert_no_tracebacks(self) -> None:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text, text[-4000:]


def message(userid: str, text: str, msg_id: int):
    return SIGNER.encrypt(SIGNER.text_message_xml(userid, text, msg_id))


def assert_whole(site: Site) -> None:
    """No half-written message: every stored report has its records, every record its message."""
    with site.sessions() as s:
        orphans = s.scalar(select(func.count()).select_from(HealthRecord)
                           .where(HealthRecord.message_id.is_(None)))
        recorded = s.scalars(select(InboundMessage.id)
                             .where(InboundMessage.outcome == "recorded")).all()
        with_records = set(s.scalars(select(HealthRecord.message_id)).all())
    assert orphans == 0
    assert set(recorded) == with_records


# --- a worker killed mid-request ------------------------------------------------------------

class HeldWrites:
    """Holds the database's write lock so a request stalls inside its transaction."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        if self.url.startswith("sqlite"):
            self.conn = sqlite3.connect(self.url.split("///", 1)[1], timeout=30,
                                        isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn = pg_connect(self.url.rsplit("/", 1)[1], autocommit=False)
            self.conn.execute("LOCK TABLE inbound_messages IN ACCESS EXCLUSIVE MODE")
        return self

    def waiting(self) -> bool:
        """True once a request waits on the lock inside a worker.

        PostgreSQL lists the waiting query; on SQLite the worker holds its write queue's
        `flock` (storage/sqlite_lock.py) while it waits for SQLite's lock.
        """
        if self.url.startswith("sqlite"):
            fd = os.open(self.url.split("///", 1)[1] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                return False
            finally:
                os.close(fd)
        with pg_connect(self.url.rsplit("/", 1)[1]) as c:
            return bool(c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                  "current_database() AND wait_event_type = 'Lock'").fetchone()[0])

    def __exit__(self, *exc):
        self.conn.rollback() if not self.url.startswith("sqlite") else self.conn.execute("ROLLBACK")
        self.conn.close()


def test_worker_killed_mid_request_then_wecom_retry_lands_one_record(db_url, tmp_path):
    with Site(db_url, tmp_path, workers=2) as site:
        params, body = message("t001", "体温36.6", 7001)
        outcome: list = []

        def deliver():
            try:
                outcome.append(site.post(params, body).status_code)
            except requests.RequestException as exc:
                outcome.append(type(exc).__name__)

        with HeldWrites(db_url) as held:
            t = threading.Thread(target=deliver)
            t.start()
            deadline = time.monotonic() + 30
            while not held.waiting():
                assert time.monotonic() < deadline, "the request never reached a worker"
                time.sleep(0.05)
            for pid in site.server.worker_pids():      # whichever took it dies mid-request
                os.kill(pid, signal.SIGKILL)
            t.join(30)
        assert outcome and outcome[0] != 200, outcome   # no answer: WeCom will retry
        site.wait_workers(2)
        assert site.count(InboundMessage) == 0          # nothing half-written

        for _ in range(2):                              # WeCom's retry, and one more
            r = site.post(params, body)
            assert r.status_code == 200
            assert SIGNER.decrypt_reply(r.text).startswith("已记录")
        assert site.count(InboundMessage) == 1
        assert site.count(HealthRecord) == 1
        assert_whole(site)


# --- the same message on four workers ---------------------------------------------------------

def test_same_message_on_four_gunicorn_workers_at_once_is_one_record(db_url, tmp_path):
    with Site(db_url, tmp_path, workers=4, threads=1) as site:
        site.wait_workers(4)
        for n in range(8):
            params, body = message(f"t{n:03d}", f"36.{n + 1}", 7100 + n)
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda _: site.post(params, body), range(4)))
            assert [a.status_code for a in answers] == [200] * 4
            assert len({SIGNER.decrypt_reply(a.text) for a in answers}) == 1
        assert site.count(InboundMessage) == 8
        assert site.count(HealthRecord) == 8
        assert_whole(site)
        site.assert_no_tracebacks()


# --- PostgreSQL restarted during a burst ------------------------------------------------------

def _pg_restart_command() -> list[str] | None:
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(os.listdir("/etc/postgresql"))
    if not versions or os.geteuid() != 0:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


def _pg_ready(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pg_connect().close()
            return
        except Exception:  # noqa: BLE001 - still starting
            time.sleep(0.25)
    pytest.fail("PostgreSQL did not come back after the restart")


def test_postgresql_restarted_during_a_burst_fails_cleanly_and_resumes(tmp_path):
    command = _pg_restart_command()
    if command is None:
        reason = "needs root and pg_ctlcluster to restart the local PostgreSQL"
        pytest.fail(reason) if REQUIRE_SERVICES else pytest.skip(reason)
    url = create_pg_database()
    try:
        with Site(url, tmp_path, workers=2) as site:
            msgs = [message(f"t{i % TEACHERS:03d}", f"36.{i % 9 + 1}", 8000 + i) for i in range(400)]
            first: dict[int, object] = {}
            answered = threading.Semaphore(0)

            def deliver(i):
                try:
                    status = site.post(*msgs[i], timeout=30).status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                first[i] = status
                answered.release()

            restart_done = threading.Event()

            def restart():
                for _ in range(60):                      # a sixth of the burst answered first
                    answered.acquire()
                subprocess.run(command, check=True, capture_output=True, timeout=120)
                restart_done.set()

            restarter = threading.Thread(target=restart)
            restarter.start()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(deliver, range(len(msgs))))
            restarter.join(150)
            assert restart_done.is_set(), "pg_ctlcluster restart did not finish"
            _pg_ready()

            statuses = set(first.values())
            failed = [i for i, st in first.items() if st != 200]
            assert statuses <= {200, 503}, statuses        # a clean 5xx, never a 500 or a reset
            assert failed, "the restart fell between requests: nothing failed"

            # WeCom retries what was not answered; the service is back.
            deadline = time.monotonic() + 60
            pending = failed
            while pending and time.monotonic() < deadline:
                pending = [i for i in pending if site.post(*msgs[i]).status_code != 200]
                if pending:
                    time.sleep(0.5)
            assert not pending, f"{len(pending)} messages still refused after the restart"
            for i in range(0, len(msgs), 37):                # a retry of an answered one: no new row
                assert site.post(*msgs[i]).status_code == 200

            assert site.count(InboundMessage) == len(msgs)
            assert site.count(HealthRecord) == len(msgs)
            with site.sessions() as s:
                current = s.scalar(select(func.count(func.distinct(HealthRecord.person_id)))
                                   .where(HealthRecord.replaced_at.is_(None)))
                assert current == TEACHERS
                per_person = s.execute(select(HealthRecord.person_id, func.count())
                                       .where(HealthRecord.replaced_at.is_(None))
                                       .group_by(HealthRecord.person_id)).all()
                assert all(n == 1 for _p, n in per_person)
            assert_whole(site)
            site.assert_no_tracebacks()
    finally:
        _pg_ready()
        drop_pg_database(url)
