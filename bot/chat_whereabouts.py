"""Chat for leave (请假) and whereabouts (人员摸排): the `leave` and `whereabouts` topics.

Rights follow the health reports (`handlers.whereabouts.resolve`): a person for themself, a
head teacher for its class's students, a principal for the whole school; a bureau person
registers nobody but asks `摸排` for the district. In a group the answer names nobody's
whereabouts but the sender's own: someone else's leave or whereabouts, and the 摸排 names,
go to the sender privately through the outbox (in this message's transaction), and the group
hears the counts and `详情已私信`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import whereabouts as wb
from handlers.conversation import Sender
from handlers.digest import split_lines
from handlers.outgoing import Outgoing
from handlers.replies import mask
from storage import whereabouts as store
from storage.outbox_queue import enqueue
from storage.scope import load_scope

if TYPE_CHECKING:                      # bot.topics imports this module
    from bot.topic_context import TopicContext

PERSON_TEXT_LIMIT = 2048               # bytes of a private text message (and a passive reply)
_HINT = ("没看懂这条请假或去向信息。例如：请假、明天请假、请假至12月5日、李明 请假至12月5日；"
         "李明 在湖北未返、李明 2月1日从武汉返回、李明 居家观察至2月16日、李明 解除观察；"
         "发送“摸排”查看名单。")


def answer_leave(ctx: TopicContext) -> str | None:
    return _answer(ctx, prefer="leave")


def answer_whereabouts(ctx: TopicContext) -> str | None:
    return _answer(ctx, prefer="whereabouts")


def _answer(ctx: TopicContext, prefer: str) -> str:
    readers = [_read_leave, _read_whereabouts]
    if prefer == "whereabouts":
        readers.reverse()
    for read in readers:
        reply = read(ctx)
        if reply is not None:
            return reply
    return _HINT


def _sender(ctx: TopicContext) -> Sender:
    p = ctx.sender
    return Sender(p.id, p.userid, p.name, p.role, p.school_name, p.class_name)


# ------------------------------------------------------------------------------ leave

def _read_leave(ctx: TopicContext) -> str | None:
    request = wb.read_leave(ctx.text, ctx.today)
    if request is None:
        return None
    if isinstance(request, wb.Problem):
        return "未记录：" + request.message
    sender = _sender(ctx)
    target = wb.resolve(request.name, sender, load_scope(ctx.session, ctx.sender))
    if isinstance(target, wb.Problem):
        return "未记录：" + target.message
    _row, already = store.save_leave(
        ctx.session, person_id=target.person_id, start=request.start, end=request.end,
        reported_by_id=sender.person_id, message_id=ctx.msg_id, now=ctx.utc_now)
    is_sender = target.person_id == sender.person_id
    text = wb.leave_recorded(target, is_sender, request, already=already)
    if ctx.in_group and not is_sender:
        _send_privately(ctx, [text])
        return wb.leave_recorded_in_group(target)
    return text


# ------------------------------------------------------------------------------ whereabouts

def _read_whereabouts(ctx: TopicContext) -> str | None:
    report = wb.read_whereabouts(ctx.text, ctx.today)
    if report is None:
        return None
    if report is wb.WATCH_LIST:
        return _watch_list(ctx)
    if isinstance(report, wb.Problem):
        return "未记录：" + report.message
    sender = _sender(ctx)
    target = wb.resolve(report.name, sender, load_scope(ctx.session, ctx.sender))
    if isinstance(target, wb.Problem):
        return "未记录：" + target.message
    is_sender = target.person_id == sender.person_id
    current = store.status_of(ctx.session, target.person_id, ctx.today)
    draft = wb.plan(report, current, ctx.today, ctx.config.watch)
    if isinstance(draft, wb.Problem):
        who = "您" if is_sender else (mask(target.name) if ctx.in_group else target.name)
        return f"未记录：{who}{draft.message}"
    store.save_whereabouts(ctx.session, person_id=target.person_id, draft=draft,
                           reported_by_id=sender.person_id, message_id=ctx.msg_id,
                           now=ctx.utc_now)
    text = wb.whereabouts_recorded(target, is_sender, draft, ctx.today, ctx.config.watch)
    if ctx.in_group and not is_sender:
        _send_privately(ctx, [text])
        return wb.whereabouts_recorded_in_group(target)
    return text


# ------------------------------------------------------------------------------ 摸排

def _watch_list(ctx: TopicContext) -> str:
    person, day = ctx.sender, ctx.today
    returned_days = ctx.config.watch.observe_days
    if person.role == "bureau":
        rows = store.watch_rows(ctx.session, day, returned_days=returned_days)
        per_school = list(store.counts_by_school(rows).items())
        title_lines = wb.watch_answer("全区", day, rows, per_school=per_school, names=False)
        names = wb.list_lines(rows, with_school=True)
        return _answer_list(ctx, title_lines, names)
    if person.school_id is None:
        return "您的账号没有所属学校，无法查看摸排名单。"
    rows = store.watch_rows(ctx.session, day, person.school_id, returned_days=returned_days)
    counts = wb.watch_answer(person.school_name, day, rows, names=False)
    if person.role == "principal":
        return _answer_list(ctx, counts, wb.list_lines(rows), empty_note=True)
    own = [r for r in rows if r.person_id == person.id]
    if person.role == "head_teacher":
        mine = [r for r in rows if r.person_id == person.id
                or (r.role == "student" and r.class_name == person.class_name)]
        lines = wb.list_lines(mine) or [
            f"{person.class_name}：暂无在外未返、居家观察或请假的学生。", wb.own_status_line(own)]
        return _answer_list(ctx, counts, lines, private_only=bool(mine))
    return _answer_list(ctx, counts, [wb.own_status_line(own)], private_only=bool(own))


def _answer_list(ctx: TopicContext, head: list[str], names: list[str], *,
                 empty_note: bool = False, private_only: bool | None = None) -> str:
    """Counts in a group (names privately, `详情已私信`); everything in a private chat."""
    if ctx.in_group:                   # the counts line; the rest (per school, names) privately
        has_names = bool(names) if private_only is None else private_only
        if has_names or len(head) > 1:
            _send_privately(ctx, head + names)
        return wb.group_answer(head[0], has_names or len(head) > 1)
    lines = head + (names or (["暂无在外未返、居家观察或请假的人员。"] if empty_note else []))
    text = "\n".join(lines)
    if len(text.encode("utf-8")) <= PERSON_TEXT_LIMIT:
        return text
    note = "\n（名单较长，其余{}条已私信）"
    parts = split_lines(lines[0], lines[1:], PERSON_TEXT_LIMIT - len(note.encode("utf-8")) - 8)
    _send_privately(ctx, parts[1:], split=False)
    return parts[0] + note.format(len(parts) - 1)


def _send_privately(ctx: TopicContext, lines: list[str], *, split: bool = True) -> None:
    userid = ctx.sender.userid
    if not userid or not lines:
        return
    parts = split_lines(lines[0], lines[1:], PERSON_TEXT_LIMIT) if split else lines
    enqueue(ctx.session, [Outgoing("person", userid, "text", part,
                                   dedupe_key=f"topic:{ctx.msg_id}:{i}")
                          for i, part in enumerate(parts)], source="whereabouts", now=ctx.now)
