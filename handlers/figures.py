"""A day's figures as plain data: who must report, who did, who is missing, what was abnormal.

`storage.snapshot.load_snapshot` fills a `DaySnapshot` from the database; everything here is a
pure function of it, shared by the chat commands, the reminder jobs, the digests, the dashboard
and the export: `school_figures` is the one place a school's day is counted.
Staff (teachers, head teachers, principals) report their own temperature; each class (every
class a head teacher leads) reports a class summary through its head teacher.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple, Sequence

from handlers.health import effective_symptoms, is_abnormal, is_fever

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
    on_leave: frozenset[int] = frozenset()      # person ids on leave (请假) that day

    def schools(self) -> list[str]:
        return sorted(s for s in self._by_school if s)

    def person(self, person_id: int) -> PersonRow | None:
        return self._by_id.get(person_id)

    def people_of(self, school: str | None) -> tuple[PersonRow, ...]:
        """Everyone in `school` (None: the whole district), in roster order."""
        return self.people if school is None else self._by_school.get(school, ())

    def excused(self, person_id: int) -> bool:
        """On leave and not reported: not due that day (a report on a leave day still counts)."""
        return person_id in self.on_leave and person_id not in self.records

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
class SchoolTally:
    """The numbers one school contributes to a digest line, a chart point or a summary row."""
    school: str
    staff_reported: int
    staff_expected: int
    classes_reported: int
    classes_expected: int
    expected: int           # 应到
    present: int            # 实到
    absent: int             # 缺勤
    sick_absent: int        # 因病缺勤
    fevers: int             # 发热 (people, counted once)
    missing: int            # staff + classes still missing
    on_leave: int = 0       # staff on leave (请假), not due
    zero_report: bool = False

    @property
    def reported(self) -> int:
        return self.staff_reported + self.classes_reported

    @property
    def due(self) -> int:
        return self.staff_expected + self.classes_expected

    @property
    def reported_nothing(self) -> bool:
        return self.due > 0 and self.reported == 0

    @property
    def complete(self) -> bool:
        return self.missing == 0


@dataclass(frozen=True)
class SchoolFigures:
    """Every figure of one school for one day and check: what 统计, the digests, the dashboard,
    the export's summary sheet and the alerts show all come from here."""
    school: str
    staff_expected: int    # staff due: the active staff less those on leave who did not report
    staff_reported: int
    classes_expected: int
    classes_reported: int
    expected: int          # 应到 (sum over reported classes)
    present: int           # 实到
    absent: int            # 缺勤
    sick_absent: int       # 因病缺勤
    class_fever: int       # fevers stated in class summaries
    fevers: int            # 发热: people, each once (see `count_fevers`)
    abnormal_people: tuple[tuple[PersonRow, RecordRow], ...]
    symptom_counts: dict[str, int]      # people per symptom, fever by temperature included
    missing_staff: tuple[PersonRow, ...]
    missing_classes: tuple[ClassStatus, ...]
    staff_on_leave: tuple[PersonRow, ...] = ()

    @property
    def fever_people(self) -> int:
        return self.fevers

    @property
    def complete(self) -> bool:
        """Every staff member and every class due this check reported."""
        return not self.missing_staff and not self.missing_classes

    @property
    def clean(self) -> bool:
        """Nothing abnormal among what was reported."""
        return (not self.abnormal_people and self.fevers == 0 and self.class_fever == 0
                and self.sick_absent == 0)

    @property
    def zero_report(self) -> bool:
        """零报告: everyone due was checked and nothing was found."""
        return self.complete and self.clean and (self.staff_expected + self.classes_expected) > 0

    @property
    def reported_anything(self) -> bool:
        return self.staff_reported + self.classes_reported > 0

    @property
    def reported_nothing(self) -> bool:
        return (self.staff_expected + self.classes_expected) > 0 and not self.reported_anything

    @property
    def missing(self) -> int:
        return len(self.missing_staff) + len(self.missing_classes)

    def tally(self) -> SchoolTally:
        return SchoolTally(
            school=self.school, staff_reported=self.staff_reported,
            staff_expected=self.staff_expected, classes_reported=self.classes_reported,
            classes_expected=self.classes_expected, expected=self.expected,
            present=self.present, absent=self.absent, sick_absent=self.sick_absent,
            fevers=self.fevers, missing=len(self.missing_staff) + len(self.missing_classes),
            on_leave=len(self.staff_on_leave), zero_report=self.zero_report)


def attention_order(schools):
    """Schools (figures or tallies) as a reader should see them: those that reported nothing
    first, then those that have not reported fully (most missing first), then the rest."""
    return sorted(schools, key=lambda t: (not t.reported_nothing, t.complete, -t.missing, t.school))


def staff(snapshot: DaySnapshot, school: str | None = None) -> list[PersonRow]:
    """The staff due to report (on leave and not reported: not due)."""
    return [p for p in snapshot.people_of(school)
            if p.role in STAFF_ROLES and not snapshot.excused(p.id)]


def staff_on_leave(snapshot: DaySnapshot, school: str | None = None) -> list[PersonRow]:
    return [p for p in snapshot.people_of(school)
            if p.role in STAFF_ROLES and snapshot.excused(p.id)]


