"""Leave and whereabouts in the database: stored as history, read as the day's plain rows.

A leave (`Leave`) covers its days from `start` to `end`. A whereabouts statement
(`Whereabouts`) is never overwritten: someone's status on a day is their latest row (by id)
whose `start` is on or before that day, so a past day reads as it stood then and a new
statement takes over from its own `start` on. Only active people of the roster are listed.

What the rest of the code reads (all plain data, `handlers.whereabouts.WatchRow`):
- `on_leave_ids(session, day)`: ids of people with a leave covering `day` (whether or not
  they reported: the figures treat someone who reported as reported).
- `observed_ids(session, day)`: ids of people under home observation on `day` (its last
  day included).
- `watch_rows(session, day, school_id=None)`: one row per person and status on `day`:
  `away`, `observing` (`ending_today` on its last day), `returned` (back from a place outside
  `[watch] areas` within `returned_days`, 14 unless told) and `leave`.
- `watch_counts(session, day, school_id=None)`: {"away", "observing", "ending_today",
  "on_leave", "returned"} counted from `watch_rows` (so every figure agrees).
- `watch_sheet_rows(session, start, end)`: the export's 摸排 sheet, header first, one row per
  day, person and status.
- `observed_missing(session, day, check, school_id=None)`: people under observation with no
  current record for that day and check (and not on leave), for the escalation.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.whereabouts import (
    SHEET_HEADER, Draft, LeaveRequest, Watch, WatchRow, count_rows, nearest_date, sheet_draft,
    sheet_row,
)
from storage.models import HealthRecord, Leave, Person, School, Whereabouts, utcnow
from storage.records import CURRENT_RECORD
from storage.sheets import SheetError, read_table

RETURNED_DAYS = 14
_ORDER = {"away": 0, "observing": 1, "returned": 2, "leave": 3}
_PERSON_COLS = (Person.id, Person.name, Person.role, Person.class_name, Person.school_id,
                School.name)


# ------------------------------------------------------------------------------ writing

def save_leave(session: Session, *, person_id: int, start: dt.date, end: dt.date,
               reported_by_id: int | None, message_id: int | None = None,
               source: str = "chat", now: dt.datetime | None = None) -> tuple[Leave, bool]:
    """Stores a leave unless the same one is stored; returns (the row, whether it was there)."""
    same = session.scalar(select(Leave).where(Leave.person_id == person_id, Leave.start == start,
                                              Leave.end == end).limit(1))
    if same is not None:
        return same, True
    row = Leave(person_id=person_id, start=start, end=end, reported_by_id=reported_by_id,
                message_id=message_id, source=source, created_at=now or utcnow())
    session.add(row)
    session.flush()
    return row, False


def save_whereabouts(session: Session, *, person_id: int, draft: Draft,
                     reported_by_id: int | None, message_id: int | None = None,
                     source: str = "chat", now: dt.datetime | None = None) -> Whereabouts:
    """Adds a statement (never changes an old one)."""
    row = Whereabouts(person_id=person_id, status=draft.status, place=draft.place,
                      start=draft.start, end=draft.end, returned_on=draft.returned_on,
                      reported_by_id=reported_by_id, message_id=message_id, source=source,
                      created_at=now or utcnow())
    session.add(row)
    session.flush()
    return row


# ------------------------------------------------------------------------------ reading

@dataclass(frozen=True)
class _Who:
    id: int
    name: str
    role: str
    class_name: str | None
    school_id: int | None
    school: str | None


def _statements(session: Session, until: dt.date, school_id: int | None, person_id=None):
    q = (select(Whereabouts, *_PERSON_COLS).join(Person, Whereabouts.person_id == Person.id)
         .outerjoin(School, Person.school_id == School.id)
         .where(Person.active.is_(True), Whereabouts.start <= until))
    if school_id is not None:
        q = q.where(Person.school_id == school_id)
    if person_id is not None:
        q = q.where(Whereabouts.person_id == person_id)
    by_person: dict[int, tuple[_Who, list[Whereabouts]]] = {}
    for w, *p in session.execute(q.order_by(Whereabouts.person_id, Whereabouts.id)).tuples():
        entry = by_person.setdefault(w.person_id, (_Who(*p), []))
        entry[1].append(w)
    return by_person


def _leaves(session: Session, start: dt.date, end: dt.date, school_id: int | None):
    q = (select(Leave, *_PERSON_COLS).join(Person, Leave.person_id == Person.id)
         .outerjoin(School, Person.school_id == School.id)
         .where(Person.active.is_(True), Leave.start <= end, Leave.end >= start))
    if school_id is not None:
        q = q.where(Person.school_id == school_id)
    return [(lv, _Who(*p)) for lv, *p in session.execute(q.order_by(Leave.id)).tuples()]


def _row(who: _Who, day: dt.date, status: str, place, start, end, returned_on=None) -> WatchRow:
    return WatchRow(who.id, who.name, who.school, who.class_name, who.role, status, place,
                    start, end, returned_on, day, who.school_id)


def _status_on(who: _Who, statements: list[Whereabouts], day: dt.date,
               returned_days: int) -> WatchRow | None:
    current = None
    for w in statements:                       # in id order: the last one that began wins
        if w.start <= day:
            current = w
    if current is None:
        return None
    if current.status == "away":
        return _row(who, day, "away", current.place, current.start, None)
    if current.status == "observing" and current.end is not None and current.end >= day:
        return _row(who, day, "observing", current.place, current.start, current.end,
                    current.returned_on)
    if current.status == "returned" and (day - current.start).days < returned_days:
        return _row(who, day, "returned", current.place, current.start, None)
    return None


def _sorted(rows: Iterable[WatchRow]) -> list[WatchRow]:
    return sorted(rows, key=lambda r: (r.school or "", _ORDER.get(r.status, 9),
                                       r.role == "student", r.class_name or "", r.name,
                                       r.person_id))


def _rows_for_days(session: Session, days: Sequence[dt.date], school_id: int | None,
                   returned_days: int) -> dict[dt.date, list[WatchRow]]:
    out: dict[dt.date, list[WatchRow]] = {d: [] for d in days}
    if not days:
        return out
    first, last = min(days), max(days)
    statements = _statements(session, last, school_id)
    leaves = _leaves(session, first, last, school_id)
    for day in days:
        rows = []
        for who, items in statements.values():
            row = _status_on(who, items, day, returned_days)
            if row is not None:
                rows.append(row)
        on_leave: dict[int, tuple[Leave, _Who]] = {}
        for lv, who in leaves:                 # the latest leave covering the day
            if lv.start <= day <= lv.end:
                on_leave[who.id] = (lv, who)
        rows += [_row(who, day, "leave", None, lv.start, lv.end) for lv, who in on_leave.values()]
        out[day] = _sorted(rows)
    return out


def watch_rows(session: Session, day: dt.date, school_id: int | None = None, *,
               returned_days: int = RETURNED_DAYS) -> list[WatchRow]:
    """Who is away, under observation, recently back or on leave on `day`."""
    return _rows_for_days(session, [day], school_id, returned_days)[day]


def watch_counts(session: Session, day: dt.date, school_id: int | None = None, *,
                 returned_days: int = RETURNED_DAYS) -> dict:
    return count_rows(watch_rows(session, day, school_id, returned_days=returned_days))


def counts_by_school(rows: Iterable[WatchRow]) -> dict[str, dict]:
    by: dict[str, list[WatchRow]] = {}
    for r in rows:
        by.setdefault(r.school or "", []).append(r)
    return {school: count_rows(items) for school, items in sorted(by.items())}


def on_leave_ids(session: Session, day: dt.date) -> set[int]:
    return {who.id for lv, who in _leaves(session, day, day, None)}


def observed_ids(session: Session, day: dt.date) -> set[int]:
    return {r.person_id for r in watch_rows(session, day) if r.status == "observing"}


def status_of(session: Session, person_id: int, day: dt.date) -> WatchRow | None:
    """The person's whereabouts on `day` (away / observing / returned), or None."""
    found = _statements(session, day, None, person_id=person_id).get(person_id)
    if found is None:
        return None
    return _status_on(found[0], found[1], day, RETURNED_DAYS)


