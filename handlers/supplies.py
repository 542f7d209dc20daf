"""Supplies (物资储备): counts read from chat, days of cover, and the district's reallocation plan.

Pure functions on plain data (CONTRACT.md, "Supplies"); `storage/supplies.py` loads the
figures and `bot/chat_supplies.py` answers in chat.

- **Reading a count** (`read_message`): `物资 口罩2000个 消毒液50升 体温枪10把`, also starting
  `库存` or `盘点`, `消毒液 50L`, `口罩 库存 200个`, `口罩2000` (no unit: the item's own). A
  written unit is checked against the item's: the same unit, a unit of the same measure that
  converts exactly (升/L/毫升/mL, 千克/kg/克/g/斤), or another classifier for single pieces
  (个/只/把/支/台/件/片/枚/根 count the same). Package units (盒, 箱, 瓶, …) never convert: how many
  masks a box holds is not ours to guess. An item not in `[[supplies]]` is named, never stored.
- **Days of cover** = stock ÷ (active people × `per_person_per_day`); low stock is cover
  strictly below `min_days` (exactly `min_days` is enough), compared in exact fractions so that
  50升 for 1000 people at 0.05升 is 1 day, not 0.999….
- **Staleness**: a count older than `STALE_AFTER` (7 days) is 未盘点 with its date, never stock.
- **The plan** (`plan_item`): see the section's docstring below.
"""
from __future__ import annotations

import bisect
import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

from handlers.config import SupplyItem
from handlers.replies import day_label, escape_md

STALE_AFTER = dt.timedelta(days=7)
PERSON_LIMIT = 2048              # bytes of a WeCom text to a person
MAX_QUANTITY = 10 ** 9
KEYWORDS = ("物资盘点", "库存盘点", "物资库存", "盘点库存", "物资", "库存", "盘点")
_QUERY = re.compile(r"(?:查询|查看|查|看看|看|情况|怎么样|如何|多少|有多少|还有多少|还剩多少|统计|汇总|一下)*")

# ------------------------------------------------------------------------------------ units

# unit as written → (measure, factor to the measure's base unit). Latin units are matched
# case-insensitively. Counts of single pieces are one measure; package units stand alone.
_MEASURES: dict[str, tuple[str, Fraction]] = {}
for _u in ("升", "公升", "l"):
    _MEASURES[_u] = ("volume", Fraction(1))
for _u in ("毫升", "ml"):
    _MEASURES[_u] = ("volume", Fraction(1, 1000))
for _u in ("千克", "公斤", "kg"):
    _MEASURES[_u] = ("mass", Fraction(1))
for _u in ("克", "g"):
    _MEASURES[_u] = ("mass", Fraction(1, 1000))
_MEASURES["斤"] = ("mass", Fraction(1, 2))
for _u in ("个", "只", "把", "支", "台", "件", "片", "枚", "根"):
    _MEASURES[_u] = ("piece", Fraction(1))
PACKAGE_UNITS = ("盒", "箱", "包", "瓶", "桶", "袋", "卷", "双", "套", "张", "条", "块", "罐", "壶", "副", "打")
WHOLE_MEASURES = ("piece", "package")


def _unit_key(unit: str) -> str:
    u = unicodedata.normalize("NFKC", unit).strip()
    return u.lower() if u.isascii() else u


def measure_of(unit: str) -> tuple[str, Fraction] | None:
    key = _unit_key(unit)
    if key in _MEASURES:
        return _MEASURES[key]
    if key in PACKAGE_UNITS:
        return ("package:" + key, Fraction(1))
    return None


def convert(quantity: Fraction, written: str, unit: str) -> Fraction | None:
    """`quantity` in unit `written` expressed in `unit`, or None when they do not convert."""
    if _unit_key(written) == _unit_key(unit):
        return quantity
    a, b = measure_of(written), measure_of(unit)
    if a is None or b is None or a[0] != b[0]:
        return None
    return quantity * a[1] / b[1]


def whole_units(unit: str) -> bool:
    """Pieces and packages come whole: 20.5个 is a typo, 0.5升 is not."""
    m = measure_of(unit)
    return m is not None and (m[0] == "piece" or m[0].startswith("package:"))


