"""Supplies (物资储备) in the database: counts with their history, and the figures built on them.

- `save_count`: one school's count of one item, a new row every time (history kept).
- `latest_counts`: the latest count per school and item on or before a day.
- `active_people`: active people per school (staff and students), the divisor of cover.
- `school_statuses` / `district_statuses`: `handlers.supplies.ItemStatus` rows as of a day.
- `district_plans` (also `load_district_supplies` for the bureau digest): one
  `handlers.supplies.ItemPlan` per configured item.
- `supplies_sheet_rows`: the XLSX export's 物资 sheet, header first.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.clock import to_local
from handlers.config import Config, SupplyItem
from handlers.supplies import (ItemPlan, ItemStatus, SchoolStock, convert, cover_days, days_text,
                               exact, number_text, plan_item)
from storage.models import Person, School, SupplyCount


@dataclass(frozen=True)
class CountRow:
    school_id: int
    school: str
    item: str
    quantity: float
    unit: str
    day: dt.date
    counted_at: dt.datetime


def save_count(session: Session, *, school_id: int, item: SupplyItem, quantity: Fraction | float,
               day: dt.date, now: dt.datetime, reported_by_id: int | None,
               message_id: int | None) -> SupplyCount:
    """Stores a count (in the item's unit); the earlier ones stay as history."""
    row = SupplyCount(school_id=school_id, item=item.name, quantity=float(quantity),
                      unit=item.unit, day=day, counted_at=now, reported_by_id=reported_by_id,
                      message_id=message_id)
    session.add(row)
    session.flush()
    return row


def latest_counts(session: Session, day: dt.date, *, school_ids: list[int] | None = None
                  ) -> dict[tuple[int, str], CountRow]:
    """(school id, item) → the latest count on or before `day`."""
    newest = (select(func.max(SupplyCount.id).label("id"))
              .where(SupplyCount.day <= day)
              .group_by(SupplyCount.school_id, SupplyCount.item))
    if school_ids is not None:
        newest = newest.where(SupplyCount.school_id.in_(school_ids))
    rows = session.execute(
        select(SupplyCount.school_id, School.name, SupplyCount.item, SupplyCount.quantity,
               SupplyCount.unit, SupplyCount.day, SupplyCount.counted_at)
        .join(School, School.id == SupplyCount.school_id)
        .where(SupplyCount.id.in_(newest.scalar_subquery())))
    return {(r.school_id, r.item): CountRow(*r) for r in rows}


def active_people(session: Session, *, school_ids: list[int] | None = None) -> dict[int, int]:
    """school id → its active people of every role (staff and students)."""
    q = (select(Person.school_id, func.count(Person.id))
         .where(Person.active.is_(True), Person.school_id.is_not(None))
         .group_by(Person.school_id))
    if school_ids is not None:
        q = q.where(Person.school_id.in_(school_ids))
    return {sid: n for sid, n in session.execute(q)}


def _schools(session: Session, school: str | None = None) -> list[tuple[int, str]]:
    q = select(School.id, School.name)
    if school is not None:
        q = q.where(School.name == school)
    return sorted(((i, n) for i, n in session.execute(q)), key=lambda r: r[1])   # not by collation


def _stock(count: CountRow | None, item: SupplyItem) -> tuple[float | None, dt.date | None]:
    """The count in the item's current unit; a count in a unit that no longer converts is none."""
    if count is None:
        return None, None
    q = convert(exact(count.quantity), count.unit, item.unit)
    if q is None:
        return None, None
    return float(q), count.day


def statuses(session: Session, config: Config, day: dt.date, *, school: str | None = None,
             items: tuple[SupplyItem, ...] | None = None) -> list[ItemStatus]:
    """Every school's (or one school's) status of every item as of `day`, school by school."""
    items = config.supplies if items is None else items
    schools = _schools(session, school)
    ids = [i for i, _ in schools] if school is not None else None
    counts = latest_counts(session, day, school_ids=ids)
    people = active_people(session, school_ids=ids)
    out = []
    for sid, name in schools:
        for item in items:
            stock, counted_on = _stock(counts.get((sid, item.name)), item)
            out.append(ItemStatus(name, item, stock, counted_on, people.get(sid, 0), day))
    return out


def school_statuses(session: Session, config: Config, school_id: int, day: dt.date
                    ) -> list[ItemStatus]:
    name = session.get(School, school_id).name
    return statuses(session, config, day, school=name)


def district_plans(session: Session, config: Config, day: dt.date, *,
                   items: tuple[SupplyItem, ...] | None = None,
                   all_statuses: list[ItemStatus] | None = None) -> list[ItemPlan]:
    """The reallocation plan of each item as of `day`."""
    items = config.supplies if items is None else items
    rows = all_statuses if all_statuses is not None else statuses(session, config, day, items=items)
    plans = []
    for item in items:
        mine = [SchoolStock(s.school, s.stock, s.counted_on, s.people)
                for s in rows if s.item.name == item.name]
        plans.append(plan_item(item, mine, day))
    return plans


def load_district_supplies(session: Session, config: Config, day: dt.date) -> list[ItemPlan]:
    """For the bureau digest: `handlers.supplies.district_supplies_lines(plans)`."""
    if not config.supplies:
        return []
    return district_plans(session, config, day)


SHEET_HEADER = ("盘点日期", "学校", "物资", "数量", "单位", "在册人数", "可用天数", "状态", "盘点人",
                "盘点时间")


def supplies_sheet_rows(session: Session, config: Config, start: dt.date, end: dt.date, *,
                        school: str | None = None) -> list[tuple]:
    """The 物资 sheet: every count from `start` to `end` (history included), header first.

    可用天数 uses today's roster (active people now); 状态 is 不足 below `min_days`, else 充足;
    a count in an item no longer configured says 未统计.
    """
    q = (select(SupplyCount, School.name, Person.name)
         .join(School, School.id == SupplyCount.school_id)
         .outerjoin(Person, Person.id == SupplyCount.reported_by_id)
         .where(SupplyCount.day >= start, SupplyCount.day <= end))
    if school is not None:
        q = q.where(School.name == school)
    people = active_people(session)
    rows: list[tuple] = [SHEET_HEADER]
    tz = config.tz
    found = sorted(session.execute(q), key=lambda r: (r[0].day, r[1], r[0].item, r[0].id))
    for c, school_name, reporter in found:
        item = config.supply(c.item)
        n = people.get(c.school_id, 0)
        cover, state = "", "未统计"
        if item is not None:
            stock = convert(exact(c.quantity), c.unit, item.unit)
            days = None if stock is None else cover_days(stock, n, item)
            if days is not None:
                cover = days_text(days).removesuffix("天")
                state = "不足" if days < exact(item.min_days) else "充足"
            else:
                state = "—"
        at = to_local(c.counted_at, tz)
        rows.append((c.day.isoformat(), school_name, c.item, number_text(c.quantity), c.unit, n,
                     cover, state, reporter or "", at.strftime("%Y-%m-%d %H:%M")))
    return rows

