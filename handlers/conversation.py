"""Who may report what: a parse result and the sender's rights in, a decision out.

Plain data only. `bot.inbox` gathers the sender and the names they may report for, calls
`decide`, stores what the decision says and sends its reply.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field

from handlers import replies
from handlers.parser import ClassSummary, ParseResult

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


def decide(result: ParseResult, sender: Sender, scope: Scope, *, addressed: bool = True,
           in_group: bool = False) -> Decision:
    """What to do with one parsed message from a known sender.

    `addressed`: the message was meant for the bot (always in private chat; in a group, only
    when the bot was @-mentioned). Chatter that is not addressed gets no answer at all.
    `in_group`: the answer is seen by the whole group, so it names no one else.
    """
    if result.kind == "command":
        return Decision("command", None, command=result.command)
    if result.kind == "unrecognized":
        return Decision("ignored", replies.hint() if addressed else None)
    if result.kind == "invalid":
        return Decision("refused", replies.refusal(result.errors), day=result.date)

    if sender.role == "bureau":
        return Decision("not_allowed", replies.bureau_reports_nothing())
    if sender.role not in REPORTING_ROLES:
        return Decision("not_allowed", replies.cannot_report())

    records: list[RecordDraft] = []
    problems: list[str] = []
    for reading in result.people:
        if reading.name is None or reading.name == sender.name:
            records.append(RecordDraft(sender.person_id, sender.name, True, reading.temperature,
                                       tuple(reading.symptoms), reading.abnormal))
            continue
        target, problem = _resolve(reading.name, sender, scope)
        if problem:
            problems.append(problem)
        else:
            records.append(RecordDraft(target.person_id, target.name, False, reading.temperature,
                                       tuple(reading.symptoms), reading.abnormal))

    class_draft = None
    if result.class_summary is not None:
        class_draft, problem = _resolve_class(result.class_summary, sender, scope)
        if problem:
            problems.append(problem)

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


def _resolve(name: str, sender: Sender, scope: Scope) -> tuple[Candidate | None, str | None]:
    if name in scope.reportable:
        return scope.reportable[name], None
    if sender.role == "teacher":
        return None, f"您只能报告本人的体温，“{name}”请由其班主任报告"
    elsewhere = scope.school_people.get(name)
    if elsewhere:
        where = "、".join(sorted({c.class_name or "教职工" for c in elsewhere}))
        return None, f"“{name}”不是您班的学生（{where}），请由该班班主任报告"
    near = difflib.get_close_matches(name, list(scope.reportable), n=3, cutoff=0.3)
    if near:
        return None, f"未找到学生“{name}”，是否为：{'、'.join(near)}？"
    where = sender.class_name or sender.school or ""
    return None, f"未找到学生“{name}”，{where}名单里没有这个名字，请核对或联系学校管理员"


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
    if not a or not b:
        return False
    return _norm_class(a) == _norm_class(b)


_CN_DIGITS = str.maketrans("一二三四五六七八九", "123456789")


def _norm_class(name: str) -> str:
    n = name.replace(" ", "").replace("（", "(").replace("）", ")").translate(_CN_DIGITS)
    n = n.replace("(", "").replace(")", "").replace("年级", "年").replace("班", "")
    return n