def exact(x) -> Fraction:
    """A float from the config or the database as the decimal it was written as."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    return Fraction(repr(float(x)))


# ------------------------------------------------------------------------------------ reading

@dataclass(frozen=True)
class CountEntry:
    name: str                      # the item as written
    item: SupplyItem | None        # the configured item, None when not tracked
    quantity: Fraction | None      # in the item's unit; None when not stored
    written: str                   # number and unit as written: "50L"
    problem: str | None = None     # unknown_item | unit_mismatch | not_whole | too_large | duplicate


@dataclass(frozen=True)
class SupplyMessage:
    query: bool                    # `物资` alone: answer with the counts
    entries: tuple[CountEntry, ...] = ()
    unreadable: bool = False       # a count that names no quantity we can read


_UNITS_SORTED = sorted(set(_MEASURES) | set(PACKAGE_UNITS), key=len, reverse=True)
_SEP_RUN = re.compile(r"[\s,，、;；。.!！/|+\-—~]+")
_NAME = re.compile(r"[^\d\s,，、;；:：。.!！/|+\-—~]+")
_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(\d+))?\s*(万|千)?")
_FILLER = re.compile(r"\s*[:：]?\s*(?:库存|剩余|现有|还有|共有|还剩|盘点|共|有|剩)?\s*[:：]?\s*")
_BRACKETS = re.compile(r"[（(][^）)]*[）)]")


def _normalize(text: str) -> str:
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = unicodedata.normalize("NFKC", text)
    return _BRACKETS.sub(" ", text).strip()


def strip_keyword(text: str) -> tuple[str | None, str]:
    """(the keyword the text starts with, the rest), or (None, text)."""
    t = _normalize(text)
    for k in KEYWORDS:
        if t.startswith(k):
            return k, t[len(k):].lstrip(" :：,，")
    return None, t


def read_message(text: str, items: Sequence[SupplyItem]) -> SupplyMessage:
    """Reads a count (or a query) as written; never raises."""
    _kw, rest = strip_keyword(text)
    rest = rest.strip(" 。.!！")
    if _QUERY.fullmatch(re.sub(r"[\s?!。.]", "", rest)):
        return SupplyMessage(query=True)
    entries: list[CountEntry] = []
    by_name = {unicodedata.normalize("NFKC", i.name): i for i in items}
    names = sorted(by_name, key=len, reverse=True)
    pos, n = 0, len(rest)
    while pos < n:
        m = _SEP_RUN.match(rest, pos)
        if m:
            pos = m.end()
            continue
        name = next((k for k in names if rest.startswith(k, pos)), None)
        if name is None:
            m = _NAME.match(rest, pos)
            if m is None:                        # a number with no item before it
                return SupplyMessage(query=False, entries=tuple(entries), unreadable=True)
            name = m.group(0)
            for filler in ("库存", "剩余", "现有", "还有", "还剩", "共有"):
                if name.endswith(filler) and len(name) > len(filler):
                    name = name[:-len(filler)]
                    break
        pos += len(name)
        f = _FILLER.match(rest, pos)
        pos = f.end()
        num = _NUMBER.match(rest, pos)
        if num is None:
            return SupplyMessage(query=False, entries=tuple(entries), unreadable=True)
        pos = num.end()
        value = Fraction(num.group(1).replace(",", ""))
        if num.group(2):
            value += Fraction(int(num.group(2)), 10 ** len(num.group(2)))
        if num.group(3):
            value *= 10000 if num.group(3) == "万" else 1000
        while pos < n and rest[pos] == " ":
            pos += 1
        unit = ""
        item = by_name.get(name)
        candidates = ([item.unit] if item else []) + _UNITS_SORTED
        for u in sorted(set(candidates), key=len, reverse=True):
            if rest[pos:pos + len(u)].lower() == u.lower() and u:
                unit = rest[pos:pos + len(u)]
                break
        # a latin unit must stand alone: "50Lx" is no litre
        if unit.isascii() and unit and pos + len(unit) < n and rest[pos + len(unit)].isascii() \
                and rest[pos + len(unit)].isalnum():
            unit = ""
        pos += len(unit)
        written = rest[num.start():pos].replace(" ", "")
        entries.append(_entry(name.strip(), item, value, unit, written,
                              seen={e.name for e in entries}))
    if not entries:
        return SupplyMessage(query=False, unreadable=True)
    return SupplyMessage(query=False, entries=tuple(entries))


def _entry(name: str, item: SupplyItem | None, value: Fraction, unit: str, written: str,
           seen: set[str]) -> CountEntry:
    if item is None:
        return CountEntry(name, None, None, written, "unknown_item")
    if name in seen:
        return CountEntry(name, item, None, written, "duplicate")
    quantity = value if not unit else convert(value, unit, item.unit)
    if quantity is None:
        return CountEntry(name, item, None, written, "unit_mismatch")
    if quantity > MAX_QUANTITY:
        return CountEntry(name, item, None, written, "too_large")
    if whole_units(item.unit) and quantity.denominator != 1:
        return CountEntry(name, item, None, written, "not_whole")
    return CountEntry(name, item, quantity, written)


# ------------------------------------------------------------------------------------ cover

def required(item: SupplyItem, people: int) -> Fraction:
    """Stock that gives exactly `min_days` of cover."""
    return exact(item.min_days) * people * exact(item.per_person_per_day)


def cover_days(stock, people: int, item: SupplyItem) -> Fraction | None:
    """Days the stock lasts the school's active people; None without people to count."""
    if people <= 0:
        return None
    return exact(stock) / (people * exact(item.per_person_per_day))


