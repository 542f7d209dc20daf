"""Alerts the moment a report is recorded: fevers and symptoms, and clusters in a class.

`FeverAlerts(config)` is an Inbox hook: `on_recorded(session, event)` runs inside the very
transaction that stores the records, and queues its messages in the outbox there, so an alert
exists exactly when the record does (and the outbox worker sends it within seconds).

- A reading at or above the fever threshold, or with any symptom, sends the school's
  principal(s) a private message with name, class, temperature and symptoms. The dedupe key
  is the person, day, check and the reading itself: the same abnormal reading reported again
  alerts once; a correction to a normal reading sends nothing; a different abnormal reading
  is news and alerts again.
- A cluster: 3 or more people of one class with fever, or with the same symptom, on one day
  (a class summary stating 发热3 or more counts too), or more than 5 abnormal people in one
  class over 3 days. It alerts the principal(s), the bureau people (privately) and the bureau
  group once: no second cluster alert for that class within 3 days of one already queued.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from handlers.outgoing import Outgoing
from handlers.parser import SYMPTOM_NAMES
from scheduler.jobs import check_label, day_label
from scheduler.outbox import enqueue, split_userids
from storage.models import ClassReport, HealthRecord, OutboxMessage, Person, School
from storage.records import CURRENT_CLASS, CURRENT_RECORD

log = logging.getLogger(__name__)

CLUSTER_SAME_DAY = 3          # people with fever / the same symptom in one class on one day
CLUSTER_WINDOW_DAYS = 3
CLUSTER_WINDOW_MORE_THAN = 5  # abnormal people in one class over the window
REPORT_RULE = "根据学校传染病报告制度，须在24小时内报告"

def symptom_name(code: str) -> str:
    return SYMPTOM_NAMES.get(code, code)


class FeverAlerts:
    """Inbox hook: queues fever/symptom and cluster alerts in the recording transaction."""

    def __init__(self, config: Config):
        self.config = config

    # -- the hook ------------------------------------------------------------------------
    def on_recorded(self, session: Session, event) -> None:
        messages: list[Outgoing] = []
        touched: set[tuple[int, str]] = set()
        for _draft, new, old in event.records:
            if not self.is_abnormal(new):
                continue
            person = new.person or session.get(Person, new.person_id)
            if person is None or person.school_id is None:
                continue
            messages += self.fever_messages(session, event, person, new, old)
            if person.class_name:
                touched.add((person.school_id, person.class_name))
        if event.class_report is not None:
            c, _old = event.class_report
            if (c.fever or 0) >= CLUSTER_SAME_DAY:
                touched.add((c.school_id, c.class_name))
        if messages:
            enqueue(session, messages, source="alert", now=event.now)
        for school_id, class_name in sorted(touched):
            cluster = self.cluster_messages(session, event.day, school_id, class_name)
            if cluster:
                enqueue(session, cluster, source="cluster", now=event.now)

    def is_abnormal(self, record: HealthRecord) -> bool:
        hot = record.temperature is not None and record.temperature >= self.config.fever_threshold
        return bool(record.abnormal or hot or record.symptom_list)

    # -- one person's abnormal reading ---------------------------------------------------
    def fever_messages(self, session: Session, event, person: Person, record: HealthRecord,
                       old: HealthRecord | None) -> list[Outgoing]:
        principals = _principals(session, person.school_id)
        if not principals:
            log.warning("abnormal reading of person %s but school %s has no principal with a "
                        "userid; no alert sent", person.id, person.school_id)
            return []
        reading = self.reading_text(record)
        where = person.class_name or "教职工"
        label = check_label(record.check)
        lines = [f"【体温异常】{day_label(record.day)} {label}",
                 f"{person.school_name} {where} {person.name}",
                 reading]
        reporter = event.reporter
        if reporter is not None and reporter.id != person.id:
            lines.append(f"报告人：{reporter.name}")
        if old is not None and self.is_abnormal(old):
            lines[0] += "（更正）"
        lines.append("请跟进：就医或居家观察，明日继续报告。")
        digest = hashlib.sha1(
            f"{record.temperature}|{','.join(sorted(record.symptom_list))}".encode()
        ).hexdigest()[:12]
        key = f"fever:{record.day}:{record.check}:{person.id}:{digest}"
        return [Outgoing("person", "|".join(batch), "text", "\n".join(lines), f"{key}:{i}")
                for i, batch in enumerate(split_userids(principals))]

    def reading_text(self, record: HealthRecord) -> str:
        parts = []
        if record.temperature is not None:
            parts.append(f"体温{record.temperature:.1f}℃")
        symptoms = record.symptom_list
        hot = record.temperature is not None and record.temperature >= self.config.fever_threshold
        if hot and "fever" not in symptoms:
            symptoms = ["fever", *symptoms]
        if symptoms:
            parts.append("症状：" + "、".join(symptom_name(s) for s in symptoms))
        return "，".join(parts) or "异常"

    # -- clusters ------------------------------------------------------------------------
    def cluster_messages(self, session: Session, day: dt.date, school_id: int,
                         class_name: str) -> list[Outgoing]:
        prefix = f"cluster:{school_id}:{class_name}:"
        window = [day + dt.timedelta(days=d) for d in range(-(CLUSTER_WINDOW_DAYS - 1),
                                                             CLUSTER_WINDOW_DAYS)]
        earlier = session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.dedupe_key.in_([f"{prefix}{d}:{who}" for d in window
                                          for who in ("principal", "bureau", "bureau-group")])
        ).limit(1))
        if earlier is not None:
            return []
        finding = self.find_cluster(session, day, school_id, class_name)
        if finding is None:
            return []
        school = session.get(School, school_id)
        school_name = school.name if school else str(school_id)
        head = f"【聚集性疫情预警】{day_label(day)}\n{school_name} {class_name}"
        names = "、".join(finding["names"][:30]) + (
            f"等{len(finding['names'])}人" if len(finding["names"]) > 30 else "")
        rule = f"{REPORT_RULE}。"
        out = []
        principals = _principals(session, school_id)
        if principals:
            body = "\n".join([head, finding["summary"], f"名单：{names}" if names else "",
                              rule + "请立即核实并上报教育局。"]).replace("\n\n", "\n")
            out += [Outgoing("person", "|".join(b), "text", body, f"{prefix}{day}:principal:{i}"
                             if i else f"{prefix}{day}:principal")
                    for i, b in enumerate(split_userids(principals))]
        bureau = sorted(session.scalars(select(Person.userid).where(
            Person.role == "bureau", Person.active.is_(True), Person.userid.is_not(None))))
        if bureau:
            body = "\n".join([head, finding["summary"], f"名单：{names}" if names else "",
                              rule + "请督促学校处置。"]).replace("\n\n", "\n")
            out += [Outgoing("person", "|".join(b), "text", body, f"{prefix}{day}:bureau:{i}"
                             if i else f"{prefix}{day}:bureau")
                    for i, b in enumerate(split_userids(bureau))]
        group = self.config.group_for("bureau")
        if group is not None:
            body = "\n".join([head, finding["summary"], rule])     # a group sees no names
            out.append(Outgoing("group", group.robot_key, "text", body,
                                f"{prefix}{day}:bureau-group"))
        if not out:
            log.warning("cluster in %s %s but nobody to alert", school_name, class_name)
        return out

    def find_cluster(self, session: Session, day: dt.date, school_id: int, class_name: str):
        """The cluster in this class around `day`, as {"summary", "names"}, or None."""
        start = day - dt.timedelta(days=CLUSTER_WINDOW_DAYS - 1)
        rows = session.execute(
            select(HealthRecord, Person).join(Person, HealthRecord.person_id == Person.id)
            .where(Person.school_id == school_id, Person.class_name == class_name,
                   HealthRecord.day >= start, HealthRecord.day <= day, *CURRENT_RECORD)).all()
        threshold = self.config.fever_threshold
        today_fever: dict[int, str] = {}
        today_symptom: dict[str, dict[int, str]] = defaultdict(dict)
        window_abnormal: dict[int, str] = {}
        for rec, person in rows:
            if not self.is_abnormal(rec):
                continue
            window_abnormal[person.id] = person.name
            if rec.day != day:
                continue
            symptoms = set(rec.symptom_list)
            if "fever" in symptoms or (rec.temperature is not None and rec.temperature >= threshold):
                today_fever[person.id] = person.name
            for s in symptoms - {"fever"}:
                today_symptom[s][person.id] = person.name
        stated = max([c.fever or 0 for c in session.scalars(select(ClassReport).where(
            ClassReport.school_id == school_id, ClassReport.class_name == class_name,
            ClassReport.day == day, *CURRENT_CLASS))] or [0])
        if max(len(today_fever), stated) >= CLUSTER_SAME_DAY:
            n = max(len(today_fever), stated)
            return {"summary": f"今日发热{n}人", "names": sorted(today_fever.values())}
        for s, people in sorted(today_symptom.items(), key=lambda kv: -len(kv[1])):
            if len(people) >= CLUSTER_SAME_DAY:
                return {"summary": f"今日{symptom_name(s)}{len(people)}人",
                        "names": sorted(people.values())}
        if len(window_abnormal) > CLUSTER_WINDOW_MORE_THAN:
            return {"summary": f"近{CLUSTER_WINDOW_DAYS}天发热或有症状{len(window_abnormal)}人",
                    "names": sorted(window_abnormal.values())}
        return None


def _principals(session: Session, school_id: int) -> list[str]:
    return sorted(session.scalars(select(Person.userid).where(
        Person.school_id == school_id, Person.role == "principal", Person.active.is_(True),
        Person.userid.is_not(None))))
