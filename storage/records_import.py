"""`records import`: past records and class summaries in, from the export's own workbook.

Reads an XLSX as `export` writes it (the sheets `records 个人记录` and `classes 班级报告`; the
computed `summary` sheet is skipped) or a CSV of one of those sheets, told apart by its header.
Columns are found by header, in English or Chinese (`日期 day`, `日期` or `day`), in any order.

- **All or nothing.** Every row is checked before anything is written; a file with bad rows
  writes nothing, and each problem names its sheet and line.
- **Idempotent.** A row whose person (or class), day and check already has the same current
  record (same reading, reporter and time) changes nothing; a different one is stored as a
  correction of it (the stored one is kept as history). Re-importing a file changes nothing.
- **History.** The `更正记录 history` column of a row whose key has nothing stored yet becomes
  the replaced and revoked versions, so `export` → `records import` into a database with the
  same roster and no records → `export` gives the same workbook.
People are matched by school and name (and class when names repeat); they must be on the
roster. Times are local (`tz`) as the export writes them, stored in UTC.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from handlers.health import is_abnormal
from handlers.lexicon import SYMPTOM_NAMES, WORD_TO_SYMPTOM
from handlers.parser import MAX_TEMP, MIN_TEMP
from handlers.replies import check_name
from storage.models import ClassReport, HealthRecord, Person, School
from storage.sheets import SheetError, cell_text, read_table

RECORDS_SHEET = "records 个人记录"
CLASSES_SHEET = "classes 班级报告"
SUMMARY_SHEET = "summary 每日学校汇总"

# The export's headers (bot/export.py: RECORD_HEADER, CLASS_HEADER), each "中文 english":
RECORD_COLUMNS = {"日期 day": "day", "检次 check": "check", "学校 school": "school",
                  "班级 class": "class", "姓名 name": "name", "体温 temperature": "temperature",
                  "症状 symptoms": "symptoms", "异常 abnormal": "abnormal",
                  "报告人 reported by": "reported_by", "报告时间 reported at": "reported_at",
                  "更正记录 history": "history", "病假缺勤 sick absentee": "sick_absentee"}
CLASS_COLUMNS = {"日期 day": "day", "检次 check": "check", "学校 school": "school",
                 "班级 class": "class", "应到 expected": "expected", "实到 present": "present",
                 "缺勤 absent": "absent", "因病缺勤 sick absent": "sick_absent",
                 "发热 fever": "fever", "报告人 reported by": "reported_by",
                 "报告时间 reported at": "reported_at", "更正记录 history": "history"}
SUMMARY_MARK = "教职工已报 staff reported"
COUNTS = ("expected", "present", "absent", "sick_absent", "fever")
NAME_TO_SYMPTOM = {**{code: code for code in SYMPTOM_NAMES},
                   **{name: code for code, name in SYMPTOM_NAMES.items()}, **WORD_TO_SYMPTOM}
_SPLIT = re.compile(r"[、,，;；\s]+")
_TIME = "%Y-%m-%d %H:%M:%S"
_RECORD_HISTORY = re.compile(
    r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (\S*) (?:(\d+(?:\.\d+)?)℃ )?(.*)（(已撤销|已被更正)）$")
_CLASS_HISTORY = re.compile(
    r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (\S*) 应到(\S+) 实到(\S+) 缺勤(\S+) 病假(\S+) 发热(\S+)"
    r"（(已撤销|已被更正)）$")


class RecordsImportError(Exception):
    """Nothing was imported; `problems` are lines like "classes 班级报告 line 4: ..."."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class ImportSummary:
    records_added: int = 0
    records_replaced: int = 0
    classes_added: int = 0
    classes_replaced: int = 0
    unchanged: int = 0
    history: int = 0

    def describe(self) -> str:
        return (f"{self.records_added} record(s) and {self.classes_added} class summary(ies) "
                f"added, {self.records_replaced + self.classes_replaced} corrected, "
                f"{self.unchanged} unchanged, {self.history} earlier version(s) kept as history")


@dataclass
class _Version:
    values: dict                        # the row's columns as stored, but for the keys
    created_at: dt.datetime             # naive UTC
    state: str = "current"              # current | 已被更正 | 已撤销


