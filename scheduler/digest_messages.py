"""What the digest job posts: school digests, principals' private digests, the bureau digest.

`build_digest_messages(session, config, day, check_name, taken_at)` computes every figure from
the database at call time (so a late report changes every later digest) and returns the
`Outgoing` messages for the scheduler to queue, in this order:

1. each school's group (markdown, names masked, no health details);
2. each school's principal(s) privately (markdown, full names, the follow-up list);
3. the bureau group: the district digest (markdown), then the 14-day trend chart (image).
   Without a bureau group the district digest goes to the bureau people privately.

Dedupe keys name day, check, audience and part; `force=True` appends the taken_at time so a
corrected digest is queued again (the scheduler's own re-run numbering works as well).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging

from sqlalchemy.orm import Session

from handlers.config import Config
from handlers import digest as compose
from scheduler import digest_sections as sections
from handlers.figures import FollowUpRow, district_figures
from handlers.outgoing import Outgoing
from storage.followups import open_followups
from storage.alert_queries import bureau_group_cluster_alerts
from storage.roster_queries import school_ids_by_name
from storage import recipients
from storage.recipients import liaison_map, principal_map
from storage.snapshot import snapshots_of
from storage.trends import TREND_DAYS, tallies_of, trend

log = logging.getLogger(__name__)

MAX_USERIDS = 1000              # WeCom's touser limit per message
CLUSTER_OPEN_DAYS = 3           # a cluster alert stays "open" in the digest this long


def build_digest_messages(session: Session, config: Config, day: dt.date, check_name: str,
                          taken_at: dt.datetime, *, force: bool = False,
                          alerts: list[str] | None = None,
                          followups: dict[str, list[FollowUpRow]] | None = None,
                          signal_lines: list[str] = (), chart: bool = True) -> list[Outgoing]:
    """All digest messages for one day and check; `taken_at` (naive = UTC) is "数据截至".

    `alerts` (open cluster alerts, plain strings) and `followups` (per school) default to what
    the database says; tests pass them in.
    """
    threshold = config.fever_threshold
    previous_day = config.calendar.previous_school_day(day)
    days = [day] + ([previous_day] if previous_day is not None else [])
    snaps = snapshots_of(session, days, [check_name], taken_at=taken_at, students="reported")
    snapshot = snaps[(day, check_name)]
    figs = district_figures(snapshot, threshold)
    suffix = ("@" + taken_at.strftime("%Y%m%dT%H%M%S")) if force else ""
    base = f"digest:{day.isoformat()}:{check_name}"
    if followups is None:
        followups = _followups(session, config, day)
    out: list[Outgoing] = []
    tallies = [f.tally() for f in figs]
    school_ids = school_ids_by_name(session)
    heads_of = principal_map(session)
    school_sections = sections.SchoolSections(session, config, day)
    for fig in figs:
        key = f"{base}:school:{_short(fig.school)}"
        common = dict(day=day, check=check_name, taken_at=taken_at, tz=config.tz,
                      threshold=threshold)
        group = config.group_for(fig.school)
        if group is not None:
            extra = school_sections.lines(fig.school, masked=True)
            for i, part in enumerate(compose.school_digest(fig, masked=True, extra_lines=extra,
                                                           **common)):
                out.append(Outgoing("group", group.robot_key, "markdown", part,
                                    f"{key}:group:{i}{suffix}"))
        principals = heads_of.get(school_ids.get(fig.school), [])
        if principals:
            extra = school_sections.lines(fig.school, masked=False)
            parts = compose.school_digest(fig, masked=False, extra_lines=extra,
                                          followups=followups.get(fig.school, []), **common)
            for b, batch in enumerate(_batches(principals)):
                for i, part in enumerate(parts):
                    out.append(Outgoing("person", "|".join(batch), "markdown", part,
                                        f"{key}:principal:{b}:{i}{suffix}"))

    previous = None
    if previous_day is not None:
        previous = tallies_of(snaps[(previous_day, check_name)], threshold)
    if alerts is None:
        alerts = open_cluster_alerts(session, day)
    bureau = config.group_for("bureau")
    parts = compose.district_digest(
        tallies, day=day, check=check_name, taken_at=taken_at, tz=config.tz, previous=previous,
        previous_day=previous_day, alerts=alerts,
        extra_lines=sections.signal_section(signal_lines)
        + sections.district_sections(session, config, day, taken_at),
        limit=compose.GROUP_LIMIT if bureau is not None else compose.PERSON_LIMIT)
    if bureau is not None:
        for i, part in enumerate(parts):
            out.append(Outgoing("group", bureau.robot_key, "markdown", part,
                                f"{base}:bureau:{i}{suffix}"))
        if chart:
            png = trend_chart(session, config, day, check_name, taken_at)
            out.append(Outgoing("group", bureau.robot_key, "image",
                                base64.b64encode(png).decode("ascii"), f"{base}:chart{suffix}"))
    else:
        people = recipients.bureau(session)
        for b, batch in enumerate(_batches(people)):
            for i, part in enumerate(parts):
                out.append(Outgoing("person", "|".join(batch), "markdown", part,
                                    f"{base}:bureau-people:{b}:{i}{suffix}"))
    out += _liaison_digests(session, config, tallies, previous, day, check_name, taken_at,
                            alerts, base, suffix)
    return out


def _liaison_digests(session, config, tallies, previous, day, check_name, taken_at, alerts,
                     base, suffix) -> list[Outgoing]:
    """Each liaison's private digest of the schools they answer for (责任到人)."""
    names = {i: n for n, i in school_ids_by_name(session).items()}
    schools_of: dict[str, set[str]] = {}
    for school_id, userids in liaison_map(session).items():
        for u in userids:
            schools_of.setdefault(u, set()).add(names.get(school_id, ""))
    out = []
    for userid, schools in sorted(schools_of.items()):
        mine = [t for t in tallies if t.school in schools]
        if not mine:
            continue
        before = [t for t in previous if t.school in schools] if previous is not None else None
        mine_alerts = [a for a in alerts if any(s and s in a for s in schools)]
        parts = compose.district_digest(
            mine, day=day, check=check_name, taken_at=taken_at, tz=config.tz, previous=before,
            previous_day=config.calendar.previous_school_day(day) if before else None,
            alerts=mine_alerts, title=f"您联系的学校（{len(mine)}所）", limit=compose.PERSON_LIMIT)
        for i, part in enumerate(parts):
            out.append(Outgoing("person", userid, "markdown", part,
                                f"{base}:liaison:{userid}:{i}{suffix}"))
    return out


