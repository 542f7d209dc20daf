"""The message grammar: what a teacher wrote, read into a parse result (CONTRACT.md).

`parse(text, today, fever_threshold)` is a pure function. It reads, in order:
1. normal form: full-width digits and punctuation, `。`/`．` as a decimal point, spoken
   numbers (三十六度五), emoji and decoration dropped, a leading @-mention dropped;
2. a command (帮助, 查询, 撤销, 统计, 谁没报 and their wordings) when that is the whole message;
3. the day (2月3日, 二月三日, 2020-02-03, 昨天, 补报 …) and the check (晨检 / 午检);
4. the numbers: temperatures (36.5, 体温36, 37度5, 97.9F) and numbers that are none (36.5元,
   1.5米, 气温36度, web addresses); times, rooms, phone numbers and counts have no decimal
   point and no 度/℃ and are never temperatures;
5. a class summary when the message states 应到 / 实到 counts, with any students it names;
6. otherwise the temperatures, the names written right before them, symptoms with negation,
   and clauses that name students without a temperature (张三 返校, 李四 咳嗽).
What is none of these is chatter (`unrecognized`): the bot stays silent.

The results are immutable named tuples: cheap to make, safe to share.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
import re
import unicodedata
from typing import NamedTuple

from handlers import lexicon
from handlers.cn_numbers import CN_INT, cn_to_int, number, spoken_temperatures_to_digits
from handlers.lexicon import SYMPTOM_NAMES  # noqa: F401  (re-exported for replies and digests)

MIN_TEMP, MAX_TEMP = 34.0, 42.5
MAX_TEXT = 2000          # longer messages are read up to here: nobody reports in an essay

HAN = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f"


class PersonReading(NamedTuple):
    name: str | None          # None: the sender
    temperature: float | None
    symptoms: tuple[str, ...]
    abnormal: bool


class ClassSummary(NamedTuple):
    name: str | None
    expected: int | None
    present: int | None
    absent: int | None
    sick_absent: int | None
    fever: int | None


class ParseError(NamedTuple):
    code: str
    message: str


class ParseResult(NamedTuple):
    kind: str                                  # report | command | unrecognized | invalid
    command: str | None = None
    date: dt.date | None = None
    session: str | None = None
    people: tuple[PersonReading, ...] = ()
    class_summary: ClassSummary | None = None
    errors: tuple[ParseError, ...] = ()

    def to_dict(self) -> dict:
        c = self.class_summary
        return {
            "kind": self.kind,
            "command": self.command,
            "date": self.date.isoformat() if self.date else None,
            "session": self.session,
            "people": [{"name": p.name, "temperature": p.temperature, "symptoms": list(p.symptoms),
                        "abnormal": p.abnormal} for p in self.people],
            "class": None if c is None else {
                "name": c.name, "expected": c.expected, "present": c.present, "absent": c.absent,
                "sick_absent": c.sick_absent, "fever": c.fever},
            "errors": [{"code": e.code, "message": e.message} for e in self.errors],
        }


_new = tuple.__new__                          # makes a named tuple without the keyword handling
UNRECOGNIZED = ParseResult("unrecognized")
_COMMAND_RESULTS = {c: ParseResult("command", command=c) for c in set(lexicon.COMMANDS.values())}

# --- normal form ---------------------------------------------------------------------------
# Characters that need a look: not CJK, not printable ASCII, not CJK punctuation.
_ODD = re.compile(r"[^\u4e00-\u9fff -~\n\t\u3000-\u303f]")
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\ufe0e\ufe0f")
_MIDDLE_DOTS = frozenset("•‧・･∙⋅")
_odd_seen: dict[str, str] = {}


def _odd_char(m: re.Match) -> str:
    ch = m.group()
    out = _odd_seen.get(ch)
    if out is None:
        if ch in _ZERO_WIDTH:
            out = ""                                 # 3\u200b6.5 is 36.5
        elif ch in _MIDDLE_DOTS:
            out = "·"                                # the dot of 买买提·艾力
        else:
            cat = unicodedata.category(ch)
            if cat[0] == "C" or (cat in ("So", "Sk", "Sm") and ch not in "°℃℉"):
                out = " "                            # control characters, surrogates, emoji, decoration
            else:
                out = ch
        if len(_odd_seen) < 4096:
            _odd_seen[ch] = out
    return out


# 36。5 / 36·5: a point between digits (not after a number that has one: 36.5。37.0)
_POINT = re.compile(r"(?<![\d.])(\d+)\s*[。·]\s*(?=\d)")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
# A leading @-mention of the bot (the 智能机器人 strips it; a private chat may still carry one).
_MENTION = re.compile(r"^(?:\s*@[^\s\d,:;。.!?、]*)+")


def normalize(text: str) -> str:
    text = text[:MAX_TEXT]
    if text.isascii() and text.isprintable():
        if "@" in text:
            text = _MENTION.sub(" ", text)
        return " ".join(text.split())
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = _ODD.sub(_odd_char, text)
    if "。" in text or "·" in text:
        text = _POINT.sub(r"\1.", text)
    if "十" in text:
        text = spoken_temperatures_to_digits(text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "  " in text or "\t" in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


# --- commands --------------------------------------------------------------------------------
_COMMAND_STRIP = re.compile(r"[\s,.!~。,!、:;?？'\"“”‘’()\[\]【】/\\@#…-]+")
_COMMAND_HEAD = re.compile(f"^(?:{lexicon.trie_pattern(lexicon.COMMAND_HEADS)})+")
_COMMAND_TAIL = re.compile("(?:" + "|".join(sorted(lexicon.COMMAND_TAILS, key=len, reverse=True)) + ")+$")


def read_command(norm: str) -> str | None:
    """The command a whole message asks for (帮助, 查一下, 请问谁还没报？), else None."""
    if len(norm) > 24:
        return None
    found = lexicon.COMMANDS.get(norm)
    if found:
        return found
    key = _COMMAND_STRIP.sub("", norm).lower()
    if not key:
        return "help" if "?" in norm else None
    found = lexicon.COMMANDS.get(key)
    if found:
        return found
    key = _COMMAND_TAIL.sub("", _COMMAND_HEAD.sub("", key))
    return lexicon.COMMANDS.get(key)


# --- dates ------------------------------------------------------------------------------------
# Groups: 1-3 year, month, day; 4-5 month, day; 6-7 Chinese month, day; 8 a relative day.
_DATE = re.compile(
    r"(?=[\d一二三四五六七八九十大前昨今明后])(?:"
    r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})(?!\d)\s*[日号]?"
    r"|(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})(?![\d.])\s*[日号]?"
    r"|([一二三四五六七八九十]{1,2})月([一二三四五六七八九十]{1,3})[日号]"
    r"|(大前天|前天|昨天|昨日|今天|今日|明天|明日|后天))")
_RELATIVE = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "明天": 1,
             "明日": 1, "后天": 2}


class DateFound(NamedTuple):
    day: dt.date | None            # None: impossible (2月30日)
    text: str


def _months_after(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def find_date(norm: str, today: dt.date) -> tuple[DateFound | None, str]:
    """The first date the text names, and the text with it blanked out."""
    if not ("月" in norm or "天" in norm or "日" in norm or "年" in norm or "-" in norm
            or "/" in norm or norm.count(".") > 1):
        return None, norm
    m = _DATE.search(norm)
    if not m:
        return None, norm
    rest = norm[:m.start()] + " " + norm[m.end():]
    y, mo, d, mo2, d2, mo3, d3, rel = m.groups()
    if rel:
        if rel in ("今天", "今日"):
            return None, rest
        return DateFound(today + dt.timedelta(days=_RELATIVE[rel]), rel), rest
    shown = m.group().strip()
    if y:
        year, month, day = int(y), int(mo), int(d)
    elif mo2:
        year, month, day = today.year, int(mo2), int(d2)
    else:
        year, month, day = today.year, cn_to_int(mo3) or 0, cn_to_int(d3) or 0
    try:
        found = dt.date(year, month, day)
    except ValueError:
        return DateFound(None, shown), rest
    if not y and found > _months_after(today, 6):
        try:                                     # more than six months ahead: last year's
            found = dt.date(year - 1, month, day)
        except ValueError:                       # 2月29日 of a leap year, read as last year
            return DateFound(None, shown), rest
    return DateFound(found, shown), rest


_SESSION = re.compile("|".join(lexicon.SESSION_WORDS))


def find_session(norm: str) -> str | None:
    if "检" not in norm:
        return None
    m = _SESSION.search(norm)
    return lexicon.SESSION_WORDS[m.group()] if m else None


# --- numbers: temperatures and the rest --------------------------------------------------------
_TEMP_LEADS = ("体温", "温度", "测温", "腋温", "额温", "耳温", "口温")
# A number after these is some other quantity (气温36度 is the weather).
_OTHER_LEADS = ("气温", "室温", "水温", "油温", "最高温", "最低温", "体重", "身高", "价格", "售价", "费用",
                "金额", "¥", "$")
# Temperature units: F (Fahrenheit), C (°C, ℃), c (a bare C), 度, °.
_TEMP_UNITS = {"°F": "F", "℉": "F", "F": "F", "华氏": "F", "华氏度": "F",
               "°C": "C", "℃": "C", "摄氏度": "C", "C": "c", "度": "度", "°": "°"}
# Units of other quantities. Those that begin like a surname (米, 周, 元) count only when no
# character follows that could make them a name (36.4米兰 is 米兰's temperature).
_OTHER_UNITS = ("块钱", "块", "角", "千克", "斤", "kg", "KG", "Kg", "cm", "mm", "厘米", "毫米", "千米",
                "km", "%", "折", "岁", "小时", "分钟", "秒", "页", "次", "节课", "节", "版", "层", "室",
                "栋", "个月", "g", "克", "ml", "mL", "毫升", "升", "分", "m")
_SURNAME_UNITS = ("元", "公斤", "米", "公里", "楼", "单元", "周")
_TEMP_UNIT = "°\\s*[FfCc]|℉|℃|华氏度?|摄氏度|度|°|[FfCc](?![a-zA-Z])"
_OTHER_UNIT = (f"(?:{lexicon.trie_pattern(_OTHER_UNITS)})(?![a-zA-Z])"
               f"|(?:{lexicon.trie_pattern(_SURNAME_UNITS)})(?![{HAN}])")
# The numbers worth a look, found in one pass. A whole number without 体温 before it or a unit
# after it is never a temperature and is not even looked at. Groups:
#   1-4  体温 36.5 / 体温36 / 体温37度5: the lead, the number, the tenth (37度5), the unit;
#   5-6  a decimal and its unit, if any (36.5, 36.5℃, 97.9F, 36.5元);
#   7-9  a whole number with a temperature unit: the number, the tenth (37度5), the unit.
# Anything else it matches (web addresses, 气温36度) is some other quantity.
_NUMBER = re.compile(
    "(?=[\\d体温测腋额耳口气室水油最身价售费金¥$hw])(?:"
    r"https?://\S+|www\.\S+"
    f"|(?:{lexicon.trie_pattern(_OTHER_LEADS)})\\s*:?\\s*(?:是|为|约)?\\s*\\d+(?:\\.\\d+)?"
    r"(?:\s*(?:度|°C?|公斤|斤|kg|cm|厘米|米|元|块))?"
    f"|((?:{lexicon.trie_pattern(_TEMP_LEADS)})\\s*(?:是|为|:)?\\s*)(\\d+(?:\\.\\d+)?)(?!\\.?\\d)"
    f"(?:度(\\d)(?![\\d.])|\\s*({_TEMP_UNIT}))?"
    f"|(?<![\\d.])(\\d+\\.\\d+)(?!\\.?\\d)(?:\\s*({_TEMP_UNIT}|{_OTHER_UNIT}))?"
    f"|(?<![\\d.])(\\d+)(?:度(\\d)(?![\\d.])|\\s*({_TEMP_UNIT})))")


class TempFound(NamedTuple):
    value: float
    start: int
    end: int
    in_range: bool
    raw: str = ""


def _round1(value: float) -> float:
    """One decimal, halves up (36.55 → 36.6), without binary-float surprises."""
    return math.floor(value * 10 + 0.5 + 1e-9) / 10


def read_numbers(text: str) -> tuple[list[TempFound], str]:
    """The temperatures in `text`, and the text with numbers of other things blanked out
    (same length, so places in it stay valid)."""
    found: list[TempFound] = []
    blank: list[tuple[int, int]] = []
    for m in _NUMBER.finditer(text):
        lead, raw, frac, unit, dec, dec_unit, whole, whole_frac, whole_unit = m.groups()
        if raw is None:
            if dec is not None:
                raw, unit = dec, dec_unit
            elif whole is not None:
                raw, frac, unit = whole, whole_frac, whole_unit
            else:
                blank.append(m.span())                     # 气温36度, a web address
                continue
        if unit:
            unit = _TEMP_UNITS.get(unit.replace(" ", "").upper() if unit[0] in "°FfCc" else unit)
            if unit is None:                               # 36.5元, 1.5米, 3.5节课
                blank.append(m.span())
                continue
        if frac:                                           # 37度5
            if "." not in raw:
                raw = f"{raw}.{frac}"
            unit = "度"
        value = float(raw)
        if unit == "F":
            if not 80 <= value <= 120:
                continue
            value = (value - 32) * 5 / 9
            raw += "℉"
        elif not (lead or unit):
            if not 30 <= value <= 50:
                continue                                   # 3.5, 120.5: no temperature
        elif "." not in raw and (value >= 100 or (not lead and (
                unit == "c" or (unit == "°" and not 30 <= value <= 50)))):
            continue                                       # 36C, 5°: a bare whole number
        if unit == "F" or len(raw) - raw.find(".") > 2:
            value = _round1(value)                         # 36.55 → 36.6, 97.9℉ → 36.6
        found.append(_new(TempFound, (value, m.start(), m.end(), MIN_TEMP <= value <= MAX_TEMP, raw)))
    if blank:
        parts, last = [], 0
        for s, e in blank:
            parts.append(text[last:s])
            parts.append(" " * (e - s))
            last = e
        parts.append(text[last:])
        text = "".join(parts)
    return found, text


# --- symptoms ---------------------------------------------------------------------------------
_SYMPTOM_RE = lexicon.SYMPTOM_RE
_SYMPTOM_CODE = {**lexicon.BODY_WORD_TO_SYMPTOM, **lexicon.WORD_TO_SYMPTOM}
_NEGATIONS = lexicon.NEGATIONS
_JOINERS = lexicon.JOINERS
_FILLERS = lexicon.FILLERS
_POSTFIX = lexicon.POSTFIX_NEGATION_RE


def find_symptoms(text: str) -> tuple[str, ...]:
    """Symptom codes stated in `text` and not negated, in order of appearance."""
    matches = [(m.start(), m.end(), m.group()) for m in _SYMPTOM_RE.finditer(text)]
    if not matches:
        return ()
    ends = {e: s for s, e, _ in matches}
    starts = {s: e for s, e, _ in matches}
    stated: list[str] = []
    for s, e, word in matches:
        code = _SYMPTOM_CODE.get(word)
        if code is None or code in stated:
            continue
        if _negated_before(text, s, ends) or _negated_after(text, e, starts):
            continue
        stated.append(code)
    return tuple(stated)


def _negated_before(text: str, i: int, ends: dict[int, int]) -> bool:
    """A negation before the symptom at i, over other symptoms, joiners and fillers:
    无发热、咳嗽 / 没有出现发热咳嗽 / 否认有咳嗽. A comma, a space or an affirming 有 after a
    joiner (无发热、有咳嗽) ends its reach."""
    while True:
        j = i
        while j > 0 and text[j - 1] in _JOINERS:
            j -= 1
        before = ends.get(j)
        if before is None or before >= i:
            break
        i = before
    while i > 0 and text[i - 1] in _FILLERS:
        if text.endswith(_NEGATIONS, 0, i):
            return True
        i -= 1
    return text.endswith(_NEGATIONS, 0, i)


def _negated_after(text: str, i: int, starts: dict[int, int]) -> bool:
    """A negation after the symptom, over the symptoms joined to it: 发热、咳嗽：无 / 咳嗽（无）."""
    n = len(text)
    while True:
        j = i
        while j < n and text[j] in _JOINERS:
            j += 1
        after = starts.get(j)
        if after is None:
            break
        i = after
    return i < n and _POSTFIX.match(text, i) is not None


def is_abnormal(temperature: float | None, symptoms, threshold: float) -> bool:
    return bool(symptoms) or (temperature is not None and temperature >= threshold)


# --- names ------------------------------------------------------------------------------------
_DOTTED_NAME = re.compile(f"[{HAN}]+(?:·[{HAN}]+)+")
_LEADING_NOT_NAMES = re.compile(f"(?:{lexicon.trie_pattern(lexicon.NOT_NAMES)})+")
# Trailing words are stripped by reading the run backwards.
_TRAILING_NOT_NAMES_REVERSED = re.compile(
    f"(?:{lexicon.trie_pattern({w[::-1] for w in (*lexicon.NOT_NAMES, *lexicon.WORD_TO_SYMPTOM)})})+")
_NOT_NAME_FIRST = frozenset(w[0] for w in lexicon.NOT_NAMES)
_SURNAMES = lexicon.SURNAMES
_COMPOUND_SURNAMES = frozenset(lexicon.COMPOUND_SURNAMES)


def _strip_edges(run: str, reversed_run: str | None = None) -> str:
    """Drops words that are not names from both ends: 今日体温 → "", 学生郑一鸣 → 郑一鸣."""
    m = _TRAILING_NOT_NAMES_REVERSED.match(reversed_run or run[::-1])
    if m:
        run = run[:len(run) - m.end()]
    if run and run[0] in _NOT_NAME_FIRST:
        m = _LEADING_NOT_NAMES.match(run)
        if m:
            run = run[m.end():]
    return run


def _as_name(candidate: str) -> str | None:
    """`candidate` (characters of a Han run) when it reads as a person's name: 2–4 characters
    from a surname, or a transliterated name with a middle dot (买买提·艾力)."""
    if "·" in candidate:
        candidate = candidate.strip("·")
        if _DOTTED_NAME.fullmatch(candidate) and len(candidate) <= 16:
            return candidate
        return None
    n = len(candidate)
    if n < 2 or n > 4:
        return None
    if candidate[:2] in _COMPOUND_SURNAMES:
        if n < 3:
            return None
    elif candidate[0] not in _SURNAMES:
        return None
    if "无" in candidate or "不" in candidate or "没有" in candidate \
            or lexicon.SYMPTOM_WORD_RE.search(candidate):
        return None
    return candidate


def _split_names(run: str, candidate: str) -> list[str]:
    """One name, or names joined by 和/及/与 (王芳和刘洋), from a stripped run."""
    if len(candidate) == 1 and 2 <= len(run) <= 3:
        candidate = run                      # 李健康, 王正常: the "word" is part of the name
    name = _as_name(candidate)
    if name:
        return [name]
    if len(candidate) > 4:
        for joiner in "和及与":
            if joiner in candidate:
                names = [_as_name(p) for p in candidate.split(joiner)]
                if all(names):
                    return names             # type: ignore[return-value]
    return []


# Read backwards from a temperature: the gap, then a run of characters (reversed).
_RUN_BEFORE = re.compile(f"[ :,\t]*([{HAN}·]+)")
_LISTED_BEFORE = re.compile(f"[ 、]+([{HAN}·]+)")


_RUNS_SEEN: dict[str, tuple[list[str], int, int] | None] = {}
_RUNS_SEEN_MAX = 50_000


def _run_names(run: str, reversed_run: str) -> tuple[list[str], int, int] | None:
    """What a run of characters before a temperature holds: None when only words that are no
    names (本人, 体温, 发热, 喉咙有点疼: look further back), else (the names, where the first
    starts and the last ends in the run; no names: []). Remembered: runs recur every day (the
    same names, the same words), and reading one costs several searches."""
    seen = _RUNS_SEEN.get(run)
    if seen is not None or run in _RUNS_SEEN:
        return seen
    candidate = _strip_edges(run, reversed_run)
    if not candidate or _SYMPTOM_RE.fullmatch(candidate):
        out = None
    else:
        names = _split_names(run, candidate)
        out = (names, run.find(names[0]), run.rfind(names[-1]) + len(names[-1])) if names else ([], 0, 0)
    if len(_RUNS_SEEN) >= _RUNS_SEEN_MAX:
        _RUNS_SEEN.clear()
    _RUNS_SEEN[run] = out
    return out


def names_before(text: str, lo: int, hi: int, backwards: str | None = None) -> tuple[list[str], int, int]:
    """The names written right before text[hi] (a temperature), not before text[lo]:
    张三 36.5 → [张三]; 李明 发热37.8 → [李明]; 王芳、刘洋 36.5 → [王芳, 刘洋];
    张三 今日返校 36.5 → [张三]. `backwards`: text[::-1], when the caller has it.
    Returns (names, where the first starts, where the last ends)."""
    if backwards is None:
        backwards = text[::-1]
    n = len(text)
    end = hi
    for _ in range(3):                       # past at most two runs of words that are no names
        m = _RUN_BEFORE.match(backwards, n - end, n - lo)
        if not m:
            return [], hi, hi
        reversed_run = m.group(1)
        run = reversed_run[::-1]
        j = n - m.end(1)                     # the run is text[j:j + len(run)]
        found = _run_names(run, reversed_run)
        if found is None:
            end = j                          # 本人 / 体温 / 喉咙有点疼: look further back
            continue
        names, first, last_end = found
        if not names:
            return [], hi, hi
        names = list(names)
        first += j
        last_end += j
        if first == j and j > lo and text[j - 1] in " 、":   # names before it, sharing the temperature
            k = j
            while True:
                more = _LISTED_BEFORE.match(backwards, n - k, n - lo)
                if not more:
                    break
                listed = more.group(1)[::-1]
                listed_names = _split_names(listed, listed)
                if not listed_names:
                    break
                names[:0] = listed_names
                first = k = n - more.end(1)
        return names, first, last_end
    return [], hi, hi


# --- people without a temperature --------------------------------------------------------------
# A clause that may start with a name (a surname, or a word like 学生 before one).
_NAME_FIRST = "".join(sorted(lexicon.SURNAMES | {w[0] for w in lexicon.NOT_NAMES}
                             | {c[0] for c in lexicon.COMPOUND_SURNAMES}))
_NAMED_CLAUSE = re.compile(
    rf"(?<![^,;。!?\n()])\s*(?:\d{{1,2}}\s*[.、)]\s*|\(\d{{1,2}}\)\s*)?(?:[{_NAME_FIRST}]|[{HAN}]+·)[^,;。!?\n()]*")
_CLAUSE_BREAK = re.compile(r"[,;。!?\n()]")
_CLAUSE_HEAD = re.compile(rf"\s*(?:\d{{1,2}}\s*[.、)]\s*|\(\d{{1,2}}\)\s*)?([{HAN}·]+)")
_STATE_WORDS = lexicon.trie_pattern(lexicon.STATE_WORDS)
_STATE = re.compile(f"(?<![不非未没])(?:{_STATE_WORDS})")
# What may follow a name in a clause: 张三|已返校, 张三|咳嗽, 张三|无发热, 张三|、李四.
_AFTER_NAME = re.compile(lexicon.trie_pattern(
    {*lexicon.NOT_NAMES, *lexicon.WORD_TO_SYMPTOM, *lexicon.STATE_WORDS, *lexicon.NEGATIONS,
     *(p for parts, _ in lexicon.BODY_FEELINGS.values() for p in parts),
     "均", "都", "也", "今", "昨", "已", "有", "和", "及", "与", "、", "请", "因", "病", "事"}))
# A word of the lexicon where a name might stand.
_KNOWN_WORD = re.compile(lexicon.trie_pattern(
    {*lexicon.NOT_NAMES, *lexicon.WORD_TO_SYMPTOM, *lexicon.STATE_WORDS}, lexicon.PART_TAILS))
_NAME_LIST_GAP = re.compile(rf"[\s、和及与]+([{HAN}·]+)")


def _leading_names(clause: str) -> tuple[list[str], int]:
    """Names a clause starts with (学生张三咳嗽 → [张三]; 张三、李四 返校 → [张三, 李四]) and
    where what is said of them begins."""
    m = _CLAUSE_HEAD.match(clause)
    if not m:
        return [], 0
    run = m.group(1)
    first = run[0]
    if first not in _SURNAMES and first not in _NOT_NAME_FIRST and "·" not in run:
        return [], 0
    if _KNOWN_WORD.match(run):
        return [], 0                             # 皮肤黄 / 全身无力 / 返校 / 发烧: no name begins here
    run_start = m.start(1)
    stripped = run
    if first in _NOT_NAME_FIRST:
        lead = _LEADING_NOT_NAMES.match(run)
        if lead:
            stripped = run[lead.end():]
    offset = run_start + len(run) - len(stripped)
    if not stripped or _KNOWN_WORD.match(stripped):
        return [], 0
    name = None
    for size in range(min(len(stripped), 16), 1, -1):
        candidate, said = stripped[:size], stripped[size:]
        if said and not _AFTER_NAME.match(said):
            continue                             # 张三已返|校: the name ends where a word begins
        if _as_name(candidate) is None:
            continue
        core = _strip_edges(candidate)
        if core != candidate and not (len(core) == 1 and 2 <= size <= 3):
            continue                             # 张三已: the 已 belongs to 已返校
        name = candidate
        break
    if name is None:
        return [], 0
    names = [name]
    pos = offset + len(name)
    if pos == run_start + len(run):              # the run is all name: more may follow
        while True:
            more = _NAME_LIST_GAP.match(clause, pos)
            if not more:
                break
            nxt = _as_name(more.group(1))
            if nxt is None:
                break
            names.append(nxt)
            pos = more.end()
    return names, pos


def _clause_people(clause: str) -> list[PersonReading]:
    """张三 返校 / 张三、李四 正常 / 李四 咳嗽 / 李明，发热 (in brackets): people said to be back,
    well or with symptoms, without a temperature."""
    names, pos = _leading_names(clause)
    if not names:
        return []
    said = clause[pos:]
    symptoms = find_symptoms(said)
    if symptoms:
        return [PersonReading(n, None, symptoms, True) for n in names]
    if _STATE.search(said):
        return [PersonReading(n, None, (), False) for n in names]
    return []


def _claimed_clauses(text: str, temps: list[TempFound]) -> list[tuple[int, int, list[PersonReading]]]:
    """Clauses with no temperature that name people (…，李四 返校)."""
    out = []
    for m in _NAMED_CLAUSE.finditer(text):
        s, e = m.span()
        if temps and any(s <= t.start < e for t in temps):
            continue
        people = _clause_people(m.group())
        if people:
            out.append((s, e, people))
    return out


# --- people -----------------------------------------------------------------------------------
def read_people(text: str, threshold: float, *, named_only: bool = False,
                temps: list[TempFound] | None = None) -> list[PersonReading]:
    """Readings in `text`: one per temperature, named by the names right before it, and the
    people of clauses that name someone without a temperature."""
    if temps is None:
        temps, text = read_numbers(text)
    reportable = _REPORTABLE.search(text) is not None
    if not temps and not reportable:
        return []                                # no temperature, nothing said of anyone
    claimed = _claimed_clauses(text, temps) \
        if reportable and (not temps or _CLAUSE_BREAK.search(text)) else ()
    any_symptom = reportable and _SYMPTOM_RE.search(text) is not None
    anchors: list[tuple[list[str], int, int, TempFound]] = []
    prev_end = 0
    backwards = text[::-1]
    for t in temps:
        names, first, last = names_before(text, prev_end, t.start, backwards)
        anchors.append((names, first, last, t))
        prev_end = t.end
    found: list[tuple[int, PersonReading]] = []
    for i, (names, first, last, t) in enumerate(anchors):
        if named_only and not names:
            continue
        seg_start = last if names else (anchors[i - 1][3].end if i else 0)
        seg_end = anchors[i + 1][1] if i + 1 < len(anchors) else len(text)
        for s, e, _ in claimed:
            if s >= t.end:
                seg_end = min(seg_end, s)
            elif e <= t.start:
                seg_start = max(seg_start, e)
        symptoms = find_symptoms(text[seg_start:t.start] + " " + text[t.end:seg_end]) \
            if any_symptom else ()
        abnormal = bool(symptoms) or t.value >= threshold
        for n in (names or (None,)):
            found.append((first, _new(PersonReading, (n, t.value, symptoms, abnormal))))
    if not claimed:
        return [p for _, p in found]
    for s, _e, people in claimed:
        found.extend((s, p) for p in people)
    found.sort(key=lambda f: f[0])
    return [p for _, p in found]


def _merge_sender(readings: list[PersonReading], threshold: float) -> list[PersonReading]:
    """Several unnamed readings are the sender's: keep the highest (a fever is never lost)."""
    mine = [r for r in readings if r.name is None]
    if len(mine) <= 1:
        return readings
    top = max(mine, key=lambda r: r.temperature or 0)
    symptoms = tuple(dict.fromkeys(s for r in mine for s in r.symptoms))
    merged = PersonReading(None, top.temperature, symptoms, is_abnormal(top.temperature, symptoms, threshold))
    return [merged] + [r for r in readings if r.name is not None]


