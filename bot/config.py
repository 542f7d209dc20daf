"""Reads and validates the TOML config (see CONTRACT.md, "Config").

`load_config(path)` returns a `Config` or raises `ConfigError` whose `problems` name each bad or
missing key. Secrets may come from the environment instead of the file:
WECOM_SECRET, WECOM_TOKEN, WECOM_AES_KEY, WECOM_AIBOT_TOKEN, WECOM_AIBOT_AES_KEY.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = "config.toml"
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ENV_SECRETS = {
    ("wecom", "secret"): "WECOM_SECRET",
    ("wecom", "token"): "WECOM_TOKEN",
    ("wecom", "encoding_aes_key"): "WECOM_AES_KEY",
    ("wecom.aibot", "token"): "WECOM_AIBOT_TOKEN",
    ("wecom.aibot", "encoding_aes_key"): "WECOM_AIBOT_AES_KEY",
}


class ConfigError(Exception):
    """The config cannot be used; `problems` lists "key: what is wrong" lines."""

    def __init__(self, problems: list[str], path: str | None = None):
        self.problems = problems
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(problems))


@dataclass(frozen=True)
class WeComConfig:
    corp_id: str
    agent_id: int
    secret: str
    token: str
    encoding_aes_key: str
    api_base: str = "https://qyapi.weixin.qq.com"
    aibot_token: str = ""
    aibot_encoding_aes_key: str = ""

    @property
    def aibot_enabled(self) -> bool:
        return bool(self.aibot_token and self.aibot_encoding_aes_key)


@dataclass(frozen=True)
class Check:
    name: str
    opens: dt.time
    remind: dt.time
    escalate: dt.time
    digest: dt.time

    def time_of(self, job: str) -> dt.time:
        return getattr(self, job)


@dataclass(frozen=True)
class Calendar:
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[dt.date] = frozenset()
    extra_days: frozenset[dt.date] = frozenset()

    def is_school_day(self, day: dt.date) -> bool:
        if day in self.extra_days:
            return True
        if day in self.holidays:
            return False
        return day.isoweekday() in self.weekdays


@dataclass(frozen=True)
class Group:
    scope: str            # "bureau" or a school's name
    robot_key: str
    chat_id: str = ""


@dataclass(frozen=True)
class Config:
    timezone: str
    wecom: WeComConfig
    database_url: str
    fever_threshold: float
    checks: tuple[Check, ...]
    calendar: Calendar
    groups: tuple[Group, ...] = ()
    redis_url: str = ""
    dashboard_secret: str = ""
    path: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.tz)

    def today(self) -> dt.date:
        return self.now().date()

    def check(self, name: str | None) -> Check:
        """The named check, or the first (the default) when name is None."""
        if name is None:
            return self.checks[0]
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def group_for(self, scope: str) -> Group | None:
        return next((g for g in self.groups if g.scope == scope), None)


def resolve_path(cli_path: str | None) -> str:
    return cli_path or os.environ.get("BOT_CONFIG") or DEFAULT_PATH


def load_config(path: str) -> Config:
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"config file not found: {path}"], None)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML ({exc})"], path) from None
    return parse_config(raw, path=path, env=os.environ)


def parse_config(raw: dict, *, path: str | None = None, env=None) -> Config:
    """Builds a Config from already-parsed TOML, collecting every problem before failing."""
    env = env if env is not None else {}
    problems: list[str] = []

    def table(name: str, data: dict = raw) -> dict:
        value = data.get(name, {})
        if not isinstance(value, dict):
            problems.append(f"{name}: must be a table")
            return {}
        return value

    timezone = raw.get("timezone", "Asia/Shanghai")
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: unknown time zone {timezone!r}")

    wecom = table("wecom")
    aibot = table("aibot", wecom) if wecom else {}

    def secret(section: dict, section_name: str, key: str) -> str:
        value = section.get(key) or env.get(_ENV_SECRETS[(section_name, key)], "")
        if not isinstance(value, str):
            problems.append(f"{section_name}.{key}: must be a string")
            return ""
        return value

    corp_id = wecom.get("corp_id", "")
    if not isinstance(corp_id, str) or not corp_id:
        problems.append("wecom.corp_id: missing (the 企业ID from 我的企业 → 企业信息)")
        corp_id = ""
    agent_id = wecom.get("agent_id")
    if not isinstance(agent_id, int) or isinstance(agent_id, bool) or agent_id <= 0:
        problems.append("wecom.agent_id: missing or not a positive whole number (the app's AgentId)")
        agent_id = 0
    app_secret = secret(wecom, "wecom", "secret")
    if not app_secret:
        problems.append("wecom.secret: missing (set it in the file or in env WECOM_SECRET)")
    token = secret(wecom, "wecom", "token")
    if not token:
        problems.append("wecom.token: missing (the callback Token, or env WECOM_TOKEN)")
    aes_key = secret(wecom, "wecom", "encoding_aes_key")
    _check_aes_key("wecom.encoding_aes_key", aes_key, problems, required=True)
    api_base = wecom.get("api_base", "https://qyapi.weixin.qq.com")
    if not isinstance(api_base, str) or not re.match(r"^https?://[^/\s]+", api_base):
        problems.append("wecom.api_base: must be an http(s) URL such as https://qyapi.weixin.qq.com")
        api_base = ""
    aibot_token = secret(aibot, "wecom.aibot", "token")
    aibot_key = secret(aibot, "wecom.aibot", "encoding_aes_key")
    if aibot_token or aibot_key:
        if not aibot_token:
            problems.append("wecom.aibot.token: missing while encoding_aes_key is set")
        _check_aes_key("wecom.aibot.encoding_aes_key", aibot_key, problems, required=True)

    database = table("database")
    db_url = database.get("url", "sqlite:///data/bot.db")
    if not isinstance(db_url, str) or not re.match(r"^(sqlite|postgresql)(\+\w+)?://", db_url):
        problems.append("database.url: must start with sqlite:/// or postgresql+psycopg://")
        db_url = ""

    health = table("health")
    threshold = health.get("fever_threshold", 37.3)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 36.0 <= threshold <= 39.0:
        problems.append("health.fever_threshold: must be a number between 36.0 and 39.0")
        threshold = 37.3

    checks = _parse_checks(raw.get("checks"), problems)
    calendar = _parse_calendar(table("calendar"), problems)
    groups = _parse_groups(raw.get("groups", []), problems)

    redis = table("redis")
    redis_url = redis.get("url", "") or env.get("REDIS_URL", "")
    if redis_url and not str(redis_url).startswith(("redis://", "rediss://", "unix://")):
        problems.append("redis.url: must start with redis://")
    dashboard = table("dashboard")
    dashboard_secret = dashboard.get("secret_key", "") or env.get("DASHBOARD_SECRET_KEY", "")

    if problems:
        raise ConfigError(problems, path)
    return Config(
        timezone=str(timezone),
        wecom=WeComConfig(
            corp_id=corp_id, agent_id=agent_id, secret=app_secret, token=token,
            encoding_aes_key=aes_key, api_base=api_base.rstrip("/"),
            aibot_token=aibot_token, aibot_encoding_aes_key=aibot_key,
        ),
        database_url=db_url,
        fever_threshold=float(threshold),
        checks=checks,
        calendar=calendar,
        groups=groups,
        redis_url=str(redis_url),
        dashboard_secret=str(dashboard_secret),
        path=path,
    )


def _check_aes_key(key: str, value: str, problems: list[str], required: bool) -> None:
    if not value:
        if required:
            problems.append(f"{key}: missing (43 characters from the callback settings)")
        return
    if len(value) != 43 or not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
        problems.append(f"{key}: must be exactly 43 letters and digits (it has {len(value)})")


def _parse_time(value, key: str, problems: list[str]) -> dt.time | None:
    if not isinstance(value, str) or not _TIME.match(value):
        problems.append(f"{key}: must be a time like \"07:00\"")
        return None
    hour, minute = value.split(":")
    return dt.time(int(hour), int(minute))


def _parse_checks(raw, problems: list[str]) -> tuple[Check, ...]:
    if raw is None:
        raw = [{"name": "morning", "opens": "07:00", "remind": "08:30",
                "escalate": "09:00", "digest": "09:30"}]
    if not isinstance(raw, list) or not raw:
        problems.append("checks: needs at least one [[checks]] table")
        return ()
    checks, seen = [], set()
    for i, item in enumerate(raw):
        where = f"checks[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a table")
            continue
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
            problems.append(f"{where}.name: must be a short lowercase name such as \"morning\"")
            continue
        if name in seen:
            problems.append(f"{where}.name: {name!r} is used twice")
        seen.add(name)
        times = {job: _parse_time(item.get(job), f"{where}.{job}", problems)
                 for job in ("opens", "remind", "escalate", "digest")}
        if None in times.values():
            continue
        order = list(times.values())
        if order != sorted(order):
            problems.append(f"{where}: times must run opens ≤ remind ≤ escalate ≤ digest")
            continue
        checks.append(Check(name=name, **times))
    return tuple(checks)


def _parse_dates(values, key: str, problems: list[str]) -> frozenset[dt.date]:
    if not isinstance(values, list):
        problems.append(f"{key}: must be a list of \"YYYY-MM-DD\" dates")
        return frozenset()
    out = set()
    for v in values:
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            out.add(v)
            continue
        try:
            out.add(dt.date.fromisoformat(str(v)))
        except ValueError:
            problems.append(f"{key}: {v!r} is not a date like \"2026-10-01\"")
    return frozenset(out)


def _parse_calendar(raw: dict, problems: list[str]) -> Calendar:
    weekdays = raw.get("weekdays", [1, 2, 3, 4, 5])
    if not isinstance(weekdays, list) or not all(isinstance(d, int) and 1 <= d <= 7 for d in weekdays):
        problems.append("calendar.weekdays: must be a list of ISO weekdays 1 (Monday) to 7 (Sunday)")
        weekdays = [1, 2, 3, 4, 5]
    return Calendar(
        weekdays=frozenset(weekdays),
        holidays=_parse_dates(raw.get("holidays", []), "calendar.holidays", problems),
        extra_days=_parse_dates(raw.get("extra_days", []), "calendar.extra_days", problems),
    )


def _parse_groups(raw, problems: list[str]) -> tuple[Group, ...]:
    if not isinstance(raw, list):
        problems.append("groups: must be [[groups]] tables")
        return ()
    groups, seen = [], set()
    for i, item in enumerate(raw):
        where = f"groups[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a table")
            continue
        scope, key = item.get("scope"), item.get("robot_key")
        if not isinstance(scope, str) or not scope.strip():
            problems.append(f"{where}.scope: missing (\"bureau\" or a school's name from the roster)")
            continue
        if not isinstance(key, str) or not key.strip():
            problems.append(f"{where}.robot_key: missing (the key= of the group robot's webhook)")
            continue
        if scope in seen:
            problems.append(f"{where}.scope: {scope!r} has two groups")
        seen.add(scope)
        groups.append(Group(scope=scope.strip(), robot_key=key.strip(),
                            chat_id=str(item.get("chat_id", "") or "")))
    return tuple(groups)
