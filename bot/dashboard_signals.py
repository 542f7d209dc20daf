"""The dashboard's early-warning pages, on the dashboard's blueprint (bot/dashboard.py).

- `/dashboard/signals`: the day's stored signals (a principal: only their school's), each with
  the figures that raised it.
- `/dashboard/signals/school/<name>`: the school's last 28 school days of every signal: the
  counts (· where it reported nothing), the expected count and score of each day, and which
  days signalled, as the configured method reads them.
Imported by the app factory before the blueprint is registered.
"""
from __future__ import annotations

import datetime as dt

from flask import abort, render_template

from bot.dashboard import _day_and_check, _page_context, _visible_school, bp, services
from handlers import surveillance as sv
from storage.roster_queries import school_id_of
from storage.surveillance import evaluate_range, signals_on

SERIES_DAYS = 28


@bp.get("/signals")
def signals():
    day, check = _day_and_check()
    own = _visible_school()
    with services().sessions() as s:
        rows = signals_on(s, day, school=own)
    for r in rows:
        r["signal_name"] = sv.SIGNAL_NAMES.get(r["signal"], r["signal"])
        r["percent"] = sv.percent(r["count"], r["heads"])
        r["method_name"] = sv.METHOD_NAMES.get(r["method"], r["method"])
    return render_template("dashboard/signals.html", signals=rows,
                           method=services().config.surveillance.method,
                           **_page_context(day, check))


@bp.get("/signals/school/<path:name>")
def signal_series(name: str):
    config = services().config
    day, check = _day_and_check()
    own = _visible_school()
    if own is not None and name != own:
        abort(404)
    days = config.calendar.previous_school_days(day, SERIES_DAYS - 1)[::-1]
    if config.calendar.is_school_day(day):
        days.append(day)
    with services().sessions() as s:
        school_id = school_id_of(s, name)
        if school_id is None:
            abort(404)
        scored = evaluate_range(s, config, days[0], day, school_id=school_id) if days else []
        stored = {r["signal"] for r in signals_on(s, day, school=name)}
    by_signal: dict[str, dict[dt.date, sv.Evaluation]] = {k: {} for k in sv.SIGNALS}
    for r in scored:
        by_signal[r.signal][r.evaluation.day] = r.evaluation
    series = []
    for signal in sv.SIGNALS:
        points = [by_signal[signal].get(d) for d in days]
        series.append(dict(
            signal=signal, name=sv.SIGNAL_NAMES[signal], stored=signal in stored,
            spark=sv.sparkline([p.count if p else None for p in points]),
            days=[dict(day=d, label=f"{d.month}/{d.day}", e=p) for d, p in zip(days, points)],
            signals=sum(1 for p in points if p and p.signal)))
    return render_template("dashboard/signal_series.html", school=name, series=series,
                           method=sv.METHOD_NAMES.get(config.surveillance.method,
                                                      config.surveillance.method),
                           **_page_context(day, check))
