"""The dashboard: login, sessions, who sees what, the XLSX button, and a real headless Chromium."""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import types
from pathlib import Path

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from bot import dashboard
from bot.passwd import PasswordError, set_password
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import Person, School
from storage.records import save_class_report, save_record
from storage.roster import apply_roster, load_roster
from tests.support import ROSTER_CSV, FixedClock, LiveServer, make_config, service_missing

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DAY = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 2, 9, 40)            # Shanghai
S1, S2 = "第一实验小学", "第二小学"
BUREAU_PW, PRINCIPAL_PW = "bureau-pass-1", "principal-pass-1"


def make_app(config, clock):
    from bot.app import create_app
    return create_app(config, clock=clock)


@pytest.fixture
def site(db_url, tmp_path):
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_CSV, encoding="utf-8")
    at = dt.datetime(2026, 3, 2, 0, 30)           # 08:30 Shanghai, naive UTC
    with sessions() as s, s.begin():
        apply_roster(s, load_roster(roster))
        ids = {p.name: p.id for p in s.scalars(select(Person))}
        s1 = s.scalar(select(School).where(School.name == S1))
        for name, temp in (("王校长", 36.5), ("李老师", 36.6), ("张老师", 37.9)):
            save_record(s, person_id=ids[name], day=DAY, check="morning", temperature=temp,
                        symptoms=[], abnormal=temp >= 37.3, reported_by_id=ids[name],
                        message_id=None, now=at)
        save_record(s, person_id=ids["张三"], day=DAY, check="morning", temperature=38.2,
                    symptoms=["fever", "cough"], abnormal=True, reported_by_id=ids["李老师"],
                    message_id=None, now=at, absent=True)     # the sick absentee
        save_class_report(s, school_id=s1.id, class_name="三年级2班", day=DAY, check="morning",
                          expected=45, present=43, absent=2, sick_absent=1, fever=1,
                          reported_by_id=ids["李老师"], message_id=None, now=at)
        # a head teacher with a hash somehow stored still may not log in
        s.get(Person, ids["李老师"]).password_hash = generate_password_hash("teacher-pass-1")
    engine.dispose()
    config = make_config(db_url)
    set_password(config, "chenju", BUREAU_PW)
    set_password(config, "wangxz", PRINCIPAL_PW)
    app = make_app(config, FixedClock(NOW))
    yield types.SimpleNamespace(app=app, config=config)
    services = app.extensions[dashboard.EXTENSION]
    services.engine.dispose()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(client, userid, password, **kw):
    token = csrf_of(client.get("/dashboard/login").get_data(as_text=True))
    return client.post("/dashboard/login", data=dict(userid=userid, password=password,
                                                     csrf_token=token), **kw)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


# ------------------------------------------------------------------------------ passwords

def test_set_password_refuses_unknown_users_and_roles_that_may_not_log_in(site):
    with pytest.raises(PasswordError, match="unknown userid 'nobody'"):
        set_password(site.config, "nobody", "long-enough-1")
    with pytest.raises(PasswordError, match="only principals and bureau"):
        set_password(site.config, "zhangls", "long-enough-1")
    with pytest.raises(PasswordError, match="at least 8"):
        set_password(site.config, "sunxz", "short")
    set_password(site.config, "sunxz", "long-enough-1")
    c = site.app.test_client()
    assert log_in(c, "sunxz", "long-enough-1").status_code == 302


# ------------------------------------------------------------------------------ access

def test_logged_out_every_page_leads_to_the_login_and_nothing_else(site):
    c = site.app.test_client()
    for path in ("/dashboard/", "/dashboard", f"/dashboard/school/{S1}", "/dashboard/export.xlsx",
                 "/dashboard/?date=2026-03-02"):
        r = c.get(path, follow_redirects=True)
        assert r.request.path == "/dashboard/login", path
        body = text_of(r)
        assert "登录" in body and "企业微信账号" in body
        for secret in (S1, S2, "张三", "37.9", "发热"):
            assert secret not in body
    assert c.post("/dashboard/logout").status_code in (302, 400)


