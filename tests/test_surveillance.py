"""Early warning's methods against series computed by hand (handlers/surveillance.py).

Each expected figure is worked out here from the method's definition with `statistics`
(sample standard deviation), not with the module's numpy code.
"""
from __future__ import annotations

import datetime as dt
import math
from statistics import mean, stdev

import pytest

from handlers.config import Calendar
from handlers.surveillance import (
    EWMA_LAMBDA, K_REFERENCE, Params, Point, alert_text, bureau_line, evaluate_series,
    evaluate_today, headline, series_of, sparkline,
)

MONDAY = dt.date(2026, 3, 2)


def points(counts, heads=100, start=MONDAY):
    return [Point(start + dt.timedelta(days=i), c, heads) for i, c in enumerate(counts)]


def last(counts, heads=100, **params):
    return evaluate_series(points(counts, heads), Params(**params))[-1]


BASE = [1, 5, 1, 5, 1, 5, 1]              # mean 19/7 = 2.714, sample sd 2.138: above the floor


def test_c1_reads_the_seven_points_right_before_today():
    e = last(BASE + [12], method="c1")
    mu, sd = mean(BASE), stdev(BASE)
    assert (round(mu, 4), round(sd, 4)) == (2.7143, 2.1381)
    assert e.expected == pytest.approx(mu)
    assert e.sd == pytest.approx(sd)
    assert e.score == pytest.approx((12 - mu) / sd - K_REFERENCE)       # 3.843
    assert round(e.score, 3) == 3.843 and e.signal


def test_c2_skips_the_guard_days_that_c1_counts():
    # the outbreak began two points ago: C1's baseline already holds it, C2's does not
    counts = BASE + [20, 20, 12]
    c1 = last(counts, method="c1")
    c1_base = (BASE + [20, 20])[-7:]
    assert c1.expected == pytest.approx(mean(c1_base))
    assert c1.score == pytest.approx(max(0.0, (12 - mean(c1_base)) / stdev(c1_base) - 0.5))
    assert not c1.signal                                   # 0: today is below C1's mean
    c2 = last(counts, method="c2", guard_days=2)
    assert c2.expected == pytest.approx(mean(BASE))
    assert c2.score == pytest.approx((12 - mean(BASE)) / stdev(BASE) - 0.5) and c2.signal


def test_the_sd_floor_keeps_a_quiet_baseline_from_making_any_case_a_signal():
    quiet = [0] * 7
    three = last(quiet + [0, 0, 3], method="c2")
    assert three.sd == 1.0                                  # sd 0, floored to one case
    assert three.score == pytest.approx(3 / 1.0 - 0.5) and not three.signal     # 2.5 ≤ 3
    four = last(quiet + [0, 0, 4], method="c2")
    assert four.score == pytest.approx(3.5) and four.signal
    # the floor is in cases at today's head count, whatever the school's size
    big = last(quiet + [0, 0, 4], heads=2000, method="c2")
    assert big.sd == pytest.approx(1.0) and big.score == pytest.approx(3.5)


def test_min_count_one_absence_after_a_quiet_week_is_no_signal():
    one = last([0] * 9 + [1], method="c2", threshold=3.0, min_count=2)
    assert one.score == pytest.approx(1 / 1.0 - 0.5) and not one.signal
    # with a tiny sd floor the score alone would signal; min_count still holds it back
    tiny = evaluate_series(points([0] * 9 + [1]),
                           Params(method="c2", min_count=2, threshold=3.0, sd_floor=0.2))[-1]
    assert tiny.score == pytest.approx(1 / 0.2 - 0.5) and not tiny.signal
    two = evaluate_series(points([0] * 9 + [2]),
                          Params(method="c2", min_count=2, threshold=3.0, sd_floor=0.2))[-1]
    assert two.signal


def test_c3_sums_the_last_three_c2_excesses_over_one():
    counts = [2, 3, 2, 4, 2, 3, 2, 3, 2, 5, 6, 8]
    e = last(counts, method="c3")
    c2s = []
    for i in (9, 10, 11):                                   # today and the two points before
        base = counts[i - 9:i - 2]
        sd = max(stdev(base), 1.0)
        c2s.append(max(0.0, (counts[i] - mean(base)) / sd - 0.5))
    expected = sum(max(0.0, c - 1) for c in c2s)
    assert e.score == pytest.approx(expected)
    assert round(e.score, 3) == round(expected, 3) and e.signal == (expected > 3)
    assert e.expected == pytest.approx(mean(counts[2:9]))