def observation_ending(session: Session, day: dt.date, last: dt.date | None = None,
                       school_id: int | None = None) -> list[WatchRow]:
    """People whose observation, as it stands on `day`, ends between `day` and `last`."""
    last = last or day
    return [r for r in watch_rows(session, day, school_id)
            if r.status == "observing" and day <= r.end <= last]


def observed_missing(session: Session, day: dt.date, check: str,
                     school_id: int | None = None) -> list[WatchRow]:
    """Under observation on `day`, not on leave, and no current record for that day and check."""
    observing = [r for r in watch_rows(session, day, school_id) if r.status == "observing"]
    if not observing:
        return []
    ids = [r.person_id for r in observing]
    reported = set(session.scalars(select(HealthRecord.person_id).where(
        HealthRecord.person_id.in_(ids), HealthRecord.day == day, HealthRecord.check == check,
        *CURRENT_RECORD)))
    leave = on_leave_ids(session, day)
    return [r for r in observing if r.person_id not in reported and r.person_id not in leave]


def watch_sheet_rows(session: Session, start: dt.date, end: dt.date, *,
                     school_id: int | None = None,
                     returned_days: int = RETURNED_DAYS) -> list[tuple]:
    """The 摸排 sheet: the header, then each day's rows from `start` to `end`."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    by_day = _rows_for_days(session, days, school_id, returned_days)
    out: list[tuple] = [SHEET_HEADER]
    for day in days:
        out += [sheet_row(r) for r in by_day[day]]
    return out


# ------------------------------------------------------------------------------ import

class WatchImportError(Exception):
    """The sheet cannot be imported; `problems` are lines like "line 4: ..."."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


