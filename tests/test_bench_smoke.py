"""The benchmarks in `bench/` run in their short mode, so they cannot rot.

These are not timed tests: they check that each script runs to the end, prints its figures
and its ratio to the baseline it measured in the same run, and found nothing wrong (every
answered message stored, every reminder delivered once, the digest equal to the bare SQL).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PG_ADMIN, service_missing

pytestmark = pytest.mark.slow          # whole processes: the CI tier, not the fast loop

ROOT = Path(__file__).resolve().parents[1]


def run_bench(name: str, *args: str, timeout: int = 600) -> str:
    res = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--short", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    return out


@pytest.fixture
def postgresql():
    try:
        import psycopg
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means it is not there
        service_missing("PostgreSQL at " + PG_ADMIN, str(exc).splitlines()[0])


def test_parse_bench_short():
    out = run_bench("parse_bench.py")
    assert "msg/s" in out and "ratio:" in out


def test_webhook_bench_short(postgresql):
    out = run_bench("webhook_bench.py", timeout=900)
    for target in ("morningcheck-sqlite", "morningcheck-postgresql"):
        assert target in out
    assert "postgresql: skipped" not in out
    assert "PROBLEM: morningcheck-sqlite: an answered" not in out
    if "werobot: skipped" not in out:          # WeRoBot comes from PyPI into its own venv
        assert "ratio morningcheck-sqlite / werobot-sessions" in out


def test_digest_bench_short(postgresql):
    out = run_bench("digest_bench.py")
    assert "ratio" in out and "sqlite" in out and "postgresql" in out


def test_fanout_bench_short():
    out = run_bench("fanout_bench.py")
    assert "ratio" in out


def test_surveillance_bench_short():
    out = run_bench("surveillance_bench.py")
    assert "cluster rule (baseline)" in out and "ratio: C2" in out
    assert "C2 k=0.5 c=3: Youden 0.98" in out and "backtest EARS C2" in out
    assert "PROBLEM" not in out


def test_supplies_bench_short():
    out = run_bench("supplies_bench.py")
    assert "ratio transfers ours / naive" in out and "[sqlite]" in out
    assert "PROBLEM" not in out


def test_roster_bench_short():
    out = run_bench("roster_bench.py", "--xlsx")
    assert "bare csv module" in out and "ratio" in out and "first import (all added)" in out
    assert "aim: meets" in out and "PROBLEM" not in out


def test_names_bench_short():
    out = run_bench("names_bench.py", timeout=300)
    assert out.count("ms per message") == 3
