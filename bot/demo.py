"""`python -m bot demo`: a whole school day on a local WeCom stand-in, no credentials needed.

Starts the stand-in and the webhook server on free loopback ports with a temporary SQLite
database and the bundled sample district (bot/demo_data/district.csv), then plays a day on a
simulated clock: the check opens, teachers and head teachers report (some late, one fever, one
typo refused then corrected, one outsider), reminders and escalations go out, digests and the
trend chart are posted. Prints the transcript, writes the chart and an XLSX export to a folder
it names, and exits 0. `--keep` leaves everything running with a dashboard login printed.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import random
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

from handlers.config import parse_config

DISTRICT = Path(__file__).resolve().parent / "demo_data" / "district.csv"
DEMO_TOKEN = "DemoToken2020"
DEMO_AES_KEY = "DemoEncodingAesKey0123456789abcdefghijklmnop"[:43]
DEMO_AIBOT_TOKEN = "DemoAibotToken"
DEMO_AIBOT_KEY = "AibotEncodingAesKey0123456789abcdefghijklmn"[:43]
DEMO_CORP = "wwdemo0000000001"


class SimClock:
    """The demo's clock: time moves only when the script says so."""

    def __init__(self, start: dt.datetime, speed: float):
        self.now = start
        self.speed = speed          # real seconds slept per simulated minute (0: none)

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, hhmm: str) -> None:
        h, m = map(int, hhmm.split(":"))
        target = self.now.replace(hour=h, minute=m, second=0, microsecond=0)
        if target > self.now and self.speed:
            time.sleep(min(5.0, self.speed * (target - self.now).total_seconds() / 60))
        self.now = max(self.now, target)


class Transcript:
    def __init__(self, clock: SimClock, out):
        self.clock = clock
        self.out = out
        self.lines: list[str] = []

    def say(self, text: str = "", *, stamp: bool = True) -> None:
        prefix = self.clock.now.strftime("%H:%M ") if stamp else "      "
        for i, line in enumerate(text.splitlines() or [""]):
            self.lines.append((prefix if i == 0 else "      ") + line)
            print(self.lines[-1], file=self.out, flush=True)

    def section(self, title: str) -> None:
        self.lines.append("")
        self.lines.append(f"── {title} " + "─" * max(0, 60 - len(title) * 2))
        print("\n" + self.lines[-1], file=self.out, flush=True)


def demo_config(db_url: str, api_base: str, schools: list[str]):
    raw = {
        "timezone": "Asia/Shanghai",
        "wecom": {"corp_id": DEMO_CORP, "agent_id": 1000002, "secret": "demo-secret",
                  "token": DEMO_TOKEN, "encoding_aes_key": DEMO_AES_KEY, "api_base": api_base,
                  "aibot": {"token": DEMO_AIBOT_TOKEN, "encoding_aes_key": DEMO_AIBOT_KEY}},
        "database": {"url": db_url},
        "health": {"fever_threshold": 37.3},
        "checks": [{"name": "morning", "opens": "07:00", "remind": "08:30", "escalate": "09:00",
                    "digest": "09:30"}],
        "calendar": {"weekdays": [1, 2, 3, 4, 5]},
        "groups": [{"scope": "bureau", "robot_key": "demo-bureau"}]
                  + [{"scope": s, "robot_key": f"demo-school-{i}", "chat_id": f"demo-chat-{i}"}
                     for i, s in enumerate(schools, 1)],
        "supplies": [{"name": "口罩", "unit": "个", "per_person_per_day": 2, "min_days": 7},
                     {"name": "消毒液", "unit": "升", "per_person_per_day": 0.05, "min_days": 7}],
        "checklist": [{"item": "重点场室消毒"}, {"item": "防疫物资储备到位"},
                      {"item": "校内发热处置预案"}],
        "notices": {"remind_after": "2h"},
    }
    return parse_config(raw)


def school_day(today: dt.date, calendar) -> dt.date:
    day = today
    while not calendar.is_school_day(day):
        day -= dt.timedelta(days=1)
    return day


