"""Loads days and checks from the database as plain `handlers.figures.DaySnapshot`s.

Rows are read as plain columns, not ORM objects: a district's roster is 100k people and a
trend reads two weeks of their records, so every object saved here counts.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from handlers.figures import ClassRow, DaySnapshot, PersonRow, RecordRow
from storage.models import ClassReport, HealthRecord, Person, School, utcnow
from storage.records import CURRENT_CLASS, CURRENT_RECORD
from storage.whereabouts import on_leave_ids


def roster_rows(session: Session, school: str | None = None, *,
                reported_on: tuple[Sequence[dt.date], Sequence[str]] | None = None
                ) -> tuple[PersonRow, ...]:
    """The active roster (of one school, or the district) in roster order.

    `reported_on=(days, checks)`: of the students, only those with a current record on one of
    those days and checks (staff and bureau all the same). Students are most of a roster and a
    day's figures only look at those who were reported.
    """
    q = (select(Person.id, Person.name, Person.role, School.name, Person.class_name,
                Person.userid)
         .outerjoin(School, Person.school_id == School.id).where(Person.active.is_(True)))
    if school is not None:
        q = q.where(School.name == school)
    if reported_on is not None:
        days, checks = reported_on
        q = q.where(or_(Person.role != "student", Person.id.in_(
            select(HealthRecord.person_id).where(HealthRecord.day.in_(list(days)),
                                                 HealthRecord.check.in_(list(checks)),
                                                 *CURRENT_RECORD))))
    return tuple(map(PersonRow._make, session.execute(q.order_by(Person.id)).tuples()))


def record_rows(session: Session, days: Sequence[dt.date], checks: Sequence[str]
                ) -> dict[tuple[dt.date, str], dict[int, RecordRow]]:
    """The current health records of those days and checks, by (day, check) and person id."""
    start, end, wanted = min(days), max(days), set(days)
    q = (select(HealthRecord.day, HealthRecord.check, HealthRecord.person_id,
                HealthRecord.temperature, HealthRecord.symptoms, HealthRecord.abnormal,
                HealthRecord.created_at, HealthRecord.reported_by_id)
         .where(HealthRecord.day >= start, HealthRecord.day <= end,
                HealthRecord.check.in_(list(checks)), *CURRENT_RECORD))
    out: dict[tuple[dt.date, str], dict[int, RecordRow]] = {}
    for day, check, pid, temp, symptoms, abnormal, created, by in session.execute(q):
        if day in wanted:
            out.setdefault((day, check), {})[pid] = RecordRow(
                pid, temp, tuple(s for s in symptoms.split(",") if s), abnormal, created, by)
    return out


def class_rows(session: Session, days: Sequence[dt.date], checks: Sequence[str],
               school: str | None = None
               ) -> dict[tuple[dt.date, str], dict[tuple[str, str], ClassRow]]:
    """The current class summaries of those days and checks, by (day, check) and class."""
    start, end, wanted = min(days), max(days), set(days)
    q = (select(ClassReport.day, ClassReport.check, School.name, ClassReport.class_name,
                ClassReport.expected, ClassReport.present, ClassReport.absent,
                ClassReport.sick_absent, ClassReport.fever, ClassReport.created_at,
                ClassReport.reported_by_id)
         .join(School, ClassReport.school_id == School.id)
         .where(ClassReport.day >= start, ClassReport.day <= end,
                ClassReport.check.in_(list(checks)), *CURRENT_CLASS))
    if school is not None:
        q = q.where(School.name == school)
    out: dict[tuple[dt.date, str], dict[tuple[str, str], ClassRow]] = {}
    for day, check, *row in session.execute(q):
        if day in wanted:
            out.setdefault((day, check), {})[(row[0], row[1])] = ClassRow(*row)
    return out


def snapshots_of(session: Session, days: Sequence[dt.date], checks: Iterable[str], *,
                 school: str | None = None, taken_at: dt.datetime | None = None,
                 students: str = "all") -> dict[tuple[dt.date, str], DaySnapshot]:
    """One snapshot per (day, check): the roster read once, the records in two queries.

    `students="reported"` leaves out the students nobody reported on those days: enough for
    every figure, reminder and digest (they count staff, classes and the records), not for a
    list of a class's students.
    """
    checks = list(checks)
    if not days or not checks:
        return {}
    taken_at = taken_at or utcnow()
    people = roster_rows(session, school,
                         reported_on=(days, checks) if students == "reported" else None)
    ids = {p.id for p in people}          # records of people no longer on the roster don't count
    records = record_rows(session, days, checks)
    classes = class_rows(session, days, checks, school)
    out = {}
    for d in sorted(set(days)):
        leave = frozenset(on_leave_ids(session, d) & ids)
        for ch in checks:
            recs = {pid: r for pid, r in records.get((d, ch), {}).items() if pid in ids}
            out[(d, ch)] = DaySnapshot(d, ch, taken_at, people, recs, classes.get((d, ch), {}),
                                       on_leave=leave)
    return out


def load_snapshot(session: Session, day: dt.date, check: str, *, school: str | None = None,
                  taken_at: dt.datetime | None = None, students: str = "all") -> DaySnapshot:
    return snapshots_of(session, [day], [check], school=school, taken_at=taken_at,
                        students=students)[(day, check)]
