"""Loads one day and check from the database as a plain `handlers.figures.DaySnapshot`."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.figures import ClassRow, DaySnapshot, PersonRow, RecordRow
from storage.models import ClassReport, HealthRecord, Person, School, utcnow
from storage.records import CURRENT_CLASS, CURRENT_RECORD


def load_snapshot(session: Session, day: dt.date, check: str, *, school: str | None = None,
                  taken_at: dt.datetime | None = None) -> DaySnapshot:
    q = select(Person).where(Person.active.is_(True))
    if school is not None:
        q = q.join(School, Person.school_id == School.id).where(School.name == school)
    people = tuple(PersonRow(p.id, p.name, p.role, p.school_name, p.class_name, p.userid)
                   for p in session.scalars(q.order_by(Person.id)))
    ids = {p.id for p in people}
    records = {}
    for r in session.scalars(select(HealthRecord).where(
            HealthRecord.day == day, HealthRecord.check == check, *CURRENT_RECORD)):
        if r.person_id in ids:
            records[r.person_id] = RecordRow(r.person_id, r.temperature, tuple(r.symptom_list),
                                             r.abnormal, r.created_at, r.reported_by_id)
    class_q = select(ClassReport).where(ClassReport.day == day, ClassReport.check == check,
                                        *CURRENT_CLASS)
    class_reports = {}
    for c in session.scalars(class_q):
        if school is not None and c.school.name != school:
            continue
        class_reports[(c.school.name, c.class_name)] = ClassRow(
            c.school.name, c.class_name, c.expected, c.present, c.absent, c.sick_absent,
            c.fever, c.created_at, c.reported_by_id)
    return DaySnapshot(day, check, taken_at or utcnow(), people, records, class_reports)
