"""The message grammar: what a teacher wrote, read into a parse result (CONTRACT.md).

`parse(text, today, fever_threshold, names=None)` is a pure function. `names`: the roster
names the sender may mention (their class and school), so that a roster name is a name wherever
it stands (Tom, 胡 杰, Lily张, a one-character name). It reads, in order:
1. normal form: full-width digits and punctuation, `。`/`．` as a decimal point, spoken
   numbers (三十六度五), emoji and decoration dropped, a leading @-mention dropped;
2. the district's other jobs by their words (请假, 居家观察, 物资, 清单 …): kind `other`;
3. a command by what it asks (帮助, 体温怎么报, 查一下我今天报了没, 刚才报错了，撤回,
   今天报了多少人, 哪些老师还没报体温 …) when that is the whole message;
4. a numbered list or a pasted 接龙: each numbered line one person, header lines the day and
   the check, lines that cannot be read kept (`unread`) for the reply;
5. the day (2月3日, 二月三日, 2020-02-03, 昨天, 补报 …) and the check (晨检 / 午检);
6. the numbers: temperatures (36.5, 体温36, 37度5, 36,5, 97.9F) and numbers that are none
   (36.5元, 1.5米, 气温36度, web addresses); times, rooms, phone numbers, counts and list
   numbers have no decimal point and no 度/℃ and are never temperatures;
7. a class summary when the message states 应到 / 实到 (全班N人 … 到校N人) counts, with the
   students it names;
8. otherwise the temperatures, the names written right before them (any 2–6 characters that are
   no word of the lexicon, not only common surnames), symptoms with negation, and clauses that
   name students without a temperature (张三 返校, 李四 咳嗽).
What is none of these is chatter (`unrecognized`): the bot stays silent.

The common forms (36.5, 体温36.6 正常, 正常, 晨检 36.4 正常, 聂海 36.5, a 接龙's `3. 聂海 36.5`
lines, 体温异常1人：赵可 37.4) are read at once, the way the whole grammar reads them
(tests/test_parser_at_once.py): most messages are one of them, and a 40-line 接龙 is 40 of them.

The results are immutable named tuples: cheap to make, safe to share.
"""
from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import re
import unicodedata
from typing import NamedTuple

from handlers import lexicon
from handlers.cn_numbers import CN_INT, cn_to_int, number, spoken_temperatures_to_digits
from handlers.health import is_abnormal
from handlers.names import clean_name

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
    # Not in the contract's JSON: the students named as absent for illness (病假1：张三,
    # 缺勤1（李明 发热37.8）), who go on the follow-up list; a child named under 发热 was present.
    absentees: tuple[str, ...] = ()


class ParseError(NamedTuple):
    code: str
    message: str


class ParseResult(NamedTuple):
    kind: str                                  # report | command | unrecognized | invalid | other
    command: str | None = None
    date: dt.date | None = None
    session: str | None = None
    people: tuple[PersonReading, ...] = ()
    class_summary: ClassSummary | None = None
    errors: tuple[ParseError, ...] = ()
    topic: str | None = None                   # for `other`: leave | whereabouts | supplies | checklist
    # Not in the contract's JSON: what the reply needs of a numbered list or 接龙.
    unread: tuple[str, ...] = ()               # lines that could not be read: "7. 王小明 没测"
    listed: bool = False                       # a numbered list: each line one person

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
            **({"topic": self.topic} if self.kind == "other" else {}),
        }


_new = tuple.__new__                          # makes a named tuple without the keyword handling
UNRECOGNIZED = ParseResult("unrecognized")
_COMMAND_RESULTS = {c: ParseResult("command", command=c) for c in set(lexicon.COMMANDS.values())}
_TOPIC_RESULTS = {t: ParseResult("other", topic=t) for t in ("leave", "whereabouts", "supplies", "checklist")}


def _report(day, session, people, summary=None, unread=(), listed=False) -> ParseResult:
    return _new(ParseResult, ("report", None, day, session, people, summary, (), None, unread, listed))

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
_POINT_HINT = re.compile(r"[。·]\s*\d")       # starts with its mark: found without a try at every place
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
# A leading @-mention of the bot (the 智能机器人 strips it; a private chat may still carry one).
_MENTION = re.compile(r"^(?:\s*@[^\s\d,:;。.!?、]*)+")


_CIRCLED = re.compile("[\u2460-\u2473]")          # ① … ⑳: list numbers (NFKC would make them bare digits)


# 36,5: a comma typed for the point (never 36.0); not 36,37 or 1,2.
_COMMA_POINT = re.compile(r"(?<![\d.,])(3\d|4[0-2]),(\d)(?![\d,])(?![ \t]?[人名个位班])")
_COMMA_HINT = re.compile(r",(?<=\d,)\d")       # what it needs, a digit each side: searched comma to comma


