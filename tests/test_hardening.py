"""Issue 18, the attack review rerun: each finding as it was found, through the running app,
the CLI, `serve` or gunicorn workers, and what must now happen instead."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.app import create_app
from bot.config import load_config
from bot.passwd import set_password
from bot.wecom import aibot_crypto
from bot.wecom.signer import AibotSigner
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import HealthRecord, InboundMessage, Person, School
from tests.support import (AIBOT_AES_KEY, AIBOT_TOKEN, REDIS_URL, FixedClock, LiveServer,
                           config_toml, make_config, service_missing)

ROOT = Path(__file__).resolve().parents[1]
AIBOT = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY)


def count(svc, model) -> int:
    with svc.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def signed_aibot(plain: str, ts: str = "1700000000", nonce: str = "42"):
    """(params, body) of a correctly signed 智能机器人 callback whose plaintext is `plain`."""
    encrypt = aibot_crypto.encrypt_text(AIBOT_AES_KEY, plain)
    params = {"msg_signature": aibot_crypto.signature(AIBOT_TOKEN, ts, nonce, encrypt),
              "timestamp": ts, "nonce": nonce}
    return params, json.dumps({"encrypt": encrypt}).encode()


def message(**fields) -> str:
    base = {"msgid": "m1", "aibotid": "AIBOTID", "chatid": "chat-school1", "chattype": "group",
            "from": {"userid": "zhangls"}, "msgtype": "text", "text": {"content": "@晨检 36.5"}}
    base.update(fields)
    return json.dumps(base, ensure_ascii=False)


# ------------------------------------------------------------------ 1. no 5xx from outside

AIBOT_FINDINGS = {
    "990 [ unsigned": (None, b"[" * 990),
    "deep nesting, signed": ("[" * 5000 + "]" * 5000, None),
    "deep nesting inside a message": (message(text={"content": "@晨检 36.5",
                                                    "x": json.loads("[" * 100 + "]" * 100)}), None),
    "lone surrogate": (message().replace("36.5", "\\ud800 36.5"), None),
    "NUL in the text": (message().replace("36.5", "\\u0000 36.5"), None),
    "chatid an object": (message(chatid={"a": 1}), None),
    "msgid a list": (message(msgid=[1]), None),
    "from a string": (message(**{"from": "zhangls"}), None),
    "userid a number list": (message(**{"from": {"userid": [1, 2]}}), None),
    "chattype unknown": (message(chattype="broadcast"), None),
    "chatid too long for its column": (message(chatid="c" * 500), None),
    "text not an object": (message(text="36.5"), None),
    "a JSON list": ("[1, 2]", None),
}


@pytest.mark.parametrize("finding", AIBOT_FINDINGS)
def test_aibot_bad_bodies_get_4xx_and_store_nothing(world, finding):
    server, svc, _signer, _clock = world
    plain, raw = AIBOT_FINDINGS[finding]
    if raw is not None:
        params, body = {"msg_signature": "x", "timestamp": "1", "nonce": "1"}, raw
    else:
        params, body = signed_aibot(plain)
    r = requests.post(f"{server.url}/wecom/aibot", params=params, data=body, timeout=10)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert count(svc, InboundMessage) == 0


def test_aibot_a_real_message_still_works(world):
    server, svc, *_ = world
    status, reply = AIBOT.post_text(server.url, "chat-school1", "zhangls", "@晨检 36.5", "ok-1")
    assert status == 200 and "已记录" in reply["stream"]["content"]
    assert count(svc, HealthRecord) == 1


def test_webhook_body_limit_fits_wecom_messages_and_refuses_more(world):
    server, svc, signer, _ = world
    chain = "#接龙\n" + "".join(f"{i}. 学生{i:03d} 36.{i % 10}\n" for i in range(1, 200))
    long_text = "36.5 " + "今天天气晴朗，" * 600                      # ~12 KB of UTF-8
    for i, text in enumerate((chain, long_text)):
        status, _ = signer.post_text(server.url, "zhangls", text, msg_id=f"90{i}")
        assert status == 200
    params, body = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id=999))
    padded = body.replace("</xml>", "<Pad>" + "x" * 200_000 + "</Pad></xml>")
    r = requests.post(f"{server.url}/wecom/callback", params=params, data=padded.encode(), timeout=10)
    assert r.status_code == 413
    a_params, a_body = signed_aibot(message(text={"content": "@晨检 " + "啊" * 100_000}))
    r = requests.post(f"{server.url}/wecom/aibot", params=a_params, data=a_body, timeout=10)
    assert r.status_code == 413
    assert count(svc, InboundMessage) == 2


def nested_xml(size: int, encrypt: str = "QUJD") -> bytes:
    depth = size // 7
    return (f"<xml><ToUserName>x</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            + "<a>" * depth + "</a>" * depth + "</xml>").encode()


def test_callback_checks_the_signature_before_parsing_the_xml(world):
    import xmltodict

    server, svc, signer, _ = world
    params, _ = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id=1))
    # malformed XML around a well-formed Encrypt: the signature is what is wrong first
    broken = b"<xml><Encrypt><![CDATA[QUJD]]></Encrypt><a><b></xml>"
    r = requests.post(f"{server.url}/wecom/callback", params=params, data=broken, timeout=10)
    assert r.status_code == 403
    # ~1 MB of nesting is refused by size before anything reads it
    r = requests.post(f"{server.url}/wecom/callback", params=params, data=nested_xml(1_000_000),
                      timeout=10)
    assert r.status_code == 413
    # unsigned nesting just under the limit costs a scan, not a parse
    body = nested_xml(aibot_crypto.MAX_BODY - 200)
    t0 = time.perf_counter()
    xmltodict.parse(body.decode(), disable_entities=True)
    parse_once = time.perf_counter() - t0
    n = 40

    def attack(_):
        return requests.post(f"{server.url}/wecom/callback", params=params, data=body,
                             timeout=30).status_code

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attack, range(n)))
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    elapsed = time.perf_counter() - t0
    assert set(statuses) == {403}
    print(f"\n{n} unsigned nested bodies: {elapsed:.2f} s; one XML parse of one: {parse_once:.3f} s")
    assert elapsed < n * parse_once / 2
    assert count(svc, InboundMessage) == 0


# ------------------------------------------------------------------ dashboard parameters

S1 = "第一实验小学"
ODD_SCHOOL = "城西\r\n小学\x1b[31m"
PASSWORD = "bureau-pass-1"


@pytest.fixture
def dash(world):
    """The world's server with dashboard passwords, and a principal of a school whose name
    holds CRLF and an ESC sequence (stored before the roster checked values)."""
    server, svc, signer, clock = world
    with svc.sessions() as s, s.begin():
        odd = School(name=ODD_SCHOOL)
        s.add(odd)
        s.flush()
        s.add(Person(name="怪校长", role="principal", school_id=odd.id, userid="oddxz"))
    for userid in ("chenju", "wangxz", "oddxz", "sunxz"):
        set_password(svc.config, userid, PASSWORD)
    return server, svc


def login(base: str, userid: str, password: str = PASSWORD, http: requests.Session | None = None,
          headers: dict | None = None):
    http = http or requests.Session()
    page = http.get(f"{base}/dashboard/login", timeout=10, headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = http.post(f"{base}/dashboard/login", timeout=10, allow_redirects=False, headers=headers,
                  data={"userid": userid, "password": password, "csrf_token": token})
    return http, r


def test_every_bad_dashboard_parameter_is_a_4xx(dash):
    server, svc = dash
    http, r = login(server.url, "chenju")
    assert r.status_code == 302
    base = f"{server.url}/dashboard"
    for query, status in (("?date=0001-01-01", 400), ("?date=9999-12-31", 200),
                          ("?date=2020-02-31", 400), ("?date=yesterday", 400),
                          ("?date=" + "2" * 5000, 400), ("?check=nope", 400),
                          ("?date=2020-02-04&check=noon", 200)):
        for page in ("/", f"/school/{S1}", "/export.xlsx"):
            got = http.get(base + page + query, timeout=10, allow_redirects=False)
            assert got.status_code == status, (page, query, got.status_code)
    for name in ("a%00b", "x" * 300, "%E2%80%AE", "no-such-school"):
        assert http.get(f"{base}/school/{name}", timeout=10).status_code == 404, name
    # a `next` with a newline (and other junk) lands on the overview, never a 500
    for nxt in ("/dashboard/\r\nSet-Cookie: x=1", "/dashboard/%0d%0aX: y", "//evil.example",
                "/dashboard/ x", "/dashboard/\u202e"):
        s = requests.Session()
        page = s.get(f"{base}/login", params={"next": nxt}, timeout=10)
        assert page.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = s.post(f"{base}/login", params={"next": nxt}, timeout=10, allow_redirects=False,
                   data={"userid": "chenju", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard/"), nxt
    # a newline in the path or query, logged out: 404, or the login page with a safe `next`
    assert requests.get(f"{base}/school/a%0d%0ab", timeout=10).status_code == 404
    r = requests.get(f"{base}/?date=%0d%0aX:%20y", timeout=10, allow_redirects=False)
    assert r.status_code == 302 and "\n" not in r.headers["Location"]
    # a userid no column can hold: the same answer as any wrong login
    _, r = login(server.url, "chen\x00ju")
    assert r.status_code == 401


def test_export_of_a_school_named_with_crlf(dash):
    server, _svc = dash
    http, r = login(server.url, "oddxz")
    assert r.status_code == 302
    r = http.get(f"{server.url}/dashboard/export.xlsx?date=2020-02-04", timeout=10)
    assert r.status_code == 200
    disposition = r.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "attachment" in disposition
    load_workbook(io.BytesIO(r.content))
    assert http.get(f"{server.url}/dashboard/", timeout=10).status_code == 200


def test_logout_ends_the_session_on_the_server(dash):
    server, _svc = dash
    http, r = login(server.url, "chenju")
    stolen = http.cookies.get("mc_session")
    assert http.get(f"{server.url}/dashboard/", timeout=10, allow_redirects=False).status_code == 200
    page = http.get(f"{server.url}/dashboard/", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = http.post(f"{server.url}/dashboard/logout", data={"csrf_token": token}, timeout=10,
                  allow_redirects=False)
    assert r.status_code == 302
    replay = requests.get(f"{server.url}/dashboard/", cookies={"mc_session": stolen}, timeout=10,
                          allow_redirects=False)
    assert replay.status_code == 302 and "/dashboard/login" in replay.headers["Location"]
    # another session of the same person is untouched
    other, _ = login(server.url, "chenju")
    assert other.get(f"{server.url}/dashboard/", timeout=10, allow_redirects=False).status_code == 200


def test_many_users_behind_one_address_still_log_in(dash):
    """One attacker's failures lock its target account only; the per-address limit is high."""
    server, _svc = dash
    for _ in range(12):
        _, r = login(server.url, "wangxz", "wrong-password")
        assert r.status_code in (401, 429)
    _, r = login(server.url, "wangxz")                    # the right password: still locked
    assert r.status_code == 429
    for userid in ("chenju", "sunxz", "oddxz"):
        _, r = login(server.url, userid)
        assert r.status_code == 302, userid


