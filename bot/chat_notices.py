"""Chat for notices and the opening checklist (CONTRACT.md, "Notices", "Opening checklist").

- `answer_chatter` (a `bot.topics.CHATTER` handler): a principal's `收到` (`已收到`,
  `收到通知`, …) acknowledges the oldest notice they have not acknowledged; from anyone with
  nothing to acknowledge it is chatter (None: silence, nothing changes). A principal's `通知`
  lists the notices they were sent.
- `answer_checklist` (the `checklist` topic): a principal's `清单` shows the school's items;
  `清单 1 3 已完成`, `完成 2`, `已完成：重点场室消毒` mark them, `清单 2 未完成` takes one back,
  with who and when. Anyone else is told politely that the principal fills it in.

Both run inside the message's transaction (`TopicContext.session`), so the acknowledgement or
the mark commits together with the message and its answer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import notices as words
from storage import notices as store

if TYPE_CHECKING:                       # bot.topics imports this module to register it
    from bot.topic_context import TopicContext


def answer_chatter(ctx: "TopicContext") -> str | None:
    if words.is_ack(ctx.text):
        acked, left = store.acknowledge_oldest(ctx.session, ctx.sender.id, now=ctx.now,
                                               message_id=ctx.msg_id, tz=ctx.config.tz)
        return None if acked is None else words.ack_reply(acked, left)
    if words.is_notice_list(ctx.text) and ctx.sender.role == "principal":
        return words.notice_list_reply(store.notice_entries(ctx.session, ctx.sender.id,
                                                            ctx.config.tz))
    return None


def answer_checklist(ctx: "TopicContext") -> str | None:
    person = ctx.sender
    if person.role != "principal" or person.school_id is None:
        return words.checklist_refused(person.role)
    items = ctx.config.checklist
    if not items:
        return words.checklist_none()
    tz = ctx.config.tz
    request = words.read_checklist(ctx.text)
    if request is None:
        return words.checklist_not_understood(items)
    school = person.school_name
    if request.action == "show":
        return words.checklist_view(school, items, store.current_marks(ctx.session,
                                                                       person.school_id, tz))
    numbers, problems = words.resolve_items(request, items)
    changed, unchanged = store.mark_items(
        ctx.session, person.school_id, [items[n - 1] for n in numbers], done=request.done,
        person_id=person.id, message_id=ctx.msg_id, now=ctx.now)
    number = {item: n for n, item in enumerate(items, 1)}
    view = words.checklist_view(school, items, store.current_marks(ctx.session,
                                                                   person.school_id, tz))
    return words.checklist_marked(request.done, [number[i] for i in changed],
                                  [number[i] for i in unchanged], items, problems, view)