def run_demo(*, speed: float = 0.0, seed: int = 1, keep: bool = False, out: str | None = None,
             stream=None, district: Path = DISTRICT) -> int:
    stream = stream or sys.stdout
    from bot.app import create_app
    from bot.services import Services
    from bot.wecom.signer import AibotSigner, CallbackSigner
    from bot.wecom.standin import WeComStandIn
    from storage.db import upgrade
    from storage.roster import apply_roster, load_roster

    rnd = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="morning-check-demo-"))
    outdir = Path(out) if out else workdir / "output"
    outdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir}/demo.db"
    upgrade(db_url)
    rows = load_roster(district)
    schools = sorted({r.school for r in rows if r.school})

    standin = WeComStandIn()
    standin.start()
    config = demo_config(db_url, standin.url, schools)
    tz = config.tz
    day = school_day(dt.datetime.now(tz).date(), config.calendar)
    clock = SimClock(dt.datetime.combine(day, dt.time(6, 50), tzinfo=tz), speed)
    services = Services.build(config, clock=clock)
    with services.sessions() as s, s.begin():
        apply_roster(s, rows)
    app = create_app(services=services)

    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    t = Transcript(clock, stream)
    play = DayPlay(config, services, standin, base, clock, t, rnd, rows,
                   CallbackSigner(DEMO_TOKEN, DEMO_AES_KEY, DEMO_CORP),
                   AibotSigner(DEMO_AIBOT_TOKEN, DEMO_AIBOT_KEY))
    try:
        print(f"晨检 demo: {len(schools)} schools, {sum(1 for r in rows if r.role != 'student')} staff, "
              f"{sum(1 for r in rows if r.role == 'student')} students; simulated day {day}", file=stream)
        print(f"WeCom stand-in at {standin.url}, webhook at {base}/wecom/callback", file=stream)
        play.seed_history(day, days=13)
        play.seed_supplies(day)
        play.run(day)
        chart, xlsx = play.write_outputs(day, outdir)
        t.section("输出 Output")
        print(f"chart:  {chart}\nexport: {xlsx}\ntranscript: {outdir / 'transcript.txt'}", file=stream)
        (outdir / "transcript.txt").write_text("\n".join(t.lines) + "\n", encoding="utf-8")
        if keep:
            password = secrets.token_urlsafe(8)
            bureau = next(r for r in rows if r.role == "bureau")
            from bot.passwd import set_password
            set_password(config, bureau.userid, password)
            print(f"\nStill running (Ctrl-C to stop):\n  dashboard  {base}/dashboard  "
                  f"login {bureau.userid} / {password}\n  webhook    {base}/wecom/callback\n"
                  f"  stand-in   {standin.url}", file=stream)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        server.shutdown()
        standin.stop()
        services.close()


