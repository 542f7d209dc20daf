"""A head teacher's message in a big school: how long the inbox takes when it names students.

    python bench/names_bench.py

A school of 2,000 students (SQLite): a teacher's `36.5` (no names read), a head teacher's
`36.5`, and a head teacher's `张三 36.5，李四 36.6` (the school's names and the sender's scope are
read from the database for it). Prints milliseconds per message, each the mean of 200.
"""
import datetime as dt, sys, time, tempfile, itertools
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import make_config, FixedClock, ROSTER_CSV
from storage.db import upgrade
from storage.roster import apply_roster, load_roster
from bot.services import Services
from bot.inbox import Inbound
tmp = tempfile.mkdtemp()
url = f"sqlite:///{tmp}/b.db"
upgrade(url)
rows = [ROSTER_CSV.strip()]
import random
rnd = random.Random(1)
sur = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
for i in range(2000):
    rows.append(f"第一实验小学,三年级2班,{rnd.choice(sur)}{rnd.choice(given)}{rnd.choice(given)}{i},student,,")
p = f"{tmp}/r.csv"; open(p, "w").write("\n".join(rows) + "\n")
config = make_config(url)
svc = Services.build(config, clock=FixedClock(dt.datetime(2020, 2, 4, 7, 40)))
with svc.sessions() as s, s.begin():
    apply_roster(s, load_roster(p), force=True)
ids = itertools.count(1)
def send(user, text):
    n = next(ids)
    return svc.inbox.receive(Inbound("callback", f"msg:{n}", user, "text", text, f"<xml>{n}</xml>"))
for who, text in (("zhangls", "36.5"), ("lils", "36.5"), ("lils", "张三 36.5，李四 36.6")):
    send(who, text)
    t0 = time.perf_counter(); N = 200
    for _ in range(N): send(who, text)
    print(f"{who} {text!r}: {(time.perf_counter()-t0)/N*1000:.2f} ms per message (2,000 students in the school)")
