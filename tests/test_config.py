"""Config loading and `check-config`: every bad key named, secrets from the environment."""
import subprocess
import sys

import pytest

from bot.config import ConfigError, load_config, parse_config
from tests.support import make_config

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def run_cli(*args, env=None, input=None):
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, input=input, timeout=60)


def test_example_config_is_valid():
    config = load_config(str(ROOT / "config.example.toml"))
    assert config.wecom.corp_id == "wx5823bf96d3bd56c7"
    assert [c.name for c in config.checks] == ["morning", "noon"]
    assert config.fever_threshold == 37.3


def test_every_bad_key_is_named():
    raw = {"timezone": "Mars/Olympus",
           "wecom": {"corp_id": "", "agent_id": "x", "token": "", "encoding_aes_key": "short"},
           "database": {"url": "mysql://x"},
           "health": {"fever_threshold": 45},
           "checks": [{"name": "morning", "opens": "7am", "remind": "08:30", "escalate": "09:00",
                       "digest": "09:30"}],
           "calendar": {"holidays": ["2026-02-30"]},
           "groups": [{"scope": "bureau"}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    keys = " ".join(err.value.problems)
    for key in ("timezone", "wecom.corp_id", "wecom.agent_id", "wecom.secret", "wecom.token",
                "wecom.encoding_aes_key", "database.url", "health.fever_threshold",
                "checks[0].opens", "calendar.holidays", "groups[0].robot_key"):
        assert key in keys, key


def test_secrets_from_environment():
    raw = {"wecom": {"corp_id": "ww1", "agent_id": 1}, "database": {"url": "sqlite:///x.db"}}
    env = {"WECOM_SECRET": "s", "WECOM_TOKEN": "t", "WECOM_AES_KEY": "a" * 43}
    config = parse_config(raw, env=env)
    assert (config.wecom.secret, config.wecom.token) == ("s", "t")


def test_check_times_must_be_in_order():
    with pytest.raises(ConfigError, match="opens ≤ remind"):
        make_config("sqlite:///x.db", checks=[{"name": "morning", "opens": "09:00",
                                               "remind": "08:30", "escalate": "09:00",
                                               "digest": "09:30"}])


def test_calendar_days():
    import datetime as dt
    config = make_config("sqlite:///x.db", calendar={"holidays": ["2026-10-01"],
                                                     "extra_days": ["2026-10-10"]})
    assert config.calendar.is_school_day(dt.date(2026, 9, 30))       # Wednesday
    assert not config.calendar.is_school_day(dt.date(2026, 10, 1))   # holiday
    assert not config.calendar.is_school_day(dt.date(2026, 10, 4))   # Sunday
    assert config.calendar.is_school_day(dt.date(2026, 10, 10))      # make-up Saturday


def test_check_config_cli_ok_and_bad(tmp_path):
    ok = run_cli("--config", str(ROOT / "config.example.toml"), "check-config")
    assert ok.returncode == 0 and "OK" in ok.stdout and "SAMPLE" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[wecom]\ncorp_id = "ww1"\nagent_id = 0\n[database]\nurl = "oracle://"\n')
    res = run_cli("--config", str(bad), "check-config")
    assert res.returncode == 2
    assert "wecom.agent_id" in res.stderr and "database.url" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_and_broken_config_files_give_one_line(tmp_path):
    res = run_cli("--config", str(tmp_path / "nope.toml"), "init-db")
    assert res.returncode == 2 and "not found" in res.stderr and "Traceback" not in res.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[wecom\n")
    res = run_cli("--config", str(broken), "serve")
    assert res.returncode == 2 and "not valid TOML" in res.stderr and "Traceback" not in res.stderr
