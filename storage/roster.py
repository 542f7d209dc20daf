"""Roster import: a CSV or the first sheet of an XLSX in, people, schools and liaisons out.

Guarantees:
- All or nothing: every row is validated before anything is written; a file with bad rows
  writes nothing and the errors name their line numbers.
- One person, one row: class names are canonical (`三年级（2）班` is `三年级2班`) and names
  lose their padding (`胡 杰` is 胡杰), here and in the people already stored, so a re-import
  updates people (matched by WeCom userid, or for students by school + class + name) instead
  of duplicating them, and deactivates those no longer listed (their history stays).
- Safe values: every value fits its column of `storage.models` and carries no control, bidi
  or markup characters (`handlers.names.check_value`), since names and schools are quoted in
  group markdown and principals' messages.
- Bounded memory, however big or hostile the file: rows are streamed by `storage.sheets`
  (CSV lines and columns capped; XLSX in openpyxl's read-only mode with the stored dimension
  ignored and the zip's declared sizes checked before it is opened) into a scratch SQLite file,
  where duplicates are found and the difference with the stored roster is computed in SQL; the
  database gets that difference in batches.
- An import that would deactivate more than a fifth of the active people raises
  `TooManyRemoved` unless forced.
"""
from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from handlers.names import canonical_class, check_value, clean_name, clean_text
from storage.models import LiaisonSchool, Person, School, utcnow
from storage.sheets import Progress, SheetError, read_table

HEADERS = {
    "school": "school", "学校": "school", "学校名称": "school",
    "class": "class", "班级": "class",
    "name": "name", "姓名": "name",
    "role": "role", "角色": "role", "身份": "role",
    "userid": "userid", "企业微信账号": "userid", "账号": "userid", "企业微信userid": "userid",
    "mobile": "mobile", "手机": "mobile", "手机号": "mobile",
    "schools": "schools", "联系学校": "schools",
}
ROLE_WORDS = {
    "teacher": "teacher", "教师": "teacher", "老师": "teacher", "任课教师": "teacher",
    "head_teacher": "head_teacher", "班主任": "head_teacher",
    "principal": "principal", "校长": "principal",
    "bureau": "bureau", "教育局": "bureau",
    "student": "student", "学生": "student",
    "logistics": "logistics", "后勤": "logistics",
}
ROLE_LIST = ("teacher/教师, head_teacher/班主任, principal/校长, bureau/教育局, student/学生, "
             "logistics/后勤")
# The columns of storage.models (Person, School), so PostgreSQL never sees a longer value.
MAX_LEN = {"name": 50, "class": 50, "userid": 64, "mobile": 32, "school": 100}
_USERID = re.compile(r"^[A-Za-z0-9_.@-]+$")
_MOBILE = re.compile(r"^\+?\d{5,20}$")
_SCHOOL_SEPARATORS = re.compile(r"[、,;，；]")

MAX_PROBLEMS = 100                  # problems listed; the rest are counted
BATCH = 2000


class RosterError(Exception):
    """The roster file cannot be imported; `problems` are lines like "line 4: ..."."""

    def __init__(self, problems: list[str], total: int | None = None):
        self.problems = problems
        self.total = len(problems) if total is None else total
        super().__init__("; ".join(problems))


class TooManyRemoved(RosterError):
    """The import would deactivate more than a fifth of the active people."""

    def __init__(self, removed: int, active: int):
        self.removed, self.active = removed, active
        super().__init__([f"this import would deactivate {removed} of the {active} active "
                          "people (more than a fifth); check the file, or pass --force "
                          "to deactivate them"])


