"""Supplies (物资储备), the pure part: reading counts and units, days of cover, staleness, the
wording, and the reallocation plan (hand-checked cases, a brute force, a property test)."""
from __future__ import annotations

import datetime as dt
import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import supplies as S
from handlers.config import SupplyItem

MASK = SupplyItem("口罩", "个", 2, 7)
LIQUID = SupplyItem("消毒液", "升", 0.05, 7)
GUN = SupplyItem("体温枪", "把", 0.01, 7)
ITEMS = (MASK, LIQUID, GUN)
DAY = dt.date(2020, 2, 4)


def read(text):
    m = S.read_message(text, ITEMS)
    return [(e.name, e.quantity, e.problem) for e in m.entries]


# ------------------------------------------------------------------------------ reading

@pytest.mark.parametrize("text, entries", [
    ("物资 口罩2000个 消毒液50升 体温枪10把",
     [("口罩", 2000, None), ("消毒液", 50, None), ("体温枪", 10, None)]),
    ("库存 消毒液 50L", [("消毒液", 50, None)]),
    ("盘点：口罩2000", [("口罩", 2000, None)]),                        # unit omitted: the item's
    ("口罩 库存 200个", [("口罩", 200, None)]),
    ("物资：口罩2,000只，消毒液500毫升；体温枪3支。",
     [("口罩", 2000, None), ("消毒液", Fraction(1, 2), None), ("体温枪", 3, None)]),
    ("盘点 口罩2000个消毒液50升体温枪10把", [("口罩", 2000, None), ("消毒液", 50, None),
                                        ("体温枪", 10, None)]),
    ("物资 口罩1.2万个", [("口罩", 12000, None)]),
    ("物资 消毒液 2.5 l", [("消毒液", Fraction(5, 2), None)]),
    ("物资 消毒液 1500ml", [("消毒液", Fraction(3, 2), None)]),
    ("物资 口罩０个", [("口罩", 0, None)]),                            # full-width digits
    ("物资 口罩3盒", [("口罩", None, "unit_mismatch")]),              # a box holds how many?
    ("物资 消毒液50个", [("消毒液", None, "unit_mismatch")]),
    ("物资 消毒液3桶", [("消毒液", None, "unit_mismatch")]),
    ("物资 口罩20.5个", [("口罩", None, "not_whole")]),
    ("物资 口罩2000个 酒精10瓶", [("口罩", 2000, None), ("酒精", None, "unknown_item")]),
    ("物资 医用口罩200个", [("医用口罩", None, "unknown_item")]),
    ("物资 口罩2000 口罩300", [("口罩", 2000, None), ("口罩", None, "duplicate")]),
    ("物资 口罩99999999999个", [("口罩", None, "too_large")]),
])
def test_counts_and_units_as_written(text, entries):
    assert read(text) == entries


@pytest.mark.parametrize("text", ["物资", "库存", "盘点", "物资 查询", "物资情况", "库存多少？"])
def test_the_keyword_alone_asks_for_the_counts(text):
    assert S.read_message(text, ITEMS).query


@pytest.mark.parametrize("text", ["物资 口罩 很多", "物资 2000个", "盘点 口罩"])
def test_a_count_without_a_readable_quantity_is_unreadable(text):
    m = S.read_message(text, ITEMS)
    assert m.unreadable and not m.query and all(e.problem is None for e in m.entries)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("物资库存盘点口罩消毒液体温枪酒精个升L毫ml把盒万千0123456789.,，、：: -（）()")),
               max_size=40))
def test_any_text_reads_without_raising(text):
    m = S.read_message(text, ITEMS)
    for e in m.entries:
        assert (e.quantity is None) == (e.problem is not None)


def test_separators_between_items():
    assert read("物资 口罩2000个-消毒液50升/体温枪10把") == [
        ("口罩", 2000, None), ("消毒液", 50, None), ("体温枪", 10, None)]