def _dedupe(readings: list[PersonReading]) -> tuple[PersonReading, ...]:
    if len(readings) < 2:
        return tuple(readings)
    by_name: dict[str | None, PersonReading] = {}
    for r in readings:
        by_name[r.name] = r
    return tuple(by_name.values())


# --- class summaries --------------------------------------------------------------------------
_COUNT_KEYS = {
    "应到": "expected", "实到": "present",
    "因病缺勤": "sick", "因病请假": "sick", "因病缺课": "sick", "病假": "sick",
    "事假": "personal", "因事缺勤": "personal", "因事请假": "personal",
    "病事假": "absent", "缺勤": "absent", "缺席": "absent", "未到": "absent", "请假": "absent",
    "缺课": "absent",
    "体温异常": "fever", "发热": "fever", "发烧": "fever", "体温偏高": "fever",
}
# Groups: 1 the word, 2 the count, 3 what a bracket after it says (缺勤1（李明 发热）).
_COUNT = re.compile(
    f"({lexicon.trie_pattern(_COUNT_KEYS)})"
    rf"(?:人数)?\s*:?\s*(\d{{1,4}}|{CN_INT})(?![\d.])\s*(?:人|名|个|位)?"
    r"(?:\s*\(([^()]*)\))?")
# 无发热 → fever 0, 无缺勤 → absent 0 …; 全部正常 → fever 0.
_ZERO_WORDS = {"发热": "fever", "发烧": "fever", "体温异常": "fever", "缺勤": "absent", "缺席": "absent",
               "请假": "absent", "病假": "sick", "因病缺勤": "sick", "事假": "personal"}
