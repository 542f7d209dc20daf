"""The configuration as plain data, and its validation (see CONTRACT.md, "Config").

`parse_config(raw)` turns already-parsed TOML into a `Config` or raises `ConfigError` whose
`problems` name each bad, missing or unknown key. Reading the file is `bot.config.load_config`'s
job; everything here is pure, so `scheduler/` and `storage/` use the same dataclasses without
importing `bot/`. Secrets may come from the environment instead of the file:
WECOM_SECRET, WECOM_TOKEN, WECOM_AES_KEY, WECOM_AIBOT_TOKEN, WECOM_AIBOT_AES_KEY.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field

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


    def school_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The school days from `start` to `end`, both included, in order."""
        out, day = [], start
        while day <= end:
            if self.is_school_day(day):
                out.append(day)
            day += dt.timedelta(days=1)
        return out

    def previous_school_days(self, day: dt.date, n: int, *, limit_days: int = 400) -> list[dt.date]:
        """The `n` school days before `day` (not included), newest first."""
        out, d = [], day
        for _ in range(limit_days):
            if len(out) >= n:
                break
            d -= dt.timedelta(days=1)
            if self.is_school_day(d):
                out.append(d)
        return out

    def school_days_until(self, end: dt.date, count: int) -> list[dt.date]:
        """The last `count` school days up to and including `end`, oldest first."""
        days = ([end] if self.is_school_day(end) else [])
        days += self.previous_school_days(end, count - len(days))
        return sorted(days)[-count:] if count > 0 else []

    def previous_school_day(self, day: dt.date) -> dt.date | None:
        days = self.previous_school_days(day, 1)
        return days[0] if days else None

    def count_school_days(self, start: dt.date, end: dt.date) -> int:
        """School days from `start` to `end`, both included (at least 1 when start <= end)."""
        return len(self.school_days(start, end)) or (1 if start <= end else 0)


@dataclass(frozen=True)
class Watch:
    """人员摸排: a return from one of `areas` starts `observe_days` of home observation."""
    observe_days: int = 14
    areas: tuple[str, ...] = ("湖北", "武汉")


@dataclass(frozen=True)
class SupplyItem:
    name: str                      # 口罩
    unit: str                      # 个
    per_person_per_day: float      # daily use per active person of the school
    min_days: float                # fewer days of cover than this is low stock


@dataclass(frozen=True)
class Notices:
    remind_after: dt.timedelta = dt.timedelta(hours=2)


SURVEILLANCE_METHODS = ("c1", "c2", "c3", "ewma", "off")


@dataclass(frozen=True)
class Surveillance:
    method: str = "c2"             # one of SURVEILLANCE_METHODS
    baseline_days: int = 7
    guard_days: int = 2
    threshold: float = 3.0
    min_count: int = 2


@dataclass(frozen=True)
class Server:
    trusted_proxies: int = 0       # reverse proxies in front whose X-Forwarded-* headers count


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
    watch: Watch = Watch()
    supplies: tuple[SupplyItem, ...] = ()
    checklist: tuple[str, ...] = ()
    notices: Notices = Notices()
    surveillance: Surveillance = Surveillance()
    server: Server = Server()
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

    def supply(self, name: str) -> SupplyItem | None:
        return next((i for i in self.supplies if i.name == name), None)


# Every table and key the config may hold; anything else is a typo the operator must hear of.
KNOWN_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"timezone", "wecom", "database", "health", "checks", "calendar", "groups",
                   "redis", "dashboard", "watch", "supplies", "checklist", "notices",
                   "surveillance", "server"}),
    "wecom": frozenset({"corp_id", "agent_id", "secret", "token", "encoding_aes_key",
                        "api_base", "aibot"}),
    "wecom.aibot": frozenset({"token", "encoding_aes_key"}),
    "database": frozenset({"url"}),
    "health": frozenset({"fever_threshold"}),
    "checks": frozenset({"name", "opens", "remind", "escalate", "digest"}),
    "calendar": frozenset({"weekdays", "holidays", "extra_days"}),
    "groups": frozenset({"scope", "robot_key", "chat_id"}),
    "redis": frozenset({"url"}),
    "dashboard": frozenset({"secret_key"}),
    "watch": frozenset({"observe_days", "areas"}),
    "supplies": frozenset({"name", "unit", "per_person_per_day", "min_days"}),
    "checklist": frozenset({"item"}),
    "notices": frozenset({"remind_after"}),
    "surveillance": frozenset({"method", "baseline_days", "guard_days", "threshold", "min_count"}),
    "server": frozenset({"trusted_proxies"}),
}
ARRAY_TABLES = frozenset({"checks", "groups", "supplies", "checklist"})