def test_login_cookie_csrf_and_rate_limit(site):
    c = site.app.test_client()
    page = c.get("/dashboard/login")
    token = csrf_of(page.get_data(as_text=True))
    # no CSRF token: refused before the password is even looked at
    r = c.post("/dashboard/login", data=dict(userid="chenju", password=BUREAU_PW))
    assert r.status_code == 400
    # the session cookie
    r = c.post("/dashboard/login", data=dict(userid="chenju", password=BUREAU_PW, csrf_token=token))
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard/")
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("mc_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/dashboard" in cookie and "Secure" not in cookie
    # X-Forwarded-Proto counts only from a trusted proxy ([server] trusted_proxies)
    spoofed = log_in(site.app.test_client(), "chenju", BUREAU_PW,
                     headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in spoofed.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in spoofed.headers
    proxied = make_app(make_config(site.config.database_url, server={"trusted_proxies": 1}),
                       FixedClock(NOW))
    r = log_in(proxied.test_client(), "chenju", BUREAU_PW, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["Set-Cookie"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    proxied.extensions[dashboard.EXTENSION].engine.dispose()
    # a foreign `next` never leaves the dashboard
    r = log_in(site.app.test_client(), "chenju", BUREAU_PW,
               query_string={"next": "https://evil.example/x"})
    assert r.headers["Location"].endswith("/dashboard/")
    # five failures lock the account for a minute, even for the right password
    bad = site.app.test_client()
    for _ in range(5):
        assert log_in(bad, "wangxz", "wrong-password").status_code == 401
    r = log_in(bad, "wangxz", PRINCIPAL_PW)
    assert r.status_code == 429 and "1分钟后再试" in text_of(r)
    # ... but not anybody else's, from the same address
    assert log_in(bad, "chenju", BUREAU_PW).status_code == 302
    # a teacher with a stored hash, an unknown user: the same answer
    assert log_in(site.app.test_client(), "lils", "teacher-pass-1").status_code == 401
    assert "账号或密码不正确" in text_of(log_in(site.app.test_client(), "ghost", "whatever-123"))


def test_logout_needs_the_token_and_a_new_password_ends_old_sessions(site):
    c = site.app.test_client()
    log_in(c, "chenju", BUREAU_PW)
    assert c.get("/dashboard/").status_code == 200
    assert c.post("/dashboard/logout", data={"csrf_token": "forged"}).status_code == 400
    assert c.get("/dashboard/").status_code == 200
    set_password(site.config, "chenju", "a-new-password-2")
    assert c.get("/dashboard/").status_code == 302
    log_in(c, "chenju", "a-new-password-2")
    token = csrf_of(c.get("/dashboard/").get_data(as_text=True))
    assert c.post("/dashboard/logout", data={"csrf_token": token}).status_code == 302
    assert c.get("/dashboard/").status_code == 302


def test_bureau_sees_every_school_and_drills_down(site):
    c = site.app.test_client()
    log_in(c, "chenju", BUREAU_PW)
    r = c.get("/dashboard/")
    assert r.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in r.headers[
        "Content-Security-Policy"]
    body = text_of(r)
    assert "全区 3月2日 晨检" in body and S1 in body and S2 in body
    assert body.index(S2) < body.index(S1)                    # the silent school first
    assert "教职工已报 3/7，班级已报 1/3" in body
    school = text_of(c.get(f"/dashboard/school/{S1}"))
    assert "三年级2班 已报 1 1 45 43 2 1/3 李老师" in school
    assert "四年级1班 未报 — 0/1 赵老师" in school
    assert "个人报告症状：发热2人，咳嗽1人" in school
    assert "张老师 （三年级2班教师） 37.9℃ 发热" in school
    assert "张三 （三年级2班） 38.2℃ 发热、咳嗽" in school
    assert "未报教职工（1人）" in school and "赵老师" in school
    assert "因病缺勤追踪（1人）" in school and "张三 三年级2班 发热、咳嗽" in school
    assert c.get("/dashboard/school/没有这所学校").status_code == 404
    # another day and check
    noon = text_of(c.get("/dashboard/?date=2026-03-02&check=noon"))
    assert "午检" in noon and "教职工已报 0/7" in noon


def test_principal_sees_only_their_school(site):
    c = site.app.test_client()
    log_in(c, "wangxz", PRINCIPAL_PW)
    body = text_of(c.get("/dashboard/"))
    assert S1 in body and S2 not in body and "全区" not in body
    assert c.get(f"/dashboard/school/{S2}").status_code == 404
    assert c.get(f"/dashboard/school/{S1}").status_code == 200
    r = c.get("/dashboard/export.xlsx?date=2026-03-02")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(r.data))
    schools = {row[2] for row in wb["records 个人记录"].iter_rows(min_row=2, values_only=True)}
    assert schools == {S1}
    summary = list(wb["summary 每日学校汇总"].iter_rows(min_row=2, values_only=True))
    assert {row[2] for row in summary} == {S1}
    morning = [row for row in summary if row[1] == "晨检"][0]
    assert morning[3:] == (3, 4, 1, 2, 45, 43, 2, 1, 2)


def test_the_signing_key_is_stable_across_workers(site):
    a = dashboard.secret_key(site.config)
    assert a == dashboard.secret_key(make_config(site.config.database_url))
    assert a != dashboard.secret_key(make_config(site.config.database_url,
                                                 wecom={"secret": "another"}))
    keyed = make_config(site.config.database_url, dashboard={"secret_key": "k" * 40})
    assert dashboard.secret_key(keyed) == "k" * 40


def test_create_app_registers_the_dashboard(site):
    from bot.services import EXTENSION
    assert EXTENSION == dashboard.EXTENSION
    assert "dashboard" in site.app.blueprints


# ------------------------------------------------------------------------------ the browser

class WithCookie:
    """Hands Chromium a session cookie obtained by a real login (Chromium's CLI takes none)."""

    def __init__(self, app, cookie: str | None):
        self.app, self.cookie = app, cookie

    def __call__(self, environ, start_response):
        if self.cookie:
            environ["HTTP_COOKIE"] = self.cookie
        return self.app(environ, start_response)


def chromium(tmp_path, url: str, *args: str) -> str:
    if not os.path.exists(CHROMIUM):
        service_missing("Chromium (/usr/bin/chromium)",
                        "not installed; apt-get install -y chromium")
    profile = tmp_path / f"chromium-{len(list(tmp_path.iterdir()))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args, url]
    done = subprocess.run(cmd, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8", errors="replace")


def session_cookie(base: str, userid: str, password: str) -> str:
    with requests.Session() as http:
        page = http.get(f"{base}/dashboard/login", timeout=10)
        r = http.post(f"{base}/dashboard/login", timeout=10, allow_redirects=False,
                      data=dict(userid=userid, password=password, csrf_token=csrf_of(page.text)))
        assert r.status_code == 302
        return f"mc_session={http.cookies['mc_session']}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_in_chromium_logged_out_bureau_principal_and_a_screenshot(site, tmp_path):
    with LiveServer(site.app) as direct:
        bureau = session_cookie(direct.url, "chenju", BUREAU_PW)
        principal = session_cookie(direct.url, "wangxz", PRINCIPAL_PW)

        dom = chromium(tmp_path, f"{direct.url}/dashboard/", "--dump-dom")
        assert 'id="login-form"' in dom and S1 not in dom and S2 not in dom
        ARTIFACTS.mkdir(exist_ok=True)
        chromium(tmp_path, f"{direct.url}/dashboard/school/{S1}",
                 f"--screenshot={ARTIFACTS / 'dashboard-logged-out-phone.png'}",
                 "--window-size=412,915", "--force-device-scale-factor=2")

        with LiveServer(WithCookie(site.app, bureau)) as as_bureau:
            dom = chromium(tmp_path, f"{as_bureau.url}/dashboard/", "--dump-dom")
            rows = re.findall(r'data-school="([^"]+)"', dom)
            assert rows == [S2, S1] and "陈局长" in dom and 'id="login-form"' not in dom
            for name, path, size in (
                    ("dashboard-bureau-phone.png", "/dashboard/", "412,915"),
                    ("dashboard-school-phone.png", f"/dashboard/school/{S1}", "412,1600"),
                    ("dashboard-bureau-desktop.png", "/dashboard/", "1280,800")):
                shot = ARTIFACTS / name
                shot.unlink(missing_ok=True)
                chromium(tmp_path, f"{as_bureau.url}{path}", f"--screenshot={shot}",
                         f"--window-size={size}", "--force-device-scale-factor=2")
                assert shot.exists() and shot.stat().st_size > 10_000

        with LiveServer(WithCookie(site.app, principal)) as as_principal:
            dom = chromium(tmp_path, f"{as_principal.url}/dashboard/", "--dump-dom")
            assert re.findall(r'data-school="([^"]+)"', dom) == [S1] and S2 not in dom
