"""The trend chart: a PNG of the right size with every Chinese character in the bundled font."""
from __future__ import annotations

import datetime as dt
import io
import logging
import warnings
from pathlib import Path

from PIL import Image
from fontTools.ttLib import TTFont

from scheduler.chart import FONT_PATH, chart_texts, trend_png
from storage.trends import TrendPoint, trend
from tests.support import make_config

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
END = dt.date(2026, 3, 19)


def points():
    config = make_config("sqlite://")
    days = config.calendar.school_days_until(END, 14)
    return [TrendPoint(d, None if i == 3 else 78 + (i * 7) % 23, (i * 5) % 7, (i * 3) % 11)
            for i, d in enumerate(days)]


def test_chart_is_a_png_of_the_right_size_without_missing_glyphs(caplog):
    pts = points()
    title, subtitle = "全区近14个上学日趋势 · 晨检", "3月19日 数据截至 09:30"
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        png = trend_png(pts, title=title, subtitle=subtitle)
    complaints = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [c for c in complaints if "missing" in c.lower() or "findfont" in c.lower()]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    image = Image.open(io.BytesIO(png))
    assert image.size == (1080, 1350)
    # not blank: a good share of the pixels are ink
    gray = image.convert("L")
    assert sum(gray.histogram()[:200]) > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "trend.png").write_bytes(png)


def test_every_character_the_chart_draws_is_in_the_bundled_font():
    cmap = TTFont(FONT_PATH).getBestCmap()
    text = "".join(chart_texts(points(), "全区近14个上学日趋势 · 晨检 午检", "12月31日 数据截至 23:59"))
    missing = sorted({ch for ch in text if ord(ch) not in cmap and not ch.isspace()})
    assert missing == []


def test_other_sizes_and_an_empty_range():
    png = trend_png([], title="全区趋势", width_px=720, height_px=900)
    assert Image.open(io.BytesIO(png)).size == (720, 900)


def test_trend_from_the_database(tmp_path):
    from storage.db import make_engine, make_sessionmaker, upgrade
    from storage.models import Person
    from storage.records import save_record
    from storage.roster import apply_roster, load_roster
    from sqlalchemy import select
    from tests.support import ROSTER_CSV

    url = f"sqlite:///{tmp_path}/bot.db"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    roster = tmp_path / "r.csv"
    roster.write_text(ROSTER_CSV, encoding="utf-8")
    with sessions() as s, s.begin():
        apply_roster(s, load_roster(roster))
        staff = [p for p in s.scalars(select(Person)) if p.role in ("teacher", "head_teacher", "principal")]
        for p in staff:                               # all 7 staff on END, one with a fever
            save_record(s, person_id=p.id, day=END, check="morning",
                        temperature=38.0 if p.name == "张老师" else 36.5, symptoms=[],
                        abnormal=p.name == "张老师", reported_by_id=p.id, message_id=None)
    config = make_config(url)
    with sessions() as s:
        pts = trend(s, config, END, "morning")
    engine.dispose()
    assert len(pts) == 14 and pts[-1].day == END
    assert pts[-1].fevers == 1 and pts[-1].sick_absent == 0
    assert round(pts[-1].rate) == 70                  # 7 staff of 7, 0 classes of 3
    assert pts[0].rate == 0 and pts[0].fevers == 0
