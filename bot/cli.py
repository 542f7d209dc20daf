"""`python -m bot VERB`: the operator's command line (CONTRACT.md, "Command line").

Every verb exits 0 on success and non-zero with one line on stderr otherwise; an operator's
mistake (bad file, bad date, bad config) never shows a traceback.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from bot import cli_notices, cli_surveillance
from bot import cli_watch
from bot import cli_supplies
from bot.config import Config, ConfigError, load_config, resolve_path
from storage.db import DatabaseError


class UsageError(Exception):
    """An operator's mistake: printed as one line, exit code 2."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-02") from None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot", description="晨检 Morning Check bot")
    ap.add_argument("--config", help="config file (default: $BOT_CONFIG, else ./config.toml)")
    sub = ap.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    sub.add_parser("init-db", help="create or upgrade the database schema")
    p = sub.add_parser("serve", help="webhook server (and the scheduler unless --no-scheduler)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: put HTTPS in front, docs/deploy.md)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-scheduler", action="store_true")
    p.add_argument("--threads", type=int, default=8)
    sub.add_parser("scheduler", help="run only the scheduler (one per deployment)")
    p = sub.add_parser("roster", help="roster commands")
    rsub = p.add_subparsers(dest="roster_verb", metavar="import")
    rsub.required = True
    r = rsub.add_parser("import", help="load people from a CSV or XLSX roster")
    r.add_argument("file")
    r.add_argument("--force", action="store_true",
                   help="import even if it deactivates more than a fifth of the active people")
    p = sub.add_parser("parse", help="read messages from stdin, print how they are read")
    p.add_argument("--jsonl", action="store_true")
    p.add_argument("--today", type=_date)
    p = sub.add_parser("run-job", help="run one scheduled job now")
    p.add_argument("job", choices=["open", "remind", "escalate", "digest"])
    p.add_argument("--date", type=_date)
    p.add_argument("--check")
    p.add_argument("--force", action="store_true")
    p = sub.add_parser("export", help="write records to .xlsx or .csv")
    p.add_argument("--from", dest="start", type=_date, required=True)
    p.add_argument("--to", dest="end", type=_date, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("demo", help="a whole simulated school day on a local WeCom stand-in")
    p.add_argument("--speed", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--out")
    sub.add_parser("check-config", help="validate the config, key by key")
    sub.add_parser("status", help="outbox backlog, failed deliveries, job runs, scheduler leader")
    p = sub.add_parser("passwd", help="set a dashboard password (read from stdin)")
    p.add_argument("userid")
    cli_surveillance.add_parsers(sub)
    cli_notices.add_parsers(sub)
    cli_watch.add_parsers(sub)
    cli_supplies.add_parsers(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)   # the verbs say what they did
    args = build_parser().parse_args(argv)
    try:
        return VERBS[args.verb](args)
    except ConfigError as exc:
        if len(exc.problems) == 1:
            print(f"error: config {exc}", file=sys.stderr)
        else:
            print(f"error: config {exc.path or ''} has {len(exc.problems)} problems: "
                  + "; ".join(exc.problems), file=sys.stderr)
        return 2
    except (UsageError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _config(args) -> Config:
    return load_config(resolve_path(args.config))


def cmd_check_config(args) -> int:
    path = resolve_path(args.config)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    schools = _school_names(config)
    if schools:
        from handlers.config import roster_problems
        problems = roster_problems(config, schools)
        if problems:
            print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            return 2
    print(f"{path}: OK — {len(config.checks)} check(s) "
          f"({', '.join(c.name for c in config.checks)}), {len(config.groups)} group(s), "
          f"database {config.database_url.split('://')[0]}, timezone {config.timezone}")
    if schools is None:
        print("note: the database has no schema yet, so group scopes were not checked against "
              "the roster (run init-db and roster import, then check-config again)")
    elif not schools:
        print("note: the roster is empty, so group scopes were not checked against it "
              "(run roster import, then check-config again)")
    if config.wecom.corp_id == "wx5823bf96d3bd56c7":
        print("warning: [wecom] holds Tencent's public SAMPLE credentials; replace them before real use")
    return 0


def cmd_init_db(args) -> int:
    config = _config(args)
    from storage.db import upgrade
    rev = upgrade(config.database_url)
    print(f"database ready at schema revision {rev}")
    return 0


def _open(config: Config):
    from storage.db import make_engine, make_sessionmaker
    engine = make_engine(config.database_url)
    _require_schema(engine)
    return engine, make_sessionmaker(engine)


def _require_schema(engine) -> None:
    from sqlalchemy.exc import SQLAlchemyError
    from storage.db import current_revision

    try:
        rev = current_revision(engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot reach the database: {str(getattr(exc, 'orig', exc)).splitlines()[0]}") from None
    from alembic.script import ScriptDirectory
    from storage.db import alembic_config
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    if rev != head:
        raise DatabaseError("the database schema is not up to date: run `python -m bot init-db` first")


def cmd_roster(args) -> int:
    import sqlite3

    from storage.roster import RosterError, apply_roster, load_roster
    from storage.roster_queries import school_names
    config = _config(args)
    engine, sessions = _open(config)
    bar = _ProgressBar(args.file, sys.stderr)
    try:
        with sessions() as s:
            known = school_names(s)
        with load_roster(args.file, known_schools=known, progress=bar) as roster:
            with sessions() as s, s.begin():
                summary = apply_roster(s, roster, force=args.force, progress=bar)
            people = len(roster)
    except RosterError as exc:            # TooManyRemoved too
        bar.clear()
        if exc.total == 1:
            print(f"error: {args.file}: nothing imported: {exc.problems[0]}", file=sys.stderr)
            return 2
        print(f"error: {args.file}: nothing imported, {exc.total} problem(s):", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:      # unreadable file, no scratch space
        bar.clear()
        print(f"error: {args.file}: nothing imported: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    bar.clear()
    print(f"roster {args.file}: {people} people; {summary.describe()}")
    return 0


class _ProgressBar:
    """`roster import`'s progress on a terminal's stderr (nothing when it is not a terminal)."""

    WIDTH = 30

    def __init__(self, label: str, stream):
        self.label, self.stream = label, stream
        self.live = stream.isatty()
        self.shown = False
        self.last = 0.0

    def __call__(self, stage: str, rows: int, fraction: float | None) -> None:
        import time
        now = time.monotonic()
        if not self.live or now - self.last < 0.1:
            return
        self.last = now
        text = f"{self.label}: {stage} {rows:,} rows"
        if fraction is not None:
            filled = round(fraction * self.WIDTH)
            text = (f"{self.label}: {stage} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                    f"{fraction:4.0%}  {rows:,} rows")
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def cmd_parse(args) -> int:
    threshold = 37.3
    if args.config:
        threshold = load_config(args.config).fever_threshold
    from bot.parse_command import run
    return run(sys.stdin, sys.stdout, jsonl=args.jsonl, today=args.today, fever_threshold=threshold)


def cmd_export(args) -> int:
    config = _config(args)
    from bot.export import ExportError, export
    engine, sessions = _open(config)
    try:
        with sessions() as s:
            n = export(s, args.start, args.end, args.out, config.tz, config=config)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
    finally:
        engine.dispose()
    print(f"wrote {n} record(s) from {args.start} to {args.end} to {args.out}")
    return 0


def _school_names(config: Config) -> set[str] | None:
    """The roster's school names; None when the database has no schema (or is not there)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import make_engine, make_sessionmaker
    from storage.roster_queries import school_names

    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None                        # do not create a database just to look into it
    engine = make_engine(config.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            return set(school_names(s))
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _refuse_roster_mismatch(config: Config) -> None:
    """`serve` starts only when every group scope names a school of the roster."""
    from handlers.config import roster_problems

    schools = _school_names(config)
    if not schools:
        logging.getLogger("bot.cli").warning(
            "the roster is empty: group scopes not checked; run `python -m bot roster import`")
        return
    problems = roster_problems(config, schools)
    if problems:
        raise ConfigError(problems, config.path)


def cmd_serve(args) -> int:
    config = _config(args)
    from bot.server import serve
    _check_schema(config)
    _refuse_roster_mismatch(config)
    return serve(config, host=args.host, port=args.port, scheduler=not args.no_scheduler,
                 threads=args.threads)


def cmd_scheduler(args) -> int:
    config = _config(args)
    from scheduler.commands import run_scheduler
    _check_schema(config)
    from bot.wecom.client import make_client
    return run_scheduler(config, make_client(config))


def cmd_run_job(args) -> int:
    config = _config(args)
    if args.check is not None and args.check not in [c.name for c in config.checks]:
        raise UsageError(f"--check {args.check!r} is not a configured check "
                         f"({', '.join(c.name for c in config.checks)})")
    from scheduler.commands import run_job
    _check_schema(config)
    from bot.wecom.client import make_client
    return run_job(config, args.job, day=args.date, check=args.check, force=args.force,
                   client=make_client(config))


def cmd_status(args) -> int:
    config = _config(args)
    from scheduler.commands import status
    _check_schema(config)
    return status(config)


def cmd_passwd(args) -> int:
    config = _config(args)
    from bot.passwd import PasswordError, set_password
    _check_schema(config)
    if sys.stdin.isatty():
        import getpass
        password = getpass.getpass(f"new dashboard password for {args.userid}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        set_password(config, args.userid, password)
    except PasswordError as exc:
        raise UsageError(str(exc)) from None
    print(f"dashboard password set for {args.userid}")
    return 0


def cmd_demo(args) -> int:
    logging.getLogger().setLevel(logging.WARNING)      # the transcript is the output
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from bot.demo import run_demo
    return run_demo(speed=args.speed, seed=args.seed, keep=args.keep, out=args.out)


def _check_schema(config: Config) -> None:
    from storage.db import make_engine
    engine = make_engine(config.database_url)
    try:
        _require_schema(engine)
    finally:
        engine.dispose()


VERBS = {
    "check-config": cmd_check_config,
    "init-db": cmd_init_db,
    "roster": cmd_roster,
    "parse": cmd_parse,
    "export": cmd_export,
    "serve": cmd_serve,
    "scheduler": cmd_scheduler,
    "run-job": cmd_run_job,
    "demo": cmd_demo,
    "status": cmd_status,
    "passwd": cmd_passwd,
}
VERBS.update(cli_surveillance.VERBS)
VERBS.update(cli_notices.VERBS)
VERBS.update(cli_watch.VERBS)
VERBS.update(cli_supplies.VERBS)
