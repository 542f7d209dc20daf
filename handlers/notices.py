"""Bureau notices (统一发布) and the opening checklist (开学准备清单): reading and wording.

Pure functions on plain data; `storage/notices.py` loads and stores, `bot/chat_notices.py`
answers in chat, `bot/cli_notices.py` and `bot/dashboard_notices.py` show the status.

- A notice goes out as parts within WeCom's limits: a private text at most `PERSON_LIMIT`
  bytes, a group markdown at most `GROUP_LIMIT` bytes. Each part starts with `【通知】title`
  (and `（k/n）` when there are several); the last ends with who sent it, when, its number and
  how to acknowledge. The number also keeps two equal notices apart for WeCom's duplicate check.
- `is_ack` reads a principal's `收到` (`已收到`, `收到通知`, `收到了`, …); `is_notice_list`
  reads `通知` (the past notices).
- `read_checklist` reads `清单`, `清单 1 3 已完成`, `完成 2`, `已完成：重点场室消毒`,
  `清单 2 未完成`; `resolve_items` maps its numbers and names to the configured items.
- The bureau digest's lines: `checklist_digest_line` (`开学准备：已全部完成 12/15 校`) and
  `notices_digest_lines` (the schools that have not acknowledged a notice).

Datetimes handed to the wording functions are local (aware or naive local); `local` turns the
stored naive UTC into that.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from handlers.clock import to_local
from handlers.replies import escape_md

PERSON_LIMIT = 2048          # bytes of a private text message (message/send)
GROUP_LIMIT = 4096           # bytes of a group robot's markdown
TITLE_MAX = 60               # characters of a notice title
MAX_PARTS = 20               # a notice longer than this many parts is refused
SENDER = "教育局"
AUDIENCES = ("principals", "groups", "all")
AUDIENCE_NAMES = {"principals": "私信校长", "groups": "学校群", "all": "私信校长和学校群"}


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


local = to_local         # a stored naive-UTC datetime in the zone `tz` (handlers.clock)


def when(t: dt.datetime) -> str:
    """2月4日 08:30"""
    return f"{t.month}月{t.day}日 {t:%H:%M}"


# ---------------------------------------------------------------------------- notice texts

def notice_problems(title: str, body: str) -> list[str]:
    """What is wrong with a notice before it is sent (Chinese, for the sender)."""
    problems = []
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        problems.append("通知标题不能为空")
    elif "\n" in title or "\r" in title:
        problems.append("通知标题只能是一行")
    elif len(title) > TITLE_MAX:
        problems.append(f"通知标题太长（{len(title)}字，最多{TITLE_MAX}字）")
    if not body:
        problems.append("通知正文不能为空")
    elif not problems:
        parts = len(person_texts(0, title, body, dt.datetime(2000, 1, 1)))
        if parts > MAX_PARTS:
            problems.append(f"通知正文太长（要分{parts}条发送，最多{MAX_PARTS}条）")
    return problems


def _fit(line: str, room: int) -> list[str]:
    """A line cut between characters into pieces of at most `room` UTF-8 bytes."""
    if _utf8(line) <= room:
        return [line]
    pieces, cur = [], ""
    for ch in line:
        if cur and _utf8(cur + ch) > room:
            pieces.append(cur)
            cur = ""
        cur += ch
    pieces.append(cur)
    return pieces


def split_parts(header, body: str, footer: str, limit: int) -> list[str]:
    """`body` packed by whole lines into messages of at most `limit` bytes.

    `header(k, n)` is part k's first line (1-based, of n); `footer` ends the last part. A
    line longer than a part is cut between characters.
    """
    worst = _utf8(header(99, 99)) + 1
    room = limit - worst
    piece_room = room - _utf8(footer) - 1
    if piece_room < 16:
        raise ValueError("header and footer leave no room for the text")
    lines = body.strip("\n").split("\n")
    chunks: list[list[str]] = [[]]
    for line in lines:
        for piece in _fit(line.rstrip(), piece_room):
            cur = chunks[-1]
            if cur and _utf8("\n".join(cur + [piece])) > room:
                chunks.append([])
            chunks[-1].append(piece)
    last = chunks[-1]
    if _utf8("\n".join(last + [footer])) > room:
        chunks.append([last.pop()])
    n = len(chunks)
    out = []
    for k, chunk in enumerate(chunks, 1):
        text = "\n".join([header(k, n), *chunk] + ([footer] if k == n else []))
        out.append(text)
    return out


def _signature(notice_id: int, sent_at: dt.datetime) -> str:
    return f"——{SENDER} {when(sent_at)} 发布（通知编号{notice_id}）"


def person_texts(notice_id: int, title: str, body: str, sent_at: dt.datetime) -> list[str]:
    """The private texts of a notice, each within PERSON_LIMIT bytes."""
    title = title.strip()

    def header(k: int, n: int) -> str:
        return f"【通知】{title}" + (f"（{k}/{n}）" if n > 1 else "")

    footer = _signature(notice_id, sent_at) + "\n请阅读后回复“收到”确认。"
    return split_parts(header, body.strip(), footer, PERSON_LIMIT)


def group_markdowns(notice_id: int, title: str, body: str, sent_at: dt.datetime) -> list[str]:
    """The school-group markdowns of a notice, each within GROUP_LIMIT bytes."""
    title = escape_md(title.strip())

    def header(k: int, n: int) -> str:
        return f"**【通知】{title}**" + (f"（{k}/{n}）" if n > 1 else "")

    footer = (f'<font color="comment">{_signature(notice_id, sent_at)}\n'
              f"请校长私聊“晨检”回复“收到”确认。</font>")
    return split_parts(header, body.strip(), footer, GROUP_LIMIT)


def reminder_text(notice_id: int, title: str, sent_at: dt.datetime) -> str:
    return (f"【通知提醒】《{title.strip()}》（{when(sent_at)}发布，通知编号{notice_id}）"
            f"您还未确认收到。请阅读后回复“收到”确认；回复“通知”可查看最近的通知。")


# ---------------------------------------------------------------------------- chat: 收到 / 通知

_PUNCT = " \t\r\n。．.！!～~，,、；;：:？?…·'\"“”‘’()（）[]【】👌👍🙏"
_ACK = re.compile(
    r"^(?:好的?|好滴|ok|OK|Ok)?(?:已经|已)?(?:收到|收悉|知悉|已阅)(?:了|啦)?(?:通知)?(?:了|啦)?"
    r"(?:谢谢|感谢)?$|^通知(?:已经|已)?(?:收到|收悉)(?:了|啦)?$")
_LIST = re.compile(r"^(?:查看|查|看看|看一下)?(?:最近的?|历史|往期|全部|所有)?通知(?:列表)?$")


def _squeeze(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(ch for ch in text if ch not in _PUNCT)


def is_ack(text: str) -> bool:
    """`收到`, `已收到`, `收到通知`, `收到了`, `好的，收到！`: a notice acknowledged."""
    squeezed = _squeeze(text)
    return bool(squeezed) and len(squeezed) <= 12 and bool(_ACK.match(squeezed))


def is_notice_list(text: str) -> bool:
    """`通知`, `查看通知`, `历史通知`: the past notices."""
    return bool(_LIST.match(_squeeze(text)))


@dataclass(frozen=True)
class NoticeEntry:
    """One notice as a principal had it: sent at and acknowledged at (local)."""
    id: int
    title: str
    body: str
    sent_at: dt.datetime
    acked_at: dt.datetime | None


def ack_reply(acked: NoticeEntry, remaining: int) -> str:
    line = f"已确认收到通知《{acked.title}》（{when(acked.sent_at)}发布）。"
    if remaining:
        line += f"\n还有{remaining}条通知未确认，再回复“收到”逐条确认；回复“通知”查看。"
    return line


LIST_SHOWN = 10
EXCERPT_CHARS = 40


def notice_list_reply(entries: Sequence[NoticeEntry], limit: int = PERSON_LIMIT) -> str:
    """The principal's past notices, newest first, within one chat answer."""
    if not entries:
        return "还没有收到过教育局的通知。"
    open_count = sum(1 for e in entries if e.acked_at is None)
    head = f"最近的通知（共{len(entries)}条" + (f"，{open_count}条未确认）" if open_count else "）")
    tail = "回复“收到”确认最早一条未确认的通知。" if open_count else ""
    lines = [head]
    for i, e in enumerate(entries[:LIST_SHOWN], 1):
        state = f"已确认 {when(e.acked_at)}" if e.acked_at else "未确认"
        excerpt = " ".join(e.body.split())
        if len(excerpt) > EXCERPT_CHARS:
            excerpt = excerpt[:EXCERPT_CHARS] + "…"
        entry = f"{i}. 《{e.title}》{when(e.sent_at)}（{state}）\n   {excerpt}"
        if _utf8("\n".join(lines + [entry, tail])) > limit:
            break
        lines.append(entry)
    if len(entries) > len(lines) - 1:
        lines.append(f"……另有{len(entries) - (len(lines) - 1)}条较早的通知")
    if tail:
        lines.append(tail)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- notice status

