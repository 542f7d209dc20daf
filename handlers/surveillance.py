"""Early warning (异常信号预警): is a school sick above its own usual level? Pure functions.

A school's *series* for one signal is its daily case counts on the school days it reported
(oldest first): weekends, holidays and the school's days without any report are not in it at
all, so they never count as zeros. Each point carries the school's head count, and every method
works on the count per head, so the expected count is the baseline rate times today's heads.

Methods (`[surveillance] method`), with B = baseline_days, G = guard_days, k = K_REFERENCE:

- **c1** (EARS C1): the baseline is the B points right before today.
  z = (rate_today - mean) / sd, score = max(0, z - k).
- **c2** (EARS C2): the same with G guard points between the baseline and today, so the start
  of an outbreak does not lift its own baseline.
- **c3** (EARS C3): the sum over today and the two points before it of max(0, C2 - 1)
  (Fricker et al. 2008), each point's C2 with its own baseline.
- **ewma**: Z = today's rate smoothed over today and the G guard points with weight
  lambda = EWMA_LAMBDA, started at the baseline mean:
  Z = (1-l)^m mean + l * sum_j (1-l)^j rate_{t-j}, j < m = G + 1;
  score = (Z - mean) / (sd * sqrt(l / (2 - l) * (1 - (1-l)^(2m)))).

`sd` is the sample standard deviation of the baseline rates, never below SD_FLOOR cases at
today's head count (a baseline of zeros would otherwise make any case infinitely unusual). A
point signals when its score is above `threshold`, its count is at least `min_count` and its
baseline is complete (B points). k = 0.5 and lambda = 0.25 are the values of the Hubei study
(PMC4050765: C1 k=0.5 c=2, C2 k=0.5 c=3, C3 k=0.5 c=5, EWMA lambda=0.25 c=2).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

SIGNALS = ("sick_absent", "fever", "respiratory", "digestive", "rash")
SIGNAL_NAMES = {"sick_absent": "因病缺勤", "fever": "发热", "respiratory": "呼吸道症状",
                "digestive": "消化道症状", "rash": "皮疹类症状"}
METHODS = ("c1", "c2", "c3", "ewma")
METHOD_NAMES = {"c1": "EARS C1", "c2": "EARS C2", "c3": "EARS C3", "ewma": "EWMA"}

K_REFERENCE = 0.5          # EARS's reference value k (Hubei: 0.5 for C1, C2 and C3)
EWMA_LAMBDA = 0.25         # Hubei's best EWMA weight
SD_FLOOR = 1.0             # cases: the least standard deviation a baseline is given
C3_DAYS = 3                # C3 sums today's and the two previous points' C2
C3_OFFSET = 1.0            # ... each less this much
SPARK_DAYS = 14
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
NO_REPORT = "·"


@dataclass(frozen=True)
class Params:
    method: str = "c2"
    baseline_days: int = 7
    guard_days: int = 2
    threshold: float = 3.0
    min_count: int = 2
    k: float = K_REFERENCE
    lam: float = EWMA_LAMBDA
    sd_floor: float = SD_FLOOR

    @classmethod
    def of(cls, surveillance, method: str | None = None) -> "Params":
        """From `Config.surveillance` (handlers.config.Surveillance), another method if named."""
        return cls(method=method or surveillance.method,
                   baseline_days=surveillance.baseline_days,
                   guard_days=surveillance.guard_days, threshold=surveillance.threshold,
                   min_count=surveillance.min_count)

    @property
    def guard(self) -> int:
        """Guard points between baseline and today: none for C1."""
        return 0 if self.method == "c1" else self.guard_days

    @property
    def history_needed(self) -> int:
        """Points before today that a full evaluation of today reads."""
        extra = C3_DAYS - 1 if self.method == "c3" else 0
        return self.baseline_days + self.guard + extra


@dataclass(frozen=True)
class Point:
    """One reported school day of a school's series."""
    day: dt.date
    count: int
    heads: int


@dataclass(frozen=True)
class Evaluation:
    day: dt.date
    count: int
    heads: int
    expected: float | None     # cases at today's heads (None: the baseline is not complete)
    sd: float | None           # of the baseline, in cases at today's heads, after the floor
    score: float | None
    signal: bool
    method: str

    @property
    def rate(self) -> float:
        return self.count / self.heads if self.heads else 0.0


def evaluate_series(series: Sequence[Point], params: Params) -> list[Evaluation]:
    """Every point of one school's series, evaluated against its own earlier points."""
    n = len(series)
    if n == 0:
        return []
    counts = np.array([p.count for p in series], dtype=float)
    heads = np.array([max(p.heads, 1) for p in series], dtype=float)
    rates = counts / heads
    mean, sd = _baselines(rates, heads, params)
    method = params.method
    if method in ("c1", "c2"):
        score = _cusum_one(rates, mean, sd, params.k)
    elif method == "c3":
        c2 = np.nan_to_num(_cusum_one(rates, mean, sd, params.k), nan=0.0)
        excess = np.maximum(0.0, c2 - C3_OFFSET)
        score = excess.copy()
        for back in range(1, C3_DAYS):
            score[back:] += excess[:-back]
        score[np.isnan(mean)] = np.nan
    elif method == "ewma":
        score = _ewma(rates, mean, sd, params)
    else:
        raise ValueError(f"unknown method {method!r}")
    out = []
    for i, p in enumerate(series):
        if math.isnan(mean[i]):
            out.append(Evaluation(p.day, p.count, p.heads, None, None, None, False, method))
            continue
        s = float(score[i])
        out.append(Evaluation(
            p.day, p.count, p.heads, float(mean[i] * heads[i]), float(sd[i] * heads[i]), s,
            bool(s > params.threshold and p.count >= params.min_count), method))
    return out


