"""The daily jobs' pieces for home observation (人员摸排), as plain `Outgoing` messages.

- `observation_ending_messages(session, config, day)`: on an observation's last day, each of
  the school's principals is told privately that it ends. An observation that ends on a day
  off (no job runs then) is told on the school day before it. One message per person and last
  day (`dedupe_key` `watch-end:<person id>:<last day>`): queued twice, it is stored once; an
  observation extended to a new last day is told again on that day.
- `observed_missing_lines(session, day, check, school_id)`: for the escalation, the lines
  naming the people under observation who have not reported (empty when none).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from handlers.config import Config
from handlers.outgoing import Outgoing
from handlers.whereabouts import observation_ends_text, observation_missed_lines
from storage.recipients import principals
from storage.whereabouts import observation_ending, observed_missing

LOOKAHEAD_DAYS = 14          # how far ahead to look for the next school day


def last_day_told(config: Config, day: dt.date) -> dt.date:
    """The last observation day `day`'s job tells of: `day` and the days off after it."""
    last = day
    for _ in range(LOOKAHEAD_DAYS):
        following = last + dt.timedelta(days=1)
        if config.calendar.is_school_day(following):
            break
        last = following
    return last


def observation_ending_messages(session: Session, config: Config, day: dt.date) -> list[Outgoing]:
    out = []
    for row in observation_ending(session, day, last_day_told(config, day)):
        if row.school_id is None:
            continue
        userids = principals(session, row.school_id)
        if not userids:
            continue
        out.append(Outgoing("person", "|".join(userids), "text",
                            observation_ends_text(row, day),
                            dedupe_key=f"watch-end:{row.person_id}:{row.end.isoformat()}"))
    return out


def observed_missing_lines(session: Session, day: dt.date, check: str,
                           school_id: int | None = None) -> list[str]:
    return observation_missed_lines(observed_missing(session, day, check, school_id))