def is_low(stock, people: int, item: SupplyItem) -> bool:
    return people > 0 and exact(stock) < required(item, people)


def is_stale(counted_on: dt.date | None, as_of: dt.date) -> bool:
    return counted_on is None or as_of - counted_on > STALE_AFTER


@dataclass(frozen=True)
class ItemStatus:
    """One school's stock of one item as of a day."""
    school: str
    item: SupplyItem
    stock: float | None            # in the item's unit; None: never counted
    counted_on: dt.date | None
    people: int
    as_of: dt.date

    @property
    def stale(self) -> bool:
        return is_stale(self.counted_on, self.as_of)

    @property
    def cover(self) -> Fraction | None:
        if self.stale or self.stock is None:
            return None
        return cover_days(self.stock, self.people, self.item)

    @property
    def low(self) -> bool:
        return not self.stale and self.stock is not None and is_low(self.stock, self.people,
                                                                      self.item)


# ------------------------------------------------------------------------------------ wording

def number_text(x, *, grouped: bool = False) -> str:
    """2000, 0.5, 12.25; `grouped`: 3,200."""
    q = exact(x)
    if q.denominator == 1:
        return f"{q.numerator:,}" if grouped else str(q.numerator)
    text = f"{float(q):,.2f}" if grouped else f"{float(q):.2f}"
    return text.rstrip("0").rstrip(".")


def quantity_text(x, unit: str, *, grouped: bool = True) -> str:
    return f"{number_text(x, grouped=grouped)}{unit}"


def days_text(cover: Fraction | None) -> str:
    """Cover rounded down to a tenth (6.96 days is 6.9, never "7.0" while below 7)."""
    if cover is None:
        return "—"
    tenths = math.floor(cover * 10)
    return f"{tenths // 10}天" if tenths % 10 == 0 else f"{tenths / 10:.1f}天"


def min_days_text(item: SupplyItem) -> str:
    return f"{number_text(item.min_days)}天"


def tracked_items_text(items: Sequence[SupplyItem]) -> str:
    return "、".join(i.name for i in items)


def example_text(items: Sequence[SupplyItem]) -> str:
    sample = " ".join(f"{i.name}{_sample_amount(i)}{i.unit}" for i in items[:3])
    return f"物资 {sample}" if sample else "物资 口罩2000个"


def _sample_amount(item: SupplyItem) -> str:
    """What a school of a hundred would hold for ten days: 口罩2000个, 消毒液50升, 体温枪10把."""
    return str(max(1, round(item.per_person_per_day * 1000)))


