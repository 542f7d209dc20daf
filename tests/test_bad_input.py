"""Bad input is refused cleanly: never a 500, never a record, nothing secret in the logs."""
import json
import logging
import random

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.app import create_app
from bot.services import Services
from bot.wecom import aibot_crypto
from bot.wecom.signer import AibotSigner, CallbackSigner
from storage.db import upgrade
from storage.models import HealthRecord, InboundMessage
from storage.roster import apply_roster, load_roster
from tests.support import (AIBOT_AES_KEY, AIBOT_TOKEN, ROSTER_CSV, SAMPLE_AES_KEY, SAMPLE_CORP_ID,
                           SAMPLE_TOKEN, make_config)


@pytest.fixture
def app_env(sqlite_url, tmp_path):
    upgrade(sqlite_url)
    svc = Services.build(make_config(sqlite_url))
    csv = tmp_path / "r.csv"
    csv.write_text(ROSTER_CSV, encoding="utf-8")
    with svc.sessions() as s, s.begin():
        apply_roster(s, load_roster(csv))
    app = create_app(services=svc)
    yield app.test_client(), svc, CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    svc.close()


def count(svc, model):
    with svc.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def post(client, params, body, path="/wecom/callback"):
    return client.post(path, query_string=params, data=body)


def test_replayed_request_is_stored_once_with_the_same_answer(app_env):
    client, svc, signer = app_env
    params, body = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id=555))
    first, second = post(client, params, body), post(client, params, body)
    assert first.status_code == second.status_code == 200
    assert signer.decrypt_reply(first.get_data(as_text=True)) == signer.decrypt_reply(second.get_data(as_text=True))
    assert (count(svc, InboundMessage), count(svc, HealthRecord)) == (1, 1)


def test_oversized_body_is_refused(app_env):
    client, svc, signer = app_env
    params, _ = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id=1))
    r = post(client, params, b"<xml>" + b"a" * (2 * 1024 * 1024) + b"</xml>")
    assert r.status_code == 413 and count(svc, InboundMessage) == 0


def test_entities_outside_and_inside_the_encrypted_payload(app_env):
    client, svc, signer = app_env
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            '<xml><ToUserName>x</ToUserName><Encrypt>&b;</Encrypt></xml>')
    params, _ = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id=2))
    assert post(client, params, bomb.encode()).status_code == 400
    xxe = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           '<xml><ToUserName>x</ToUserName><FromUserName>zhangls</FromUserName><CreateTime>1</CreateTime>'
           '<MsgType>text</MsgType><Content>&e;</Content><MsgId>3</MsgId></xml>')
    params, body = signer.encrypt(xxe)
    assert post(client, params, body).status_code == 400
    assert count(svc, InboundMessage) == 0


def test_non_utf8_and_json_where_xml_belongs(app_env):
    client, svc, signer = app_env
    params, body = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id=4))
    assert post(client, params, body.encode("utf-16")).status_code == 400
    assert post(client, params, json.dumps({"encrypt": "abc"}).encode()).status_code == 400
    aibot = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY)
    a_params, _ = aibot.encrypt(aibot.message("c", "zhangls", "@晨检 36.5", "m1"))
    assert post(client, a_params, body.encode(), path="/wecom/aibot").status_code == 400
    assert post(client, a_params, b"\xff\xfe\x00garbage", path="/wecom/aibot").status_code == 400
    assert count(svc, InboundMessage) == 0


def test_fuzz_10000_random_and_mutated_callbacks(app_env):
    client, svc, signer = app_env
    rnd = random.Random(20200204)
    params, body = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id=99))
    raw = body.encode()
    enc_start = raw.index(b"<Encrypt><![CDATA[") + len(b"<Encrypt><![CDATA[")
    enc_end = raw.index(b"]]></Encrypt>")
    statuses = {}
    for i in range(10_000):
        choice = i % 4
        if choice == 0:                                  # random bytes, real signature params
            data, q = rnd.randbytes(rnd.randint(0, 300)), params
        elif choice == 1:                                # a real body, its ciphertext mutated
            b = bytearray(raw)
            for _ in range(rnd.randint(1, 8)):
                at = rnd.randrange(enc_start, enc_end)
                b[at] = (b[at] + rnd.randrange(1, 256)) % 256       # always a different byte
            data, q = bytes(b), params
        elif choice == 2:                                # mutated signature parameters
            q = {k: (v[:-1] + rnd.choice("0123456789abcdef")) if rnd.random() < 0.7 else v
                 for k, v in params.items()}
            data = raw if q != params else raw[:-5]
        else:                                            # the aibot endpoint
            data, q = rnd.randbytes(rnd.randint(0, 200)), params
        path = "/wecom/aibot" if choice == 3 else "/wecom/callback"
        r = client.post(path, query_string=q, data=data)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (i, r.status_code)
    assert count(svc, InboundMessage) == 0 and count(svc, HealthRecord) == 0
    assert set(statuses) <= {200, 400, 403, 413}


