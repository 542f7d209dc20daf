"""The walking skeleton through a running server: WeCom's crypto, one record per MsgId, replies."""
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from bot.app import create_app
from storage.models import HealthRecord, InboundMessage
from tests.support import SAMPLE_AES_KEY, SAMPLE_CORP_ID, SAMPLE_TOKEN, LiveServer, make_config

ROOT = Path(__file__).resolve().parents[1]
# Tencent's published sample (WeCom callback docs): URL verification and one text message.
SAMPLE_GET = ("msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589"
              "&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3"
              "zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D")
SAMPLE_POST_ARGS = {"msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
                    "timestamp": "1409659813", "nonce": "1372623149"}
SAMPLE_ENCRYPT = ("RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS"
                  "+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")
SAMPLE_POST_BODY = (f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
                    f"<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt>"
                    f"<AgentID><![CDATA[218]]></AgentID></xml>")

def count(svc, model, *where):
    with svc.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_tencent_sample_url_verification(world):
    server, *_ = world
    r = requests.get(f"{server.url}/wecom/callback?{SAMPLE_GET}", timeout=5)
    assert r.status_code == 200
    assert r.text == "1616140317555161061"


def test_tencent_sample_message_decrypts_and_is_stored(world):
    server, svc, signer, _ = world
    r = requests.post(f"{server.url}/wecom/callback", params=SAMPLE_POST_ARGS,
                      data=SAMPLE_POST_BODY.encode(), timeout=5)
    assert r.status_code == 200
    with svc.sessions() as s:
        msg = s.scalar(select(InboundMessage))
    assert (msg.sender, msg.content, msg.msg_key) == ("mycreate", "hello", "msg:4561255354251345929")
    assert msg.outcome == "unknown_sender"
    reply = signer.decrypt_reply(r.text)
    assert "不在晨检名单" in reply and "联系" in reply
    assert count(svc, HealthRecord) == 0


def test_teacher_temperature_recorded_once_and_answered(world):
    server, svc, signer, _ = world
    answers = []
    for _ in range(3):          # WeCom retries the same MsgId when it gets no answer in time
        status, reply = signer.post_text(server.url, "zhangls", "36.5", msg_id="1001")
        assert status == 200
        answers.append(reply)
    assert "已记录：2月4日 体温36.5℃，正常" in answers[0]
    assert answers == [answers[0]] * 3
    assert count(svc, InboundMessage) == 1
    assert count(svc, HealthRecord) == 1
    with svc.sessions() as s:
        rec = s.scalar(select(HealthRecord))
    assert (rec.day, rec.check, rec.temperature, rec.abnormal) == (dt.date(2020, 2, 4), "morning", 36.5, False)
    assert rec.reported_by.userid == "zhangls"


def test_fever_answer_says_what_happens_next(world):
    server, svc, signer, _ = world
    _, reply = signer.post_text(server.url, "zhangls", "体温37.8", msg_id="1002")
    assert "37.8℃" in reply and "发热" in reply and "已通知校长" in reply
    assert count(svc, HealthRecord, HealthRecord.abnormal.is_(True)) == 1


def test_refusal_reaches_the_teacher(world):
    server, svc, signer, _ = world
    _, reply = signer.post_text(server.url, "zhangls", "体温48.5", msg_id="1003")
    assert reply.startswith("未记录") and "36.5" in reply
    assert count(svc, HealthRecord) == 0


def test_bad_signature_is_403_and_not_stored(world):
    server, svc, signer, _ = world
    params, body = signer.encrypt(signer.text_message_xml("zhangls", "36.5", msg_id="1004"))
    params = {**params, "msg_signature": "0" * 40}
    r = requests.post(f"{server.url}/wecom/callback", params=params, data=body.encode(), timeout=5)
    assert r.status_code == 403
    r = requests.post(f"{server.url}/wecom/callback", data=body.encode(), timeout=5)
    assert r.status_code == 403
    r = requests.get(f"{server.url}/wecom/callback",
                     params={**signer.verify_url_params("abc"), "msg_signature": "1" * 40}, timeout=5)
    assert r.status_code == 403
    assert count(svc, InboundMessage) == 0


