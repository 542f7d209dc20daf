"""Webhook throughput and latency under gunicorn, against two WeRoBot 1.13 echo bots.

    python bench/webhook_bench.py [--short] [--rounds N] [--teachers N] [--connections C]
                                  [--backends sqlite,postgresql] [--no-werobot]

Every target runs under the same gunicorn settings (`-w 2 -k gthread --threads 4` unless told
otherwise) and gets the same pre-encrypted requests: one text message per teacher of a
generated district (a new MsgId each), as WeCom sends them (msg_signature, timestamp, nonce;
plus the plain `signature` that WeRoBot also checks). The load generator (`bench/loadgen.py`)
runs in its own process with C keep-alive connections in a closed loop, so the client's crypto
is not measured. Targets:

- 晨检 on SQLite and on PostgreSQL: the full path (verify, decrypt, dedupe, parse, store,
  encrypted reply), a fresh copy of the same database for every run;
- WeRoBot 1.13.1 echo bot in its default configuration (a session per message in SQLite);
- WeRoBot 1.13.1 echo bot with `SESSION_STORAGE = False`.

WeRoBot is installed into its own venv (`$MC_WEROBOT_VENV`, default /tmp/mc-werobot-1.13.1-venv),
never into this project's. After each run the bench decrypts every answer, counts the stored
rows of 晨检's runs (every answered message must be stored) and prints the servers' RSS. The
machine is shared and noisy: read the ratios, taken in the same invocation.
"""
from __future__ import annotations

import argparse
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (Gunicorn, Keys, Shape, create_pg_database,  # noqa: E402
                      drop_pg_database, insert_district, mp_signature, percentile,
                      pg_url, runnable_backends, write_config)

WEROBOT_VERSION = "1.13.1"
GUNICORN_VERSION = "27.0.1"          # the same as requirements.txt, for a fair comparison

WEROBOT_APP = '''
import os
import werobot

robot = werobot.WeRoBot(token=os.environ["WR_TOKEN"], encoding_aes_key=os.environ["WR_AES_KEY"],
                        app_id=os.environ["WR_CORP_ID"])
if os.environ.get("WR_SESSIONS") == "off":
    robot.config["SESSION_STORAGE"] = False


@robot.text
def echo(message):
    return message.content


app = robot.wsgi
'''


# --- WeRoBot's venv --------------------------------------------------------------------------