def test_formula_injection_exported_as_text(app_env, tmp_path):
    import datetime as dt
    from bot.export import export
    from storage import records as store
    from storage.models import Person
    client, svc, _ = app_env
    csv = tmp_path / "evil.csv"
    csv.write_text(ROSTER_CSV + "第一实验小学,三年级2班,=cmd|' /C calc'!A0,student,,\n", encoding="utf-8")
    with svc.sessions() as s, s.begin():
        apply_roster(s, load_roster(csv))
        evil = s.scalar(select(Person).where(Person.name.like("=cmd%")))
        store.save_record(s, person_id=evil.id, day=dt.date(2020, 2, 4), check="morning",
                          temperature=36.5, symptoms=(), abnormal=False, reported_by_id=None,
                          message_id=None)
    with svc.sessions() as s:
        export(s, dt.date(2020, 2, 4), dt.date(2020, 2, 4), tmp_path / "o.xlsx", svc.config.tz)
        export(s, dt.date(2020, 2, 4), dt.date(2020, 2, 4), tmp_path / "o.csv", svc.config.tz)
    ws = load_workbook(tmp_path / "o.xlsx").worksheets[0]
    cells = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "cmd" in c.value]
    assert cells and all(v.startswith("'=") for v in cells)
    assert ",'=cmd|" in (tmp_path / "o.csv").read_text(encoding="utf-8-sig")


def test_no_secret_in_any_log_line(app_env, caplog):
    caplog.set_level(logging.DEBUG)
    client, svc, signer = app_env
    for i, text in enumerate(["36.5", "体温38.2 咳嗽", "帮助", "统计"]):
        params, body = signer.encrypt(signer.text_message_xml("zhangls", text, msg_id=700 + i))
        post(client, params, body)
    post(client, {"msg_signature": "x", "timestamp": "1", "nonce": "2"}, b"<xml/>")
    for secret in (SAMPLE_AES_KEY, "test-secret", AIBOT_AES_KEY, AIBOT_TOKEN):
        assert secret not in caplog.text


# --- the 智能机器人 endpoint: the same fuzz, and signed plaintexts that are all wrong somewhere

def _wrong(rnd: random.Random, *, required: bool, limit: int):
    """A value a text field of WeCom's JSON never holds (None only where the field is required)."""
    choices = [lambda: {"a": rnd.randint(0, 9)}, lambda: [rnd.random()], lambda: rnd.random() > 0.5,
               lambda: rnd.random() * 1e6 + 0.5, lambda: "x" * (limit + rnd.randint(1, 500))]
    if required:
        choices.append(lambda: None)
    return rnd.choice(choices)()


