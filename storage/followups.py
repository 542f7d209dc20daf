"""The sick-absence follow-up list (因病缺勤追踪), derived from the records themselves.

A student is on the list from their first abnormal record until a normal one follows: the
head teacher's `张三 返校` (or any normal reading for them) takes them off. Nothing extra is
stored, so a correction or an undo changes the list like every other figure.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.figures import FollowUpRow
from storage.models import HealthRecord, Person, School
from storage.records import CURRENT_RECORD

LOOKBACK_DAYS = 60


def open_followups(session: Session, school: str | None, day: dt.date, calendar=None
                   ) -> list[FollowUpRow]:
    since = day - dt.timedelta(days=LOOKBACK_DAYS)
    q = (select(HealthRecord.person_id, HealthRecord.day, HealthRecord.abnormal,
                HealthRecord.temperature, HealthRecord.symptoms, Person.name, School.name,
                Person.class_name)
         .join(Person, HealthRecord.person_id == Person.id)
         .outerjoin(School, Person.school_id == School.id)
         .where(Person.role == "student", Person.active.is_(True),
                HealthRecord.day <= day, HealthRecord.day > since,
                *CURRENT_RECORD,
                # only students with an abnormal record in the window can be on the list
                HealthRecord.person_id.in_(
                    select(HealthRecord.person_id).where(
                        HealthRecord.abnormal.is_(True), HealthRecord.day <= day,
                        HealthRecord.day > since, *CURRENT_RECORD)))
         .order_by(HealthRecord.person_id, HealthRecord.day, HealthRecord.created_at))
    if school is not None:
        q = q.where(School.name == school)
    by_person: dict[int, list] = {}
    for row in session.execute(q):         # plain rows: a district has thousands of them
        by_person.setdefault(row.person_id, []).append(row)
    out = []
    for rows in by_person.values():
        if not rows[-1].abnormal:
            continue
        streak = []
        for r in reversed(rows):
            if not r.abnormal:
                break
            streak.append(r)
        since = min(r.day for r in streak)
        symptoms: list[str] = []
        for r in sorted(streak, key=lambda r: r.day):
            listed = [x for x in r.symptoms.split(",") if x]
            for x in listed:
                if x not in symptoms:
                    symptoms.append(x)
            if r.temperature is not None and "fever" not in symptoms and r.abnormal and not listed:
                symptoms.append("fever")
        last = rows[-1]
        out.append(FollowUpRow(last.person_id, last.name, last[6] or "", last.class_name,
                               tuple(symptoms), since, _school_days(since, day, calendar)))
    return sorted(out, key=lambda f: (f.school, f.class_name or "", f.since, f.name))


def _school_days(start: dt.date, end: dt.date, calendar) -> int:
    days = (end - start).days + 1
    if calendar is None:
        return days
    return sum(1 for i in range(days) if calendar.is_school_day(start + dt.timedelta(days=i))) or 1
