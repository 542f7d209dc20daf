"""Shared pieces of the benchmarks: a generated district, databases, configs, gunicorn servers.

Not a benchmark itself. Everything runs on loopback; PostgreSQL is reached through
`$TEST_POSTGRES_URL` (default `postgresql://postgres@127.0.0.1:5432/test`), the same admin
URL the tests use, and every database made here is dropped again.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


# --- credentials ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Keys:
    token: str
    aes_key: str          # 43 characters, WeCom's EncodingAESKey
    corp_id: str
    secret: str

    @classmethod
    def random(cls) -> "Keys":
        aes = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
        while not aes.isalnum():          # keep it to letters and digits, as WeCom does
            aes = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
        return cls(token=secrets.token_hex(8), aes_key=aes,
                   corp_id="ww" + secrets.token_hex(8), secret=secrets.token_hex(16))


# --- the district --------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """A generated district: per school one principal, head teachers, teachers, students."""
    schools: int = 100
    classes: int = 24              # per school, one head teacher each
    teachers: int = 55             # per school, besides head teachers and the principal
    students_per_class: int = 38   # 0: staff only

    @property
    def staff_per_school(self) -> int:
        return 1 + self.classes + self.teachers

    @property
    def people(self) -> int:
        return self.schools * (self.staff_per_school + self.classes * self.students_per_class) + 2


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏辉建华晶玲桂芳燕丹鑫宇浩博文轩子涵梓萱一诺欣怡思雨雨涵俊杰"


def person_name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)] + \
        GIVEN[(i // (len(SURNAMES) * len(GIVEN))) % len(GIVEN)]


def school_name(s: int) -> str:
    return f"第{s + 1:03d}小学"


def class_name(c: int) -> str:
    return f"{c // 4 + 1}年级{c % 4 + 1}班"


def district_people(shape: Shape) -> tuple[list[dict], list[dict]]:
    """(schools, people) rows for a bulk insert; ids are fixed so records can refer to them.

    Staff userids are `t<school>_<n>`; the two bureau people are `bureau1`, `bureau2`.
    """
    schools = [{"id": s + 1, "name": school_name(s)} for s in range(shape.schools)]
    people: list[dict] = []
    pid = 0

    def add(name, role, school_id, klass, userid):
        nonlocal pid
        pid += 1
        people.append({"id": pid, "name": name, "role": role, "school_id": school_id,
                       "class_name": klass, "userid": userid,
                       "mobile": f"139{pid:08d}" if userid else None, "active": True})

    for b in (1, 2):
        add(f"局{person_name(b)}", "bureau", None, None, f"bureau{b}")
    for s in range(shape.schools):
        sid = s + 1
        add(person_name(pid), "principal", sid, None, f"t{sid}_0")
        n = 1
        for c in range(shape.classes):
            add(person_name(pid), "head_teacher", sid, class_name(c), f"t{sid}_{n}")
            n += 1
        for _ in range(shape.teachers):
            add(person_name(pid), "teacher", sid, None, f"t{sid}_{n}")
            n += 1
        for c in range(shape.classes):
            for _ in range(shape.students_per_class):
                add(person_name(pid), "student", sid, class_name(c), None)
    return schools, people


def insert_district(engine, shape: Shape) -> tuple[list[dict], list[dict]]:
    """Writes the district's schools and people (the schema must exist)."""
    from sqlalchemy import insert

    from storage.models import Person, School

    schools, people = district_people(shape)
    with engine.begin() as conn:
        conn.execute(insert(School.__table__), schools)
        for i in range(0, len(people), 20_000):
            conn.execute(insert(Person.__table__), people[i:i + 20_000])
        if engine.dialect.name == "postgresql":      # ids were given: move the sequences on
            for table in ("schools", "people"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
    return schools, people


# --- databases -----------------------------------------------------------------------------

def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        return (str(exc).splitlines() or [type(exc).__name__])[0]


def runnable_backends(spec: str) -> list[str]:
    """The backends of a `--backends sqlite,postgresql` option that can run here.

    PostgreSQL is left out, with the reason printed, when it does not answer; an unknown name
    ends the bench with exit code 2.
    """
    out = []
    for backend in (b.strip() for b in spec.split(",") if b.strip()):
        if backend not in ("sqlite", "postgresql"):
            print(f"error: unknown backend {backend!r}")
            raise SystemExit(2)
        if backend == "postgresql":
            why = pg_available()
            if why is not None:
                print(f"postgresql: skipped ({why})")
                continue
        out.append(backend)
    return out


def _pg_admin():
    import psycopg
    return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)


def pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def create_pg_database(prefix: str = "mc_bench", template: str | None = None) -> str:
    """A new PostgreSQL database (a copy of `template` if given); returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def drop_pg_database(name: str) -> None:
    with contextlib.suppress(Exception), _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- configs and servers ---------------------------------------------------------------------

def write_config(path: Path, db_url: str, keys: Keys, *, api_base: str = "http://127.0.0.1:9",
                 redis_url: str = "") -> Path:
    text = f"""timezone = "Asia/Shanghai"

[wecom]
corp_id = "{keys.corp_id}"
agent_id = 1000002
secret = "{keys.secret}"
token = "{keys.token}"
encoding_aes_key = "{keys.aes_key}"
api_base = "{api_base}"

[database]
url = "{db_url}"

[[checks]]
name = "morning"
opens = "07:00"
remind = "08:30"
escalate = "09:00"
digest = "09:30"

[[groups]]
scope = "bureau"
robot_key = "bench-bureau-key"
"""
    if redis_url:
        text += f'\n[redis]\nurl = "{redis_url}"\n'
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class Gunicorn:
    """`gunicorn APP` on 127.0.0.1 in its own process group; `stop()` ends it and its workers."""

    def __init__(self, app: str, *, gunicorn: str | None = None, workers: int = 2,
                 threads: int = 4, worker_class: str = "gthread", env: dict | None = None,
                 cwd: Path | None = None, log: Path | None = None, extra: tuple = ()):
        self.port = free_port()
        exe = gunicorn or str(Path(sys.executable).with_name("gunicorn"))
        self.argv = [exe, "-w", str(workers), "-k", worker_class, "--threads", str(threads),
                     "-b", f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5",
                     *extra, app]
        self.env = {**os.environ, **(env or {})}
        self.cwd = str(cwd or REPO)
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Gunicorn":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, timeout)
        deadline = time.monotonic() + timeout          # every worker booted
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc else []

    def rss_kib(self) -> dict[int, int]:
        """RSS of the master and each worker, in KiB."""
        pids = [self.proc.pid, *self.worker_pids()] if self.proc else []
        return {pid: rss_kib(pid) for pid in pids}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return sorted(out)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --- figures -------------------------------------------------------------------------------

def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def mp_signature(token: str, timestamp: str, nonce: str) -> str:
    """The plain `signature` query parameter of WeChat's safe-mode callbacks (WeRoBot checks it)."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


# --- added for the digest and fan-out benches ------------------------------------------------

def append_school_groups(path: Path, schools: list[dict], key_prefix: str = "bench-school-") -> Path:
    """Adds one `[[groups]]` table per school (robot key `<key_prefix><school id>`) to a config
    written by `write_config`, as a district with a group chat per school has."""
    text = path.read_text(encoding="utf-8")
    for s in schools:
        text += f'\n[[groups]]\nscope = "{s["name"]}"\nrobot_key = "{key_prefix}{s["id"]}"\n'
    path.write_text(text, encoding="utf-8")
    return path


def self_rss_kib() -> int:
    """VmRSS of this process, in KiB (from /proc/self/status)."""
    return rss_kib(os.getpid())
