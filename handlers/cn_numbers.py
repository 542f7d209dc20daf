"""Chinese numerals: 四十五 → 45, 一百零二 → 102, and spoken temperatures 三十六度五 → 36.5."""
from __future__ import annotations

import re

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
          "七": 7, "八": 8, "九": 9}
CN_INT = "[零〇一二两三四五六七八九十百]+"
CN_DIGIT = "[零〇一二三四五六七八九]"
_CN_CHARS = frozenset(DIGITS) | frozenset("十百")


def cn_to_int(text: str) -> int | None:
    """A Chinese whole number up to 999, or None when `text` is not one."""
    if not text or not _CN_CHARS.issuperset(text):
        return None
    total, current = 0, 0
    for c in text:
        if c in DIGITS:
            current = DIGITS[c]
        elif c == "百":
            total += (current or 1) * 100
            current = 0
        elif c == "十":
            total += (current or 1) * 10
            current = 0
    return total + current


# 三十六度五 / 三十六点八度 / 三十七度 / 三十六点五: a spoken temperature.
_SPOKEN = re.compile(
    rf"([二三四]十{CN_DIGIT}?)(?:(点)({CN_DIGIT})\s*(度)?|(度)\s*({CN_DIGIT})?)")


def _spoken(m: re.Match) -> str:
    whole = cn_to_int(m.group(1))
    if m.group(2):                       # 三十六点八(度)
        return f"{whole}.{DIGITS[m.group(3)]}度"
    if m.group(6):                       # 三十六度五
        return f"{whole}.{DIGITS[m.group(6)]}度"
    return f"{whole}度"                  # 三十七度


def spoken_temperatures_to_digits(text: str) -> str:
    if "十" not in text:
        return text
    return _SPOKEN.sub(_spoken, text)


def number(text: str) -> int | None:
    """An Arabic or Chinese whole number."""
    if text.isdigit():
        return int(text)
    return cn_to_int(text)
