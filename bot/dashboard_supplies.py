"""The dashboard's supplies page (物资储备), on `bot.dashboard`'s blueprint.

`/dashboard/supplies[?date=YYYY-MM-DD]`: school × item, each cell the stock and its days of
cover (below `min_days` marked, a count older than a week shown as 未盘点 with its date), then
the reallocation plan of each item. A bureau login sees every school (the schools it answers
for first) and the plan; a principal sees their own school and no other school's figures.

Importing this module adds the page; `bot.app` imports it before registering the blueprint.
"""
from __future__ import annotations

import datetime as dt

from flask import g, render_template, request

from bot.dashboard import _visible_school, bp, services
from bot.passwd import ROLE_NAMES
from handlers import supplies as words
from handlers.replies import day_label
from storage.recipients import liaison_school_names
from storage.supplies import district_plans, statuses


def _as_of(today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return today
    return min(day, today)


def _cell(st: words.ItemStatus) -> dict:
    if st.stock is None:
        return dict(text="未盘点", cls="muted", title="")
    if st.stale:
        return dict(text=f"未盘点（最近 {day_label(st.counted_on)}）", cls="muted", title="")
    stock = words.quantity_text(st.stock, st.item.unit)
    if st.people <= 0:
        return dict(text=stock, cls="", title="名单中无在册人员")
    return dict(text=f"{stock} · {words.days_text(st.cover)}", cls="hot" if st.low else "",
                title=f"盘点于 {day_label(st.counted_on)}")


@bp.get("/supplies")
def supplies():
    svc = services()
    config = svc.config
    now = svc.clock()
    today = (now.astimezone(config.tz) if now.tzinfo else now).date()
    day = _as_of(today)
    user = g.user
    own = _visible_school()
    items = config.supplies
    with svc.sessions() as s:
        rows = statuses(s, config, day, school=own) if items else []
        plans = district_plans(s, config, day, all_statuses=rows) if items and own is None else []
        mine = set()
        if own is None:
            mine = set(liaison_school_names(s, user.id))
    by_school: dict[str, list] = {}
    people: dict[str, int] = {}
    for st in rows:
        by_school.setdefault(st.school, []).append(_cell(st))
        people[st.school] = st.people
    low = {i.name: sum(1 for st in rows if st.item.name == i.name and st.low) for i in items}
    stale = {i.name: sum(1 for st in rows if st.item.name == i.name and st.stale) for i in items}
    order = sorted(by_school, key=lambda name: (name not in mine, name))
    table = [dict(school=name, people=people[name], cells=by_school[name],
                  short=any(c["cls"] == "hot" for c in by_school[name])) for name in order]
    return render_template(
        "dashboard/supplies.html", user=user, role_name=ROLE_NAMES.get(user.role, user.role),
        items=items, table=table, low=low, stale=stale, mine=mine, district=own is None,
        plans=[dict(item=p.item, lines=words.plan_lines(p)) for p in plans],
        day=day, day_text=day_label(day), is_today=day == today, school=own,
        min_days={i.name: words.min_days_text(i) for i in items})
