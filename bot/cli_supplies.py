"""`python -m bot supplies plan [--item NAME] [--date D]`: the district's reallocation proposal.

Prints, for each item (or the one named), the schools below `min_days`, the transfers
(`从 城东中学 调 1200个 口罩 到 城西小学`), the schools still short and what the district still
lacks (`全区尚缺 口罩 3,200个，需向上级申请`); schools not counted within a week are listed as
未盘点 and take no part.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-03-02") from None


def add_parsers(sub) -> None:
    p = sub.add_parser("supplies", help="supplies: the district's reallocation plan")
    ssub = p.add_subparsers(dest="supplies_verb", metavar="plan")
    ssub.required = True
    plan = ssub.add_parser("plan", help="propose transfers that lift schools to min_days")
    plan.add_argument("--item", help="one item of [[supplies]] (default: every item)")
    plan.add_argument("--date", type=_date, help="as of this day (default: today)")


def cmd_supplies(args) -> int:
    from bot.cli import UsageError, _config, _open
    from handlers.supplies import plan_text
    from storage.supplies import district_plans

    config = _config(args)
    if not config.supplies:
        raise UsageError("the config has no [[supplies]] items to plan for")
    items = config.supplies
    if args.item is not None:
        item = config.supply(args.item.strip())
        if item is None:
            raise UsageError(f"--item {args.item!r} is not a [[supplies]] item "
                             f"({', '.join(i.name for i in config.supplies)})")
        items = (item,)
    day = args.date or config.today()
    engine, sessions = _open(config)
    try:
        with sessions() as s:
            plans = district_plans(s, config, day, items=items)
    finally:
        engine.dispose()
    sys.stdout.write(plan_text(plans, day) + "\n")
    return 0


VERBS = {"supplies": cmd_supplies}