_ZERO = re.compile(
    f"无({lexicon.trie_pattern(_ZERO_WORDS)})|没有({lexicon.trie_pattern(_ZERO_WORDS)})"
    "|全部正常|全员正常|均正常|均无异常|无异常|一切正常|体温均正常|体温正常")
_BRACKET = re.compile(r"\(([^()]*[^\d()\s][^()]*)\)")      # not a class number like (1)
_CLASS_NAME = re.compile(r"([^\s,:;]{0,12}?班)")
_SICK_WORDS = re.compile(r"病|医|发热|发烧|不适")
_PERSONAL_WORDS = re.compile(r"事假|有事|私事|家事|因事")


def read_class(text: str, today_date, threshold: float
               ) -> tuple[ClassSummary | None, list[PersonReading], list[ParseError]]:
    """A class summary: counts (应到 实到 缺勤 病假 事假 发热, 无X = 0), the students it names
    in brackets or with a temperature, and whether the counts add up. None when neither 应到
    nor 实到 comes with a number."""
    counts: dict[str, int] = {}
    people: list[PersonReading] = []
    bracket_sick: int | None = None          # 缺勤1（病假）/ 缺勤1（发热）: the kind of that absence
    pieces: list[str] = []
    last = head_end = -1
    for m in _COUNT.finditer(text):
        word, num, inner = m.groups()
        value = number(num)
        if value is None:
            continue
        key = _COUNT_KEYS[word]
        if last < 0:
            head_end = last = m.start()
        pieces.append(text[last:m.start()])
        pieces.append(" , ")
        last = m.end()
        counts.setdefault(key, value)
        if inner:
            named = read_people(inner, threshold, named_only=True)
            people.extend(named)
            if key == "absent" and bracket_sick is None:
                bracket_sick = _absence_kind(inner, value, named, counts)
    if "expected" not in counts and "present" not in counts:
        return None, [], []
    pieces.append(text[last:])
    head = text[:head_end]                  # the class and the check: 四（2）班午检
    body = "".join(pieces)                  # the rest: students may be named there

    if "(" in body:                         # 赵可（发热37.6）elsewhere in the summary
        def bracket(m: re.Match) -> str:
            people.extend(read_people(m.group(1), threshold, named_only=True))
            return " , "
        body = _BRACKET.sub(bracket, body)

    def zero(m: re.Match) -> str:
        word = m.group(1) or m.group(2)
        counts.setdefault(_ZERO_WORDS[word] if word else "fever", 0)
        return " , "
    for part in (head, body):
        if "无" in part or "没有" in part or "正常" in part:
            if part is body:
                body = _ZERO.sub(zero, body)
            else:
                _ZERO.sub(zero, head)
    people.extend(read_people(body, threshold, named_only=True))

    if "检" in head:
        head = _SESSION.sub(" ", head)
    m = _CLASS_NAME.search(head) if "班" in head else None
    name = m.group(1).strip() if m else None

    expected, present = counts.get("expected"), counts.get("present")
    absent, sick, personal, fever = (counts.get("absent"), counts.get("sick"),
                                     counts.get("personal"), counts.get("fever"))
    if bracket_sick is not None and sick is None:
        sick = bracket_sick
        if personal is None and absent is not None and bracket_sick == absent:
            personal = 0
    errors: list[ParseError] = []
    derived_absent = expected - present if expected is not None and present is not None else None
    if derived_absent is not None and derived_absent < 0:
        errors.append(_class_error(f"实到{present}人比应到{expected}人还多"))
    elif absent is not None and derived_absent is not None and absent != derived_absent:
        errors.append(_class_error(f"应到{expected} − 实到{present} = {derived_absent}，"
                                   f"但缺勤写的是{absent}"))
    if absent is None:
        absent = derived_absent
    leave = (sick or 0) + (personal or 0)
    if not errors and absent is not None and leave > absent:
        errors.append(_class_error(f"病假、事假共{leave}人，多于缺勤的{absent}人"))
    if absent is None and (sick is not None or personal is not None):
        absent = leave
    if sick is None and absent is not None:
        if absent == 0 or (personal is not None and personal == absent):
            sick = 0
    if not errors and present is not None and expected is not None and fever is not None \
            and fever > present + (sick or 0):
        errors.append(_class_error(f"发热{fever}人，多于到校和病假的人数"))
    summary = ClassSummary(name, expected, present, absent, sick, fever)
    return summary, people, errors


