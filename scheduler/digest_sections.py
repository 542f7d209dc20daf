"""The district's other jobs in the digests: each feature's lines, gathered in one place.

`district_sections` gives the bureau digest its extra lines (notices not acknowledged, the
opening checklist, 摸排 counts, supplies and the reallocation plan, early-warning signals,
deliveries that failed); `school_sections` gives a school digest its lines for the group
(counts only) or for the principal (names). Each feature's wording lives in its own
`handlers/` module and its queries in `storage/`; this module only puts them together.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from handlers import notices as notice_words
from handlers import digest as digest_words
from handlers.config import Config
from handlers.replies import escape_md
from handlers import supplies as supply_words
from storage import notices as notice_store
from handlers import whereabouts as watch_words
from storage import supplies as supply_store
from storage import whereabouts as watch_store
from storage.outbox_queue import failed_since

NOTICE_WINDOW = dt.timedelta(days=30)     # older notices no longer nag in the digest


def district_sections(session: Session, config: Config, day: dt.date, taken_at: dt.datetime
                      ) -> list[str]:
    lines: list[str] = failed_section(session, config, taken_at)
    since = taken_at - NOTICE_WINDOW
    lines += notice_words.notices_digest_lines(
        notice_store.pending_acknowledgements(session, config.tz, since=since))
    counts = watch_store.watch_counts(session, day, returned_days=config.watch.observe_days)
    if any(counts.get(k) for k in ("away", "observing", "ending_today", "on_leave")):
        lines.append("人员摸排：" + watch_words.counts_line(counts))
    if config.supplies:
        lines += supply_words.district_supplies_lines(
            supply_store.load_district_supplies(session, config, day))
    if config.checklist:
        line = notice_words.checklist_digest_line(
            *notice_store.checklist_finished(session, config.checklist))
        if line:
            lines.append(line)
    return lines


FAILED_WINDOW = dt.timedelta(hours=24)


def failed_section(session: Session, config: Config, taken_at: dt.datetime) -> list[str]:
    """Messages the outbox gave up on in the last day (a fever alert that never arrived is
    the bureau's business): how many, of what, and the last reason."""
    failed = failed_since(session, taken_at - FAILED_WINDOW,
                          robot_names={g.robot_key: g.scope for g in config.groups})
    return digest_words.failed_lines(failed)


def signal_section(signal_lines) -> list[str]:
    """The day's early-warning signals (异常信号预警), one line each."""
    if not signal_lines:
        return []
    return [f'<font color="warning">异常信号预警（{len(signal_lines)}）：</font>',
            *(f"· {escape_md(line)}" for line in signal_lines)]


class SchoolSections:
    """Each school's extra digest lines, read once for the district (not once per school)."""

    def __init__(self, session: Session, config: Config, day: dt.date):
        rows = watch_store.watch_rows(session, day, returned_days=config.watch.observe_days)
        self.rows_of: dict[str, list] = {}
        for r in rows:
            self.rows_of.setdefault(r.school or "", []).append(r)

    def lines(self, school: str, *, masked: bool) -> list[str]:
        """摸排 counts for the group; the names too for the principal."""
        rows = self.rows_of.get(school, [])
        counts = watch_words.count_rows(rows)
        if not any(counts.get(k) for k in ("away", "observing", "ending_today", "on_leave")):
            return []
        lines = ["人员摸排：" + watch_words.counts_line(counts)]
        if not masked:
            lines += [escape_md(line) for line in watch_words.list_lines(rows)]
        return lines
