"""The outbound client against the local stand-in over real HTTP."""
import base64
import hashlib
import logging

import pytest

from bot.wecom.client import (FallbackTokenStore, WeComClient, WeComError, WeComRateLimited,
                              WeComUnavailable, redis_token_store)
from bot.wecom.standin import WeComStandIn
from tests.support import REDIS_URL, service_missing

SECRET = "s3cr3t-value-never-logged"


@pytest.fixture
def standin():
    with WeComStandIn(secret=SECRET) as s:
        yield s


def client(standin, **kw):
    return WeComClient("ww1", SECRET, 1000002, standin.url, sleep=lambda s: None, **kw)


def test_token_fetched_once_for_many_sends(standin):
    c = client(standin)
    for i in range(5):
        c.message_send_text(["lils"], f"提醒 {i}")
    c.webhook_send_text("k1", "群消息", mentioned_list=["lils", "zhangls"])
    assert standin.token_fetches == 1
    assert len(standin.messages_to("lils")) == 5
    assert standin.webhook_messages("k1")[0]["text"]["mentioned_list"] == ["lils", "zhangls"]


def test_expired_token_refreshed_once_and_message_delivered_once(standin):
    c = client(standin)
    c.message_send_text(["a"], "one")
    standin.fail_next("/cgi-bin/message/send", errcode=42001)
    c.message_send_text(["a"], "two")
    assert standin.token_fetches == 2
    assert [m["text"]["content"] for m in standin.messages_to("a")] == ["one", "two"]


def test_persistent_token_error_ends_after_one_retry(standin):
    c = client(standin)
    standin.fail_next("/cgi-bin/message/send", errcode=40014, times=50)
    with pytest.raises(WeComError) as err:
        c.message_send_text(["a"], "x")
    assert err.value.errcode == 40014
    assert standin.token_fetches == 2                     # the first token and one refresh
    assert len([r for r in standin.received if r["path"] == "/cgi-bin/message/send"]) == 2


def test_http_500_retried_then_delivered_once(standin):
    c = client(standin)
    standin.fail_next("/cgi-bin/message/send", status=500, times=2)
    c.message_send_text(["a"], "x")
    assert len(standin.messages_to("a")) == 1


def test_5xx_gives_up_after_bounded_retries(standin):
    slept = []
    c = WeComClient("ww1", SECRET, 1, standin.url, sleep=slept.append, retries=2, backoff=0.5)
    standin.fail_next("/cgi-bin/webhook/send", status=502, times=10)
    with pytest.raises(WeComUnavailable):
        c.webhook_send_text("k", "x")
    assert slept == [0.5, 1.0]


def test_timeout_is_retried(standin):
    c = client(standin, timeout=0.3)
    standin.fail_next("/cgi-bin/webhook/send", delay=0.6)
    c.webhook_send_text("k", "after a timeout")
    assert [m["text"]["content"] for m in standin.webhook_messages("k")] == ["after a timeout"]


def test_rate_limits_raise_distinctly(standin):
    c = client(standin)
    standin.fail_next("/cgi-bin/webhook/send", errcode=45009)
    with pytest.raises(WeComRateLimited):
        c.webhook_send_text("k", "x")
    standin.fail_next("/cgi-bin/message/send", errcode=130101)
    with pytest.raises(WeComRateLimited):
        c.message_send_text(["a"], "x")


def test_2500_users_go_in_three_calls(standin):
    c = client(standin)
    c.message_send_text([f"u{i}" for i in range(2500)], "提醒")
    calls = standin.sends("/cgi-bin/message/send")
    assert [len(r["json"]["touser"].split("|")) for r in calls] == [1000, 1000, 500]


def test_markdown_and_image(standin):
    c = client(standin)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    c.webhook_send_markdown("k", "**晨检日报**")
    c.webhook_send_image("k", png)
    md, img = standin.webhook_messages("k")
    assert md["markdown"]["content"] == "**晨检日报**"
    assert base64.b64decode(img["image"]["base64"]) == png
    assert img["image"]["md5"] == hashlib.md5(png).hexdigest()


def test_wrong_secret_is_a_clear_error(standin):
    c = WeComClient("ww1", "wrong-secret", 1, standin.url, sleep=lambda s: None)
    with pytest.raises(WeComError) as err:
        c.message_send_text(["a"], "x")
    assert err.value.errcode == 40001 and "wrong-secret" not in str(err.value)


def test_no_secret_token_or_key_in_logs_or_errors(standin, caplog):
    caplog.set_level(logging.DEBUG)
    c = client(standin)
    c.message_send_text(["a"], "x")
    token = c.get_access_token()
    standin.fail_next("/cgi-bin/webhook/send", errcode=93000)
    with pytest.raises(WeComError) as err:
        c.webhook_send_text("robot-key-secret", "x")
    standin.fail_next("/cgi-bin/message/send", errcode=42001)
    c.message_send_text(["a"], "y")
    text = caplog.text + str(err.value) + repr(c)
    for secret in (SECRET, token, "robot-key-secret"):
        assert secret not in text


def test_redis_token_store_shared_between_clients(standin):
    import redis
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        service_missing("Redis at " + REDIS_URL, str(exc))
    store = redis_token_store(REDIS_URL)
    store.primary.delete(client(standin)._token_key)
    a = client(standin, token_store=store)
    b = client(standin, token_store=redis_token_store(REDIS_URL))
    a.message_send_text(["x"], "1")
    b.message_send_text(["x"], "2")
    assert standin.token_fetches == 1


def test_redis_down_falls_back_with_a_warning(standin, caplog):
    caplog.set_level(logging.WARNING)
    store = redis_token_store("redis://127.0.0.1:1/0")
    c = client(standin, token_store=store)
    c.message_send_text(["x"], "1")
    c.message_send_text(["x"], "2")
    assert standin.token_fetches == 1
    assert "per-process cache" in caplog.text
    assert isinstance(store, FallbackTokenStore)
