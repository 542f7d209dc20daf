"""Leave (请假) and whereabouts (人员摸排): the grammar, the rules and every Chinese answer.

Plain functions on plain data (CONTRACT.md, "The district's other jobs": Leave, Whereabouts).

- `read_leave(text, today)`: `请假`, `明天请假`, `请假至12月5日`, `李明 请假至12月5日`,
  `12月3日至5日请假`, `请假3天` → a `LeaveRequest` (a day, a range or until a date), a
  `Problem` the sender must hear, or None when the text asks for no leave.
- `read_whereabouts(text, today)`: `李明 在湖北未返`, `李明 2月1日从武汉返回`,
  `李明 居家观察至2月16日`, `李明 居家观察14天`, `李明 解除观察` (no name: the sender), and
  `摸排` (the list) → a `WhereaboutsReport`, `WATCH_LIST`, a `Problem` or None.
- `plan(report, current, today, watch)`: what to store for a report, given the person's
  status now: a return from one of `[watch] areas` starts `observe_days` of observation,
  counted from the day of return (that day is day 1), unless the message says otherwise.
- `resolve(name, sender, scope)`: whom a name means, with the rights of the health reports (a
  person for themself, a head teacher for its class's students, a principal for the school).
- Answers: `leave_recorded`, `whereabouts_recorded`, `watch_answer` (the 摸排 list),
  `counts_line` (在外未返 N、居家观察 M、今日期满 K、请假 L), `list_lines`,
  `observation_ends_text` (the principal's private end-of-observation notice).

A status on a day comes from `WatchRow`s (one per person and status: `away`, `observing`,
`returned`, `leave`); storage/whereabouts.py builds them.
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from handlers.cn_numbers import cn_to_int
from handlers.config import Watch
from handlers.conversation import Candidate, Scope, Sender
from handlers.replies import day_label, mask

MAX_LEAVE_DAYS = 180
MAX_OBSERVE_DAYS = 60
MAX_PAST_DAYS = 30          # a leave or a return may be told this long after it began

STATUS_NAMES = {"away": "在外未返", "observing": "居家观察", "returned": "已返回",
                "released": "解除观察", "leave": "请假"}


# ------------------------------------------------------------------------------ plain data

@dataclass(frozen=True)
class Problem:
    """Something the sender must hear instead of a record (Chinese, with how to write it)."""
    message: str


@dataclass(frozen=True)
class LeaveRequest:
    name: str | None           # None: the sender
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class WhereaboutsReport:
    name: str | None           # None: the sender
    status: str                # away | returned | observing | released
    place: str | None = None   # away: where; returned: where from
    day: dt.date | None = None         # returned: the day of return; released: the day
    start: dt.date | None = None       # observing: from when, when the text says so
    until: dt.date | None = None       # observing: the last day
    days: int | None = None            # observing: how many days (居家观察14天)


@dataclass(frozen=True)
class WatchList:
    """`摸排`: the sender asks for the list of its scope."""


WATCH_LIST = WatchList()


@dataclass(frozen=True)
class Draft:
    """The whereabouts row to store."""
    status: str
    place: str | None
    start: dt.date
    end: dt.date | None = None
    returned_on: dt.date | None = None


@dataclass(frozen=True)
class WatchRow:
    """One person's one status on a day: the 摸排 list, digests, the dashboard, the export."""
    person_id: int
    name: str
    school: str | None
    class_name: str | None
    role: str
    status: str                # away | observing | returned | leave
    place: str | None
    start: dt.date | None
    end: dt.date | None
    returned_on: dt.date | None = None
    day: dt.date | None = None  # the day this row describes
    school_id: int | None = None

    @property
    def ending_today(self) -> bool:
        return self.status == "observing" and self.end is not None and self.end == self.day


# ------------------------------------------------------------------------------ reading

_PUNCT = str.maketrans({"，": ",", "；": ";", "。": ".", "：": ":", "（": "(", "）": ")",
                        "～": "~", "－": "-", "—": "-", "–": "-", "、": ","})
