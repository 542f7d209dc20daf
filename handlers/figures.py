"""A day's figures as plain data: who must report, who did, who is missing, what was abnormal.

`storage.snapshot.load_snapshot` fills a `DaySnapshot` from the database; everything here is a
pure function of it, shared by the chat commands, the reminder jobs and the digests.
Staff (teachers, head teachers, principals) report their own temperature; each class (every
class a head teacher leads) reports a class summary through its head teacher.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

STAFF_ROLES = ("teacher", "head_teacher", "principal")


class PersonRow(NamedTuple):
    id: int
    name: str
    role: str
    school: str | None
    class_name: str | None
    userid: str | None


class RecordRow(NamedTuple):
    person_id: int
    temperature: float | None
    symptoms: tuple[str, ...]
    abnormal: bool
    reported_at: dt.datetime
    reported_by_id: int | None = None


class ClassRow(NamedTuple):
    school: str
    class_name: str
    expected: int | None
    present: int | None
    absent: int | None
    sick_absent: int | None
    fever: int | None
    reported_at: dt.datetime
    head_teacher_id: int | None = None


@dataclass(frozen=True)
class DaySnapshot:
    day: dt.date
    check: str
    taken_at: dt.datetime
    people: tuple[PersonRow, ...]
    records: dict[int, RecordRow] = field(default_factory=dict)          # person id → record
    class_reports: dict[tuple[str, str], ClassRow] = field(default_factory=dict)

    def schools(self) -> list[str]:
        return sorted(s for s in self._by_school if s)

    def person(self, person_id: int) -> PersonRow | None:
        return self._by_id.get(person_id)

    def people_of(self, school: str | None) -> tuple[PersonRow, ...]:
        """Everyone in `school` (None: the whole district), in roster order."""
        return self.people if school is None else self._by_school.get(school, ())

    # Indexes, built once per snapshot on first use: a district digest asks for each school's
    # people a few times over, and a district has a hundred schools and 100k people.
    @cached_property
    def _by_school(self) -> dict[str | None, tuple[PersonRow, ...]]:
        out: dict[str | None, list[PersonRow]] = {}
        for p in self.people:
            out.setdefault(p.school, []).append(p)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def _by_id(self) -> dict[int, PersonRow]:
        return {p.id: p for p in self.people}


@dataclass(frozen=True)
class ClassStatus:
    school: str
    class_name: str
    head_teachers: tuple[PersonRow, ...]
    report: ClassRow | None


@dataclass(frozen=True)
class SchoolFigures:
    school: str
    staff_expected: int
    staff_reported: int
    classes_expected: int
    classes_reported: int
    expected: int          # 应到 (sum over reported classes)
    present: int           # 实到
    absent: int            # 缺勤
    sick_absent: int       # 因病缺勤
    class_fever: int       # fevers stated in class summaries
    abnormal_people: tuple[tuple[PersonRow, RecordRow], ...]
    symptom_counts: dict[str, int]
    missing_staff: tuple[PersonRow, ...]
    missing_classes: tuple[ClassStatus, ...]

    @property
    def fever_people(self) -> int:
        return sum(1 for _p, r in self.abnormal_people if "fever" in r.symptoms)

    @property
    def complete(self) -> bool:
        return not self.missing_staff and not self.missing_classes

    @property
    def zero_report(self) -> bool:
        """Nothing abnormal anywhere: the 零报告 line."""
        return not self.abnormal_people and self.class_fever == 0 and self.sick_absent == 0


def staff(snapshot: DaySnapshot, school: str | None = None) -> list[PersonRow]:
    return [p for p in snapshot.people_of(school) if p.role in STAFF_ROLES]


def classes(snapshot: DaySnapshot, school: str | None = None) -> list[ClassStatus]:
    """Every class that has a head teacher, with its summary if reported."""
    heads: dict[tuple[str, str], list[PersonRow]] = {}
    for p in snapshot.people_of(school):
        if p.role == "head_teacher" and p.school and p.class_name:
            heads.setdefault((p.school, p.class_name), []).append(p)
    return [ClassStatus(s, c, tuple(h), snapshot.class_reports.get((s, c)))
            for (s, c), h in sorted(heads.items())]


def principal_userids(snapshot: DaySnapshot, school: str) -> list[str]:
    """Who gets a school's private messages (escalations, the principal's digest)."""
    return sorted({p.userid for p in snapshot.people_of(school)
                   if p.role == "principal" and p.userid})


def missing_staff(snapshot: DaySnapshot, school: str | None = None) -> list[PersonRow]:
    return [p for p in staff(snapshot, school) if p.id not in snapshot.records]


def missing_classes(snapshot: DaySnapshot, school: str | None = None) -> list[ClassStatus]:
    return [c for c in classes(snapshot, school) if c.report is None]


def school_figures(snapshot: DaySnapshot, school: str) -> SchoolFigures:
    all_staff = staff(snapshot, school)
    cls = classes(snapshot, school)
    reported = [c.report for c in cls if c.report]
    # class reports for classes without a head teacher on the roster still count in totals
    led = {x.class_name for x in cls}
    extra = [r for (s, c), r in snapshot.class_reports.items() if s == school and c not in led]
    reports = reported + extra
    records = snapshot.records
    abnormal = tuple(sorted(((p, records[p.id]) for p in snapshot.people_of(school)
                             if p.id in records and records[p.id].abnormal),
                            key=lambda pr: (pr[0].class_name or "", pr[0].name)))
    symptoms = Counter()
    for _p, r in abnormal:
        symptoms.update(r.symptoms)
    return SchoolFigures(
        school=school,
        staff_expected=len(all_staff),
        staff_reported=sum(1 for p in all_staff if p.id in snapshot.records),
        classes_expected=len(cls),
        classes_reported=len(reported),
        expected=sum(r.expected or 0 for r in reports),
        present=sum(r.present or 0 for r in reports),
        absent=sum(r.absent or 0 for r in reports),
        sick_absent=sum(r.sick_absent or 0 for r in reports),
        class_fever=sum(r.fever or 0 for r in reports),
        abnormal_people=abnormal,
        symptom_counts=dict(symptoms),
        missing_staff=tuple(p for p in all_staff if p.id not in records),
        missing_classes=tuple(c for c in cls if c.report is None),
    )


def district_figures(snapshot: DaySnapshot) -> list[SchoolFigures]:
    return [school_figures(snapshot, s) for s in snapshot.schools()]


@dataclass(frozen=True)
class FollowUpRow:
    """A student on the sick-absence follow-up list (因病缺勤追踪) until reported back."""
    person_id: int
    name: str
    school: str
    class_name: str | None
    symptoms: tuple[str, ...]
    since: dt.date
    days_absent: int