@dataclass(frozen=True)
class RosterRow:
    line: int
    school: str | None
    class_name: str | None
    name: str
    role: str
    userid: str | None
    mobile: str | None
    schools: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Who the row is: its WeCom userid, else (students) school + class + name."""
        if self.userid:
            return "u\x1f" + self.userid
        return "\x1f".join(("s", self.school or "", self.class_name or "", self.name))


def stored_key(userid, school, class_name, name) -> str:
    """`RosterRow.key` of a stored person, whose spellings may predate canonical classes."""
    if userid:
        return "u\x1f" + userid
    return "\x1f".join(("s", _clean_text(school or ""), _canonical_class(class_name or ""),
                        clean_name(name or "")))


_canonical_class = lru_cache(maxsize=8192)(canonical_class)
_clean_text = lru_cache(maxsize=8192)(clean_text)


@dataclass
class ImportSummary:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    added_names: list[str] = field(default_factory=list)       # the first few of each
    changed_names: list[str] = field(default_factory=list)
    removed_names: list[str] = field(default_factory=list)
    respelt_classes: list[tuple[str, str, int]] = field(default_factory=list)
    cleaned_names: list[tuple[str, str]] = field(default_factory=list)
    cleaned_name_rows: int = 0
    liaisons: int | None = None        # bureau people with schools, when the file says

    def describe(self) -> str:
        def names(items, count):
            shown = "、".join(items[:10])
            return f" ({shown}{' …' if count > len(items[:10]) else ''})" if items else ""
        text = (f"added {self.added}{names(self.added_names, self.added)}, "
                f"changed {self.changed}{names(self.changed_names, self.changed)}, "
                f"removed {self.removed}{names(self.removed_names, self.removed)}, "
                f"unchanged {self.unchanged}")
        if self.respelt_classes:
            shown = ", ".join(f"{a} → {b} ({n} row{'s' if n != 1 else ''})"
                              for a, b, n in self.respelt_classes[:10])
            more = len(self.respelt_classes) - 10
            text += f"; classes merged: {shown}{f', … {more} more' if more > 0 else ''}"
        if self.cleaned_name_rows:
            shown = ", ".join(f"{a!r} → {b}" for a, b in self.cleaned_names[:5])
            text += (f"; names cleaned: {self.cleaned_name_rows} ({shown}"
                     f"{', …' if self.cleaned_name_rows > 5 else ''})")
        if self.liaisons is not None:
            text += f"; liaisons: {self.liaisons} bureau people with schools"
        return text


# --- reading: raw rows, streamed (storage.sheets) ------------------------------------------

def read_rows(path: str | Path, progress: Progress | None = None
              ) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells as text) of the non-blank rows of a CSV or the first sheet of an
    XLSX, streamed; what is wrong with the file raises RosterError."""
    try:
        for _sheet, line, cells in read_table(path, what="roster", progress=progress):
            yield line, cells
    except SheetError as exc:
        raise RosterError(exc.problems) from None


# --- validating one row --------------------------------------------------------------------

@dataclass(frozen=True)
class _Checked:
    row: RosterRow | None
    errors: list[str]
    spelled_class: str | None       # the class as written, when it differs from its canonical
    spelled_name: str | None        # the name as written, when cleaning changed it


_CLEANERS = {"name": clean_name, "class": canonical_class, "school": clean_text}


def _clean(column: str, raw: str) -> tuple[str, str | None]:
    """(value as stored, why it is refused or None). The content is checked as written (a
    line break is refused, not silently dropped), the length as it will be stored."""
    cleaned = _CLEANERS[column](raw)
    limit = MAX_LEN[column]
    reason = check_value(raw, max(len(raw), limit)) or (
        check_value(cleaned, limit) if len(cleaned) > limit else None)
    return cleaned, (f"{column} {reason}" if reason else None)


_clean_repeated = lru_cache(maxsize=8192)(_clean)   # schools and classes repeat on every row


def _value(errors: list[str], column: str, raw: str) -> str:
    cleaned, reason = (_clean if column == "name" else _clean_repeated)(column, raw)
    if reason:
        errors.append(reason)
    return cleaned


