"""Early warning's data: daily counts per school and signal, and the stored signals.

Counts of a day (all checks of the day together, each person or class once):
- `sick_absent`: the class summaries' 病假 / 因病缺勤, per class the largest of the day's checks;
- `fever`: `handlers.health.is_fever` on the current records (staff, and students without a
  class) plus per class the larger of the summaries' stated 发热 and its students with a fever
  record (as the digests count it);
- `respiratory`, `digestive`, `rash`: people with a current record whose symptoms meet the
  group of `handlers.health.SYMPTOM_GROUPS`.
A school *reported* a day for `sick_absent` when it has a class summary that day, for the
symptom groups when it has a health record, for `fever` either; only reported school days
enter its series. Heads: the school's active people (today's roster; it keeps no history);
only their records count.

`evaluate_range` evaluates every reported school day of a range (the backtest, the dashboard),
`evaluate_day` one day (the digest); `store_signals` keeps each day's signal once.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from handlers import surveillance as sv
from handlers.health import SYMPTOM_GROUPS, is_fever
from storage.models import (ClassReport, HealthRecord, Person, School, SurveillanceSignal,
                            utcnow)
from storage.records import CURRENT_CLASS, CURRENT_RECORD

RECORD_SIGNALS = ("respiratory", "digestive", "rash")
LOOKBACK_FACTOR = 3          # school days looked back per point a day's evaluation needs


@dataclass
class Counts:
    """Daily counts of a date range: per (school id, signal) day → count, and reported days."""
    schools: dict[int, tuple[str, int]]                        # id → (name, heads)
    counts: dict[tuple[int, str], dict[dt.date, int]]
    reported: dict[tuple[int, str], set[dt.date]]

    def series(self, school_id: int, signal: str, days) -> list[sv.Point]:
        _name, heads = self.schools[school_id]
        return sv.series_of(days, self.counts.get((school_id, signal), {}),
                            self.reported.get((school_id, signal), set()), heads)


@dataclass(frozen=True)
class Scored:
    """One evaluated school day of one signal."""
    school_id: int
    school: str
    signal: str
    evaluation: sv.Evaluation

    def as_json(self) -> dict:
        e = self.evaluation
        return {"date": e.day.isoformat(), "school": self.school, "signal": self.signal,
                "count": e.count, "expected": round(e.expected, 2),
                "score": round(e.score, 2), "method": e.method}


def school_heads(session: Session) -> dict[int, tuple[str, int]]:
    """Schools with active people: id → (name, active people)."""
    rows = session.execute(
        select(School.id, School.name, func.count(Person.id))
        .join(Person, Person.school_id == School.id).where(Person.active.is_(True))
        .group_by(School.id, School.name))
    return {sid: (name, n) for sid, name, n in rows}


def daily_counts(session: Session, start: dt.date, end: dt.date, threshold: float, *,
                 school_id: int | None = None) -> Counts:
    """Every school's (or one school's) counts of every signal from `start` to `end`."""
    only = school_id
    schools = school_heads(session)
    if only is not None:
        schools = {k: v for k, v in schools.items() if k == only}
    counts: dict[tuple[int, str], dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    reported: dict[tuple[int, str], set[dt.date]] = defaultdict(set)
    in_range = (HealthRecord.day >= start, HealthRecord.day <= end, *CURRENT_RECORD)
    active = (Person.active.is_(True), Person.school_id.is_not(None)) if only is None \
        else (Person.active.is_(True), Person.school_id == only)

    for day, school_id in session.execute(
            select(HealthRecord.day, Person.school_id).join(Person, Person.id == HealthRecord.person_id)
            .where(*in_range, *active).distinct()):
        for signal in ("fever", *RECORD_SIGNALS):
            reported[(school_id, signal)].add(day)

    # Only records that may count: a stated symptom, or a temperature the fever rule may call a
    # fever (a prefilter for speed; is_fever decides below).
    hot_students: dict[tuple[dt.date, int, str], set[int]] = defaultdict(set)
    hot_staff: dict[tuple[dt.date, int], set[int]] = defaultdict(set)
    grouped: dict[tuple[dt.date, int, str], set[int]] = defaultdict(set)
    for day, pid, temp, symptoms, role, school_id, class_name in session.execute(
            select(HealthRecord.day, HealthRecord.person_id, HealthRecord.temperature,
                   HealthRecord.symptoms, Person.role, Person.school_id, Person.class_name)
            .join(Person, Person.id == HealthRecord.person_id)
            .where(*in_range, *active, or_(HealthRecord.symptoms != "",
                                           HealthRecord.temperature >= threshold))):
        codes = tuple(s for s in symptoms.split(",") if s)
        if is_fever(temp, codes, threshold):
            if role == "student" and class_name:
                hot_students[(day, school_id, class_name)].add(pid)
            else:
                hot_staff[(day, school_id)].add(pid)
        for group, members in SYMPTOM_GROUPS.items():
            if members.intersection(codes):
                grouped[(day, school_id, group)].add(pid)
    for (day, school_id, group), people in grouped.items():
        counts[(school_id, group)][day] += len(people)
    for (day, school_id), people in hot_staff.items():
        counts[(school_id, "fever")][day] += len(people)

    # Class summaries: per class the day's largest figures (morning and noon name the same
    # children), summed per school by the database.
    per_class = (select(ClassReport.day, ClassReport.school_id, ClassReport.class_name,
                        func.max(ClassReport.sick_absent).label("sick"),
                        func.max(ClassReport.fever).label("fever"))
                 .where(ClassReport.day >= start, ClassReport.day <= end, *CURRENT_CLASS,
                        *(() if only is None else (ClassReport.school_id == only,)))
                 .group_by(ClassReport.day, ClassReport.school_id, ClassReport.class_name)
                 .subquery())
    for day, school_id, sick in session.execute(
            select(per_class.c.day, per_class.c.school_id, func.sum(per_class.c.sick))
            .group_by(per_class.c.day, per_class.c.school_id)):
        reported[(school_id, "sick_absent")].add(day)
        reported[(school_id, "fever")].add(day)
        counts[(school_id, "sick_absent")][day] += int(sick or 0)
    stated = {(day, school_id, class_name): fever for day, school_id, class_name, fever in
              session.execute(select(per_class.c.day, per_class.c.school_id,
                                     per_class.c.class_name, per_class.c.fever)
                              .where(per_class.c.fever > 0))}
    for key in set(stated) | set(hot_students):
        day, school_id, _class = key
        counts[(school_id, "fever")][day] += max(stated.get(key, 0) or 0,
                                                len(hot_students.get(key, ())))
    # only schools with an active roster have heads to count against
    return Counts(schools,
                  {k: dict(v) for k, v in counts.items() if k[0] in schools},
                  {k: v for k, v in reported.items() if k[0] in schools})


def lookback_start(calendar, day: dt.date, params: sv.Params) -> dt.date:
    """The first day a day's evaluation reads: enough school days for a school that missed a
    few (LOOKBACK_FACTOR points of history per point needed)."""
    back = calendar.previous_school_days(day, LOOKBACK_FACTOR * (params.history_needed + 1))
    return back[-1] if back else day


def evaluate_range(session: Session, config, start: dt.date, end: dt.date, *,
                   method: str | None = None, counts: Counts | None = None,
                   school_id: int | None = None) -> list[Scored]:
    """Every reported school day from `start` to `end` of every school (or one) and signal,
    evaluated with the history before it; ordered by day, school, signal."""
    params = sv.Params.of(config.surveillance, method)
    if params.method == "off":
        return []
    first = lookback_start(config.calendar, start, params)
    if counts is None:
        counts = daily_counts(session, first, end, config.fever_threshold, school_id=school_id)
    days = config.calendar.school_days(first, end)
    out = []
    for school_id, (name, _heads) in counts.schools.items():
        for signal in sv.SIGNALS:
            series = counts.series(school_id, signal, days)
            for e in sv.evaluate_series(series, params):
                if e.day >= start:
                    out.append(Scored(school_id, name, signal, e))
    order = {s: i for i, s in enumerate(sv.SIGNALS)}
    out.sort(key=lambda r: (r.evaluation.day, r.school, order[r.signal]))
    return out


def evaluate_day(session: Session, config, day: dt.date, *, method: str | None = None
                 ) -> list[Scored]:
    """Every school's and signal's evaluation of one day (those that reported it)."""
    return evaluate_range(session, config, day, day, method=method)


def store_signals(session: Session, scored: list[Scored], *, threshold: float,
                  baseline_days: int, now: dt.datetime | None = None) -> list[Scored]:
    """Stores the signals among `scored` not stored yet (one per day, school and signal, in
    the caller's transaction); returns those newly stored."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = now or utcnow()
    new = []
    for s in scored:
        e = s.evaluation
        if not e.signal:
            continue
        stmt = insert(SurveillanceSignal).values(
            day=e.day, school_id=s.school_id, signal=s.signal, method=e.method, count=e.count,
            heads=e.heads, expected=e.expected, sd=e.sd, score=e.score, threshold=threshold,
            baseline_days=baseline_days, created_at=now,
        ).on_conflict_do_nothing(index_elements=["day", "school_id", "signal"]
                                 ).returning(SurveillanceSignal.id)
        if session.execute(stmt).scalar() is not None:
            new.append(s)
    return new


def signals_on(session: Session, day: dt.date, *, school: str | None = None) -> list[dict]:
    """The stored signals of a day as plain dicts (school name and figures), by school."""
    q = (select(SurveillanceSignal, School.name).join(School, School.id == SurveillanceSignal.school_id)
         .where(SurveillanceSignal.day == day))
    if school is not None:
        q = q.where(School.name == school)
    order = {s: i for i, s in enumerate(sv.SIGNALS)}
    out = [signal_dict(row, name) for row, name in session.execute(q)]
    return sorted(out, key=lambda s: (s["school"], order.get(s["signal"], 9)))


def signal_dict(row: SurveillanceSignal, school: str) -> dict:
    return {"day": row.day, "school_id": row.school_id, "school": school, "signal": row.signal,
            "method": row.method, "count": row.count, "heads": row.heads,
            "expected": row.expected, "sd": row.sd, "score": row.score,
            "threshold": row.threshold, "baseline_days": row.baseline_days}


def recent_counts(counts: Counts, calendar, school_id: int, signal: str, end: dt.date,
                  n: int = sv.SPARK_DAYS) -> list[int | None]:
    """The last `n` school days up to `end`: the count, or None where the school reported
    nothing (what a sparkline shows)."""
    days = calendar.previous_school_days(end, n - 1)[::-1] + [end]
    got = counts.counts.get((school_id, signal), {})
    seen = counts.reported.get((school_id, signal), set())
    return [got.get(d, 0) if d in seen else None for d in days]