def test_unit_conversions():
    assert S.convert(Fraction(500), "mL", "升") == Fraction(1, 2)
    assert S.convert(Fraction(2), "L", "毫升") == 2000
    assert S.convert(Fraction(3), "斤", "千克") == Fraction(3, 2)
    assert S.convert(Fraction(5), "只", "个") == 5                    # single pieces count alike
    assert S.convert(Fraction(5), "盒", "个") is None
    assert S.convert(Fraction(5), "升", "千克") is None
    assert S.convert(Fraction(5), "盒", "盒") == 5


# ------------------------------------------------------------------------------ cover

def status(stock, people, counted=DAY, item=MASK, as_of=DAY):
    return S.ItemStatus("第一实验小学", item, stock, counted, people, as_of)


@pytest.mark.parametrize("stock, people, cover, low, text", [
    (1400, 100, Fraction(7), False, "7天"),            # exactly min_days: enough
    (1399, 100, Fraction(1399, 200), True, "6.9天"),   # just below: never shown as 7.0
    (1401, 100, Fraction(1401, 200), False, "7天"),
    (0, 100, Fraction(0), True, "0天"),
    (200, 1, Fraction(100), False, "100天"),
])
def test_days_of_cover_at_the_boundaries(stock, people, cover, low, text):
    st_ = status(stock, people)
    assert st_.cover == cover and st_.low is low and S.days_text(st_.cover) == text


def test_cover_is_exact_for_decimal_use():
    # 50升 for 1000 people at 0.05升 a day is one day, not 0.999…
    item = SupplyItem("消毒液", "升", 0.05, 1)
    assert S.cover_days(50.0, 1000, item) == 1 and not S.is_low(50.0, 1000, item)
    assert S.is_low(49.99, 1000, item)


def test_no_people_no_cover():
    st_ = status(500, 0)
    assert st_.cover is None and not st_.low
    assert "无法计算可用天数" in S.status_line(st_)


def test_a_count_older_than_a_week_is_not_stock():
    week = status(5000, 100, counted=DAY - dt.timedelta(days=7))
    older = status(5000, 100, counted=DAY - dt.timedelta(days=8))
    assert not week.stale and week.cover == 25
    assert older.stale and older.cover is None and not older.low
    assert S.status_line(older) == "· 口罩 未盘点（最近 1月27日）"
    assert S.status_line(status(None, 100, counted=None)) == "· 口罩 未盘点"


# ------------------------------------------------------------------------------ wording

def test_count_reply_wording():
    stored = [status(2000, 100), S.ItemStatus("第一实验小学", LIQUID, 2.0, DAY, 100, DAY)]
    rejected = [S.CountEntry("酒精", None, None, "10瓶", "unknown_item"),
                S.CountEntry("体温枪", GUN, None, "3盒", "unit_mismatch")]
    reply = S.count_reply("第一实验小学", DAY, stored, rejected, ITEMS, notified="校长、教育局")
    assert reply.splitlines() == [
        "已记录：第一实验小学 2月4日 物资盘点（在册 100人）",
        "· 口罩 2,000个，可用 10天",
        "· 消毒液 2升，可用 0.4天 ⚠️ 低于7天",
        "⚠️ 消毒液 储备不足，请尽快补充；已通知校长、教育局。",
        "未记录：酒精 10瓶（酒精不在统计的物资中，统计的物资：口罩、消毒液、体温枪）",
        "未记录：体温枪 3盒（体温枪按把计，例如：体温枪10把）",
    ]


def test_a_long_count_reply_fits_a_private_message():
    text = "物资 口罩2000个 " + " ".join(f"杂物{'甲乙丙丁戊己庚辛壬癸'[i % 10]}{'子丑寅卯辰巳'[i // 10]}{i}个"
                                       for i in range(60))
    m = S.read_message(text, ITEMS)
    rejected = [e for e in m.entries if e.problem]
    reply = S.count_reply("第一实验小学", DAY, [status(2000, 100)], rejected, ITEMS)
    assert len(rejected) == 60 and len(reply.encode("utf-8")) <= 2048
    assert reply.endswith("项未记录，请分开发送。") and "· 口罩 2,000个" in reply


def test_unknown_item_gets_a_hint_and_the_list():
    line = S.not_stored_line(S.CountEntry("医用口罩", None, None, "200个", "unknown_item"), ITEMS)
    assert line == ("未记录：医用口罩 200个（医用口罩不在统计的物资中，是否为“口罩”？"
                    "统计的物资：口罩、消毒液、体温枪）")