def status_line(st: ItemStatus, *, with_school: bool = False) -> str:
    """`· 口罩 2,000个，可用 8.3天`, `· 口罩 200个，可用 0.8天 ⚠️ 低于7天`, `· 消毒液 未盘点（最近 1月20日）`."""
    head = f"· {escape_md(st.school)} " if with_school else f"· {st.item.name} "
    if st.stock is None:
        return head + "未盘点"
    if st.stale:
        return head + f"未盘点（最近 {day_label(st.counted_on)}）"
    text = head + quantity_text(st.stock, st.item.unit)
    if st.people <= 0:
        return text + "（名单中无在册人员，无法计算可用天数）"
    text += f"，可用 {days_text(st.cover)}"
    if st.low:
        text += f" ⚠️ 低于{min_days_text(st.item)}"
    return text


def not_stored_line(e: CountEntry, items: Sequence[SupplyItem]) -> str:
    if e.problem == "unknown_item":
        hint = next((i.name for i in items if i.name in e.name or e.name in i.name), None)
        also = f"，是否为“{hint}”？" if hint else "，"
        return (f"未记录：{e.name} {e.written}（{e.name}不在统计的物资中{also}"
                f"统计的物资：{tracked_items_text(items)}）")
    item = e.item
    if e.problem == "unit_mismatch":
        return (f"未记录：{e.name} {e.written}（{item.name}按{item.unit}计，"
                f"例如：{item.name}{_sample_amount(item)}{item.unit}）")
    if e.problem == "not_whole":
        return f"未记录：{e.name} {e.written}（{item.name}的数量应为整数{item.unit}）"
    if e.problem == "too_large":
        return f"未记录：{e.name} {e.written}（数量过大，请核对）"
    return f"未记录：{e.name} {e.written}（同一条消息中{item.name}写了两次，请分开发送或只写一次）"


def count_reply(school: str, day: dt.date, stored: Sequence[ItemStatus],
                rejected: Sequence[CountEntry], items: Sequence[SupplyItem], *,
                notified: str = "") -> str:
    """The answer to a count. `notified`: who heard about low stock (校长、教育局), or ""."""
    lines = []
    if stored:
        people = stored[0].people
        lines.append(f"已记录：{escape_md(school)} {day_label(day)} 物资盘点（在册 {people}人）")
        lines += [status_line(s) for s in stored]
        low = [s.item.name for s in stored if s.low]
        if low:
            tail = f"；已通知{notified}" if notified else ""
            lines.append(f"⚠️ {'、'.join(low)} 储备不足，请尽快补充{tail}。")
    rest = [not_stored_line(e, items) for e in rejected]
    while rest and len("\n".join(lines + rest).encode("utf-8")) > PERSON_LIMIT - 60:
        rest.pop()
    lines += rest
    if len(rest) < len(rejected):
        lines.append(f"另有{len(rejected) - len(rest)}项未记录，请分开发送。")
    return "\n".join(lines)


def unreadable_reply(items: Sequence[SupplyItem]) -> str:
    return (f"没看懂物资数量。请按“{example_text(items)}”发送，数字后写单位，"
            f"统计的物资：{tracked_items_text(items)}。")


def no_items_reply() -> str:
    return "本区未设置物资统计（[[supplies]]），无需上报物资。"


def count_refused(role: str) -> str:
    if role == "bureau":
        return "教育局账号不登记学校物资；发送“物资”可查看全区库存。"
    return "只有校长或本校后勤人员可以登记物资库存；发送“物资”可查看本校库存。"


def no_school_reply() -> str:
    return "您不在任何学校的名单中，无法查看物资库存。"


def school_stock_reply(school: str, as_of: dt.date, statuses: Sequence[ItemStatus]) -> str:
    people = statuses[0].people if statuses else 0
    lines = [f"{escape_md(school)} 物资库存（截至 {day_label(as_of)}，在册 {people}人）："]
    lines += [status_line(s) for s in statuses]
    if any(s.stale for s in statuses):
        lines.append(f"未盘点的物资请发送：{example_text([s.item for s in statuses if s.stale])}")
    return "\n".join(lines)