@dataclass(frozen=True)
class DeliveryRow:
    """One principal's copy of a notice (times local)."""
    school: str | None
    name: str
    userid: str | None
    private: bool
    queued_at: dt.datetime
    reminded_at: dt.datetime | None
    acked_at: dt.datetime | None


@dataclass(frozen=True)
class NoticeSummary:
    id: int
    title: str
    audience: str
    groups: tuple[str, ...]
    sent_at: dt.datetime
    sent_by: str | None
    deliveries: tuple[DeliveryRow, ...]

    @property
    def acked(self) -> list[DeliveryRow]:
        return [d for d in self.deliveries if d.acked_at is not None]

    @property
    def waiting(self) -> list[DeliveryRow]:
        return [d for d in self.deliveries if d.acked_at is None]


def _who(d: DeliveryRow) -> str:
    return f"{d.school or '（无学校）'} {d.name}" + (f"（{d.userid}）" if d.userid else "")


def notice_list_lines(notices: Sequence[NoticeSummary]) -> list[str]:
    """`notice status`: one line per notice, newest first."""
    if not notices:
        return ["还没有发布过通知。"]
    out = []
    for n in notices:
        waiting = n.waiting
        line = (f"#{n.id} {n.sent_at:%Y-%m-%d %H:%M} 《{n.title}》 "
                f"已确认 {len(n.acked)}/{len(n.deliveries)}")
        if waiting:
            names = "、".join(f"{d.school or ''}{d.name}" for d in waiting[:8])
            more = f"等{len(waiting)}人" if len(waiting) > 8 else ""
            line += f"，未确认：{names}{more}"
        out.append(line)
    return out


