"""The jobs' ledger: one `JobRun` row per day, check and job (what makes a job idempotent)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import JobRun


def job_run(session: Session, day: dt.date, check: str, job: str, *,
            for_update: bool = False) -> JobRun | None:
    q = select(JobRun).where(JobRun.day == day, JobRun.check == check, JobRun.job == job)
    return session.scalar(q.with_for_update() if for_update else q)


def last_runs(session: Session) -> list[JobRun]:
    """The latest run of every (check, job), newest day first."""
    rows = list(session.scalars(select(JobRun).order_by(JobRun.day.desc(), JobRun.id.desc())
                                .limit(200)))
    seen, out = set(), []
    for r in rows:
        if (r.check, r.job) in seen:
            continue
        seen.add((r.check, r.job))
        out.append(r)
    return out
