"""Who may report what: a parse result and the sender's rights in, a decision out.

Plain data only. `bot.inbox` gathers the sender and the names they may report for, calls
`decide`, stores what the decision says and sends its reply.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field

from handlers import replies
from handlers.names import canonical_class, clean_name
from handlers.parser import ClassSummary, ParseResult, looks_like_report

REPORTING_ROLES = ("teacher", "head_teacher", "principal")


@dataclass(frozen=True)
class Sender:
    person_id: int
    userid: str
    name: str
    role: str
    school: str | None = None
    class_name: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A person the sender might mean by a name."""
    person_id: int
    name: str
    class_name: str | None
    role: str


@dataclass(frozen=True)
class Scope:
    """Names the sender may report for, and every name in their school (for suggestions)."""
    reportable: dict[str, Candidate] = field(default_factory=dict)
    school_people: dict[str, list[Candidate]] = field(default_factory=dict)
    school_classes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecordDraft:
    person_id: int
    name: str                 # as shown in the reply
    is_sender: bool
    temperature: float | None
    symptoms: tuple[str, ...]
    abnormal: bool
    absent: bool = False      # a child named as absent for illness (the follow-up list)


@dataclass(frozen=True)
class ClassDraft:
    class_name: str
    summary: ClassSummary


@dataclass(frozen=True)
class Decision:
    outcome: str                          # recorded | refused | command | ignored | not_allowed
    reply: str | None
    day: dt.date | None = None
    session: str | None = None
    records: tuple[RecordDraft, ...] = ()
    class_report: ClassDraft | None = None
    command: str | None = None
    # A numbered list or 接龙 is recorded line by line: what could not be, and who is missing.
    listed: bool = False
    unread: tuple[str, ...] = ()          # lines not understood: "7. 王小明 没测"
    problems: tuple[str, ...] = ()        # names not recorded, and why
    missing: tuple[str, ...] = ()         # students of the class the list leaves out


def decide(result: ParseResult, sender: Sender, scope: Scope, *, addressed: bool = True,
           in_group: bool = False, text: str = "") -> Decision:
    """What to do with one parsed message from a known sender.

    `addressed`: the message was meant for the bot (always in private chat; in a group, only
    when the bot was @-mentioned). Chatter gets no answer, except that in a private chat a
    message that looks like a failed report (`text` has a number or a health word) gets a hint.
    `in_group`: the answer is seen by the whole group, so it names no one else.
    A numbered list (接龙) is recorded line by line: a name that cannot be recorded is named in
    the reply and the other lines are recorded; for a head teacher's list of most of the class,
    the students it leaves out are named (`missing`).
    """
    if result.kind == "command":
        return Decision("command", None, command=result.command)
    if result.kind == "unrecognized":
        hint = addressed and not in_group and looks_like_report(text)
        return Decision("ignored", replies.hint() if hint else None)
    if result.kind == "invalid":
        return Decision("refused", replies.refusal(result.errors), day=result.date)

    if sender.role == "bureau":
        return Decision("not_allowed", replies.bureau_reports_nothing())
    if sender.role not in REPORTING_ROLES:
        return Decision("not_allowed", replies.cannot_report())

    records: list[RecordDraft] = []
    problems: list[str] = []
    own_name = clean_name(sender.name)
    absentees = set(result.class_summary.absentees) if result.class_summary is not None else set()
    for reading in result.people:
        if reading.name is None or clean_name(reading.name) == own_name:
            records.append(RecordDraft(sender.person_id, sender.name, True, reading.temperature,
                                       tuple(reading.symptoms), reading.abnormal))
            continue
        target, problem = _resolve(clean_name(reading.name), sender, scope)
        if problem:
            problems.append(problem)
        else:
            records.append(RecordDraft(target.person_id, target.name, False, reading.temperature,
                                       tuple(reading.symptoms), reading.abnormal,
                                       absent=reading.name in absentees))

    class_draft = None
    if result.class_summary is not None:
        class_draft, problem = _resolve_class(result.class_summary, sender, scope)
        if problem:
            problems.append(problem)

    if result.listed:
        return _decide_list(result, sender, scope, records, problems, in_group)
    if problems:
        if in_group and any(r for r in result.people if r.name and r.name != sender.name):
            return Decision("refused", replies.not_recorded_in_group(), day=result.date)
        return Decision("refused", replies.not_recorded(problems), day=result.date)
    seen = set()
    for r in records:
        if r.person_id in seen:
            return Decision("refused", replies.not_recorded(
                [f"“{r.name}”在同一条消息里出现了两次，请每人只写一次"]), day=result.date)
        seen.add(r.person_id)
    return Decision("recorded", None, day=result.date, session=result.session,
                    records=tuple(records), class_report=class_draft)


