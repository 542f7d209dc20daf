"""What happens to one inbound message: stored once, read, recorded, answered.

Everything for one message is one database transaction: the message row (unique `msg_key`, so
WeCom's retries and races between workers collapse into one), the records it makes, the reply
it got and any alerts it queues. A delivery of a message already stored gets the stored reply.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.commands import CommandContext, answer_command
from bot.topics import TopicContext, answer_chatter, answer_topic
from handlers.config import Config
from handlers import followup, replies
from handlers.clock import to_utc
from handlers.outgoing import Outgoing
from handlers.conversation import Decision, Sender, decide
from handlers.parser import parse, reads_at_once
from storage import records as store
from storage.models import InboundMessage, Person, School
from storage.outbox_queue import enqueue
from storage.scope import load_names, load_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    channel: str                 # "callback" (private chat with the app) | "aibot" (group @-mention)
    msg_key: str                 # "msg:<MsgId>" or "event:<sender>:<CreateTime>:<event>"
    sender: str | None
    msg_type: str                # "text", "image", "event", ...
    content: str | None
    body: str                    # the decrypted message as received
    chat_id: str | None = None
    in_group: bool = False
    addressed: bool = True       # meant for the bot (private chat, or an @-mention)


@dataclass(frozen=True)
class Answer:
    reply: str | None
    outcome: str
    duplicate: bool = False


class Inbox:
    def __init__(self, config: Config, sessions: sessionmaker[Session],
                 clock: Callable[[], dt.datetime] | None = None, hooks=None):
        self.config = config
        self.sessions = sessions
        self.clock = clock or config.now
        # Objects with `on_recorded(session, context)`: alerts that must be queued in the
        # same transaction as the records they report on (see scheduler.alerts).
        self.hooks = list(hooks or [])

    RACE_ATTEMPTS = 8

    def receive(self, inbound: Inbound) -> Answer:
        for attempt in range(self.RACE_ATTEMPTS):
            try:
                return self._receive_once(inbound)
            except _Duplicate:
                return self._stored_answer(inbound.msg_key)
            except IntegrityError:
                # Another worker recorded the same person at the same moment: the whole
                # transaction rolled back; read the committed state again and redo it.
                if attempt == self.RACE_ATTEMPTS - 1:
                    raise
                log.info("record race on %s, retrying", inbound.msg_key)
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise AssertionError("unreachable")

    def _stored_answer(self, msg_key: str) -> Answer:
        with self.sessions() as s:
            row = s.scalar(select(InboundMessage).where(InboundMessage.msg_key == msg_key))
            if row is None:  # pragma: no cover - the unique key said it exists
                return Answer(None, "received", duplicate=True)
            return Answer(row.reply, row.outcome, duplicate=True)

    def _receive_once(self, inbound: Inbound) -> Answer:
        now = self.clock()
        with self.sessions() as s, s.begin():
            # Plain statements, not ORM objects: this is the path every message takes.
            conn = s.connection()
            try:
                msg_id = conn.execute(_INSERT_MESSAGE, {
                    "channel": inbound.channel, "msg_key": inbound.msg_key,
                    "sender": inbound.sender, "chat_id": inbound.chat_id,
                    "msg_type": inbound.msg_type, "content": inbound.content,
                    "body": inbound.body, "received_at": to_utc(now)}).scalar_one()
            except IntegrityError:
                raise _Duplicate() from None
            reply, outcome = self._handle(s, msg_id, inbound, now)
            conn.execute(_ANSWER_MESSAGE, {"msg_id": msg_id, "new_reply": reply, "new_outcome": outcome})
        return Answer(reply, outcome)

    def _handle(self, s: Session, msg_id: int, inbound: Inbound, now: dt.datetime):
        if inbound.msg_type == "event":
            return None, "event"
        if inbound.msg_type != "text" or not inbound.sender:
            return (replies.non_text_hint() if inbound.addressed else None), "ignored"
        person = s.connection().execute(_SENDER, {"sender_userid": inbound.sender}).first()
        if person is None:
            return (replies.unknown_sender() if inbound.addressed else None), "unknown_sender"
        if not person.active:
            return (replies.inactive_sender() if inbound.addressed else None), "inactive_sender"
        sender = Sender(person.id, person.userid, person.name, person.role,
                        person.school_name, person.class_name)
        today = now.astimezone(self.config.tz).date()
        text = inbound.content or ""
        names = None
        if person.role in ("head_teacher", "principal") and not reads_at_once(text):
            # The school's names, so that a roster name is read as a name wherever it stands
            # (Tom, 胡 杰, 扎西); the common `36.5` is read without them.
            names = load_names(s, person.school_id)
        result = parse(text, today, self.config.fever_threshold, names=names)
        if result.kind in ("report", "invalid", "other") and not inbound.addressed:
            # In a group, a report counts only when the bot is @-mentioned.
            return None, "ignored"
        if result.kind in ("other", "unrecognized") and inbound.addressed:
            ctx = TopicContext(s, self.config, s.get(Person, person.id), result,
                               inbound.content or "", now.astimezone(self.config.tz), today,
                               inbound.in_group, msg_id, inbound.chat_id)
            if result.kind == "other":
                return answer_topic(ctx), "other"
            reply = answer_chatter(ctx)
            if reply is not None:
                return reply, "other"
        scope = _ScopeOnDemand(s, person) if result.kind == "report" else None
        decision = decide(result, sender, scope, addressed=inbound.addressed, in_group=inbound.in_group,
                          text=text)
        if decision.outcome == "command":
            check = self.check_for(None, today, now)
            ctx = CommandContext(s, self.config, s.get(Person, person.id), now, check,
                                 in_group=inbound.in_group, msg_id=msg_id, hooks=tuple(self.hooks))
            return answer_command(ctx, decision.command), "command"
        if decision.outcome != "recorded":
            return decision.reply, decision.outcome
        return self._record(s, msg_id, person, decision, now, inbound), "recorded"

    def _record(self, s: Session, msg_id: int, person, decision: Decision,
                now: dt.datetime, inbound: Inbound) -> str:
        check = self.check_for(decision.session, decision.day, now)
        utc_now = to_utc(now)
        saved, returned = [], []
        back = followup.says_returned(inbound.content or "")
        for draft in decision.records:
            if back and _only_named(draft):
                # `张三 返校`: closes the follow-up; the day's health record stays as it is
                store.close_followup(s, person_id=draft.person_id, day=decision.day,
                                     closed_by_id=person.id, message_id=msg_id, now=utc_now)
                returned.append(draft.name)
                continue
            new, old = store.save_record(
                s, person_id=draft.person_id, day=decision.day, check=check,
                temperature=draft.temperature, symptoms=draft.symptoms, abnormal=draft.abnormal,
                reported_by_id=person.id, message_id=msg_id, now=utc_now,
                absent=draft.absent)
            saved.append((draft, new, old))
        if returned and not saved and decision.class_report is None:
            names = [replies.mask(n) if inbound.in_group else n for n in returned]
            return followup.closed_reply(names)
        class_saved = None
        if decision.class_report is not None:
            c = decision.class_report.summary
            new, old = store.save_class_report(
                s, school_id=person.school_id, class_name=decision.class_report.class_name,
                day=decision.day, check=check, expected=c.expected, present=c.present,
                absent=c.absent, sick_absent=c.sick_absent, fever=c.fever,
                reported_by_id=person.id, message_id=msg_id, now=utc_now)
            class_saved = (new, old)
        for hook in self.hooks:
            hook.on_recorded(s, RecordedEvent(person, decision.day, check, saved, class_saved, now))
        reply = compose_recorded_reply(self.config, decision.day, check, saved, class_saved,
                                       in_group=inbound.in_group, sender=person, decision=decision)
        if returned:
            reply += "\n" + followup.closed_reply(
                [replies.mask(n) if inbound.in_group else n for n in returned])
        if inbound.in_group and person.userid and any(not d.is_sender for d, _n, _o in saved):
            # the details the group did not see go to the sender privately
            full = compose_recorded_reply(self.config, decision.day, check, saved, class_saved,
                                          in_group=False, sender=person, decision=decision)
            enqueue(s, [Outgoing("person", person.userid, "text", part, f"reply:{msg_id}:{i}")
                        for i, part in enumerate(replies.private_parts(full))],
                    source="reply", now=now)
        return reply

    def check_for(self, session_word: str | None, day: dt.date, now: dt.datetime) -> str:
        """The check a report belongs to: the one it names, else the one open at `now`."""
        names = [c.name for c in self.config.checks]
        if session_word in names:
            return session_word
        local = now.astimezone(self.config.tz)
        if day != local.date():
            return names[0]
        current = names[0]
        for c in self.config.checks:
            if local.time() >= c.opens:
                current = c.name
        return current


@dataclass(frozen=True)
class RecordedEvent:
    reporter: object         # the sender's row: id, userid, name, role, school_id, school_name …
    day: dt.date
    check: str
    records: list            # [(RecordDraft, new HealthRecord, replaced HealthRecord | None)]
    class_report: tuple | None
    now: dt.datetime


def compose_recorded_reply(config: Config, day, check, saved, class_saved, *, in_group: bool,
                           sender, decision: Decision | None = None) -> str:
    check_text = replies.check_label(check, config.checks[0].name)
    threshold = config.fever_threshold
    if decision is not None and decision.listed:
        return _list_reply(config, day, check_text, saved, decision, in_group=in_group)
    lines = []
    if len(saved) == 1 and saved[0][0].is_sender and class_saved is None:
        draft, _new, old = saved[0]
        return replies.recorded_self(day, check_text, draft.temperature, draft.symptoms,
                                     draft.abnormal, threshold, replaced=old is not None)
    if class_saved is not None and not saved:
        c, old = class_saved
        line = replies.class_line(c.class_name, c.expected, c.present, c.absent, c.sick_absent, c.fever)
        return (f"已记录：{replies.day_label(day)}{' ' + check_text if check_text else ''} {line}"
                + ("（已更正此前的报告）" if old else ""))
    if class_saved is not None:
        c, old = class_saved
        lines.append(replies.class_line(c.class_name, c.expected, c.present, c.absent,
                                        c.sick_absent, c.fever) + ("（已更正）" if old else ""))
    any_abnormal = False
    for draft, _new, old in saved:
        any_abnormal |= draft.abnormal
        name = draft.name
        if in_group and not draft.is_sender:
            # a group sees that someone else was recorded, never their reading
            name = replies.mask(name)
            detail = "异常（详情已私信）" if draft.abnormal else "已记录"
        else:
            detail = replies.reading_text(draft.temperature, draft.symptoms, draft.abnormal,
                                          threshold)
        lines.append(f"{name} {detail}" + ("（已更正）" if old else ""))
    return replies.recorded_many(day, check_text, lines, any_abnormal)


def _list_reply(config: Config, day, check_text: str, saved, decision: Decision, *,
                in_group: bool) -> str:
    """A 接龙 or numbered list: how many were recorded and whom, who is abnormal, the lines not
    understood, the names not recorded and the class's students the list leaves out. In a group
    other people's names are masked and their readings stay private."""
    threshold = config.fever_threshold
    names, abnormal = [], []
    for draft, _new, _old in saved:
        shown = draft.name if draft.is_sender or not in_group else replies.mask(draft.name)
        names.append(shown + ("（本人）" if draft.is_sender else ""))
        if draft.abnormal:
            if in_group and not draft.is_sender:
                abnormal.append(f"{shown} 异常（详情已私信）")
            else:
                abnormal.append(f"{shown} " + replies.reading_text(
                    draft.temperature, draft.symptoms, draft.abnormal, threshold))
    return replies.recorded_list(
        day, check_text, names, abnormal,
        unread=() if in_group else decision.unread, unread_count=len(decision.unread),
        problems=() if in_group else decision.problems, problem_count=len(decision.problems),
        missing=[replies.mask(n) if in_group else n for n in decision.missing])


