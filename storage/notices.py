"""Notices (统一发布) and the opening checklist (开学准备清单): what is stored, and loaders.

- `queue_notice` stores a notice, one `NoticeDelivery` per active principal, and queues its
  messages in the outbox, all in the caller's transaction: the notice exists exactly when its
  messages do, and the outbox delivers each once (dedupe keys `notice:<id>:person:<userid>:<k>`,
  `notice:<id>:group:<school>:<k>`).
- `acknowledge_oldest` marks a principal's oldest unacknowledged notice acknowledged (when, by
  which message); a conditional UPDATE keeps two racing `收到` from acknowledging one notice
  twice.
- `claim_reminders` marks the deliveries due a reminder as reminded and returns them: each
  principal is reminded once per notice (`reminded_at`, plus the reminder's dedupe key).
- `mark_items` records checklist marks; a new mark replaces the current one (history kept,
  `撤回` is a mark with done = False), so the current mark per school and item stays single.
- Loaders for the status views and the bureau digest: `notice_summaries`, `notice_entries`,
  `pending_acknowledgements`, `current_marks`, `checklist_table`, `checklist_finished`.

Every datetime is stored naive UTC; loaders hand out local times (`tz`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from handlers import notices as words
from handlers.config import Config
from handlers.outgoing import Outgoing
from storage.models import ChecklistMark, Notice, NoticeDelivery, Person, School
from storage.outbox_queue import enqueue, to_utc


class NoticeError(ValueError):
    """A notice that cannot be sent; `problems` are Chinese lines for the sender."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("；".join(problems))


@dataclass(frozen=True)
class QueuedNotice:
    id: int
    keys: list[str]                                   # the outbox keys queued
    principals: int                                   # deliveries (principals asked to ack)
    private: int                                      # of them reached privately
    groups: tuple[str, ...] = field(default=())       # school groups reached


def _principals(session: Session):
    return session.execute(
        select(Person.id, Person.userid, Person.school_id, School.name)
        .join(School, Person.school_id == School.id)
        .where(Person.role == "principal", Person.active.is_(True), Person.userid.is_not(None))
        .order_by(School.name, Person.name)).all()


def _schools_in_use(session: Session) -> list[tuple[int, str]]:
    """The schools with anyone active on the roster, by name."""
    return [tuple(r) for r in session.execute(
        select(School.id, School.name)
        .where(exists().where(Person.school_id == School.id, Person.active.is_(True)))
        .order_by(School.name))]


def queue_notice(session: Session, config: Config, *, title: str, body: str,
                 audience: str = "principals", sent_by_id: int | None = None,
                 now: dt.datetime) -> QueuedNotice:
    """Stores the notice and its deliveries and queues its messages (caller's transaction).

    `audience`: "principals" (private texts), "groups" (the school groups of `[[groups]]`; a
    school without one gets it privately), "all" (both).
    """
    title, body = (title or "").strip(), (body or "").strip()
    problems = words.notice_problems(title, body)
    if audience not in words.AUDIENCES:
        problems.append(f"发送对象只能是 {'、'.join(words.AUDIENCES)}")
    if problems:
        raise NoticeError(problems)
    utc = to_utc(now)
    notice = Notice(title=title, body=body, audience=audience, sent_by_id=sent_by_id,
                    created_at=utc, groups="")
    session.add(notice)
    session.flush()
    sent_at = words.local(utc, config.tz)
    schools = dict((name, sid) for sid, name in _schools_in_use(session))
    group_keys = {g.scope: g.robot_key for g in config.groups
                  if g.scope != "bureau" and g.scope in schools}
    groups = tuple(sorted(group_keys)) if audience in ("groups", "all") else ()
    notice.groups = "|".join(groups)
    messages: list[Outgoing] = []
    texts = words.person_texts(notice.id, title, body, sent_at)
    principals = _principals(session)
    private = 0
    for person_id, userid, _school_id, school in principals:
        by_dm = audience in ("principals", "all") or school not in groups
        session.add(NoticeDelivery(notice_id=notice.id, person_id=person_id,
                                   school_id=_school_id, private=by_dm, queued_at=utc))
        if by_dm:
            private += 1
            messages += [Outgoing("person", userid, "text", t,
                                  f"notice:{notice.id}:person:{userid}:{k}")
                         for k, t in enumerate(texts, 1)]
    if groups:
        markdowns = words.group_markdowns(notice.id, title, body, sent_at)
        for scope in groups:
            messages += [Outgoing("group", group_keys[scope], "markdown", m,
                                  f"notice:{notice.id}:group:{scope}:{k}")
                         for k, m in enumerate(markdowns, 1)]
    session.flush()
    keys = enqueue(session, messages, source="notice", now=now)
    return QueuedNotice(notice.id, keys, len(principals), private, groups)