def _absence_kind(inner: str, count: int, named: list[PersonReading], counts: dict[str, int]) -> int | None:
    """How many of the absences a bracket says are for illness: 缺勤1（病假）→ 1,
    缺勤1（事假）→ 0, 缺勤2（病假1 事假1）→ 1, 缺勤1（李明 发热37.8）→ 1; None: not said."""
    inner_counts: dict[str, int] = {}
    for m in _COUNT.finditer(inner):
        value = number(m.group(2))
        if value is not None:
            inner_counts.setdefault(_COUNT_KEYS[m.group(1)], value)
    if "sick" in inner_counts or "personal" in inner_counts:
        for key in ("sick", "personal"):
            if key in inner_counts:
                counts.setdefault(key, inner_counts[key])
        if "sick" in inner_counts:
            return inner_counts["sick"]
        return 0 if inner_counts["personal"] == count else None
    if named:
        if len(named) == count and all(p.abnormal for p in named):
            return count
        return None
    if _PERSONAL_WORDS.search(inner):
        return 0
    if _SICK_WORDS.search(inner) or find_symptoms(inner):
        return count
    return None


def _class_error(detail: str) -> ParseError:
    return ParseError("class_numbers_inconsistent",
                      f"班级人数对不上：{detail}。应到 = 实到 + 缺勤，病假、事假算在缺勤里。"
                      "请核对后重发，例如：三年级2班 应到45 实到44 病假1 发热0")


