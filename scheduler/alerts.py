"""Alerts the moment a report is recorded: fevers and symptoms, and clusters in a class.

`FeverAlerts(config)` is an Inbox hook: `on_recorded(session, event)` runs inside the very
transaction that stores the records, and queues its messages in the outbox there, so an alert
exists exactly when the record does (and the outbox worker sends it within seconds).

- A reading at or above the fever threshold, or with any symptom, sends the school's
  principal(s) a private message with name, class, temperature and symptoms. The dedupe key
  is the person, day, check and the reading itself: the same abnormal reading reported again
  alerts once; a correction to a normal reading sends nothing; a different abnormal reading
  is news and alerts again.
  The school's liaisons (责任到人) get the same alert.
- A cluster: 3 or more people of one class with fever, or with the same symptom, on one day
  (a class summary stating 发热3 or more counts too), or more than 5 abnormal people in one
  class over 3 days. It alerts the principal(s), the school's liaisons (every bureau person
  where it has none) privately and the bureau group once: no second cluster alert for that
  class within 3 days of one already queued.
- A retraction: when a reading that raised a fever alert is corrected to normal or undone,
  everyone who received that alert (and the private cluster alert that named the person) gets
  a short private correction, once per alert.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging

from sqlalchemy.orm import Session

from handlers.config import Config
from handlers import alert_text, clusters
from handlers.health import is_abnormal
from handlers.outgoing import Outgoing
from storage import alert_queries as q
from storage.models import HealthRecord, Person, School
from storage.outbox_queue import enqueue, split_userids
from storage.recipients import liaisons, principals, school_officers

log = logging.getLogger(__name__)



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
        self.retract(session, [old for _d, new, old in event.records
                               if old is not None and not self.is_abnormal(new)
                               and self.is_abnormal(old)], event.now)
        if event.class_report is not None:
            c, _old = event.class_report
            if (c.fever or 0) >= clusters.SAME_DAY:
                touched.add((c.school_id, c.class_name))
        if messages:
            enqueue(session, messages, source="alert", now=event.now)
        for school_id, class_name in sorted(touched):
            cluster = self.cluster_messages(session, event.day, school_id, class_name)
            if cluster:
                enqueue(session, cluster, source="cluster", now=event.now)

    def on_revoked(self, session: Session, rows: list[HealthRecord], now) -> None:
        """撤销 took these records back: retract the alerts their abnormal readings raised."""
        self.retract(session, [r for r in rows if self.is_abnormal(r)], now)

    def is_abnormal(self, record: HealthRecord) -> bool:
        return is_abnormal(record.temperature, record.symptom_list, self.config.fever_threshold)

    # -- retractions ---------------------------------------------------------------------
    def retract(self, session: Session, withdrawn: list[HealthRecord], now) -> None:
        """A private 【更正】 to whoever got an alert about a reading now corrected or undone."""
        messages = []
        for old in withdrawn:
            person = old.person or session.get(Person, old.person_id)
            current = q.current_reading(session, old.person_id, old.day, old.check)
            if current is not None and self.is_abnormal(current):
                continue             # still abnormal: the new alert (if any) tells the story
            alerted = q.alerts_about(session, person, old.person_id, old.day, old.check)
            if not alerted:
                continue
            text = alert_text.retraction(person.name if person else "", old.day,
                                         None if current is None else current.temperature,
                                         undone=current is None)
            told: set[str] = set()
            for row_id, target in alerted:          # one correction per person alarmed
                if target in told:
                    continue
                told.add(target)
                messages.append(Outgoing("person", target, "text", text, f"retract:{row_id}"))
        if messages:
            enqueue(session, messages, source="retraction", now=now)

    # -- one person's abnormal reading ---------------------------------------------------
    def fever_messages(self, session: Session, event, person: Person, record: HealthRecord,
                       old: HealthRecord | None) -> list[Outgoing]:
        to = principals(session, person.school_id) + liaisons(session, person.school_id)
        if not to:
            log.warning("abnormal reading of person %s but school %s has no principal with a "
                        "userid; no alert sent", person.id, person.school_id)
            return []
        reporter = event.reporter
        text = alert_text.fever_alert(
            day=record.day, check=record.check, school=person.school_name or "",
            where=person.class_name or "教职工", name=person.name,
            temperature=record.temperature, symptoms=record.symptom_list,
            threshold=self.config.fever_threshold,
            reporter=reporter.name if reporter is not None and reporter.id != person.id else None,
            corrected=old is not None and self.is_abnormal(old))
        digest = hashlib.sha1(
            f"{record.temperature}|{','.join(sorted(record.symptom_list))}".encode()
        ).hexdigest()[:12]
        key = f"fever:{record.day}:{record.check}:{person.id}:{digest}"
        return [Outgoing("person", "|".join(batch), "text", text, f"{key}:{i}")
                for i, batch in enumerate(split_userids(to))]

    # -- clusters ------------------------------------------------------------------------
    def cluster_messages(self, session: Session, day: dt.date, school_id: int,
                         class_name: str) -> list[Outgoing]:
        prefix = f"cluster:{school_id}:{class_name}:"
        window = [day + dt.timedelta(days=d) for d in range(-(clusters.WINDOW_DAYS - 1),
                                                             clusters.WINDOW_DAYS)]
        if q.any_queued(session, [f"{prefix}{d}:{who}" for d in window
                                  for who in ("principal", "bureau", "bureau-group")]):
            return []
        finding = clusters.find_cluster(
            q.class_readings(session, school_id, class_name, clusters.window_start(day), day),
            day, self.config.fever_threshold,
            q.stated_class_fever(session, school_id, class_name, day))
        if finding is None:
            return []
        school = session.get(School, school_id)
        school_name = school.name if school else str(school_id)
        out = []
        heads = principals(session, school_id)
        if heads:
            body = alert_text.cluster_alert(day, school_name, class_name, finding.summary,
                                            finding.names, audience="principal")
            out += [Outgoing("person", "|".join(b), "text", body, f"{prefix}{day}:principal:{i}"
                             if i else f"{prefix}{day}:principal")
                    for i, b in enumerate(split_userids(heads))]
        officers = school_officers(session, school_id)
        if officers:
            body = alert_text.cluster_alert(day, school_name, class_name, finding.summary,
                                            finding.names, audience="bureau")
            out += [Outgoing("person", "|".join(b), "text", body, f"{prefix}{day}:bureau:{i}"
                             if i else f"{prefix}{day}:bureau")
                    for i, b in enumerate(split_userids(officers))]
        group = self.config.group_for("bureau")
        if group is not None:                                    # a group sees no names
            body = alert_text.cluster_alert(day, school_name, class_name, finding.summary,
                                            (), audience="group")
            out.append(Outgoing("group", group.robot_key, "text", body,
                                f"{prefix}{day}:bureau-group"))
        if not out:
            log.warning("cluster in %s %s but nobody to alert", school_name, class_name)
        return out
