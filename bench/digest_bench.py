"""The district digest over a generated year of records, against one hand-written SQL query.

    python bench/digest_bench.py [--short] [--runs N] [--backends sqlite,postgresql]
                                 [--schools N] [--days N] [--profile]

Generates a district (`benchlib.Shape`: 100 schools, ~100k people; `--short`: 5 schools and a
month) and a year of its morning-check records by bulk insert, shaped like the inbox writes
them: one current record per staff member per school day for the 90–98 % who report (a few
fevers and symptoms, ~1 % corrected, a few revoked), individual records for sick students
(reported by their head teacher until a normal `返校` record), and a class summary per class
from its head teacher (also 90–98 %). Every school has a group chat, so the job builds what it
builds in production.

Then, warm, the median of N runs of
- product: what the `digest` job builds for one day (`scheduler.digest_messages.
  build_digest_messages`: every school's group and principal digest, the bureau's district
  digest with the previous school day, open alerts, the follow-up list and the 14-day trend
  chart), in one transaction as `run_job_once` runs it; nothing is queued or sent;
- bare SQL: one aggregate query, GROUP BY school, for the same headline figures (staff due
  and reported, classes due and reported, 应到/实到/缺勤/因病缺勤, fevers, missing, symptom
  counts).
The two must agree (exit 1 otherwise), and the 14-day trend must agree with the same query run
per day. Aims: product under 1 s and within 2x of bare SQL ("meets" / "MISSES").
`--profile` (or a product run far off the aim) adds a per-step breakdown and a cProfile top list.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import math
import pstats
import random
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (Keys, Shape, append_school_groups, create_pg_database,  # noqa: E402
                      drop_pg_database, insert_district, pg_url, runnable_backends,
                      self_rss_kib, write_config)

from sqlalchemy import insert, text  # noqa: E402

from bot.config import load_config  # noqa: E402
from handlers import digest as compose  # noqa: E402
from handlers.figures import (STAFF_ROLES, SchoolTally, district_figures,  # noqa: E402
                              district_totals)
from handlers.lexicon import SYMPTOM_NAMES  # noqa: E402
from storage.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from storage.models import ClassReport, HealthRecord  # noqa: E402
from storage.snapshot import load_snapshot  # noqa: E402

DAY = dt.date(2026, 3, 4)          # a Wednesday; the digest is for this day
CHECK = "morning"
SHANGHAI_OFFSET = dt.timedelta(hours=8)
AIM_SECONDS = 1.0
AIM_RATIO = 2.0
CODES = list(SYMPTOM_NAMES)        # every symptom code the grammar knows
OTHER_SYMPTOMS = ["cough", "sore_throat", "runny_nose", "fatigue", "headache", "diarrhea",
                  "vomiting", "abdominal_pain", "dizziness", "rash"]


# --- generated records ---------------------------------------------------------------------

def utc(day: dt.date, hour: int, minute: int) -> dt.datetime:
    """A Shanghai wall-clock time on `day` as naive UTC (as stored)."""
    return (dt.datetime.combine(day, dt.time(hour)) + dt.timedelta(minutes=minute)
            - SHANGHAI_OFFSET)


def staff_reading(rng: random.Random, threshold: float):
    """(temperature, symptoms, abnormal) for one staff report, like the parser's output."""
    x = rng.random()
    if x < 0.003:                                   # "37.8" : a fever by temperature alone
        t, syms = round(rng.uniform(37.3, 39.2), 1), ()
    elif x < 0.005:                                 # "38.1 发热 咳嗽"
        t = round(rng.uniform(37.4, 39.0), 1)
        syms = ("fever",) + ((rng.choice(OTHER_SYMPTOMS),) if rng.random() < 0.5 else ())
    elif x < 0.011:                                 # "36.6 咳嗽"
        t, syms = round(rng.uniform(36.2, 37.1), 1), (rng.choice(OTHER_SYMPTOMS),)
    elif x < 0.013:                                 # "咳嗽" without a temperature
        t, syms = None, (rng.choice(OTHER_SYMPTOMS),)
    else:
        t, syms = round(rng.uniform(36.0, 37.1), 1), ()
    return t, syms, bool(syms) or (t is not None and t >= threshold)


