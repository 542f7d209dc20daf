"""`python -m bot serve` as an operator runs it: Tencent's sample answers through the real server."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.wecom.standin import WeComStandIn
from tests.test_callback import SAMPLE_GET, SAMPLE_POST_ARGS, SAMPLE_POST_BODY

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def sample_config(tmp_path):
    with WeComStandIn() as standin:
        text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        text = text.replace('url = "sqlite:///data/bot.db"', f'url = "sqlite:///{tmp_path}/bot.db"')
        text = text.replace('api_base = "http://127.0.0.1:8090"', f'api_base = "{standin.url}"')
        cfg = tmp_path / "config.toml"
        cfg.write_text(text, encoding="utf-8")
        env = {**os.environ, "BOT_CONFIG": str(cfg)}
        yield cfg, env, standin


@pytest.mark.parametrize("scheduler", [False, True])
def test_serve_answers_tencent_samples(sample_config, scheduler):
    cfg, env, standin = sample_config
    assert cli("init-db", env=env).returncode == 0
    assert cli("roster", "import", str(ROOT / "examples" / "roster.csv"), env=env).returncode == 0
    port = free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port)] + ([] if scheduler else ["--no-scheduler"])
    proc = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail("server did not come up")
        r = requests.get(f"{base}/wecom/callback?{SAMPLE_GET}", timeout=5)
        assert (r.status_code, r.text) == (200, "1616140317555161061")
        r = requests.post(f"{base}/wecom/callback", params=SAMPLE_POST_ARGS,
                          data=SAMPLE_POST_BODY.encode(), timeout=5)
        assert r.status_code == 200 and "<Encrypt>" in r.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out, out[-3000:]


def test_serve_refuses_an_uninitialised_database(sample_config):
    cfg, env, _ = sample_config
    res = cli("serve", "--port", str(free_port()), env=env)
    assert res.returncode == 2 and "init-db" in res.stderr and "Traceback" not in res.stderr


def test_roster_import_cli_reports_what_changed(sample_config, tmp_path):
    cfg, env, _ = sample_config
    cli("init-db", env=env)
    first = cli("roster", "import", str(ROOT / "examples" / "roster.csv"), env=env)
    assert first.returncode == 0 and "added 7" in first.stdout
    again = cli("roster", "import", str(ROOT / "examples" / "roster.csv"), env=env)
    assert "added 0" in again.stdout and "unchanged 7" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("school,class,name,role,userid\n一小,,,teacher,x\n", encoding="utf-8")
    res = cli("roster", "import", str(bad), env=env)
    assert res.returncode == 2 and "line 2: name is empty" in res.stderr and "Traceback" not in res.stderr
