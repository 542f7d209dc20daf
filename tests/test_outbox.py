"""Delivery through the outbox over real HTTP to the stand-in: injected token expiry (42001),
rate limits (45009), HTTP 500s, the 20-a-minute robot limit, backoff, giving up, crashes at
every point of a delivery, and parallel workers. Time is a FixedClock that `sleep` advances."""
from __future__ import annotations

import base64
import datetime as dt
import threading

import pytest
from sqlalchemy import select

from handlers.outgoing import Outgoing
from scheduler.outbox import MAX_AGE, OutboxWorker, clean_error, enqueue
from storage.models import OutboxMessage
from tests.test_jobs import Crash, env, env_factory  # noqa: F401 - fixtures


def queue(env, *messages: Outgoing, source: str = "test") -> list[str]:
    with env.sessions() as s, s.begin():
        return enqueue(s, messages, source=source, now=env.clock())


def person(n: int, users="wangxz", text=None) -> Outgoing:
    return Outgoing("person", users, "text", text or f"消息{n}", f"test:person:{n}")


def group(n: int, key="school1-key", text=None, mentioned=()) -> Outgoing:
    return Outgoing("group", key, "text", text or f"群消息{n}", f"test:group:{key}:{n}",
                    mentioned=tuple(mentioned))


def rows(env) -> dict[str, OutboxMessage]:
    with env.sessions() as s:
        return {r.dedupe_key: r for r in s.scalars(select(OutboxMessage))}


# --- queueing ------------------------------------------------------------------------------

def test_the_same_dedupe_key_is_queued_once(env):
    assert queue(env, person(1)) == ["test:person:1"]
    assert queue(env, person(1), person(2)) == ["test:person:2"]
    assert len(rows(env)) == 2


def test_a_rolled_back_transaction_queues_nothing(env):
    with env.sessions() as s:
        with s.begin():
            enqueue(s, [person(1)], source="test", now=env.clock())
            s.rollback()
    assert rows(env) == {}


# --- injected failures ---------------------------------------------------------------------

def test_injected_42001_45009_and_http_500_every_message_still_delivered_once(env):
    env.standin.fail_next("/cgi-bin/message/send", errcode=42001)        # token expired
    env.standin.fail_next("/cgi-bin/webhook/send", errcode=45009)        # rate limited
    env.standin.fail_next("/cgi-bin/message/send", status=500, times=2)
    env.standin.fail_next("/cgi-bin/webhook/send", status=500, times=2)
    code, out, err = env.run("remind")                  # 2 person + 2 group messages
    assert code == 0, (out, err)
    env.clock.set(dt.datetime(2026, 3, 2, 9, 0))
    env.standin.fail_next("/cgi-bin/message/send", errcode=45009)
    env.standin.fail_next("/cgi-bin/message/send", errcode=42001)
    code, out, err = env.run("escalate")
    assert code == 0, (out, err)
    env.assert_each_delivered_once()
    retried = [r for r in rows(env).values() if r.attempts > 1]
    assert retried, "no injected failure reached the outbox worker"
    assert all(r.status == "sent" for r in rows(env).values())


def test_130101_and_timeouts_still_deliver_every_message_once(env):
    """A robot's 130101 (rate limited), a private message whose answer comes too late (WeCom
    delivered it; our client timed out and resends) and a robot call that hangs and fails."""
    from bot.wecom.client import WeComClient

    queue(env, group(1), person(2, users="wangxz|lils"), group(3, key="school2-key"))
    env.standin.fail_next("/cgi-bin/webhook/send", errcode=130101)
    env.standin.fail_next("/cgi-bin/message/send", delay=0.6)            # slow, but delivered
    env.standin.fail_next("/cgi-bin/webhook/send", delay=0.6, status=504)  # slow, and lost
    w = env.config.wecom
    client = WeComClient(w.corp_id, w.secret, w.agent_id, w.api_base, timeout=0.3,
                         sleep=env.sleep)
    OutboxWorker(env.sessions, client, clock=env.clock, sleep=env.sleep,
                 secrets=(w.secret,)).drain(timeout=600)
    assert all(r.status == "sent" for r in rows(env).values())
    assert len(env.standin.sends("/cgi-bin/message/send")) == 2   # timed out, so sent again ...
    assert len(env.standin.messages_to("wangxz")) == 1      # ... and WeCom held the copy back
    assert len(env.standin.messages_to("lils")) == 1
    assert len(env.standin.webhook_messages("school1-key")) == 1
    assert len(env.standin.webhook_messages("school2-key")) == 1
    assert any(r["errcode"] == 130101 for r in env.standin.received)