def district_stock_reply(as_of: dt.date, statuses: Sequence[ItemStatus],
                         items: Sequence[SupplyItem], *, names_per_item: int = 6) -> str:
    """The bureau's answer to `物资`: per item, how many schools are low or not counted."""
    lines = [f"全区物资库存（截至 {day_label(as_of)}）："]
    for item in items:
        mine = [s for s in statuses if s.item.name == item.name]
        stale = [s for s in mine if s.stale]
        low = sorted((s for s in mine if s.low), key=lambda s: (s.cover, s.school))
        total = sum(exact(s.stock) for s in mine if not s.stale)
        lines.append(f"{item.name}：共 {quantity_text(total, item.unit)}，学校 {len(mine)}所，"
                     f"低于{min_days_text(item)} {len(low)}所，未盘点 {len(stale)}所")
        for s in low[:names_per_item]:
            lines.append(f"· {escape_md(s.school)} {quantity_text(s.stock, item.unit)}，"
                         f"可用 {days_text(s.cover)}")
        if 0 < names_per_item < len(low):
            lines.append(f"· 等{len(low)}所")
    lines.append("调配方案见看板“物资”页或 python -m bot supplies plan。")
    return "\n".join(lines)


def low_stock_alert(st: ItemStatus, reporter: str) -> str:
    return (f"【物资不足】{day_label(st.as_of)} {st.school}\n"
            f"{st.item.name} 库存{quantity_text(st.stock, st.item.unit)}，可用 {days_text(st.cover)}，"
            f"低于{min_days_text(st.item)}（在册 {st.people}人，每人每天"
            f"{number_text(st.item.per_person_per_day)}{st.item.unit}）\n"
            f"盘点人：{reporter}。请尽快补充或申请调配。")


def details_sent() -> str:
    return "详情已私信。"


def recorded_in_group(stored: int, rejected: int) -> str:
    text = f"已记录 {stored}项物资" if stored else "未记录"
    if rejected:
        text += f"，{rejected}项未记录"
    return text + "，" + details_sent()


# ------------------------------------------------------------------------------------ the plan
# The reallocation plan, one item at a time.
#
# Each school counted within the week has a need: the stock for `min_days` of cover. A school
# below it is short by its deficit (rounded up to whole units); a school above it may give its
# surplus (rounded down), never more, so no donor ends below its own `min_days`. Schools not
# counted within the week are 未盘点 and take no part.
#
# Objective, in this order:
# 1. lift as many short schools as possible to `min_days` (all when the surplus covers the
#    deficits; otherwise the most schools: the smallest deficits first, which is optimal by an
#    exchange argument);
# 2. move as much as the district can (when short, all of the surplus: what is left after the
#    lifted schools goes to the next schools, so that what the district still lacks is exactly
#    the deficits minus the surplus and can be asked of the level above);
# 3. as few transfers as possible.
#
# Step 3 is NP-hard in general (two donors whose surpluses some recipients' deficits split
# exactly is the partition problem). Up to `EXACT_LIMIT` schools taking part, `_exact` finds the
# optimum by dynamic programming over subsets: a plan's transfers are (schools taking part) −
# (independent groups in which what is given equals what is received), so it searches for the
# partition into the most such groups. Above that, `_greedy` sends each short school, largest
# first, from the donor with the smallest surplus that covers it alone (best fit: one transfer
# per school whenever one donor can), splitting only when no donor can; its plans satisfy 1 and 2
# exactly and every constraint, and use at most (schools taking part − 1) transfers. Tests hold
# `_exact` against a brute force on small cases and both against the constraints.

EXACT_LIMIT = 12


@dataclass(frozen=True)
class SchoolStock:
    school: str
    stock: float | None            # in the item's unit; None: never counted
    counted_on: dt.date | None
    people: int


@dataclass(frozen=True)
class Transfer:
    donor: str
    recipient: str
    amount: int