def test_alert_wording():
    text = S.low_stock_alert(status(200, 100), "王校长")
    assert text.splitlines() == [
        "【物资不足】2月4日 第一实验小学",
        "口罩 库存200个，可用 1天，低于7天（在册 100人，每人每天2个）",
        "盘点人：王校长。请尽快补充或申请调配。",
    ]


def test_district_reply_lists_the_low_schools_fewest_days_first():
    rows = [S.ItemStatus("城东中学", MASK, 5000, DAY, 100, DAY),
            S.ItemStatus("城西小学", MASK, 200, DAY, 100, DAY),
            S.ItemStatus("城北小学", MASK, 700, DAY, 100, DAY),
            S.ItemStatus("城南小学", MASK, 9000, DAY - dt.timedelta(days=9), 100, DAY)]
    reply = S.district_stock_reply(DAY, rows, (MASK,))
    assert reply.splitlines()[:4] == [
        "全区物资库存（截至 2月4日）：",
        "口罩：共 5,900个，学校 4所，低于7天 2所，未盘点 1所",    # stale stock is not counted
        "· 城西小学 200个，可用 1天",
        "· 城北小学 700个，可用 3.5天",
    ]


# ------------------------------------------------------------------------------ the plan

def school(name, stock, people=100, counted=DAY):
    return S.SchoolStock(name, stock, counted, people)


def test_plan_one_donor():
    plan = S.plan_item(MASK, [school("城东中学", 5000), school("城西小学", 200)], DAY)
    assert [S.transfer_line(t, MASK) for t in plan.transfers] == ["从 城东中学 调 1200个 口罩 到 城西小学"]
    assert plan.lifted == ["城西小学"] and plan.lacking == 0 and plan.exact


def test_plan_several_donors_for_one_school():
    # 城西小学 needs 1000; no donor has that much alone above its own 1400
    plan = S.plan_item(MASK, [school("甲校", 2000), school("乙校", 1900), school("城西小学", 400)], DAY)
    assert sorted((t.donor, t.amount) for t in plan.transfers) == [("乙校", 400), ("甲校", 600)]
    assert plan.lifted == ["城西小学"] and len(plan.transfers) == 2


def test_plan_several_schools_one_transfer_each_when_possible():
    plan = S.plan_item(MASK, [school("甲校", 2400), school("乙校", 1900),
                              school("丙校", 900), school("丁校", 400)], DAY)
    # 丙校 needs 500 (乙校 has exactly 500), 丁校 needs 1000 (甲校 has exactly 1000)
    assert sorted((t.donor, t.recipient, t.amount) for t in plan.transfers) == [
        ("乙校", "丙校", 500), ("甲校", "丁校", 1000)]


def test_plan_not_enough_stock_anywhere():
    plan = S.plan_item(MASK, [school("城东中学", 2200), school("城西小学", 400),
                              school("城北小学", 0, people=120)], DAY)
    # needs: 城西小学 1000, 城北小学 1680; 城东中学 can give 800
    assert plan.lifted == [] and plan.moved == 800
    # all of what can be given goes to the school closest to its minimum
    assert [S.transfer_line(t, MASK) for t in plan.transfers] == ["从 城东中学 调 800个 口罩 到 城西小学"]
    assert plan.lacking == 1880
    assert S.lacking_line(plan) == "全区尚缺 口罩 1,880个，需向上级申请"


def test_plan_lifts_the_most_schools():
    # surplus 300: lifting 丙 (100) and 乙 (200) beats lifting 甲 (250)
    plan = S.plan_item(MASK, [school("甲", 1150), school("乙", 1200), school("丙", 1300),
                              school("丁", 1700)], DAY)
    assert plan.lifted == sorted(["丙", "乙"])
    assert plan.still_short == {"甲": 250} and plan.lacking == 250
    lines = S.plan_lines(plan)
    assert "调配后仍低于7天：甲" in lines and "全区尚缺 口罩 250个，需向上级申请" in lines