def test_rate_limited_robot_waits_a_minute_and_resends(env):
    queue(env, group(1))
    env.standin.fail_next("/cgi-bin/webhook/send", errcode=45009)
    start = env.clock()
    worker = env.worker()
    worker.drain(timeout=600)
    row = rows(env)["test:group:school1-key:1"]
    assert row.status == "sent" and row.attempts == 2
    assert env.clock() - start >= dt.timedelta(seconds=60)
    assert "45009" in (row.last_error or "")
    env.assert_each_delivered_once()


def test_a_robot_sends_at_most_20_messages_a_minute(env):
    queue(env, *(group(i) for i in range(25)), group(99, key="school2-key"))
    env.worker().drain(timeout=600)
    env.assert_each_delivered_once()
    sent = sorted(r.sent_at for r in rows(env).values() if r.target == "school1-key")
    assert len(sent) == 25
    for i in range(20, 25):            # any 21 consecutive sends span more than a minute
        assert sent[i] - sent[i - 20] > dt.timedelta(seconds=60)
    # The other robot was not held up by the busy one.
    other = rows(env)["test:group:school2-key:99"]
    assert other.attempts == 1 and other.sent_at < sent[20]


def test_errors_back_off_exponentially_and_give_up_after_max_age(env):
    queue(env, person(1))
    env.standin.fail_next("/cgi-bin/message/send", status=500, times=100000)
    start = env.clock()
    env.worker().drain(timeout=MAX_AGE.total_seconds() + 3600)
    row = rows(env)["test:person:1"]
    assert row.status == "failed"
    assert 5 <= row.attempts < 100, row.attempts       # backed off, not hammered
    assert env.clock() - start >= MAX_AGE - dt.timedelta(minutes=11)
    assert env.clock() - start <= MAX_AGE + dt.timedelta(minutes=11)
    assert row.last_error and "test-secret" not in row.last_error
    text = env.status()
    assert "1 failed" in text and "test:person:1" in text and "wangxz" in text


def test_a_permanent_refusal_fails_at_once(env):
    queue(env, group(1))
    env.standin.fail_next("/cgi-bin/webhook/send", errcode=93000)
    env.worker().drain(timeout=600)
    row = rows(env)["test:group:school1-key:1"]
    assert row.status == "failed" and row.attempts == 1
    assert "93000" in row.last_error and "school1-key" not in row.last_error


def test_markdown_and_image_go_out_as_such(env):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    queue(env, Outgoing("group", "bureau-key", "markdown", "**日报**", "test:md"),
          Outgoing("group", "bureau-key", "image", base64.b64encode(png).decode(), "test:img"),
          Outgoing("person", "wangxz|sunxz", "markdown", "**私信**", "test:pmd"))
    env.worker().drain(timeout=60)
    env.assert_each_delivered_once()
    kinds = sorted(r["json"].get("msgtype") for r in env.standin.received
                   if r["path"].endswith(("/message/send", "/webhook/send")))
    assert kinds == ["image", "markdown", "markdown"]


def test_clean_error_blanks_tokens_keys_and_secrets():
    exc = RuntimeError("POST https://x/cgi-bin/webhook/send?key=abc-123 failed; "
                       "GET /gettoken?corpid=ww1&corpsecret=s3cr3t&x=1 access_token=TOK")
    text = clean_error(exc, secrets=("s3cr3t", "abc-123"))
    assert "abc-123" not in text and "s3cr3t" not in text and "TOK" not in text
    assert "RuntimeError" in text


# --- crashes at each point of a delivery ---------------------------------------------------

def test_crash_after_queueing_before_sending_loses_nothing(env):
    queue(env, person(1), group(2))
    # The process dies here: nothing was claimed. A new process delivers everything once.
    env.worker(name="restarted").drain(timeout=60)
    env.assert_each_delivered_once()


def test_crash_after_claiming_before_sending_resends_once_after_the_lease(env):
    queue(env, person(1), group(2))
    worker = env.worker(name="dies")

    def die(m):
        raise Crash("killed before the HTTP request")
    worker.before_send = die
    with pytest.raises(Crash):
        worker.run_once()
    claimed = [r for r in rows(env).values() if r.status == "sending"]
    assert len(claimed) == 1                     # one message at a time is ever in flight
    again = env.worker(name="restarted")
    again.run_once()                             # the other one goes at once ...
    assert len(env.deliveries()) == 1
    env.clock.advance(minutes=6)                 # ... the claimed one once its lease ended
    again.run_once()
    env.assert_each_delivered_once()
    resent = rows(env)[claimed[0].dedupe_key]
    assert resent.attempts == 2 and "interrupted" in resent.last_error