def _poisoned_plaintext(rnd: random.Random) -> str:
    """A decrypted 智能机器人 message with at least one thing that makes it no message."""
    msg = {"msgid": f"f{rnd.randrange(10**9)}", "aibotid": "AIBOTID", "chatid": "chat-school1",
           "chattype": rnd.choice(["group", "single"]), "from": {"userid": "zhangls"},
           "msgtype": "text", "text": {"content": "@晨检 36.5"}}
    for _ in range(rnd.randint(0, 3)):                       # harmless noise
        msg[rnd.choice(["x", "extra", "quote", "attachment"])] = rnd.choice([1, "y", {"z": [1]}, None])
    poison = rnd.randrange(13)
    if poison == 0:
        msg["msgid"] = _wrong(rnd, required=True, limit=128)
    elif poison == 1:
        msg["msgtype"] = _wrong(rnd, required=True, limit=32)
    elif poison == 2:
        msg["chatid"] = _wrong(rnd, required=False, limit=100)
    elif poison == 3:
        msg["chattype"] = rnd.choice(["broadcast", "GROUP", {"t": 1}, [1], 3.5])
    elif poison == 4:
        msg["from"] = rnd.choice(["zhangls", ["zhangls"], 7, 1.5, True])
    elif poison == 5:
        msg["from"] = {"userid": _wrong(rnd, required=False, limit=64)}
    elif poison == 6:
        msg["text"] = rnd.choice(["36.5", [1], 2, None, True])
    elif poison == 7:
        msg["text"] = {"content": rnd.choice([None, 36.5, ["36.5"], {"c": 1}, False])}
    elif poison == 8:                                         # a string no column can hold
        bad = rnd.choice(["\ud800", "\udfff", "\x00", "a\ud83d"])
        key = rnd.choice(["content", "userid", "chatid", "msgid"])
        if key == "content":
            msg["text"]["content"] += bad
        elif key == "userid":
            msg["from"]["userid"] += bad
        else:
            msg[key] += bad
    elif poison == 9:                                         # nesting past the bound
        depth = rnd.randint(aibot_crypto.MAX_DEPTH, 3000)
        return json.dumps(msg)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    elif poison == 10:                                        # not an object
        return json.dumps(rnd.choice([[msg], "text", 36.5, None]))
    elif poison == 11:                                        # cut short or not JSON at all
        text = json.dumps(msg)
        return text[:rnd.randrange(len(text))] if rnd.random() < 0.7 else "<xml>36.5</xml>"
    else:
        msg["text"]["content"] = {"content": "@晨检 36.5"}
    # lone surrogates only travel as \\u escapes: there is no UTF-8 for them
    return json.dumps(msg, ensure_ascii=poison == 8 or rnd.random() < 0.5)


def test_fuzz_10000_random_and_mutated_aibot_callbacks(app_env):
    client, svc, _signer = app_env
    rnd = random.Random(20200205)
    aibot = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY)
    params, body = aibot.encrypt(aibot.message("chat-school1", "zhangls", "@晨检 36.5", "real"))
    raw = body.encode()
    enc_start = raw.index(b'"encrypt": "') + len(b'"encrypt": "')
    enc_end = raw.rindex(b'"}')
    statuses = {}
    for i in range(10_000):
        choice = i % 5
        if choice == 0:                                  # random bytes, real signature params
            data, q = rnd.randbytes(rnd.randint(0, 300)), params
        elif choice == 1:                                # a real body, its ciphertext mutated
            b = bytearray(raw)
            for _ in range(rnd.randint(1, 8)):
                at = rnd.randrange(enc_start, enc_end)
                b[at] = (b[at] + rnd.randrange(1, 256)) % 256
            data, q = bytes(b), params
        elif choice == 2:                                # mutated signature parameters
            q = {k: (v[:-1] + rnd.choice("0123456789abcdef")) if rnd.random() < 0.7 else v
                 for k, v in params.items()}
            data = raw if q != params else raw[:-3]
        elif choice == 3:                                # signed, and wrong inside
            ts, nonce = str(rnd.randrange(10**10)), str(rnd.randrange(10**10))
            encrypt = aibot_crypto.encrypt_text(AIBOT_AES_KEY, _poisoned_plaintext(rnd))
            q = {"msg_signature": aibot_crypto.signature(AIBOT_TOKEN, ts, nonce, encrypt),
                 "timestamp": ts, "nonce": nonce}
            data = json.dumps({"encrypt": encrypt}).encode()
        else:                                            # outer JSON of every wrong shape
            depth = rnd.randint(1, 3000)
            data = rnd.choice([b"[" * depth, b"{" * depth, b'{"encrypt": ' + b"[" * depth,
                               json.dumps({"encrypt": rnd.choice([1, None, [], {"a": 1}, ""])}).encode(),
                               json.dumps({"encrypt": "\ud800"}).encode(),
                               b'{"encrypt": "\\u0000"}', b'"just a string"'])
            q = params
        r = client.post("/wecom/aibot", query_string=q, data=data)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (i, r.status_code)
    assert count(svc, InboundMessage) == 0 and count(svc, HealthRecord) == 0
    assert set(statuses) <= {400, 403, 413}, statuses
    assert statuses.get(400, 0) > 2000                   # the signed ones were read and refused