def trend_chart(session: Session, config: Config, day: dt.date, check_name: str,
                taken_at: dt.datetime) -> bytes:
    from scheduler.chart import trend_png

    points = trend(session, config, day, check_name, days=TREND_DAYS)
    title = f"全区近{len(points)}个上学日趋势 · {compose.check_label(check_name)}"
    subtitle = f"{compose.day_label(day)} 数据截至 {compose.as_of(taken_at, config.tz)}"
    return trend_png(points, title=title, subtitle=subtitle)


def open_cluster_alerts(session: Session, day: dt.date) -> list[str]:
    """Cluster alerts queued for the bureau group in the last few days, one line each.

    The alert job (scheduler.alerts) stores them in the outbox under
    `cluster:{school id}:{class}:{day}:bureau-group`; their text carries no names.
    """
    since = day - dt.timedelta(days=CLUSTER_OPEN_DAYS - 1)
    wanted = {(since + dt.timedelta(days=i)).isoformat() for i in range(CLUSTER_OPEN_DAYS)}
    out = []
    for row in bureau_group_cluster_alerts(session):
        parts = row.dedupe_key.split(":")
        if len(parts) < 5 or parts[-2] not in wanted:
            continue
        lines = [l.strip() for l in row.content.splitlines() if l.strip()]
        # "【聚集性疫情预警】3月2日" / "学校 班级" / "今日发热3人" / rule: keep the middle
        core = [l for l in lines[1:] if not l.startswith("根据")] or lines
        text = f"{compose.day_label(dt.date.fromisoformat(parts[-2]))} " + " ".join(core)
        if text not in out:
            out.append(text)
    return out


def _followups(session: Session, config: Config, day: dt.date) -> dict[str, list[FollowUpRow]]:
    by_school: dict[str, list[FollowUpRow]] = {}
    for row in open_followups(session, None, day, config.calendar):
        by_school.setdefault(row.school, []).append(row)
    return by_school


def _batches(userids: list[str]) -> list[list[str]]:
    return [userids[i:i + MAX_USERIDS] for i in range(0, len(userids), MAX_USERIDS)]


def _short(name: str) -> str:
    """A school's name in a dedupe key (keys hold 200 characters)."""
    return name if len(name) <= 60 else hashlib.sha1(name.encode()).hexdigest()[:16]