class DayPlay:
    """The scripted day: who says what, when; which jobs run; what is printed."""

    def __init__(self, config, services, standin, base, clock, transcript, rnd, rows,
                 signer, aibot):
        self.config, self.services, self.standin, self.base = config, services, standin, base
        self.clock, self.t, self.rnd, self.rows = clock, transcript, rnd, rows
        self.signer, self.aibot = signer, aibot
        self.msg_id = 7_000_000_000
        self.seen = 0
        self.names = {r.userid: r.name for r in rows if r.userid}
        self.group_names = {g.robot_key: ("教育局群" if g.scope == "bureau" else f"{g.scope}群")
                            for g in config.groups}
        self.chats = {g.scope: g.chat_id for g in config.groups if g.chat_id}
        from bot.wecom.client import make_client
        from scheduler.runner import make_worker
        self.client = make_client(config)
        self.worker = make_worker(config, services.sessions, self.client, clock=clock,
                                  sleep=lambda s: None)

    # --- conversation ------------------------------------------------------------------
    def private(self, userid: str, text: str) -> str | None:
        self.msg_id += 1
        status, reply = self.signer.post_text(self.base, userid, text, msg_id=str(self.msg_id))
        who = self.names.get(userid, userid)
        self.t.say(f"{who} → 晨检（私聊）：{text}")
        if status != 200:
            self.t.say(f"   ✗ HTTP {status}", stamp=False)
        elif reply:
            self.t.say("   晨检：" + reply.replace("\n", "\n         "), stamp=False)
        self.deliver()
        return reply

    def group(self, userid: str, school: str, text: str) -> str | None:
        self.msg_id += 1
        status, reply = self.aibot.post_text(self.base, self.chats.get(school, "chat"), userid,
                                             "@晨检 " + text, msgid=f"demo{self.msg_id}")
        who = self.names.get(userid, userid)
        self.t.say(f"{who} → {school}群：@晨检 {text}")
        content = ((reply or {}).get("stream") or {}).get("content") if isinstance(reply, dict) else reply
        if content:
            self.t.say("   晨检（群内回复）：" + content.replace("\n", "\n         "), stamp=False)
        self.deliver()
        return content

    def job(self, name: str) -> None:
        from scheduler.commands import run_job
        buf = io.StringIO()
        run_job(self.config, name, day=self.clock.now.date(), client=self.client, clock=self.clock,
                sleep=lambda s: None, out=buf, err=buf)
        self.t.say(f"⏰ 定时任务 {name}: {buf.getvalue().strip()}")
        self.show_outbound()

    def deliver(self) -> None:
        self.worker.drain(timeout=5)
        self.show_outbound()

    def show_outbound(self) -> None:
        received = [r for r in self.standin.received if r["path"] != "/cgi-bin/gettoken"]
        for r in received[self.seen:]:
            self.t.say(self.describe(r), stamp=False)
        self.seen = len(received)

    def describe(self, r: dict) -> str:
        body = r.get("json") or {}
        kind = body.get("msgtype", "?")
        if r["path"].endswith("/webhook/send"):
            key = (r.get("query") or {}).get("key", "")
            if isinstance(key, list):
                key = key[0]
            where = "📣 " + self.group_names.get(key, "群")
        else:
            users = str(body.get("touser", "")).split("|")
            shown = "、".join(self.names.get(u, u) for u in users[:6])
            where = f"✉️  私信 {shown}{' 等%d人' % len(users) if len(users) > 6 else ''}"
        if kind == "image":
            return f"{where}：[图片] 近14个上学日趋势图"
        content = (body.get(kind) or {}).get("content", "")
        mentioned = (body.get("text") or {}).get("mentioned_list") or []
        extra = f"（@{len(mentioned)}人）" if mentioned else ""
        return f"{where}{extra}：" + content.replace("\n", "\n         ")

    # --- the day -------------------------------------------------------------------------
    def staff(self, school: str | None = None, role: str | None = None):
        return [r for r in self.rows if r.role in ("teacher", "head_teacher", "principal")
                and (school is None or r.school == school) and (role is None or r.role == role)]

    def temp(self) -> str:
        return f"{self.rnd.choice([36.2, 36.3, 36.4, 36.5, 36.5, 36.6, 36.7, 36.8]):.1f}"

    def run(self, day: dt.date) -> None:
        schools = sorted({r.school for r in self.rows if r.school})
        first, second, third = schools[0], schools[1], schools[2]
        self.t.section("07:00 晨检开始 The check opens")
        self.clock.at("07:00")
        self.job("open")

        self.t.section("07:05 老师们报告 Teachers report")
        self.clock.at("07:05")
        late = set()
        for school in schools:
            staff = self.staff(school)
            self.rnd.shuffle(staff)
            # about one in six of each school reports late (after the reminder) or not at all
            late |= {r.userid for r in staff[: max(2, len(staff) // 6)]}
        fever_teacher = next(r for r in self.staff(first, "teacher") if r.userid not in late)
        typo_teacher = next(r for r in self.staff(second, "teacher")
                            if r.userid not in late and r.userid != fever_teacher.userid)
        group_teacher = next(r for r in self.staff(third, "teacher") if r.userid not in late)
        leave_teacher = next(r for r in self.staff(third, "teacher")
                             if r.userid not in late and r.userid != group_teacher.userid)
        shown = 0
        for i, r in enumerate(self.staff()):
            if r.userid in late or r.userid in (fever_teacher.userid, typo_teacher.userid,
                                                group_teacher.userid, leave_teacher.userid):
                continue
            self.clock.now += dt.timedelta(seconds=40)
            if shown < 6 or r.role == "head_teacher":
                self.private(r.userid, self.rnd.choice([self.temp(), f"体温{self.temp()} 无咳嗽",
                                                        f"{self.temp()}℃ 正常"]))
                shown += 1
            else:
                self.quiet(r.userid, self.temp())
        self.t.say(f"（另有 {self.quiet_count} 位老师私聊报告正常体温，略）")

        self.t.section("请假 A teacher on leave: not reminded, not missing")
        self.clock.at("07:30")
        self.private(leave_teacher.userid, "我今天请假，家中有事")

        self.t.section("发热 A fever")
        self.clock.at("07:40")
        self.private(fever_teacher.userid, "体温37.9 咳嗽 乏力")

        self.t.section("写错了 A typo, refused then corrected")
        self.clock.at("07:45")
        self.private(typo_teacher.userid, "体温3.65")
        self.private(typo_teacher.userid, "36.5")

        self.t.section("群里@机器人 An @-mention in a school group")
        self.clock.at("07:50")
        self.group(group_teacher.userid, third, "36.6")

        self.t.section("班主任报班级情况 Head teachers report their classes")
        self.clock.at("08:00")
        for r in self.staff(role="head_teacher"):
            if r.userid in late:
                continue
            students = [s.name for s in self.rows if s.role == "student" and s.school == r.school
                        and s.class_name == r.class_name]
            expected = 40 + self.rnd.randint(0, 8)
            if students and r.school == second and not self.returned:
                # 人员摸排: a student back from an outbreak area starts home observation
                self.returned = students[-1]
                self.private(r.userid, f"{students[-1]} 昨天从武汉返回")
            if students and r.school == first:
                sick = students[0]
                self.private(r.userid, f"{r.class_name} 应到{expected} 实到{expected - 1} "
                                       f"病假1（{sick} 发热37.8）")
                wrong = students[1][0] + ("山" if students[1][1:2] != "山" else "川") + students[1][2:]
                self.private(r.userid, f"{wrong} 36.5，{students[2]} 36.4")
                self.private(r.userid, f"{students[1]} 36.5，{students[2]} 36.4")
            else:
                self.private(r.userid, f"{r.class_name} 应到{expected} 实到{expected} 全部正常")

        self.t.section("不在名单的人 Someone outside the roster")
        self.private("visitor01", "36.5")

        self.t.section("统一发布 A bureau notice, acknowledged")
        self.clock.at("08:10")
        self.notice("关于做好开学前准备工作的通知",
                    "请各校对照开学准备清单逐项落实，并于本周五前完成重点场室消毒。")
        principals = [r for r in self.rows if r.role == "principal"]
        for p in principals[:2]:                          # two of three principals read it
            self.private(p.userid, "收到")
        self.private(principals[0].userid, "清单 1 已完成")

        self.t.section("物资储备 Supplies counted, one school short")
        self.clock.at("08:20")
        self.private(principals[0].userid, "物资 口罩300个 消毒液2升")
        self.plan()

        self.t.section("08:30 提醒未报 Reminders")
        self.clock.at("08:30")
        principal = next(r for r in self.rows if r.role == "principal" and r.school == first)
        self.private(principal.userid, "谁没报")
        self.job("remind")

        self.t.section("迟到的报告 Late reports")
        self.clock.at("08:45")
        late_list = sorted(late)
        for userid in late_list[: len(late_list) // 2]:
            r = next(x for x in self.rows if x.userid == userid)
            if r.role == "head_teacher":
                self.private(userid, f"{r.class_name} 应到42 实到42 无发热")
            else:
                self.private(userid, self.temp())

        self.t.section("09:00 上报校长 Escalation to principals")
        self.clock.at("09:00")
        self.job("escalate")

        self.t.section("09:30 日报 Digests")
        self.clock.at("09:30")
        self.job("digest")
        bureau = next(r for r in self.rows if r.role == "bureau")
        self.private(bureau.userid, "统计")
        self.private(bureau.userid, "摸排")

    quiet_count = 0
    returned = None

    def notice(self, title: str, body: str) -> None:
        from storage.notices import queue_notice
        with self.services.sessions() as s, s.begin():
            queued = queue_notice(s, self.config, title=title, body=body, now=self.clock())
        self.t.say(f"🏛  教育局 notice send --title {title}：第{queued.id}号通知")
        self.deliver()

    def plan(self) -> None:
        from handlers.supplies import plan_text
        from storage.supplies import district_plans
        with self.services.sessions() as s:
            plans = district_plans(s, self.config, self.clock.now.date())
        self.t.say("🏛  教育局 supplies plan：\n" + plan_text(plans, self.clock.now.date()))

    def quiet(self, userid: str, text: str) -> None:
        """A report sent through the webhook but left out of the printed transcript."""
        self.msg_id += 1
        self.signer.post_text(self.base, userid, text, msg_id=str(self.msg_id))
        self.quiet_count += 1

    def seed_history(self, day: dt.date, days: int) -> None:
        """Earlier school days, so that the trend chart has two weeks to show."""
        from storage import records as store
        from storage.models import Person
        from sqlalchemy import select
        cal = self.config.calendar
        past, d = [], day - dt.timedelta(days=1)
        while len(past) < days:
            if cal.is_school_day(d):
                past.append(d)
            d -= dt.timedelta(days=1)
        with self.services.sessions() as s, s.begin():
            people = list(s.scalars(select(Person).where(Person.role.in_(
                ["teacher", "head_teacher", "principal"]))))
            heads = [p for p in people if p.role == "head_teacher"]
            for d in past:
                for p in people:
                    if self.rnd.random() < 0.93:
                        fever = self.rnd.random() < 0.01
                        store.save_record(s, person_id=p.id, day=d, check="morning",
                                          temperature=37.6 if fever else 36.5,
                                          symptoms=("fever",) if fever else (), abnormal=fever,
                                          reported_by_id=p.id, message_id=None)
                for h in heads:
                    exp = 42
                    sick = self.rnd.choice([0, 0, 0, 1])
                    store.save_class_report(s, school_id=h.school_id, class_name=h.class_name,
                                            day=d, check="morning", expected=exp, present=exp - sick,
                                            absent=sick, sick_absent=sick, fever=0,
                                            reported_by_id=h.id, message_id=None)

    def seed_supplies(self, day: dt.date) -> None:
        """Counts two days old of every school but the one whose principal counts in the day's
        play: stock the plan can draw on."""
        from sqlalchemy import select

        from storage.models import School
        from storage.supplies import save_count
        counted = dt.datetime.combine(day - dt.timedelta(days=2), dt.time(1, 0))
        with self.services.sessions() as s, s.begin():
            schools = list(s.scalars(select(School).order_by(School.name)))
            first = next(r.school for r in self.rows if r.role == "principal")
            for school in schools:
                if school.name == first:
                    continue
                for item, quantity in (("口罩", 4000), ("消毒液", 60)):
                    save_count(s, school_id=school.id, item=self.config.supply(item),
                               quantity=quantity, day=counted.date(), now=counted,
                               reported_by_id=None, message_id=None)

    def write_outputs(self, day: dt.date, outdir: Path) -> tuple[Path, Path]:
        chart = outdir / f"trend-{day}.png"
        images = [r for r in self.standin.received if (r.get("json") or {}).get("msgtype") == "image"]
        if images:
            chart.write_bytes(base64.b64decode(images[-1]["json"]["image"]["base64"]))
        xlsx = outdir / f"records-{day}.xlsx"
        from bot.export import export
        with self.services.sessions() as s:
            export(s, day - dt.timedelta(days=20), day, xlsx, self.config.tz, config=self.config)
        return chart, xlsx
