"""Figures over many days: days with data, the 14-day trend (school days: `Calendar`).

Snapshots of a date range come from `storage.snapshot.snapshots_of` (the roster once, the
range's records in two queries). The expected people are today's active roster (the roster
keeps no history).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from handlers.figures import STAFF_ROLES, DaySnapshot, SchoolTally, count_fevers, district_figures
from handlers.health import is_fever
from storage.models import ClassReport, HealthRecord, Person, School
from storage.records import CURRENT_CLASS, CURRENT_RECORD
from storage.whereabouts import on_leave_ids

TREND_DAYS = 14


def days_with_data(session: Session, start: dt.date, end: dt.date) -> set[dt.date]:
    days = set(session.scalars(select(HealthRecord.day).where(
        HealthRecord.day >= start, HealthRecord.day <= end, *CURRENT_RECORD).distinct()))
    days |= set(session.scalars(select(ClassReport.day).where(
        ClassReport.day >= start, ClassReport.day <= end, *CURRENT_CLASS).distinct()))
    return days


def tallies_of(snapshot: DaySnapshot, threshold: float) -> list[SchoolTally]:
    return [f.tally() for f in district_figures(snapshot, threshold)]


@dataclass(frozen=True)
class TrendPoint:
    day: dt.date
    rate: float | None      # reporting rate in percent (staff and classes), None: nothing due
    fevers: int
    sick_absent: int


def trend(session: Session, config, end: dt.date, check: str, *,
          days: int = TREND_DAYS) -> list[TrendPoint]:
    """The district's last `days` school days up to `end` for one check, oldest first.

    The same figures as `district_totals(tallies_of(snapshot))` for each day (a test holds
    them equal), read without a snapshot per day: what is due and who reported as counts, and
    only the records that carry a fever. A two-week trend of a 100k-person district is then a
    few hundred rows, not a million and a half.
    """
    school_days = config.calendar.school_days_until(end, days)
    if not school_days:
        return []
    threshold = config.fever_threshold
    start, stop = school_days[0], school_days[-1]

    # Due every day: the active staff of a school, and each class with a head teacher.
    active_staff = (Person.active.is_(True), Person.role.in_(STAFF_ROLES),
                    Person.school_id.is_not(None))
    led_classes = (select(Person.school_id, Person.class_name)
                   .where(Person.active.is_(True), Person.role == "head_teacher",
                          Person.school_id.is_not(None), Person.class_name.is_not(None))
                   .distinct().subquery())
    due = (session.scalar(select(func.count()).select_from(Person).where(*active_staff))
           + session.scalar(select(func.count()).select_from(led_classes)))
    # Schools with anyone on the active roster: their class summaries count.
    school_names = dict(session.execute(
        select(School.id, School.name).join(Person, Person.school_id == School.id)
        .where(Person.active.is_(True)).distinct()).all())

    records_in_range = (HealthRecord.day >= start, HealthRecord.day <= stop,
                        HealthRecord.check == check, *CURRENT_RECORD)
    reported: Counter[dt.date] = Counter(dict(session.execute(
        select(HealthRecord.day, func.count())
        .join(Person, Person.id == HealthRecord.person_id)
        .where(*records_in_range, *active_staff).group_by(HealthRecord.day)).all()))

    # Class summaries, summed by the database: sick absences and how many of the classes that
    # have a head teacher reported, per day; the stated fevers only where there are some.
    classes_in_range = (ClassReport.day >= start, ClassReport.day <= stop,
                        ClassReport.check == check,
                        ClassReport.school_id.in_(list(school_names)), *CURRENT_CLASS)
    class_sums = {day: (sick or 0, led_done or 0) for day, sick, led_done in session.execute(
        select(ClassReport.day, func.sum(ClassReport.sick_absent),
               func.count(led_classes.c.school_id))
        .outerjoin(led_classes, (led_classes.c.school_id == ClassReport.school_id)
                   & (led_classes.c.class_name == ClassReport.class_name))
        .where(*classes_in_range).group_by(ClassReport.day))}
    stated_fevers: dict[dt.date, dict[tuple[str, str], int]] = {}
    for day, school_id, class_name, fever in session.execute(
            select(ClassReport.day, ClassReport.school_id, ClassReport.class_name,
                   ClassReport.fever).where(*classes_in_range, ClassReport.fever > 0)):
        stated_fevers.setdefault(day, {})[(school_names[school_id], class_name)] = fever

    hot_staff: Counter[dt.date] = Counter()
    hot_students: dict[dt.date, Counter[tuple[str, str]]] = {}
    for day, pid, temp, symptoms, role, school, class_name in session.execute(
            select(HealthRecord.day, HealthRecord.person_id, HealthRecord.temperature,
                   HealthRecord.symptoms, Person.role, School.name, Person.class_name)
            .join(Person, Person.id == HealthRecord.person_id)
            .join(School, Person.school_id == School.id)
            .where(*records_in_range, Person.active.is_(True),
                   or_(HealthRecord.temperature >= threshold,
                       HealthRecord.symptoms.contains("fever")))):
        if not is_fever(temp, tuple(x for x in symptoms.split(",") if x), threshold):
            continue
        if role == "student" and class_name:
            hot_students.setdefault(day, Counter())[(school, class_name)] += 1
        else:
            hot_staff[day] += 1

    points = []
    for d in school_days:
        students = hot_students.get(d, Counter())
        stated = stated_fevers.get(d, {})
        fevers = count_fevers(hot_staff[d], students, stated)
        sick, led_done = class_sums.get(d, (0, 0))
        done = reported[d] + led_done
        due_today = due - _excused_staff(session, d, check, active_staff)
        points.append(TrendPoint(d, None if due_today == 0 else 100.0 * done / due_today,
                                 fevers, sick))
    return points


def _excused_staff(session: Session, day: dt.date, check: str, active_staff) -> int:
    """Staff on leave that day who did not report: not due (as `DaySnapshot.excused`)."""
    leave = on_leave_ids(session, day)
    if not leave:
        return 0
    staff = set(session.scalars(select(Person.id).where(Person.id.in_(leave), *active_staff)))
    if not staff:
        return 0
    reported = set(session.scalars(select(HealthRecord.person_id).where(
        HealthRecord.person_id.in_(staff), HealthRecord.day == day, HealthRecord.check == check,
        *CURRENT_RECORD)))
    return len(staff - reported)