def normalize(text: str) -> str:
    text = text[:MAX_TEXT]
    if "," in text and _COMMA_HINT.search(text) and _COMMA_POINT.search(text):
        text = _COMMA_POINT.sub(r"\1.\2", text)
    if text.isascii() and text.isprintable():
        if "@" in text:
            text = _MENTION.sub(" ", text)
        return " ".join(text.split())
    if "\n" in text and text.isascii():
        text = text.replace("\r", "")
        if "@" in text:
            text = _MENTION.sub(" ", text)
        return "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()
    if not unicodedata.is_normalized("NFKC", text):   # ① … ⑳ are not: NFKC would make them bare digits
        if _CIRCLED.search(text):
            text = _CIRCLED.sub(lambda m: f"{ord(m.group()) - 0x245f}. ", text)
        text = unicodedata.normalize("NFKC", text)
    if _ODD.search(text):
        text = _ODD.sub(_odd_char, text)
    if ("。" in text or "·" in text) and _POINT_HINT.search(text):
        text = _POINT.sub(r"\1.", text)
    if "十" in text:
        text = spoken_temperatures_to_digits(text)
    if "," in text and _COMMA_HINT.search(text) and _COMMA_POINT.search(text):      # ３６，５ after NFKC
        text = _COMMA_POINT.sub(r"\1.\2", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "  " in text or "\t" in text or "\xa0" in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


# --- commands --------------------------------------------------------------------------------
_COMMAND_STRIP = re.compile(r"[\s,.!~。,!、:;?？'\"“”‘’()\[\]【】/\\@#…-]+")
_COMMAND_HEAD = re.compile(f"^(?:{lexicon.trie_pattern(lexicon.COMMAND_HEADS)})+")
_COMMAND_TAIL = re.compile("(?:" + "|".join(sorted(lexicon.COMMAND_TAILS, key=len, reverse=True)) + ")+$")


# What a message asks, in a teacher's own words, tried in this order (the first that fits wins):
# 刚才报错了，撤回 / 删除上一条记录 → undo; 哪些老师还没报体温 → unreported; 今天报了多少人 /
# 看看今天的情况 → stats; 查一下我今天报了没 → query; 体温怎么报 → help.
_ASKS = tuple((command, re.compile(pattern)) for command, pattern in (
    ("undo", r"撤销|撤回|(?:删除|删掉|删了|取消|作废)(?:我的|刚才的?|刚刚的?)?(?:上一?条|上次|刚才|刚刚|"
             r"记录|报告|体温|那条|这条|最后一条)|^(?:删除|作废)$"),
    ("unreported", r"(?:谁|哪些|哪几|哪个|哪位|还有|有没有人|有人)[^报]{0,6}(?:没|未)有?(?:报|交|上报|填|打卡)"
                   r"|(?:没|未)有?(?:报|上报|交)的?(?:名单|人员|人|老师|学生|班级|学校|有谁|是谁)|^未报|缺报"),
    ("stats", r"统计|汇总|多少人|几个人|几人|上报率|报告率|(?:今天|今日|本班|全班|全校|全区|班级|上报|报告|"
              r"体温|晨检|午检|学校|大家)的?(?:情况|数据)|^(?:看看|查看|看一下)?情况"),
    ("query", r"^查|我[^报]{0,6}报了(?:没|吗|么|没有)|报没报|有没有报|我的(?:记录|体温|报告)"),
    ("help", r"(?:怎么|如何|怎样|咋)(?:报|填|写|发|上报|用|操作|弄|回复)|格式|帮助|使用说明|菜单|用法|^help$"),
))
_ASK_CHARS = frozenset("撤删取作谁哪还有没未缺统汇多几率情数查我报怎如咋格帮菜用h")
# Any of them at all, in one search: most messages ask nothing, and are told so at once.
_ANY_ASK = re.compile("|".join(f"(?:{asks.pattern})" for _, asks in _ASKS))
# A notice to others is no command even when it says 统计 or 怎么报.
_NOT_ASKING = re.compile(r"各位|大家|通知|务必|要求|注意|同学们|家长们|明天|下午\d|\d点")


def read_command(norm: str) -> str | None:
    """The command a whole message asks for (帮助, 查一下我今天报了没, 哪些老师还没报体温),
    else None."""
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
    found = lexicon.COMMANDS.get(key)
    if found or not key or len(key) > 20 or _ASK_CHARS.isdisjoint(key) or _NOT_ASKING.search(norm) \
            or not _ANY_ASK.search(key):
        return found
    for command, asks in _ASKS:
        if asks.search(key):
            return command
    return None


# --- the district's other jobs -------------------------------------------------------------------
# Supplies and the checklist by the word a message starts with (物资 口罩2000个, 清单 1 3 已完成,
# 完成 2, 已完成：重点场室消毒); leave and whereabouts by their words, in a message that reports
# no temperature (请假至12月5日, 李明 在湖北未返, 2月1日从武汉返回, 居家观察14天, 解除观察).
_TOPIC_START = re.compile(r"(物资|库存|盘点|清单)|(?:已完成|未完成|完成)(?:\s*[:：]\s*\S|\s*\d|\s+[^\s\d])")
# Every alternative starts with a plain character, so that a search skips to where one stands.
_TOPIC_WORDS = re.compile(
    r"请(?:假(?!\s*(?:\d{1,4}|[一二两三四五六七八九十]{1,3})\s*[人名位个])|[病事]假)|销假"
    r"|居家观察|居家隔离|集中隔离|解除(?:观察|隔离)|观察期|未返|未归|返回|返乡|"
    r"从[^\s,，。]{1,10}?(?:回来|回到|回)")
_STOCK_WORD = re.compile(r"库存|盘点")
_LEAVE_FIRST = frozenset("请销")                 # the words of leave; the others are of whereabouts


def read_topic(norm: str) -> str | None:
    """The other job a message is about (leave, whereabouts, supplies, checklist), or None.
    A class summary (请假1人 …) and a message with a temperature are health reports."""
    m = _TOPIC_START.match(norm)
    if m:
        return "supplies" if m.group(1) and m.group(1) != "清单" else "checklist"
    if norm == "摸排" or norm in ("摸排名单", "摸排情况"):
        return "whereabouts"
    if _STOCK_WORD.search(norm) and _HAS_DIGIT.search(norm) and "应到" not in norm:
        return "supplies"                        # 口罩 库存 200个: the item first
    m = _TOPIC_WORDS.search(norm)
    if m is None or "应到" in norm or "实到" in norm:
        return None
    if _HAS_DIGIT.search(norm) and read_numbers(find_date(norm, _ANY_DAY)[1])[0]:
        return None                              # a temperature: a health report
    return "leave" if m.group()[0] in _LEAVE_FIRST else "whereabouts"


_ANY_DAY = dt.date(2000, 6, 30)
_TOPIC_CHARS = frozenset("物库盘清完请销居集解观未返从摸")
_TOPIC_WORD_CHARS = frozenset("请销居集解观未返从")        # the first characters of _TOPIC_WORDS


def looks_like_report(text: str) -> bool:
    """Chatter that may be a failed report (a number or a health word): a private chat answers
    it with a hint; other chatter (收到, 好的谢谢) gets no answer."""
    norm = normalize(text) if isinstance(text, str) else ""
    return bool(norm) and (_HAS_DIGIT.search(norm) is not None or _HEALTH_WORD.search(norm) is not None)


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


# Without 月 / 日 / 天, only a date with its year first can be one (2020-02-03, 2020年2.3):
# the first of _DATE's forms needs this (not 三年级, not 36.5).
_YEAR_FIRST = re.compile(r"\d{4}\s*[-/.年]")


class DateFound(NamedTuple):
    day: dt.date | None            # None: impossible (2月30日)
    text: str


@functools.lru_cache(maxsize=64)                 # called with today: one per day in practice
def _months_after(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def find_date(norm: str, today: dt.date) -> tuple[DateFound | None, str]:
    """The first date the text names, and the text with it blanked out."""
    if not ("月" in norm or "天" in norm or "日" in norm or _YEAR_FIRST.search(norm)):
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
# 37度5 / 36 度 5: the tenth after 度 (not a count: 36度 5人).
_TENTH = "[ \\t]?度[ \\t]?(\\d)(?![\\d.])(?![ \\t]?[人名个位班号次天日月年岁])"
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
    f"|((?:{lexicon.trie_pattern(_TEMP_LEADS)})[ \\t]*(?:是|为|:)?[ \\t]*)(\\d+(?:\\.\\d+)?)(?!\\.?\\d)"
    f"(?:{_TENTH}|[ \\t]*({_TEMP_UNIT}))?"
    f"|(?<![\\d.])(\\d+\\.\\d+)(?!\\.?\\d)(?:[ \\t]*({_TEMP_UNIT}|{_OTHER_UNIT}))?"
    f"|(?<![\\d.])(\\d+)(?:{_TENTH}|[ \\t]*({_TEMP_UNIT})))")


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
        if lead and not unit and value < 30 and "." not in raw and text.startswith((".", "、", ")"), m.end()):
            continue                                       # 晨检体温 1. 聂海 …: a list number
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


# What may stand right before a negated symptom (a joiner, a filler, a negation's last
# character) and right after one (a space, or the first character of POSTFIX_NEGATION_RE:
# （无）, 等症状均无, 不明显, 已好, 痊愈了): elsewhere no look is needed.
_BEFORE_NEGATED = _JOINERS | _FILLERS | frozenset(w[-1] for w in _NEGATIONS)
_POSTFIX_FIRST = frozenset("(等症不情表:均都皆全也亦无没否未已痊康消好")   # after any spaces
_AFTER_NEGATED = _JOINERS | _POSTFIX_FIRST


def find_symptoms(text: str) -> tuple[str, ...]:
    """Symptom codes stated in `text` and not negated, in order of appearance."""
    matches = [(m.start(), m.end(), m.group()) for m in _SYMPTOM_RE.finditer(text)]
    if not matches:
        return ()
    if len(matches) == 1:
        s, e, _ = matches[0]
        ends, starts = {e: s}, {s: e}
    else:
        ends = {e: s for s, e, _ in matches}
        starts = {s: e for s, e, _ in matches}
    stated: list[str] = []
    n = len(text)
    for s, e, word in matches:
        code = _SYMPTOM_CODE.get(word)
        if code is None or code in stated:
            continue
        if s and (text[s - 1] in _BEFORE_NEGATED or s in ends) and _negated_before(text, s, ends):
            continue
        if e < n and (text[e] in _AFTER_NEGATED or e in starts or text[e].isspace()) \
                and _negated_after(text, e, starts):
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
    k = i
    while k < n and text[k].isspace():
        k += 1
    return k < n and text[k] in _POSTFIX_FIRST and _POSTFIX.match(text, i) is not None


# --- names ------------------------------------------------------------------------------------
_DOTTED_NAME = re.compile(f"[{HAN}]+(?:·[{HAN}]+)+")
_LEADING_NOT_NAMES = re.compile(f"(?:{lexicon.trie_pattern(lexicon.NOT_NAMES)})+")
# Trailing words are stripped by reading the run backwards.
_TRAILING_NOT_NAMES_REVERSED = re.compile(
    f"(?:{lexicon.trie_pattern({w[::-1] for w in (*lexicon.NOT_NAMES, *lexicon.WORD_TO_SYMPTOM)})})+")
_NOT_NAME_FIRST = frozenset(w[0] for w in lexicon.NOT_NAMES)
_SURNAMES = lexicon.SURNAMES
_COMPOUND_SURNAMES = frozenset(lexicon.COMPOUND_SURNAMES)
_NOT_NAME_CHARS = lexicon.NOT_NAME_CHARS | frozenset("嗯哈哎唉噢喔")
_NOT_NAME_HEAD = _NOT_NAME_CHARS - _SURNAMES


class Vocabulary(NamedTuple):
    """The roster names a sender may mention, ready for lookups in a run of text."""
    names: frozenset[str]
    lengths: tuple[int, ...]          # lengths of the Han names of two or more characters, longest first
    latin: bool                       # some name has a Latin letter (Tom, Lily张)


_VOCABS: dict[frozenset, Vocabulary] = {}
_HAS_LATIN = re.compile("[A-Za-z]")


def vocabulary(names) -> Vocabulary | None:
    """`names` (any collection of roster names) as a Vocabulary; remembered for the same set."""
    if not names:
        return None
    if isinstance(names, Vocabulary):
        return names
    key = names if isinstance(names, frozenset) else frozenset(names)
    found = _VOCABS.get(key)
    if found is None:
        cleaned = frozenset(n for n in (clean_name(x) for x in key if isinstance(x, str)) if n)
        lengths = tuple(sorted({len(n) for n in cleaned if len(n) > 1 and not _HAS_LATIN.search(n)},
                               reverse=True))
        found = Vocabulary(cleaned, lengths, any(_HAS_LATIN.search(n) for n in cleaned))
        if len(_VOCABS) >= 64:
            _VOCABS.clear()
        _VOCABS[key] = found
    return found


def _strip_edges(run: str, reversed_run: str | None = None) -> str:
    """Drops words that are not names from both ends: 今日体温 → "", 学生郑一鸣 → 郑一鸣,
    孟华妈妈 → 孟华."""
    m = _TRAILING_NOT_NAMES_REVERSED.match(reversed_run or run[::-1])
    if m:
        run = run[:len(run) - m.end()]
    if run and run[0] in _NOT_NAME_FIRST:
        m = _LEADING_NOT_NAMES.match(run)
        if m:
            run = run[m.end():]
    return run


def _only_words_before(text: str) -> bool:
    return not text or _LEADING_NOT_NAMES.fullmatch(text) is not None


def _only_words_after(text: str) -> bool:
    return not text or _TRAILING_NOT_NAMES_REVERSED.fullmatch(text[::-1]) is not None


def _as_name(candidate: str) -> str | None:
    """`candidate` (characters of a Han run) when it reads as a person's name: 2–6 characters
    that hold no word of the lexicon and no character no name has (whatever the surname:
    聂海, 扎西多吉, 小龙女), or a transliterated name with a middle dot (买买提·艾力)."""
    if "·" in candidate:
        candidate = candidate.strip("·")
        if _DOTTED_NAME.fullmatch(candidate) and len(candidate) <= 20:
            return candidate
        return None
    n = len(candidate)
    if n < 2 or n > 6:
        return None
    if n == 2 and candidate in _COMPOUND_SURNAMES:
        return None
    if candidate[0] in _NOT_NAME_HEAD or not _NOT_NAME_CHARS.isdisjoint(candidate[1:]):
        return None
    if "无" in candidate or "不" in candidate or "没有" in candidate \
            or lexicon.SYMPTOM_WORD_RE.search(candidate):
        return None
    return candidate


def _split_names(run: str, candidate: str) -> list[str]:
    """One name, or names joined by 和/及/与 (王芳和刘洋), from a stripped run."""
    if len(candidate) == 1 and 2 <= len(run) <= 3 and run[0] in _SURNAMES:
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


def _roster_in_run(run: str, vocab: Vocabulary) -> tuple[list[str], int, int] | None:
    """A roster name that the run is, or holds with only words that are no names around it
    (今天聂海, 孟华妈妈, 学生周一鸣), nearest the end; None when it holds none."""
    names = vocab.names
    if run in names:
        return [run], 0, len(run)
    n = len(run)
    for size in (*vocab.lengths, 1):
        if size >= n:
            continue
        for i in range(n - size, -1, -1):
            if run[i:i + size] in names and _only_words_before(run[:i]) \
                    and _only_words_after(run[i + size:]):
                return [run[i:i + size]], i, i + size
    return None


# Read backwards from a temperature: the gap, then a run of characters (reversed).
_RUN_BEFORE = re.compile(f"[ :,\t(]*([{HAN}·]+)")
_LISTED_BEFORE = re.compile(f"[ 、]+([{HAN}·]+)")
# A Latin name (Tom, Anna Li) and any Han right after it (Lily张, Tom妈妈), ending at a reading.
_LATIN_BEFORE = re.compile(f"(?<![A-Za-z])([A-Za-z][A-Za-z'\\-]*(?: [A-Za-z][A-Za-z'\\-]*)?)([{HAN}]{{0,4}})[ :,\t]*$")
_LATIN_HEAD = re.compile(f"\\s*([A-Za-z][A-Za-z'\\-]*(?: [A-Za-z][A-Za-z'\\-]*)?)([{HAN}]{{0,4}})(?![A-Za-z])")


def _latin_name(latin: str, han: str, vocab: Vocabulary | None) -> str | None:
    """Tom / Lily张 / Tom妈妈 as a name: the roster's spelling when it has one."""
    if han:
        m = _TRAILING_NOT_NAMES_REVERSED.match(han[::-1])
        if m:
            han = han[:len(han) - m.end()]   # Tom妈妈 → Tom, Lily张妈妈 → Lily张
    if vocab is not None and vocab.latin:
        for candidate in (latin + han, latin):
            if candidate in vocab.names:
                return candidate
        folded = {n.casefold(): n for n in vocab.names if _HAS_LATIN.search(n)}
        for candidate in (latin + han, latin):
            if candidate.casefold() in folded:
                return folded[candidate.casefold()]
    if len(latin) < 2 or latin.casefold() in lexicon.LATIN_NOT_NAMES:
        return None
    return latin + han                       # Lily张: a name the roster may not know


_RUNS_SEEN: dict[str, tuple[list[str], int, int] | None] = {}
_RUNS_SEEN_MAX = 50_000


def _run_names(run: str, reversed_run: str, vocab: Vocabulary | None = None
               ) -> tuple[list[str], int, int] | None:
    """What a run of characters before a temperature holds: None when only words that are no
    names (本人, 体温, 发热, 喉咙有点疼: look further back), else (the names, where the first
    starts and the last ends in the run; no names: []). A roster name counts first. Remembered
    without a roster: runs recur every day (the same names, the same words), and reading one
    costs several searches."""
    if vocab is not None:
        found = _roster_in_run(run, vocab)
        if found is not None:
            return found
    seen = _RUNS_SEEN.get(run)
    if seen is not None or run in _RUNS_SEEN:
        return seen
    candidate = _strip_edges(run, reversed_run)
    if "·" in run and candidate and len(run) - len(candidate) - run.find(candidate) == 1:
        candidate = run[run.find(candidate):]    # 努尔·阿不都: 都 is part of the name here
    if not candidate or _SYMPTOM_RE.fullmatch(candidate):
        out = None
    else:
        names = _split_names(run, candidate)
        if not names and len(candidate) == 1 and run.startswith(candidate) \
                and run[1:].lstrip("的") in lexicon.RELATIONS:
            names = [candidate]              # 丘妈妈: a one-character name, a parent writing
        out = (names, run.find(names[0]), run.rfind(names[-1]) + len(names[-1])) if names else ([], 0, 0)
    if len(_RUNS_SEEN) >= _RUNS_SEEN_MAX:
        _RUNS_SEEN.clear()
    _RUNS_SEEN[run] = out
    return out


def names_before(text: str, lo: int, hi: int, backwards: str | None = None,
                 vocab: Vocabulary | None = None) -> tuple[list[str], int, int]:
    """The names written right before text[hi] (a temperature), not before text[lo]:
    张三 36.5 → [张三]; 李明 发热37.8 → [李明]; 王芳、刘洋 36.5 → [王芳, 刘洋];
    张三 今日返校 36.5 → [张三]; Tom 38.6 → [Tom]. `backwards`: text[::-1], when the caller has it.
    Returns (names, where the first starts, where the last ends)."""
    if backwards is None:
        backwards = text[::-1]
    if _HAS_LATIN.search(text, lo, hi):
        m = _LATIN_BEFORE.search(text, lo, hi)
        if m:
            name = _latin_name(m.group(1), m.group(2), vocab)
            if name:
                return [name], m.start(), m.end(2)
    n = len(text)
    end = hi
    for _ in range(3):                       # past at most two runs of words that are no names
        m = _RUN_BEFORE.match(backwards, n - end, n - lo)
        if not m:
            return [], hi, hi
        reversed_run = m.group(1)
        run = reversed_run[::-1]
        j = n - m.end(1)                     # the run is text[j:j + len(run)]
        if len(run) == 1 and j >= lo + 2 and text[j - 1] == " " and _is_han(text[j - 2]):
            while j >= lo + 2 and text[j - 1] == " " and _is_han(text[j - 2]) \
                    and (j - 2 == lo or not _is_han(text[j - 3])):
                run = text[j - 2] + run      # 胡 杰 / 张 三 丰: one padded name
                j -= 2
            reversed_run = run[::-1]
            found = _run_names(run, reversed_run, vocab)
            if found is not None and found[0]:
                return found[0], j, j + len(text[j:end].rstrip(" :,\t("))
        found = _run_names(run, reversed_run, vocab)
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
                listed_names = (_roster_in_run(listed, vocab) or ([],))[0] if vocab else []
                listed_names = listed_names or _split_names(listed, listed)
                if not listed_names:
                    break
                names[:0] = listed_names
                first = k = n - more.end(1)
        return names, first, last_end
    return [], hi, hi


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or ch >= "\U00020000"


# 胡 杰 / 张 三 丰: single characters padded apart are one name (a roster's alignment).
_PADDED = re.compile(f"(?<![{HAN}·A-Za-z])[{HAN}](?: +[{HAN}])+(?![{HAN}·A-Za-z])")
_SPACED_PIECES = re.compile(f"[{HAN}]{{1,4}}(?: +[{HAN}]{{1,4}})+")
_SPACED_DOT = re.compile(f"(?<=[{HAN}]) *· *(?=[{HAN}])")


def join_padding(text: str, vocab: Vocabulary | None = None) -> str:
    """Removes the padding inside names: 胡 杰 → 胡杰, 阿依古丽 · 买买提 → 阿依古丽·买买提, and
    with a roster any of its names written apart (欧阳 娜娜 → 欧阳娜娜). Neither kind of padding
    crosses a line, so only the lines with a gap between two Han characters are read."""
    if "·" in text and (" ·" in text or "· " in text):
        text = _SPACED_DOT.sub("·", text)
    gap = _HAN_GAP.search(text)
    if gap is None:
        return text
    if "\n" not in text:
        return _join_line(text, vocab)
    out: list[str] = []
    last = 0
    while gap is not None:
        start = text.rfind("\n", 0, gap.start()) + 1
        end = text.find("\n", gap.end())
        if end < 0:
            end = len(text)
        out.append(text[last:start])
        out.append(_join_line(text[start:end], vocab))
        last = end
        gap = _HAN_GAP.search(text, end)
    out.append(text[last:])
    return "".join(out)


# Where padding may stand, spaces between two Han characters (a line without them has none);
# it starts with the space so that a search skips from space to space.
_HAN_GAP = re.compile(f" (?<=[{HAN}] ) *(?=[{HAN}])")


def _join_line(line: str, vocab: Vocabulary | None) -> str:
    line = _PADDED.sub(lambda m: m.group().replace(" ", ""), line)
    if vocab is not None and " " in line:
        def join(m: re.Match) -> str:
            pieces = m.group().split()
            out, i = [], 0
            while i < len(pieces):
                for j in range(len(pieces), i + 1, -1):
                    joined = "".join(pieces[i:j])
                    if joined in vocab.names or _strip_edges(joined) in vocab.names:
                        out.append("".join(pieces[i:j]))
                        i = j
                        break
                else:
                    out.append(pieces[i])
                    i += 1
            return " ".join(out)
        line = _SPACED_PIECES.sub(join, line)
    return line


# --- people without a temperature --------------------------------------------------------------
# A clause that may start with a name (any characters: a name needs no common surname).
_NAMED_CLAUSE = re.compile(
    rf"(?<![^,;。!?\n()])\s*(?:\d{{1,2}}\s*[.、)]\s*|\(\d{{1,2}}\)\s*)?[{HAN}][^,;。!?\n()]*")
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


def _leading_names(clause: str, vocab: Vocabulary | None = None) -> tuple[list[str], int]:
    """Names a clause starts with (学生张三咳嗽 → [张三]; 张三、李四 返校 → [张三, 李四]) and
    where what is said of them begins."""
    m = _CLAUSE_HEAD.match(clause)
    if not m:
        return [], 0
    run = m.group(1)
    first = run[0]
    run_start = m.start(1)
    stripped = run
    if first in _NOT_NAME_FIRST:
        lead = _LEADING_NOT_NAMES.match(run)
        if lead:
            stripped = run[lead.end():]
    offset = run_start + len(run) - len(stripped)
    name = None
    if vocab is not None and stripped:
        for size in (*vocab.lengths, 1):
            candidate, said = stripped[:size], stripped[size:]
            if len(candidate) == size and candidate in vocab.names \
                    and (not said or _AFTER_NAME.match(said)):
                name = candidate
                break
    if name is None and (_KNOWN_WORD.match(run) or not stripped or _KNOWN_WORD.match(stripped)):
        return [], 0                             # 皮肤黄 / 全身无力 / 返校 / 发烧: no name begins here
    for size in range(min(len(stripped), 16), 1, -1):
        if name is not None:
            break
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
            word = more.group(1)
            nxt = word if vocab is not None and word in vocab.names \
                else (_as_name(word) if _strip_edges(word) == word else None)
            if nxt is None:
                break
            names.append(nxt)
            pos = more.end()
    return names, pos


def _clause_people(clause: str, vocab: Vocabulary | None = None) -> list[PersonReading]:
    """张三 返校 / 张三、李四 正常 / 李四 咳嗽 / 李明，发热 (in brackets): people said to be back,
    well or with symptoms, without a temperature."""
    names, pos = _leading_names(clause, vocab)
    if not names:
        return []
    said = clause[pos:]
    symptoms = find_symptoms(said)
    if symptoms:
        return [PersonReading(n, None, symptoms, True) for n in names]
    if _STATE.search(said):
        return [PersonReading(n, None, (), False) for n in names]
    return []


def _claimed_clauses(text: str, temps: list[TempFound], vocab: Vocabulary | None = None
                     ) -> list[tuple[int, int, list[PersonReading]]]:
    """Clauses with no temperature that name people (…，李四 返校)."""
    out = []
    for m in _NAMED_CLAUSE.finditer(text):
        s, e = m.span()
        if temps and any(s <= t.start < e for t in temps):
            continue
        people = _clause_people(m.group(), vocab)
        if people:
            out.append((s, e, people))
    return out


# --- people -----------------------------------------------------------------------------------
def read_people(text: str, threshold: float, *, named_only: bool = False,
                temps: list[TempFound] | None = None, vocab: Vocabulary | None = None
                ) -> list[PersonReading]:
    """Readings in `text`: one per temperature, named by the names right before it, and the
    people of clauses that name someone without a temperature."""
    if temps is None:
        temps, text = read_numbers(text) if _HAS_DIGIT.search(text) else ([], text)
    reportable = _REPORTABLE.search(text) is not None
    if not temps and not reportable:
        return []                                # no temperature, nothing said of anyone
    claimed = _claimed_clauses(text, temps, vocab) \
        if reportable and (not temps or _CLAUSE_BREAK.search(text)) else ()
    any_symptom = reportable and _SYMPTOM_RE.search(text) is not None
    anchors: list[tuple[list[str], int, int, TempFound]] = []
    prev_end = 0
    backwards = text[::-1]
    for t in temps:
        names, first, last = names_before(text, prev_end, t.start, backwards, vocab)
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
        abnormal = is_abnormal(t.value, symptoms, threshold)
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
    "应到": "expected", "实到": "present", "全班": "expected", "到校": "present", "未到校": "absent",
    "因病缺勤": "sick", "因病请假": "sick", "因病缺课": "sick", "病假": "sick",
    "事假": "personal", "因事缺勤": "personal", "因事请假": "personal",
    "病事假": "absent", "缺勤": "absent", "缺席": "absent", "未到": "absent", "请假": "absent",
    "缺课": "absent",
    "体温异常": "fever", "发热": "fever", "发烧": "fever", "体温偏高": "fever",
}
# (Spaces are taken whole, `\s*+`: no part here starts with one.)
# Groups: 1 the word, 2 the count, 3 what a bracket after it says (缺勤1（李明 发热）); or
# the count before its kind (1人病假): 4 the count, 5 the word, 6 the bracket. A number with
# 度 or ℃ after it is a temperature, not a count (请假1人 李明 发烧38度).
_COUNT = re.compile(
    "(?=[\\d零〇一二两三四五六七八九十百" + "".join(sorted({k[0] for k in _COUNT_KEYS})) + "])"
    f"(?:({lexicon.trie_pattern(_COUNT_KEYS)})"
    rf"(?:人数|总人数|共|总数)?\s*+:?\s*+(?:是|为|有)?\s*+(\d{{1,4}}|{CN_INT})(?![\d.])(?!\s*(?:度|℃|°))"
    r"\s*+(?:人|名|个|位)?(?:\s*\(([^()]*)\))?"
    rf"|(?<![\d.])(\d{{1,4}}|{CN_INT})\s*+(?:人|名|位)"
    "(因病缺勤|因病请假|病假|事假|缺勤|请假|缺席|未到校|未到|发热|发烧|体温异常)"
    r"(?:\s*\(([^()]*)\))?)")