# --- the whole message ------------------------------------------------------------------------
# The common reports, read at once: the sender's temperature first, then only symptoms,
# negations and words of well-being: 36.5 / 体温：36.6度 / 收到，36.5 / 37.6 发热 咳嗽 /
# 36.5 无发热、咳嗽 / 36.7 咳嗽：无. The full grammar reads these the same way (a test checks it);
# anything else (a name, a date, a second number, 晨检) takes the full path.
_QUICK_BEFORE = ("收到", "好的", "今日", "今天", "本人", "我", "我的", "体温", "今早", "早上", "报告",
                 "今日体温", "今天体温", "本人体温", "我的体温")
_QUICK_WORDS = {*lexicon.WORD_TO_SYMPTOM, *lexicon.NEGATIONS, *lexicon.FILLER_WORDS, *lexicon.WELL_WORDS,
                "否", "未见", "未出现", "未发现", "不明显", "痊愈", "康复", "消失", "好了", "已好", "皆", "亦", "情况", "表现", "不适", "身体", "良好", "无异常"}
# Only characters that normal form leaves as they are: raw text may be read at once too.
_QUICK = re.compile(
    f"(?:[\\s,.!~。]*(?:{lexicon.trie_pattern(_QUICK_BEFORE)}))*[\\s,:]*"
    r"(3[4-9]|4[0-2])\.(\d)(?:\s*(?:°C|度))?"
    f"((?:{lexicon.trie_pattern(_QUICK_WORDS, lexicon.PART_TAILS)}|[\\s,.;:!、()~。])*)")