def test_a_donor_is_never_drawn_below_its_own_minimum():
    # 甲校 has 1405: 5 above its 1400; 乙校 sits exactly at its minimum and gives nothing
    plan = S.plan_item(MASK, [school("甲校", 1405), school("乙校", 1400), school("丙校", 1000)], DAY)
    assert [(t.donor, t.amount) for t in plan.transfers] == [("甲校", 5)]
    assert plan.surpluses == {"甲校": 5} and plan.lacking == 395


def test_schools_not_counted_within_a_week_take_no_part():
    old = DAY - dt.timedelta(days=8)
    plan = S.plan_item(MASK, [school("城东中学", 90000, counted=old), school("城西小学", 200),
                              S.SchoolStock("城南小学", None, None, 50)], DAY)
    assert plan.transfers == () and plan.lacking == 1200
    assert plan.not_counted == (("城东中学", old), ("城南小学", None))
    assert "未盘点（未计入调配）：城东中学（最近 1月27日）、城南小学" in S.plan_lines(plan)


def test_fractional_stock_rounds_in_the_donor_s_favour():
    item = SupplyItem("消毒液", "升", 0.05, 7)       # 100 people: 35升 for 7 days
    plan = S.plan_item(item, [S.SchoolStock("甲", 40.7, DAY, 100),
                              S.SchoolStock("乙", 30.2, DAY, 100)], DAY)
    # 甲 may give 5 (not 5.7 rounded up); 乙 needs 4.8 → 5
    assert plan.surpluses == {"甲": 5} and plan.deficits == {"乙": 5}
    assert [S.transfer_line(t, item) for t in plan.transfers] == ["从 甲 调 5升 消毒液 到 乙"]


def test_nothing_short_says_so():
    plan = S.plan_item(MASK, [school("甲", 5000), school("乙", 1400)], DAY)
    assert S.plan_lines(plan) == ["口罩：各校均不低于7天，无需调配"]
    assert S.district_supplies_lines([plan]) == []


def test_digest_lines_carry_the_plan_when_a_school_is_short():
    plan = S.plan_item(MASK, [school("城东中学", 5000), school("城西小学", 200)], DAY)
    lines = S.district_supplies_lines([plan])
    assert lines[0] == '<font color="warning">物资储备不足：</font>'
    assert "从 城东中学 调 1200个 口罩 到 城西小学" in lines


# ------------------------------------------------------------------------------ optimality

def _max_flow(donors, takers, edges, e, d, sinks):
    """Max flow with infinite donor→taker edges: min over donor sets X of
    e(donors not in X) + d(neighbours of X within sinks)."""
    best = None
    for r in range(len(donors) + 1):
        for xs in itertools.combinations(donors, r):
            nb = {j for i, j in edges if i in xs and j in sinks}
            cut = sum(e[i] for i in donors if i not in xs) + sum(d[j] for j in nb)
            best = cut if best is None else min(best, cut)
    return best


def brute_force(deficits, surpluses):
    """(most schools lifted, fewest transfers) by enumerating every set of transfers."""
    donors, takers = sorted(surpluses), sorted(deficits)
    total = min(sum(surpluses.values()), sum(deficits.values()))
    pairs = [(i, j) for i in donors for j in takers]

    def feasible(edges, lifted):
        return (_max_flow(donors, takers, edges, surpluses, deficits, set(lifted))
                == sum(deficits[j] for j in lifted)
                and _max_flow(donors, takers, edges, surpluses, deficits, set(takers)) == total)

    most = max(k for k in range(len(takers) + 1)
               if any(feasible(pairs, r) for r in itertools.combinations(takers, k)))
    for size in range(len(pairs) + 1):
        for edges in itertools.combinations(pairs, size):
            if any(feasible(edges, r) for r in itertools.combinations(takers, most)):
                return most, size
    raise AssertionError("no plan")


