"""Writing and reading health records and class reports, keeping every version.

A new report for the same person (or class), day and check replaces the current one: the old
row stays, marked `replaced_at` / `replaced_by_id`. `revoke_last` takes back a reporter's
latest report. Only current rows (neither replaced nor revoked) count in any figure.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from storage.models import ClassReport, FollowUpClosure, HealthRecord, Person, utcnow

CURRENT_RECORD = (HealthRecord.replaced_at.is_(None), HealthRecord.revoked_at.is_(None))
CURRENT_CLASS = (ClassReport.replaced_at.is_(None), ClassReport.revoked_at.is_(None))


def current_record(session: Session, person_id: int, day: dt.date, check: str) -> HealthRecord | None:
    return session.scalar(select(HealthRecord).where(
        HealthRecord.person_id == person_id, HealthRecord.day == day,
        HealthRecord.check == check, *CURRENT_RECORD))


def current_class_report(session: Session, school_id: int, class_name: str, day: dt.date,
                         check: str) -> ClassReport | None:
    return session.scalar(select(ClassReport).where(
        ClassReport.school_id == school_id, ClassReport.class_name == class_name,
        ClassReport.day == day, ClassReport.check == check, *CURRENT_CLASS))


class _Versioned:
    """Replacing the current row of a model with a new one, in plain statements.

    Every message takes this path, so it runs as three or four cached statements rather
    than through the ORM's unit of work (a third of a message's time on SQLite). The rows it
    returns are detached copies: read them, don't change them.
    """

    def __init__(self, model, key: tuple[str, ...]):
        table = model.__table__
        self.model = model
        self.current = select(table).where(
            *(table.c[k] == bindparam(f"k_{k}") for k in key),
            table.c.replaced_at.is_(None), table.c.revoked_at.is_(None))
        self.insert = insert(table).returning(table.c.id)
        self.retire = (update(table).where(table.c.id == bindparam("old_id"))
                       .values(replaced_at=bindparam("when")))
        self.link = (update(table).where(table.c.id == bindparam("old_id"))
                     .values(replaced_by_id=bindparam("new_id")))
        self.key = key

    def save(self, session: Session, values: dict, now: dt.datetime):
        conn = session.connection()
        old_row = conn.execute(self.current, {f"k_{k}": values[k] for k in self.key}).first()
        if old_row is not None:           # first retire it: only one current row may exist
            conn.execute(self.retire, {"old_id": old_row.id, "when": now})
        values = {**values, "created_at": now}
        new_id = conn.execute(self.insert, values).scalar_one()
        old = None
        if old_row is not None:
            conn.execute(self.link, {"old_id": old_row.id, "new_id": new_id})
            old = self.model(**{**old_row._asdict(), "replaced_at": now, "replaced_by_id": new_id})
        return self.model(id=new_id, **values), old


_RECORDS = _Versioned(HealthRecord, ("person_id", "day", "check"))
_CLASS_REPORTS = _Versioned(ClassReport, ("school_id", "class_name", "day", "check"))


def save_record(session: Session, *, person_id: int, day: dt.date, check: str,
                temperature: float | None, symptoms, abnormal: bool,
                reported_by_id: int | None, message_id: int | None,
                now: dt.datetime | None = None, absent: bool = False
                ) -> tuple[HealthRecord, HealthRecord | None]:
    """Stores a reading; returns (the new record, the record it replaced or None).

    `absent`: the reading is of a child absent for illness (a named sick absentee)."""
    return _RECORDS.save(session, {
        "person_id": person_id, "day": day, "check": check, "temperature": temperature,
        "symptoms": ",".join(symptoms), "abnormal": abnormal, "reported_by_id": reported_by_id,
        "message_id": message_id, "absent": absent}, now or utcnow())


def close_followup(session: Session, *, person_id: int, day: dt.date, closed_by_id: int | None,
                   message_id: int | None, now: dt.datetime | None = None) -> None:
    """`张三 返校`: the child is back; the day's health record stays as it is."""
    session.add(FollowUpClosure(person_id=person_id, day=day, closed_by_id=closed_by_id,
                                message_id=message_id, created_at=now or utcnow()))
    session.flush()


