"""The outbound client against the local WeCom stand-in, over real HTTP on 127.0.0.1."""
import base64
import hashlib
import logging
import threading
import time
import uuid

import pytest
import requests

from bot.wecom.client import (FallbackTokenStore, RedisTokenStore, WeComClient, WeComError,
                              WeComRateLimited, WeComUnavailable, redis_token_store)
from bot.wecom.standin import WeComStandIn
from tests.support import REDIS_URL, service_missing

SECRET = "s3cr3t-value-never-logged"
SEND = "/cgi-bin/message/send"
HOOK = "/cgi-bin/webhook/send"


@pytest.fixture
def standin():
    with WeComStandIn(secret=SECRET) as s:
        yield s


def client(standin, **kw):
    kw.setdefault("sleep", lambda s: None)
    return WeComClient("ww1", SECRET, 1000002, standin.url, **kw)


def gettoken_calls(standin) -> int:
    return len(standin.calls("/cgi-bin/gettoken"))


# --- access token ----------------------------------------------------------------------------

def test_token_fetched_once_for_many_sends(standin):
    c = client(standin)
    for i in range(5):
        c.message_send_text(["lils"], f"提醒 {i}")
    c.message_send_markdown(["lils"], "**提醒**")
    c.webhook_send_text("k1", "群消息")
    assert gettoken_calls(standin) == 1
    assert len(standin.messages_to("lils")) == 6
    sent = standin.calls(SEND)[0]
    assert sent["json"]["agentid"] == 1000002 and sent["json"]["msgtype"] == "text"


def test_token_shared_by_threads_is_fetched_once(standin):
    c = client(standin)
    errors = []

    def send(i):
        try:
            c.message_send_text([f"u{i}"], "x")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and len(standin.sends(SEND)) == 8
    assert gettoken_calls(standin) == 1


def test_injected_42001_refreshes_once_and_delivers_once(standin):
    c = client(standin)
    c.message_send_text(["a"], "one")
    standin.fail_next(SEND, errcode=42001)
    c.message_send_text(["a"], "two")
    assert gettoken_calls(standin) == 2
    assert [m["text"]["content"] for m in standin.messages_to("a")] == ["one", "two"]


def test_expired_and_forgotten_tokens_are_replaced(standin):
    c = client(standin)
    c.message_send_text(["a"], "one")
    first = c.get_access_token()
    standin.expire_tokens()                       # the stand-in answers 42001 for it now
    c.message_send_text(["a"], "two")
    assert [r["errcode"] for r in standin.calls(SEND)] == [0, 42001, 0]
    standin.forget_tokens()                       # ... and 40014 for an unknown one
    c.message_send_text(["a"], "three")
    assert [r["errcode"] for r in standin.calls(SEND)] == [0, 42001, 0, 40014, 0]
    assert c.get_access_token() != first
    assert [m["text"]["content"] for m in standin.messages_to("a")] == ["one", "two", "three"]


def test_persistent_40014_ends_in_a_clear_error_after_one_refresh(standin):
    c = client(standin)
    standin.fail_next(SEND, errcode=40014, times=50)
    with pytest.raises(WeComError) as err:
        c.message_send_text(["a"], "x")
    assert err.value.errcode == 40014 and not isinstance(err.value, WeComRateLimited)
    assert "rejected again" in str(err.value)
    assert gettoken_calls(standin) == 2                     # the first token and one refresh
    assert len(standin.calls(SEND)) == 2
    assert standin.messages_to("a") == []


def test_wrong_secret_is_a_clear_error_without_the_secret(standin):
    c = WeComClient("ww1", "wrong-secret", 1, standin.url, sleep=lambda s: None)
    with pytest.raises(WeComError) as err:
        c.message_send_text(["a"], "x")
    assert err.value.errcode == 40001 and "gettoken" in str(err.value)
    assert "wrong-secret" not in str(err.value) and "wrong-secret" not in repr(err.value)
    assert gettoken_calls(standin) == 1 and standin.calls(SEND) == []