# Tencent's public sample callback credentials (the documentation's test vectors).
SAMPLE_CORP_IDS = frozenset({"wx5823bf96d3bd56c7", "ww1436e0e65a779aee"})
SAMPLE_TOKENS = frozenset({"QDG6eK"})
SAMPLE_AES_KEYS = frozenset({"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"})
_LOOPBACK = re.compile(r"^https?://(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?(/|$)")


def uses_sample_credentials(wecom: WeComConfig) -> bool:
    return (wecom.corp_id in SAMPLE_CORP_IDS or wecom.token in SAMPLE_TOKENS
            or wecom.encoding_aes_key in SAMPLE_AES_KEYS)


def is_loopback(url: str) -> bool:
    return bool(_LOOPBACK.match(url))


def roster_problems(config: Config, schools: set[str]) -> list[str]:
    """Scopes of the config that name no school of the roster (checked by check-config, serve)."""
    out = []
    for i, g in enumerate(config.groups):
        if g.scope != "bureau" and g.scope not in schools:
            hint = _closest(g.scope, schools)
            out.append(f"groups[{i}].scope: {g.scope!r} is no school of the roster"
                       + (f" (did you mean {hint!r}?)" if hint else ""))
    return out


def _closest(name: str, choices: set[str]) -> str | None:
    import difflib
    found = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _unknown_keys(raw: dict, problems: list[str]) -> None:
    def check(table: str, data, label: str) -> None:
        """`table`: the table's kind in KNOWN_KEYS; `label`: as the operator wrote it."""
        if not isinstance(data, dict):
            return
        known = KNOWN_KEYS.get(table)
        if known is None:
            return
        for key, value in data.items():
            full = f"{table}.{key}" if table else key
            shown = f"{label}.{key}" if label else key
            if key not in known:
                hint = _closest(key, set(known))
                kind = "table" if isinstance(value, (dict, list)) and value and not table else "key"
                problems.append(f"{shown}: unknown {kind}" + (f" (did you mean {hint!r}?)" if hint else ""))
                continue
            if full in ARRAY_TABLES and isinstance(value, list):
                for i, item in enumerate(value):
                    check(full, item, f"{shown}[{i}]")
            elif isinstance(value, dict) and full in KNOWN_KEYS:
                check(full, value, shown)

    check("", raw, "")


def parse_config(raw: dict, *, path: str | None = None, env=None) -> Config:
    """Builds a Config from already-parsed TOML, collecting every problem before failing."""
    env = env if env is not None else {}
    problems: list[str] = []
    _unknown_keys(raw, problems)

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

    watch = _parse_watch(table("watch"), problems)
    supplies = _parse_supplies(raw.get("supplies", []), problems)
    checklist = _parse_checklist(raw.get("checklist", []), problems)
    notices = _parse_notices(table("notices"), problems)
    surveillance = _parse_surveillance(table("surveillance"), problems)
    server = table("server")
    proxies = server.get("trusted_proxies", 0)
    if isinstance(proxies, bool) or not isinstance(proxies, int) or not 0 <= proxies <= 5:
        problems.append("server.trusted_proxies: must be a whole number from 0 to 5")
        proxies = 0

    if (api_base and not is_loopback(api_base) and (corp_id in SAMPLE_CORP_IDS
                                                     or token in SAMPLE_TOKENS
                                                     or aes_key in SAMPLE_AES_KEYS)):
        problems.append("wecom: Tencent's public SAMPLE credentials with api_base "
                        f"{api_base!r}, which is not on loopback: anyone could forge callbacks; "
                        "put in the app's own corp_id, token and encoding_aes_key")

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
        watch=watch, supplies=supplies, checklist=checklist, notices=notices,
        surveillance=surveillance, server=Server(trusted_proxies=proxies),
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


def _array_tables(raw, name: str, problems: list[str]) -> list[tuple[str, dict]]:
    """The [[name]] tables as ("name[i]", table), each bad one named in `problems`."""
    if not isinstance(raw, list):
        problems.append(f"{name}: must be [[{name}]] tables")
        return []
    out = []
    for i, item in enumerate(raw):
        where = f"{name}[{i}]"
        if isinstance(item, dict):
            out.append((where, item))
        else:
            problems.append(f"{where}: must be a table")
    return out