def save_class_report(session: Session, *, school_id: int, class_name: str, day: dt.date,
                      check: str, expected, present, absent, sick_absent, fever,
                      reported_by_id: int | None, message_id: int | None,
                      now: dt.datetime | None = None) -> tuple[ClassReport, ClassReport | None]:
    """Stores a class summary; returns (the new report, the report it replaced or None)."""
    return _CLASS_REPORTS.save(session, {
        "school_id": school_id, "class_name": class_name, "day": day, "check": check,
        "expected": expected, "present": present, "absent": absent, "sick_absent": sick_absent,
        "fever": fever, "reported_by_id": reported_by_id, "message_id": message_id},
        now or utcnow())


def revoke_last(session: Session, reporter_id: int, *, day: dt.date,
                checks: list[str] | None = None, now: dt.datetime | None = None
                ) -> list[HealthRecord | ClassReport]:
    """Takes back what the reporter's latest report of `day` (of `checks`) recorded.

    Only the latest message counts: once it is taken back, a second 撤销 finds nothing (it
    never walks back through older reports, and never into another day). Returns the revoked
    rows. The row each revoked one had replaced becomes current again, so an undone
    correction restores the previous report.
    """
    now = now or utcnow()
    h_where = [HealthRecord.reported_by_id == reporter_id, HealthRecord.day == day]
    c_where = [ClassReport.reported_by_id == reporter_id, ClassReport.day == day]
    if checks is not None:
        h_where.append(HealthRecord.check.in_(checks))
        c_where.append(ClassReport.check.in_(checks))
    last_h = session.scalar(select(HealthRecord).where(*h_where)
                            .order_by(HealthRecord.created_at.desc(), HealthRecord.id.desc()).limit(1))
    last_c = session.scalar(select(ClassReport).where(*c_where)
                            .order_by(ClassReport.created_at.desc(), ClassReport.id.desc()).limit(1))
    candidates = [r for r in (last_h, last_c) if r is not None]
    if not candidates:
        return []
    latest = max(candidates, key=lambda r: (r.created_at, r.message_id or 0))
    message_id = latest.message_id
    if message_id is not None:
        rows = list(session.scalars(select(HealthRecord).where(
            HealthRecord.message_id == message_id, *CURRENT_RECORD)))
        rows += list(session.scalars(select(ClassReport).where(
            ClassReport.message_id == message_id, *CURRENT_CLASS)))
    else:
        rows = [latest] if latest.revoked_at is None and latest.replaced_at is None else []
    for row in rows:
        row.revoked_at = now
    session.flush()
    for row in rows:
        _restore_previous(session, row)
    session.flush()
    return rows


def _restore_previous(session: Session, row) -> None:
    model = type(row)
    previous = session.scalar(select(model).where(model.replaced_by_id == row.id))
    if previous is not None and previous.revoked_at is None:
        previous.replaced_at = None
        previous.replaced_by_id = None


def person_history(session: Session, person_id: int, since: dt.date) -> list[HealthRecord]:
    return list(session.scalars(select(HealthRecord).where(
        HealthRecord.person_id == person_id, HealthRecord.day >= since, *CURRENT_RECORD)
        .order_by(HealthRecord.day.desc(), HealthRecord.check)))


def records_between(session: Session, start: dt.date, end: dt.date, *, include_history=False):
    q = select(HealthRecord).where(HealthRecord.day >= start, HealthRecord.day <= end)
    if not include_history:
        q = q.where(*CURRENT_RECORD)
    return list(session.scalars(q.order_by(HealthRecord.day, HealthRecord.check, HealthRecord.id)))


def class_reports_between(session: Session, start: dt.date, end: dt.date, *, include_history=False):
    q = select(ClassReport).where(ClassReport.day >= start, ClassReport.day <= end)
    if not include_history:
        q = q.where(*CURRENT_CLASS)
    return list(session.scalars(q.order_by(ClassReport.day, ClassReport.check, ClassReport.id)))


def person_by_userid(session: Session, userid: str) -> Person | None:
    return session.scalar(select(Person).where(Person.userid == userid))