def die_after_send(env) -> None:
    """A worker dies right after WeCom answered its send, before marking the row sent."""
    worker = env.worker(name="dies")

    def die(m):
        raise Crash("killed after the HTTP answer")
    worker.after_send = die
    with pytest.raises(Crash):
        worker.run_once()


def test_crash_between_send_and_commit_is_the_window_that_can_double(env):
    """Documented limit: if the process dies after WeCom accepted a message but before the
    `sent` commit (a few milliseconds), the message is sent again after its lease. Nothing is
    lost; the copy is the price. The row says so in last_error."""
    queue(env, group(1))
    die_after_send(env)
    assert len(env.deliveries()) == 1
    env.clock.advance(minutes=6)                 # the lease runs out
    env.worker(name="restarted").run_once()
    row = rows(env)["test:group:school1-key:1"]
    assert row.status == "sent" and "interrupted" in row.last_error
    assert len(env.deliveries()) == 2            # the one copy this window can cost


def test_crash_between_send_and_commit_doubles_no_private_message(env):
    """For message/send WeCom's duplicate check closes that window: the resend after the
    lease reaches nobody a second time."""
    queue(env, person(1, users="wangxz|lils"))
    die_after_send(env)
    env.clock.advance(minutes=6)                 # the lease runs out
    env.worker(name="restarted").run_once()
    calls = env.standin.sends("/cgi-bin/message/send")
    assert len(calls) == 2                        # sent again, as before ...
    assert [c["json"]["enable_duplicate_check"] for c in calls] == [1, 1]
    assert len(env.standin.messages_to("wangxz")) == 1    # ... but received once
    assert len(env.standin.messages_to("lils")) == 1
    env.assert_each_delivered_once()


# --- several workers -----------------------------------------------------------------------

def test_parallel_workers_deliver_each_message_once(env):
    queue(env, *(person(i, users=f"wangxz|u{i}") for i in range(30)),
          *(group(i, key="school2-key") for i in range(10)))
    workers = [env.worker(name=f"w{i}") for i in range(3)]
    errors = []

    def go(w):
        try:
            w.run_once()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    env.assert_each_delivered_once()


def test_drain_with_a_clock_that_does_not_move_returns_what_it_could_send(env):
    """The demo drains with a no-op sleep: it must not spin on a retry that lies ahead."""
    queue(env, person(1), group(2))
    env.standin.fail_next("/cgi-bin/webhook/send", errcode=45009)
    worker = env.worker()
    worker.sleep = lambda seconds: None
    result = worker.drain(timeout=600)
    assert result.sent == 1 and result.retried == 1
    assert rows(env)["test:group:school1-key:2"].status == "pending"


# --- permanent refusals, what `status` shows, waiting beside another worker ---------------

IP_NOT_TRUSTED = ("not allow to access from your ip, hint: [1700000000_1_abc], from ip: "
                  "203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e=60020")


def test_60020_fails_a_fever_alert_at_once_with_the_reason_in_status(env):
    """The server's IP is not among the app's trusted IPs: retrying cannot help, so the row is
    failed at its first answer, and `status` and `failed_since` say why."""
    from storage.outbox_queue import failed_since

    queue(env, Outgoing("person", "wangxz", "text", "【体温异常】李四 37.6℃", "alert:test:1"),
          source="alert")
    env.standin.fail_next("/cgi-bin/message/send", errcode=60020, errmsg=IP_NOT_TRUSTED)
    env.worker().drain(timeout=600)
    row = rows(env)["alert:test:1"]
    assert (row.status, row.attempts) == ("failed", 1)
    assert env.slept == []                      # no backoff, no retry
    text = env.status()
    assert "1 failed" in text and "failed #" in text and "alert:test:1" in text
    assert "errcode 60020" in text and "203.0.113.7" in text and "trusted IPs" in text
    with env.sessions() as s:
        [f] = failed_since(s, env.clock() - dt.timedelta(hours=1))
        assert failed_since(s, env.clock() + dt.timedelta(minutes=1)) == []
    assert (f.source, f.channel, f.target, f.errcode) == ("alert", "person", "wangxz", 60020)
    assert "trusted IPs" in f.error


@pytest.mark.parametrize("errcode", [40001, 40013, 40056, 48002, 60011, 81013, 82001, 93000])
def test_refusals_that_never_succeed_on_retry_fail_at_once(env, errcode):
    queue(env, person(1), group(2))
    env.standin.fail_next("/cgi-bin/message/send", errcode=errcode, times=3)
    env.standin.fail_next("/cgi-bin/webhook/send", errcode=errcode)
    env.worker().drain(timeout=600)
    for r in rows(env).values():
        assert (r.status, r.attempts) == ("failed", 1), (r.dedupe_key, r.last_error)
        assert f"errcode {errcode}" in r.last_error and "school1-key" not in r.last_error