_HAS_DIGIT = re.compile(r"\d")
# Without a temperature or 应到/实到, only these make a report (a symptom, 正常, 返校).
_REPORTABLE = re.compile(lexicon.trie_pattern({*lexicon.WORD_TO_SYMPTOM, *lexicon.STATE_WORDS},
                                              lexicon.PART_TAILS))
_WELL_CORE = re.compile(r"[\s,.;!。!~、:]+|补报|晨午检|晨检|午检|早检|本人|今日|今天|我|体温|身体")
_WELL_WORDS = frozenset(lexicon.WELL_WORDS)


def parse(text: str, today: dt.date, fever_threshold: float = 37.3) -> ParseResult:
    if not isinstance(text, str):
        return UNRECOGNIZED
    quick = _QUICK.fullmatch(text)
    if quick is None:
        norm = normalize(text)
        if not norm:
            return UNRECOGNIZED
        if norm != text:
            quick = _QUICK.fullmatch(norm)
    if quick is not None:
        whole, tenth, said = quick.groups()
        value = (int(whole) * 10 + int(tenth)) / 10
        if value <= MAX_TEMP:
            symptoms = find_symptoms(said) if said and _SYMPTOM_RE.search(said) else ()
            return _new(ParseResult, ("report", None, today, None, (_new(PersonReading, (
                None, value, symptoms, bool(symptoms) or value >= fever_threshold)),), None, ()))
        norm = normalize(text)
    return _parse_full(norm, today, fever_threshold)


