"""The 14-day trend chart as a PNG: reporting rate, fevers and sick absences, in Chinese.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, safe in a
scheduler thread), with the bundled `MorningCheck Sans SC` font (a Noto Sans CJK SC subset,
bot/static/fonts) so no Chinese character turns into a tofu box whatever the machine has.
The default size, 1080 × 1350 px, fills a phone screen when tapped open in WeCom.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

FONT_PATH = (Path(__file__).resolve().parent.parent / "bot" / "static" / "fonts"
             / "MorningCheckSansSC-Regular.otf")
FONT_FAMILY = "MorningCheck Sans SC"
WIDTH_PX, HEIGHT_PX, DPI = 1080, 1350, 150

RATE_COLOR = "#1f6fb2"
FEVER_COLOR = "#d9480f"
SICK_COLOR = "#f2a33a"
GRID_COLOR = "#dddddd"

_font_ready = False


def _register_font() -> None:
    global _font_ready
    if not _font_ready:
        from matplotlib import font_manager
        font_manager.fontManager.addfont(str(FONT_PATH))
        _font_ready = True


def chart_texts(points, title: str, subtitle: str) -> list[str]:
    """Every string the chart draws (the tests check each character is in the font)."""
    return [title, subtitle, "上报率（%）", "发热与因病缺勤（人）", "发热", "因病缺勤", "无数据", "无发热、无因病缺勤",
            *(_day_tick(p.day) for p in points)]


def _day_tick(day) -> str:
    return f"{day.month}/{day.day}"


def trend_png(points: Sequence, *, title: str, subtitle: str = "",
              width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> bytes:
    """`points`: `storage.trends.TrendPoint`s, oldest first. Returns PNG bytes of the given size."""
    _register_font()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rc = {"family": FONT_FAMILY}
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.965, title, ha="center", va="top", fontsize=18,
             fontfamily=FONT_FAMILY)
    if subtitle:
        fig.text(0.5, 0.92, subtitle, ha="center", va="top", fontsize=12, color="#555555",
                 fontfamily=FONT_FAMILY)
    top, bottom = fig.add_gridspec(2, 1, left=0.1, right=0.97, top=0.86, bottom=0.06,
                                   hspace=0.42, height_ratios=[1, 1.15]).subplots()
    x = list(range(len(points)))
    ticks = [_day_tick(p.day) for p in points]

    # reporting rate: a line, gaps where nothing was due
    rates = [p.rate for p in points]
    top.plot(x, [float("nan") if r is None else r for r in rates], color=RATE_COLOR,
             linewidth=2.5, marker="o", markersize=6)
    for i, r in enumerate(rates):
        if r is None:
            top.text(i, 50, "无数据", ha="center", va="center", fontsize=11, color="#999999",
                     rotation=90, fontfamily=FONT_FAMILY)
        elif i == len(rates) - 1 or r < 90:
            top.annotate(f"{r:.0f}", (i, r), textcoords="offset points", xytext=(0, 8),
                         ha="center", fontsize=11, color=RATE_COLOR, fontfamily=FONT_FAMILY)
    top.set_ylim(0, 108)
    top.set_yticks([0, 25, 50, 75, 100])
    top.set_title("上报率（%）", loc="left", fontsize=14, fontfamily=FONT_FAMILY)

    # fevers and sick absences: paired bars with their numbers on top
    w = 0.4
    fevers = [p.fevers for p in points]
    sick = [p.sick_absent for p in points]
    b1 = bottom.bar([i - w / 2 for i in x], fevers, width=w, color=FEVER_COLOR, label="发热")
    b2 = bottom.bar([i + w / 2 for i in x], sick, width=w, color=SICK_COLOR, label="因病缺勤")
    for bars in (b1, b2):
        bottom.bar_label(bars, labels=[str(int(v)) if v else "" for v in bars.datavalues],
                         fontsize=10, padding=2, fontfamily=FONT_FAMILY)
    if points and not any(fevers) and not any(sick):
        bottom.text(0.5, 0.5, "无发热、无因病缺勤", transform=bottom.transAxes, ha="center",
                    va="center", fontsize=13, color="#15803d", fontfamily=FONT_FAMILY)
    peak = max([*fevers, *sick, 1])
    bottom.set_ylim(0, peak * 1.25 + 0.5)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    bottom.set_title("发热与因病缺勤（人）", loc="left", fontsize=14, fontfamily=FONT_FAMILY)
    bottom.legend(loc="upper left", frameon=False, ncols=2, prop=rc | {"size": 12})

    for ax in (top, bottom):
        ax.set_xticks(x)
        ax.set_xticklabels(ticks, fontsize=10.5, fontfamily=FONT_FAMILY)
        ax.tick_params(axis="y", labelsize=11)
        for label in ax.get_yticklabels():
            label.set_fontfamily(FONT_FAMILY)
        ax.set_xlim(-0.6, max(len(points) - 0.4, 0.6))
        ax.grid(axis="y", color=GRID_COLOR, linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()