def notice_detail_lines(n: NoticeSummary) -> list[str]:
    """`notice status ID`: who acknowledged when, and who has not."""
    how = AUDIENCE_NAMES.get(n.audience, n.audience)
    groups = f"，学校群 {len(n.groups)} 个" if n.groups else ""
    by = f"，{n.sent_by}" if n.sent_by else ""
    out = [f"通知 #{n.id} 《{n.title}》 {n.sent_at:%Y-%m-%d %H:%M} 发布（{how}{groups}{by}）",
           f"已确认 {len(n.acked)}/{len(n.deliveries)}："]
    for d in sorted(n.acked, key=lambda d: d.acked_at):
        out.append(f"  {_who(d)} {d.acked_at:%Y-%m-%d %H:%M}")
    if not n.acked:
        out.append("  （无）")
    out.append(f"未确认 {len(n.waiting)}/{len(n.deliveries)}：")
    for d in sorted(n.waiting, key=lambda d: (d.school or "", d.name)):
        via = "私信" if d.private else "学校群"
        extra = f"，已提醒 {d.reminded_at:%Y-%m-%d %H:%M}" if d.reminded_at else ""
        out.append(f"  {_who(d)} {via}发送 {d.queued_at:%Y-%m-%d %H:%M}{extra}")
    if not n.waiting:
        out.append("  （无）")
    return out


@dataclass(frozen=True)
class PendingNotice:
    """A notice some schools have not acknowledged (no principal of theirs has)."""
    id: int
    title: str
    schools_waiting: tuple[str, ...]
    schools_total: int