def werobot_venv() -> Path:
    """A venv with WeRoBot and gunicorn; made on first use. Raises RuntimeError with the reason."""
    import os
    venv = Path(os.environ.get("MC_WEROBOT_VENV", f"/tmp/mc-werobot-{WEROBOT_VERSION}-venv"))
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import werobot, gunicorn, cryptography; print(werobot.__version__)"]
    if py.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == WEROBOT_VERSION:
        return venv
    print(f"installing WeRoBot {WEROBOT_VERSION} into {venv} ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True,
                       timeout=120)
        done = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               f"werobot=={WEROBOT_VERSION}", f"gunicorn=={GUNICORN_VERSION}",
                               "cryptography"], capture_output=True, text=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        raise RuntimeError(f"cannot make a venv for WeRoBot: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise RuntimeError(f"pip install werobot=={WEROBOT_VERSION} failed: {tail}")
    return venv


# --- requests --------------------------------------------------------------------------------

def messages(staff: list[dict], rnd: random.Random) -> list[tuple[str, str]]:
    """(userid, text): a head teacher sends the class summary, everyone else a temperature."""
    out = []
    for p in staff:
        if p["role"] == "head_teacher":
            absent = rnd.choice((0, 0, 0, 1, 2))
            text = f"{p['class_name']} 应到38 实到{38 - absent}" + (f" 病假{absent}" if absent else "") + " 发热0"
        elif rnd.random() < 0.03:
            text = f"体温{rnd.choice(('37.6', '37.9', '38.2'))} 咳嗽"
        else:
            text = rnd.choice(("36.{}", "体温36.{}", "36.{} 正常", "36.{}℃")).format(rnd.randint(1, 9))
        out.append((p["userid"], text))
    return out


def encrypt_all(keys: Keys, msgs: list[tuple[str, str]], first_msg_id: int
                ) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Pre-encrypted (path, body) pairs and their msg_keys."""
    from bot.wecom.signer import CallbackSigner

    signer = CallbackSigner(keys.token, keys.aes_key, keys.corp_id)
    reqs, msg_keys = [], []
    for i, (userid, text) in enumerate(msgs):
        msg_id = first_msg_id + i
        params, body = signer.encrypt(signer.text_message_xml(userid, text, msg_id))
        params["signature"] = mp_signature(keys.token, params["timestamp"], params["nonce"])
        reqs.append((f"/wecom/callback?{urlencode(params)}", body.encode()))
        msg_keys.append(f"msg:{msg_id}")
    return reqs, msg_keys


@dataclass(frozen=True)
class Load:
    connections: int
    timeout: float          # seconds to wait for one answer
    budget: float           # seconds after which no new request starts


def load(port: int, reqs: list, how: Load, workdir: Path) -> dict:
    """Runs bench/loadgen.py in its own process; returns its result."""
    src, dst = workdir / "requests.pickle", workdir / "result.pickle"
    with open(src, "wb") as f:
        pickle.dump(reqs, f)
    subprocess.run([sys.executable, str(Path(__file__).with_name("loadgen.py")), str(src), str(dst),
                    "--port", str(port), "--connections", str(how.connections),
                    "--timeout", str(how.timeout), "--budget", str(how.budget)], check=True)
    with open(dst, "rb") as f:
        return pickle.load(f)


# --- one run ---------------------------------------------------------------------------------

@dataclass
class Run:
    target: str
    sent: int
    answered: int            # 200 with an encrypted reply that decrypts to the expected text
    wall: float
    p50_ms: float
    p99_ms: float
    statuses: dict
    stored: int | None = None
    rss_kib: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.answered / self.wall if self.wall else 0.0


def measure(target: str, server: Gunicorn, warmup: list, reqs: list, expect, how: Load,
            workdir: Path) -> Run:
    with server:
        load(server.port, warmup, how, workdir)
        out = load(server.port, reqs, how, workdir)
        rss = server.rss_kib()
    results = [(i, r) for i, r in enumerate(out["results"]) if r is not None]   # None: not sent
    statuses: dict = {}
    answered, lat = 0, []
    for i, (status, seconds, body) in results:
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200 and expect(i, body):
            answered += 1
            lat.append(seconds * 1000)
    lat.sort()
    return Run(target, len(results), answered, out["wall"], percentile(lat, 50),
               percentile(lat, 99), statuses, rss_kib=rss)


def reply_checker(keys: Keys, msgs: list[tuple[str, str]], echo: bool):
    from bot.wecom.signer import CallbackSigner

    signer = CallbackSigner(keys.token, keys.aes_key, keys.corp_id)

    def expect(i: int, body: bytes) -> bool:
        if not body.strip():
            return False
        try:
            content = signer.decrypt_reply(body.decode())
        except Exception:  # noqa: BLE001 - anything unreadable is not an answer
            return False
        if echo:
            return content == msgs[i][1]
        return content.startswith("已记录")
    return expect


def stored_count(db_url: str, msg_keys: list[str]) -> int:
    """Messages of this run stored with their records (outcome "recorded")."""
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import InboundMessage

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            n = 0
            for i in range(0, len(msg_keys), 5000):
                n += conn.scalar(select(func.count()).select_from(InboundMessage).where(
                    InboundMessage.msg_key.in_(msg_keys[i:i + 5000]),
                    InboundMessage.outcome == "recorded"))
            return n
    finally:
        engine.dispose()


# --- the databases ---------------------------------------------------------------------------

class SqliteTemplate:
    def __init__(self, workdir: Path, shape: Shape):
        from storage.db import make_engine, upgrade

        self.workdir = workdir
        self.path = workdir / "template.db"
        url = f"sqlite:///{self.path}"
        upgrade(url)
        engine = make_engine(url)
        self.schools, self.people = insert_district(engine, shape)
        engine.dispose()          # the last connection to close folds the WAL into the file
        self.n = 0

    def fresh(self) -> tuple[str, callable]:
        self.n += 1
        path = self.workdir / f"run{self.n}.db"
        shutil.copyfile(self.path, path)
        return f"sqlite:///{path}", lambda: None


class PgTemplate:
    def __init__(self, shape: Shape):
        from storage.db import make_engine, upgrade

        self.name = create_pg_database("mc_bench_tmpl")
        url = pg_url(self.name)
        upgrade(url)
        engine = make_engine(url)
        self.schools, self.people = insert_district(engine, shape)
        engine.dispose()

    def fresh(self) -> tuple[str, callable]:
        name = create_pg_database("mc_bench_run", template=self.name)
        return pg_url(name), lambda: drop_pg_database(name)

    def close(self):
        drop_pg_database(self.name)


# --- main ------------------------------------------------------------------------------------

def fmt_rss(rss: dict) -> str:
    values = [v / 1024 for v in rss.values()]
    if not values:
        return "-"
    return f"master {values[0]:.0f} MiB, workers " + " / ".join(f"{v:.0f}" for v in values[1:]) + " MiB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="a few seconds per target, for CI")
    ap.add_argument("--rounds", type=int, default=None, help="runs per target (median reported)")
    ap.add_argument("--schools", type=int, default=None, help="80 staff each (default 50: 4000)")
    ap.add_argument("--students-per-class", type=int, default=0,
                    help="students on the roster too (default 0: staff only)")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=10,
                    help="seconds to wait for one answer (WeCom waits 5)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per run after which no new request starts (default 90; short 15)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--no-werobot", action="store_true")
    a = ap.parse_args(argv)
    rounds = a.rounds or (1 if a.short else 3)
    schools = a.schools or (4 if a.short else 50)
    shape = Shape(schools=schools, classes=24, teachers=55, students_per_class=a.students_per_class)
    backends = runnable_backends(a.backends)
    how = Load(a.connections, a.timeout, a.budget or (15 if a.short else 90))

    import os
    print(f"machine: {os.cpu_count()} cores; gunicorn -w {a.workers} -k gthread --threads "
          f"{a.threads} for every target; {a.connections} keep-alive connections, closed loop")
    keys = Keys.random()
    workdir = Path(tempfile.mkdtemp(prefix="mc-webhook-bench-"))
    rnd = random.Random(20200204)
    runs: dict[str, list[Run]] = {}
    cleanups = []
    try:
        t0 = time.perf_counter()
        templates = {}
        if "sqlite" in backends:
            templates["sqlite"] = SqliteTemplate(workdir, shape)
        if "postgresql" in backends:
            templates["postgresql"] = PgTemplate(shape)
            cleanups.append(templates["postgresql"].close)
        people = next(iter(templates.values())).people if templates else \
            __import__("benchlib").district_people(shape)[1]
        staff = [p for p in people if p["userid"] and p["role"] != "bureau"]
        msgs = messages(staff, rnd)
        reqs, msg_keys = encrypt_all(keys, msgs, 10_000_000)
        warm_msgs = [(p["userid"], "帮助") for p in staff[:4 * a.workers * a.threads]]
        warmup, _ = encrypt_all(keys, warm_msgs, 1_000)
        print(f"district: {shape.schools} schools, {len(staff)} teachers, {len(people)} people on "
              f"the roster; {len(reqs)} unique encrypted messages per run, {len(warmup)} warm-up "
              f"(set up in {time.perf_counter() - t0:.1f}s)")

        targets = []
        if not a.no_werobot:
            try:
                venv = werobot_venv()
            except RuntimeError as exc:
                print(f"werobot: skipped ({exc})")
            else:
                app_dir = workdir / "werobot"
                app_dir.mkdir()
                (app_dir / "werobot_echo.py").write_text(textwrap.dedent(WEROBOT_APP))
                for label, mode in (("werobot-sessions", "sqlite"), ("werobot-nosession", "off")):
                    targets.append((label, "werobot", mode, venv))
        for backend in templates:
            targets.append((f"morningcheck-{backend}", "morningcheck", backend, None))

        common = dict(workers=a.workers, threads=a.threads, log=workdir / "gunicorn.log")
        for r in range(rounds):
            for label, kind, mode, venv in targets:
                if kind == "werobot":
                    run_dir = workdir / "werobot" / f"{label}-{r}"   # fresh session file each run
                    run_dir.mkdir()
                    shutil.copy(workdir / "werobot" / "werobot_echo.py", run_dir)
                    server = Gunicorn("werobot_echo:app", gunicorn=str(venv / "bin" / "gunicorn"),
                                      cwd=run_dir, env={"WR_TOKEN": keys.token,
                                                        "WR_AES_KEY": keys.aes_key,
                                                        "WR_CORP_ID": keys.corp_id,
                                                        "WR_SESSIONS": mode}, **common)
                    run = measure(label, server, warmup, reqs, reply_checker(keys, msgs, True),
                                  how, workdir)
                else:
                    db_url, drop = templates[mode].fresh()
                    try:
                        config = write_config(workdir / f"{label}-{r}.toml", db_url, keys)
                        server = Gunicorn("bot.app:create_app()", env={"BOT_CONFIG": str(config)},
                                          **common)
                        run = measure(label, server, warmup, reqs,
                                      reply_checker(keys, msgs, False), how, workdir)
                        run.stored = stored_count(db_url, msg_keys)
                    finally:
                        drop()
                runs.setdefault(label, []).append(run)
                stored = "" if run.stored is None else f", stored {run.stored}/{run.answered}"
                print(f"  round {r + 1} {label:22s} {run.rate:7.0f} msg/s  p50 {run.p50_ms:5.1f} ms"
                      f"  p99 {run.p99_ms:6.1f} ms  answered {run.answered}/{run.sent}{stored}"
                      f"  statuses {run.statuses}", flush=True)
    finally:
        for c in cleanups:
            c()
        shutil.rmtree(workdir, ignore_errors=True)

    return report(runs)


def report(runs: dict[str, list[Run]]) -> int:
    if not runs:
        print("nothing measured")
        return 1
    print()
    print(f"{'target':24s} {'msg/s':>7s} {'p50 ms':>7s} {'p99 ms':>7s}  answered   stored     RSS after load")
    med = {}
    problems = []
    for label, rs in runs.items():
        rate = statistics.median(r.rate for r in rs)
        p50 = statistics.median(r.p50_ms for r in rs)
        p99 = statistics.median(r.p99_ms for r in rs)
        med[label] = rate
        answered = sum(r.answered for r in rs)
        sent = sum(r.sent for r in rs)
        stored = ("-" if rs[0].stored is None else str(sum(r.stored for r in rs)))
        print(f"{label:24s} {rate:7.0f} {p50:7.1f} {p99:7.1f}  {answered:>5d}/{sent:<5d} {stored:>7s}"
              f"   {fmt_rss(rs[-1].rss_kib)}")
        if label.startswith("morningcheck"):
            if any(r.stored != r.answered for r in rs):
                problems.append(f"{label}: an answered message was not stored")
            if answered != sent:
                problems.append(f"{label}: {sent - answered} message(s) not answered")
            if p99 >= 50:
                problems.append(f"{label}: p99 {p99:.1f} ms is not under 50 ms")
    print()
    for ours in (k for k in med if k.startswith("morningcheck")):
        for base, aim in (("werobot-sessions", 2.0), ("werobot-nosession", 0.6)):
            if base not in med:
                continue
            if not med[base]:        # on a loaded machine WeRoBot's session store can stall
                print(f"ratio {ours} / {base}: not measured ({base} answered nothing in time)")
                continue
            ratio = med[ours] / med[base]
            verdict = "meets" if ratio >= aim else "MISSES"
            print(f"ratio {ours} / {base}: {ratio:.2f}x ({verdict} the aim of {aim}x)")
    for p in problems:
        print("PROBLEM:", p)
    return 1 if any("not stored" in p or "not answered" in p for p in problems) else 0


if __name__ == "__main__":
    raise SystemExit(main())