# ------------------------------------------------------------------ proxies, HSTS

def test_trusted_proxy_gives_https_cookies_hsts_and_the_client_address(sqlite_url, tmp_path):
    from tests.test_jobs import seed
    from tests.support import ROSTER_CSV

    seed(sqlite_url, tmp_path, ROSTER_CSV)
    direct_cfg = make_config(sqlite_url)
    set_password(direct_cfg, "chenju", PASSWORD)
    set_password(direct_cfg, "wangxz", PASSWORD)
    proxied = create_app(make_config(sqlite_url, server={"trusted_proxies": 1}),
                         clock=FixedClock(dt.datetime(2020, 2, 4, 8, 0)))
    direct = create_app(direct_cfg, clock=FixedClock(dt.datetime(2020, 2, 4, 8, 0)))
    with LiveServer(proxied) as p, LiveServer(direct) as d:
        https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        _, r = login(p.url, "chenju", headers=https)
        assert "Secure" in r.headers["Set-Cookie"]
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        _, r = login(d.url, "chenju", headers=https)          # nobody trusted: a spoof
        assert "Secure" not in r.headers["Set-Cookie"]
        assert "Strict-Transport-Security" not in r.headers
        # per address: each client behind the proxy is counted as itself
        for i in range(3):
            for _ in range(6):
                login(p.url, "wangxz", "wrong", headers={"X-Forwarded-For": f"198.51.100.{i}"})
    for app in (proxied, direct):
        app.extensions["morning_check"].close()


