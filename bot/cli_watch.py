"""`watch import FILE` and `watch list [--school S] [--date D]` (CONTRACT.md, "Command line").

`watch import` loads the 摸排 list from a CSV or the first sheet of an XLSX with the columns
姓名, 学校, 状态 (在外未返, 已返回, 居家观察, 解除观察, 请假), 地点, 开始, 结束 (班级 optional, to
tell apart two people of one name). Names are resolved against the roster; a file with any
bad row writes nothing and every bad row is named by its line. A row already stored is not
stored again, so importing the same file twice adds nothing.

`watch list` prints the list of a day (default: today) as tab-separated lines:
学校, 班级, 姓名, 状态, 地点, 开始, 结束, then the counts.
"""
from __future__ import annotations

import sys


def add_parsers(sub) -> None:
    from bot.cli import _date

    p = sub.add_parser("watch", help="人员摸排: load the list from a sheet, print it for a day")
    wsub = p.add_subparsers(dest="watch_verb", metavar="import|list")
    wsub.required = True
    i = wsub.add_parser("import", help="load whereabouts and leave from a CSV or XLSX sheet")
    i.add_argument("file")
    lst = wsub.add_parser("list", help="print who is away, under observation or on leave")
    lst.add_argument("--school", help="one school, as written in the roster")
    lst.add_argument("--date", type=_date, help="the day (default: today)")


def cmd_watch(args) -> int:
    return {"import": _import, "list": _list}[args.watch_verb](args)


def _import(args) -> int:
    from bot.cli import _config, _open
    from storage.whereabouts import WatchImportError, import_watch, read_sheet

    config = _config(args)
    try:
        raw = read_sheet(args.file)
    except WatchImportError as exc:
        return _problems(args.file, exc.problems)
    engine, sessions = _open(config)
    try:
        with sessions() as s, s.begin():
            summary = import_watch(s, raw, config.today(), config.watch)
    except WatchImportError as exc:
        return _problems(args.file, exc.problems)
    finally:
        engine.dispose()
    print(f"watch import {args.file}: {summary.describe()}")
    return 0


def _problems(path: str, problems: list[str]) -> int:
    if len(problems) == 1:
        print(f"error: {path}: nothing imported: {problems[0]}", file=sys.stderr)
        return 2
    print(f"error: {path}: nothing imported, {len(problems)} problem(s):", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 2


def _list(args) -> int:

    from bot.cli import UsageError, _config, _open
    from handlers.whereabouts import STATUS_NAMES, count_rows, counts_line
    from storage.roster_queries import school_id_of
    from storage.whereabouts import watch_rows

    config = _config(args)
    day = args.date or config.today()
    engine, sessions = _open(config)
    try:
        with sessions() as s:
            school_id = None
            if args.school:
                school_id = school_id_of(s, args.school.strip())
                if school_id is None:
                    raise UsageError(f"--school {args.school!r} is not a school of the roster")
            rows = watch_rows(s, day, school_id, returned_days=config.watch.observe_days)
    finally:
        engine.dispose()
    print("\t".join(("学校", "班级", "姓名", "状态", "地点", "开始", "结束")))
    for r in rows:
        status = STATUS_NAMES.get(r.status, r.status) + ("（今日期满）" if r.ending_today else "")
        print("\t".join((r.school or "", r.class_name or "", r.name, status, r.place or "",
                         r.start.isoformat() if r.start else "",
                         r.end.isoformat() if r.end else "")))
    print(f"{args.school or '全区'} {day.isoformat()}：{counts_line(count_rows(rows))}")
    return 0


VERBS = {"watch": cmd_watch}