@dataclass(frozen=True)
class ItemPlan:
    item: SupplyItem
    as_of: dt.date
    transfers: tuple[Transfer, ...]
    deficits: dict[str, int]                 # short schools → units to reach min_days
    surpluses: dict[str, int]                # schools above min_days → units they may give
    not_counted: tuple[tuple[str, dt.date | None], ...] = ()
    exact: bool = True
    counted: int = 0                         # schools counted within the week

    def received(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.transfers:
            out[t.recipient] = out.get(t.recipient, 0) + t.amount
        return out

    def given(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.transfers:
            out[t.donor] = out.get(t.donor, 0) + t.amount
        return out

    @property
    def lifted(self) -> list[str]:
        got = self.received()
        return sorted(s for s, d in self.deficits.items() if got.get(s, 0) >= d)

    @property
    def still_short(self) -> dict[str, int]:
        got = self.received()
        return {s: d - got.get(s, 0) for s, d in sorted(self.deficits.items())
                if got.get(s, 0) < d}

    @property
    def lacking(self) -> int:
        """What the district still lacks after the plan: to ask of the level above."""
        return max(0, sum(self.deficits.values()) - sum(self.surpluses.values()))

    @property
    def moved(self) -> int:
        return sum(t.amount for t in self.transfers)


def needs(item: SupplyItem, schools: Iterable[SchoolStock], as_of: dt.date
          ) -> tuple[dict[str, int], dict[str, int], list[tuple[str, dt.date | None]]]:
    """(deficits, surpluses, schools not counted within the week) in whole units."""
    deficits, surpluses, unknown = {}, {}, []
    for s in schools:
        if s.stock is None or is_stale(s.counted_on, as_of):
            unknown.append((s.school, s.counted_on))
            continue
        if s.people <= 0:
            continue                     # cover unknown: neither gives nor takes
        gap = exact(s.stock) - required(item, s.people)
        if gap < 0:
            deficits[s.school] = math.ceil(-gap)
        elif gap >= 1:
            surpluses[s.school] = math.floor(gap)
    return deficits, surpluses, sorted(unknown)


def plan_item(item: SupplyItem, schools: Iterable[SchoolStock], as_of: dt.date, *,
              exact_limit: int = EXACT_LIMIT) -> ItemPlan:
    schools = list(schools)
    deficits, surpluses, unknown = needs(item, schools, as_of)
    flows, was_exact = solve(deficits, surpluses, exact_limit=exact_limit)
    transfers = tuple(Transfer(d, r, a) for d, r, a in flows)
    return ItemPlan(item, as_of, transfers, deficits, surpluses, tuple(unknown), was_exact,
                    counted=len(schools) - len(unknown))


def solve(deficits: dict[str, int], surpluses: dict[str, int], *,
          exact_limit: int = EXACT_LIMIT) -> tuple[list[tuple[str, str, int]], bool]:
    """Transfers (donor, recipient, amount) by the objective above; and whether exact."""
    if not deficits or not surpluses:
        return [], True
    if len(deficits) + len(surpluses) <= exact_limit:
        return _exact(deficits, surpluses), True
    return _greedy(deficits, surpluses), False


def _lifted_in_group(ds: list[int], given: int) -> int:
    """Most recipients of a group fully lifted when `given` is spread over all of them (each
    partial one getting at least 1): the smallest deficits first."""
    ds = sorted(ds)
    rest, k = given - len(ds), 0
    for d in ds:
        if d - 1 > rest:
            break
        rest -= d - 1
        k += 1
    return k


def _exact(deficits: dict[str, int], surpluses: dict[str, int]) -> list[tuple[str, str, int]]:
    donors = sorted(surpluses)
    takers = sorted(deficits)
    parties = [(True, n, surpluses[n]) for n in donors] + [(False, n, deficits[n]) for n in takers]
    n = len(parties)
    enough = sum(surpluses.values()) >= sum(deficits.values())
    big = n + 1
    size = 1 << n
    e_sum, d_sum, n_don, n_rec = [0] * size, [0] * size, [0] * size, [0] * size
    for m in range(1, size):
        low = (m & -m).bit_length() - 1
        prev = m & (m - 1)
        is_donor, _name, amount = parties[low]
        e_sum[m] = e_sum[prev] + (amount if is_donor else 0)
        d_sum[m] = d_sum[prev] + (0 if is_donor else amount)
        n_don[m] = n_don[prev] + is_donor
        n_rec[m] = n_rec[prev] + (not is_donor)
    # value of a group that balances: lifted * big - (transfers = members - 1); None: cannot
    value: list[int | None] = [None] * size
    for m in range(1, size):
        if not n_don[m] or not n_rec[m]:
            continue
        e, d = e_sum[m], d_sum[m]
        members = n_don[m] + n_rec[m]
        if enough:                       # every taker full, donors give 1..surplus each
            if e >= d >= n_don[m]:
                value[m] = n_rec[m] * big - (members - 1)
        else:                            # every donor gives all, takers get 1..deficit each
            if d >= e >= n_rec[m]:
                ds = [parties[i][2] for i in range(n) if m >> i & 1 and not parties[i][0]]
                value[m] = _lifted_in_group(ds, e) * big - (members - 1)
    optional = [(not p[0]) if not enough else p[0] for p in parties]
    NEG = -(1 << 60)
    best = [NEG] * size
    choice = [0] * size
    best[0] = 0
    for m in range(1, size):
        low = m & -m
        i = low.bit_length() - 1
        top, pick = NEG, -1
        if optional[i] and best[m ^ low] > top:
            top, pick = best[m ^ low], 0
        rest = m ^ low
        sub = rest
        while True:
            g = sub | low
            v = value[g]
            if v is not None and best[m ^ g] > NEG:
                cand = best[m ^ g] + v
                if cand > top:
                    top, pick = cand, g
            if sub == 0:
                break
            sub = (sub - 1) & rest
        best[m] = top
        choice[m] = pick
    flows: list[tuple[str, str, int]] = []
    m = size - 1
    while m:
        g = choice[m]
        if g == 0:
            m ^= m & -m
            continue
        members = [parties[i] for i in range(n) if g >> i & 1]
        flows += _group_flows(members, enough)
        m ^= g
    return sorted(flows, key=lambda f: (f[1], f[0]))


def _fill(caps: list[int], total: int) -> list[int]:
    """Amounts 1..cap each summing to `total` (sum(caps) >= total >= len(caps))."""
    out = [1] * len(caps)
    rest = total - len(caps)
    for i in sorted(range(len(caps)), key=lambda j: -caps[j]):
        add = min(caps[i] - 1, rest)
        out[i] += add
        rest -= add
    return out


def _group_flows(members, enough: bool) -> list[tuple[str, str, int]]:
    donors = [(name, amt) for is_d, name, amt in members if is_d]
    takers = [(name, amt) for is_d, name, amt in members if not is_d]
    if enough:
        total = sum(a for _, a in takers)
        gives = list(zip([n for n, _ in donors], _fill([a for _, a in donors], total)))
        gets = takers
    else:
        total = sum(a for _, a in donors)
        k = _lifted_in_group([a for _, a in takers], total)
        order = sorted(takers, key=lambda t: (t[1], t[0]))
        full, part = order[:k], order[k:]
        rest = total - sum(a for _, a in full)
        gets = full + list(zip([n for n, _ in part], _fill([a for _, a in part], rest)))
        gives = donors
    return _northwest(gives, gets)


def _northwest(gives, gets) -> list[tuple[str, str, int]]:
    """Pairs two equal totals off in order: at most len(gives) + len(gets) - 1 transfers."""
    gives = [[n, a] for n, a in sorted(gives, key=lambda x: (-x[1], x[0])) if a > 0]
    gets = [[n, a] for n, a in sorted(gets, key=lambda x: (-x[1], x[0])) if a > 0]
    out, i, j = [], 0, 0
    while i < len(gives) and j < len(gets):
        amount = min(gives[i][1], gets[j][1])
        out.append((gives[i][0], gets[j][0], amount))
        gives[i][1] -= amount
        gets[j][1] -= amount
        if gives[i][1] == 0:
            i += 1
        if gets[j][1] == 0:
            j += 1
    return out


def _greedy(deficits: dict[str, int], surpluses: dict[str, int]) -> list[tuple[str, str, int]]:
    total = sum(surpluses.values())
    order = sorted(deficits.items(), key=lambda kv: (kv[1], kv[0]))
    lifted, used = [], 0
    for name, d in order:                 # the most schools: smallest deficits first
        if used + d > total:
            break
        lifted.append((name, d))
        used += d
    pool = sorted((a, name) for name, a in surpluses.items())      # (surplus, donor)
    flows: list[tuple[str, str, int]] = []

    def take(name: str, need: int) -> None:
        while need > 0 and pool:
            k = bisect.bisect_left(pool, (need, ""))
            if k == len(pool):           # no donor covers it alone: the largest gives all
                amount, donor = pool.pop()
                give = amount
            else:
                amount, donor = pool.pop(k)
                give = need
            flows.append((donor, name, give))
            need -= give
            if amount > give:
                bisect.insort(pool, (amount - give, donor))

    for name, d in sorted(lifted, key=lambda kv: (-kv[1], kv[0])):
        take(name, d)
    if len(lifted) < len(order) and pool:
        # what is left is less than the next deficit: it all goes to that school
        take(order[len(lifted)][0], sum(a for a, _ in pool))
    return sorted(flows, key=lambda f: (f[1], f[0]))


def naive_plan(deficits: dict[str, int], surpluses: dict[str, int]) -> list[tuple[str, str, int]]:
    """The baseline a spreadsheet gives: schools in name order, each short school filled from
    the donors in name order (northwest corner). Valid, not economical."""
    return _northwest(sorted(surpluses.items()), sorted(deficits.items()))


# ------------------------------------------------------------------------------------ plan text

def transfer_line(t: Transfer, item: SupplyItem) -> str:
    return f"从 {t.donor} 调 {quantity_text(t.amount, item.unit, grouped=False)} {item.name} 到 {t.recipient}"


def lacking_line(plan: ItemPlan) -> str:
    return f"全区尚缺 {plan.item.name} {quantity_text(plan.lacking, plan.item.unit)}，需向上级申请"


def plan_lines(plan: ItemPlan, *, markdown: bool = False, names_limit: int | None = None) -> list[str]:
    """The plan for one item as lines: the short schools, the transfers, what is still lacking."""
    item = plan.item
    esc = escape_md if markdown else (lambda s: s)
    lines = []
    short = plan.deficits
    if not short and not plan.counted:
        lines.append(f"{item.name}：各校均未在7天内盘点，无法调配")
    elif not short:
        which = "已盘点的学校" if plan.not_counted else "各校"
        lines.append(f"{item.name}：{which}均不低于{min_days_text(item)}，无需调配")
    else:
        lines.append(f"{item.name}：低于{min_days_text(item)} {len(short)}所，"
                     f"需 {quantity_text(sum(short.values()), item.unit)}；"
                     f"可调出 {quantity_text(sum(plan.surpluses.values()), item.unit)}"
                     f"（{len(plan.surpluses)}所）")
        transfers = list(plan.transfers)
        shown = transfers if names_limit is None else transfers[:names_limit]
        lines += [esc(transfer_line(t, item)) for t in shown]
        if len(shown) < len(transfers):
            lines.append(f"……共 {len(transfers)}笔调拨，完整方案见看板或 supplies plan")
        if plan.transfers:
            lines.append(f"调拨 {len(transfers)}笔，{len(plan.lifted)}所学校调入后达到{min_days_text(item)}")
        still = plan.still_short
        if still:
            names = [esc(s) for s in still]
            if names_limit is not None and len(names) > names_limit:
                names = names[:names_limit] + [f"等{len(still)}所"]
            lines.append(f"调配后仍低于{min_days_text(item)}：{'、'.join(names)}")
        if plan.lacking:
            lines.append(lacking_line(plan))
    if plan.not_counted:
        names = [esc(s) + (f"（最近 {day_label(d)}）" if d else "") for s, d in plan.not_counted]
        if names_limit is not None and len(names) > names_limit:
            names = names[:names_limit] + [f"等{len(plan.not_counted)}所"]
        lines.append(f"未盘点（未计入调配）：{'、'.join(names)}")
    return lines


def plan_text(plans: Sequence[ItemPlan], as_of: dt.date) -> str:
    lines = [f"物资调配方案（截至 {day_label(as_of)}）"]
    for p in plans:
        lines.append("")
        lines += plan_lines(p)
    return "\n".join(lines)


def district_supplies_lines(plans: Sequence[ItemPlan], *, names_limit: int = 10) -> list[str]:
    """Markdown lines for the bureau digest: the plan of each item a school is short of (none
    when no school is short)."""
    short = [p for p in plans if p.deficits]
    if not short:
        return []
    lines = ['<font color="warning">物资储备不足：</font>']
    for p in short:
        lines += plan_lines(p, markdown=True, names_limit=names_limit)
    return lines
