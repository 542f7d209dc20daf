"""`/dashboard/watch`: the 摸排 list of a day, school by school (principals: their own school).

Routes on the dashboard's blueprint (`bot.dashboard.bp`, so its login and headers apply);
imported by the app factory before the blueprint is registered. The figures are
`storage.whereabouts.watch_rows`, the same rows the digests, `摸排` and the export read.
"""
from __future__ import annotations

from flask import abort, render_template

from bot.dashboard import _day_and_check, _page_context, _visible_school, bp, services
from handlers import whereabouts as wb
from storage.roster_queries import school_ids_by_name
from storage.whereabouts import watch_rows


@bp.get("/watch")
def watch():
    config = services().config
    day, check = _day_and_check()
    own = _visible_school()
    with services().sessions() as s:
        schools = [(i, n) for n, i in sorted(school_ids_by_name(s).items())
                   if own is None or n == own]
        if own is not None and not schools:
            abort(404)
        school_id = schools[0][0] if own is not None else None
        rows = watch_rows(s, day, school_id, returned_days=config.watch.observe_days)
    by_school: dict[str, list] = {name: [] for _sid, name in schools}
    for r in rows:
        by_school.setdefault(r.school or "", []).append(r)
    sections = []
    for name, items in by_school.items():
        sections.append(dict(
            school=name, counts=wb.count_rows(items),
            groups=[(title, [_view(r) for r in items if r.status == status])
                    for status, title in wb.SECTIONS]))
    return render_template("dashboard/watch.html", totals=wb.count_rows(rows),
                           sections=sections, district=own is None,
                           areas="、".join(config.watch.areas),
                           observe_days=config.watch.observe_days, **_page_context(day, check))


def _view(r: wb.WatchRow) -> dict:
    return dict(name=r.name, who=wb.who(r), place=r.place or "",
                start=wb.day_label(r.start) if r.start else "",
                end=wb.day_label(r.end) if r.end else "",
                returned=wb.day_label(r.returned_on) if r.returned_on else "",
                ending_today=r.ending_today)
