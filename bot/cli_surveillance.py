"""The early warning's verbs: `records import FILE` and `surveillance backtest`.

- `records import FILE`: past records and class summaries from the export's XLSX (or a CSV of
  one of its sheets) into the database, all or nothing (storage/records_import.py), with a
  progress bar when stderr is a terminal.
- `surveillance backtest --from D --to D [--method M] [--jsonl]`: the signals the stored data
  would have raised, school day by school day, each day read only with the history before it:
  one line per signal, then per school and signal the days evaluated and the signals. With
  `--jsonl` stdout carries only the signal lines (`{"date", "school", "signal", "count",
  "expected", "score", "method"}`) and the summary goes to stderr.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

from handlers.config import SURVEILLANCE_METHODS


def add_parsers(sub) -> None:
    from bot.cli import _date

    p = sub.add_parser("records", help="past records and class summaries")
    rsub = p.add_subparsers(dest="records_verb", metavar="import")
    rsub.required = True
    r = rsub.add_parser("import", help="load records and class summaries from an export's XLSX or CSV")
    r.add_argument("file")
    p = sub.add_parser("surveillance", help="early warning on each school's own baseline")
    ssub = p.add_subparsers(dest="surveillance_verb", metavar="backtest")
    ssub.required = True
    b = ssub.add_parser("backtest", help="the signals the stored data would have raised")
    b.add_argument("--from", dest="start", type=_date, required=True)
    b.add_argument("--to", dest="end", type=_date, required=True)
    b.add_argument("--method", choices=[m for m in SURVEILLANCE_METHODS if m != "off"])
    b.add_argument("--jsonl", action="store_true")


class ProgressBar:
    """`导入 [██████······] 450/1200` redrawn in place on a terminal's stderr."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.total = self.shown = 0

    def start(self, total: int) -> None:
        self.total, self.shown = total, -1

    def step(self, done: int) -> None:
        filled = self.width * done // max(self.total, 1)
        if filled == self.shown and done != self.total:
            return
        self.shown = filled
        self.stream.write(f"\r导入 [{'█' * filled}{'·' * (self.width - filled)}] {done}/{self.total}")
        self.stream.flush()

    def finish(self) -> None:
        if self.total:
            self.stream.write("\n")
            self.stream.flush()


def cmd_records(args) -> int:
    from bot.cli import _config, _open
    from storage.records_import import RecordsImportError, import_records

    config = _config(args)
    engine, sessions = _open(config)
    isatty = getattr(sys.stderr, "isatty", lambda: False)
    try:
        with sessions() as s, s.begin():
            summary = import_records(s, args.file, tz=config.tz,
                                     checks=[c.name for c in config.checks],
                                     threshold=config.fever_threshold,
                                     progress=ProgressBar() if isatty() else None)
    except RecordsImportError as exc:
        if len(exc.problems) == 1:
            print(f"error: {args.file}: nothing imported: {exc.problems[0]}", file=sys.stderr)
        else:
            print(f"error: {args.file}: nothing imported, {len(exc.problems)} problem(s):",
                  file=sys.stderr)
            for p in exc.problems:
                print(f"  {p}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"records import {args.file}: {summary.describe()}")
    return 0


def cmd_surveillance(args) -> int:
    from bot.cli import UsageError, _config, _open
    from handlers import surveillance as sv
    from storage.surveillance import evaluate_range

    config = _config(args)
    if args.end < args.start:
        raise UsageError(f"--to {args.end} is before --from {args.start}")
    method = args.method or config.surveillance.method
    if method == "off":
        raise UsageError("[surveillance] method is off in the config; name one with --method "
                         + "|".join(sv.METHODS))
    engine, sessions = _open(config)
    try:
        with sessions() as s:
            scored = evaluate_range(s, config, args.start, args.end, method=method)
    finally:
        engine.dispose()
    summary: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in scored:
        e = row.evaluation
        figures = summary[(row.school, row.signal)]
        if e.score is not None:
            figures[0] += 1
        if not e.signal:
            continue
        figures[1] += 1
        if args.jsonl:
            print(json.dumps(row.as_json(), ensure_ascii=False))
        else:
            print(f"{e.day.isoformat()} " + sv.bureau_line(
                school=row.school, signal=row.signal, count=e.count, heads=e.heads,
                expected=e.expected, score=e.score, method=e.method))
    out = sys.stderr if args.jsonl else sys.stdout
    days = len(config.calendar.school_days(args.start, args.end))
    signals = 0
    order = {s: i for i, s in enumerate(sv.SIGNALS)}
    for (school, signal), (evaluated, raised) in sorted(
            summary.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        signals += raised
        print(f"{school} {sv.SIGNAL_NAMES[signal]}（{signal}）: {raised} signal(s) on "
              f"{evaluated} school day(s) with a full baseline", file=out)
    print(f"backtest {args.start} to {args.end}, {sv.METHOD_NAMES[method]}: {signals} signal(s), "
          f"{len({k[0] for k in summary})} school(s), {days} school day(s)", file=out)
    return 0


VERBS = {"records": cmd_records, "surveillance": cmd_surveillance}