def evaluate_today(series: Sequence[Point], params: Params) -> Evaluation | None:
    """The last point of the series (today), read from as much history as it needs."""
    if not series:
        return None
    return evaluate_series(series[-(params.history_needed + 1):], params)[-1]


def _baselines(rates: np.ndarray, heads: np.ndarray, params: Params):
    """Per point: the mean and floored sd of its baseline rates (NaN where incomplete)."""
    n, b, g = len(rates), params.baseline_days, params.guard
    mean = np.full(n, np.nan)
    sd = np.full(n, np.nan)
    first = b + g                       # the first point with a complete baseline
    if n > first:
        windows = np.lib.stride_tricks.sliding_window_view(rates[:n - g - 1], b)
        mean[first:] = windows.mean(axis=1)
        sd[first:] = windows.std(axis=1, ddof=1)
        sd[first:] = np.maximum(sd[first:], params.sd_floor / heads[first:])
    return mean, sd


def _cusum_one(rates, mean, sd, k) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.maximum(0.0, (rates - mean) / sd - k)


def _ewma(rates, mean, sd, params: Params) -> np.ndarray:
    lam, m = params.lam, params.guard_days + 1
    smoothed = (1 - lam) ** m * mean
    for j in range(m):
        shifted = np.full(len(rates), np.nan)
        shifted[j:] = rates[:len(rates) - j] if j else rates
        smoothed = smoothed + lam * (1 - lam) ** j * shifted
    factor = math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * m)))
    with np.errstate(invalid="ignore"):
        return (smoothed - mean) / (sd * factor)


# --------------------------------------------------------------------------- series

def series_of(days: Iterable[dt.date], counts: dict[dt.date, int], reported: set[dt.date],
              heads: int) -> list[Point]:
    """A school's series: of `days` (school days, any order) those it reported on."""
    return [Point(d, int(counts.get(d, 0)), heads) for d in sorted(days) if d in reported]


# --------------------------------------------------------------------------- wording

def sparkline(values: Sequence[int | None]) -> str:
    """▁▂▅█ scaled to the largest value; `·` for a day without reports."""
    top = max((v for v in values if v is not None), default=0)
    out = []
    for v in values:
        if v is None:
            out.append(NO_REPORT)
        elif top <= 0:
            out.append(SPARK_BLOCKS[0])
        else:
            out.append(SPARK_BLOCKS[min(len(SPARK_BLOCKS) - 1,
                                        round(v / top * (len(SPARK_BLOCKS) - 1)))])
    return "".join(out)


def percent(count: int, heads: int) -> str:
    return f"{100.0 * count / heads:.1f}%" if heads else "—"


def headline(school: str, signal: str, count: int, heads: int, expected: float,
             baseline_days: int) -> str:
    """【预警】城东中学 因病缺勤 今日9人（2.1%），前7个上学日平均2.3人"""
    return (f"【预警】{school} {SIGNAL_NAMES[signal]} 今日{count}人（{percent(count, heads)}），"
            f"前{baseline_days}个上学日平均{expected:.1f}人")


def alert_text(*, school: str, signal: str, day: dt.date, count: int, heads: int,
               expected: float, score: float, threshold: float, method: str,
               baseline_days: int, spark: Sequence[int | None]) -> str:
    """The private alert to the principal and the school's liaisons (plain text)."""
    return "\n".join([
        headline(school, signal, count, heads, expected, baseline_days),
        f"{day.month}月{day.day}日 · {METHOD_NAMES.get(method, method)} 得分{score:.1f}"
        f"（阈值{threshold:g}），全校{heads}人",
        f"近{len(spark)}个上学日：{sparkline(spark)}（今日{count}）",
        "请核实病因与班级分布，加强晨午检和因病缺勤追踪；"
        "疑似传染病聚集时按规定报告疾控部门。",
    ])


def bureau_line(*, school: str, signal: str, count: int, heads: int, expected: float,
                score: float, method: str) -> str:
    """One line of the bureau digest: 城东中学 因病缺勤 9人（2.1%），平常2.3人，C2得分4.2"""
    short = METHOD_NAMES.get(method, method).replace("EARS ", "")
    return (f"{school} {SIGNAL_NAMES[signal]} {count}人（{percent(count, heads)}），"
            f"平常{expected:.1f}人，{short}得分{score:.1f}")


def bureau_lines(signals: Iterable[dict]) -> list[str]:
    """The bureau digest's lines for the day's signals (dicts with the bureau_line fields),
    schools in name order, the highest score first within a school."""
    rows = sorted(signals, key=lambda s: (s["school"], -s["score"]))
    return [bureau_line(**{k: s[k] for k in ("school", "signal", "count", "heads", "expected",
                                             "score", "method")}) for s in rows]
