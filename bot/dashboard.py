"""`/dashboard`: the bureau's and principals' view of the day, server-rendered, in Chinese.

- Login with the 企业微信 userid and the password set by `python -m bot passwd USERID`; only
  bureau people and principals may log in. A principal sees only their own school.
- Without a valid login every dashboard page redirects to the login page and shows nothing else.
- Sessions: Flask's signed cookie `mc_session`, limited to /dashboard, HttpOnly, SameSite=Lax,
  Secure whenever the request came over https (directly, or per X-Forwarded-Proto from one of
  the `[server] trusted_proxies`, see bot/app.py), 12 hours at most. The signing key is
  `[dashboard] secret_key` or, without one, derived from the WeCom secret, so every gunicorn
  worker agrees. The cookie carries a session id held on the server (table
  `dashboard_sessions`): logout deletes it, and the cookie is dead on every worker at once.
  A session also keeps a fingerprint of the password hash: a new password logs out every old
  session.
- Every form (login, logout) carries a CSRF token tied to the session.
- Login attempts are limited per account and per address, shared by every worker and host
  (Redis where configured, the database otherwise), with backoff: `storage.dashboard_auth`.
- Every query parameter is checked: a bad date, check or school name answers 400/404.
- Pages: `/dashboard/` (every school, or the principal's), `/dashboard/school/<name>` (classes,
  who is missing, who is abnormal, the follow-up list), `/dashboard/export.xlsx` (the day's XLSX).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import re
import secrets
import time
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
from handlers.figures import attention_order, district_figures, district_totals, school_figures
from storage import dashboard_auth as auth
from storage.models import Person
from storage.recipients import liaison_school_names
from storage.snapshot import load_snapshot

EXTENSION = "morning_check"      # = bot.services.EXTENSION; not imported, to keep this module light


def services():
    """The app's `bot.services.Services` (config, sessions, clock)."""
    return current_app.extensions[EXTENSION]


bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static", static_url_path="/static")

COOKIE_NAME = "mc_session"
SESSION_HOURS = 12
LIMITER = "morning_check_login_limiter"
EARLIEST_DAY = dt.date(2000, 1, 1)     # no school used this bot before; older dates are typos
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
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
    svc = app.extensions[EXTENSION]
    app.extensions[LIMITER] = auth.login_limits(svc.sessions, config.redis_url)
    app.register_blueprint(bp)


def secret_key(config) -> str:
    """The configured key, else one derived from the WeCom app secret (stable across workers)."""
    if config.dashboard_secret:
        return config.dashboard_secret
    return hmac.new(config.wecom.secret.encode(), b"morning-check dashboard session key v1",
                    hashlib.sha256).hexdigest()