_BRACKETS = re.compile(r"\([^)]*\)|【[^】]*】|\[[^\]]*\]")
_CN = "零〇一二两三四五六七八九十百"
_NUM = rf"(?:\d{{1,3}}|[{_CN}]{{1,4}})"

# a date: 2020-02-05, 2020/2/5, 2020年2月5日, 2月5日, 2月5号, 2/5, 今天, 明天, 后天, 昨天, 前天
_DATE = (r"(?:(?P<y>\d{4})\s*[年/\-.]\s*)?(?P<m>\d{1,2})\s*(?:月|/|-(?=\d{1,2}(?!\d)))\s*(?P<d>\d{1,2})\s*[日号]?"
         r"|(?P<rel>今天|今日|明天|明日|后天|昨天|昨日|前天|大后天)")
_DATE_RE = re.compile(_DATE)
_RELATIVE = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3, "昨天": -1,
             "昨日": -1, "前天": -2}
_TO = r"(?:至|到|~|-|—|直到|一直到)"
# a range: 12月3日至5日, 12月3日至12月5日, 2020-12-03至2020-12-05
_RANGE_RE = re.compile(rf"(?P<a>{_DATE.replace('?P<', '?P<a_')})\s*{_TO}\s*"
                       rf"(?:(?P<b>{_DATE.replace('?P<', '?P<b_')})|(?P<bd>\d{{1,2}})\s*[日号])")
_UNTIL_RE = re.compile(rf"(?:至|到|直到|一直到|截至|截止到?)\s*(?P<u>{_DATE.replace('?P<', '?P<u_')})"
                       r"\s*(?:为止|止)?")
_DAYS_RE = re.compile(rf"(?<![\d月])(?P<n>{_NUM})\s*(?:天|日(?![期]))(?!\d)")
_SPACES = re.compile(r"[\s,.;:!?！？~\-]+")
_LEADING = re.compile(r"^(?:我|本人|自己|帮|替|给|为|学生|老师|同学)")
_TRAILING = re.compile(r"(?:要|想|需要|申请|了|一下|起|开始|从|自|于|将|因事|因病|有事|今年|目前|现在|"
                       r"暂时|已经|已|还|仍然|仍|尚|请|的)$")
_SELF = {"我", "本人", "自己", "老师", "同学", "学生", ""}
_NAME_RE = re.compile(r"[\u4e00-\u9fff]{2,6}|[\u4e00-\u9fff]{1,6}·[\u4e00-\u9fff]{1,8}")
_NOT_NAMES = {"体温", "本人", "今天", "明天", "后天", "昨天", "早上", "晨检", "学生", "老师",
              "正常", "全体", "家里", "家中", "在家", "居家", "病假", "事假", "请假", "休假",
              "观察", "隔离", "返回", "外地", "外出", "全班", "大家", "所有人"}
_RELATION = re.compile(r"(妈妈|爸爸|家长|母亲|父亲|奶奶|爷爷|外婆|外公)$")


def normalize(text: str) -> str:
    t = unicodedata.normalize("NFKC", text or "").translate(_PUNCT)
    t = _BRACKETS.sub(" ", t)
    return re.sub(r"\s+", " ", t).strip()


def resolve_date(m: re.Match, today: dt.date, prefix: str = "") -> dt.date | Problem:
    g = m.groupdict()
    rel = g.get(prefix + "rel")
    if rel:
        return today + dt.timedelta(days=_RELATIVE[rel])
    month, day = int(g[prefix + "m"]), int(g[prefix + "d"])
    year = g.get(prefix + "y")
    if year:
        try:
            return dt.date(int(year), month, day)
        except ValueError:
            return Problem(f"日期“{m.group(0).strip()}”不存在，请核对")
    return nearest_date(month, day, today, m.group(0).strip())


def nearest_date(month: int, day: int, today: dt.date, written: str = "") -> dt.date | Problem:
    """A month-day without a year: the one of last, this or next year closest to today."""
    best = None
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            d = dt.date(year, month, day)
        except ValueError:
            continue
        if best is None or abs((d - today).days) < abs((best - today).days):
            best = d
    if best is None:
        return Problem(f"日期“{written or f'{month}月{day}日'}”不存在，请核对")
    return best


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else cn_to_int(text)


