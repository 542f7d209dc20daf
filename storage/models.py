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

ROLES = ("teacher", "head_teacher", "principal", "bureau", "student", "logistics")


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
    # the reading of a child absent for illness (named as a sick absentee in a class summary)
    absent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

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


# ------------------------------------------------------------------ liaisons (责任到人)

class LiaisonSchool(Base):
    """A bureau person who answers for a school (the roster's `schools` / 联系学校 column)."""
    __tablename__ = "liaison_schools"
    __table_args__ = (UniqueConstraint("person_id", "school_id", name="uq_liaison_school"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)


# ------------------------------------------------------------------ follow-ups (因病缺勤追踪)

class FollowUpClosure(Base):
    """A head teacher's `张三 返校`: the child is back; it closes the sick-absence follow-up and
    never touches that day's health record."""
    __tablename__ = "followup_closures"
    __table_args__ = (Index("ix_followup_closures_person_day", "person_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

# ------------------------------------------------------------------ leave and whereabouts (摸排)
# (issue 14)

WHEREABOUTS_STATUSES = ("away", "returned", "observing", "released")


class Leave(Base):
    """Someone away on leave (请假) from `start` to `end`, both days included.

    Rows are never changed: a second leave is a second row, and a day is a leave day when any
    row covers it. A report on a leave day still counts (the figures treat the person as
    reported); the leave row stays as it was.
    """
    __tablename__ = "leaves"
    __table_args__ = (Index("ix_leaves_days", "start", "end"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date] = mapped_column(Date)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    source: Mapped[str] = mapped_column(String(16), default="chat")      # chat | import
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Whereabouts(Base):
    """One statement of where someone is (人员摸排), from the day `start` on.

    `status`: away (在外未返, `place`), returned (back from `place` on `start`, no
    observation), observing (居家观察 from `start` to `end`; `returned_on` when it began with
    a return), released (解除观察 on `start`). A new statement is a new row, never an update:
    someone's status on a day is the latest row (by id) whose `start` is on or before it.
    """
    __tablename__ = "whereabouts"
    __table_args__ = (Index("ix_whereabouts_person_start", "person_id", "start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    status: Mapped[str] = mapped_column(String(16))
    place: Mapped[str | None] = mapped_column(String(50))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date)
    returned_on: Mapped[dt.date | None] = mapped_column(Date)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    source: Mapped[str] = mapped_column(String(16), default="chat")      # chat | import
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# ------------------------------------------------------------------ supplies (物资储备)
# (issue 15)

class SupplyCount(Base):
    """A school's count of one supply item (物资盘点), as a principal or logistics person sent it.

    Never overwritten: a new count is a new row, and a school's stock of an item on a day is its
    latest count on or before that day (`storage.supplies.latest_counts`). `quantity` is in
    `unit`, the item's configured unit when it was counted.
    """
    __tablename__ = "supply_counts"
    __table_args__ = (
        Index("ix_supply_counts_school_item_day", "school_id", "item", "day"),
        Index("ix_supply_counts_day", "day"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    item: Mapped[str] = mapped_column(String(50))
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    day: Mapped[dt.date] = mapped_column(Date)
    counted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))


# ------------------------------------------------------------------ notices and checklist
# (issue 16)

NOTICE_AUDIENCES = ("principals", "groups", "all")


class Notice(Base):
    """A bureau notice (统一发布): one text for every school, sent once.

    `audience` is how it went out: "principals" (privately), "groups" (the school groups; a
    school without a group gets it privately), "all" (both). `groups` names the school scopes
    whose group robot got it, joined by "|".
    """
    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16), default="principals")
    groups: Mapped[str] = mapped_column(Text, default="")
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))   # None: the CLI
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class NoticeDelivery(Base):
    """One principal's copy of a notice: when it was queued, reminded and acknowledged.

    Unique per notice and person. `acked_at` and `ack_message_id` say when and by which
    message (`收到`) the principal acknowledged it; `reminded_at` keeps the reminder single.
    """
    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "person_id", name="uq_notice_delivery"),
        Index("ix_notice_deliveries_person", "person_id", "acked_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    private: Mapped[bool] = mapped_column(Boolean, default=True)    # False: only via the group
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    acked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ack_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))


class ChecklistMark(Base):
    """A school's mark on an opening-checklist item (开学准备清单), never overwritten.

    Keyed by the item's text, so reordering `[[checklist]]` keeps the marks. A new mark (done or
    taken back) marks the previous one replaced; the current mark per school and item is the
    one not replaced (a partial unique index keeps it single).
    """
    __tablename__ = "checklist_marks"
    __table_args__ = (
        Index("uq_checklist_marks_current", "school_id", "item", unique=True,
              sqlite_where=text("replaced_at IS NULL"),
              postgresql_where=text("replaced_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    item: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(Boolean)
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    replaced_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

# ------------------------------------------------------------------ early warning (预警)
# (issue 17)

class SurveillanceSignal(Base):
    """An early-warning signal: a school's count of one signal on one day above its own
    baseline, stored with the figures that raised it (storage/surveillance.py).

    Unique per day, school and signal: the first digest that raises it stores it and queues
    its alert; a later digest of the same day finds it and raises nothing new.
    """
    __tablename__ = "surveillance_signals"
    __table_args__ = (
        UniqueConstraint("day", "school_id", "signal", name="uq_surveillance_signal"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    signal: Mapped[str] = mapped_column(String(16))        # sick_absent | fever | respiratory | ...
    method: Mapped[str] = mapped_column(String(8))         # c1 | c2 | c3 | ewma
    count: Mapped[int] = mapped_column(Integer)
    heads: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)         # cases the baseline expects today
    sd: Mapped[float] = mapped_column(Float)               # of the baseline, in cases, floored
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    baseline_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

# ------------------------------------------------------------------ dashboard auth
# (issue 18)

class LoginLimit(Base):
    """Dashboard login attempts of one account or address (`storage.dashboard_auth`).

    Shared by every worker and process when Redis is not configured; the count lives from
    its first failure until `expires_at`, and no attempt is taken before `locked_until`.
    """
    __tablename__ = "login_limits"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)   # account:<id> | address:<ip>
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class DashboardSession(Base):
    """A dashboard login, held on the server: logout deletes it, so its cookie stops working.

    `id` is the SHA-256 of the session id the cookie carries, never the id itself.
    """
    __tablename__ = "dashboard_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
