"""Dashboard passwords: `set_password(config, userid, password)` for `python -m bot passwd`.

Only principals and bureau people log in to the dashboard. The password is stored as a
werkzeug hash (scrypt) in `Person.password_hash`; setting a new one ends every session of that
person: their server-side sessions are deleted, and a session also carries a fingerprint of
the hash it logged in with.
"""
from __future__ import annotations

import functools
import hashlib

from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from storage.db import make_engine, make_sessionmaker, session_scope
from storage.models import DashboardSession, Person

LOGIN_ROLES = ("bureau", "principal")
MIN_LENGTH = 8
MAX_LENGTH = 128
ROLE_NAMES = {"teacher": "教师", "head_teacher": "班主任", "principal": "校长", "bureau": "教育局",
              "student": "学生"}


class PasswordError(Exception):
    """The password cannot be set; the message is one line for an operator."""


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"the password must have at most {MAX_LENGTH} characters")
    if password.strip() != password or not password.isprintable():
        raise PasswordError("the password must not start or end with spaces or hold control characters")


def set_password(config, userid: str, password: str) -> None:
    """Sets the dashboard password of a principal or bureau person from the roster."""
    userid = (userid or "").strip()
    if not userid:
        raise PasswordError("no userid given")
    check_new_password(password)
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            person = s.scalar(select(Person).where(Person.userid == userid))
            if person is None:
                raise PasswordError(f"unknown userid {userid!r}: no one in the roster has it")
            if not person.active:
                raise PasswordError(f"{userid} ({person.name}) is no longer in the roster")
            if person.role not in LOGIN_ROLES:
                raise PasswordError(
                    f"{userid} ({person.name}) is a {person.role}; only principals and bureau "
                    "people can log in to the dashboard")
            person.password_hash = generate_password_hash(password)
            s.execute(delete(DashboardSession).where(DashboardSession.person_id == person.id))
    finally:
        engine.dispose()


def verify(person: Person | None, password: str) -> bool:
    """True when `person` may log in with `password` (same work whether or not they exist)."""
    stored = person.password_hash if person is not None else None
    if not stored:
        check_password_hash(_dummy_hash(), password)    # an unknown user costs the same time
        return False
    ok = check_password_hash(stored, password)
    return ok and person.active and person.role in LOGIN_ROLES


def fingerprint(password_hash: str | None) -> str:
    """A short value a session keeps to notice that the password was changed since."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("not a real password, only for equal timing")