def _name_in(rest: str) -> str | None | Problem:
    """The name left in `rest` once dates are gone: None for the sender.

    Words around a name (我, 帮, 要, 了, 已, 目前 …) are dropped from its ends, never from
    inside it (张老师 stays 张老师), and never below two characters.
    """
    rest = _SPACES.sub("", rest)
    while True:
        before = rest
        for edge in (_LEADING, _TRAILING):
            m = edge.search(rest)
            if m and (len(rest) - len(m.group(0)) >= 2 or rest == m.group(0)):
                rest = rest[:m.start()] + rest[m.end():]
        if rest == before:
            break
    if rest in _SELF or rest in _NOT_NAMES:
        return None
    rest = _RELATION.sub("", rest) if len(_RELATION.sub("", rest)) >= 2 else rest
    if _NAME_RE.fullmatch(rest):
        return rest
    return Problem(f"没看懂“{rest}”是谁。请写姓名，例如：李明 请假至12月5日")


# ---- leave

_LEAVE_WORD = re.compile(r"请\s*(?:病|事)?\s*假|休假|病假|事假")
_LEAVE_DAYS_BEFORE = re.compile(rf"请\s*(?P<n>{_NUM})\s*天\s*(?:病|事)?\s*假")


def read_leave(text: str, today: dt.date) -> LeaveRequest | Problem | None:
    """A leave: a day (`请假`, `明天请假`, `2月5日请假`), a range (`12月3日至5日请假`), until a
    date (`请假至12月5日`) or a number of days (`请假3天`, `明天起请假3天`)."""
    t = normalize(text)
    t = _LEAVE_DAYS_BEFORE.sub(lambda m: f"请假{m.group('n')}天", t)      # 请3天假 → 请假3天
    word = _LEAVE_WORD.search(t)
    if word is None:
        return None
    before, after = t[:word.start()], t[word.end():]
    # a reason after the leave (请假，家里有事) is no part of the reading
    after = re.split(r"[,;.!?]", after, maxsplit=1)[0]
    whole = before + " " + after

    start = end = None
    rng = _RANGE_RE.search(whole)
    if rng:
        a = resolve_date(rng, today, "a_")
        if isinstance(a, Problem):
            return a
        if rng.group("b"):
            b = resolve_date(rng, today, "b_")
        else:
            try:
                b = a.replace(day=int(rng.group("bd")))
            except ValueError:
                b = Problem(f"日期“{rng.group(0)}”不存在，请核对")
        if isinstance(b, Problem):
            return b
        start, end = a, b
        whole = whole[:rng.start()] + " " + whole[rng.end():]
    until = _UNTIL_RE.search(whole) if end is None else None
    if until:
        u = resolve_date(until, today, "u_")
        if isinstance(u, Problem):
            return u
        end = u
        whole = whole[:until.start()] + " " + whole[until.end():]
    days = None
    if end is None:
        dm = _DAYS_RE.search(whole)
        if dm:
            days = _number(dm.group("n"))
            whole = whole[:dm.start()] + " " + whole[dm.end():]
            if not days or days > MAX_LEAVE_DAYS:
                return Problem(f"请假天数不对（{dm.group(0)}），请写1到{MAX_LEAVE_DAYS}天")
    if start is None:
        found = list(_DATE_RE.finditer(whole))
        for m in found:
            d = resolve_date(m, today)
            if isinstance(d, Problem):
                return d
            start = start or d
        for m in reversed(found):
            whole = whole[:m.start()] + " " + whole[m.end():]
    if start is None:
        start = today
    if end is None:
        end = start + dt.timedelta(days=(days or 1) - 1)

    name = _name_in(whole)
    if isinstance(name, Problem):
        return name
    if end < start:
        if end < today:
            return Problem(f"{day_label(end)}已经过去了，请写明请假到哪一天，例如：请假至"
                           f"{day_label(today + dt.timedelta(days=2))}")
        return Problem(f"请假的结束日期{day_label(end)}早于开始日期{day_label(start)}，请核对")
    if (today - start).days > MAX_PAST_DAYS:
        return Problem(f"{day_label(start)}已过去{MAX_PAST_DAYS}天以上，不能再登记请假")
    if (end - start).days + 1 > MAX_LEAVE_DAYS:
        return Problem(f"请假时间太长（{(end - start).days + 1}天），一次最多登记{MAX_LEAVE_DAYS}天")
    return LeaveRequest(name, start, end)