def test_a_store_with_only_get_and_set_works(standin):
    class GetSetStore:
        def __init__(self):
            self.data = {}

        def get(self, key, default=None):
            return self.data.get(key, default)

        def set(self, key, value, ttl=None):
            self.data[key] = value

    store = GetSetStore()
    c = client(standin, token_store=store)
    c.message_send_text(["a"], "one")
    standin.fail_next(SEND, errcode=42001)
    c.message_send_text(["a"], "two")
    assert gettoken_calls(standin) == 2 and len(standin.messages_to("a")) == 2
    assert c.get_access_token() == next(iter(store.data.values()))["token"]


# --- transport failures ---------------------------------------------------------------------------

def test_http_500_twice_then_success_delivers_once(standin):
    slept = []
    c = client(standin, sleep=slept.append, backoff=0.5)
    standin.fail_next(SEND, status=500, times=2)
    c.message_send_text(["a"], "x")
    assert [r["status"] for r in standin.calls(SEND)] == [500, 500, 200]
    assert len(standin.messages_to("a")) == 1
    assert slept == [0.5, 1.0]                              # exponential backoff, not real sleeps


def test_5xx_gives_up_after_bounded_retries(standin):
    slept = []
    c = client(standin, sleep=slept.append, retries=2, backoff=0.5)
    standin.fail_next(HOOK, status=502, times=10)
    with pytest.raises(WeComUnavailable) as err:
        c.webhook_send_text("k", "x")
    assert slept == [0.5, 1.0] and len(standin.calls(HOOK)) == 3
    assert "HTTP 502" in str(err.value) and isinstance(err.value, WeComError)


def test_system_busy_errcode_is_retried(standin):
    c = client(standin)
    standin.fail_next(HOOK, errcode=-1, errmsg="system busy")
    c.webhook_send_text("k", "x")
    assert [r["errcode"] for r in standin.calls(HOOK)] == [-1, 0]


