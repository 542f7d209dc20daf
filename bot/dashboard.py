"""`/dashboard`: the bureau's and principals' view of the day, server-rendered, in Chinese.

- Login with the 企业微信 userid and the password set by `python -m bot passwd USERID`; only
  bureau people and principals may log in. A principal sees only their own school.
- Without a valid login every dashboard page redirects to the login page and shows nothing else.
- Sessions: Flask's signed cookie `mc_session`, limited to /dashboard, HttpOnly, SameSite=Lax,
  Secure whenever the request came over https (directly or per X-Forwarded-Proto), 12 hours at
  most. The signing key is `[dashboard] secret_key` or, without one, derived from the WeCom
  secret, so every gunicorn worker agrees. A session keeps a fingerprint of the password hash:
  a new password logs out every old session.
- Every form (login, logout) carries a CSRF token tied to the session.
- Login failures are limited per account (5 in 10 minutes) and per address (20 in 10 minutes),
  in each process's memory.
- Pages: `/dashboard/` (every school, or the principal's), `/dashboard/school/<name>` (classes,
  who is missing, who is abnormal, the follow-up list), `/dashboard/export.xlsx` (the day's XLSX).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import secrets
import threading
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from flask import (
    Blueprint, abort, current_app, g, redirect, render_template, request, send_file, session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from bot.passwd import LOGIN_ROLES, ROLE_NAMES, fingerprint, verify
from handlers import digest as compose
from handlers.figures import classes as class_statuses
from handlers.figures import district_figures, school_figures
from storage.models import Person
from storage.snapshot import load_snapshot
from storage.trends import previous_school_day

EXTENSION = "morning_check"      # = bot.services.EXTENSION; not imported, to keep this module light


def services():
    """The app's `bot.services.Services` (config, sessions, clock)."""
    return current_app.extensions[EXTENSION]


bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static", static_url_path="/static")

COOKIE_NAME = "mc_session"
SESSION_HOURS = 12
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW_SECONDS = 600
LIMITER = "morning_check_login_limiter"
OPEN_ENDPOINTS = ("dashboard.login", "dashboard.static")


# ------------------------------------------------------------------------------------ setup

def init_app(app) -> None:
    config = app.extensions[EXTENSION].config
    if not app.secret_key:
        app.secret_key = secret_key(config)
    app.config.update(SESSION_COOKIE_NAME=COOKIE_NAME, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_PATH="/dashboard",
                      PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS))
    app.session_interface = _SessionInterface()
    app.extensions[LIMITER] = LoginLimiter()
    app.register_blueprint(bp)


def secret_key(config) -> str:
    """The configured key, else one derived from the WeCom app secret (stable across workers)."""
    if config.dashboard_secret:
        return config.dashboard_secret
    return hmac.new(config.wecom.secret.encode(), b"morning-check dashboard session key v1",
                    hashlib.sha256).hexdigest()


def request_is_https() -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.is_secure or forwarded == "https"


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure exactly when the request is https."""

    def get_cookie_secure(self, app) -> bool:
        return request_is_https()


class LoginLimiter:
    """Failed logins per key within a sliding window, in this process's memory."""

    def __init__(self, window: float = FAILURE_WINDOW_SECONDS, clock=time.monotonic):
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        q = self._failures[key]
        cutoff = self.clock() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, key: str, limit: int) -> bool:
        with self._lock:
            return len(self._recent(key)) >= limit

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(self.clock())

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


# ------------------------------------------------------------------------------------ auth

def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    token = session.get("csrf", "")
    return bool(token) and hmac.compare_digest(sent.encode(), token.encode())


def current_user() -> Person | None:
    uid = session.get("uid")
    if uid is None:
        return None
    if time.time() - float(session.get("at", 0)) > SESSION_HOURS * 3600:
        session.clear()
        return None
    with services().sessions() as s:
        person = s.get(Person, uid)
        if (person is None or not person.active or person.role not in LOGIN_ROLES
                or not person.password_hash
                or not hmac.compare_digest(session.get("fp", ""), fingerprint(person.password_hash))):
            session.clear()
            return None
        s.expunge(person)
        return person


@bp.context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "user": g.get("user")}


@bp.before_request
def _require_login():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    user = current_user()
    if user is None:
        return redirect(url_for("dashboard.login", next=_safe_next(request.full_path)))
    g.user = user
    return None


