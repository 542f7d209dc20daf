"""The supplies reallocation plan (`supplies plan`) for a large district.

    python bench/supplies_bench.py [--short] [--schools N] [--seed S]

A generated district of 1,000 schools (`--short`: 100) and 5 items, each school with 200 to
3,000 people and a stock drawn so that about a third are below `min_days`, a third around it
and a third above, in two scenarios: `ample` (the district's surplus above its deficits) and `scarce`
(about half). For each it times, best of 5:

- `plan_item` (ours: the best-fit plan of `handlers.supplies`; exact DP only for ≤12 schools
  taking part, so here the greedy), every item;
- the naive baseline on the same figures: short schools in name order, each filled from the
  donors in name order (northwest corner), every short school it can;
- `storage.supplies.district_plans` on SQLite: the same district's latest counts and active
  people loaded from a database (people as rows: 20 a school here, the counts set to match),
  then planned.

Prints transfers, schools lifted and units moved for ours and the baseline, the time of each
and their ratio. Checks that no plan leaves a donor under its minimum, gives a school more
than it lacks, or moves more than the district can spare; exits 1 otherwise.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers.config import SupplyItem  # noqa: E402
from handlers.supplies import (ItemPlan, SchoolStock, exact, naive_plan, needs,  # noqa: E402
                               plan_item, required)

DAY = dt.date(2026, 3, 4)
ITEMS = (SupplyItem("口罩", "个", 2, 7), SupplyItem("消毒液", "升", 0.05, 7),
         SupplyItem("体温枪", "把", 0.01, 14), SupplyItem("手套", "双", 1, 7),
         SupplyItem("酒精", "升", 0.02, 10))
SCENARIOS = {"ample": 1.6, "scarce": 0.55}       # surplus ÷ deficit, roughly


def district(n: int, item: SupplyItem, rng: random.Random, ratio: float) -> list[SchoolStock]:
    schools = []
    for i in range(n):
        people = rng.randint(200, 3000)
        need = float(required(item, people))
        band = rng.random()
        if band < 1 / 3:                   # short: on average 52.5% of the need missing
            level = rng.uniform(0.0, 0.95)
        elif band < 2 / 3:                 # around the minimum
            level = rng.uniform(0.97, 1.03)
        else:                              # donors: on average ratio × 52.5% to spare
            level = 1 + rng.uniform(0.0, 1.05 * ratio)
        stock = round(need * level) if item.unit in ("个", "把", "双") else round(need * level, 1)
        schools.append(SchoolStock(f"学校{i:04d}", stock, DAY - dt.timedelta(days=rng.randint(0, 6)),
                                   people))
    return schools


def timed(fn, repeat: int = 5):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def problems(item: SupplyItem, schools: list[SchoolStock], flows) -> list[str]:
    by = {s.school: s for s in schools}
    deficits, surpluses, _ = needs(item, schools, DAY)
    given, got = {}, {}
    for donor, taker, amount in flows:
        given[donor] = given.get(donor, 0) + amount
        got[taker] = got.get(taker, 0) + amount
    out = []
    for donor, amount in given.items():
        s = by[donor]
        if exact(s.stock) - amount < required(item, s.people):
            out.append(f"{item.name}: {donor} drawn below its minimum")
    for taker, amount in got.items():
        if amount > deficits.get(taker, 0):
            out.append(f"{item.name}: {taker} got more than it lacks")
    if sum(given.values()) > sum(surpluses.values()):
        out.append(f"{item.name}: moved more than the district can spare")
    return out


def summary(item: SupplyItem, schools, flows) -> tuple[int, int, int]:
    deficits, _s, _u = needs(item, schools, DAY)
    got = {}
    for _d, taker, amount in flows:
        got[taker] = got.get(taker, 0) + amount
    lifted = sum(1 for k, v in deficits.items() if got.get(k, 0) >= v)
    return len(flows), lifted, sum(a for *_x, a in flows)


def bench_sqlite(n: int, data: dict[str, list[SchoolStock]]) -> tuple[float, list[ItemPlan]]:
    """Loads the counts and people from SQLite and plans, as `supplies plan` does."""
    from sqlalchemy import insert

    from handlers.config import parse_config
    from storage.db import make_engine, make_sessionmaker, upgrade
    from storage.models import Person, School, SupplyCount
    from storage.supplies import district_plans

    tmp = tempfile.mkdtemp(prefix="supplies_bench_")
    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    per_school = 20                       # people rows; the counts are scaled to 20 people
    first = data[ITEMS[0].name]
    with sessions() as s, s.begin():
        s.execute(insert(School), [{"id": i + 1, "name": sc.school} for i, sc in enumerate(first)])
        s.execute(insert(Person), [
            {"name": f"教师{i}_{j}", "role": "teacher", "school_id": i + 1, "active": True,
             "userid": f"u{i}_{j}"} for i in range(n) for j in range(per_school)])
        rows = []
        for item in ITEMS:
            for i, sc in enumerate(data[item.name]):
                rows.append({"school_id": i + 1, "item": item.name, "unit": item.unit,
                             "quantity": float(sc.stock) * per_school / sc.people,
                             "day": sc.counted_on, "counted_at": dt.datetime(2026, 3, 4, 1)})
        s.execute(insert(SupplyCount), rows)
    config = parse_config({
        "timezone": "Asia/Shanghai",
        "wecom": {"corp_id": "wwbench", "agent_id": 1, "secret": "s", "token": "t",
                  "encoding_aes_key": "a" * 43, "api_base": "http://127.0.0.1:9"},
        "database": {"url": url}, "health": {"fever_threshold": 37.3},
        "checks": [{"name": "morning", "opens": "07:00", "remind": "08:30",
                    "escalate": "09:00", "digest": "09:30"}],
        "calendar": {"weekdays": [1, 2, 3, 4, 5]},
        "supplies": [{"name": i.name, "unit": i.unit, "per_person_per_day": i.per_person_per_day,
                      "min_days": i.min_days} for i in ITEMS]})

    def run():
        with sessions() as s:
            return district_plans(s, config, DAY)

    seconds, plans = timed(run, repeat=3)
    engine.dispose()
    return seconds, plans


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="100 schools (a smoke run)")
    ap.add_argument("--schools", type=int)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    n = args.schools or (100 if args.short else 1000)
    bad: list[str] = []
    print(f"supplies plan: {n} schools × {len(ITEMS)} items")
    for scenario, ratio in SCENARIOS.items():
        rng = random.Random(args.seed)
        data = {item.name: district(n, item, rng, ratio) for item in ITEMS}

        def ours():
            return [plan_item(item, data[item.name], DAY) for item in ITEMS]

        def baseline():
            out = []
            for item in ITEMS:
                d, s, _ = needs(item, data[item.name], DAY)
                out.append(naive_plan(d, s))
            return out

        t_ours, plans = timed(ours)
        t_base, naive = timed(baseline)
        mine = [[(t.donor, t.recipient, t.amount) for t in p.transfers] for p in plans]
        ours_sum = [summary(i, data[i.name], f) for i, f in zip(ITEMS, mine)]
        base_sum = [summary(i, data[i.name], f) for i, f in zip(ITEMS, naive)]
        for item, flows in zip(ITEMS, mine):
            bad += problems(item, data[item.name], flows)
        for item, flows in zip(ITEMS, naive):
            bad += problems(item, data[item.name], flows)
        short = sum(len(p.deficits) for p in plans)
        lacking = sum(p.lacking for p in plans)
        spare = sum(sum(p.surpluses.values()) for p in plans)
        wanted = sum(sum(p.deficits.values()) for p in plans)
        print(f"\n[{scenario}] short schools (all items): {short:,}, surplus / deficit "
              f"{spare / max(1, wanted):.2f}, still lacking after the plan: {lacking:,} units")
        print(f"  {'':<10}{'transfers':>10}{'lifted':>8}{'moved':>12}{'time':>10}")
        for label, sums, t in (("ours", ours_sum, t_ours), ("naive", base_sum, t_base)):
            tr, li, mv = (sum(x[k] for x in sums) for k in range(3))
            print(f"  {label:<10}{tr:>10,}{li:>8,}{mv:>12,}{t * 1000:>8.1f}ms")
        tr_o = sum(x[0] for x in ours_sum)
        tr_b = sum(x[0] for x in base_sum)
        bound = sum(max(len(p.lifted), len(p.surpluses) if p.lacking else 0) for p in plans)
        print(f"  lower bound on transfers for as many lifted as ours (each lifted school, and "
              f"when short each donor, needs one): {bound:,}")
        print(f"  ratio transfers ours / naive: {tr_o / max(1, tr_b):.2f}; "
              f"time ours / naive: {t_ours / max(t_base, 1e-9):.1f}x")
        if t_ours >= 1.0:
            bad.append(f"{scenario}: the plan took {t_ours:.2f}s (want < 1s)")
    t_db, db_plans = bench_sqlite(n, data)
    print(f"\n[sqlite] load {n} schools' latest counts and active people, plan {len(ITEMS)} items: "
          f"{t_db * 1000:.1f}ms ({sum(len(p.transfers) for p in db_plans):,} transfers)")
    for p in bad:
        print("PROBLEM:", p)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
