"""Roster import: a CSV or the first sheet of an XLSX in, people and schools out.

Every row is validated before anything is written; a file with bad rows writes nothing and
the errors name their line numbers. Re-importing updates people (matched by WeCom userid, or
for students by school + class + name) and deactivates those no longer listed, so their
history stays.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, School

HEADERS = {
    "school": "school", "学校": "school", "学校名称": "school",
    "class": "class", "班级": "class",
    "name": "name", "姓名": "name",
    "role": "role", "角色": "role", "身份": "role",
    "userid": "userid", "企业微信账号": "userid", "账号": "userid", "企业微信userid": "userid",
    "mobile": "mobile", "手机": "mobile", "手机号": "mobile",
}
ROLE_WORDS = {
    "teacher": "teacher", "教师": "teacher", "老师": "teacher", "任课教师": "teacher",
    "head_teacher": "head_teacher", "班主任": "head_teacher",
    "principal": "principal", "校长": "principal",
    "bureau": "bureau", "教育局": "bureau",
    "student": "student", "学生": "student",
}
_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_MOBILE = re.compile(r"^\+?\d{5,20}$")


class RosterError(Exception):
    """The roster file cannot be imported; `problems` are lines like "line 4: ..."."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class RosterRow:
    line: int
    school: str | None
    class_name: str | None
    name: str
    role: str
    userid: str | None
    mobile: str | None

    @property
    def key(self) -> tuple:
        if self.userid:
            return ("userid", self.userid)
        return ("student", self.school, self.class_name, self.name)


@dataclass
class ImportSummary:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def describe(self) -> str:
        def names(items):
            shown = "、".join(items[:10])
            return f" ({shown}{' …' if len(items) > 10 else ''})" if items else ""
        return (f"added {len(self.added)}{names(self.added)}, changed {len(self.changed)}"
                f"{names(self.changed)}, removed {len(self.removed)}{names(self.removed)}, "
                f"unchanged {self.unchanged}")


def read_rows(path: str | Path) -> list[tuple[int, dict]]:
    """Reads raw rows as (line number, {column: text}) from a CSV or XLSX file."""
    p = Path(path)
    if not p.is_file():
        raise RosterError([f"file not found: {path}"])
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(p)
    if suffix in (".csv", ".txt", ""):
        return _read_csv(p)
    raise RosterError([f"{p.name}: unsupported file type {suffix!r} (use .csv or .xlsx)"])


def _read_csv(p: Path) -> list[tuple[int, dict]]:
    data = p.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes almost anything
        raise RosterError([f"{p.name}: not UTF-8 or GBK text"])
    if "\x00" in text:
        raise RosterError([f"{p.name}: this is not a CSV text file"])
    reader = csv.reader(io.StringIO(text))
    try:
        table = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise RosterError([f"line {reader.line_num}: {exc}"]) from None
    return _rows_from_table(table)


def _read_xlsx(p: Path) -> list[tuple[int, dict]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise RosterError([f"{p.name}: not a readable XLSX file ({exc.__class__.__name__})"]) from None
    try:
        ws = wb.worksheets[0]
        table = []
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            table.append((i, ["" if v is None else _cell_text(v) for v in row]))
    finally:
        wb.close()
    return _rows_from_table(table)


def _cell_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))        # a mobile number typed into Excel comes back as a float
    return str(v)


def _rows_from_table(table: list[tuple[int, list[str]]]) -> list[tuple[int, dict]]:
    table = [(n, row) for n, row in table if any(str(c).strip() for c in row)]
    if not table:
        raise RosterError(["the file is empty: it needs a header row and one row per person"])
    header_line, header = table[0]
    columns = []
    for cell in header:
        key = HEADERS.get(str(cell).strip().lower().replace(" ", ""))
        columns.append(key)
    missing = [c for c in ("school", "class", "name", "role") if c not in columns]
    if missing:
        raise RosterError([f"line {header_line}: header lacks column(s) {', '.join(missing)} "
                           "(expected school/学校, class/班级, name/姓名, role/角色, "
                           "userid/企业微信账号, mobile/手机)"])
    rows = []
    for n, row in table[1:]:
        values = {}
        for key, cell in zip(columns, row):
            if key:
                values[key] = str(cell).strip()
        rows.append((n, values))
    return rows