# ---------------------------------------------------------------------------- acknowledging

def _entry(notice: Notice, delivery: NoticeDelivery, tz) -> words.NoticeEntry:
    return words.NoticeEntry(notice.id, notice.title, notice.body,
                             words.local(notice.created_at, tz), words.local(delivery.acked_at, tz))


def acknowledge_oldest(session: Session, person_id: int, *, now: dt.datetime,
                       message_id: int | None, tz) -> tuple[words.NoticeEntry | None, int]:
    """Acknowledges the person's oldest unacknowledged notice; (it, how many are left open).

    (None, 0) when nothing waits: nothing changes.
    """
    utc = to_utc(now)
    while True:
        row = session.execute(
            select(NoticeDelivery, Notice).join(Notice, NoticeDelivery.notice_id == Notice.id)
            .where(NoticeDelivery.person_id == person_id, NoticeDelivery.acked_at.is_(None))
            .order_by(Notice.created_at, Notice.id).limit(1)).first()
        if row is None:
            return None, 0
        delivery, notice = row
        took = session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.id == delivery.id, NoticeDelivery.acked_at.is_(None))
            .values(acked_at=utc, ack_message_id=message_id)
            .execution_options(synchronize_session=False)).rowcount
        if took:
            break
        session.expire(delivery)        # another transaction acknowledged it first: the next
    session.refresh(delivery)
    left = len(session.scalars(select(NoticeDelivery.id).where(
        NoticeDelivery.person_id == person_id, NoticeDelivery.acked_at.is_(None))).all())
    return _entry(notice, delivery, tz), left


def notice_entries(session: Session, person_id: int, tz) -> list[words.NoticeEntry]:
    """The notices the person was sent, newest first."""
    rows = session.execute(
        select(Notice, NoticeDelivery).join(NoticeDelivery, NoticeDelivery.notice_id == Notice.id)
        .where(NoticeDelivery.person_id == person_id)
        .order_by(Notice.created_at.desc(), Notice.id.desc()))
    return [_entry(n, d, tz) for n, d in rows]


# ---------------------------------------------------------------------------- reminders

@dataclass(frozen=True)
class DueReminder:
    notice_id: int
    title: str
    sent_at: dt.datetime          # local
    userid: str


def claim_reminders(session: Session, *, now: dt.datetime, remind_after: dt.timedelta,
                    tz) -> list[DueReminder]:
    """Marks every delivery unacknowledged `remind_after` after its notice as reminded.

    Only active principals with a userid; each delivery is claimed once (a conditional
    UPDATE), so two schedulers overlapping claim it once between them.
    """
    utc = to_utc(now)
    rows = session.execute(
        select(NoticeDelivery.id, Notice.id, Notice.title, Notice.created_at, Person.userid)
        .join(Notice, NoticeDelivery.notice_id == Notice.id)
        .join(Person, NoticeDelivery.person_id == Person.id)
        .where(NoticeDelivery.acked_at.is_(None), NoticeDelivery.reminded_at.is_(None),
               Notice.created_at <= utc - remind_after, Person.active.is_(True),
               Person.userid.is_not(None))
        .order_by(Notice.id, NoticeDelivery.id)).all()
    due = []
    for delivery_id, notice_id, title, created_at, userid in rows:
        took = session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.id == delivery_id, NoticeDelivery.reminded_at.is_(None),
                   NoticeDelivery.acked_at.is_(None))
            .values(reminded_at=utc).execution_options(synchronize_session=False)).rowcount
        if took:
            due.append(DueReminder(notice_id, title, words.local(created_at, tz), userid))
    return due


# ---------------------------------------------------------------------------- status

def notice_summaries(session: Session, tz, notice_id: int | None = None,
                     limit: int = 50) -> list[words.NoticeSummary]:
    """Notices newest first (or the one `notice_id`), with every principal's delivery."""
    q = select(Notice).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)
    if notice_id is not None:
        q = select(Notice).where(Notice.id == notice_id)
    notices = list(session.scalars(q))
    if not notices:
        return []
    ids = [n.id for n in notices]
    by_notice: dict[int, list[words.DeliveryRow]] = {i: [] for i in ids}
    for d, name, userid, school in session.execute(
            select(NoticeDelivery, Person.name, Person.userid, School.name)
            .join(Person, NoticeDelivery.person_id == Person.id)
            .outerjoin(School, NoticeDelivery.school_id == School.id)
            .where(NoticeDelivery.notice_id.in_(ids))
            .order_by(School.name, Person.name)):
        by_notice[d.notice_id].append(words.DeliveryRow(
            school, name, userid, d.private, words.local(d.queued_at, tz),
            words.local(d.reminded_at, tz), words.local(d.acked_at, tz)))
    senders = dict(session.execute(select(Person.id, Person.name).where(
        Person.id.in_([n.sent_by_id for n in notices if n.sent_by_id]))).all())
    return [words.NoticeSummary(
        n.id, n.title, n.audience, tuple(g for g in n.groups.split("|") if g),
        words.local(n.created_at, tz), senders.get(n.sent_by_id), tuple(by_notice[n.id]))
        for n in notices]