# ---- whereabouts

_LIST_RE = re.compile(r"^(?:查看?|看看|今天|今日)?(?:人员)?(?:摸排|摸底)(?:情况|名单|表|统计|汇总|结果)?"
                      r"$|^(?:居家)?(?:观察|隔离)名单$|^(?:在外|外地)(?:人员|未返)?名单$")
_RELEASE_RE = re.compile(r"解除\s*(?:居家)?\s*(?:医学)?\s*(?:观察|隔离)|(?:居家)?(?:观察|隔离)\s*(?:期满|结束)"
                         r"|结束\s*(?:居家)?\s*(?:观察|隔离)")
_OBSERVE_RE = re.compile(r"(?:居家|在家)\s*(?:医学)?\s*(?:观察|隔离)")
_RETURN_RE = re.compile(r"(?:从|由|自)\s*(?P<place>[\u4e00-\u9fffA-Za-z]{1,20}?)\s*"
                        r"(?:返回|返校|返岗|返|回来|回到|回|归来|来)"
                        r"|(?<![未没不暂])(?P<back>已?返回|已?返校|已?返岗|已回来|已回)")
_AWAY_RE = re.compile(r"(?:仍|还|目前|现在|现|尚|暂)?\s*(?:滞留在?|留在|困在|在)\s*"
                      r"(?P<place>[\u4e00-\u9fffA-Za-z]{1,20}?)[\s,]*"
                      r"(?P<not>暂未返回|暂未返|未返回|未返校|未返岗|未返|未回来|未回|没回来|没有回来|"
                      r"没返回|没有返回|没回|$)")


_HOME = {"家", "家里", "家中", "学校", "校", "本地", "本市", "单位"}


def read_whereabouts(text: str, today: dt.date
                     ) -> WhereaboutsReport | WatchList | Problem | None:
    t = normalize(text)
    compact = t.replace(" ", "")
    if _LIST_RE.search(compact):
        return WATCH_LIST

    release = _RELEASE_RE.search(t)
    if release:
        before = t[:release.start()]
        day, before = _take_date(before, today)
        if day is None:
            day, _after = _take_date(re.split(r"[,;.!?]", t[release.end():])[0], today)
        if isinstance(day, Problem):
            return day
        name = _name_in(before)
        if isinstance(name, Problem):
            return name
        return WhereaboutsReport(name, "released", day=day or today)

    observe = _OBSERVE_RE.search(t)
    ret = _RETURN_RE.search(t[:observe.start()] if observe else t)
    if ret:
        place = ret.group("place")
        before = t[:ret.start()]
        day, before = _take_date(before, today)
        if day is None:
            day, _after = _take_date(t[ret.end():observe.start() if observe else None], today)
        if isinstance(day, Problem):
            return day
        day = day or today
        name = _name_in(before)
        if isinstance(name, Problem):
            return name
        if day > today:
            return Problem(f"返回日期{day_label(day)}晚于今天，请在返回后再登记")
        obs = None
        if observe:
            obs = _observation_terms(t[observe.end():], today)
            if isinstance(obs, Problem):
                return obs
        return WhereaboutsReport(name, "returned", place=place, day=day,
                                 until=obs[0] if obs else None, days=obs[1] if obs else None,
                                 start=day if observe else None)

    if observe:
        before, after = t[:observe.start()], t[observe.end():]
        start, before = _take_date(before, today)
        if isinstance(start, Problem):
            return start
        name = _name_in(before)
        if isinstance(name, Problem):
            return name
        terms = _observation_terms(after, today)
        if isinstance(terms, Problem):
            return terms
        until, days = terms
        return WhereaboutsReport(name, "observing", start=start, until=until, days=days)

    away = _AWAY_RE.search(t)
    if away and (away.group("not") or re.search(r"滞留|留在|困在|^(?:仍|还|目前|现在|现|尚|暂)",
                                                 away.group(0))) and away.group("place") not in _HOME:
        place = away.group("place")
        before = t[:away.start()]
        since, before = _take_date(before, today)
        if isinstance(since, Problem):
            return since
        name = _name_in(before)
        if isinstance(name, Problem):
            return name
        if place in _NOT_NAMES or place in ("外地", "外面", "老家", "家"):
            place = None if place in ("外地", "外面") else place
        return WhereaboutsReport(name, "away", place=place, day=since)
    return None


