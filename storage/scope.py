"""Loads whom a sender may report for, as the plain `handlers.conversation.Scope`, and the
roster names the parser reads a head teacher's or principal's message with."""
from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from handlers.conversation import Candidate, Scope
from handlers.names import canonical_class, clean_name
from storage.models import Person

# One column of one school: a thousand names read in about a millisecond, no ORM objects.
_SCHOOL_NAMES = (select(Person.name)
                 .where(Person.school_id == bindparam("school_id"), Person.active.is_(True)))


def load_names(session: Session, school_id: int | None) -> frozenset[str]:
    """The names of the school's active people, as the roster spells them without padding."""
    if school_id is None:
        return frozenset()
    rows = session.connection().execute(_SCHOOL_NAMES, {"school_id": school_id}).all()
    return frozenset(clean_name(n) for (n,) in rows if n)


# The school's people as plain rows: a school of thousands is read in milliseconds.
_SCHOOL_PEOPLE = (select(Person.id, Person.name, Person.class_name, Person.role)
                  .where(Person.school_id == bindparam("school_id"), Person.active.is_(True)))


def load_scope(session: Session, person) -> Scope:
    """`person`: the sender (a row with id, school_id, role, class_name)."""
    if person.school_id is None:
        return Scope()
    school_people = [Candidate(*row) for row in session.connection().execute(
        _SCHOOL_PEOPLE, {"school_id": person.school_id}).all()]
    by_name: dict[str, list[Candidate]] = {}
    for p in school_people:
        by_name.setdefault(clean_name(p.name), []).append(p)
    classes = frozenset(p.class_name for p in school_people if p.class_name)
    reportable: dict[str, Candidate] = {}
    if person.role == "head_teacher":
        mine = {c for c in classes if _same_class(c, person.class_name)}   # a few distinct names
        for p in school_people:
            if p.role == "student" and p.class_name in mine:
                reportable[clean_name(p.name)] = p
    elif person.role == "principal":
        for name, cands in by_name.items():
            if len(cands) == 1:         # an ambiguous name must be reported by its head teacher
                reportable[name] = cands[0]
    return Scope(reportable=reportable, school_people=by_name, school_classes=classes)


def _same_class(a: str | None, b: str | None) -> bool:
    return bool(a and b) and canonical_class(a) == canonical_class(b)