@dataclass
class _Row:
    kind: str                           # record | class
    where: str                          # "records 个人记录 line 5"
    key: tuple
    current: _Version
    history: list[_Version] = field(default_factory=list)


# ------------------------------------------------------------------------------ reading

def read_sheets(path: str | Path) -> list[tuple[str, str, list[tuple[int, list]]]]:
    """(kind, label, [(line, cells)]) for each importable sheet of the file, every sheet of an
    XLSX read by `storage.sheets` with its cells as openpyxl gives them (dates, numbers)."""
    try:
        rows = read_table(path, sheet=None, as_text=False, what="records file")
        tables = [(title, [(line, cells) for _t, line, cells in group])
                  for title, group in groupby(rows, key=itemgetter(0))]
    except SheetError as exc:
        raise RecordsImportError(exc.problems) from None
    out = []
    for title, table in tables:
        kind = _kind(title, table[0][1])
        label = title or "line"
        if kind == "summary":
            if not title:
                raise RecordsImportError([
                    "line 1: this is the export's summary sheet, which is computed from the "
                    "records; import the records or classes sheet instead"])
            continue
        if kind is None:
            if title:
                continue                 # another sheet of the workbook: not ours
            raise RecordsImportError([
                "line 1: the header is neither the export's records sheet (日期 day, 学校 "
                "school, 姓名 name, 体温 temperature, …) nor its classes sheet (日期 day, 学校 "
                "school, 班级 class, 应到 expected, …)"])
        out.append((kind, label, table))
    if not out:
        raise RecordsImportError([f"{Path(path).name}: no records or classes sheet with a "
                                  "header row"])
    return out


def _column_names(table: dict[str, str]) -> dict[str, str]:
    """Every spelling of a header: "日期 day", "日期", "day" → "day"."""
    out = {}
    for header, key in table.items():
        zh, en = header.split(" ", 1)
        for name in (header, zh, en, en.replace(" ", "_")):
            out[_norm_header(name)] = key
    return out


def _norm_header(text) -> str:
    return _text(text).lower().replace(" ", "").replace("_", "")


def _kind(title: str, header: list) -> str | None:
    names = {_norm_header(h) for h in header if _text(h)}
    if title == SUMMARY_SHEET or _norm_header(SUMMARY_MARK) in names \
            or {"教职工已报", "staffreported"} & names:
        return "summary"
    if title == RECORDS_SHEET:
        return "record"
    if title == CLASSES_SHEET:
        return "class"
    as_class = {CLASS_NAMES[n] for n in names if n in CLASS_NAMES}
    as_record = {RECORD_NAMES[n] for n in names if n in RECORD_NAMES}
    if {"day", "school", "class", "expected"} <= as_class or {"day", "school", "class", "sick_absent"} <= as_class:
        return "class"
    if {"day", "school", "name"} <= as_record:
        return "record"
    return None


def _text(value) -> str:
    return cell_text(value).strip()


def _unguard(value: str) -> str:
    """Undoes the export's formula guard ('=… was written for =…)."""
    if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return value[1:]
    return value


RECORD_NAMES = _column_names(RECORD_COLUMNS)
CLASS_NAMES = _column_names(CLASS_COLUMNS)


# ------------------------------------------------------------------------------ checking