def test_ewma_smooths_today_and_the_guard_points_from_the_baseline_mean():
    counts = BASE + [3, 6, 9]
    e = last(counts, method="ewma", guard_days=2)
    lam, m = EWMA_LAMBDA, 3
    mu, sd = mean(BASE), stdev(BASE)
    z = (1 - lam) ** 3 * mu + lam * (9 + (1 - lam) * 6 + (1 - lam) ** 2 * 3)
    score = (z - mu) / (sd * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * m))))
    assert e.score == pytest.approx(score)
    assert e.signal == (score > 3.0)


def test_rates_per_head_when_the_heads_change():
    series = [Point(MONDAY + dt.timedelta(days=i), c, h)
              for i, (c, h) in enumerate([(1, 100), (2, 100), (1, 100), (2, 100), (1, 100),
                                          (2, 100), (1, 100), (0, 200), (0, 200), (10, 200)])]
    e = evaluate_series(series, Params(method="c2"))[-1]
    rates = [1, 2, 1, 2, 1, 2, 1]
    mu = mean(rates) / 100
    sd = max(stdev(rates) / 100, 1.0 / 200)
    assert e.expected == pytest.approx(mu * 200)            # the baseline rate at today's heads
    assert e.score == pytest.approx((10 / 200 - mu) / sd - 0.5)


def test_a_holiday_and_a_day_without_reports_are_skipped_not_zeros():
    cal = Calendar(holidays=frozenset({dt.date(2026, 3, 4)}))
    days = cal.school_days(MONDAY, dt.date(2026, 3, 20))
    # every school day 3 cases; the holiday and a day the school sent nothing would be zeros
    counts = {d: 3 for d in days}
    counts[dt.date(2026, 3, 4)] = 0
    missing = dt.date(2026, 3, 10)
    reported = set(days) - {missing}
    series = series_of(days, counts, reported, heads=300)
    assert dt.date(2026, 3, 4) not in [p.day for p in series]
    assert missing not in [p.day for p in series]
    assert all(p.count == 3 for p in series)
    today = series[-1]
    e = evaluate_today(series, Params(method="c2"))
    assert today.day == dt.date(2026, 3, 20) and e.expected == pytest.approx(3.0)
    assert e.score == 0.0 and not e.signal


def test_an_incomplete_baseline_is_not_evaluated():
    e = last([1, 2, 3, 4, 5, 6, 7, 8, 9], method="c2")      # needs 7 + 2 points before today
    assert e.score is None and e.expected is None and not e.signal
    assert last([1, 2, 3, 4, 5, 6, 7, 9], method="c1").score is not None


@pytest.mark.parametrize("method", ["c1", "c2", "c3", "ewma"])
def test_today_alone_equals_the_whole_series_replayed(method):
    counts = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]
    series = points(counts)
    whole = evaluate_series(series, Params(method=method))
    for i in range(1, len(series) + 1):
        assert evaluate_today(series[:i], Params(method=method)) == whole[i - 1]


def test_sparkline_and_the_alert_wording():
    assert sparkline([0, 1, None, 4, 8]) == "▁▂·▅█"
    assert sparkline([0, 0]) == "▁▁" and sparkline([None]) == "·"
    assert headline("城东中学", "sick_absent", 9, 428, 2.3, 7) == \
        "【预警】城东中学 因病缺勤 今日9人（2.1%），前7个上学日平均2.3人"
    text = alert_text(school="城东中学", signal="sick_absent", day=dt.date(2026, 3, 2), count=9,
                      heads=428, expected=2.3, score=4.21, threshold=3.0, method="c2",
                      baseline_days=7, spark=[2, 3, 1, 2, 2, 3, 2, 1, 2, 3, 2, 4, 6, 9])
    lines = text.splitlines()
    assert lines[0] == "【预警】城东中学 因病缺勤 今日9人（2.1%），前7个上学日平均2.3人"
    assert lines[1] == "3月2日 · EARS C2 得分4.2（阈值3），全校428人"
    assert lines[2] == "近14个上学日：▃▃▂▃▃▃▃▂▃▃▃▄▆█（今日9）"
    assert "疾控" in lines[3] and len(text.encode()) < 2048
    assert bureau_line(school="城东中学", signal="fever", count=5, heads=428, expected=0.4,
                       score=3.6, method="c2") == "城东中学 发热 5人（1.2%），平常0.4人，C2得分3.6"
