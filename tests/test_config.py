"""Config loading and `check-config`: every bad key named, secrets from the environment."""
import subprocess
import sys

import pytest

from bot.config import load_config
from handlers.config import ConfigError, parse_config
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


# --- an operator's typo is an error with its name (issue 18) ---------------------------------

def _site(tmp_path, extra: str = "", *, api_base: str = "http://127.0.0.1:9", roster: str | None = None):
    """A config file (the test config plus `extra`) and, with `roster`, a database holding it."""
    import os

    from tests.support import config_toml

    text = config_toml(f"sqlite:///{tmp_path}/bot.db", api_base=api_base) + extra
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    env = {**os.environ, "BOT_CONFIG": str(cfg)}
    if roster is not None:
        assert run_cli("init-db", env=env).returncode == 0
        path = tmp_path / "roster.csv"
        path.write_text(roster, encoding="utf-8")
        res = run_cli("roster", "import", str(path), env=env)
        assert res.returncode == 0, res.stderr
    return env


ROSTER_WEST = ("school,class,name,role,userid,mobile\n"
               "第一实验小学,,王校长,principal,wangxz,13800000002\n"
               "第二小学,,孙校长,principal,sunxz,13800000006\n"
               "城西小学,,钱校长,principal,qianxz,13800000009\n")


def _refused(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


def test_group_typo_is_named_by_check_config_and_serve(tmp_path):
    env = _site(tmp_path, '\n[[group]]\nscope = "城西小学"\nrobot_key = "west-key"\n')
    _refused(run_cli("check-config", env=env), "group: unknown table", "did you mean 'groups'")
    _refused(run_cli("serve", "--port", "1", env=env), "group: unknown table")


def test_a_group_scope_that_matches_no_school_of_the_roster(tmp_path):
    extra = '\n[[groups]]\nscope = "城西小学校"\nrobot_key = "west-key"\n'
    env = _site(tmp_path, extra, roster=ROSTER_WEST)
    res = run_cli("check-config", env=env)
    _refused(res, "groups[3].scope", "城西小学校", "did you mean '城西小学'")
    _refused(run_cli("serve", "--port", "1", env=env), "groups[3].scope", "城西小学校")
    # spelt as in the roster, both go ahead (serve as far as binding its port)
    fixed = _site(tmp_path, extra.replace("城西小学校", "城西小学"))
    ok = run_cli("check-config", env=fixed)
    assert ok.returncode == 0 and "4 group(s)" in ok.stdout, ok.stderr


def test_check_config_before_there_is_a_roster_says_it_did_not_check(tmp_path):
    env = _site(tmp_path, '\n[[groups]]\nscope = "城西小学校"\nrobot_key = "west-key"\n')
    res = run_cli("check-config", env=env)
    assert res.returncode == 0 and "not checked" in res.stdout, res.stderr
    assert not (tmp_path / "bot.db").exists()            # looking did not create a database
    assert run_cli("init-db", env=env).returncode == 0
    res = run_cli("check-config", env=env)
    assert res.returncode == 0 and "roster is empty" in res.stdout


def test_sample_credentials_with_a_real_api_base_are_refused(tmp_path):
    env = _site(tmp_path, api_base="https://qyapi.weixin.qq.com")
    _refused(run_cli("check-config", env=env), "SAMPLE credentials", "qyapi.weixin.qq.com")
    _refused(run_cli("serve", "--port", "1", env=env), "SAMPLE credentials")
    local = run_cli("check-config", env=_site(tmp_path))                 # on loopback: a warning
    assert local.returncode == 0 and "SAMPLE" in local.stdout


def test_serve_binds_loopback_by_default():
    from bot.cli import build_parser
    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    assert build_parser().parse_args(["serve", "--host", "0.0.0.0"]).host == "0.0.0.0"


@pytest.mark.parametrize("overrides,problem", [
    ({"health": {"fever": 37.3}}, "health.fever: unknown key"),
    ({"watch": {"observe_days": 0}}, "watch.observe_days: must be a whole number from 1 to 60"),
    ({"watch": {"areas": "湖北"}}, "watch.areas: must be a list"),
    ({"supplies": [{"name": "口罩", "unit": "个"}]}, "supplies[0].per_person_per_day: must be a number"),
    ({"supplies": [{"name": "口罩", "unit": "个", "per_person_per_day": 2, "days": 7}]},
     "supplies[0].days: unknown key"),
    ({"supplies": [{"unit": "个", "per_person_per_day": 2}]}, "supplies[0].name: missing"),
    ({"checklist": [{"item": "消毒"}, {"item": "消毒"}]}, "checklist[1].item: '消毒' is listed twice"),
    ({"checklist": ["消毒"]}, "checklist[0]: must be a table"),
    ({"notices": {"remind_after": "two hours"}}, "notices.remind_after: must be a duration"),
    ({"surveillance": {"method": "c4"}}, "surveillance.method: must be one of c1, c2, c3, ewma, off"),
    ({"surveillance": {"min_count": 0}}, "surveillance.min_count: must be a whole number"),
    ({"server": {"trusted_proxies": -1}}, "server.trusted_proxies: must be a whole number from 0 to 5"),
    ({"group": [{"scope": "bureau", "robot_key": "k"}]}, "group: unknown table (did you mean 'groups'?)"),
])
def test_the_district_sections_are_validated_key_by_key(overrides, problem):
    with pytest.raises(ConfigError) as err:
        make_config("sqlite://", **overrides)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_the_district_sections_read_as_written():
    import datetime as dt

    c = make_config("sqlite://", watch={"observe_days": 10, "areas": ["湖北"]},
                    supplies=[{"name": "口罩", "unit": "个", "per_person_per_day": 2, "min_days": 5}],
                    checklist=[{"item": "重点场室消毒"}], notices={"remind_after": "90m"},
                    surveillance={"method": "ewma", "threshold": 2.5})
    assert (c.watch.observe_days, c.watch.areas) == (10, ("湖北",))
    assert c.supply("口罩").min_days == 5 and c.supply("消毒液") is None
    assert c.checklist == ("重点场室消毒",) and c.notices.remind_after == dt.timedelta(minutes=90)
    assert (c.surveillance.method, c.surveillance.threshold, c.surveillance.guard_days) == ("ewma", 2.5, 2)