# ------------------------------------------------------------------ files 0600

def cli(*args, env, input=None):
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=input,
                          capture_output=True, text=True, timeout=120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_wal_and_exports_are_owner_only(tmp_path):
    from tests.support import ROSTER_CSV

    db = tmp_path / "data" / "bot.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(f"sqlite:///{db}"), encoding="utf-8")
    env = {**os.environ, "BOT_CONFIG": str(cfg)}
    old = os.umask(0o022)                              # as a login shell has it
    try:
        assert cli("init-db", env=env).returncode == 0
        roster = tmp_path / "roster.csv"
        roster.write_text(ROSTER_CSV, encoding="utf-8")
        assert cli("roster", "import", str(roster), env=env).returncode == 0
        engine = make_engine(f"sqlite:///{db}")        # a writer keeps the WAL in place
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM people").all()
            for name in ("bot.db", "bot.db-wal", "bot.db-shm"):
                path = db.parent / name
                if path.exists():
                    assert mode(path) == 0o600, (name, oct(mode(path)))
        engine.dispose()
        for out in ("o.csv", "o.xlsx"):
            res = cli("export", "--from", "2020-02-03", "--to", "2020-02-04",
                      "--out", str(tmp_path / out), env=env)
            assert res.returncode == 0, res.stderr
            assert mode(tmp_path / out) == 0o600, out
        stale = tmp_path / "stale.csv"                 # an old export, world-readable
        stale.write_text("x")
        stale.chmod(0o644)
        assert cli("export", "--from", "2020-02-03", "--to", "2020-02-04", "--out", str(stale),
                   env=env).returncode == 0
        assert mode(stale) == 0o600
        db.chmod(0o644)                                # a database from an older version
        make_engine(f"sqlite:///{db}").dispose()
        assert mode(db) == 0o600
    finally:
        os.umask(old)