def generate(engine, shape: Shape, people: list[dict], end: dt.date, span_days: int,
             calendar, threshold: float, seed: int = 7) -> dict:
    """Writes `span_days` calendar days of records up to `end` (school days only); counts."""
    staff = [p for p in people if p["role"] in STAFF_ROLES]
    heads = {(p["school_id"], p["class_name"]): p["id"] for p in people
             if p["role"] == "head_teacher"}
    students = [p for p in people if p["role"] == "student"]
    days = [end - dt.timedelta(days=i) for i in range(span_days - 1, -1, -1)]
    days = [d for d in days if calendar.is_school_day(d)]
    hid = cid = 0
    sick: dict[int, list] = {}                     # student id -> [days left, temp, symptoms]
    counts = {"school_days": len(days), "health_records": 0, "current_records": 0,
              "class_reports": 0}
    hcols = dict(message_id=None, replaced_at=None, replaced_by_id=None, revoked_at=None)
    for d in days:
        rng = random.Random(seed * 1_000_003 + d.toordinal())
        rate = rng.uniform(0.90, 0.98)
        hr, cr = [], []

        def record(person_id, by, t, syms, abnormal, at, *, revoked=False):
            nonlocal hid
            hid += 1
            row = {**hcols, "id": hid, "person_id": person_id, "day": d, "check": CHECK,
                   "temperature": t, "symptoms": ",".join(syms), "abnormal": abnormal,
                   "reported_by_id": by, "created_at": at}
            if revoked:
                row["revoked_at"] = at + dt.timedelta(minutes=2)
            hr.append(row)
            return row

        for p in staff:
            if rng.random() >= rate:
                if rng.random() < 0.02:            # reported, then took it back (撤销)
                    t, syms, ab = staff_reading(rng, threshold)
                    record(p["id"], p["id"], t, syms, ab, utc(d, 7, rng.randint(0, 80)),
                           revoked=True)
                continue
            at = utc(d, 7, rng.randint(0, 85))
            t, syms, ab = staff_reading(rng, threshold)
            new = record(p["id"], p["id"], t, syms, ab, at)
            if rng.random() < 0.01:                # an earlier reading, corrected by this one
                t0, s0, a0 = staff_reading(rng, threshold)
                old = record(p["id"], p["id"], t0, s0, a0, at - dt.timedelta(minutes=5))
                old["replaced_at"], old["replaced_by_id"] = at, new["id"]

        # students: some fall ill; their head teacher reports them daily until they are back
        for s in rng.sample(students, min(len(students), rng.randint(0, max(1, len(students) // 250)))):
            if s["id"] not in sick:
                fever = rng.random() < 0.5
                syms = (("fever",) if fever and rng.random() < 0.6 else ()) + \
                    ((rng.choice(OTHER_SYMPTOMS),) if not fever or rng.random() < 0.5 else ())
                t = round(rng.uniform(37.5, 39.3), 1) if fever else None
                sick[s["id"]] = [rng.randint(1, 4), t, syms, s]
        sick_by_class: dict[tuple, list[int]] = {}
        fever_by_class: dict[tuple, int] = {}
        for sid_, state in list(sick.items()):
            s = state[3]
            key = (s["school_id"], s["class_name"])
            head = heads.get(key)
            if state[0] <= 0:                      # 张三 返校: a normal record ends the streak
                record(sid_, head, None, (), False, utc(d, 7, rng.randint(30, 80)))
                del sick[sid_]
                continue
            state[0] -= 1
            sick_by_class.setdefault(key, []).append(sid_)
            t, syms = state[1], state[2]
            if t is not None and t >= threshold or "fever" in syms:
                fever_by_class[key] = fever_by_class.get(key, 0) + 1
            if rng.random() < 0.85:
                record(sid_, head, t, syms, True, utc(d, 7, rng.randint(30, 80)))

        for (school_id, klass), head in heads.items():
            if rng.random() >= rate:
                continue
            n_sick = len(sick_by_class.get((school_id, klass), ()))
            absent = n_sick + (1 if rng.random() < 0.1 else 0)
            stated = fever_by_class.get((school_id, klass), 0)
            if stated and rng.random() < 0.3:
                stated -= 1                         # the summary says fewer than were named
            at = utc(d, 7, rng.randint(20, 85))
            cid += 1
            new = {"id": cid, "school_id": school_id, "class_name": klass, "day": d,
                   "check": CHECK, "expected": shape.students_per_class,
                   "present": shape.students_per_class - absent, "absent": absent,
                   "sick_absent": n_sick, "fever": stated, "reported_by_id": head,
                   "message_id": None, "created_at": at, "replaced_at": None,
                   "replaced_by_id": None, "revoked_at": None}
            cr.append(new)
            if rng.random() < 0.01:
                cid += 1
                cr.append({**new, "id": cid, "present": new["present"] + 1,
                           "absent": max(0, absent - 1), "created_at": at - dt.timedelta(minutes=4),
                           "replaced_at": at, "replaced_by_id": new["id"]})
        with engine.begin() as conn:
            for i in range(0, len(hr), 5000):
                conn.execute(insert(HealthRecord.__table__), hr[i:i + 5000])
            if cr:
                conn.execute(insert(ClassReport.__table__), cr)
        counts["health_records"] += len(hr)
        counts["current_records"] += sum(1 for r in hr if r["replaced_at"] is None
                                         and r["revoked_at"] is None)
        counts["class_reports"] += len(cr)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in ("health_records", "class_reports"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"GREATEST(1, (SELECT coalesce(max(id), 0) FROM {table})))")
            conn.exec_driver_sql("ANALYZE")        # what autovacuum does after a bulk load
    return counts


# --- bare SQL ------------------------------------------------------------------------------

def bare_sql() -> str:
    staff = ", ".join(f"'{r}'" for r in STAFF_ROLES)
    sym_cols = ",\n".join(
        f"    SUM(CASE WHEN r.abnormal AND r.fever = 1 THEN 1 ELSE 0 END) AS sym_{c}" if c == "fever"
        else f"    SUM(CASE WHEN r.abnormal AND r.syms LIKE '%,{c},%' THEN 1 ELSE 0 END) AS sym_{c}"
        for c in CODES)
    sym_out = ", ".join(f"COALESCE(pr.sym_{c}, 0)" for c in CODES)
    return f"""
WITH rec AS (
  SELECT person_id, abnormal, ',' || symptoms || ',' AS syms,
         CASE WHEN ',' || symptoms || ',' LIKE '%,fever,%' OR temperature >= :thr
              THEN 1 ELSE 0 END AS fever
  FROM health_records
  WHERE day = :day AND "check" = :check AND replaced_at IS NULL AND revoked_at IS NULL
),
pe AS (
  SELECT school_id, SUM(CASE WHEN role IN ({staff}) THEN 1 ELSE 0 END) AS staff_expected
  FROM people WHERE active AND school_id IS NOT NULL
  GROUP BY school_id
),
pr AS (
  SELECT p.school_id,
    SUM(CASE WHEN p.role IN ({staff}) THEN 1 ELSE 0 END) AS staff_reported,
    SUM(CASE WHEN (p.role <> 'student' OR p.class_name IS NULL) AND r.fever = 1 THEN 1 ELSE 0 END)
      AS own_fevers,
{sym_cols}
  FROM rec r JOIN people p ON p.id = r.person_id
  WHERE p.active AND p.school_id IS NOT NULL
  GROUP BY p.school_id
),
cr AS (
  SELECT school_id, class_name, expected, present, absent, sick_absent, fever
  FROM class_reports
  WHERE day = :day AND "check" = :check AND replaced_at IS NULL AND revoked_at IS NULL
),
heads AS (
  SELECT DISTINCT school_id, class_name FROM people
  WHERE active AND role = 'head_teacher' AND school_id IS NOT NULL AND class_name IS NOT NULL
),
cls AS (
  SELECT h.school_id, COUNT(*) AS classes_expected, COUNT(cr.school_id) AS classes_reported
  FROM heads h LEFT JOIN cr ON cr.school_id = h.school_id AND cr.class_name = h.class_name
  GROUP BY h.school_id
),
sums AS (
  SELECT school_id, SUM(COALESCE(expected, 0)) AS expected, SUM(COALESCE(present, 0)) AS present,
         SUM(COALESCE(absent, 0)) AS absent, SUM(COALESCE(sick_absent, 0)) AS sick_absent
  FROM cr GROUP BY school_id
),
sf AS (
  SELECT p.school_id, p.class_name, COUNT(*) AS n
  FROM people p JOIN rec r ON r.person_id = p.id
  WHERE p.active AND p.role = 'student' AND p.class_name IS NOT NULL AND p.school_id IS NOT NULL
    AND r.fever = 1
  GROUP BY p.school_id, p.class_name
),
fk AS (SELECT school_id, class_name FROM cr UNION SELECT school_id, class_name FROM sf),
cf AS (
  SELECT fk.school_id,
         SUM(CASE WHEN COALESCE(cr.fever, 0) > COALESCE(sf.n, 0) THEN COALESCE(cr.fever, 0)
                  ELSE COALESCE(sf.n, 0) END) AS fevers
  FROM fk LEFT JOIN cr ON cr.school_id = fk.school_id AND cr.class_name = fk.class_name
          LEFT JOIN sf ON sf.school_id = fk.school_id AND sf.class_name = fk.class_name
  GROUP BY fk.school_id
)
SELECT s.name, pe.staff_expected, COALESCE(pr.staff_reported, 0),
       COALESCE(cls.classes_expected, 0), COALESCE(cls.classes_reported, 0),
       COALESCE(sums.expected, 0), COALESCE(sums.present, 0), COALESCE(sums.absent, 0),
       COALESCE(sums.sick_absent, 0), COALESCE(pr.own_fevers, 0) + COALESCE(cf.fevers, 0),
       {sym_out}
FROM pe JOIN schools s ON s.id = pe.school_id
  LEFT JOIN pr ON pr.school_id = pe.school_id
  LEFT JOIN cls ON cls.school_id = pe.school_id
  LEFT JOIN sums ON sums.school_id = pe.school_id
  LEFT JOIN cf ON cf.school_id = pe.school_id
ORDER BY s.name
"""


FIELDS = ("staff_expected", "staff_reported", "classes_expected", "classes_reported",
          "expected", "present", "absent", "sick_absent", "fevers")


def run_bare(engine, sql: str, day: dt.date, threshold: float) -> dict[str, dict]:
    """school name -> figures (FIELDS, missing, symptoms), from the one query."""
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"day": day, "check": CHECK, "thr": threshold}).all()
    out = {}
    for row in rows:
        vals = [int(v or 0) for v in row[1:]]
        figs = dict(zip(FIELDS, vals[:len(FIELDS)]))
        figs["missing"] = (figs["staff_expected"] - figs["staff_reported"]
                           + figs["classes_expected"] - figs["classes_reported"])
        figs["symptoms"] = {c: n for c, n in zip(CODES, vals[len(FIELDS):]) if n}
        out[row[0]] = figs
    return out


def product_figures(sessions, config, day: dt.date) -> dict[str, dict]:
    """The same figures through the product's own functions (snapshot → figures → tallies)."""
    thr = config.fever_threshold
    with sessions() as s:
        snap = load_snapshot(s, day, CHECK)
    out = {}
    for f in district_figures(snap, thr):
        t = f.tally()
        d = {k: getattr(t, k) for k in FIELDS}
        d["missing"] = t.missing
        d["symptoms"] = {c: n for c, n in f.symptom_counts.items() if n}
        out[f.school] = d
    return out


def tally_of(name: str, f: dict) -> SchoolTally:
    """A school's tally from the bare figures (零报告: all due reported, nothing found)."""
    zero = (f["missing"] == 0 and f["fevers"] == 0 and f["sick_absent"] == 0
            and not f.get("symptoms") and f["staff_expected"] + f["classes_expected"] > 0)
    return SchoolTally(school=name, **{k: f[k] for k in FIELDS}, missing=f["missing"],
                       zero_report=zero)


# --- timing --------------------------------------------------------------------------------

def median_time(fn, runs: int, warm: bool = True) -> tuple[float, list[float], object]:
    if warm:
        fn()                                        # warm: caches, pool, matplotlib, fonts
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


@contextmanager
def timed_steps(steps: dict[str, float]):
    """Wraps the functions the digest job calls (as the module sees them) to time each step."""
    import scheduler.chart
    import scheduler.digest_messages as dm

    targets = [(dm, "snapshots_of", "snapshots of the day and the previous school day"),
               (dm, "district_figures", "figures of the day (district_figures)"),
               (dm, "_followups", "follow-up list (open_followups)"),
               (compose, "school_digest", "school digests x2 per school (text)"),
               (dm, "tallies_of", "previous day figures (tallies_of)"),
               (dm, "open_cluster_alerts", "open cluster alerts"),
               (compose, "district_digest", "district digest (text)"),
               (dm, "trend", "trend: 14 school days (storage.trends.trend)"),
               (scheduler.chart, "trend_png", "trend chart PNG (matplotlib)")]
    saved = []
    for mod, name, label in targets:
        orig = getattr(mod, name)
        saved.append((mod, name, orig))

        def wrapper(*a, __orig=orig, __label=label, **kw):
            t0 = time.perf_counter()
            try:
                return __orig(*a, **kw)
            finally:
                steps[__label] = steps.get(__label, 0.0) + time.perf_counter() - t0
        setattr(mod, name, wrapper)
    try:
        yield
    finally:
        for mod, name, orig in saved:
            setattr(mod, name, orig)


def profile_product(build, top: int) -> None:
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    with timed_steps(steps):
        build()
    total = time.perf_counter() - t0
    print(f"  where the time goes (one run, {total:.2f} s):")
    for label, sec in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"    {sec:7.3f} s  {100 * sec / total:5.1f} %  {label}")
    rest = total - sum(steps.values())
    print(f"    {rest:7.3f} s  {100 * rest / total:5.1f} %  everything else")
    prof = cProfile.Profile()
    prof.enable()
    build()
    prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    lines = [l for l in buf.getvalue().splitlines() if l.strip()]
    start = next((i for i, l in enumerate(lines) if l.lstrip().startswith("ncalls")), 0)
    print(f"  cProfile, top {top} by own time (cProfile slows it down):")
    for l in lines[start:start + top + 1]:
        print("    " + l.replace(str(Path(__file__).resolve().parents[1]) + "/", ""))


# --- one backend -------------------------------------------------------------------------

def bench_backend(backend: str, shape: Shape, span_days: int, runs: int, workdir: Path,
                  profile: bool) -> tuple[list[str], bool]:
    """Prints the backend's figures; returns (problems, missed an aim)."""
    print(f"\n== {backend} ==", flush=True)
    keys = Keys.random()
    pg_name = None
    if backend == "postgresql":
        pg_name = create_pg_database("mc_bench_digest")
        url = pg_url(pg_name)
    else:
        url = f"sqlite:///{workdir}/digest.db"
    engine = None
    try:
        upgrade(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        schools, people = insert_district(engine, shape)
        cfg_path = write_config(workdir / f"{backend}.toml", url, keys)
        append_school_groups(cfg_path, schools)
        config = load_config(str(cfg_path))
        counts = generate(engine, shape, people, DAY, span_days, config.calendar,
                          config.fever_threshold)
        load_s = time.perf_counter() - t0
        print(f"data: {len(schools)} schools, {len(people):,} people, {counts['school_days']} school "
              f"days, {counts['health_records']:,} health records ({counts['current_records']:,} "
              f"current), {counts['class_reports']:,} class reports; generated and inserted in "
              f"{load_s:.1f} s", flush=True)
        print(f"RSS after load: {self_rss_kib() / 1024:.0f} MiB", flush=True)

        sessions = make_sessionmaker(engine)
        from scheduler.digest_messages import build_digest_messages
        taken_at = utc(DAY, 9, 30)

        def product():
            with sessions() as s, s.begin():       # as run_job_once: one transaction
                return build_digest_messages(s, config, DAY, CHECK, taken_at)

        sql = bare_sql()

        def bare():
            return run_bare(engine, sql, DAY, config.fever_threshold)

        # agreement first (its product and bare runs are the warm-up)
        problems = check_agreement(sessions, engine, config, sql, product(), bare())
        for p in problems:
            print("ERROR:", p)

        p_med, p_times, messages = median_time(product, runs, warm=False)
        print(f"product: median {p_med:.3f} s over {runs} runs "
              f"({', '.join(f'{t:.2f}' for t in p_times)}); {len(messages)} messages built",
              flush=True)
        b_med, b_times, _ = median_time(bare, runs, warm=False)
        print(f"bare SQL: median {b_med:.4f} s over {runs} runs "
              f"({', '.join(f'{t:.4f}' for t in b_times)})", flush=True)
        days15 = sorted({DAY, *trend_days(config)} | ({prev} if (prev := previous_day(config)) else set()))
        m15, _, _ = median_time(lambda: [run_bare(engine, sql, d, config.fever_threshold)
                                         for d in days15], max(3, runs // 2))
        # The digest job also runs the early warning (30 school days of counts per school)
        # and stores the day's signals; timed apart, inside a rolled-back transaction.
        from scheduler.surveillance_jobs import surveillance_messages

        def early_warning():
            with sessions() as s:
                with s.begin():
                    out = surveillance_messages(s, config, DAY, CHECK, now=taken_at)
                    s.rollback()
                return out
        ew_med, ew_times, (ew_alerts, ew_lines) = median_time(early_warning, max(3, runs // 2))
        print(f"early warning at the digest: median {ew_med:.3f} s "
              f"({', '.join(f'{t:.2f}' for t in ew_times)}); {len(ew_lines)} signal(s); "
              f"the whole digest job ≈ {p_med + ew_med:.3f} s", flush=True)
        ratio = p_med / b_med
        ok_time = p_med < AIM_SECONDS
        ok_ratio = ratio <= AIM_RATIO
        print(f"RSS after runs: {self_rss_kib() / 1024:.0f} MiB")
        print(f"result {backend}: product {p_med:.3f} s, bare SQL {b_med:.4f} s, ratio {ratio:.1f}x")
        print(f"  (context: the bare query run for each of the {len(days15)} days the digest "
              f"reads, today, the previous school day and the trend: {m15:.3f} s; "
              f"product / that = {p_med / m15:.1f}x)")
        print(f"  aim product < {AIM_SECONDS:.0f} s: {'meets' if ok_time else 'MISSES'}; "
              f"aim within {AIM_RATIO:.0f}x of bare SQL: {'meets' if ok_ratio else 'MISSES'}",
              flush=True)
        if profile or p_med > 2 * AIM_SECONDS:
            profile_product(product, 18)
        return problems, not (ok_time and ok_ratio)
    finally:
        if engine is not None:
            engine.dispose()
        if pg_name:
            drop_pg_database(pg_name)


def trend_days(config) -> list[dt.date]:
    return config.calendar.school_days_until(DAY, 14)


def previous_day(config):
    return config.calendar.previous_school_day(DAY)


def check_agreement(sessions, engine, config, sql, messages, bare) -> list[str]:
    problems = []
    prod = product_figures(sessions, config, DAY)
    if set(prod) != set(bare):
        problems.append(f"schools differ: product {len(prod)}, bare SQL {len(bare)}")
    for school in sorted(set(prod) & set(bare)):
        if prod[school] != bare[school]:
            diff = {k: (prod[school][k], bare[school][k]) for k in prod[school]
                    if prod[school][k] != bare[school][k]}
            problems.append(f"{school}: product vs bare SQL {diff}")
            if len(problems) > 5:
                break
    # The bureau digest the job built shows each school's line as the bare figures say.
    bureau = "\n".join(m.content for m in messages if ":bureau:" in m.dedupe_key)
    if not bureau:
        problems.append("the job built no bureau digest")
    lines_missing = [s for s, f in bare.items() if compose.school_line(tally_of(s, f)) not in bureau]
    if lines_missing:
        problems.append(f"{len(lines_missing)} school line(s) of the bureau digest differ from "
                        f"bare SQL, e.g. {lines_missing[0]}")
    total = district_totals([tally_of(s, f) for s, f in sorted(bare.items())])
    if f"发热 {total.fevers}人" not in bureau:
        problems.append(f"district fevers: bare SQL {total.fevers} not in the bureau digest")
    # The trend chart's points agree with the same query per day.
    from storage.trends import trend
    with sessions() as s:
        points = trend(s, config, DAY, CHECK)
    for pt in points:
        t = district_totals([tally_of(n, f) for n, f in
                                     run_bare(engine, sql, pt.day, config.fever_threshold).items()])
        if (t.fevers, t.sick_absent) != (pt.fevers, pt.sick_absent) or (
                (t.rate is None) != (pt.rate is None)
                or (t.rate is not None and not math.isclose(t.rate, pt.rate))):
            problems.append(f"trend {pt.day}: product {pt} vs bare SQL rate {t.rate} "
                            f"fevers {t.fevers} sick {t.sick_absent}")
    n_fev = sum(f["fevers"] for f in bare.values())
    n_sym = sum(sum(f["symptoms"].values()) for f in bare.values())
    print(f"agreement: {len(bare)} schools, {len(points)} trend days checked "
          f"({'OK' if not problems else 'MISMATCH'}); the day has {n_fev} fevers, "
          f"{n_sym} symptom mentions, "
          f"{sum(f['missing'] for f in bare.values())} missing (staff + classes)", flush=True)
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true",
                    help="5 small schools, a month: a few seconds (CI smoke test)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per target (median; >= 5)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--schools", type=int, default=None)
    ap.add_argument("--days", type=int, default=None, help="calendar days of records (365)")
    ap.add_argument("--profile", action="store_true", help="per-step breakdown and cProfile")
    a = ap.parse_args()
    shape = (Shape(schools=a.schools or 5, classes=8, teachers=12, students_per_class=30)
             if a.short else Shape(schools=a.schools or 100))
    span = a.days or (30 if a.short else 365)
    runs = max(5, a.runs)
    print(f"district digest bench: {shape.schools} schools, {shape.people:,} people, "
          f"{span} calendar days up to {DAY}, {runs} warm runs per target", flush=True)
    problems: list[str] = []
    missed = False
    with tempfile.TemporaryDirectory(prefix="mc-digest-bench-") as tmp:
        for backend in runnable_backends(a.backends):
            p, m = bench_backend(backend, shape, span, runs, Path(tmp), a.profile)
            problems += [f"{backend}: {x}" for x in p]
            missed |= m
    print()
    if problems:
        for p in problems:
            print("ERROR:", p)
        return 1
    print("figures agree on every backend" + ("; some aims MISSED" if missed else "; aims met"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