def _decide_list(result: ParseResult, sender: Sender, scope: Scope, records: list[RecordDraft],
                 problems: list[str], in_group: bool) -> Decision:
    """A list is recorded line by line: one person once (the last line for them counts)."""
    by_person: dict[int, RecordDraft] = {}
    for r in records:
        by_person[r.person_id] = r
    records = list(by_person.values())
    missing: tuple[str, ...] = ()
    if sender.role == "head_teacher":
        students = [c for c in scope.reportable.values() if c.role == "student"]
        listed = {r.person_id for r in records}
        if students and 2 * len(listed & {c.person_id for c in students}) >= len(students):
            missing = tuple(c.name for c in students if c.person_id not in listed)
    if not records:
        if in_group and problems:
            return Decision("refused", replies.not_recorded_in_group(), day=result.date)
        lines = list(problems) + [f"第{u}没看懂" for u in result.unread]
        return Decision("refused", replies.not_recorded(lines or ["没有可记录的内容"]), day=result.date)
    return Decision("recorded", None, day=result.date, session=result.session,
                    records=tuple(records), listed=True, unread=result.unread,
                    problems=tuple(problems), missing=missing)


def _resolve(name: str, sender: Sender, scope: Scope) -> tuple[Candidate | None, str | None]:
    if name in scope.reportable:
        return scope.reportable[name], None
    if sender.role == "teacher":
        if name in scope.school_people:
            return None, f"您只能报告本人的体温，“{name}”请由其班主任报告"
        return None, (f"名单里没有“{name}”，未记录。您只能报告本人的体温，"
                      "请直接发数字，例如：36.5")
    elsewhere = scope.school_people.get(name)
    if elsewhere:
        where = "、".join(sorted({c.class_name or "教职工" for c in elsewhere}))
        return None, f"“{name}”不是您班的学生（{where}），请由该班班主任报告"
    near = near_names(name, list(scope.reportable))
    if near:
        return None, f"未找到学生“{name}”，是否为：{'、'.join(near)}？"
    where = sender.class_name or sender.school or ""
    return None, f"未找到学生“{name}”，{where}名单里没有这个名字，请核对或联系学校管理员"


def near_names(name: str, known: list[str], n: int = 3) -> list[str]:
    """Roster names the teacher may have meant: the same pinyin (李思 for 李四, 张珊 for 张姗),
    then one character off (张山 for 张三)."""
    same_sound = []
    if len(known) <= 5000:
        from pypinyin import lazy_pinyin     # a big table: loaded on the first near miss only
        sound = lazy_pinyin(name)
        same_sound = [k for k in known if k != name and len(k) == len(name) and lazy_pinyin(k) == sound]
    close = difflib.get_close_matches(name, known, n=n, cutoff=0.3)
    return list(dict.fromkeys(same_sound + close))[:n]


def _resolve_class(summary: ClassSummary, sender: Sender, scope: Scope
                   ) -> tuple[ClassDraft | None, str | None]:
    name = summary.name
    if sender.role == "head_teacher":
        if name and not _same_class(name, sender.class_name):
            return None, f"您是{sender.class_name}的班主任，不能报告{name}的班级情况"
        return ClassDraft(sender.class_name, summary), None
    if sender.role == "principal":
        if not name:
            return None, "请写明班级，例如：三年级2班 应到45 实到44"
        match = next((c for c in scope.school_classes if _same_class(name, c)), None)
        if match is None:
            return None, f"本校没有“{name}”，请核对班级名称"
        return ClassDraft(match, summary), None
    return None, "班级情况由班主任报告；您只需报告本人的体温"


def _same_class(a: str | None, b: str | None) -> bool:
    """One class however its brackets are written (三年级（2）班 / 三年级(2)班 / 三年级2班), and
    however short (三年2班, 3年级2班)."""
    if not a or not b:
        return False
    return _norm_class(a) == _norm_class(b)


_CN_DIGITS = str.maketrans("一二三四五六七八九", "123456789")


def _norm_class(name: str) -> str:
    n = canonical_class(name).translate(_CN_DIGITS)
    return n.replace("(", "").replace(")", "").replace("年级", "年").replace("班", "")
