"""Figures over many days: snapshots of a date range, school-day walks, the 14-day trend.

`snapshots_between` loads the roster once and the range's current records in two queries, then
builds one `DaySnapshot` per day and check, so a long export or a trend stays a few queries.
The expected people are today's active roster (the roster keeps no history).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.digest import SchoolTally, district_totals, tallies
from handlers.figures import ClassRow, DaySnapshot, PersonRow, RecordRow, district_figures
from storage.models import ClassReport, HealthRecord, Person, utcnow
from storage.records import CURRENT_CLASS, CURRENT_RECORD

TREND_DAYS = 14


def previous_school_day(calendar, day: dt.date, *, max_back: int = 60) -> dt.date | None:
    """The last school day before `day` (holidays and weekends skipped), None if none near."""
    for back in range(1, max_back + 1):
        d = day - dt.timedelta(days=back)
        if calendar.is_school_day(d):
            return d
    return None


def school_days_until(calendar, end: dt.date, count: int = TREND_DAYS) -> list[dt.date]:
    """The last `count` school days up to and including `end`, oldest first."""
    days, d = [], end
    limit = end - dt.timedelta(days=count * 7 + 60)
    while len(days) < count and d > limit:
        if calendar.is_school_day(d):
            days.append(d)
        d -= dt.timedelta(days=1)
    return days[::-1]


def snapshots_between(session: Session, days: Sequence[dt.date], checks: Iterable[str], *,
                      taken_at: dt.datetime | None = None) -> dict[tuple[dt.date, str], DaySnapshot]:
    """One snapshot per (day, check) for the given days, with the current records only."""
    checks = list(checks)
    if not days or not checks:
        return {}
    start, end = min(days), max(days)
    taken_at = taken_at or utcnow()
    people = tuple(PersonRow(p.id, p.name, p.role, p.school_name, p.class_name, p.userid)
                   for p in session.scalars(select(Person).where(Person.active.is_(True))
                                            .order_by(Person.id)))
    ids = {p.id for p in people}
    wanted = set(days)
    records: dict[tuple[dt.date, str], dict[int, RecordRow]] = {}
    for r in session.scalars(select(HealthRecord).where(
            HealthRecord.day >= start, HealthRecord.day <= end,
            HealthRecord.check.in_(checks), *CURRENT_RECORD)):
        if r.person_id in ids and r.day in wanted:
            records.setdefault((r.day, r.check), {})[r.person_id] = RecordRow(
                r.person_id, r.temperature, tuple(r.symptom_list), r.abnormal, r.created_at,
                r.reported_by_id)
    classes: dict[tuple[dt.date, str], dict[tuple[str, str], ClassRow]] = {}
    for c in session.scalars(select(ClassReport).where(
            ClassReport.day >= start, ClassReport.day <= end,
            ClassReport.check.in_(checks), *CURRENT_CLASS)):
        if c.day in wanted:
            classes.setdefault((c.day, c.check), {})[(c.school.name, c.class_name)] = ClassRow(
                c.school.name, c.class_name, c.expected, c.present, c.absent, c.sick_absent,
                c.fever, c.created_at, c.reported_by_id)
    return {(d, ch): DaySnapshot(d, ch, taken_at, people, records.get((d, ch), {}),
                                 classes.get((d, ch), {}))
            for d in sorted(wanted) for ch in checks}


def days_with_data(session: Session, start: dt.date, end: dt.date) -> set[dt.date]:
    days = set(session.scalars(select(HealthRecord.day).where(
        HealthRecord.day >= start, HealthRecord.day <= end, *CURRENT_RECORD).distinct()))
    days |= set(session.scalars(select(ClassReport.day).where(
        ClassReport.day >= start, ClassReport.day <= end, *CURRENT_CLASS).distinct()))
    return days


def tallies_of(snapshot: DaySnapshot, threshold: float) -> list[SchoolTally]:
    return tallies(snapshot, district_figures(snapshot), threshold)


@dataclass(frozen=True)
class TrendPoint:
    day: dt.date
    rate: float | None      # reporting rate in percent (staff and classes), None: nothing due
    fevers: int
    sick_absent: int


def trend(session: Session, config, end: dt.date, check: str, *,
          days: int = TREND_DAYS) -> list[TrendPoint]:
    """The district's last `days` school days up to `end` for one check, oldest first."""
    school_days = school_days_until(config.calendar, end, days)
    snaps = snapshots_between(session, school_days, [check])
    points = []
    for d in school_days:
        total = district_totals(tallies_of(snaps[(d, check)], config.fever_threshold))
        points.append(TrendPoint(d, total.rate, total.fevers, total.sick_absent))
    return points
