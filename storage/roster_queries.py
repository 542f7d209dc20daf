"""Small questions about the roster that the jobs and the CLI ask."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, School


def school_names(session: Session) -> list[str]:
    return list(session.scalars(select(School.name).order_by(School.name)))


def example_class(session: Session, school: str) -> str | None:
    """A class of the school with a head teacher (for the examples in a prompt)."""
    return session.scalar(select(Person.class_name).join(School, Person.school_id == School.id)
                          .where(School.name == school, Person.role == "head_teacher",
                                 Person.active.is_(True), Person.class_name.is_not(None))
                          .order_by(Person.class_name).limit(1))


def school_id_of(session: Session, name: str) -> int | None:
    return session.scalar(select(School.id).where(School.name == name))


def school_ids_by_name(session: Session) -> dict[str, int]:
    return dict(session.execute(select(School.name, School.id)).all())
