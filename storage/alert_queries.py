"""What the alerts read: a class's recent readings, and which alerts were already queued."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.clusters import Reading
from storage.models import ClassReport, HealthRecord, OutboxMessage, Person
from storage.records import CURRENT_CLASS, CURRENT_RECORD


def class_readings(session: Session, school_id: int, class_name: str, start: dt.date,
                   end: dt.date) -> list[Reading]:
    rows = session.execute(
        select(Person.id, Person.name, HealthRecord.day, HealthRecord.temperature,
               HealthRecord.symptoms)
        .join(Person, HealthRecord.person_id == Person.id)
        .where(Person.school_id == school_id, Person.class_name == class_name,
               HealthRecord.day >= start, HealthRecord.day <= end, *CURRENT_RECORD))
    return [Reading(pid, name, day, temp, tuple(x for x in symptoms.split(",") if x))
            for pid, name, day, temp, symptoms in rows]


def stated_class_fever(session: Session, school_id: int, class_name: str, day: dt.date) -> int:
    return max([f or 0 for f in session.scalars(select(ClassReport.fever).where(
        ClassReport.school_id == school_id, ClassReport.class_name == class_name,
        ClassReport.day == day, *CURRENT_CLASS))] or [0])


def any_queued(session: Session, keys: list[str]) -> bool:
    return session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.dedupe_key.in_(keys)).limit(1)) is not None


def current_reading(session: Session, person_id: int, day: dt.date, check: str
                    ) -> HealthRecord | None:
    return session.scalar(select(HealthRecord).where(
        HealthRecord.person_id == person_id, HealthRecord.day == day,
        HealthRecord.check == check, *CURRENT_RECORD))


def alerts_about(session: Session, person: Person | None, person_id: int, day: dt.date,
                 check: str) -> list[tuple[int, str]]:
    """(outbox row id, target) of every private alert that reported this person's reading:
    their fever alerts of that day and check, and the private cluster alerts naming them."""
    found = list(session.execute(select(OutboxMessage.id, OutboxMessage.target).where(
        OutboxMessage.dedupe_key.like(f"fever:{day}:{check}:{person_id}:%"),
        OutboxMessage.channel == "person")))
    if person is not None and person.school_id is not None and person.class_name:
        found += [(row_id, target) for row_id, target, content in session.execute(
            select(OutboxMessage.id, OutboxMessage.target, OutboxMessage.content).where(
                OutboxMessage.dedupe_key.like(f"cluster:{person.school_id}:{person.class_name}:%"),
                OutboxMessage.channel == "person"))
                  if person.name in content]
    return found


def bureau_group_cluster_alerts(session: Session) -> list[OutboxMessage]:
    """Every cluster alert queued for the bureau group (`cluster:…:bureau-group`), oldest first."""
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.dedupe_key.like("cluster:%:bureau-group")).order_by(OutboxMessage.id)))
