"""The stored data: schools, people, every inbound message, health records and class reports.

A report is never overwritten: a correction inserts a new row and marks the old one replaced
(`replaced_at`, `replaced_by_id`); `撤销` marks a row revoked. The *current* record for a person,
day and check is the one neither replaced nor revoked; a partial unique index keeps it single
even when two web workers race.
All datetimes are stored in UTC.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("teacher", "head_teacher", "principal", "bureau", "student")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class School(Base):
    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (
        Index("ix_people_school_class", "school_id", "class_name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    class_name: Mapped[str | None] = mapped_column(String(50))
    userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    mobile: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    school: Mapped[School | None] = relationship(lazy="joined")

    @property
    def school_name(self) -> str | None:
        return self.school.name if self.school else None


class InboundMessage(Base):
    """Every message or event as received, decrypted; `msg_key` makes WeCom's retries one row."""
    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))            # "callback" | "aibot"
    msg_key: Mapped[str] = mapped_column(String(200), unique=True)
    sender: Mapped[str | None] = mapped_column(String(64))
    chat_id: Mapped[str | None] = mapped_column(String(100))
    msg_type: Mapped[str] = mapped_column(String(32))
    content: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(32), default="received")
    reply: Mapped[str | None] = mapped_column(Text)


class HealthRecord(Base):
    __tablename__ = "health_records"
    __table_args__ = (
        Index("uq_health_records_current", "person_id", "day", "check", unique=True,
              sqlite_where=text("replaced_at IS NULL AND revoked_at IS NULL"),
              postgresql_where=text("replaced_at IS NULL AND revoked_at IS NULL")),
        Index("ix_health_records_day", "day", "check"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    check: Mapped[str] = mapped_column(String(32))
    temperature: Mapped[float | None] = mapped_column(Float)
    symptoms: Mapped[str] = mapped_column(String(300), default="")   # comma-separated codes
    abnormal: Mapped[bool] = mapped_column(Boolean, default=False)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    replaced_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("health_records.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")
    reported_by: Mapped[Person | None] = relationship(foreign_keys=[reported_by_id], lazy="joined")

    @property
    def symptom_list(self) -> list[str]:
        return [s for s in self.symptoms.split(",") if s]


class ClassReport(Base):
    """A head teacher's class summary (应到 / 实到 / 缺勤 / 病假 / 发热) for one day and check."""
    __tablename__ = "class_reports"
    __table_args__ = (
        Index("uq_class_reports_current", "school_id", "class_name", "day", "check", unique=True,
              sqlite_where=text("replaced_at IS NULL AND revoked_at IS NULL"),
              postgresql_where=text("replaced_at IS NULL AND revoked_at IS NULL")),
        Index("ix_class_reports_day", "day", "check"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    class_name: Mapped[str] = mapped_column(String(50))
    day: Mapped[dt.date] = mapped_column(Date)
    check: Mapped[str] = mapped_column(String(32))
    expected: Mapped[int | None] = mapped_column(Integer)
    present: Mapped[int | None] = mapped_column(Integer)
    absent: Mapped[int | None] = mapped_column(Integer)
    sick_absent: Mapped[int | None] = mapped_column(Integer)
    fever: Mapped[int | None] = mapped_column(Integer)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    replaced_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("class_reports.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    school: Mapped[School] = relationship(lazy="joined")
    reported_by: Mapped[Person | None] = relationship(lazy="joined")


# --- Outbound delivery and the daily jobs (scheduler/) -------------------------------------

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")


class OutboxMessage(Base):
    """One outbound WeCom message, queued in the transaction that decided to send it.

    `dedupe_key` is unique: queueing the same message twice stores it once. The worker moves a
    row pending → sending (with a lease, `claimed_until`) → sent, or back to pending with
    `next_attempt_at` after an error, or to failed once it has tried for too long.
    """
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_sent", "status", "sent_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(32), default="")      # open | remind | alert | ...
    channel: Mapped[str] = mapped_column(String(16))                 # person | group
    target: Mapped[str] = mapped_column(Text)                        # userids "a|b" or robot key
    msgtype: Mapped[str] = mapped_column(String(16))                 # text | markdown | image
    content: Mapped[str] = mapped_column(Text)
    mentioned: Mapped[str] = mapped_column(Text, default="")         # userids "a|b" (group text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class JobRun(Base):
    """One run of a daily job (open / remind / escalate / digest) for a day and check.

    Unique per day, check and job: a second run of the same job finds this row and sends
    nothing (unless forced, which bumps `runs` and queues messages under new dedupe keys).
    """
    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("day", "check", "job", name="uq_job_runs_day_check_job"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    check: Mapped[str] = mapped_column(String(32))
    job: Mapped[str] = mapped_column(String(16))
    runs: Mapped[int] = mapped_column(Integer, default=1)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")   # schedule | catch-up | manual
    runner: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SchedulerLease(Base):
    """Who runs the scheduler: one row per lease name, renewed by its holder.

    On SQLite the row *is* the lock (taken when missing or expired). On PostgreSQL the lock is
    an advisory lock and this row only records the holder for `status`.
    """
    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    since: Mapped[dt.datetime] = mapped_column(DateTime)
    renewed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