def check_row(line: int, v: dict[str, str], has_schools: bool) -> _Checked:
    """Validates one raw row ({column: text}); pure."""
    errs: list[str] = []
    raw_name = v.get("name", "").strip()
    raw_class = v.get("class", "").strip()
    role_word = v.get("role", "").strip()
    role = ROLE_WORDS.get(role_word.lower()) if role_word else None
    raw_school = v.get("school", "").strip()
    name = _value(errs, "name", raw_name)
    school = _value(errs, "school", raw_school) or None
    class_name = _value(errs, "class", raw_class) or None
    userid = v.get("userid", "").strip() or None
    mobile = re.sub(r"[\s-]", "", v.get("mobile", "")) or None
    if not name:
        errs.append("name is empty")
    if role is None:
        errs.append(f"role {role_word[:30]!r} is not one of {ROLE_LIST}")
    if role == "bureau":
        school, class_name = None, None
    elif role and not school:
        errs.append("school is empty")
    if role in ("head_teacher", "student") and not class_name:
        errs.append(f"class is empty (a {role} belongs to a class)")
    if role in ("principal", "logistics"):
        class_name = None
    if role and role != "student" and not userid:
        errs.append("userid is empty (everyone but students needs their WeCom account)")
    if userid and len(userid) > MAX_LEN["userid"]:
        errs.append(f"userid is longer than {MAX_LEN['userid']} characters ({len(userid)})")
    elif userid and not _USERID.match(userid):
        errs.append(f"userid {userid!r} has characters WeCom does not allow")
    if mobile and not _MOBILE.match(mobile):
        errs.append(f"mobile {mobile[:40]!r} is not a phone number")
    schools: list[str] = []
    if has_schools and v.get("schools", "").strip():
        if role != "bureau":
            errs.append("schools (联系学校) is only for bureau rows")
        for part in _SCHOOL_SEPARATORS.split(v["schools"]):
            item = _value(errs, "school", part.strip())
            if item and item not in schools:
                schools.append(item)
    if errs:
        return _Checked(None, errs, None, None)
    row = RosterRow(line, school, class_name, name, role, userid, mobile, tuple(schools))
    return _Checked(row, [], raw_class if raw_class != (class_name or "") and class_name else None,
                    raw_name if raw_name != name else None)


# --- the validated file, staged in a scratch SQLite file ------------------------------------

_SCRATCH_SCHEMA = """
CREATE TABLE rows (line INTEGER PRIMARY KEY, key TEXT NOT NULL, school TEXT, class TEXT,
                   name TEXT NOT NULL, role TEXT NOT NULL, userid TEXT, mobile TEXT,
                   spelled_class TEXT, spelled_name TEXT);
CREATE TABLE liaisons (line INTEGER NOT NULL, userid TEXT NOT NULL, school TEXT NOT NULL);
"""


