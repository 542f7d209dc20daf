"""Early warning at each digest: compute, store, and say what is new (CONTRACT.md, "Early
warning").

`surveillance_messages(session, config, day, check)` evaluates every school and signal for
`day` with `[surveillance] method`, stores the signals (one per school, signal and day) and
returns:
- one private alert per signal to the school's principal(s) and `school_officers` (its
  liaisons, else every bureau person), with the figures that raised it and a 14-day
  sparkline, under the dedupe key `surveillance:{day}:{school id}:{signal}:{batch}`, so
  the outbox keeps one per school, signal and day however often digests run;
- the bureau digest's lines: every signal stored for the day (also those raised by an earlier
  check's digest), one line each.
It runs in the digest job's transaction; the caller queues the messages. The counts are the
whole day's (every check so far), so a later check's digest may raise a signal the morning's
did not; a signal once raised stays for the day.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from handlers import surveillance as sv
from handlers.config import Config
from handlers.outgoing import Outgoing
from storage import surveillance as store
from storage.outbox_queue import split_userids
from storage.recipients import principals, school_officers

log = logging.getLogger(__name__)


def surveillance_messages(session: Session, config: Config, day: dt.date, check=None, *,
                          now: dt.datetime | None = None) -> tuple[list[Outgoing], list[str]]:
    """(private alerts of the day's signals, the bureau digest's lines); `check` is the
    digest's check (a name or `Check`; the counts are the whole day's)."""
    params = sv.Params.of(config.surveillance)
    if params.method == "off":
        return [], []
    first = store.lookback_start(config.calendar, day, params)
    counts = store.daily_counts(session, first, day, config.fever_threshold)
    scored = store.evaluate_range(session, config, day, day, counts=counts)
    store.store_signals(session, scored, threshold=params.threshold,
                        baseline_days=params.baseline_days, now=now)
    signals = store.signals_on(session, day)
    out: list[Outgoing] = []
    for s in signals:
        userids = sorted(set(principals(session, s["school_id"]))
                         | set(school_officers(session, s["school_id"])))
        if not userids:
            log.warning("signal %s at %s on %s but nobody to tell", s["signal"], s["school"], day)
            continue
        spark = store.recent_counts(counts, config.calendar, s["school_id"], s["signal"], day)
        text = sv.alert_text(school=s["school"], signal=s["signal"], day=day, count=s["count"],
                             heads=s["heads"], expected=s["expected"], score=s["score"],
                             threshold=s["threshold"], method=s["method"],
                             baseline_days=s["baseline_days"], spark=spark)
        key = f"surveillance:{day.isoformat()}:{s['school_id']}:{s['signal']}"
        for i, batch in enumerate(split_userids(userids)):
            out.append(Outgoing("person", "|".join(batch), "text", text, f"{key}:{i}"))
    return out, sv.bureau_lines(signals)