def test_a_token_refused_again_after_a_refresh_is_retried_not_failed(env):
    """40014/42001: the client fetched a new token and tried once more; a second refusal may
    be a race with another process's refresh, so the row backs off and is sent later."""
    queue(env, person(1))
    env.standin.fail_next("/cgi-bin/message/send", errcode=40014, times=2)
    env.worker().drain(timeout=600)
    row = rows(env)["test:person:1"]
    assert (row.status, row.attempts) == ("sent", 2) and "40014" in row.last_error


def test_status_shows_each_retrying_delivery_with_its_last_errcode(env):
    queue(env, person(1), Outgoing("group", "school2-key", "text", "群消息", "test:group:2"))
    env.standin.fail_next("/cgi-bin/message/send", errcode=45009, errmsg="api freq out of limit")
    env.standin.fail_next("/cgi-bin/webhook/send", status=502, times=4)
    env.worker().run_once()
    text = env.status()
    assert "outbox: 2 pending" in text
    retrying = [line for line in text.splitlines() if line.strip().startswith("retrying #")]
    assert len(retrying) == 2, text
    person_line = next(line for line in retrying if "test:person:1" in line)
    assert "errcode 45009" in person_line and "api freq out of limit" in person_line
    assert "next 2026-03-02 08:31:00" in person_line          # a minute for a rate limit
    group_line = next(line for line in retrying if "test:group" in line)
    assert "(group 第二小学)" in group_line and "HTTP 502" in group_line
    assert "school2-key" not in text


def test_status_shows_a_row_held_by_another_workers_lease(env):
    queue(env, person(1, users="wangxz|lils"))
    other = env.worker(name="host-b:4242:c0ffee")

    def die(m):
        raise Crash("killed mid-send")
    other.before_send = die
    with pytest.raises(Crash):
        other.run_once()
    text = env.status()
    assert "1 sending" in text
    line = next(line for line in text.splitlines() if "sending #" in line)
    assert "test:person:1 (person wangxz +1)" in line
    assert "held by host-b:4242:c0ffee, lease until 2026-03-02 08:35:00" in line
    env.clock.advance(minutes=6)
    line = next(line for line in env.status().splitlines() if "sending #" in line)
    assert "lease ended 2026-03-02 08:35:00, to be sent again" in line


def test_wait_delivered_polls_a_row_another_worker_is_sending_and_returns_when_it_is_sent(env):
    """The other worker (the running scheduler) holds one of our rows under a five-minute
    lease; the waiting command sends its other row itself, looks again every few tenths of a
    second, and returns as soon as the other worker has sent it: not at the lease end."""
    import time

    from scheduler.commands import wait_delivered
    from scheduler.outbox import POLL_SECONDS, delivery_of

    now = dt.datetime.now(dt.timezone.utc)
    with env.sessions() as s, s.begin():
        keys = enqueue(s, [person(1), group(2)], source="test", now=now)
    claimed, release = threading.Event(), threading.Event()
    real = lambda: dt.datetime.now(dt.timezone.utc)   # noqa: E731 - the wall clock
    other = OutboxWorker(env.sessions, env.client(), clock=real, name="host-b:4242:c0ffee")

    def hold(m):
        claimed.set()
        assert release.wait(30)
    other.before_send = hold
    thread = threading.Thread(target=other.run_once)
    thread.start()
    assert claimed.wait(30)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        release.set()                # the other worker finishes while we wait
        time.sleep(seconds)
    started = time.monotonic()
    try:
        result = wait_delivered(env.config, env.sessions, keys, env.client(), clock=real,
                                sleep=sleep, timeout=120)
    finally:
        release.set()
        thread.join(30)
    assert time.monotonic() - started < 30          # the lease had five minutes to run
    assert slept and max(slept) <= POLL_SECONDS
    assert result.ok and (result.sent_here, result.sent_by_others) == (1, 1), result
    assert result.describe() == "sent 1, 1 by another worker"
    with env.sessions() as s:
        named = delivery_of(s, keys, "someone-else", scheduler="host-b:4242:leader")
    assert named.describe() == "sent 0, 1 by the running scheduler, 1 by another worker"
    env.assert_each_delivered_once()


def test_drain_without_poll_still_sends_a_dead_workers_row_after_its_lease(env):
    queue(env, person(1))
    other = env.worker(name="dies")

    def die(m):
        raise Crash("killed mid-send")
    other.before_send = die
    with pytest.raises(Crash):
        other.run_once()
    result = env.worker(name="restarted").drain(timeout=600)
    assert result.sent == 1 and sum(env.slept) >= 5 * 60 - 1    # slept to the lease end
    env.assert_each_delivered_once()