# A class summary: 应到 / 实到, or 全班N人 … 到校N人.
_SUMMARY_WORDS = re.compile(r"应到|实到|全班(?:共|总数|人数)?\s*:?\s*(?:\d|[一二两三四五六七八九十])")
# The students named after a count (缺勤1：佟欣怡（发烧38.5）/ 请假1人 孔子磊 发烧38度).
_NAME_BRACKET = re.compile(f"([{HAN}·A-Za-z]{{1,20}})\\s*\\(([^()]*)\\)")
# 无发热 → fever 0, 无缺勤 → absent 0 …; 全部正常 → fever 0.
_ZERO_WORDS = {"发热": "fever", "发烧": "fever", "体温异常": "fever", "缺勤": "absent", "缺席": "absent",
               "请假": "absent", "病假": "sick", "因病缺勤": "sick", "事假": "personal"}
_ZERO = re.compile(
    f"无({lexicon.trie_pattern(_ZERO_WORDS)})|没有({lexicon.trie_pattern(_ZERO_WORDS)})"
    "|全部正常|全员正常|均正常|均无异常|无异常|一切正常|体温均正常|体温正常|其余(?:均|都)?正常|其他(?:均|都)?正常")
_BRACKET = re.compile(r"\(([^()]*[^\d()\s][^()]*)\)")      # not a class number like (1)
_CLASS_NAME = re.compile(r"([^\s,:;]{0,12}?班)")
_SICK_WORDS = re.compile(r"病|医|发热|发烧|不适")
_PERSONAL_WORDS = re.compile(r"事假|有事|私事|家事|因事")