def _take_date(text: str, today: dt.date) -> tuple[dt.date | None | Problem, str]:
    m = _DATE_RE.search(text)
    if not m:
        return None, text
    return resolve_date(m, today), text[:m.start()] + " " + text[m.end():]


def _observation_terms(after: str, today: dt.date
                       ) -> tuple[dt.date | None, int | None] | Problem:
    until = _UNTIL_RE.search(after)
    if until:
        u = resolve_date(until, today, "u_")
        if isinstance(u, Problem):
            return u
        return u, None
    dm = _DAYS_RE.search(after)
    if dm:
        n = _number(dm.group("n"))
        if not n or n > MAX_OBSERVE_DAYS:
            return Problem(f"观察天数不对（{dm.group(0)}），请写1到{MAX_OBSERVE_DAYS}天")
        return None, n
    return None, None


# ------------------------------------------------------------------------------ rules

def is_watched_area(place: str | None, areas: Iterable[str]) -> bool:
    """武汉 / 武汉市 / 湖北省武汉市 are all of the area 武汉 (and 湖北 of 湖北省)."""
    if not place:
        return False
    p = _bare(place)
    for area in areas:
        a = _bare(area)
        if a and (a in p or p in a):
            return True
    return False


def _bare(place: str) -> str:
    return re.sub(r"(省|市|自治区|地区|县|区)$", "", place.strip())


def plan(report: WhereaboutsReport, current: WatchRow | None, today: dt.date,
         watch: Watch) -> Draft | Problem:
    """The row to store for `report`, given the person's status today (`current`)."""
    days = watch.observe_days
    if report.status == "away":
        return Draft("away", report.place, report.day or today)
    if report.status == "released":
        if current is None or current.status != "observing":
            return Problem("目前不在居家观察名单中，无需解除")
        return Draft("released", current.place, report.day or today)
    if report.status == "returned":
        day = report.day or today
        if report.until or report.days:
            end = report.until or day + dt.timedelta(days=report.days - 1)
        elif is_watched_area(report.place, watch.areas):
            end = day + dt.timedelta(days=days - 1)
        else:
            return Draft("returned", report.place, day)
        if end < day:
            return Problem(f"观察结束日期{day_label(end)}早于返回日期{day_label(day)}，请核对")
        return Draft("observing", report.place, day, end, returned_on=day)
    # observing
    observing_now = current is not None and current.status == "observing"
    start = report.start or (current.start if observing_now else today)
    place = current.place if current is not None and current.status in ("observing", "returned", "away") else None
    returned_on = current.returned_on if observing_now else (
        current.start if current is not None and current.status == "returned" else None)
    if report.until:
        end = report.until
    else:
        end = start + dt.timedelta(days=(report.days or days) - 1)
    if end < today:
        return Problem(f"{day_label(end)}已经过去了，请写明观察到哪一天，例如：居家观察至"
                       f"{day_label(today + dt.timedelta(days=days - 1))}")
    if end < start:
        return Problem(f"观察结束日期{day_label(end)}早于开始日期{day_label(start)}，请核对")
    if (end - start).days + 1 > MAX_OBSERVE_DAYS:
        return Problem(f"观察时间太长（{(end - start).days + 1}天），最多{MAX_OBSERVE_DAYS}天")
    return Draft("observing", place, start, end, returned_on=returned_on)


