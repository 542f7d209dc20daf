"""Test helpers: service databases, configs, a fixed clock, a live server on loopback."""
from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
import zoneinfo
from typing import Any, NamedTuple

import pytest

from handlers.config import parse_config

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

SAMPLE_TOKEN = "QDG6eK"
SAMPLE_CORP_ID = "wx5823bf96d3bd56c7"
SAMPLE_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AIBOT_TOKEN = "aibotToken123"
AIBOT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def service_missing(what: str, why: str):
    """Skip (on a laptop) or fail (in CI, REQUIRE_SERVICES=1) when a service is not there."""
    msg = f"{what} not reachable ({why}); start it or unset REQUIRE_SERVICES"
    if REQUIRE_SERVICES:
        pytest.fail(msg)
    pytest.skip(msg)


def pg_connect(dbname: str | None = None, autocommit=True):
    import psycopg
    url = PG_ADMIN if dbname is None else PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname
    return psycopg.connect(url, autocommit=autocommit, connect_timeout=3)


def create_pg_database() -> str:
    """A fresh empty PostgreSQL database; returns its SQLAlchemy URL."""
    try:
        conn = pg_connect()
    except Exception as exc:  # psycopg.OperationalError and friends
        service_missing("PostgreSQL at " + PG_ADMIN, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    name = "mc_test_" + uuid.uuid4().hex[:12]
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    try:
        with pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:
        pass


def make_config(db_url: str, api_base: str = "http://127.0.0.1:9", **overrides):
    raw = {
        "timezone": "Asia/Shanghai",
        "wecom": {"corp_id": SAMPLE_CORP_ID, "agent_id": 1000002, "secret": "test-secret",
                  "token": SAMPLE_TOKEN, "encoding_aes_key": SAMPLE_AES_KEY, "api_base": api_base,
                  "aibot": {"token": AIBOT_TOKEN, "encoding_aes_key": AIBOT_AES_KEY}},
        "database": {"url": db_url},
        "health": {"fever_threshold": 37.3},
        "checks": [{"name": "morning", "opens": "07:00", "remind": "08:30", "escalate": "09:00",
                    "digest": "09:30"},
                   {"name": "noon", "opens": "12:30", "remind": "13:30", "escalate": "13:45",
                    "digest": "14:00"}],
        "calendar": {"weekdays": [1, 2, 3, 4, 5], "holidays": [], "extra_days": []},
        "groups": [{"scope": "bureau", "robot_key": "bureau-key"},
                   {"scope": "第一实验小学", "robot_key": "school1-key", "chat_id": "chat-school1"},
                   {"scope": "第二小学", "robot_key": "school2-key", "chat_id": "chat-school2"}],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return parse_config(raw)


def config_toml(db_url: str, api_base: str = "http://127.0.0.1:9", *,
                tzname: str = "Asia/Shanghai", times: dict[str, dt.datetime] | None = None) -> str:
    """A config file's text for processes started with BOT_CONFIG: the test roster's groups,
    one check (`times`: opens/remind/escalate/digest; default 07:00–09:30), and today a school
    day whatever the weekday (an extra day)."""
    hm = {k: f"{v:%H:%M}" for k, v in (times or {}).items()} or {
        "opens": "07:00", "remind": "08:30", "escalate": "09:00", "digest": "09:30"}
    today = (times["opens"].date() if times else dt.datetime.now(zoneinfo.ZoneInfo(tzname)).date())
    return f'''timezone = "{tzname}"

[wecom]
corp_id = "{SAMPLE_CORP_ID}"
agent_id = 1000002
secret = "test-secret"
token = "{SAMPLE_TOKEN}"
encoding_aes_key = "{SAMPLE_AES_KEY}"
api_base = "{api_base}"

[database]
url = "{db_url}"

[health]
fever_threshold = 37.3

[[checks]]
name = "morning"
opens = "{hm['opens']}"
remind = "{hm['remind']}"
escalate = "{hm['escalate']}"
digest = "{hm['digest']}"

[calendar]
weekdays = [1, 2, 3, 4, 5]
holidays = []
extra_days = ["{today.isoformat()}"]

[[groups]]
scope = "bureau"
robot_key = "bureau-key"

[[groups]]
scope = "第一实验小学"
robot_key = "school1-key"

[[groups]]
scope = "第二小学"
robot_key = "school2-key"
'''


class FixedClock:
    """A settable clock in Asia/Shanghai: `clock()` returns the current fake time."""

    def __init__(self, when: dt.datetime):
        self.when = when if when.tzinfo else when.replace(tzinfo=SHANGHAI)

    def __call__(self) -> dt.datetime:
        return self.when

    def set(self, when: dt.datetime) -> None:
        self.when = when if when.tzinfo else when.replace(tzinfo=SHANGHAI)

    def advance(self, **kw) -> None:
        self.when = self.when + dt.timedelta(**kw)


class LiveServer:
    """A WSGI app served over real HTTP on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


ROSTER_CSV = """school,class,name,role,userid,mobile
,,陈局长,bureau,chenju,13800000001
第一实验小学,,王校长,principal,wangxz,13800000002
第一实验小学,三年级2班,李老师,head_teacher,lils,13800000003
第一实验小学,三年级2班,张老师,teacher,zhangls,13800000004
第一实验小学,三年级2班,张三,student,,
第一实验小学,三年级2班,李四,student,,
第一实验小学,三年级2班,欧阳明月,student,,
第一实验小学,四年级1班,赵老师,head_teacher,zhaols,13800000005
第一实验小学,四年级1班,王五,student,,
第二小学,,孙校长,principal,sunxz,13800000006
第二小学,一年级1班,周老师,head_teacher,zhouls,13800000007
第二小学,一年级1班,吴老师,teacher,wuls,13800000008
"""


class RosterDb(NamedTuple):
    """A migrated database holding the test roster: `config`, `sessions`, and `load(csv_text)`
    to apply another roster (for tests that add people)."""
    config: Any
    sessions: Any

    def load(self, csv_text: str, tmp_path) -> None:
        from storage.roster import apply_roster, load_roster
        path = tmp_path / "roster-extra.csv"
        path.write_text(csv_text, encoding="utf-8")
        with self.sessions() as s, s.begin():
            apply_roster(s, load_roster(path))


def roster_database(db_url, tmp_path, roster_csv: str | None = None, **config_overrides):
    """(engine, RosterDb): `db_url` migrated, the roster applied, a config for it."""
    from storage.db import make_engine, make_sessionmaker, upgrade

    upgrade(db_url)
    engine = make_engine(db_url)
    db = RosterDb(make_config(db_url, **config_overrides), make_sessionmaker(engine))
    db.load(roster_csv or ROSTER_CSV, tmp_path)
    return engine, db