@bp.after_request
def _headers(response):
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "form-action 'self'; base-uri 'none'; object-src 'none'")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
    else:
        response.headers["Cache-Control"] = "public, max-age=604800"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _safe_next(target: str | None) -> str:
    """Only a path inside the dashboard, never another site."""
    if not target:
        return url_for("dashboard.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboard") or "\\" in target:
        return url_for("dashboard.overview")
    return target.rstrip("?") or url_for("dashboard.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    nxt = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(nxt)
        return render_template("dashboard/login.html", error=None, userid="", next=nxt)
    userid = request.form.get("userid", "").strip()[:64]
    password = request.form.get("password", "")[:256]
    if not _csrf_ok():
        return render_template("dashboard/login.html", userid=userid, next=nxt,
                               error="页面已过期，请重新输入后登录。"), 400
    limiter: LoginLimiter = current_app.extensions[LIMITER]
    account, address = "user:" + userid.lower(), "addr:" + (request.remote_addr or "")
    if (limiter.blocked(account, MAX_FAILURES_PER_ACCOUNT)
            or limiter.blocked(address, MAX_FAILURES_PER_ADDRESS)):
        return render_template("dashboard/login.html", userid=userid, next=nxt,
                               error="登录失败次数过多，请10分钟后再试。"), 429
    with services().sessions() as s:
        person = s.scalar(select(Person).where(Person.userid == userid)) if userid else None
        ok = verify(person, password)
        pid = person.id if person is not None else None
        fp = fingerprint(person.password_hash) if person is not None else ""
    if not ok:
        limiter.failed(account)
        limiter.failed(address)
        return render_template("dashboard/login.html", userid=userid, next=nxt,
                               error="账号或密码不正确。"), 401
    limiter.clear(account)
    session.clear()
    session.permanent = True
    session.update(uid=pid, fp=fp, at=time.time(), csrf=secrets.token_urlsafe(32))
    return redirect(nxt)


@bp.post("/logout")
def logout():
    if not _csrf_ok():
        abort(400)
    session.clear()
    return redirect(url_for("dashboard.login"))


# ------------------------------------------------------------------------------------ pages

def _today() -> dt.date:
    now = services().clock()
    tz = services().config.tz
    return (now.astimezone(tz) if now.tzinfo else now).date()


def _day_and_check() -> tuple[dt.date, str]:
    config = services().config
    today = _today()
    try:
        day = dt.date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        day = today
    if day > today:
        day = today
    names = [c.name for c in config.checks]
    check = request.args.get("check")
    return day, (check if check in names else names[0])


def _next_school_day(calendar, day: dt.date, today: dt.date) -> dt.date | None:
    d = day
    while d < today:
        d += dt.timedelta(days=1)
        if calendar.is_school_day(d):
            return d
    return None


def _page_context(day: dt.date, check: str) -> dict:
    config = services().config
    today = _today()
    user = g.user
    return dict(
        user=user, role_name=ROLE_NAMES.get(user.role, user.role), day=day, check=check,
        day_text=compose.day_label(day), check_text=compose.check_label(check),
        checks=[(c.name, compose.check_label(c.name)) for c in config.checks],
        previous=previous_school_day(config.calendar, day),
        following=_next_school_day(config.calendar, day, today),
        is_today=day == today, school_day=config.calendar.is_school_day(day),
        as_of=compose.as_of(services().clock(), config.tz),
    )


def _visible_school() -> str | None:
    """None: every school (bureau); else the principal's own school."""
    return g.user.school_name if g.user.role == "principal" else None


@bp.get("/")
def overview():
    config = services().config
    day, check = _day_and_check()
    own = _visible_school()
    if g.user.role == "principal" and own is None:
        abort(404)
    with services().sessions() as s:
        snap = load_snapshot(s, day, check, school=own)
    figs = district_figures(snap)
    if own is not None:
        figs = [f for f in figs if f.school == own]
    tallies = sorted(compose.tallies(snap, figs, config.fever_threshold),
                     key=lambda t: (not t.reported_nothing, -t.missing, t.school))
    totals = compose.district_totals(tallies)
    return render_template("dashboard/overview.html", tallies=tallies, totals=totals,
                           district=own is None, **_page_context(day, check))


@bp.get("/school/<path:name>")
def school(name: str):
    config = services().config
    day, check = _day_and_check()
    own = _visible_school()
    if own is not None and name != own:
        abort(404)                       # another school: as if it did not exist
    with services().sessions() as s:
        snap = load_snapshot(s, day, check, school=name)
        if name not in snap.schools():
            abort(404)
        followups = _followups(s, name, day)
    fig = school_figures(snap, name)
    t = compose.tally(snap, fig, config.fever_threshold)
    threshold = config.fever_threshold
    students_by_class: dict[str, list] = {}
    for p in snap.people:
        if p.role == "student" and p.school == name and p.class_name:
            students_by_class.setdefault(p.class_name, []).append(p)
    rows = []
    for c in class_statuses(snap, name):
        kids = students_by_class.get(c.class_name, [])
        rows.append(dict(status=c, heads="、".join(h.name for h in c.head_teachers),
                         students=len(kids),
                         students_reported=sum(1 for k in kids if k.id in snap.records)))
    abnormal = [dict(name=p.name, who=compose.who(p), reading=compose.reading(r, threshold),
                     at=compose.as_of(r.reported_at, config.tz))
                for p, r in fig.abnormal_people]
    follow = [dict(name=f.name, class_name=f.class_name or "—", since=compose.day_label(f.since),
                   days=f.days_absent,
                   symptoms="、".join(compose.symptom_name(x) for x in f.symptoms) or "未注明")
              for f in followups]
    return render_template("dashboard/school.html", fig=fig, tally=t, rows=rows,
                           abnormal=abnormal, followups=follow,
                           missing_staff=[(p.name, compose.who(p)) for p in fig.missing_staff],
                           symptoms=compose.symptom_text(compose.symptom_counts(fig, threshold)),
                           **_page_context(day, check))


@bp.get("/export.xlsx")
def export_xlsx():
    from bot.export import export_xlsx_bytes

    config = services().config
    day, _check = _day_and_check()
    own = _visible_school()
    with services().sessions() as s:
        data = export_xlsx_bytes(s, day, day, config.tz, config=config, school=own)
    name = f"晨检_{own + '_' if own else ''}{day.isoformat()}.xlsx"
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _followups(session, school: str, day: dt.date) -> list:
    try:
        from storage.followups import open_followups
    except ModuleNotFoundError as exc:
        if exc.name != "storage.followups":
            raise
        return []
    return open_followups(session, school, day, services().config.calendar)