def _named_after(tail: str, threshold: float, vocab: Vocabulary | None) -> list[PersonReading]:
    """The students named after a count, with their readings: ：佟欣怡（发烧38.5，已就医）,
    ：孔子磊（感冒发烧）, 孔子磊 发烧38度. A name with nothing said of it is no person."""
    if "(" not in tail:
        at_once = _line_at_once(tail.lstrip(" :"), threshold, vocab)    # ：赵可 37.4
        if at_once is not None:
            return [at_once]
    people: list[PersonReading] = []
    if "(" in tail:
        def bracket(m: re.Match) -> str:
            inner = m.group(2)
            named = read_people(inner, threshold, vocab=vocab)
            if named and all(p.name for p in named):
                people.extend(named)
                return " , "
            head = m.group(1)
            name = (_roster_in_run(head, vocab) or ([None],))[0][0] if vocab else None
            if name is None:
                found = _strip_edges(head)
                name = _as_name(found) if found else None
                if name is None and _HAS_LATIN.search(head):
                    name = _latin_name(head, "", vocab)
            if name is None:
                return m.group()
            if named:
                top = max(named, key=lambda r: r.temperature or 0)
                symptoms = tuple(dict.fromkeys(s for r in named for s in r.symptoms))
                people.append(PersonReading(name, top.temperature, symptoms,
                                            is_abnormal(top.temperature, symptoms, threshold)))
            else:
                symptoms = find_symptoms(inner)
                if symptoms:
                    people.append(PersonReading(name, None, symptoms, True))
            return " , "
        tail = _NAME_BRACKET.sub(bracket, tail)
    people.extend(read_people(tail, threshold, named_only=True, vocab=vocab))
    return people


