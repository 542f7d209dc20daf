"""The fixed cluster rule (聚集性疫情): pure, on one class's plain rows.

3 or more people of one class with fever, or with the same symptom, on one day (a class
summary stating 发热3 or more counts too), or more than 5 abnormal people in the class over 3
days. `find_cluster` returns what raised it, or None. The alerts and the early-warning bench
both call it.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Iterable, NamedTuple

from handlers import alert_text
from handlers.health import is_abnormal, is_fever

SAME_DAY = 3              # people with fever / the same symptom in one class on one day
WINDOW_DAYS = 3
WINDOW_MORE_THAN = 5      # abnormal people in one class over the window


class Reading(NamedTuple):
    person_id: int
    name: str
    day: dt.date
    temperature: float | None
    symptoms: tuple[str, ...]


class Finding(NamedTuple):
    summary: str           # 今日发热3人
    names: tuple[str, ...]


def window_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=WINDOW_DAYS - 1)


def find_cluster(readings: Iterable[Reading], day: dt.date, threshold: float,
                 stated_fever: int = 0) -> Finding | None:
    """`readings`: the class's current readings from `window_start(day)` to `day`;
    `stated_fever`: the fever count its class summary states for `day`."""
    today_fever: dict[int, str] = {}
    today_symptom: dict[str, dict[int, str]] = defaultdict(dict)
    window_abnormal: dict[int, str] = {}
    for r in readings:
        if not is_abnormal(r.temperature, r.symptoms, threshold):
            continue
        window_abnormal[r.person_id] = r.name
        if r.day != day:
            continue
        if is_fever(r.temperature, r.symptoms, threshold):
            today_fever[r.person_id] = r.name
        for s in set(r.symptoms) - {"fever"}:
            today_symptom[s][r.person_id] = r.name
    n = max(len(today_fever), stated_fever)
    if n >= SAME_DAY:
        return Finding(alert_text.fever_summary(n), tuple(sorted(today_fever.values())))
    for s, people in sorted(today_symptom.items(), key=lambda kv: -len(kv[1])):
        if len(people) >= SAME_DAY:
            return Finding(alert_text.same_symptom_summary(s, len(people)),
                           tuple(sorted(people.values())))
    if len(window_abnormal) > WINDOW_MORE_THAN:
        return Finding(alert_text.window_summary(WINDOW_DAYS, len(window_abnormal)),
                       tuple(sorted(window_abnormal.values())))
    return None