HEADERS = {
    "姓名": "name", "name": "name", "学校": "school", "school": "school", "学校名称": "school",
    "班级": "class", "class": "class", "状态": "status", "status": "status",
    "地点": "place", "place": "place", "去向": "place", "开始": "start", "start": "start",
    "开始日期": "start", "结束": "end", "end": "end", "结束日期": "end",
}
REQUIRED = ("name", "school", "status")


def read_sheet(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, {column: value}) from a CSV or the first sheet of an XLSX, read by
    `storage.sheets` (so a broken or hostile file gets one line)."""
    try:
        table = [(line, cells) for _sheet, line, cells in
                 read_table(path, as_text=False, what="whereabouts sheet")]
    except SheetError as exc:
        raise WatchImportError(exc.problems) from None
    if not table:
        raise WatchImportError(["the file is empty: it needs a header row (姓名, 学校, 状态, "
                                "地点, 开始, 结束) and one row per person"])
    header_line, header = table[0]
    columns = [HEADERS.get(str(c or "").strip().lower().replace(" ", "")) for c in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        names = {"name": "姓名", "school": "学校", "status": "状态"}
        raise WatchImportError([f"line {header_line}: header lacks column(s) "
                                + ", ".join(names[m] for m in missing)
                                + " (expected 姓名, 学校, 状态, 地点, 开始, 结束; 班级 optional)"])
    rows = []
    for n, row in table[1:]:
        values = {}
        for key, cell in zip(columns, row):
            if key:
                values[key] = cell.strip() if isinstance(cell, str) else cell
        rows.append((n, values))
    if not rows:
        raise WatchImportError(["the file has a header but no rows"])
    return rows


_ISO = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$")
_MD = re.compile(r"^(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*[日号]?$")


def parse_cell_date(value, today: dt.date) -> dt.date | None | str:
    """A date cell: a real date, 2020-02-01, 2020/2/1, 2020年2月1日, 20200201 or 2月1日."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    m = _ISO.match(text) or (re.match(r"^(\d{4})(\d{2})(\d{2})$", text))
    try:
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _MD.match(text)
        if m:
            d = nearest_date(int(m.group(1)), int(m.group(2)), today)
            return d if isinstance(d, dt.date) else f"{text!r} is not a date"
    except ValueError:
        pass
    return f"{text!r} is not a date like 2020-02-01"