def _sick_absentees(key: str, named: list[PersonReading]) -> list[str]:
    """Those named under 病假 / 因病缺勤, or under 缺勤 with something wrong with them."""
    if key == "sick":
        return [p.name for p in named]
    if key == "absent":
        return [p.name for p in named if p.abnormal]
    return []


def read_class(text: str, today_date, threshold: float, vocab: Vocabulary | None = None
               ) -> tuple[ClassSummary | None, list[PersonReading], list[ParseError]]:
    """A class summary: counts (应到 实到 缺勤 病假 事假 发热, 1人病假, 全班N人 到校N人, 无X = 0),
    the students it names (in brackets, after a count, with a temperature; not those named
    under 事假 alone: they were not checked), and whether the counts add up. None when neither
    应到 nor 实到 comes with a number."""
    counts: dict[str, int] = {}
    people: list[PersonReading] = []
    bracket_sick: int | None = None          # 缺勤1（病假）/ 缺勤1（发热）: the kind of that absence
    absentees: list[str] = []                # students named as absent for illness
    pieces: list[str] = []
    last = head_end = -1
    matches = []
    for m in _COUNT.finditer(text):
        word, num, inner, num2, word2, inner2 = m.groups()
        value = number(num or num2)
        if value is not None:
            matches.append((m, word or word2, value, inner if word else inner2))
    for i, (m, word, value, inner) in enumerate(matches):
        key = _COUNT_KEYS[word]
        if last < 0:
            head_end = last = m.start()
        pieces.append(text[last:m.start()])
        pieces.append(" , ")
        last = m.end()
        counts.setdefault(key, value)
        named: list[PersonReading] = []
        if inner:
            named = read_people(inner, threshold, named_only=True, vocab=vocab)
            if key != "personal":
                people.extend(named)
                absentees.extend(_sick_absentees(key, named))
        elif key in ("absent", "sick", "personal", "fever") and value:
            tail_end = matches[i + 1][0].start() if i + 1 < len(matches) else len(text)
            tail = text[m.end():tail_end]
            if tail.strip(" :,;") and not tail.lstrip().startswith(("(", "无", "没有")):
                named = _named_after(tail, threshold, vocab)
                if key != "personal":        # 事假1：张三: not checked, no person
                    people.extend(named)
                    absentees.extend(_sick_absentees(key, named))
                zeros = " ".join(z.group() for z in _ZERO.finditer(tail)) \
                    if "无" in tail or "正常" in tail or "没有" in tail else ""
                pieces.append(" , " + zeros)
                last = tail_end              # read once: keep only 其余正常 of it
        if key == "absent" and bracket_sick is None and (inner or named):
            bracket_sick = _absence_kind(inner or "", value, named, counts)
    if "expected" not in counts and "present" not in counts:
        return None, [], []
    pieces.append(text[last:])
    head = text[:head_end]                  # the class and the check: 四（2）班午检
    body = "".join(pieces)                  # the rest: students may be named there

    if "(" in body:                         # 赵可（发热37.6）elsewhere in the summary
        def bracket(m: re.Match) -> str:
            people.extend(read_people(m.group(1), threshold, named_only=True, vocab=vocab))
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
    people.extend(read_people(body, threshold, named_only=True, vocab=vocab))

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
    summary = _new(ClassSummary, (name, expected, present, absent, sick, fever,
                                  tuple(dict.fromkeys(a for a in absentees if a)) if absentees else ()))
    return summary, people, errors


