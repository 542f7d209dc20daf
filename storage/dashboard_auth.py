"""Dashboard logins: attempt limits shared by every worker, and sessions held on the server.

Limits (`LoginLimits`): each attempt first takes a slot of its address and of its account,
atomically, *before* the password is checked, so concurrent guesses on several workers or
hosts cannot overshoot. A rule lets `free` attempts through, then locks its key for
`base` seconds, doubling with every further attempt up to `cap`; a success clears the
account and gives the address its slot back. The count is forgotten `window` seconds after
its first failure (or when its lock ends, if later).

- per account: 5 free attempts, then 1, 2, 4 … 60 minutes: about 30 guesses a day at most;
- per address: 100 free, then 1 … 15 minutes, counted over 15 minutes: high, because behind
  one proxy (or one school's NAT) every user shares an address, and one attacker's failures
  must not lock the others out.

An attacker can still delay the one account it guesses at (the price of any per-account
limit), never anybody else's.

Two stores with the same behaviour: Redis (one Lua script per attempt) where `[redis] url` is
set, and the database otherwise. While Redis is unreachable the database takes over.

Sessions (`open_session`, `session_person`, `end_session`): a login inserts a row keyed by the
SHA-256 of a random session id that only the cookie carries; every request looks it up, and
logout deletes it, so a copied cookie stops working the moment its user logs out.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.models import DashboardSession, LoginLimit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    name: str            # the key's prefix
    free: int            # attempts before the first lock
    base: float          # seconds of the first lock
    cap: float           # the longest lock
    window: float        # seconds a count lives from its first failure

    def lock_seconds(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (count - self.free)))


ACCOUNT = Rule("account", free=5, base=60, cap=3600, window=86400)
ADDRESS = Rule("address", free=100, base=60, cap=900, window=900)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None)


def _epoch(when: dt.datetime) -> float:
    return when.replace(tzinfo=dt.timezone.utc).timestamp()


class DatabaseLimits:
    """The limits in table `login_limits`; one short transaction per call."""

    def __init__(self, sessions: sessionmaker[Session], clock=time.time):
        self.sessions = sessions
        self.clock = clock

    def reserve(self, rule: Rule, key: str) -> float:
        """0 when the attempt may go ahead (it is counted); else the seconds to wait."""
        now = self.clock()
        full = f"{rule.name}:{key}"
        with self.sessions() as s, s.begin():
            _insert_missing(s, full, _utc(now + rule.window))
            row = s.execute(select(LoginLimit).where(LoginLimit.key == full)
                            .with_for_update()).scalar_one()
            failures, locked, expires = row.failures, row.locked_until, row.expires_at
            if _epoch(expires) <= now:
                failures, locked, expires = 0, None, _utc(now + rule.window)
            if locked is not None and now < _epoch(locked):
                return _epoch(locked) - now
            failures += 1
            lock = rule.lock_seconds(failures)
            locked = _utc(now + lock) if lock else None
            if locked is not None and locked > expires:
                expires = locked
            s.execute(update(LoginLimit).where(LoginLimit.key == full).values(
                failures=failures, locked_until=locked, expires_at=expires))
            s.execute(delete(LoginLimit).where(LoginLimit.expires_at < _utc(now)))
        return 0.0

    def release(self, rule: Rule, key: str) -> None:
        """Gives back the slot of an attempt that turned out not to be a failure."""
        full = f"{rule.name}:{key}"
        with self.sessions() as s, s.begin():
            s.execute(update(LoginLimit).where(LoginLimit.key == full, LoginLimit.failures > 0)
                      .values(failures=LoginLimit.failures - 1))

    def forget(self, rule: Rule, key: str) -> None:
        with self.sessions() as s, s.begin():
            s.execute(delete(LoginLimit).where(LoginLimit.key == f"{rule.name}:{key}"))


def _insert_missing(s: Session, key: str, expires: dt.datetime) -> None:
    values = dict(key=key, failures=0, locked_until=None, expires_at=expires)
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    s.execute(insert(LoginLimit).values(**values).on_conflict_do_nothing(index_elements=["key"]))


# KEYS[1]: the key; ARGV: now, free, base, cap, window. Returns 0 (go ahead) or the wait in
# milliseconds. The same arithmetic as DatabaseLimits.reserve, atomically inside Redis.
_RESERVE = """
local now = tonumber(ARGV[1])
local free, base, cap, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'failures', 'locked_until')
local failures = tonumber(v[1]) or 0
local locked = tonumber(v[2]) or 0
if now < locked then return math.ceil((locked - now) * 1000) end
local fresh = failures == 0
failures = failures + 1
locked = 0
if failures >= free then locked = now + math.min(cap, base * 2 ^ (failures - free)) end
redis.call('HSET', KEYS[1], 'failures', failures, 'locked_until', locked)
if fresh then redis.call('EXPIRE', KEYS[1], math.ceil(window)) end
if locked > 0 then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < locked - now then redis.call('EXPIRE', KEYS[1], math.ceil(locked - now)) end
end
return 0
"""
_RELEASE = """
local f = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if f > 0 then redis.call('HSET', KEYS[1], 'failures', f - 1) end
return 0
"""


class RedisLimits:
    """The limits in Redis hashes `<prefix>:login:<rule>:<key>`, falling back to `fallback`
    (the database) while Redis is unreachable."""

    def __init__(self, redis_url: str, fallback: DatabaseLimits, *, prefix: str = "morningcheck",
                 clock=time.time):
        import redis

        self.client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.fallback = fallback
        self.prefix = prefix
        self.clock = clock
        self._reserve = self.client.register_script(_RESERVE)
        self._release = self.client.register_script(_RELEASE)

    def _key(self, rule: Rule, key: str) -> str:
        return f"{self.prefix}:login:{rule.name}:{key}"

    def _redis_failed(self, exc: Exception) -> None:
        log.warning("Redis unreachable for login limits, using the database: %s",
                    exc.__class__.__name__)

    def reserve(self, rule: Rule, key: str) -> float:
        import redis

        try:
            wait_ms = self._reserve(keys=[self._key(rule, key)],
                                    args=[self.clock(), rule.free, rule.base, rule.cap, rule.window])
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return self.fallback.reserve(rule, key)
        return int(wait_ms) / 1000.0

    def release(self, rule: Rule, key: str) -> None:
        import redis

        try:
            self._release(keys=[self._key(rule, key)])
        except redis.RedisError as exc:
            self._redis_failed(exc)
            self.fallback.release(rule, key)

    def forget(self, rule: Rule, key: str) -> None:
        import redis

        try:
            self.client.delete(self._key(rule, key))
        except redis.RedisError as exc:
            self._redis_failed(exc)
            self.fallback.forget(rule, key)


def login_limits(sessions: sessionmaker[Session], redis_url: str = "", *, clock=time.time):
    """Redis limits where `redis_url` is set, else the database's."""
    db = DatabaseLimits(sessions, clock=clock)
    return RedisLimits(redis_url, db, clock=clock) if redis_url else db


# ------------------------------------------------------------------------------ sessions

def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()


def open_session(s: Session, person_id: int, hours: float, now: dt.datetime) -> str:
    """A new session for `person_id`; returns the session id for the cookie."""
    sid = secrets.token_urlsafe(32)
    s.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
    s.add(DashboardSession(id=_digest(sid), person_id=person_id, created_at=now,
                           expires_at=now + dt.timedelta(hours=hours)))
    return sid


def session_person(s: Session, sid: str, now: dt.datetime) -> int | None:
    """The person id of a live session, or None when it ended, expired or never existed."""
    if not isinstance(sid, str) or not sid or len(sid) > 100:
        return None
    row = s.get(DashboardSession, _digest(sid))
    if row is None or row.expires_at <= now:
        return None
    return row.person_id


def end_session(s: Session, sid: str) -> None:
    if isinstance(sid, str) and sid:
        s.execute(delete(DashboardSession).where(DashboardSession.id == _digest(sid)))
