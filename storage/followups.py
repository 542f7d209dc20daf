"""The sick-absence follow-up list (因病缺勤追踪), derived from what was reported.

A student is on the list while absent for illness: from the first day they are named as a
sick absentee in a class summary (their record is marked `absent`) until they are reported
back. Back means any of: the head teacher's `张三 返校` (a `FollowUpClosure`, which never changes
a health record), a later reading of the child that is not an absence (the child was checked at
school), or a later class summary of the child's class with nobody absent. A child with a fever
who was present is a fever, not an absence, and is never on this list. Nothing else is stored,
so a correction or an undo changes the list like every other figure.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.figures import FollowUpRow
from storage.models import ClassReport, FollowUpClosure, HealthRecord, Person, School
from storage.records import CURRENT_CLASS, CURRENT_RECORD

LOOKBACK_DAYS = 60


def open_followups(session: Session, school: str | None, day: dt.date, calendar=None
                   ) -> list[FollowUpRow]:
    since = day - dt.timedelta(days=LOOKBACK_DAYS)
    absent_ids = (select(HealthRecord.person_id).where(
        HealthRecord.absent.is_(True), HealthRecord.day <= day, HealthRecord.day > since,
        *CURRENT_RECORD))
    q = (select(HealthRecord.person_id, HealthRecord.day, HealthRecord.absent,
                HealthRecord.temperature, HealthRecord.symptoms, Person.name,
                School.name.label("school"), Person.class_name, Person.school_id)
         .join(Person, HealthRecord.person_id == Person.id)
         .outerjoin(School, Person.school_id == School.id)
         .where(Person.role == "student", Person.active.is_(True),
                HealthRecord.day <= day, HealthRecord.day > since, *CURRENT_RECORD,
                HealthRecord.person_id.in_(absent_ids))
         .order_by(HealthRecord.person_id, HealthRecord.day, HealthRecord.created_at))
    if school is not None:
        q = q.where(School.name == school)
    by_person: dict[int, list] = {}
    for row in session.execute(q):         # plain rows: a district has thousands of them
        by_person.setdefault(row.person_id, []).append(row)
    if not by_person:
        return []
    closures: dict[int, list[dt.date]] = {}
    for pid, d in session.execute(select(FollowUpClosure.person_id, FollowUpClosure.day).where(
            FollowUpClosure.person_id.in_(list(by_person)), FollowUpClosure.day <= day,
            FollowUpClosure.day > since)):
        closures.setdefault(pid, []).append(d)
    full_days: dict[tuple[int, str], list[dt.date]] = {}
    classes = {(rows[0].school_id, rows[0].class_name) for rows in by_person.values()}
    for sid, cname, d in session.execute(select(
            ClassReport.school_id, ClassReport.class_name, ClassReport.day).where(
            ClassReport.day <= day, ClassReport.day > since, ClassReport.absent == 0,
            ClassReport.school_id.in_([c[0] for c in classes if c[0] is not None]),
            *CURRENT_CLASS)):
        full_days.setdefault((sid, cname), []).append(d)
    out = []
    for pid, rows in by_person.items():
        first = rows[0]
        back = set(closures.get(pid, ())) | set(full_days.get((first.school_id, first.class_name), ()))
        back |= {r.day for r in rows if not r.absent}
        absences = [r for r in rows if r.absent]
        last_absent = absences[-1]
        if any(b >= last_absent.day for b in back if b != last_absent.day) or \
                last_absent.day in closures.get(pid, ()):
            continue                            # reported back since
        # the absence runs back to the first absent day with no return in between
        streak = [last_absent]
        for r in reversed(absences[:-1]):
            if any(r.day < b < streak[-1].day for b in back):
                break
            streak.append(r)
        start = streak[-1].day
        symptoms: list[str] = []
        for r in reversed(streak):
            for x in (s for s in r.symptoms.split(",") if s):
                if x not in symptoms:
                    symptoms.append(x)
        out.append(FollowUpRow(pid, first.name, first.school or "", first.class_name,
                               tuple(symptoms), start, _school_days(start, day, calendar)))
    return sorted(out, key=lambda f: (f.school, f.class_name or "", f.since, f.name))


def _school_days(start: dt.date, end: dt.date, calendar) -> int:
    if calendar is None:
        return (end - start).days + 1
    return calendar.count_school_days(start, end)