def _absence_kind(inner: str, count: int, named: list[PersonReading], counts: dict[str, int]) -> int | None:
    """How many of the absences a bracket says are for illness: 缺勤1（病假）→ 1,
    缺勤1（事假）→ 0, 缺勤2（病假1 事假1）→ 1, 缺勤1（李明 发热37.8）→ 1; None: not said."""
    inner_counts: dict[str, int] = {}
    for m in _COUNT.finditer(inner):
        value = number(m.group(2) or m.group(4))
        if value is not None:
            inner_counts.setdefault(_COUNT_KEYS[m.group(1) or m.group(5)], value)
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
# The same once the day and the check are read (晨检 36.4 正常 / 补报 2月3日 36.5 / 昨天 36.6):
# what is left before the temperature are only the words of the check and of 补报, which no
# name is (without a roster; a roster may hold any word), and after it no clause break (the
# full grammar reads a clause after one on its own).
_QUICK_REST = re.compile(
    f"(?:[\\s,.!~。]*(?:{lexicon.trie_pattern({*_QUICK_BEFORE, *lexicon.SESSION_WORDS, '补报'})}))*[\\s,:]*"
    r"((?:3[4-9]|4[0-2])\.\d)(?:\s*(?:°C|度))?"
    f"((?:{lexicon.trie_pattern(_QUICK_WORDS, lexicon.PART_TAILS)}|[ \\t.:、~])*)")
_HAS_DIGIT = re.compile(r"\d")
# Without a temperature or 应到/实到, only these make a report (a symptom, 正常, 返校).
_REPORTABLE = re.compile(lexicon.trie_pattern({*lexicon.WORD_TO_SYMPTOM, *lexicon.STATE_WORDS},
                                              lexicon.PART_TAILS))
_WELL_CORE = re.compile(r"[\s,.;!。!~、:]+|补报|晨午检|晨检|午检|早检|本人|今日|今天|我|体温|身体")
_WELL_WORDS = frozenset(lexicon.WELL_WORDS)


_HEALTH_WORD = re.compile(lexicon.trie_pattern(
    {*lexicon.WORD_TO_SYMPTOM, "体温", "温度", "测温", "度", "℃", "异常", "不舒服", "生病", "感冒"}))


def parse(text: str, today: dt.date, fever_threshold: float = 37.3, names=None) -> ParseResult:
    """`text` read (CONTRACT.md, "Parse result"). `names`: the roster names the sender may
    mention (a frozenset is remembered between calls), so that each is a name wherever it stands."""
    if not isinstance(text, str):
        return UNRECOGNIZED
    quick = _QUICK.fullmatch(text)
    if quick is None:
        norm = normalize(text)
        if not norm:
            return UNRECOGNIZED
        if norm != text:
            quick = _QUICK.fullmatch(norm)
        if quick is None:
            alone = _WELL_ALONE.get(norm)
            if alone is not None:                # 正常 / 无异常: the sender is well
                return _report(today, None, alone)
    if quick is not None:
        whole, tenth, said = quick.groups()
        value = (int(whole) * 10 + int(tenth)) / 10
        if value <= MAX_TEMP:
            symptoms = find_symptoms(said) if said and _SYMPTOM_RE.search(said) else ()
            return _report(today, None, (_new(PersonReading, (
                None, value, symptoms, is_abnormal(value, symptoms, fever_threshold))),))
        norm = normalize(text)
    return _parse_full(norm, today, fever_threshold, None if names is None else vocabulary(names))


def reads_at_once(text: str) -> bool:
    """The message is the sender's own temperature in the common form (36.5, 体温36.6 正常): no
    name can stand in it, so the roster is not needed to read it."""
    return isinstance(text, str) and (_QUICK.fullmatch(text) is not None
                                      or _QUICK.fullmatch(normalize(text)) is not None)