# ------------------------------------------------------------------ serve: loopback, slow clients

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))                # no packet is sent for UDP connect
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


class SlowClient(threading.Thread):
    """Sends a request one byte at a time, `pause` seconds apart."""

    def __init__(self, port: int, pause: float, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.pause, self.stop = port, pause, stop
        self.dropped = threading.Event()

    def run(self):
        request = (b"POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\n"
                   b"Host: x\r\nContent-Length: 5000\r\n" + b"X-Pad: " + b"a" * 2000)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                for byte in request:
                    if self.stop.is_set():
                        return
                    s.sendall(bytes([byte]))
                    self.stop.wait(self.pause)
        except OSError:
            self.dropped.set()
            return


@pytest.mark.slow
def test_serve_binds_loopback_and_slow_clients_do_not_stall_it(tmp_path):
    from tests.support import ROSTER_CSV

    db = tmp_path / "bot.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(f"sqlite:///{db}"), encoding="utf-8")
    env = {**os.environ, "BOT_CONFIG": str(cfg)}
    assert cli("init-db", env=env).returncode == 0
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_CSV, encoding="utf-8")
    assert cli("roster", "import", str(roster), env=env).returncode == 0
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port),
                                 "--no-scheduler"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert f"Listening at: http://127.0.0.1:{port}" in log.read_text()
        outside = outside_address()
        if outside:
            with pytest.raises(OSError):
                socket.create_connection((outside, port), timeout=2).close()
        # sixteen clients dribbling bytes: twice as many as the worker's eight threads
        slow = [SlowClient(port, 0.3, stop) for _ in range(16)]
        for c in slow:
            c.start()
        time.sleep(1.0)                                     # they are all in the middle now
        worst = 0.0
        for _ in range(10):
            t0 = time.perf_counter()
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
            worst = max(worst, time.perf_counter() - t0)
        assert worst < 1.0, worst
        # a request that arrives in pieces, but within REQUEST_SECONDS, is answered
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            time.sleep(1.0)
            s.sendall(b"Connection: close\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        # one that takes longer is dropped, all of them at once, and the server goes on
        from bot.server import REQUEST_SECONDS
        assert all(c.dropped.wait(REQUEST_SECONDS + 5) for c in slow)
        t0 = time.perf_counter()
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        assert time.perf_counter() - t0 < 1.0
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert mode(db) == 0o600


# ------------------------------------------------------------------ the limiter on 3 workers

@pytest.mark.slow
@pytest.mark.parametrize("store", ["database", "redis"])
def test_login_limits_hold_across_three_gunicorn_workers(tmp_path, store):
    from bench.benchlib import Gunicorn
    from tests.test_jobs import seed
    from tests.support import ROSTER_CSV

    url = f"sqlite:///{tmp_path}/bot.db"
    seed(url, tmp_path, ROSTER_CSV)
    text = config_toml(url)
    if store == "redis":
        import redis
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            service_missing("Redis at " + REDIS_URL, str(exc))
        prefix_probe = redis.Redis.from_url(REDIS_URL)
        for key in prefix_probe.scan_iter("morningcheck:login:*"):
            prefix_probe.delete(key)
        text += f'\n[redis]\nurl = "{REDIS_URL}"\n'
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    config = load_config(str(cfg))
    set_password(config, "wangxz", PASSWORD)
    set_password(config, "chenju", PASSWORD)
    access = tmp_path / "access.log"
    server = Gunicorn("bot.app:create_app()", workers=3, threads=4,
                      env={"BOT_CONFIG": str(cfg)}, log=tmp_path / "gunicorn.log",
                      extra=("--access-logfile", str(access),
                             "--access-logformat", "%(p)s %(m)s %(U)s %(s)s"))
    guesses = 30

    def served_by() -> set[str]:
        return {line.split()[0] for line in access.read_text().splitlines()
                if " POST /dashboard/login " in line}

    with server:
        base = server.url
        pages = []
        for _ in range(guesses):                          # a session (cookie + token) per guess
            with requests.Session() as http:
                page = http.get(f"{base}/dashboard/login", timeout=10)
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                pages.append((dict(http.cookies), token))

        def guess(i):
            cookies, token = pages[i % guesses]
            return requests.post(f"{base}/dashboard/login", timeout=30, allow_redirects=False,
                                 cookies=cookies, headers={"Connection": "close"},
                                 data={"userid": "wangxz", "password": f"wrong-{i}",
                                       "csrf_token": token}).status_code

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(guess, range(guesses)))
            checked = statuses.count(401)
            assert checked == 5 and statuses.count(429) == guesses - 5, statuses
            # which worker takes a connection is the kernel's choice: guess on (always
            # refused) until the guesses have met more than one worker
            for _ in range(20):
                if len(served_by()) >= 2:
                    break
                assert set(pool.map(guess, range(12))) == {429}
        assert len(served_by()) >= 2, served_by()
        _, r = login(base, "wangxz")                      # the right password, too late
        assert r.status_code == 429
        _, r = login(base, "chenju")                      # another user, the same address
        assert r.status_code == 302
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text(errors="replace")