def test_timeout_is_retried(standin):
    c = client(standin, timeout=0.3)
    standin.fail_next(HOOK, delay=1.5, status=504)          # slow, then failing: not delivered
    started = time.monotonic()
    c.webhook_send_text("k", "after a timeout")
    assert time.monotonic() - started < 1.2                 # did not wait for the slow answer
    assert [m["text"]["content"] for m in standin.webhook_messages("k")] == ["after a timeout"]
    deadline = time.monotonic() + 5                         # the slow one is answered later
    while len(standin.calls(HOOK)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(r["status"] for r in standin.calls(HOOK)) == [200, 504]


def test_timeouts_and_refused_connections_end_in_wecom_unavailable(standin):
    c = client(standin, timeout=0.2, retries=1)
    standin.fail_next(HOOK, delay=0.5, times=2)
    with pytest.raises(WeComUnavailable) as err:
        c.webhook_send_text("k", "x")
    assert "Timeout" in str(err.value)
    with WeComStandIn() as gone:
        url = gone.url                                      # a port nobody listens on any more
    c = WeComClient("ww1", SECRET, 1, url, sleep=lambda s: None, retries=1, timeout=1)
    with pytest.raises(WeComUnavailable) as err:
        c.message_send_text(["a"], "x")
    assert "ConnectionError" in str(err.value)


def test_every_request_has_a_timeout(standin, monkeypatch):
    timeouts = []
    real = requests.Session.request

    def spy(self, method, url, **kw):
        timeouts.append(kw.get("timeout"))
        return real(self, method, url, **kw)

    monkeypatch.setattr(requests.Session, "request", spy)
    c = client(standin, timeout=2.5)
    c.message_send_text(["a"], "x")
    c.webhook_send_markdown("k", "x")
    assert timeouts == [2.5, 2.5, 2.5]


# --- rate limits and refusals -----------------------------------------------------------------------

def test_rate_limits_raise_distinctly(standin):
    c = client(standin)
    standin.fail_next(HOOK, errcode=45009)
    with pytest.raises(WeComRateLimited) as err:
        c.webhook_send_text("k", "x")
    assert err.value.errcode == 45009
    standin.fail_next(SEND, errcode=130101)
    with pytest.raises(WeComRateLimited):
        c.message_send_text(["a"], "x")
    assert len(standin.calls(HOOK)) == 1 and len(standin.calls(SEND)) == 1   # no retry


def test_robot_limit_of_20_a_minute():
    with WeComStandIn(robot_limit_per_minute=20) as s:
        c = client(s)
        for i in range(20):
            c.webhook_send_text("busy", f"#{i}")
        with pytest.raises(WeComRateLimited):
            c.webhook_send_text("busy", "#21")
        c.webhook_send_text("other-robot", "fine")
        assert len(s.webhook_messages("busy")) == 20


def test_other_errcodes_are_plain_wecom_errors(standin):
    c = client(standin)
    with pytest.raises(WeComError) as err:
        c.webhook_send_text("k", "长" * 700)                   # 2100 bytes > 2048
    assert err.value.errcode == 40058 and not isinstance(err.value, WeComRateLimited)
    c.webhook_send_markdown("k", "长" * 1300)                  # 3900 bytes <= 4096
    with pytest.raises(ValueError):
        c.message_send_text([], "nobody")


# --- message/send -------------------------------------------------------------------------------

def test_2500_users_go_in_three_calls(standin):
    c = client(standin)
    users = [f"u{i}" for i in range(2500)]
    c.message_send_text(users + ["u1", ""], "提醒")           # duplicates and blanks dropped
    calls = standin.sends(SEND)
    assert [len(r["json"]["touser"].split("|")) for r in calls] == [1000, 1000, 500]
    assert [u for r in calls for u in r["json"]["touser"].split("|")] == users
    assert gettoken_calls(standin) == 1


def test_invalid_users_are_reported():
    with WeComStandIn(known_users={"a", "b"}) as s:
        c = client(s)
        result = c.message_send_text(["a", "ghost", "b"], "x")
        assert result["invaliduser"] == "ghost"
        with pytest.raises(WeComError) as err:
            c.message_send_text(["ghost"], "x")
        assert err.value.errcode == 81013


# --- webhook/send -----------------------------------------------------------------------------------

def test_webhook_text_with_mentions_markdown_and_image(standin):
    c = client(standin)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    c.webhook_send_text("k", "请各位老师晨检", mentioned_list=["lils", "zhangls"])
    c.webhook_send_text("k", "no mentions")
    c.webhook_send_markdown("k", "**晨检日报**\n> 已报 3/4")
    c.webhook_send_image("k", png)
    text, plain, md, img = standin.webhook_messages("k")
    assert text == {"msgtype": "text", "text": {"content": "请各位老师晨检",
                                                 "mentioned_list": ["lils", "zhangls"]}}
    assert plain["text"] == {"content": "no mentions"}
    assert md == {"msgtype": "markdown", "markdown": {"content": "**晨检日报**\n> 已报 3/4"}}
    assert base64.b64decode(img["image"]["base64"]) == png
    assert img["image"]["md5"] == hashlib.md5(png).hexdigest()
    assert gettoken_calls(standin) == 0                     # robots need no access token
    assert [r["query"]["key"] for r in standin.calls(HOOK)] == ["k"] * 4


# --- secrets --------------------------------------------------------------------------------------------

def test_no_secret_token_or_key_in_logs_or_errors(standin, caplog):
    caplog.set_level(logging.DEBUG)                         # urllib3 logs every request line
    c = client(standin)
    c.message_send_text(["a"], "x")
    token = c.get_access_token()
    texts = []
    standin.fail_next(HOOK, errcode=93000, errmsg="invalid webhook url, key=robot-key-secret")
    with pytest.raises(WeComError) as err:
        c.webhook_send_text("robot-key-secret", "x")
    texts += [str(err.value), repr(err.value), err.value.errmsg]
    standin.fail_next(SEND, errcode=40003, errmsg=f"invalid userid, token {token} ({SECRET})")
    with pytest.raises(WeComError) as err:
        c.message_send_text(["a"], "x")
    texts += [str(err.value), repr(err.value), err.value.errmsg]
    standin.fail_next(SEND, errcode=42001)
    c.message_send_text(["a"], "y")
    standin.fail_next(SEND, status=500, times=10)
    with pytest.raises(WeComUnavailable) as err:
        c.message_send_text(["a"], "z")
    texts.append(str(err.value))
    assert "access_token" in caplog.text and "corpsecret" in caplog.text  # the lines are there...
    text = caplog.text + "".join(texts) + repr(c)
    for secret in (SECRET, token, c.get_access_token(), "robot-key-secret"):
        assert secret not in text                           # ... with their values masked


# --- shared token store (Redis) ------------------------------------------------------------------------

def test_redis_token_store_shared_between_clients(standin):
    import redis
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        service_missing("Redis at " + REDIS_URL, str(exc))
    corp = f"ww-test-{uuid.uuid4().hex[:8]}"              # a key of its own in a shared Redis
    store = RedisTokenStore(REDIS_URL)
    a = WeComClient(corp, SECRET, 1, standin.url, token_store=store, sleep=lambda s: None)
    b = WeComClient(corp, SECRET, 1, standin.url, token_store=redis_token_store(REDIS_URL),
                    sleep=lambda s: None)                   # another process, in effect
    a.message_send_text(["x"], "1")
    b.message_send_text(["x"], "2")
    assert gettoken_calls(standin) == 1
    assert a.get_access_token() == b.get_access_token()
    standin.fail_next(SEND, errcode=42001)                  # b refreshes; a then uses b's token
    b.message_send_text(["x"], "3")
    a.message_send_text(["x"], "4")
    assert gettoken_calls(standin) == 2 and len(standin.messages_to("x")) == 4
    store.primary.delete(a._token_key)


def test_redis_down_falls_back_with_a_warning(standin, caplog):
    caplog.set_level(logging.WARNING)
    with WeComStandIn() as gone:
        closed = gone.port                                  # nothing listens there now
    store = RedisTokenStore(f"redis://127.0.0.1:{closed}/0")
    assert isinstance(store, FallbackTokenStore)
    c = client(standin, token_store=store)
    c.message_send_text(["x"], "1")
    c.message_send_text(["x"], "2")
    assert gettoken_calls(standin) == 1                     # cached in this process meanwhile
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "per-process cache" in warnings[0].getMessage()
    assert len(standin.messages_to("x")) == 2


def test_fallback_store_retries_the_shared_store_after_a_pause(caplog):
    caplog.set_level(logging.INFO)

    class FlakyRedis:                      # stands in for redis-py, not for our code
        def __init__(self):
            self.up, self.calls, self.data = False, 0, {}

        def get(self, key, default=None):
            self.calls += 1
            if not self.up:
                raise ConnectionError("down")
            return self.data.get(key, default)

        def set(self, key, value, ttl=None):
            self.calls += 1
            if not self.up:
                raise ConnectionError("down")
            self.data[key] = value

        def delete(self, key):
            self.data.pop(key, None)

    redis_like = FlakyRedis()
    store = FallbackTokenStore(redis_like, retry_after=60)
    store.set("k", {"token": "t1"}, 10)
    assert store.get("k") == {"token": "t1"} and redis_like.calls == 1   # paused after a failure
    redis_like.up = True
    store.retry_after, store._down_until = 0, 0
    assert store.get("k") is None                          # the shared store answers again
    assert "shared token cache is back" in caplog.text
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1