def _parse_full(norm: str, today: dt.date, fever_threshold: float,
                vocab: Vocabulary | None = None) -> ParseResult:
    """The whole grammar, on normalized text."""
    has_digit = _HAS_DIGIT.search(norm)
    if not _TOPIC_CHARS.isdisjoint(norm) and (
            _TOPIC_START.match(norm) or norm.startswith("摸排")
            or (has_digit and _STOCK_WORD.search(norm))
            or (not _TOPIC_WORD_CHARS.isdisjoint(norm) and _TOPIC_WORDS.search(norm))):
        topic = read_topic(norm)
        if topic:
            return _TOPIC_RESULTS[topic]
    if not has_digit:
        if len(norm) <= 24:
            command = read_command(norm)
            if command:
                return _COMMAND_RESULTS[command]
        if "应到" not in norm and "实到" not in norm and "全班" not in norm and not _REPORTABLE.search(norm):
            return UNRECOGNIZED                  # 收到 / 好的，谢谢 / [图片]
    if " " in norm and (vocab is not None or "·" in norm):
        norm = join_padding(norm, vocab)
    is_summary = _SUMMARY_WORDS.search(norm) is not None
    if "\n" in norm and not is_summary:
        listed = _parse_list(norm, today, fever_threshold, vocab)
        if listed is not None:
            return listed

    found_date, rest = find_date(norm, today)
    session = find_session(rest)
    if has_digit and not is_summary and rest.count(".") == 1:       # one temperature, perhaps
        at_once = _one_reading(rest, found_date, session, today, fever_threshold, vocab)
        if at_once is not None:
            return at_once
    temps, rest = read_numbers(rest) if has_digit else ([], rest)
    if not temps and not is_summary and not _REPORTABLE.search(rest):
        return UNRECOGNIZED                      # 明天8点开会 / 联系电话13800138000

    summary = None
    errors: list[ParseError] = []
    if is_summary:
        summary, people, errors = read_class(rest, today, fever_threshold, vocab)
    if summary is not None:
        people = _dedupe(people)
    else:
        people = read_people(rest, fever_threshold, temps=temps, vocab=vocab)
        if not temps and not people:
            people = _sender_without_temperature(rest)
        if "姓名" in rest and people and all(p.name is None for p in people):
            people = _named_by_form(rest, people, vocab)
        people = _dedupe(_merge_sender(people, fever_threshold))
        if not people and all(t.in_range for t in temps):
            return UNRECOGNIZED

    for t in temps:
        if not t.in_range:
            errors.append(_out_of_range(t))
    day, date_errors = _day_of(found_date, today)
    errors[:0] = date_errors
    if errors:
        return _new(ParseResult, ("invalid", None, day, session, (), None, tuple(errors), None, (), False))
    return _report(day, session, people, summary)


def _one_reading(rest: str, found_date: DateFound | None, session: str | None, today: dt.date,
                 threshold: float, vocab: Vocabulary | None) -> ParseResult | None:
    """The result of a message that is one reading in a common form, read at once as the rest of
    `_parse_full` would read it: the sender's (晨检 36.4 正常 / 补报 2月3日 36.5, with the day and
    the check already read) or one person's (欧阳娜娜 36.3 / 张三：36.5 咳嗽). None otherwise."""
    if vocab is None:
        quick = _QUICK_REST.fullmatch(rest)
        if quick is not None:
            shown, said = quick.groups()
            value = _TEMPS_AT_ONCE[shown]
            if value <= MAX_TEMP and not (said and said.lstrip()[:1] in _UNIT_FIRST):
                day, date_errors = _day_of(found_date, today)
                if date_errors:
                    return _new(ParseResult, ("invalid", None, day, session, (), None, tuple(date_errors),
                                              None, (), False))
                symptoms = find_symptoms(said) if said and _SYMPTOM_RE.search(said) else ()
                return _report(day, session, (_new(PersonReading, (
                    None, value, symptoms, is_abnormal(value, symptoms, threshold))),))
    if found_date is None:
        reading = _line_at_once(rest, threshold, vocab)
        if reading is not None:
            return _report(today, session, (reading,))
    return None


def _out_of_range(t: TempFound, where: str = "") -> ParseError:
    shown = t.raw if "℉" in t.raw else t.raw + "℃"
    return ParseError("temperature_out_of_range",
                      f"{where}体温{shown}不在{MIN_TEMP}–{MAX_TEMP}℃之间，可能写错了。"
                      "请核对后重新发送，例如：36.5")


def _day_of(found_date: DateFound | None, today: dt.date) -> tuple[dt.date | None, list[ParseError]]:
    """The day reported on, and why it cannot be (a day to come, a day that does not exist)."""
    if found_date is None:
        return today, []
    if found_date.day is None:
        return None, [ParseError("date_invalid", f"日期“{found_date.text}”不存在，请核对后重发，"
                                                 "例如：补报 2月3日 36.5")]
    day = found_date.day
    if day > today:
        return day, [ParseError("date_in_future", f"{day.month}月{day.day}日还没到，不能提前报告。"
                                                  "补报以前的日子请写明日期，例如：补报 2月3日 36.5")]
    return day, []


def _well_alone() -> dict[str, tuple[PersonReading, ...]]:
    """The messages that are only a word of well-being (正常, 无异常, 一切正常), with what the
    whole grammar reads in them (the sender, well), so that `parse` answers them at once. A word
    is kept only when no roster can matter (it is all words that are no names: a roster is looked
    up only in what is left of a clause without them) and the grammar reads it the same on any
    day and with any threshold."""
    table = {}
    for word in lexicon.WELL_WORDS:
        no_name = _LEADING_NOT_NAMES.match(word)
        if normalize(word) != word or no_name is None or no_name.end() != len(word):
            continue
        readings = set()
        for day in (_ANY_DAY, dt.date(2024, 2, 29)):
            for threshold in (36.0, 37.3):
                r = _parse_full(word, day, threshold)
                readings.add(r._replace(date=None) if r.date == day else r)
        r = readings.pop()
        if not readings and r == _report(None, None, r.people) and r.people \
                and all(p.temperature is None for p in r.people):
            table[word] = r.people
    return table


# 姓名：聂海 / 姓名:Tom: a form names the person its readings are for.
_FORM_NAME = re.compile(f"姓名\\s*:?\\s*([{HAN}·]{{1,20}}|[A-Za-z][A-Za-z' ]{{0,30}}[A-Za-z])")


def _named_by_form(text: str, people: list[PersonReading], vocab: Vocabulary | None) -> list[PersonReading]:
    m = _FORM_NAME.search(text)
    if not m:
        return people
    written = m.group(1).strip()
    if vocab is not None and written in vocab.names:
        name = written
    elif _HAS_LATIN.match(written):
        name = _latin_name(written, "", vocab)
    else:
        name = _as_name(_strip_edges(written) or "")
    if name is None or name in ("本人", "我"):
        return people
    return [p._replace(name=name) for p in people]


# --- numbered lists and 接龙 ------------------------------------------------------------------
# A list number at the head of a line: 1. / 1、 / 1) / (1) / 一、 (① and １． are 1. by now).
_LIST_MARK = re.compile(r"[ \t]*(?:\(\s*(\d{1,3})\s*\)|(\d{1,3})[ \t]*[.、)](?!\d)|([一二三四五六七八九十]{1,3})、)[ \t]*")
_LINE_SELF = re.compile(r"[ ,:]*(?:本人|我|自己)(?![\u4e00-\u9fff])")


