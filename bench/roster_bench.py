"""Roster import of a whole district: wall time and peak memory, beside the bare csv module.

    python bench/roster_bench.py [--short] [--rows N] [--backends sqlite,postgresql] [--xlsx]

Generates a district roster CSV (`benchlib.district_people`: ~300k rows, 303 schools, 24
classes of 38 students and 80 staff each; `--short`: ~10k rows), half of the schools spelling
their classes `1年级(2)班` so the import has classes to merge. Each step runs in its own
process, its peak RSS read from `os.wait4`'s rusage:
- baseline: the bare `csv` module reading the file (every row, nothing kept), and a Python
  that only imports what `roster import` imports (the floor of any import);
- product: `python -m bot roster import FILE` into a fresh database (every row added), then
  the same file again (every row unchanged), then with a twentieth of the students left out
  (removed, under the fifth that needs `--force`).
`--xlsx` also writes the roster as an XLSX and imports that. Aim: every product step under
200 MB peak RSS ("meets" / "MISSES"); a step that fails or counts wrongly ends with exit 1.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (REPO, Keys, Shape, create_pg_database, district_people,  # noqa: E402
                      drop_pg_database, pg_url, runnable_backends, write_config)

AIM_MB = 200


def write_roster(path: Path, shape: Shape) -> tuple[int, int]:
    """Writes the district as a roster CSV; returns (rows, students)."""
    schools, people = district_people(shape)
    names = {s["id"]: s["name"] for s in schools}
    students = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["school", "class", "name", "role", "userid", "mobile"])
        for p in people:
            klass = p["class_name"] or ""
            if klass and p["school_id"] % 2:             # 1年级2班 written 1年级(2)班
                klass = re.sub(r"(\d+)班$", r"(\1)班", klass)
            students += p["role"] == "student"
            w.writerow([names.get(p["school_id"], ""), klass, p["name"], p["role"],
                        p["userid"] or "", p["mobile"] or ""])
    return len(people), students


def drop_students(src: Path, dst: Path, every: int) -> int:
    """A copy of the roster without every `every`-th student; returns how many were left out."""
    dropped = n = 0
    with open(src, encoding="utf-8", newline="") as f, open(dst, "w", encoding="utf-8",
                                                             newline="") as out:
        w = csv.writer(out)
        for row in csv.reader(f):
            if row[3] == "student":
                n += 1
                if n % every == 0:
                    dropped += 1
                    continue
            w.writerow(row)
    return dropped


def write_xlsx(src: Path, dst: Path) -> None:
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    with open(src, encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            ws.append(row)
    wb.save(dst)


def measure(argv: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout + stderr) of one process; exits 1 if it fails."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        print(f"PROBLEM: {' '.join(argv[-3:])} exited {proc.returncode}:\n{text[-2000:]}")
        raise SystemExit(1)
    return wall, usage.ru_maxrss / 1024, text


def report(label: str, wall: float, rss: float, base_wall: float | None = None,
           aim: bool = False) -> bool:
    ratio = f"  ratio {wall / base_wall:5.1f}x the csv baseline" if base_wall else ""
    verdict = ""
    if aim:
        verdict = f"  {'meets' if rss < AIM_MB else 'MISSES'} < {AIM_MB} MB"
    print(f"  {label:<34} {wall:7.2f} s  {rss:7.1f} MB peak RSS{ratio}{verdict}")
    return not aim or rss < AIM_MB


def expect(text: str, **counts: int) -> None:
    for word, n in counts.items():
        if not re.search(rf"\b{word} {n}\b", text):
            print(f"PROBLEM: expected '{word} {n}' in the summary:\n{text[-1500:]}")
            raise SystemExit(1)


def generate(tmp: Path, schools: int, xlsx: bool) -> None:
    """The files of one run (in a process of its own: a child forked from a big parent would
    start with the parent's peak RSS); prints their counts as JSON."""
    roster = tmp / "district.csv"
    rows, students = write_roster(roster, Shape(schools=schools))
    dropped = drop_students(roster, tmp / "smaller.csv", 20)
    if xlsx:
        write_xlsx(roster, tmp / "district.xlsx")
    print(json.dumps({"rows": rows, "students": students, "dropped": dropped}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="~10k rows, a smoke test")
    ap.add_argument("--schools", type=int, help="schools of 992 people each (default 303)")
    ap.add_argument("--backends", default="sqlite")
    ap.add_argument("--xlsx", action="store_true", help="also import the roster as an XLSX")
    ap.add_argument("--generate", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    schools = args.schools or (10 if args.short else 303)
    if args.generate:
        generate(Path(args.generate), schools, args.xlsx)
        return 0
    shape = Shape(schools=schools)
    ok = True
    with tempfile.TemporaryDirectory(prefix="roster-bench-") as tmp:
        tmp = Path(tmp)
        made = subprocess.run([sys.executable, __file__, "--generate", str(tmp), "--schools",
                               str(schools)] + (["--xlsx"] if args.xlsx else []),
                              check=True, capture_output=True, text=True)
        counts = json.loads(made.stdout.splitlines()[-1])
        rows, students, dropped = counts["rows"], counts["students"], counts["dropped"]
        roster, smaller = tmp / "district.csv", tmp / "smaller.csv"
        size = roster.stat().st_size / 1e6
        print(f"roster: {rows:,} rows ({students:,} students, {shape.schools} schools), "
              f"{size:.1f} MB CSV")
        py = sys.executable
        print("baseline")
        base_wall, base_rss, _ = measure(
            [py, "-c", "import csv, sys\nn = sum(1 for _ in csv.reader(open(sys.argv[1], "
             "encoding='utf-8', newline='')))\nprint(n)", str(roster)])
        report("bare csv module, every row", base_wall, base_rss)
        w, r, _ = measure([py, "-c", "import bot.cli, storage.roster, sqlalchemy, openpyxl"])
        report("imports only (the floor)", w, r)
        for backend in runnable_backends(args.backends):
            pg_name = None
            if backend == "postgresql":
                pg_name = create_pg_database("mc_roster_bench")
                url = pg_url(pg_name)
            else:
                url = f"sqlite:///{tmp}/bench-{backend}.db"
            try:
                config = write_config(tmp / f"config-{backend}.toml", url, Keys.random())
                env = {**os.environ, "BOT_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
                measure([py, "-m", "bot", "init-db"], env)
                print(f"product ({backend})")
                cli = [py, "-m", "bot", "roster", "import"]
                w, r, out = measure(cli + [str(roster)], env)
                expect(out, added=rows, changed=0, removed=0)
                ok &= report("first import (all added)", w, r, base_wall, aim=True)
                w, r, out = measure(cli + [str(roster)], env)
                expect(out, added=0, changed=0, removed=0, unchanged=rows)
                ok &= report("re-import (all unchanged)", w, r, base_wall, aim=True)
                w, r, out = measure(cli + [str(smaller)], env)
                expect(out, added=0, removed=dropped, unchanged=rows - dropped)
                ok &= report(f"re-import, {dropped:,} students gone", w, r, base_wall, aim=True)
                if args.xlsx:
                    book = tmp / "district.xlsx"
                    w, r, out = measure(cli + [str(book)], env)
                    expect(out, added=0, removed=0)
                    ok &= report(f"XLSX ({book.stat().st_size / 1e6:.1f} MB), "
                                 f"{dropped:,} back", w, r, base_wall, aim=True)
            finally:
                if pg_name:
                    drop_pg_database(pg_name)
    print("aim:", "meets" if ok else "MISSES", f"(every import under {AIM_MB} MB peak RSS)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
