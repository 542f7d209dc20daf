"""The `supplies` topic in chat (CONTRACT.md, "Supplies"): counts, `物资`, low-stock alerts.

- A count (`物资 口罩2000个 …`) from a principal or the school's logistics person (后勤) sets
  the school's stock of each item it names; anyone else is refused and nothing is stored.
- `物资` alone answers with the sender's school's stock and days of cover; a bureau person gets
  the district's.
- A count that leaves an item below `min_days` queues one private alert per school, item and
  day (dedupe key `lowstock:<school_id>:<item>:<day>`) to the principals and the school's
  officers (its liaisons, or all bureau staff), in the message's own transaction.
- In a group, a school's stock is that school's business: the figures appear only in the
  sender's own school's group; anywhere else the answer goes privately and the group hears
  `详情已私信`.
"""
from __future__ import annotations


from bot.topic_context import TopicContext
from handlers import supplies as text
from handlers.outgoing import Outgoing
from storage import recipients
from storage.outbox_queue import enqueue, split_userids
from storage.supplies import save_count, school_statuses, statuses

COUNTERS = ("principal", "logistics")
PERSON_LIMIT = 2048


def answer(ctx: TopicContext) -> str | None:
    items = ctx.config.supplies
    if not items:
        return text.no_items_reply()
    msg = text.read_message(ctx.text, items)
    if msg.query:
        return _query(ctx)
    return _count(ctx, msg)


# ------------------------------------------------------------------------------------ query

def _query(ctx: TopicContext) -> str:
    sender = ctx.sender
    if sender.role == "bureau":
        rows = statuses(ctx.session, ctx.config, ctx.today)
        for per_item in (6, 3, 1, 0):        # a private message holds 2048 bytes
            reply = text.district_stock_reply(ctx.today, rows, ctx.config.supplies,
                                              names_per_item=per_item)
            if len(reply.encode("utf-8")) <= PERSON_LIMIT:
                break
        return _private_in_group(ctx, reply, own_group=False)
    if sender.school_id is None:
        return text.no_school_reply()
    rows = school_statuses(ctx.session, ctx.config, sender.school_id, ctx.today)
    reply = text.school_stock_reply(sender.school_name, ctx.today, rows)
    return _private_in_group(ctx, reply, own_group=_in_own_school_group(ctx))


# ------------------------------------------------------------------------------------ count

def _count(ctx: TopicContext, msg: text.SupplyMessage) -> str:
    sender = ctx.sender
    if sender.role not in COUNTERS or sender.school_id is None:
        return text.count_refused(sender.role)
    items = ctx.config.supplies
    if msg.unreadable and not msg.entries:
        return text.unreadable_reply(items)
    good = [e for e in msg.entries if e.problem is None]
    rejected = [e for e in msg.entries if e.problem is not None]
    for e in good:
        save_count(ctx.session, school_id=sender.school_id, item=e.item, quantity=e.quantity,
                   day=ctx.today, now=ctx.utc_now, reported_by_id=sender.id,
                   message_id=ctx.msg_id)
    names = {e.item.name for e in good}
    stored = [s for s in school_statuses(ctx.session, ctx.config, sender.school_id, ctx.today)
              if s.item.name in names]
    notified = _alert_low_stock(ctx, [s for s in stored if s.low])
    reply = text.count_reply(sender.school_name, ctx.today, stored, rejected, items,
                             notified=notified)
    if msg.unreadable:
        reply += "\n" + text.unreadable_reply(items)
    if ctx.in_group and not _in_own_school_group(ctx):
        _send_privately(ctx, reply)
        return text.recorded_in_group(len(stored), len(rejected))
    return reply


def _alert_low_stock(ctx: TopicContext, low: list[text.ItemStatus]) -> str:
    """Queues the alerts; returns who heard (校长、教育局), "" when nobody but the sender."""
    if not low:
        return ""
    sender = ctx.sender
    school_id = sender.school_id
    heads = [u for u in recipients.principals(ctx.session, school_id) if u != sender.userid]
    officers = [u for u in recipients.school_officers(ctx.session, school_id)
                if u != sender.userid]
    targets = split_userids(heads + officers)
    if not targets:
        return ""
    messages = []
    for st in low:
        key = f"lowstock:{school_id}:{st.item.name}:{ctx.today.isoformat()}"
        body = text.low_stock_alert(st, sender.name)
        for i, batch in enumerate(targets):
            messages.append(Outgoing("person", "|".join(batch), "text", body,
                                     key if i == 0 else f"{key}:{i}"))
    enqueue(ctx.session, messages, source="lowstock", now=ctx.now)
    who = (["校长"] if heads else []) + (["教育局"] if officers else [])
    return "、".join(who)


# ------------------------------------------------------------------------------------ groups

def _in_own_school_group(ctx: TopicContext) -> bool:
    """True in a private chat, or in the group configured for the sender's own school."""
    if not ctx.in_group:
        return True
    chat_id = ctx.chat_id
    school = ctx.sender.school_name
    return bool(chat_id) and school is not None and any(
        g.scope == school and g.chat_id == chat_id for g in ctx.config.groups)


def _private_in_group(ctx: TopicContext, reply: str, *, own_group: bool) -> str:
    if not ctx.in_group or own_group:
        return reply
    _send_privately(ctx, reply)
    return text.details_sent()


def _send_privately(ctx: TopicContext, reply: str) -> None:
    if not ctx.sender.userid:
        return
    enqueue(ctx.session, [Outgoing("person", ctx.sender.userid, "text", reply,
                                   f"supplies:reply:{ctx.msg_id}")],
            source="supplies", now=ctx.now)