@pytest.mark.parametrize("body", [b"\x00\xff garbage", b"<xml><Nope/></xml>", b"{\"encrypt\": 1}",
                                  b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><xml>&a;</xml>"])
def test_garbage_is_400(world, body):
    server, svc, *_ = world
    r = requests.post(f"{server.url}/wecom/callback", params=SAMPLE_POST_ARGS, data=body, timeout=5)
    assert r.status_code == 400
    assert count(svc, InboundMessage) == 0


def test_signed_but_undecryptable_is_400(world):
    server, svc, signer, _ = world
    import hashlib
    encrypt = "bm90IHJlYWxseSBlbmNyeXB0ZWQ="       # valid base64, not a WeCom ciphertext
    ts, nonce = "1409659813", "42"
    sig = hashlib.sha1("".join(sorted([SAMPLE_TOKEN, ts, nonce, encrypt])).encode()).hexdigest()
    body = f"<xml><ToUserName>x</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
    r = requests.post(f"{server.url}/wecom/callback",
                      params={"msg_signature": sig, "timestamp": ts, "nonce": nonce},
                      data=body.encode(), timeout=5)
    assert r.status_code == 400
    assert count(svc, InboundMessage) == 0


def test_unknown_sender_answered_and_not_recorded(world):
    server, svc, signer, _ = world
    status, reply = signer.post_text(server.url, "stranger", "36.5", msg_id="1005")
    assert status == 200 and "不在晨检名单" in reply
    assert count(svc, InboundMessage) == 1
    assert count(svc, HealthRecord) == 0


def test_other_message_types_and_events_get_200(world):
    server, svc, signer, _ = world
    xml = signer.event_xml("zhangls", "enter_agent")
    params, body = signer.encrypt(xml)
    r = requests.post(f"{server.url}/wecom/callback", params=params, data=body.encode(), timeout=5)
    assert r.status_code == 200
    image = (f"<xml><ToUserName><![CDATA[{SAMPLE_CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangls]]>"
             "</FromUserName><CreateTime>1580774400</CreateTime><MsgType><![CDATA[image]]></MsgType>"
             "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>"
             "<MsgId>2001</MsgId><AgentID>1000002</AgentID></xml>")
    params, body = signer.encrypt(image)
    r = requests.post(f"{server.url}/wecom/callback", params=params, data=body.encode(), timeout=5)
    assert r.status_code == 200 and "文字" in signer.decrypt_reply(r.text)
    assert count(svc, HealthRecord) == 0


def test_healthz(world):
    server, *_ = world
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_healthz_503_when_database_is_gone(tmp_path):
    config = make_config("postgresql+psycopg://postgres@127.0.0.1:1/none")
    app = create_app(config)
    with LiveServer(app) as server:
        assert requests.get(f"{server.url}/healthz", timeout=15).status_code == 503


def test_export_shows_exactly_the_records(world, tmp_path):
    server, svc, signer, clock = world
    signer.post_text(server.url, "zhangls", "36.5", msg_id="3001")
    signer.post_text(server.url, "lils", "36.8", msg_id="3002")
    signer.post_text(server.url, "zhangls", "36.6", msg_id="3003")       # a correction
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[wecom]\ncorp_id="{SAMPLE_CORP_ID}"\nagent_id=1000002\nsecret="s"\n'
                   f'token="{SAMPLE_TOKEN}"\nencoding_aes_key="{SAMPLE_AES_KEY}"\napi_base="http://127.0.0.1:9"\n'
                   f'[database]\nurl="{svc.config.database_url}"\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    res = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "export",
                          "--from", "2020-02-04", "--to", "2020-02-04", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 3                       # header + two people
    zhang = next(l for l in lines if "张老师" in l)
    assert ",36.6," in zhang and "36.5℃" in zhang and "已被更正" in zhang
    bad = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "export",
                          "--from", "2020-02-30", "--to", "2020-02-04", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
