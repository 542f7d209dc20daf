"""Loads whom a sender may report for, as the plain `handlers.conversation.Scope`."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.conversation import Candidate, Scope
from storage.models import Person


def load_scope(session: Session, person: Person) -> Scope:
    if person.school_id is None:
        return Scope()
    school_people = list(session.scalars(select(Person).where(
        Person.school_id == person.school_id, Person.active.is_(True))))
    by_name: dict[str, list[Candidate]] = {}
    for p in school_people:
        by_name.setdefault(p.name, []).append(Candidate(p.id, p.name, p.class_name, p.role))
    classes = frozenset(p.class_name for p in school_people if p.class_name)
    reportable: dict[str, Candidate] = {}
    if person.role == "head_teacher":
        for p in school_people:
            if p.role == "student" and p.class_name == person.class_name:
                reportable[p.name] = Candidate(p.id, p.name, p.class_name, p.role)
    elif person.role == "principal":
        for name, cands in by_name.items():
            if len(cands) == 1:         # an ambiguous name must be reported by its head teacher
                reportable[name] = cands[0]
    return Scope(reportable=reportable, school_people=by_name, school_classes=classes)