def notices_digest_lines(pending: Iterable[PendingNotice], names_shown: int = 10) -> list[str]:
    """The bureau digest's lines: `通知未确认：《标题》 城南中学、城西小学（已确认 13/15 校）`."""
    out = []
    for p in pending:
        if not p.schools_waiting:
            continue
        names = [escape_md(s) for s in p.schools_waiting[:names_shown]]
        more = f"等{len(p.schools_waiting)}校" if len(p.schools_waiting) > names_shown else ""
        done = p.schools_total - len(p.schools_waiting)
        out.append(f"通知未确认：《{escape_md(p.title)}》 {'、'.join(names)}{more}"
                   f"（已确认 {done}/{p.schools_total} 校）")
    return out


# ---------------------------------------------------------------------------- the checklist

@dataclass(frozen=True)
class Mark:
    """The current mark of one item at one school (times local)."""
    item: str
    done: bool
    by: str | None
    at: dt.datetime


@dataclass(frozen=True)
class ChecklistRequest:
    action: str                        # "show" | "mark"
    done: bool = True                  # for "mark": done, or taken back
    numbers: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    all_items: bool = False


_DONE = r"(?:已经完成|已完成|完成了|完成|已做完|做完了|做完|已落实|落实了?|搞定了?)"
_UNDONE = r"(?:没有完成|未完成|没完成|未做|取消完成|取消|撤销完成|撤销|撤回|改为未完成)"
_VERB = f"(?P<verb>{_UNDONE}|{_DONE})"
_NUMS = r"(?P<nums>第?\d+项?(?:[\s,、和及与]*第?\d+项?)*)"
_HEAD = r"(?:开学准备)?清单"
_CHECK_PATTERNS = [
    re.compile(rf"^(?:查看|看看)?{_HEAD}$|^开学准备$"),
    re.compile(rf"^{_HEAD}[\s:]*{_NUMS}[\s:]*{_VERB}$"),
    re.compile(rf"^(?:{_HEAD}[\s:]*)?{_VERB}[\s:]*{_NUMS}$"),
    re.compile(rf"^(?:{_HEAD}[\s:]*)?(?P<all>全部|所有|都)[\s:]*{_VERB}$"),
    re.compile(rf"^(?:{_HEAD}[\s:]*)?{_VERB}[\s:]+(?P<names>\S.*)$"),
    re.compile(rf"^(?:{_HEAD}[\s:]*)?{_VERB}(?P<names>[^\d\s].*)$"),
    re.compile(rf"^(?:{_HEAD}[\s:]*)?(?P<names>\S.*?)[\s:]*{_VERB}$"),
]


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")      # full-width digits, colon, comma
    text = text.replace("：", ":").replace("，", ",").replace("；", ",").replace(";", ",")
    return " ".join(text.split()).strip(" 。.!！")


def read_checklist(text: str) -> ChecklistRequest | None:
    """What a checklist message asks; None when it is no checklist message at all."""
    t = _normal(text)
    for i, pattern in enumerate(_CHECK_PATTERNS):
        m = pattern.match(t)
        if not m:
            continue
        if i == 0:
            return ChecklistRequest("show")
        done = not re.fullmatch(_UNDONE, m.group("verb"))
        groups = m.groupdict()
        if groups.get("nums"):
            return ChecklistRequest("mark", done, numbers=tuple(
                int(n) for n in re.findall(r"\d+", groups["nums"])))
        if groups.get("all"):
            return ChecklistRequest("mark", done, all_items=True)
        names = tuple(n.strip(" :") for n in re.split(r"[,、和及与]|\s{2,}", groups["names"]))
        names = tuple(n for n in names if n.strip("了啦吧的"))
        if names:
            return ChecklistRequest("mark", done, names=names)
    return None


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def resolve_items(request: ChecklistRequest, items: Sequence[str]) -> tuple[list[int], list[str]]:
    """The 1-based item numbers a request names, and what could not be matched (Chinese)."""
    chosen: list[int] = []
    problems: list[str] = []
    if request.all_items:
        return list(range(1, len(items) + 1)), []
    for n in request.numbers:
        if 1 <= n <= len(items):
            chosen.append(n)
        else:
            problems.append(f"清单共{len(items)}项，没有第{n}项")
    keys = [_key(i) for i in items]
    for name in request.names:
        k = _key(name)
        exact = [i for i, key in enumerate(keys, 1) if key == k]
        near = exact or [i for i, key in enumerate(keys, 1) if k and (k in key or key in k)]
        if len(near) == 1:
            chosen.append(near[0])
        elif near:
            problems.append(f"“{name}”对应多项（{'、'.join(str(i) for i in near)}），请用编号")
        else:
            problems.append(f"清单中没有“{name}”")
    return list(dict.fromkeys(chosen)), problems


