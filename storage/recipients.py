"""Who hears about a school: its principals and its liaisons (责任到人), in one place.

- `principals(session, school_id)`: the userids of the school's active principals.
- `liaisons(session, school_id)`: the active bureau people who answer for the school (the
  roster's `schools` column).
- `school_officers(session, school_id)`: the liaisons, or every active bureau person with a
  userid when the school has none: who gets a school's cluster, low-stock and early-warning
  alerts beside its principals.
- `liaison_schools(session, person_id)`: the school ids a bureau person answers for.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import LiaisonSchool, Person, School


# The rule, once: who is a school's principal / a bureau person that messages can reach.
_PRINCIPAL = (Person.role == "principal", Person.active.is_(True), Person.userid.is_not(None))


def principals(session: Session, school_id: int) -> list[str]:
    return sorted(session.scalars(select(Person.userid).where(
        Person.school_id == school_id, *_PRINCIPAL)))


def principal_map(session: Session) -> dict[int, list[str]]:
    """school id → userids of its active principals (every school at once, for the jobs)."""
    out: dict[int, list[str]] = {}
    for school_id, userid in session.execute(select(Person.school_id, Person.userid).where(
            Person.school_id.is_not(None), *_PRINCIPAL)):
        out.setdefault(school_id, []).append(userid)
    return {k: sorted(v) for k, v in out.items()}


def liaisons(session: Session, school_id: int) -> list[str]:
    return sorted(session.scalars(
        select(Person.userid).join(LiaisonSchool, LiaisonSchool.person_id == Person.id)
        .where(LiaisonSchool.school_id == school_id, Person.role == "bureau",
               Person.active.is_(True), Person.userid.is_not(None))))


def bureau(session: Session) -> list[str]:
    return sorted(session.scalars(select(Person.userid).where(
        Person.role == "bureau", Person.active.is_(True), Person.userid.is_not(None))))


def school_officers(session: Session, school_id: int) -> list[str]:
    """The school's liaisons; every bureau person where the school has none."""
    return liaisons(session, school_id) or bureau(session)


def liaison_schools(session: Session, person_id: int) -> list[int]:
    return sorted(session.scalars(select(LiaisonSchool.school_id)
                                  .where(LiaisonSchool.person_id == person_id)))


def liaison_school_names(session: Session, person_id: int) -> list[str]:
    return sorted(session.scalars(select(School.name).join(
        LiaisonSchool, LiaisonSchool.school_id == School.id)
        .where(LiaisonSchool.person_id == person_id)))


def liaison_map(session: Session) -> dict[int, list[str]]:
    """school id → userids of its active liaisons (schools without liaisons left out)."""
    out: dict[int, list[str]] = {}
    rows = session.execute(
        select(LiaisonSchool.school_id, Person.userid)
        .join(Person, LiaisonSchool.person_id == Person.id)
        .where(Person.role == "bureau", Person.active.is_(True), Person.userid.is_not(None)))
    for school_id, userid in rows:
        out.setdefault(school_id, []).append(userid)
    return {k: sorted(v) for k, v in out.items()}
