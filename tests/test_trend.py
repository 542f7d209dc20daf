"""The 14-day trend, read by aggregate, says what a full snapshot of each day says."""
import datetime as dt
import random

from sqlalchemy import select, update

from handlers.figures import district_totals
from storage import records as store
from storage.models import ClassReport, HealthRecord, Person
from storage.snapshot import snapshots_of
from storage.trends import tallies_of, trend
from tests.test_jobs import MONDAY, env, env_factory  # noqa: F401 - fixtures


def test_trend_equals_the_figures_of_each_days_snapshot(env):
    rnd = random.Random(7)
    days = env.config.calendar.school_days_until(MONDAY, 14)
    staff = ["wangxz", "lils", "zhangls", "zhaols", "sunxz", "zhouls", "wuls"]
    students = [("张三", "lils"), ("李四", "lils"), ("欧阳明月", "lils"), ("王五", "zhaols")]
    for d in days:
        for who in staff:
            if rnd.random() < 0.8:
                temp = rnd.choice([36.4, 36.8, 37.3, 37.9, None])
                symptoms = rnd.choice([(), (), ("cough",), ("fever",), ("fever", "cough")])
                env.record(who, temp, symptoms, day=d)
                if rnd.random() < 0.2:                      # corrected: one current record
                    env.record(who, 36.5, (), day=d)
        for name, head in students:
            if rnd.random() < 0.4:
                env.record(name, rnd.choice([37.5, 38.2, 36.6]), rnd.choice([(), ("fever",)]),
                           day=d, by=head)
        for head in ("lils", "zhaols", "zhouls"):
            if rnd.random() < 0.85:
                env.class_report(head, 40, 38, day=d, fever=rnd.choice([0, 0, 1, 2]))
        if rnd.random() < 0.5:                              # a class with no head teacher
            with env.sessions() as s, s.begin():
                lils = s.scalar(select(Person).where(Person.userid == "lils"))
                store.save_class_report(s, school_id=lils.school_id, class_name="五年级3班",
                                        day=d, check="morning", expected=30, present=28,
                                        absent=2, sick_absent=rnd.choice([0, 1, 2]), fever=1,
                                        reported_by_id=lils.id, message_id=None)
    with env.sessions() as s, s.begin():                    # someone left: their records go
        s.execute(update(Person).where(Person.userid == "wuls").values(active=False))
        revoked = s.scalars(select(HealthRecord).where(HealthRecord.replaced_at.is_(None))
                            .limit(3)).all()
        for r in revoked:
            r.revoked_at = dt.datetime(2026, 3, 2)
        for c in s.scalars(select(ClassReport)).all()[::3]:
            c.sick_absent = 1

    with env.sessions() as s:
        points = trend(s, env.config, MONDAY, "morning")
        snaps = snapshots_of(s, days, ["morning"])
    assert [p.day for p in points] == days
    for p in points:
        totals = district_totals(tallies_of(snaps[(p.day, "morning")], env.config.fever_threshold))
        assert (p.rate, p.fevers, p.sick_absent) == (totals.rate, totals.fevers,
                                                      totals.sick_absent), p.day
    assert any(p.fevers for p in points) and any(p.sick_absent for p in points)