def _parse_full(norm: str, today: dt.date, fever_threshold: float) -> ParseResult:
    """The whole grammar, on normalized text."""
    has_digit = _HAS_DIGIT.search(norm)
    if not has_digit:
        if len(norm) <= 24:
            command = read_command(norm)
            if command:
                return _COMMAND_RESULTS[command]
        if "应到" not in norm and "实到" not in norm and not _REPORTABLE.search(norm):
            return UNRECOGNIZED                  # 收到 / 好的，谢谢 / [图片]

    found_date, rest = find_date(norm, today)
    session = find_session(rest)
    temps, rest = read_numbers(rest) if has_digit else ([], rest)
    if not temps and "应到" not in rest and "实到" not in rest and not _REPORTABLE.search(rest):
        return UNRECOGNIZED                      # 明天8点开会 / 联系电话13800138000

    summary = None
    errors: list[ParseError] = []
    if "应到" in rest or "实到" in rest:
        summary, people, errors = read_class(rest, today, fever_threshold)
    if summary is not None:
        people = _dedupe(people)
    else:
        people = read_people(rest, fever_threshold, temps=temps)
        if not temps and not people:
            people = _sender_without_temperature(rest)
        people = _dedupe(_merge_sender(people, fever_threshold))
        if not people and all(t.in_range for t in temps):
            return UNRECOGNIZED

    for t in temps:
        if not t.in_range:
            shown = t.raw if "℉" in t.raw else t.raw + "℃"
            errors.append(ParseError("temperature_out_of_range",
                                     f"体温{shown}不在{MIN_TEMP}–{MAX_TEMP}℃之间，可能写错了。"
                                     "请核对后重新发送，例如：36.5"))
    day = today
    if found_date is not None:
        if found_date.day is None:
            errors.insert(0, ParseError("date_invalid", f"日期“{found_date.text}”不存在，请核对后重发，"
                                                        "例如：补报 2月3日 36.5"))
            day = None
        else:
            day = found_date.day
            if day > today:
                errors.insert(0, ParseError(
                    "date_in_future", f"{day.month}月{day.day}日还没到，不能提前报告。"
                                      "补报以前的日子请写明日期，例如：补报 2月3日 36.5"))
    if errors:
        return _new(ParseResult, ("invalid", None, day, session, (), None, tuple(errors)))
    return _new(ParseResult, ("report", None, day, session, people, summary, ()))


def _sender_without_temperature(text: str) -> list[PersonReading]:
    """正常 / 无异常 alone, or a short symptom report (有点咳嗽) of the sender."""
    core = _WELL_CORE.sub("", text)
    if core in _WELL_WORDS:
        return [PersonReading(None, None, (), False)]
    if not core:
        return []
    symptoms = find_symptoms(text)
    if symptoms and len(core) <= 12 and not any(w in text for w in lexicon.NOTICE_WORDS):
        return [PersonReading(None, None, symptoms, True)]
    return []