def pending_acknowledgements(session: Session, tz, *,
                             since: dt.datetime | None = None) -> list[words.PendingNotice]:
    """For the bureau digest: each notice (sent after `since`, if given) that some school has
    not acknowledged (no principal of it has), oldest first."""
    out = []
    for n in reversed(notice_summaries(session, tz, limit=200)):
        if since is not None and n.sent_at < words.local(to_utc(since), tz):
            continue
        schools: dict[str, bool] = {}
        for d in n.deliveries:
            key = d.school or d.name
            schools[key] = schools.get(key, False) or d.acked_at is not None
        waiting = tuple(sorted(s for s, acked in schools.items() if not acked))
        if waiting:
            out.append(words.PendingNotice(n.id, n.title, waiting, len(schools)))
    return out


# ---------------------------------------------------------------------------- the checklist

def current_marks(session: Session, school_id: int, tz) -> dict[str, words.Mark]:
    rows = session.execute(
        select(ChecklistMark, Person.name)
        .outerjoin(Person, ChecklistMark.marked_by_id == Person.id)
        .where(ChecklistMark.school_id == school_id, ChecklistMark.replaced_at.is_(None)))
    return {m.item: words.Mark(m.item, m.done, name, words.local(m.created_at, tz))
            for m, name in rows}


def mark_items(session: Session, school_id: int, items: list[str], *, done: bool,
               person_id: int | None, message_id: int | None,
               now: dt.datetime) -> tuple[list[str], list[str]]:
    """Marks each item done (or not); returns (changed, already so). History is kept."""
    utc = to_utc(now)
    changed, unchanged = [], []
    for item in items:
        current = session.scalar(select(ChecklistMark).where(
            ChecklistMark.school_id == school_id, ChecklistMark.item == item,
            ChecklistMark.replaced_at.is_(None)))
        if (current.done if current is not None else False) == done:
            unchanged.append(item)
            continue
        if current is not None:
            current.replaced_at = utc
            session.flush()
        session.add(ChecklistMark(school_id=school_id, item=item, done=done,
                                  marked_by_id=person_id, message_id=message_id, created_at=utc))
        session.flush()
        changed.append(item)
    return changed, unchanged


def mark_history(session: Session, school_id: int, item: str) -> list[ChecklistMark]:
    """Every mark of one item at one school, oldest first."""
    return list(session.scalars(select(ChecklistMark).where(
        ChecklistMark.school_id == school_id, ChecklistMark.item == item)
        .order_by(ChecklistMark.created_at, ChecklistMark.id)))


def checklist_table(session: Session, tz) -> list[tuple[str, dict[str, words.Mark]]]:
    """Every school in use, by name, with its current marks."""
    by_school: dict[int, dict[str, words.Mark]] = {}
    for m, name in session.execute(
            select(ChecklistMark, Person.name)
            .outerjoin(Person, ChecklistMark.marked_by_id == Person.id)
            .where(ChecklistMark.replaced_at.is_(None))):
        by_school.setdefault(m.school_id, {})[m.item] = words.Mark(
            m.item, m.done, name, words.local(m.created_at, tz))
    return [(name, by_school.get(sid, {})) for sid, name in _schools_in_use(session)]


def checklist_finished(session: Session, items: tuple[str, ...]) -> tuple[int, int]:
    """For the bureau digest: (schools with every item done, schools in use)."""
    schools = _schools_in_use(session)
    if not items:
        return 0, len(schools)
    done: dict[int, set[str]] = {}
    for school_id, item in session.execute(
            select(ChecklistMark.school_id, ChecklistMark.item)
            .where(ChecklistMark.replaced_at.is_(None), ChecklistMark.done.is_(True))):
        done.setdefault(school_id, set()).add(item)
    need = set(items)
    return sum(1 for sid, _n in schools if need <= done.get(sid, set())), len(schools)