def request_is_https() -> bool:
    """https as the client used it: X-Forwarded-Proto counts only from a trusted proxy
    (bot/app.py applies werkzeug's ProxyFix for `[server] trusted_proxies`)."""
    return request.is_secure


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure exactly when the request is https."""

    def get_cookie_secure(self, app) -> bool:
        return request_is_https()


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


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def current_user() -> Person | None:
    uid, sid = session.get("uid"), session.get("sid")
    if uid is None or sid is None:
        return None
    if time.time() - float(session.get("at", 0)) > SESSION_HOURS * 3600:
        session.clear()
        return None
    with services().sessions() as s:
        if auth.session_person(s, sid, _utcnow()) != uid:      # logged out, or expired
            session.clear()
            return None
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
    """Only a path inside the dashboard, never another site, never a broken header."""
    if not target or len(target) > 2000 or _CONTROL.search(target) or " " in target:
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
    limits = current_app.extensions[LIMITER]
    # keys a database column can hold whatever the form or X-Forwarded-For says
    account = _CONTROL.sub("?", userid.lower())
    address = _CONTROL.sub("?", request.remote_addr or "-")[:100]
    wait = limits.reserve(auth.ADDRESS, address)
    if not wait:
        wait = limits.reserve(auth.ACCOUNT, account)
        if wait:
            limits.release(auth.ADDRESS, address)
    if wait:
        minutes = max(1, -(-int(wait) // 60))
        return render_template("dashboard/login.html", userid=userid, next=nxt,
                               error=f"登录失败次数过多，请{minutes}分钟后再试。"), 429
    lookup = userid if userid and not _CONTROL.search(userid) else None
    with services().sessions() as s:
        person = s.scalar(select(Person).where(Person.userid == lookup)) if lookup else None
        ok = verify(person, password)
        pid = person.id if person is not None else None
        fp = fingerprint(person.password_hash) if person is not None else ""
    if not ok:
        return render_template("dashboard/login.html", userid=userid, next=nxt,
                               error="账号或密码不正确。"), 401
    limits.forget(auth.ACCOUNT, account)
    limits.release(auth.ADDRESS, address)
    with services().sessions() as s, s.begin():
        sid = auth.open_session(s, pid, SESSION_HOURS, _utcnow())
    session.clear()
    session.permanent = True
    session.update(uid=pid, sid=sid, fp=fp, at=time.time(), csrf=secrets.token_urlsafe(32))
    return redirect(nxt)


@bp.post("/logout")
def logout():
    if not _csrf_ok():
        abort(400)
    with services().sessions() as s, s.begin():
        auth.end_session(s, session.get("sid"))
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
    raw = request.args.get("date", "")
    if not raw:
        day = today
    else:
        try:
            day = dt.date.fromisoformat(raw) if len(raw) <= 10 else None
        except ValueError:
            day = None
        if day is None or day < EARLIEST_DAY:
            abort(400, description="日期不正确，请写成 2026-03-02 这样。")
        day = min(day, today)
    names = [c.name for c in config.checks]
    check = request.args.get("check") or names[0]
    if check not in names:
        abort(400, description="没有这个检次。")
    return day, check


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
        previous=config.calendar.previous_school_day(day),
        following=_next_school_day(config.calendar, day, today),
        is_today=day == today, school_day=config.calendar.is_school_day(day),
        as_of=compose.as_of(services().clock(), config.tz),
    )


def _visible_school() -> str | None:
    """None: every school (bureau); else the principal's own school (404 without one)."""
    if g.user.role != "principal":
        return None
    if not g.user.school_name:
        abort(404)
    return g.user.school_name


@bp.get("/")
def overview():
    config = services().config
    day, check = _day_and_check()
    own = _visible_school()
    with services().sessions() as s:
        snap = load_snapshot(s, day, check, school=own)
        mine = set() if own is not None else set(liaison_school_names(s, g.user.id))
    figs = district_figures(snap, config.fever_threshold)
    if own is not None:
        figs = [f for f in figs if f.school == own]
    # a liaison's own schools first (责任到人), then those that have not reported fully
    tallies = sorted(attention_order(f.tally() for f in figs), key=lambda t: t.school not in mine)
    totals = district_totals(tallies)
    return render_template("dashboard/overview.html", tallies=tallies, totals=totals,
                           district=own is None, mine=mine, **_page_context(day, check))



@bp.get("/school/<path:name>")
def school(name: str):
    if len(name) > 100 or _CONTROL.search(name):
        abort(404)                       # no school is called that (and no query sees it)
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
    threshold = config.fever_threshold
    fig = school_figures(snap, name, threshold)
    t = fig.tally()
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
                           symptoms=compose.symptom_text(fig.symptom_counts),
                           **_page_context(day, check))


@bp.get("/export.xlsx")
def export_xlsx():
    from bot.export import export_xlsx_bytes

    config = services().config
    day, _check = _day_and_check()
    own = _visible_school()
    with services().sessions() as s:
        data = export_xlsx_bytes(s, day, day, config.tz, config=config, school=own)
    name = _CONTROL.sub("_", f"晨检_{own + '_' if own else ''}{day.isoformat()}.xlsx")
    name = name.replace("/", "_").replace("\\", "_").replace('"', "_")
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _followups(session, school: str, day: dt.date) -> list:
    from storage.followups import open_followups
    return open_followups(session, school, day, services().config.calendar)