def check_valid(flows, deficits, surpluses):
    given_, got = {}, {}
    for donor, taker, amount in flows:
        assert amount > 0 and donor in surpluses and taker in deficits
        given_[donor] = given_.get(donor, 0) + amount
        got[taker] = got.get(taker, 0) + amount
    assert all(given_[k] <= surpluses[k] for k in given_)
    assert all(got[k] <= deficits[k] for k in got)
    moved = sum(a for *_x, a in flows)
    assert moved == min(sum(surpluses.values()), sum(deficits.values()))
    lifted = sum(1 for k, v in deficits.items() if got.get(k, 0) == v)
    return lifted, len(flows)


amounts = st.dictionaries(st.sampled_from("ABC"), st.integers(1, 6), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(amounts, amounts.map(lambda d: {k.lower(): v for k, v in d.items()}))
def test_exact_plan_is_optimal_against_brute_force(deficits, surpluses):
    flows, was_exact = S.solve(deficits, surpluses)
    assert was_exact
    assert check_valid(flows, deficits, surpluses) == brute_force(deficits, surpluses)


@pytest.mark.parametrize("deficits, surpluses, best", [
    ({"A": 3, "B": 3}, {"a": 6}, (2, 2)),
    ({"A": 2, "B": 4}, {"a": 4, "b": 2}, (2, 2)),             # exact pairs, not northwest corner
    ({"A": 5}, {"a": 2, "b": 2}, (0, 2)),                     # short: all of it to A
    ({"A": 1, "B": 5, "C": 5}, {"a": 3, "b": 3}, (2, 3)),
    ({"A": 3, "B": 3, "C": 4}, {"a": 5, "b": 5}, (3, 4)),
])
def test_exact_plan_on_hand_checked_cases(deficits, surpluses, best):
    flows, _ = S.solve(deficits, surpluses)
    assert check_valid(flows, deficits, surpluses) == best == brute_force(deficits, surpluses)


@settings(max_examples=100, deadline=None)
@given(amounts, amounts.map(lambda d: {k.lower(): v for k, v in d.items()}))
def test_greedy_lifts_as_many_and_moves_as_much_as_the_optimum(deficits, surpluses):
    flows, was_exact = S.solve(deficits, surpluses, exact_limit=0)
    assert not was_exact
    lifted, transfers = check_valid(flows, deficits, surpluses)
    best_lifted, best_transfers = brute_force(deficits, surpluses)
    assert lifted == best_lifted
    assert best_transfers <= transfers <= len(deficits) + len(surpluses) - 1


# ------------------------------------------------------------------------------ property

schools_strategy = st.lists(
    st.tuples(st.integers(0, 20000), st.integers(0, 400), st.integers(0, 12)),
    min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(schools_strategy, st.sampled_from([MASK, LIQUID, GUN,
                                          SupplyItem("消毒液", "升", 0.03, 3.5)]),
       st.sampled_from([0, S.EXACT_LIMIT]))
def test_a_plan_never_leaves_a_donor_short_nor_moves_more_than_the_district_has(
        rows, item, exact_limit):
    schools = [S.SchoolStock(f"校{i}", stock if item.unit == "个" else stock / 10,
                             DAY - dt.timedelta(days=age), people)
               for i, (stock, people, age) in enumerate(rows)]
    plan = S.plan_item(item, schools, DAY, exact_limit=exact_limit)
    by_name = {s.school: s for s in schools}
    given_, got = plan.given(), plan.received()
    counted = {s.school for s in schools if not S.is_stale(s.counted_on, DAY) and s.people > 0}
    for donor, amount in given_.items():
        s = by_name[donor]
        assert donor in counted
        assert S.exact(s.stock) - amount >= S.required(item, s.people)     # never below min_days
    for taker, amount in got.items():
        s = by_name[taker]
        assert taker in counted and taker not in given_
        assert S.exact(s.stock) + amount <= S.required(item, s.people) + 1  # never past the need
    district = sum(S.exact(by_name[n].stock) for n in counted)
    available = sum(max(0, S.exact(by_name[n].stock) - S.required(item, by_name[n].people))
                    for n in counted)
    assert plan.moved <= available <= district
    assert plan.lacking == max(0, sum(plan.deficits.values()) - sum(plan.surpluses.values()))
    still = sum(plan.still_short.values())
    assert still == sum(plan.deficits.values()) - plan.moved