# ------------------------------------------------------------------------------ rights

def resolve(name: str | None, sender: Sender, scope: Scope) -> Candidate | Problem:
    """The person a leave or whereabouts message is about, if the sender may speak for them."""
    if sender.role == "bureau":
        return Problem("教育局账号不登记请假和去向，请由学校（校长或班主任）登记。")
    if name is None or name == sender.name:
        return Candidate(sender.person_id, sender.name, sender.class_name, sender.role)
    if name in scope.reportable:
        return scope.reportable[name]
    if sender.role not in ("head_teacher", "principal"):
        return Problem(f"您只能登记本人的请假和去向，“{name}”请由其班主任或校长登记")
    elsewhere = scope.school_people.get(name)
    if elsewhere and sender.role == "principal":
        where = "、".join(sorted(c.class_name or "教职工" for c in elsewhere))
        return Problem(f"名单中有{len(elsewhere)}个“{name}”（{where}），请由其班主任登记")
    if elsewhere:
        where = "、".join(sorted({c.class_name or "教职工" for c in elsewhere}))
        return Problem(f"“{name}”不是您班的学生（{where}），请由该班班主任或校长登记")
    near = difflib.get_close_matches(name, list(scope.reportable), n=3, cutoff=0.3)
    if near:
        return Problem(f"未找到“{name}”，是否为：{'、'.join(near)}？")
    where = sender.class_name if sender.role == "head_teacher" else sender.school
    return Problem(f"未找到“{name}”，{where or ''}名单里没有这个名字，请核对或联系学校管理员")


# ------------------------------------------------------------------------------ answers

def who(row_or_candidate) -> str:
    """三年级2班 for a student, 教职工 for staff."""
    if getattr(row_or_candidate, "role", "") == "student":
        return getattr(row_or_candidate, "class_name", None) or "学生"
    return "教职工"


def _span(start: dt.date, end: dt.date) -> str:
    if start == end:
        return day_label(start)
    return f"{day_label(start)}至{day_label(end)}"


def leave_recorded(target: Candidate, is_sender: bool, leave: LeaveRequest,
                   already: bool = False) -> str:
    who_text = "您" if is_sender else f"{target.name}（{who(target)}）"
    head = "已登记过" if already else "已记录"
    tail = ("请假期间不会提醒您报体温；如当天仍报了体温，照常记录。" if is_sender else
            "请假期间不提醒、不计入未报；如当天仍报了体温，照常记录。")
    return f"{head}：{who_text} {_span(leave.start, leave.end)} 请假（{leave.days}天）。{tail}"


def leave_recorded_in_group(target: Candidate) -> str:
    return f"已记录{mask(target.name)}的请假，详情已私信。"


def describe(draft: Draft | WatchRow) -> str:
    """在湖北未返（自2月4日） · 2月1日从武汉返回，居家观察至2月14日 · 解除观察（2月10日）."""
    status = draft.status
    place = draft.place
    if status == "away":
        return f"{'在' + place if place else '在外'}未返（{day_label(draft.start)}登记）"
    if status == "returned":
        return f"{day_label(draft.start)}{'从' + place if place else ''}返回"
    if status == "released":
        return f"{day_label(draft.start)}解除居家观察"
    if status == "leave":
        return f"请假 {_span(draft.start, draft.end)}"
    text = f"居家观察至{day_label(draft.end)}"
    if draft.returned_on:
        text = f"{day_label(draft.returned_on)}{'从' + place if place else ''}返回，" + text
    else:
        text = f"{day_label(draft.start)}起" + text
    return text