def _parse_groups(raw, problems: list[str]) -> tuple[Group, ...]:
    groups, seen = [], set()
    for where, item in _array_tables(raw, "groups", problems):
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


def _number(value, key: str, problems: list[str], low: float, high: float, *, whole=False):
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and (not whole or isinstance(value, int)) and low <= value <= high)
    if not ok:
        kind = "a whole number" if whole else "a number"
        problems.append(f"{key}: must be {kind} from {low:g} to {high:g}")
        return None
    return value


def _parse_watch(raw: dict, problems: list[str]) -> Watch:
    days = _number(raw.get("observe_days", 14), "watch.observe_days", problems, 1, 60, whole=True)
    areas = raw.get("areas", ["湖北", "武汉"])
    if not isinstance(areas, list) or not all(isinstance(a, str) and a.strip() for a in areas):
        problems.append("watch.areas: must be a list of place names such as [\"湖北\", \"武汉\"]")
        areas = []
    return Watch(observe_days=days or 14, areas=tuple(a.strip() for a in areas))


def _parse_supplies(raw, problems: list[str]) -> tuple[SupplyItem, ...]:
    items, seen = [], set()
    for where, item in _array_tables(raw, "supplies", problems):
        name, unit = item.get("name"), item.get("unit")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}.name: missing (the item as people write it, such as \"口罩\")")
            continue
        if not isinstance(unit, str) or not unit.strip():
            problems.append(f"{where}.unit: missing (such as \"个\" or \"升\")")
            continue
        if name in seen:
            problems.append(f"{where}.name: {name!r} is listed twice")
        seen.add(name)
        use = _number(item.get("per_person_per_day"), f"{where}.per_person_per_day", problems,
                      0.0001, 1000)
        min_days = _number(item.get("min_days", 7), f"{where}.min_days", problems, 0, 365)
        if use is None or min_days is None:
            continue
        items.append(SupplyItem(name.strip(), unit.strip(), float(use), float(min_days)))
    return tuple(items)


def _parse_checklist(raw, problems: list[str]) -> tuple[str, ...]:
    out = []
    for where, item in _array_tables(raw, "checklist", problems):
        text = item.get("item")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}.item: missing (the preparation, such as \"重点场室消毒\")")
            continue
        if text.strip() in out:
            problems.append(f"{where}.item: {text!r} is listed twice")
            continue
        out.append(text.strip())
    return tuple(out)


_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d)\s*$")


def parse_duration(text) -> dt.timedelta | None:
    """"90m", "2h", "1d" → timedelta; anything else None."""
    m = _DURATION.match(text) if isinstance(text, str) else None
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    return {"m": dt.timedelta(minutes=n), "min": dt.timedelta(minutes=n),
            "h": dt.timedelta(hours=n), "d": dt.timedelta(days=n)}[unit]


def _parse_notices(raw: dict, problems: list[str]) -> Notices:
    value = raw.get("remind_after", "2h")
    after = parse_duration(value)
    if after is None or after <= dt.timedelta(0):
        problems.append("notices.remind_after: must be a duration such as \"2h\" or \"90m\"")
        after = dt.timedelta(hours=2)
    return Notices(remind_after=after)


def _parse_surveillance(raw: dict, problems: list[str]) -> Surveillance:
    method = raw.get("method", "c2")
    if method not in SURVEILLANCE_METHODS:
        problems.append(f"surveillance.method: must be one of {', '.join(SURVEILLANCE_METHODS)}")
        method = "c2"
    baseline = _number(raw.get("baseline_days", 7), "surveillance.baseline_days", problems, 3, 60,
                       whole=True)
    guard = _number(raw.get("guard_days", 2), "surveillance.guard_days", problems, 0, 14, whole=True)
    threshold = _number(raw.get("threshold", 3.0), "surveillance.threshold", problems, 0.1, 100)
    min_count = _number(raw.get("min_count", 2), "surveillance.min_count", problems, 1, 1000,
                        whole=True)
    return Surveillance(method=method, baseline_days=baseline or 7,
                        guard_days=guard if guard is not None else 2,
                        threshold=float(threshold or 3.0), min_count=min_count or 2)
