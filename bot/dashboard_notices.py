"""The dashboard's notices and opening checklist, on `bot.dashboard`'s blueprint.

- `/dashboard/notices`: the bureau sees every notice with how many principals acknowledged it
  and a form to send a new one (CSRF token required; the scheduler's outbox delivers it within
  seconds); a principal sees the notices they were sent and when they acknowledged them.
- `/dashboard/notices/<id>`: (bureau) who acknowledged when, who has not, who was reminded.
- `/dashboard/checklist`: school × item, done or not, with who marked it when; a principal
  sees their own school.

Importing this module adds the pages; `bot.app` imports it before registering the blueprint.
"""
from __future__ import annotations

from flask import abort, g, redirect, render_template, request, url_for

from bot.dashboard import _csrf_ok, bp, services
from bot.passwd import ROLE_NAMES
from handlers import notices as words
from storage import notices as store

FORM_LIMIT = 20_000          # characters of a notice's text from the form


def _context(**kw) -> dict:
    user = g.user
    return dict(user=user, role_name=ROLE_NAMES.get(user.role, user.role),
                audiences=[(a, words.AUDIENCE_NAMES[a]) for a in words.AUDIENCES], **kw)


def _render_notices(*, errors=(), title="", text="", to="principals", status=200):
    svc = services()
    tz = svc.config.tz
    with svc.sessions() as s:
        if g.user.role == "bureau":
            summaries, entries = store.notice_summaries(s, tz), []
        else:
            summaries, entries = [], store.notice_entries(s, g.user.id, tz)
    return render_template("dashboard/notices.html", **_context(
        summaries=summaries, entries=entries, errors=list(errors), title=title, text=text,
        to=to, when=words.when, sent=request.args.get("sent"))), status


@bp.get("/notices")
def notices():
    return _render_notices()


@bp.post("/notices")
def notice_send():
    if g.user.role != "bureau":
        abort(403)
    title = request.form.get("title", "")[:200]
    text = request.form.get("text", "")[:FORM_LIMIT]
    to = request.form.get("to", "principals")
    if not _csrf_ok():
        return _render_notices(errors=["页面已过期，请重新提交。"], title=title, text=text,
                               to=to, status=400)
    if to not in words.AUDIENCES:
        to = "principals"
    svc = services()
    try:
        with svc.sessions() as s, s.begin():
            queued = store.queue_notice(s, svc.config, title=title, body=text, audience=to,
                                        sent_by_id=g.user.id, now=svc.clock())
    except store.NoticeError as exc:
        return _render_notices(errors=exc.problems, title=title, text=text, to=to, status=400)
    return redirect(url_for("dashboard.notice", notice_id=queued.id, sent=1))


@bp.get("/notices/<int:notice_id>")
def notice(notice_id: int):
    if g.user.role != "bureau":
        abort(404)
    svc = services()
    with svc.sessions() as s:
        found = store.notice_summaries(s, svc.config.tz, notice_id=notice_id)
    if not found:
        abort(404)
    n = found[0]
    return render_template("dashboard/notice.html", **_context(
        n=n, acked=sorted(n.acked, key=lambda d: d.acked_at),
        waiting=sorted(n.waiting, key=lambda d: (d.school or "", d.name)),
        when=words.when, sent=request.args.get("sent")))


@bp.get("/checklist")
def checklist():
    svc = services()
    items = svc.config.checklist
    with svc.sessions() as s:
        table = store.checklist_table(s, svc.config.tz)
    if g.user.role == "principal":
        table = [(school, marks) for school, marks in table if school == g.user.school_name]
    rows = []
    for school, marks in table:
        cells = [marks.get(item) for item in items]
        rows.append(dict(school=school, cells=[m if m and m.done else None for m in cells],
                         done=sum(1 for m in cells if m and m.done)))
    finished = sum(1 for r in rows if items and r["done"] == len(items))
    return render_template("dashboard/checklist.html", **_context(
        items=items, rows=rows, finished=finished, when=words.when))