def classes(snapshot: DaySnapshot, school: str | None = None) -> list[ClassStatus]:
    """Every class that has a head teacher, with its summary if reported."""
    heads: dict[tuple[str, str], list[PersonRow]] = {}
    for p in snapshot.people_of(school):
        if p.role == "head_teacher" and p.school and p.class_name:
            heads.setdefault((p.school, p.class_name), []).append(p)
    return [ClassStatus(s, c, tuple(h), snapshot.class_reports.get((s, c)))
            for (s, c), h in sorted(heads.items())]


def missing_staff(snapshot: DaySnapshot, school: str | None = None) -> list[PersonRow]:
    return [p for p in staff(snapshot, school) if p.id not in snapshot.records]


def missing_classes(snapshot: DaySnapshot, school: str | None = None) -> list[ClassStatus]:
    return [c for c in classes(snapshot, school) if c.report is None]


def count_fevers(staff_fevers: int, student_fevers: dict[str, int],
                 stated: dict[str, int]) -> int:
    """A school's fevers, each person once.

    Staff count from their own reports. A class counts the larger of the fevers its head
    teacher states in the class summary and its students reported one by one with a fever (the
    same child is often in both). The trend (`storage.trends`) counts with this too.
    """
    return staff_fevers + sum(max(stated.get(k, 0), student_fevers.get(k, 0))
                              for k in set(stated) | set(student_fevers))


def school_figures(snapshot: DaySnapshot, school: str, threshold: float) -> SchoolFigures:
    all_staff = staff(snapshot, school)
    cls = classes(snapshot, school)
    reported = [c.report for c in cls if c.report]
    # class reports for classes without a head teacher on the roster still count in totals
    led = {x.class_name for x in cls}
    extra = [r for (s, c), r in snapshot.class_reports.items() if s == school and c not in led]
    reports = reported + extra
    records = snapshot.records
    abnormal = []
    symptoms: Counter[str] = Counter()
    staff_fevers = 0
    student_fevers: Counter[str] = Counter()
    for p in snapshot.people_of(school):
        r = records.get(p.id)
        if r is None:
            continue
        if is_abnormal(r.temperature, r.symptoms, threshold):
            abnormal.append((p, r))
            symptoms.update(set(effective_symptoms(r.temperature, r.symptoms, threshold)))
        if is_fever(r.temperature, r.symptoms, threshold):
            if p.role == "student" and p.class_name:
                student_fevers[p.class_name] += 1
            else:
                staff_fevers += 1
    stated = {c: (r.fever or 0) for (s, c), r in snapshot.class_reports.items() if s == school}
    return SchoolFigures(
        school=school,
        staff_expected=len(all_staff),
        staff_reported=sum(1 for p in all_staff if p.id in records),
        classes_expected=len(cls),
        classes_reported=len(reported),
        expected=sum(r.expected or 0 for r in reports),
        present=sum(r.present or 0 for r in reports),
        absent=sum(r.absent or 0 for r in reports),
        sick_absent=sum(r.sick_absent or 0 for r in reports),
        class_fever=sum(r.fever or 0 for r in reports),
        fevers=count_fevers(staff_fevers, student_fevers, stated),
        abnormal_people=tuple(sorted(abnormal, key=lambda pr: (pr[0].class_name or "", pr[0].name))),
        symptom_counts=dict(symptoms),
        missing_staff=tuple(p for p in all_staff if p.id not in records),
        missing_classes=tuple(c for c in cls if c.report is None),
        staff_on_leave=tuple(staff_on_leave(snapshot, school)),
    )


def district_figures(snapshot: DaySnapshot, threshold: float) -> list[SchoolFigures]:
    return [school_figures(snapshot, s, threshold) for s in snapshot.schools()]


@dataclass(frozen=True)
class DistrictTotals:
    schools: int
    schools_silent: int
    staff_reported: int
    staff_expected: int
    classes_reported: int
    classes_expected: int
    expected: int
    present: int
    absent: int
    sick_absent: int
    fevers: int
    schools_incomplete: int = 0
    schools_zero_report: int = 0
    on_leave: int = 0

    @property
    def rate(self) -> float | None:
        """Reporting rate in percent (staff and classes together), None with nothing due."""
        due = self.staff_expected + self.classes_expected
        return None if due == 0 else 100.0 * (self.staff_reported + self.classes_reported) / due

    @property
    def zero_report(self) -> bool:
        """The whole district checked, nothing found."""
        return self.schools > 0 and self.schools_zero_report == self.schools


def district_totals(tallies: Sequence[SchoolTally]) -> DistrictTotals:
    return DistrictTotals(
        schools=len(tallies), schools_silent=sum(1 for t in tallies if t.reported_nothing),
        staff_reported=sum(t.staff_reported for t in tallies),
        staff_expected=sum(t.staff_expected for t in tallies),
        classes_reported=sum(t.classes_reported for t in tallies),
        classes_expected=sum(t.classes_expected for t in tallies),
        expected=sum(t.expected for t in tallies), present=sum(t.present for t in tallies),
        absent=sum(t.absent for t in tallies), sick_absent=sum(t.sick_absent for t in tallies),
        fevers=sum(t.fevers for t in tallies),
        schools_incomplete=sum(1 for t in tallies if not t.complete),
        schools_zero_report=sum(1 for t in tallies if t.zero_report),
        on_leave=sum(t.on_leave for t in tallies))


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