def whereabouts_recorded(target: Candidate, is_sender: bool, draft: Draft, today: dt.date,
                         watch: Watch) -> str:
    who_text = "您" if is_sender else f"{target.name}（{who(target)}）"
    text = f"已记录：{who_text} {describe(draft)}"
    if draft.status == "observing":
        total = (draft.end - draft.start).days + 1
        auto = draft.returned_on is not None and is_watched_area(draft.place, watch.areas)
        if auto and total == watch.observe_days:
            text += f"（{draft.place}为重点地区，自返回之日起观察{total}天）"
        else:
            text += f"（共{total}天）"
        return text + "。观察期间请每天照常报告体温，最后一天会提醒校长。"
    if draft.status == "released":
        return text + "，不再列入观察名单。"
    if draft.status == "returned":
        return text + "。"
    return text + "。返回后请发送“" + ("" if is_sender else target.name + " ") + "X月X日从某地返回”。"


def whereabouts_recorded_in_group(target: Candidate) -> str:
    return f"已记录{mask(target.name)}的去向，详情已私信。"


def counts_line(counts: dict) -> str:
    """在外未返 N、居家观察 M、今日期满 K、请假 L (the digests' and answers' line)."""
    return (f"在外未返 {counts.get('away', 0)}、居家观察 {counts.get('observing', 0)}、"
            f"今日期满 {counts.get('ending_today', 0)}、请假 {counts.get('on_leave', 0)}")


def count_rows(rows: Iterable[WatchRow]) -> dict:
    """away / observing (today's last day included) / ending_today / on_leave / returned."""
    out = {"away": 0, "observing": 0, "ending_today": 0, "on_leave": 0, "returned": 0}
    for r in rows:
        if r.status == "away":
            out["away"] += 1
        elif r.status == "observing":
            out["observing"] += 1
            out["ending_today"] += r.ending_today
        elif r.status == "leave":
            out["on_leave"] += 1
        elif r.status == "returned":
            out["returned"] += 1
    return out


SECTIONS = (("away", "在外未返"), ("observing", "居家观察"), ("returned", "近期返回"),
            ("leave", "请假"))


def row_text(row: WatchRow, *, with_school: bool = False) -> str:
    where = f"{row.school} " if with_school and row.school else ""
    if row.status == "away":
        detail = f"{row.place or '外地'}，{day_label(row.start)}登记"
    elif row.status == "observing":
        detail = f"至{day_label(row.end)}" + ("（今日期满）" if row.ending_today else "")
        if row.returned_on:
            detail += f"，{day_label(row.returned_on)}{'从' + row.place if row.place else ''}返回"
    elif row.status == "returned":
        detail = f"{day_label(row.start)}{'从' + row.place if row.place else ''}返回"
    else:
        detail = _span(row.start, row.end)
    return f"· {row.name}（{where}{who(row)}）{detail}"


def list_lines(rows: Iterable[WatchRow], *, with_school: bool = False) -> list[str]:
    """The names, section by section (private answers and the principal's digest)."""
    rows = list(rows)
    lines: list[str] = []
    for status, title in SECTIONS:
        part = [r for r in rows if r.status == status]
        if not part:
            continue
        lines.append(f"{title}（{len(part)}人）：")
        lines += [row_text(r, with_school=with_school) for r in part]
    return lines


def watch_title(scope_name: str, day: dt.date) -> str:
    return f"{scope_name} {day_label(day)} 人员摸排"


def watch_answer(scope_name: str, day: dt.date, rows: list[WatchRow], *,
                 with_school: bool = False, per_school: list[tuple[str, dict]] | None = None,
                 own: WatchRow | None = None, names: bool = True) -> list[str]:
    """The 摸排 answer as lines: the counts, then (with `names`) the list.

    `per_school`: a bureau person's counts school by school. `own`: a teacher's own status.
    """
    lines = [f"{watch_title(scope_name, day)}：{counts_line(count_rows(rows))}"]
    for school, counts in per_school or []:
        lines.append(f"· {school}：{counts_line(counts)}")
    if names:
        listed = list_lines(rows, with_school=with_school)
        if listed:
            lines += listed
        elif not per_school:
            lines.append("暂无在外未返、居家观察或请假的人员。")
    return lines


