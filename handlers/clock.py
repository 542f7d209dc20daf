"""Time zones, in one place: every datetime is stored as naive UTC and shown in local time."""
from __future__ import annotations

import datetime as dt


def to_utc(t: dt.datetime) -> dt.datetime:
    """Naive UTC, as every datetime is stored (a naive `t` is taken to be UTC already)."""
    if t.tzinfo is None:
        return t
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def to_local(t: dt.datetime | None, tz) -> dt.datetime | None:
    """An aware local time from a stored (naive UTC) or an aware datetime (None stays None)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(tz)


def local_text(t: dt.datetime | None, tz, fmt: str = "%Y-%m-%d %H:%M:%S", missing: str = "-") -> str:
    return missing if t is None else to_local(t, tz).strftime(fmt)