def checklist_view(school: str, items: Sequence[str], marks: dict[str, Mark]) -> str:
    """The school's items, numbered, done or not: a principal's `清单`."""
    done = sum(1 for i in items if (m := marks.get(i)) and m.done)
    lines = [f"{school} 开学准备清单（已完成 {done}/{len(items)}）"]
    for n, item in enumerate(items, 1):
        m = marks.get(item)
        if m and m.done:
            lines.append(f"{n}. ✅ {item}（{m.by or '已标记'} {when(m.at)}）")
        else:
            lines.append(f"{n}. ⬜ {item}")
    if done == len(items):
        lines.append("全部准备工作已完成。")
    else:
        lines.append("完成后回复“清单 编号 已完成”，如“清单 1 3 已完成”；撤回回复“清单 2 未完成”。")
    return "\n".join(lines)


def checklist_marked(done: bool, changed: Sequence[int], unchanged: Sequence[int],
                     items: Sequence[str], problems: Sequence[str], view: str) -> str:
    """The answer to a mark: what changed, what already was so, what could not be read."""
    def named(ns):
        return "、".join(f"{n}. {items[n - 1]}" for n in ns)

    lines = []
    if changed:
        lines.append(("已标记完成：" if done else "已改为未完成：") + named(changed))
    if unchanged:
        lines.append(("此前已完成：" if done else "本来就未完成：") + named(unchanged))
    if problems:
        lines.append("未能标记：" + "；".join(problems) + "。")
    return "\n".join(lines + ["", view])


def checklist_not_understood(items: Sequence[str]) -> str:
    return ("没看懂要标记哪一项。请回复“清单”查看编号，再回复如“清单 1 3 已完成”或“完成 2”；"
            "撤回回复“清单 2 未完成”。")


def checklist_none() -> str:
    return "目前没有需要填报的开学准备清单。"


def checklist_refused(role: str) -> str:
    if role == "bureau":
        return "开学准备清单由各校校长填报。全区完成情况请在看板“通知与清单”页查看。"
    return "开学准备清单由校长填报，如已完成某项准备工作，请告知校长。谢谢！"


def checklist_digest_line(done: int, total: int) -> str | None:
    """`开学准备：已全部完成 12/15 校` (None without a checklist or schools)."""
    if total <= 0:
        return None
    return f"开学准备：已全部完成 {done}/{total} 校"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def checklist_status_lines(items: Sequence[str],
                           schools: Sequence[tuple[str, dict[str, Mark]]]) -> list[str]:
    """`checklist status`: school × item, ✓ done and · not, then the items by number."""
    if not items:
        return ["未配置开学准备清单（config 的 [[checklist]]）。"]
    finished = sum(1 for _s, marks in schools
                   if all((m := marks.get(i)) and m.done for i in items))
    out = [f"开学准备清单 {len(items)} 项，已全部完成 {finished}/{len(schools)} 校"]
    name_w = max([_width("学校")] + [_width(s) for s, _m in schools]) + 2
    cols = [str(n).rjust(2) for n in range(1, len(items) + 1)]
    out.append(_pad("学校", name_w) + " ".join(cols) + "  完成")
    for school, marks in schools:
        cells = ["✓" if (m := marks.get(i)) and m.done else "·" for i in items]
        count = sum(1 for c in cells if c == "✓")
        out.append(_pad(school, name_w) + " ".join(c.rjust(2) for c in cells)
                   + f"  {count}/{len(items)}")
    if not schools:
        out.append("（名单中还没有学校）")
    out += [f"{n}. {item}" for n, item in enumerate(items, 1)]
    return out