class _Roster:
    def __init__(self, session: Session):
        self.schools = {name: sid for sid, name in session.execute(select(School.id, School.name))}
        self.people: dict[str, list[tuple[int, int | None, str | None, str]]] = defaultdict(list)
        self.by_id = {}
        for pid, name, school_id, class_name, role, active in session.execute(
                select(Person.id, Person.name, Person.school_id, Person.class_name, Person.role,
                       Person.active).order_by(Person.active.desc(), Person.id)):
            self.people[name].append((pid, school_id, class_name, role))
            self.by_id[pid] = (name, school_id, class_name, role)

    def person(self, school_id: int, class_name: str | None, name: str) -> tuple[int | None, str]:
        found = [p for p in self.people.get(name, []) if p[1] == school_id]
        if len(found) > 1 and class_name:
            found = [p for p in found if p[2] == class_name] or found
        if not found:
            return None, f"{name} is not on the roster of this school"
        if len(found) > 1:
            return None, f"{name}: {len(found)} people of this name in this school; give the class"
        return found[0][0], ""

    def reporter(self, name: str, school_id: int | None, class_name: str | None,
                 person_id: int | None) -> int | None:
        """The reporter by name: the person themself, else someone of the same class, school,
        the bureau, anyone; None when unknown or still ambiguous."""
        if not name:
            return None
        found = self.people.get(name, [])
        for pick in (lambda p: p[0] == person_id,
                     lambda p: p[1] == school_id and class_name and p[2] == class_name,
                     lambda p: p[1] == school_id, lambda p: p[3] == "bureau", lambda p: True):
            chosen = [p for p in found if pick(p)]
            if len(chosen) == 1:
                return chosen[0][0]
            if len(chosen) > 1:
                return None
        return None