@dataclass
class ImportSummary:
    rows: int = 0
    added: int = 0
    unchanged: int = 0
    by_status: dict = field(default_factory=dict)

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.by_status.items())
        return (f"{self.rows} row(s): {self.added} added, {self.unchanged} already stored"
                + (f" ({parts})" if parts else ""))


def import_watch(session: Session, raw_rows: list[tuple[int, dict]], today: dt.date,
                 watch: Watch) -> ImportSummary:
    """Checks every row against the roster, then writes them all, or raises WatchImportError
    listing every bad row (and writes nothing)."""
    schools = {name: sid for sid, name in session.execute(select(School.id, School.name))}
    people: dict[tuple[int, str], list[Person]] = {}
    for p in session.scalars(select(Person).where(Person.active.is_(True),
                                                  Person.school_id.is_not(None))):
        people.setdefault((p.school_id, p.name), []).append(p)
    problems, planned = [], []
    for line, v in raw_rows:
        errs = []
        name = re.sub(r"\s+", "", str(v.get("name") or ""))
        school = str(v.get("school") or "").strip()
        class_name = re.sub(r"\s+", "", str(v.get("class") or "")) or None
        place = str(v.get("place") or "").strip() or None
        start = parse_cell_date(v.get("start"), today)
        end = parse_cell_date(v.get("end"), today)
        for label, d in (("开始", start), ("结束", end)):
            if isinstance(d, str):
                errs.append(f"{label} {d}")
        person = None
        if not name:
            errs.append("姓名 is empty")
        if not school:
            errs.append("学校 is empty")
        elif school not in schools:
            errs.append(f"学校 {school!r} is not a school of the roster")
        elif name:
            found = people.get((schools[school], name), [])
            if class_name:
                found = [p for p in found if _same_class(p.class_name, class_name)]
            if not found:
                errs.append(f"no {name} in {school}{' ' + class_name if class_name else ''} on the roster")
            elif len(found) > 1:
                errs.append(f"{len(found)} people named {name} in {school} ("
                            + ", ".join(p.class_name or "staff" for p in found)
                            + "): add a 班级 column")
            else:
                person = found[0]
        if place and len(place) > 50:
            errs.append("地点 is longer than 50 characters")
        draft = None
        if not any(e.startswith(("开始", "结束")) for e in errs):
            draft = sheet_draft(str(v.get("status") or ""), place, start, end, today, watch)
            if isinstance(draft, str):
                errs.append(draft)
        if errs:
            problems.append(f"line {line}: " + "; ".join(errs))
        else:
            planned.append((person, draft))
    if problems:
        raise WatchImportError(problems)
    summary = ImportSummary(rows=len(planned))
    for person, draft in planned:
        kind = "leave" if isinstance(draft, LeaveRequest) else draft.status
        summary.by_status[kind] = summary.by_status.get(kind, 0) + 1
        if isinstance(draft, LeaveRequest):
            _row, already = save_leave(session, person_id=person.id, start=draft.start,
                                       end=draft.end, reported_by_id=None, source="import")
        else:
            already = _same_statement(session, person.id, draft)
            if not already:
                save_whereabouts(session, person_id=person.id, draft=draft, reported_by_id=None,
                                 source="import")
        summary.unchanged += already
        summary.added += not already
    return summary


def _same_statement(session: Session, person_id: int, draft: Draft) -> bool:
    return session.scalar(select(Whereabouts.id).where(
        Whereabouts.person_id == person_id, Whereabouts.status == draft.status,
        _eq(Whereabouts.place, draft.place), Whereabouts.start == draft.start,
        _eq(Whereabouts.end, draft.end), _eq(Whereabouts.returned_on, draft.returned_on))
        .limit(1)) is not None


def _eq(column, value):
    return column.is_(None) if value is None else column == value


def _same_class(a: str | None, b: str | None) -> bool:
    def norm(x):
        return re.sub(r"[\s()（）]", "", x or "")
    return norm(a) == norm(b)
