"""The message grammar: what a teacher wrote, read into a parse result (CONTRACT.md).

`parse(text, today, fever_threshold)` is a pure function. It reads, in order:
1. normal form: full-width digits and punctuation, `。`/`．` as a decimal point, spoken
   numbers (三十六度五), emoji and decoration dropped;
2. a command (帮助, 查询, 撤销, 统计, 谁没报 and their wordings) when that is the whole message;
3. the day (2月3日, 2020-02-03, 昨天, 补报 …) and the check (晨检 / 午检);
4. a class summary when the message says 应到 / 实到, with any students it names;
5. otherwise temperatures, the names written right before them, and symptoms with negation.
What is none of these is chatter (`unrecognized`): the bot stays silent.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass

from handlers import lexicon
from handlers.cn_numbers import CN_INT, number, spoken_temperatures_to_digits
from handlers.lexicon import SYMPTOM_NAMES  # noqa: F401  (re-exported for replies and digests)

MIN_TEMP, MAX_TEMP = 34.0, 42.5
MAX_TEXT = 2000          # longer messages are read up to here: nobody reports in an essay


@dataclass(frozen=True)
class PersonReading:
    name: str | None          # None: the sender
    temperature: float | None
    symptoms: tuple[str, ...]
    abnormal: bool


@dataclass(frozen=True)
class ClassSummary:
    name: str | None
    expected: int | None
    present: int | None
    absent: int | None
    sick_absent: int | None
    fever: int | None


@dataclass(frozen=True)
class ParseError:
    code: str
    message: str


@dataclass(frozen=True)
class ParseResult:
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


UNRECOGNIZED = ParseResult("unrecognized")

# --- normal form ---------------------------------------------------------------------------
_DROP = re.compile(r"[\u200b-\u200f\u2060\ufeff\ufe0f]")
_POINT = re.compile(r"(?<=\d)\s*[。．·]\s*(?=\d)")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")


# Characters that need a look: not CJK, not printable ASCII, not CJK punctuation.
_ODD = re.compile(r"[^\u4e00-\u9fff -~\n\t\u3000-\u303f]")


def _drop_odd(m: re.Match) -> str:
    ch = m.group(0)
    cat = unicodedata.category(ch)
    if cat[0] == "C":
        return " "                               # control characters, surrogates, private use
    if cat in ("So", "Sk", "Sm") and ch not in "°":
        return " "                               # emoji and decoration
    return ch


def normalize(text: str) -> str:
    text = text[:MAX_TEXT]
    if text.isascii() and text.isprintable():
        return _SPACES.sub(" ", _POINT.sub(".", text)).strip()
    text = unicodedata.normalize("NFKC", text)
    text = _DROP.sub("", text)
    text = _ODD.sub(_drop_odd, text)
    text = _POINT.sub(".", text)
    text = spoken_temperatures_to_digits(text)
    return _SPACES.sub(" ", text).strip()


# --- commands --------------------------------------------------------------------------------
_COMMAND_STRIP = re.compile(r"[\s,.!~。,!、:;?？'\"“”‘’()\[\]【】/\\@#]+")
_COMMAND_TAIL = re.compile(r"(一下|下|吧|呢|呀|啊|哈|谢谢|请问)+$")


def read_command(norm: str) -> str | None:
    if len(norm) > 20:
        return None
    if norm.strip() in ("?", "??", "？"):
        return "help"
    key = _COMMAND_STRIP.sub("", norm).lower()
    key = re.sub(r"^(请问|请|帮我|我要|我想)", "", key)
    if key in lexicon.COMMANDS:
        return lexicon.COMMANDS[key]
    key = _COMMAND_TAIL.sub("", key)
    return lexicon.COMMANDS.get(key)


# --- dates ------------------------------------------------------------------------------------
_DATE_PATTERNS = [
    ("ymd", re.compile(r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*[日号]?")),
    ("md", re.compile(r"(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")),
    ("md", re.compile(r"(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})(?![\d.])")),
    ("rel", re.compile(r"大前天|前天|昨天|昨日|今天|今日|明天|明日|后天")),
]
_RELATIVE = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "明天": 1,
             "明日": 1, "后天": 2}


@dataclass(frozen=True)
class DateFound:
    day: dt.date | None            # None: impossible (2月30日)
    text: str


def find_date(norm: str, today: dt.date) -> tuple[DateFound | None, str]:
    """The first date the text names, and the text with it blanked out."""
    for kind, pattern in _DATE_PATTERNS:
        m = pattern.search(norm)
        if not m:
            continue
        rest = norm[:m.start()] + " " + norm[m.end():]
        if kind == "rel":
            if m.group(0) in ("今天", "今日"):
                return None, rest
            return DateFound(today + dt.timedelta(days=_RELATIVE[m.group(0)]), m.group(0)), rest
        if kind == "ymd":
            year, month, day = (int(g) for g in m.groups())
        else:
            year, month, day = today.year, int(m.group(1)), int(m.group(2))
        try:
            found = dt.date(year, month, day)
        except ValueError:
            return DateFound(None, m.group(0).strip()), rest
        if kind == "md" and found > today + dt.timedelta(days=183):
            try:
                found = dt.date(year - 1, month, day)
            except ValueError:                   # 2月29日 of a leap year, read as last year
                return DateFound(None, m.group(0).strip()), rest
        return DateFound(found, m.group(0).strip()), rest
    return None, norm


def find_session(norm: str) -> str | None:
    for word, session in lexicon.SESSION_WORDS.items():
        if word in norm:
            return session
    return None


# --- temperatures ----------------------------------------------------------------------------
_LONG_DIGITS = re.compile(r"\d{5,}|\d{3,4}-\d{3,4}-?\d{0,4}")
_TIMES = re.compile(r"\d{1,2}\s*[:]\s*\d{2}|\d{1,2}\s*点\s*(?:\d{1,2}\s*分?|半|钟)?")
# A temperature: °F / F after it; °C / ℃ / 度 after it; 体温 before it; or a plain decimal.
_TEMP = re.compile(
    r"(?P<lead>(?:体温|温度|测温|腋温|额温|耳温|口温)\s*(?:是|为|:)?\s*)?"
    r"(?P<num>\d{1,3}(?:\.\d+)?)"
    r"(?P<unit>\s*(?:°\s*F|℉|F(?![a-zA-Z])|华氏度?|°\s*C|℃|C(?![a-zA-Z])|度|°))?",
    re.IGNORECASE)


@dataclass(frozen=True)
class TempFound:
    value: float
    start: int
    end: int
    in_range: bool
    raw: str = ""


def _round1(value: float) -> float:
    """One decimal, halves up (36.55 → 36.6), without binary-float surprises."""
    return math.floor(value * 10 + 0.5 + 1e-9) / 10


def find_temperatures(text: str) -> list[TempFound]:
    found = []
    for m in _TEMP.finditer(text):
        raw, unit, lead = m.group("num"), (m.group("unit") or "").strip().upper(), m.group("lead")
        value = float(raw)
        fahrenheit = unit in ("°F", "F", "° F") or unit.startswith("华氏")
        if fahrenheit:
            if not 80 <= value <= 120:
                continue
            value = (value - 32) * 5 / 9
        elif not (lead or unit):
            if "." not in raw or not 30 <= value <= 50:
                continue                                  # a count, a class, a room: no temperature
        elif unit == "°" and not lead and "." not in raw and not 30 <= value <= 50:
            continue
        elif not lead and unit == "C" and "." not in raw:
            continue
        elif value >= 100 and "." not in raw:
            continue
        start = m.start("num") if not lead else m.start()
        shown = raw + ("℉" if fahrenheit else "")
        found.append(TempFound(_round1(value), start, m.end(), MIN_TEMP <= _round1(value) <= MAX_TEMP,
                               shown))
    return found


# --- symptoms ---------------------------------------------------------------------------------
def find_symptoms(text: str) -> tuple[str, ...]:
    """Symptom codes stated in `text` and not negated, in order of appearance."""
    stated: list[str] = []
    negated_until = -1
    for m in lexicon.SYMPTOM_RE.finditer(text):
        code = lexicon.WORD_TO_SYMPTOM[m.group(0)]
        if _is_negated(text, m.start(), m.end()):
            continue
        if code not in stated:
            stated.append(code)
    del negated_until
    return tuple(stated)


def _is_negated(text: str, start: int, end: int) -> bool:
    # 咳嗽：无 / 咳嗽（无）
    if lexicon.POSTFIX_NEGATION_RE.match(text[end:end + 8]):
        return True
    # a negation earlier in the same clause, with only symptoms and joiners in between
    i = start
    while i > 0:
        ch = text[i - 1]
        if ch in lexicon.CLAUSE_BREAKS:
            return False
        for neg in lexicon.NEGATIONS:
            if text.endswith(neg, 0, i):
                return True
        if ch in lexicon.JOINERS:
            i -= 1
            continue
        prev = _symptom_ending_at(text, i)
        if prev:
            i -= prev
            continue
        if ch in "有感到点些出现伴症状的见明显":
            i -= 1
            continue
        return False
    return False


def _symptom_ending_at(text: str, i: int) -> int:
    for length in (6, 5, 4, 3, 2, 1):
        if i - length >= 0 and text[i - length:i] in lexicon.WORD_TO_SYMPTOM:
            return length
    return 0


def is_abnormal(temperature: float | None, symptoms, threshold: float) -> bool:
    return bool(symptoms) or (temperature is not None and temperature >= threshold)


# --- names ------------------------------------------------------------------------------------
_HAN_RUN_END = re.compile(r"([\u4e00-\u9fff·]{1,12})\s*[:]?\s*$")
_NAME_ONLY = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


_TRAILING_SYMPTOMS = re.compile(rf"(?:\s|{lexicon.SYMPTOM_RE.pattern})+$")


_LEADING_NOT_NAMES = re.compile(rf"^(?:{lexicon.NOT_NAME_RE.pattern})+")
_TRAILING_NOT_NAMES = re.compile(rf"(?:{lexicon.NOT_NAME_RE.pattern})+$")


def _strip_edges(run: str) -> str:
    """Drops words that are not names from both ends: 今日体温 → "", 学生郑一鸣 → 郑一鸣."""
    return _LEADING_NOT_NAMES.sub("", _TRAILING_NOT_NAMES.sub("", run))


def name_before(text: str) -> str | None:
    """The name written right before a temperature, if any (张三 36.5 → 张三, 李明 发热37.8 → 李明)."""
    text = _TRAILING_SYMPTOMS.sub("", text)
    m = _HAN_RUN_END.search(text)
    if not m:
        return None
    run = m.group(1).replace("·", "")
    candidate = _strip_edges(run)
    if len(candidate) == 1 and 2 <= len(run) <= 4:
        candidate = run                      # 李健康, 王正常: the "word" is part of the name
    if not candidate:
        return None
    if lexicon.SYMPTOM_RE.search(candidate) or any(n in candidate for n in ("无", "没有", "不")):
        return None
    if not _NAME_ONLY.match(candidate) or not lexicon.looks_like_name(candidate):
        return None
    return candidate


# --- class summaries --------------------------------------------------------------------------
_COUNT_NUM = rf"(\d{{1,4}}|{CN_INT})"
_COUNT_FIELDS = [
    ("expected", re.compile(rf"应到(?:人数)?\s*:?\s*{_COUNT_NUM}\s*[人名]?")),
    ("present", re.compile(rf"实到(?:人数)?\s*:?\s*{_COUNT_NUM}\s*[人名]?")),
    ("sick", re.compile(rf"(?:因病缺勤|因病请假|病假|病事假中病假)\s*:?\s*{_COUNT_NUM}\s*[人名]?")),
    ("personal", re.compile(rf"(?:事假|因事缺勤|因事请假)\s*:?\s*{_COUNT_NUM}\s*[人名]?")),
    ("absent", re.compile(rf"(?:缺勤|缺席|未到|请假)(?:人数)?\s*:?\s*{_COUNT_NUM}\s*[人名]?")),
    ("fever", re.compile(rf"(?:体温异常|发热|发烧|体温偏高)(?:人数)?\s*:?\s*{_COUNT_NUM}\s*[人名]?")),
]
_ZERO_FIELDS = [
    ("fever", re.compile(r"(?:无|没有)(?:发热|发烧|体温异常)")),
    ("absent", re.compile(r"(?:无|没有)(?:缺勤|缺席|请假)")),
    ("sick", re.compile(r"(?:无|没有)(?:病假|因病缺勤)")),
    ("personal", re.compile(r"(?:无|没有)事假")),
    ("fever", re.compile(r"全部正常|全员正常|均正常|无异常|一切正常|体温均正常|体温正常")),
]
_BRACKET = re.compile(r"\(([^()]*[^\d()\s][^()]*)\)")      # not a class number like (1)
_CLASS_NAME = re.compile(r"([^\s,:;]{0,12}?班)")


def read_class(text: str, today_date, threshold: float) -> tuple[ClassSummary, list[PersonReading], list[ParseError]]:
    people: list[PersonReading] = []
    # Students named in brackets: 缺勤1（李明 发热37.8 已就医）; a bracket without a name
    # (病假1（发热）) describes the absence, not a person.
    def bracket(m: re.Match) -> str:
        inner = m.group(1)
        readings = read_people(inner, threshold, named_only=True)
        people.extend(readings)
        return " "
    body = _BRACKET.sub(bracket, text)
    counts: dict[str, int] = {}
    remainder = body
    for key, pattern in _COUNT_FIELDS:
        m = pattern.search(remainder)
        if m and key not in counts:
            value = number(m.group(1))
            if value is not None:
                counts[key] = value
                remainder = remainder[:m.start()] + " , " + remainder[m.end():]
    for key, pattern in _ZERO_FIELDS:
        if key not in counts and pattern.search(remainder):
            counts[key] = 0
            remainder = pattern.sub(" , ", remainder)
    people.extend(read_people(remainder, threshold, named_only=True))

    head = re.split(r"应到|实到", body, maxsplit=1)[0]
    for word in lexicon.SESSION_WORDS:
        head = head.replace(word, " ")
    m = _CLASS_NAME.search(head)
    name = m.group(1).strip() if m else None

    expected, present = counts.get("expected"), counts.get("present")
    absent, sick, personal, fever = (counts.get("absent"), counts.get("sick"),
                                     counts.get("personal"), counts.get("fever"))
    errors: list[ParseError] = []
    derived_absent = expected - present if expected is not None and present is not None else None
    if derived_absent is not None and derived_absent < 0:
        errors.append(_class_error(f"实到{present}人比应到{expected}人还多"))
    elif absent is not None and derived_absent is not None and absent != derived_absent:
        errors.append(_class_error(f"应到{expected} − 实到{present} = {derived_absent}，"
                                   f"但缺勤写的是{absent}"))
    if absent is None:
        absent = derived_absent
    if absent is None and expected is None and present is None:
        pass
    leave = (sick or 0) + (personal or 0)
    if not errors and absent is not None and leave > absent:
        errors.append(_class_error(f"病假、事假共{leave}人，多于缺勤的{absent}人"))
    if absent is None and (sick is not None or personal is not None) and derived_absent is None:
        absent = leave if expected is None or present is None else absent
    if sick is None and absent is not None:
        if absent == 0 or (personal is not None and personal == absent):
            sick = 0
    if present is not None and expected is not None and fever is not None and fever > present + (sick or 0):
        errors.append(_class_error(f"发热{fever}人，多于到校和病假的人数"))
    summary = ClassSummary(name, expected, present, absent, sick, fever)
    return summary, people, errors


def _class_error(detail: str) -> ParseError:
    return ParseError("class_numbers_inconsistent",
                      f"班级人数对不上：{detail}。应到 = 实到 + 缺勤，病假、事假算在缺勤里。"
                      "请核对后重发，例如：三年级2班 应到45 实到44 病假1 发热0")


# --- people -----------------------------------------------------------------------------------
_NAME_STATE = re.compile(r"(?:^|[\s,;])((?:[\u4e00-\u9fff]{2,4}[、和及\s]*)+?)\s*(?:均|都)?(?:已返校|返校|正常|无异常|身体正常)(?=$|[\s,;。.、])")


def read_people(text: str, threshold: float, *, named_only: bool = False,
                temps: list[TempFound] | None = None) -> list[PersonReading]:
    """Readings in `text`: one per temperature, named by the name right before it."""
    if temps is None:
        temps = find_temperatures(text)
    readings: list[tuple[str | None, int, int, TempFound]] = []
    prev_end = 0
    for t in temps:
        name = name_before(text[prev_end:t.start])
        name_start = t.start
        if name:
            name_start = text.rfind(name, prev_end, t.start)
        readings.append((name, name_start, t.end, t))
        prev_end = t.end
    out: list[PersonReading] = []
    for i, (name, start, end, t) in enumerate(readings):
        if named_only and name is None:
            continue
        seg_start = start if name else (readings[i - 1][2] if i else 0)
        seg_end = readings[i + 1][1] if i + 1 < len(readings) else len(text)
        symptoms = find_symptoms(text[seg_start:t.start] + " " + text[t.end:seg_end]) \
            if name else find_symptoms(text[seg_start:seg_end])
        out.append(PersonReading(name, t.value, symptoms, is_abnormal(t.value, symptoms, threshold)))
    if named_only or readings:
        named = {p.name for p in out}
        for m in _NAME_STATE.finditer(text):
            for candidate in re.split(r"[、和及\s]+", m.group(1)):
                if candidate and candidate not in named and name_before(candidate) == candidate:
                    named.add(candidate)
                    out.append(PersonReading(candidate, None, (), False))
    return out


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
    by_name: dict[str | None, PersonReading] = {}
    for r in readings:
        by_name[r.name] = r
    return tuple(by_name.values())


# --- the whole message ------------------------------------------------------------------------
_PLAIN = re.compile(r"\s*(?:体温\s*[:：]?\s*)?(3[4-9]|4[0-2])\.(\d)\s*(?:℃|度|°C)?\s*")


def parse(text: str, today: dt.date, fever_threshold: float = 37.3) -> ParseResult:
    if not isinstance(text, str):
        return UNRECOGNIZED
    plain = _PLAIN.fullmatch(text)
    if plain:                                    # the common case: 36.5 / 体温36.5℃
        value = float(f"{plain.group(1)}.{plain.group(2)}")
        if value <= MAX_TEMP:
            return ParseResult("report", date=today, people=(
                PersonReading(None, value, (), value >= fever_threshold),))
    norm = normalize(text)
    if not norm:
        return UNRECOGNIZED
    command = read_command(norm)
    if command:
        return ParseResult("command", command=command)

    found_date, rest = find_date(norm, today)
    session = find_session(rest)
    is_late = "补报" in rest
    scrubbed = _TIMES.sub(" ", _LONG_DIGITS.sub(" ", rest))

    if "应到" in scrubbed or "实到" in scrubbed:
        summary, people, errors = read_class(scrubbed, today, fever_threshold)
        people = list(_dedupe(people))
        kind = "report"
    else:
        summary, errors = None, []
        temps = find_temperatures(scrubbed)
        people = read_people(scrubbed, fever_threshold, temps=temps)
        if not people:
            people = _without_temperature(scrubbed, fever_threshold, is_late or found_date is not None)
        people = list(_dedupe(_merge_sender(people, fever_threshold)))
        if not people:
            return UNRECOGNIZED
        kind = "report"

    if summary is not None:
        temps = find_temperatures(scrubbed)
    out_of_range = [t for t in temps if not t.in_range]
    for t in out_of_range:
        errors.append(ParseError("temperature_out_of_range",
                                 f"体温{t.raw if '℉' in t.raw else t.raw + '℃'}不在{MIN_TEMP}–{MAX_TEMP}℃之间，可能写错了。"
                                 "请核对后重新发送，例如：36.5"))
    people = [p for p in people if p.temperature is None or MIN_TEMP <= p.temperature <= MAX_TEMP]

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
        return ParseResult("invalid", date=day, session=session, errors=tuple(errors))
    return ParseResult(kind, date=day, session=session, people=tuple(people), class_summary=summary)


def _without_temperature(text: str, threshold: float, dated: bool) -> list[PersonReading]:
    """正常 / 无异常 alone, a short symptom report, or names with 正常 / 返校."""
    core = re.sub(r"[\s,.;!。!~、:]+", "", text)
    for word in ("补报", "晨检", "午检", "早检", "本人", "今日", "今天", "我", "体温", "身体"):
        core = core.replace(word, "")
    if core in lexicon.WELL_WORDS or (dated and core == ""):
        return [PersonReading(None, None, (), False)] if core else []
    named = read_people(text, threshold, named_only=True)
    if named:
        return named
    symptoms = find_symptoms(text)
    if symptoms and len(core) <= 12 and not any(w in text for w in lexicon.NOTICE_WORDS):
        return [PersonReading(None, None, symptoms, True)]
    return []