def _day(value, errs: list[str]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        pass
    errs.append(f"day {text!r} is not a date like 2026-03-02")
    return None


def _time(value, tz, errs: list[str], what: str) -> dt.datetime | None:
    """A local time as written by the export → naive UTC."""
    if isinstance(value, dt.datetime):
        local = value
    else:
        text = _text(value)
        if not text:
            return None
        try:
            local = dt.datetime.strptime(text[:19], _TIME)
        except ValueError:
            errs.append(f"{what} {text!r} is not a time like 2026-03-02 07:40:00")
            return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _temperature(value, errs: list[str]) -> float | None:
    text = _text(value)
    if not text:
        return None
    try:
        t = round(float(text), 1)
    except ValueError:
        errs.append(f"temperature {text!r} is not a number")
        return None
    if not MIN_TEMP <= t <= MAX_TEMP:
        errs.append(f"temperature {t} is outside {MIN_TEMP}–{MAX_TEMP}℃")
        return None
    return t


def _symptoms(text: str, errs: list[str]) -> list[str]:
    text = text.strip()
    if text in ("", "无", "无症状", "正常"):
        return []
    out = []
    for word in _SPLIT.split(text):
        if not word:
            continue
        code = NAME_TO_SYMPTOM.get(word) or NAME_TO_SYMPTOM.get(word.lower())
        if code is None:
            errs.append(f"symptom {word!r} is unknown (write them as the export does: 发热、咳嗽)")
        elif code not in out:
            out.append(code)
    return out


def _abnormal(value, temperature, symptoms, threshold, errs: list[str]) -> bool:
    text = _text(value).lower()
    if text in ("是", "yes", "true", "1", "y"):
        return True
    if text in ("否", "no", "false", "0", "n"):
        return False
    if text:
        errs.append(f"abnormal {text!r} is neither 是 nor 否")
    return is_abnormal(temperature, symptoms, threshold)


def _count(value, what: str, errs: list[str]) -> int | None:
    text = _text(value)
    if text in ("", "None", "—", "-"):
        return None
    try:
        n = int(float(text))
        if n != float(text) or n < 0:
            raise ValueError
    except ValueError:
        errs.append(f"{what} {text!r} is not a whole number of people")
        return None
    return n


def _class_counts(values: dict, errs: list[str]) -> None:
    e, p, a, s, f = (values[k] for k in COUNTS)
    if None not in (e, p, a) and e != p + a:
        errs.append(f"应到{e} ≠ 实到{p} + 缺勤{a}")
    elif None not in (e, p) and p > e:
        errs.append(f"实到{p} is more than 应到{e}")
    if None not in (a, s) and s > a:
        errs.append(f"病假{s} is more than 缺勤{a}")


def _check_name(value, checks: list[str], errs: list[str]) -> str:
    text = _text(value)
    if not text:
        return checks[0]
    if text in checks:
        return text
    for c in checks:
        if check_name(c) == text:
            return c
    errs.append(f"check {text!r} is not a configured check ({', '.join(checks)})")
    return text


def check_rows(session: Session, sheets, *, tz, checks: list[str], threshold: float) -> list[_Row]:
    """Every row checked and resolved; raises RecordsImportError listing all bad rows."""
    roster = _Roster(session)
    problems: list[str] = []
    rows: list[_Row] = []
    seen: dict[tuple, str] = {}
    for kind, label, table in sheets:
        (_hl, header), body = table[0], table[1:]
        names = RECORD_NAMES if kind == "record" else CLASS_NAMES
        columns = [names.get(_norm_header(h)) for h in header]
        for line, cells in body:
            v = {}
            for key, cell in zip(columns, cells):
                if key and key not in v:
                    v[key] = cell
            where = f"{label} {line}" if label == "line" else f"{label} line {line}"
            errs: list[str] = []
            row = (_record_row if kind == "record" else _class_row)(
                v, where, errs, roster=roster, tz=tz, checks=checks, threshold=threshold)
            if errs:
                problems.append(f"{where}: " + "; ".join(errs))
                continue
            if row.key in seen:
                problems.append(f"{where}: the same {'record' if kind == 'record' else 'class summary'}"
                                f" as {seen[row.key]}")
                continue
            seen[row.key] = where
            rows.append(row)
    if problems:
        raise RecordsImportError(problems)
    return rows


def _common(v: dict, errs: list[str], roster: _Roster, checks: list[str]):
    day = _day(v.get("day"), errs)
    if day is None and not any("day" in e for e in errs):
        errs.append("day is empty")
    check = _check_name(v.get("check"), checks, errs)
    school = _unguard(_text(v.get("school")))
    school_id = roster.schools.get(school)
    if not school:
        errs.append("school is empty")
    elif school_id is None:
        errs.append(f"school {school!r} is not on the roster")
    class_name = _unguard(_text(v.get("class"))) or None
    return day, check, school_id, class_name


def _record_row(v, where, errs, *, roster, tz, checks, threshold) -> _Row | None:
    day, check, school_id, class_name = _common(v, errs, roster, checks)
    name = _unguard(_text(v.get("name")))
    person_id = None
    if not name:
        errs.append("name is empty")
    elif school_id is not None:
        person_id, why = roster.person(school_id, class_name, name)
        if why:
            errs.append(why)
    temperature = _temperature(v.get("temperature"), errs)
    symptoms = _symptoms(_text(v.get("symptoms")), errs)
    abnormal = _abnormal(v.get("abnormal"), temperature, symptoms, threshold, errs)
    at = _time(v.get("reported_at"), tz, errs, "reported at")
    if errs:
        return None
    if at is None:
        at = _time(dt.datetime.combine(day, dt.time(0, 0)), tz, errs, "")
    by = roster.reporter(_unguard(_text(v.get("reported_by"))), school_id, class_name, person_id)
    absent = _text(v.get("sick_absentee")) in ("是", "yes", "true", "1")
    current = _Version({"temperature": temperature, "symptoms": ",".join(symptoms),
                        "abnormal": abnormal, "reported_by_id": by, "absent": absent}, at)
    history = []
    for item in _items(v.get("history")):
        m = _RECORD_HISTORY.match(item)
        if m is None:
            errs.append(f"history {item!r} is not as the export writes it")
            continue
        when, who, temp, what, state = m.groups()
        t = _temperature(temp, errs) if temp else None
        codes = _symptoms(what, errs)
        history.append(_Version({"temperature": t, "symptoms": ",".join(codes),
                                 "abnormal": is_abnormal(t, codes, threshold),
                                 "reported_by_id": roster.reporter(who, school_id, class_name,
                                                                   person_id)},
                                _time(when, tz, errs, "history time"), state))
    if errs:
        return None
    return _Row("record", where, ("record", person_id, day, check), current, history)


def _class_row(v, where, errs, *, roster, tz, checks, threshold) -> _Row | None:
    day, check, school_id, class_name = _common(v, errs, roster, checks)
    if not class_name:
        errs.append("class is empty")
    values = {k: _count(v.get(k), k.replace("_", " "), errs) for k in COUNTS}
    _class_counts(values, errs)
    at = _time(v.get("reported_at"), tz, errs, "reported at")
    if errs:
        return None
    if at is None:
        at = _time(dt.datetime.combine(day, dt.time(0, 0)), tz, errs, "")
    by = roster.reporter(_unguard(_text(v.get("reported_by"))), school_id, class_name, None)
    history = []
    for item in _items(v.get("history")):
        m = _CLASS_HISTORY.match(item)
        if m is None:
            errs.append(f"history {item!r} is not as the export writes it")
            continue
        when, who, *numbers, state = m.groups()
        old = {k: _count(n, k, errs) for k, n in zip(COUNTS, numbers)}
        history.append(_Version({**old, "reported_by_id": roster.reporter(who, school_id,
                                                                          class_name, None)},
                                _time(when, tz, errs, "history time"), state))
    if errs:
        return None
    return _Row("class", where, ("class", school_id, class_name, day, check),
                _Version({**values, "reported_by_id": by}, at), history)


def _items(value) -> list[str]:
    return [p.strip() for p in _text(value).split("；") if p.strip()]


# ------------------------------------------------------------------------------ writing

def import_records(session: Session, path: str | Path, *, tz, checks: list[str],
                   threshold: float, progress=None) -> ImportSummary:
    """Checks the whole file, then writes it in the caller's transaction."""
    rows = check_rows(session, read_sheets(path), tz=tz, checks=checks, threshold=threshold)
    return write_rows(session, rows, progress=progress)


def write_rows(session: Session, rows: list[_Row], *, progress=None) -> ImportSummary:
    summary = ImportSummary()
    if progress is not None:
        progress.start(len(rows))
    for i, row in enumerate(rows, 1):
        model = HealthRecord if row.kind == "record" else ClassReport
        keys = _key_values(row)
        stored = list(session.execute(select(model.__table__).where(
            *(model.__table__.c[k] == v for k, v in keys.items()))
            .order_by(model.__table__.c.id)))
        current = next((r for r in stored if r.replaced_at is None and r.revoked_at is None), None)
        if current is not None and _same(current, row.current):
            summary.unchanged += 1
        elif current is not None:            # retire it first: one current row per key
            session.execute(update(model.__table__).where(model.__table__.c.id == current.id)
                            .values(replaced_at=row.current.created_at))
            new_id = _insert(session, model, keys, row.current)
            session.execute(update(model.__table__).where(model.__table__.c.id == current.id)
                            .values(replaced_by_id=new_id))
            if row.kind == "record":
                summary.records_replaced += 1
            else:
                summary.classes_replaced += 1
        else:
            versions = row.history + [row.current] if not stored else [row.current]
            ids = [_insert(session, model, keys, v) for v in versions]
            for n, (v, vid) in enumerate(zip(versions[:-1], ids[:-1])):
                after = versions[n + 1].created_at
                change = ({"revoked_at": after, "replaced_at": None} if v.state == "已撤销"
                          else {"replaced_at": after, "replaced_by_id": ids[n + 1]})
                session.execute(update(model.__table__).where(model.__table__.c.id == vid)
                                .values(**change))
            summary.history += len(versions) - 1
            if row.kind == "record":
                summary.records_added += 1
            else:
                summary.classes_added += 1
        if progress is not None:
            progress.step(i)
    if progress is not None:
        progress.finish()
    session.flush()
    return summary


def _key_values(row: _Row) -> dict:
    if row.kind == "record":
        _k, person_id, day, check = row.key
        return {"person_id": person_id, "day": day, "check": check}
    _k, school_id, class_name, day, check = row.key
    return {"school_id": school_id, "class_name": class_name, "day": day, "check": check}


def _insert(session: Session, model, keys: dict, v: _Version) -> int:
    table = model.__table__
    values = {**keys, **v.values, "created_at": v.created_at, "message_id": None}
    if v.state != "current":
        # retire first: the partial unique index allows one current row per key
        values["replaced_at"] = v.created_at
    return session.execute(insert(table).returning(table.c.id), values).scalar_one()


def _same(stored, v: _Version) -> bool:
    if stored.created_at.replace(microsecond=0) != v.created_at:
        return False
    for k, value in v.values.items():
        have = getattr(stored, k)
        if k == "temperature" and have is not None and value is not None:
            if round(have, 1) != value:
                return False
        elif have != value:
            return False
    return True
