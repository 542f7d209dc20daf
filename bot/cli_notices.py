"""`notice send`, `notice status [ID]`, `checklist status` (CONTRACT.md, "Command line").

`notice send --title T (--text BODY | --file FILE) [--to principals|groups|all]` queues the
notice through the outbox (a private text to every active principal; with `--to groups|all`
a markdown to each school group of `[[groups]]`, a school without a group getting it
privately), waits until it is delivered and prints its id alone on stdout; a summary goes
to stderr. Undelivered messages after the wait stay queued for the scheduler: exit 1.
"""
from __future__ import annotations

import argparse
import sys

from handlers import notices as words


def add_parsers(sub) -> None:
    p = sub.add_parser("notice", help="bureau notices: send one, see who acknowledged it")
    nsub = p.add_subparsers(dest="notice_verb", metavar="send|status")
    nsub.required = True
    s = nsub.add_parser("send", help="send a notice to every principal (and school groups)")
    s.add_argument("--title", required=True)
    body = s.add_mutually_exclusive_group(required=True)
    body.add_argument("--text", help="the notice's text (a literal \\n starts a new line)")
    body.add_argument("--file", help="a UTF-8 text file with the notice's text")
    s.add_argument("--to", choices=list(words.AUDIENCES), default="principals")
    s = nsub.add_parser("status", help="who has acknowledged each notice (or notice ID)")
    s.add_argument("id", nargs="?", type=_notice_id)
    p = sub.add_parser("checklist", help="the opening-preparation checklist")
    csub = p.add_subparsers(dest="checklist_verb", metavar="status")
    csub.required = True
    csub.add_parser("status", help="school × item: which preparations are done")


def _notice_id(text: str) -> int:
    try:
        value = int(text.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a notice id like 3") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a notice id like 3")
    return value


def _read_body(args) -> str:
    from bot.cli import UsageError

    if args.file is None:
        return args.text.replace("\\n", "\n")
    try:
        with open(args.file, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        raise UsageError(f"{args.file}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{args.file}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{args.file}: {exc.strerror}") from None


def cmd_notice(args) -> int:
    return {"send": _send, "status": _status}[args.notice_verb](args)


def _send(args) -> int:
    from bot.cli import UsageError, _config, _open
    from bot.wecom.client import make_client
    from scheduler.notice_jobs import send_notice
    from storage.notices import NoticeError

    config = _config(args)
    body = _read_body(args)
    problems = words.notice_problems(args.title, body)
    if problems:
        raise UsageError("notice not sent: " + "；".join(problems))
    engine, sessions = _open(config)
    try:
        result = send_notice(config, sessions, make_client(config), title=args.title,
                             body=body, audience=args.to)
    except NoticeError as exc:
        raise UsageError("notice not sent: " + str(exc)) from None
    finally:
        engine.dispose()
    n = result.notice
    print(n.id)
    groups = f", {len(n.groups)} school group(s)" if n.groups else ""
    print(f"notice {n.id}: {n.private} principal(s) privately{groups}; "
          f"{result.described or f'sent {result.sent}'}", file=sys.stderr)
    if not n.principals:
        print("warning: the roster has no active principal with a userid: "
              "nobody can acknowledge this notice", file=sys.stderr)
    if result.unsent:
        failed = sum(1 for _k, status, _e in result.unsent if status == "failed")
        worst = next((e for _k, _s, e in result.unsent if e), "no answer yet")
        print(f"warning: {len(result.unsent)} message(s) not delivered ({failed} failed): "
              f"{worst}; pending ones stay queued for the scheduler (see `status`)",
              file=sys.stderr)
        return 1
    return 0


def _status(args) -> int:
    from bot.cli import UsageError, _config, _open
    from storage.notices import notice_summaries

    config = _config(args)
    engine, sessions = _open(config)
    try:
        with sessions() as s:
            found = notice_summaries(s, config.tz, notice_id=args.id)
    finally:
        engine.dispose()
    if args.id is None:
        lines = words.notice_list_lines(found)
    elif not found:
        raise UsageError(f"no notice #{args.id} (see `notice status`)")
    else:
        lines = words.notice_detail_lines(found[0])
    print("\n".join(lines))
    return 0


def cmd_checklist(args) -> int:
    from bot.cli import _config, _open
    from storage.notices import checklist_table

    config = _config(args)
    engine, sessions = _open(config)
    try:
        with sessions() as s:
            table = checklist_table(s, config.tz)
    finally:
        engine.dispose()
    print("\n".join(words.checklist_status_lines(config.checklist, table)))
    return 0


VERBS = {"notice": cmd_notice, "checklist": cmd_checklist}