def _parse_list(norm: str, today: dt.date, threshold: float, vocab: Vocabulary | None
                ) -> ParseResult | None:
    """A numbered list or a pasted 接龙: each numbered line reports one person (a line that
    names nobody, or says 本人, is the sender); the other lines (#接龙, 12月2日 初二(1)班 晨检体温)
    give the day and the check, never a temperature. None when it is no list."""
    header: list[str] = []
    items: list[tuple[str, str]] = []
    for line in norm.split("\n"):
        m = _LIST_MARK.match(line)
        if m:
            items.append((m.group(1) or m.group(2) or m.group(3), line[m.end():].strip()))
        elif line.strip():
            header.append(line)
    if len(items) < 2 and not (items and any("接龙" in h for h in header)):
        return None
    head = " ".join(header)
    found_date, head_rest = find_date(head, today) if head else (None, head)
    session = find_session(head_rest) if head_rest else None
    people: list[PersonReading] = []
    unread: list[str] = []
    errors: list[ParseError] = []
    for number_text, content in items:
        at_once = _line_at_once(content, threshold, vocab) if content else None
        if at_once is not None:
            people.append(at_once)
            continue
        readings, bad = _read_line(content, threshold, vocab)
        if bad:
            shown = _line_label(number_text, content)
            errors.extend(_out_of_range(t, f"第{number_text}条（{shown}）") for t in bad)
        elif readings:
            people.extend(readings)
        elif content:
            unread.append(f"{number_text}. {content}")
    if session is None:
        session = find_session(norm)
    if not people and not errors:
        return None if not header else UNRECOGNIZED
    day, date_errors = _day_of(found_date, today)
    errors[:0] = date_errors
    if errors:
        return _new(ParseResult, ("invalid", None, day, session, (), None, tuple(errors), None,
                                  tuple(unread), True))
    return _report(day, session, _dedupe(_merge_sender(people, threshold)), None, tuple(unread), True)


def _line_label(number_text: str, content: str) -> str:
    return content if len(content) <= 20 else content[:20] + "…"


def _read_line(content: str, threshold: float, vocab: Vocabulary | None
               ) -> tuple[list[PersonReading], list[TempFound]]:
    """One list line: its person's readings (all of them that person's), and temperatures out
    of range. A line that names nobody, or says 本人, is the sender."""
    if not content:
        return [], []
    temps, rest = read_numbers(content) if _HAS_DIGIT.search(content) else ([], content)
    bad = [t for t in temps if not t.in_range]
    if bad:
        return [], bad
    readings = read_people(rest, threshold, temps=temps, vocab=vocab)
    if not readings:
        if temps or not _REPORTABLE.search(rest):
            return [], []
        readings = _sender_without_temperature(rest)
        if not readings:
            name = _head_name(rest, vocab)   # Tom 已返校 / 聂海妈妈：孩子咳嗽
            symptoms = find_symptoms(rest) if name else ()
            if symptoms:
                return [PersonReading(name, None, symptoms, True)], []
            if name and _STATE.search(rest):
                return [PersonReading(name, None, (), False)], []
            return [], []
    names = [r.name for r in readings if r.name is not None]
    name = names[0] if names else None
    if name is None and not _LINE_SELF.match(rest):
        name = _head_name(rest, vocab)
    if len(set(names)) > 1:
        return readings, []                   # 张三、张四 36.5: twins on one line
    top = max(readings, key=lambda r: r.temperature or 0)
    symptoms = tuple(dict.fromkeys(s for r in readings for s in r.symptoms))
    return [_new(PersonReading, (name, top.temperature, symptoms,
                                 is_abnormal(top.temperature, symptoms, threshold)))], []


# A list line in the common form, a name and its temperature (聂海 36.5 / 詹敏家长：38.2 发烧 /
# Tom 36.8):
# the name, the temperature, and what follows it, with no other number, no Latin letter and no
# clause break (what follows is then only said of that person).
_LINE_AT_ONCE = re.compile(
    f"([{HAN}·]+|[A-Za-z][A-Za-z'\\- ]*[{HAN}]{{0,4}})[ :,]*"            # the name (and a relation)
    "((?:3[4-9]|4[0-2])\\.\\d)(?:[ \\t]*(?:°C|度))?"                      # the temperature
    "((?:[ \\t]|[^\\d\\sA-Za-z,;。!?()°℉℃])*)")                          # what follows it
_TEMPS_AT_ONCE = {f"{w}.{t}": (w * 10 + t) / 10 for w in range(34, 43) for t in range(10)}
# After a temperature, what would make it some other quantity or give it a unit (36.5 元).
_UNIT_FIRST = frozenset("°℉℃华摄度%") | frozenset(u[0] for u in (*_OTHER_UNITS, *_SURNAME_UNITS))
# A name's end that would read as the lead of a number (王体温 36.5: 体温 36.5).
_LEAD_ENDS = (*_TEMP_LEADS, *_OTHER_LEADS)
_LEAD_LAST = frozenset(w[-1] for w in _LEAD_ENDS) | frozenset("是为约")


def _line_at_once(content: str, threshold: float, vocab: Vocabulary | None) -> PersonReading | None:
    """A list line in the common form read as `_read_line` reads it, without its passes
    (a 40-line 接龙 is mostly such lines); None when the line needs the whole reading."""
    m = _LINE_AT_ONCE.fullmatch(content)
    if m is None:
        return None
    run, shown, said = m.groups()
    value = _TEMPS_AT_ONCE[shown]
    if value > MAX_TEMP or (said and said.lstrip(" \t")[:1] in _UNIT_FIRST) or (run[-1] in _LEAD_LAST and (
            run.endswith(_LEAD_ENDS) or (run[-1] in "是为约" and run[:-1].endswith(_LEAD_ENDS)))):
        return None
    if run[0] < "\x80":                          # Tom 36.8 / Lily张 36.9: as names_before reads it
        latin = _LATIN_BEFORE.search(content, 0, m.start(2))
        name = _latin_name(latin.group(1), latin.group(2), vocab) if latin else None
        if name is None:
            return None
        end = latin.end(2)
    elif vocab is not None and run in vocab.names:
        name, end = run, len(run)                # what _run_names finds first
    else:
        found = _run_names(run, run[::-1], vocab)
        if found is None or len(found[0]) != 1:
            return None                          # no name (the sender?) or twins: read it whole
        name, end = found[0][0], found[2]
    symptoms = ()
    if said or end < len(run):                   # a symptom can stand only after the name
        between = content[end:m.start(2)] + " " + said
        if _SYMPTOM_RE.search(between):
            symptoms = find_symptoms(between)
    return _new(PersonReading, (name, value, symptoms, is_abnormal(value, symptoms, threshold)))


_HEAD_RUN = re.compile(f"[ ,:]*([{HAN}·]+)")


def _head_name(rest: str, vocab: Vocabulary | None) -> str | None:
    """The name at the head of a list line (聂海：今天早上测的 36.5 → 聂海), or None."""
    m = _LATIN_HEAD.match(rest)
    if m:
        return _latin_name(m.group(1), m.group(2), vocab)
    m = _HEAD_RUN.match(rest)
    if not m:
        return None
    run = m.group(1)
    if vocab is not None:
        for size in (*vocab.lengths, 1):
            if run[:size] in vocab.names and len(run) >= size:
                return run[:size]
    names, _ = _leading_names(run, vocab)
    return names[0] if len(names) == 1 else None


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


_WELL_ALONE = _well_alone()