def validate(raw_rows: list[tuple[int, dict]]) -> list[RosterRow]:
    """Checks every row; raises RosterError listing all bad rows, else returns them typed."""
    problems, rows, seen = [], [], {}
    for line, v in raw_rows:
        errs = []
        name = v.get("name", "")
        role_word = v.get("role", "")
        role = ROLE_WORDS.get(role_word.lower()) if role_word else None
        school = v.get("school") or None
        class_name = v.get("class") or None
        userid = v.get("userid") or None
        mobile = (v.get("mobile") or "").replace(" ", "").replace("-", "") or None
        if not name:
            errs.append("name is empty")
        elif len(name) > 50:
            errs.append("name is longer than 50 characters")
        if role is None:
            errs.append(f"role {role_word!r} is not one of teacher/教师, head_teacher/班主任, "
                        "principal/校长, bureau/教育局, student/学生")
        if role == "bureau":
            school, class_name = None, None
        elif role and not school:
            errs.append("school is empty")
        if role in ("head_teacher", "student") and not class_name:
            errs.append(f"class is empty (a {role} belongs to a class)")
        if role == "principal":
            class_name = None
        if role and role != "student" and not userid:
            errs.append("userid is empty (everyone but students needs their WeCom account)")
        if userid and not _USERID.match(userid):
            errs.append(f"userid {userid!r} has characters WeCom does not allow")
        if mobile and not _MOBILE.match(mobile):
            errs.append(f"mobile {mobile!r} is not a phone number")
        if errs:
            problems.append(f"line {line}: " + "; ".join(errs))
            continue
        row = RosterRow(line, school, class_name, name, role, userid, mobile)
        if row.key in seen:
            problems.append(f"line {line}: same person as line {seen[row.key]} "
                            f"({'userid ' + userid if userid else name + ' in ' + class_name})")
            continue
        seen[row.key] = line
        rows.append(row)
    if problems:
        raise RosterError(problems)
    if not rows:
        raise RosterError(["the file has a header but no people"])
    return rows


def load_roster(path: str | Path) -> list[RosterRow]:
    return validate(read_rows(path))


def apply_roster(session: Session, rows: list[RosterRow]) -> ImportSummary:
    """Writes validated rows: adds, updates, and deactivates people missing from the file."""
    summary = ImportSummary()
    schools = {s.name: s for s in session.scalars(select(School))}
    for row in rows:
        if row.school and row.school not in schools:
            schools[row.school] = School(name=row.school)
            session.add(schools[row.school])
    session.flush()

    people = list(session.scalars(select(Person)))
    by_key = {}
    for p in people:
        key = ("userid", p.userid) if p.userid else (
            "student", p.school.name if p.school else None, p.class_name, p.name)
        by_key[key] = p
    listed = set()
    for row in rows:
        school = schools.get(row.school) if row.school else None
        person = by_key.get(row.key)
        wanted = dict(name=row.name, role=row.role, school_id=school.id if school else None,
                      class_name=row.class_name, userid=row.userid, mobile=row.mobile, active=True)
        if person is None:
            person = Person(**wanted)
            session.add(person)
            summary.added.append(row.name)
        else:
            diff = {k: v for k, v in wanted.items() if getattr(person, k) != v}
            if diff:
                for k, v in diff.items():
                    setattr(person, k, v)
                summary.changed.append(row.name)
            else:
                summary.unchanged += 1
        listed.add(row.key)
    for key, person in by_key.items():
        if key not in listed and person.active:
            person.active = False
            summary.removed.append(person.name)
    session.flush()
    return summary