class Roster:
    """A validated roster file, kept in a scratch SQLite file until `close()` (or collection).

    Iterating yields its `RosterRow`s in line order; `len()` is the number of people.
    """

    def __init__(self, source: str, has_schools: bool):
        self.source = source
        self.has_schools = has_schools
        self._dir = tempfile.mkdtemp(prefix="roster-")
        self.db = sqlite3.connect(os.path.join(self._dir, "scratch.db"), isolation_level=None,
                                  check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-8000",
                       "temp_store=FILE"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(_SCRATCH_SCHEMA)
        self.db.execute("BEGIN")          # one transaction per stage, not one per row
        self._count = 0
        self._finalizer = weakref.finalize(self, _drop_scratch, self.db, self._dir)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> "Roster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[RosterRow]:
        liaisons: dict[str, list[str]] = {}
        for userid, school in self.db.execute("SELECT userid, school FROM liaisons ORDER BY rowid"):
            liaisons.setdefault(userid, []).append(school)
        for line, school, cls, name, role, userid, mobile in self.db.execute(
                "SELECT line, school, class, name, role, userid, mobile FROM rows ORDER BY line"):
            yield RosterRow(line, school, cls, name, role, userid, mobile,
                            tuple(liaisons.get(userid, ())) if role == "bureau" else ())

    @property
    def schools(self) -> list[str]:
        return [s for (s,) in self.db.execute(
            "SELECT DISTINCT school FROM rows WHERE school IS NOT NULL ORDER BY school")]

    def _add(self, batch: list[tuple], liaisons: list[tuple]) -> None:
        self.db.executemany("INSERT INTO rows VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
        self.db.executemany("INSERT INTO liaisons VALUES (?,?,?)", liaisons)
        self._count += len(batch)

    def unknown_liaison_schools(self, known: Iterable[str]) -> list[tuple[int, str]]:
        """(line, school) of each `schools` entry naming a school neither here nor in `known`."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS known (name TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM known")
        self.db.executemany("INSERT OR IGNORE INTO known VALUES (?)", ((k,) for k in known))
        return list(self.db.execute(
            "SELECT line, school FROM liaisons l WHERE NOT EXISTS "
            "(SELECT 1 FROM rows r WHERE r.school = l.school) AND NOT EXISTS "
            "(SELECT 1 FROM known k WHERE k.name = l.school) ORDER BY line"))


def _drop_scratch(db: sqlite3.Connection, directory: str) -> None:
    db.close()
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    os.rmdir(directory)


def _columns(header_line: int, header: list[str]) -> list[str | None]:
    columns = [HEADERS.get(str(cell).strip().lower().replace(" ", "")) for cell in header]
    missing = [c for c in ("school", "class", "name", "role") if c not in columns]
    if missing:
        raise RosterError([f"line {header_line}: header lacks column(s) {', '.join(missing)} "
                           "(expected school/学校, class/班级, name/姓名, role/角色, "
                           "userid/企业微信账号, mobile/手机, optional schools/联系学校)"])
    return columns


def load_roster(path: str | Path, *, known_schools: Iterable[str] | None = None,
                progress: Progress | None = None) -> Roster:
    """Reads and validates a roster file; raises RosterError listing every bad row.

    `known_schools` (the schools already stored) lets the `schools` column be checked here;
    `apply_roster` checks it against the database again in any case.
    """
    raw = read_rows(path, progress)
    problems: list[tuple[int, str]] = []
    n_problems = 0
    columns = None
    roster = None
    try:
        for line, cells in raw:
            if columns is None:
                columns = _columns(line, cells)
                roster = Roster(str(path), "schools" in columns)
                batch, liaisons = [], []
                continue
            values = {key: str(cell) for key, cell in zip(columns, cells) if key}
            checked = check_row(line, values, roster.has_schools)
            if checked.errors:
                n_problems += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append((line, "; ".join(checked.errors)))
                continue
            r = checked.row
            batch.append((r.line, r.key, r.school, r.class_name, r.name, r.role, r.userid,
                          r.mobile, checked.spelled_class, checked.spelled_name))
            liaisons.extend((r.line, r.userid, s) for s in r.schools)
            if len(batch) >= BATCH:
                roster._add(batch, liaisons)
                batch, liaisons = [], []
        if columns is None:
            raise RosterError(["the file is empty: it needs a header row and one row per person"])
        roster._add(batch, liaisons)
        roster.db.execute("CREATE INDEX rows_key ON rows (key)")
        roster.db.execute("COMMIT")
        for line, first, userid, name, cls in roster.db.execute(
                "SELECT r.line, d.first, r.userid, r.name, r.class FROM rows r JOIN "
                "(SELECT key, MIN(line) AS first FROM rows GROUP BY key HAVING COUNT(*) > 1)"
                " d ON d.key = r.key WHERE r.line > d.first ORDER BY r.line"):
            n_problems += 1
            if len(problems) < MAX_PROBLEMS:
                who = f"userid {userid}" if userid else f"{name} in {cls}"
                problems.append((line, f"same person as line {first} ({who})"))
        if known_schools is not None:
            for line, school in roster.unknown_liaison_schools(known_schools):
                n_problems += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append((line, _unknown_school(school)))
        if n_problems:
            raise _problems(problems, n_problems)
        if not len(roster):
            raise RosterError(["the file has a header but no people"])
    except BaseException:
        if roster is not None:
            roster.close()
        raise
    return roster


def _unknown_school(school: str) -> str:
    return (f"schools: {school!r} is not a school of the roster "
            "(neither in this file nor already imported)")


def _problems(problems: list[tuple[int, str]], total: int) -> RosterError:
    lines = [f"line {n}: {text}" for n, text in sorted(problems)]
    if total > len(lines):
        lines.append(f"… and {total - len(lines)} more bad row(s) not shown")
    return RosterError(lines, total)


# --- applying it to the database -----------------------------------------------------------

_DIFF_SCHEMA = """
DROP TABLE IF EXISTS old; DROP TABLE IF EXISTS match;
CREATE TABLE old (id INTEGER PRIMARY KEY, key TEXT NOT NULL, school TEXT, class TEXT,
                  name TEXT, role TEXT, userid TEXT, mobile TEXT, active INTEGER);
"""
_MATCH = """
CREATE INDEX old_key ON old (key);
CREATE TABLE match (key TEXT PRIMARY KEY, id INTEGER NOT NULL, listed INTEGER NOT NULL);
INSERT INTO match SELECT key, COALESCE(MIN(CASE WHEN active THEN id END), MIN(id)),
                         EXISTS (SELECT 1 FROM rows r WHERE r.key = old.key)
                  FROM old GROUP BY key;
CREATE INDEX match_id ON match (id, listed);
"""
# A listed row differs from the stored person it matches (NULL-safe comparisons).
_DIFFERS = ("(o.school IS NOT r.school OR o.class IS NOT r.class OR o.name IS NOT r.name OR "
            "o.role IS NOT r.role OR o.userid IS NOT r.userid OR o.mobile IS NOT r.mobile OR "
            "NOT o.active)")
_ADDED = "FROM rows r WHERE NOT EXISTS (SELECT 1 FROM match m WHERE m.key = r.key)"
_CHANGED = f"FROM rows r JOIN match m ON m.key = r.key JOIN old o ON o.id = m.id WHERE {_DIFFERS}"
_REMOVED = ("FROM old o WHERE o.active AND NOT EXISTS "
            "(SELECT 1 FROM match m WHERE m.id = o.id AND m.listed)")


def apply_roster(session: Session, roster: Roster, *, force: bool = False,
                 progress: Progress | None = None) -> ImportSummary:
    """Writes a validated roster: adds, updates, and deactivates people missing from the file.

    Raises RosterError (an unknown school in `schools`) or TooManyRemoved before writing
    anything; the caller's transaction holds all writes.
    """
    db = roster.db
    school_ids = {name: sid for sid, name in session.execute(select(School.id, School.name))}
    unknown = roster.unknown_liaison_schools(school_ids)
    if unknown:
        raise _problems([(line, _unknown_school(s)) for line, s in unknown[:MAX_PROBLEMS]],
                        len(unknown))

    # The stored people, keyed the way the file is (older imports kept raw spellings).
    db.executescript(_DIFF_SCHEMA)
    db.execute("BEGIN")
    stored = session.execute(
        select(Person.id, Person.userid, School.name, Person.class_name, Person.name,
               Person.role, Person.mobile, Person.active)
        .outerjoin(School, School.id == Person.school_id)
        .execution_options(yield_per=BATCH))
    batch = []
    for pid, userid, school, cls, name, role, mobile, active in stored:
        batch.append((pid, stored_key(userid, school, cls, name), school, cls, name, role,
                      userid, mobile, bool(active)))
        if len(batch) >= BATCH:
            db.executemany("INSERT INTO old VALUES (?,?,?,?,?,?,?,?,?)", batch)
            batch = []
    db.executemany("INSERT INTO old VALUES (?,?,?,?,?,?,?,?,?)", batch)
    db.execute("COMMIT")
    db.executescript(_MATCH)

    def count(sql: str) -> int:
        return db.execute(f"SELECT COUNT(*) {sql}").fetchone()[0]

    def first_names(sql: str, order: str) -> list[str]:
        return [n for (n,) in db.execute(f"SELECT r.name {sql} ORDER BY {order} LIMIT 10")]

    summary = ImportSummary(added=count(_ADDED), changed=count(_CHANGED),
                            removed=count(_REMOVED))
    summary.unchanged = len(roster) - summary.added - summary.changed
    active = db.execute("SELECT COUNT(*) FROM old WHERE active").fetchone()[0]
    if summary.removed * 5 > active and not force:
        raise TooManyRemoved(summary.removed, active)
    summary.added_names = first_names(_ADDED, "r.line")
    summary.changed_names = first_names(_CHANGED, "r.line")
    summary.removed_names = [n for (n,) in db.execute(
        f"SELECT o.name {_REMOVED} ORDER BY o.id LIMIT 10")]
    summary.respelt_classes = [tuple(r) for r in db.execute(
        "SELECT spelled_class, class, COUNT(*) FROM rows WHERE spelled_class IS NOT NULL "
        "GROUP BY spelled_class, class ORDER BY class, spelled_class")]
    summary.cleaned_name_rows = count("FROM rows WHERE spelled_name IS NOT NULL")
    summary.cleaned_names = [tuple(r) for r in db.execute(
        "SELECT spelled_name, name FROM rows WHERE spelled_name IS NOT NULL ORDER BY line LIMIT 5")]

    # Writing: schools, then people in batches, then liaisons.
    new_schools = [s for s in roster.schools if s not in school_ids]
    if new_schools:
        session.execute(insert(School), [{"name": s} for s in new_schools])
        school_ids = {name: sid for sid, name in session.execute(select(School.id, School.name))}
    total = summary.added + summary.changed + summary.removed
    done = 0

    def write(rows_sql: str, statement, shape) -> None:
        nonlocal done
        cursor = db.execute(rows_sql)
        while chunk := cursor.fetchmany(BATCH):
            session.execute(statement, [shape(r) for r in chunk])
            done += len(chunk)
            if progress:
                progress("writing", done, done / total if total else 1.0)

    now = utcnow()            # one timestamp for the import (Core, not the ORM: 2x faster)

    def person(r, pid=None) -> dict:
        school, cls, name, role, userid, mobile = r[-6:]
        values = dict(name=name, role=role, school_id=school_ids.get(school) if school else None,
                      class_name=cls, userid=userid, mobile=mobile, active=True, updated_at=now)
        return {"created_at": now, **values} if pid is None else {"pid": pid, **values}

    people = Person.__table__
    cols = "r.school, r.class, r.name, r.role, r.userid, r.mobile"
    write(f"SELECT {cols} {_ADDED} ORDER BY r.line", insert(people), person)
    by_id = update(people).where(people.c.id == bindparam("pid"))
    write(f"SELECT m.id, {cols} {_CHANGED} ORDER BY r.line", by_id, lambda r: person(r, r[0]))
    write(f"SELECT o.id {_REMOVED} ORDER BY o.id", by_id.values(active=False, updated_at=now),
          lambda r: {"pid": r[0]})
    if roster.has_schools:
        summary.liaisons = _replace_liaisons(session, roster, school_ids)
    session.flush()
    return summary


def _replace_liaisons(session: Session, roster: Roster, school_ids: dict[str, int]) -> int:
    """Each person of the file gets exactly the schools its row names (none if not bureau)."""
    db = roster.db
    wanted_by_userid: dict[str, set[int]] = {}
    for userid, school in db.execute("SELECT userid, school FROM liaisons"):
        wanted_by_userid.setdefault(userid, set()).add(school_ids[school])
    bureau_ids = dict(session.execute(select(Person.userid, Person.id).where(
        Person.role == "bureau", Person.userid.is_not(None))).all())
    wanted = {(bureau_ids[u], sid) for u, sids in wanted_by_userid.items() for sid in sids}
    existing = {(pid, sid): lid for lid, pid, sid in session.execute(
        select(LiaisonSchool.id, LiaisonSchool.person_id, LiaisonSchool.school_id))}
    listed_ids = {pid for pid, _ in wanted}
    for pid in {pid for pid, _ in existing} - listed_ids:     # liaisons are few
        if db.execute("SELECT 1 FROM match WHERE id = ? AND listed", (pid,)).fetchone():
            listed_ids.add(pid)
    stale = [lid for (pid, sid), lid in existing.items()
             if pid in listed_ids and (pid, sid) not in wanted]
    if stale:
        session.execute(delete(LiaisonSchool).where(LiaisonSchool.id.in_(stale)))
    new = [{"person_id": pid, "school_id": sid} for pid, sid in sorted(wanted - existing.keys())]
    if new:
        session.execute(insert(LiaisonSchool), new)
    return len(wanted_by_userid)