def _only_named(draft) -> bool:
    """A student named without any reading (张三 返校)."""
    return (not draft.is_sender and draft.temperature is None and not draft.symptoms
            and not draft.abnormal)


_INSERT_MESSAGE = insert(InboundMessage).returning(InboundMessage.id)
# The sender as a plain row (id, userid, name, role, active, school_id, school_name,
# class_name): every message reads it; commands load the full Person when they need it.
_SENDER = (select(Person.id, Person.userid, Person.name, Person.role, Person.active,
                  Person.school_id, School.name.label("school_name"), Person.class_name)
           .outerjoin(School, Person.school_id == School.id)
           .where(Person.userid == bindparam("sender_userid")))
_ANSWER_MESSAGE = (update(InboundMessage).where(InboundMessage.id == bindparam("msg_id"))
                   .values(reply=bindparam("new_reply"), outcome=bindparam("new_outcome")))


class _Duplicate(Exception):
    pass


class _ScopeOnDemand:
    """The sender's `Scope`, read from the database only when `decide` looks at it.

    Most messages are the sender's own temperature or their class summary and name no one
    else; reading the whole school for each of them (a thousand people in a real school) was
    most of a message's time.
    """

    def __init__(self, session: Session, person):
        self._session, self._person, self._scope = session, person, None

    def __getattr__(self, name):
        if self._scope is None:
            self._scope = load_scope(self._session, self._person)
        return getattr(self._scope, name)