def own_status_line(rows: list[WatchRow]) -> str:
    if not rows:
        return "您本人：无请假、在外或观察登记。"
    return "您本人：" + "；".join(describe(r) for r in rows) + "。"


def group_answer(counts_text: str, has_names: bool) -> str:
    return counts_text + ("\n名单详情已私信。" if has_names else "")


def observation_ends_text(row: WatchRow, day: dt.date) -> str:
    """The principal's private notice on the last day of someone's observation."""
    when = "今日" if row.end == day else day_label(row.end)
    began = (f"{day_label(row.returned_on)}{'从' + row.place if row.place else ''}返回"
             if row.returned_on else f"{day_label(row.start)}起")
    total = (row.end - row.start).days + 1 if row.start else None
    return (f"【居家观察期满】{row.school or ''} {who(row)} {row.name}："
            f"居家观察{when}期满（{began}{f'，共{total}天' if total else ''}）。"
            f"{day_label(row.end + dt.timedelta(days=1))}起不再列入观察名单；如需延长，请发送"
            f"“{row.name} 居家观察至X月X日”。")


def observation_missed_lines(rows: Iterable[WatchRow]) -> list[str]:
    """For escalation: people under observation who have not reported."""
    return [f"· {r.name}（{who(r)}）居家观察至{day_label(r.end)}，今天未报体温" for r in rows]


# ------------------------------------------------------------------------------ sheets

IMPORT_STATUS = {
    "在外未返": "away", "在外": "away", "未返": "away", "滞留": "away", "away": "away",
    "已返回": "returned", "返回": "returned", "返回本地": "returned", "returned": "returned",
    "居家观察": "observing", "观察": "observing", "居家隔离": "observing",
    "observing": "observing",
    "解除观察": "released", "解除": "released", "解除隔离": "released", "released": "released",
    "请假": "leave", "病假": "leave", "事假": "leave", "leave": "leave",
}
SHEET_HEADER = ("日期", "学校", "班级", "姓名", "状态", "地点", "开始", "结束", "返回日期")


def sheet_draft(status_word: str, place: str | None, start: dt.date | None,
                end: dt.date | None, today: dt.date, watch: Watch) -> Draft | LeaveRequest | str:
    """One row of `watch import`: what to store, or the problem (English, for the operator)."""
    status = IMPORT_STATUS.get((status_word or "").strip().lower())
    if status is None:
        return (f"状态 {status_word!r} is not one of 在外未返, 已返回, 居家观察, 解除观察, 请假")
    if end is not None and start is not None and end < start:
        return f"结束 {end} is before 开始 {start}"
    if status == "leave":
        if start is None:
            return "开始 is empty (a leave needs its first day)"
        end = end or start
        if (end - start).days + 1 > MAX_LEAVE_DAYS:
            return f"a leave of {(end - start).days + 1} days is longer than {MAX_LEAVE_DAYS}"
        return LeaveRequest(None, start, end)
    if status == "away":
        return Draft("away", place, start or today)
    if status == "released":
        return Draft("released", place, start or today)
    if start is None:
        return f"开始 is empty (a {status_word} row needs the day it began)"
    if status == "returned":
        if end is None and not is_watched_area(place, watch.areas):
            return Draft("returned", place, start)
        end = end or start + dt.timedelta(days=watch.observe_days - 1)
        return Draft("observing", place, start, end, returned_on=start)
    end = end or start + dt.timedelta(days=watch.observe_days - 1)
    if (end - start).days + 1 > MAX_OBSERVE_DAYS:
        return f"an observation of {(end - start).days + 1} days is longer than {MAX_OBSERVE_DAYS}"
    return Draft("observing", place, start, end)


def sheet_row(row: WatchRow) -> tuple:
    return (row.day.isoformat() if row.day else "", row.school or "", row.class_name or "",
            row.name, STATUS_NAMES.get(row.status, row.status)
            + ("（今日期满）" if row.ending_today else ""),
            row.place or "", row.start.isoformat() if row.start else "",
            row.end.isoformat() if row.end else "",
            row.returned_on.isoformat() if row.returned_on else "")
