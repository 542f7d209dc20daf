"""WeCom's callback crypto: Tencent's published sample vectors, and our WeCom-side signers
against an independent server side (wechatpy 1.8) in memory and over real HTTP."""
import base64
import json
import struct

import pytest
import xmltodict
from werkzeug.wrappers import Request, Response
from wechatpy.crypto import PrpCrypto as AppPrpCrypto
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from bot.wecom import aibot_crypto
from bot.wecom.signer import AibotSigner, CallbackSigner, cdata
from tests.support import LiveServer

# Tencent's sample (WeCom callback docs, "加解密方案说明"; the same vectors are in WeCom's
# sample libraries and in wechatpy's own tests).
TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
VERIFY = {"msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589",
          "nonce": "263014780",
          "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="}
POST_ARGS = {"msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6", "timestamp": "1409659813",
             "nonce": "1372623149"}
ENCRYPT = ("RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qcz"
           "cdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qL"
           "jvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LU"
           "Mnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUP"
           "A3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ"
           "2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")
POST_BODY = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{ENCRYPT}]]>"
             f"</Encrypt><AgentID><![CDATA[218]]></AgentID></xml>")

AIBOT_TOKEN = "aibotToken123"
AIBOT_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def aes_key(key=AES_KEY) -> bytes:
    return base64.b64decode(key + "=")


def wechatpy_signature(*parts) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


# --- Tencent's sample vectors ------------------------------------------------------------------

def test_tencent_sample_url_verification():
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    assert crypto.check_signature(VERIFY["msg_signature"], VERIFY["timestamp"], VERIFY["nonce"],
                                  VERIFY["echostr"]) == "1616140317555161061"
    # the same with our own signature and framing code
    assert aibot_crypto.signature(TOKEN, VERIFY["timestamp"], VERIFY["nonce"],
                                  VERIFY["echostr"]) == VERIFY["msg_signature"]
    assert aibot_crypto.decrypt_text(AES_KEY, VERIFY["echostr"], CORP_ID) == "1616140317555161061"


def test_tencent_sample_message():
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    xml = crypto.decrypt_message(POST_BODY, POST_ARGS["msg_signature"], POST_ARGS["timestamp"],
                                 POST_ARGS["nonce"])
    msg = xmltodict.parse(xml)["xml"]
    assert msg["MsgType"] == "text" and msg["Content"] == "hello"
    assert msg["FromUserName"] == "mycreate" and msg["ToUserName"] == CORP_ID
    assert msg["MsgId"] == "4561255354251345929" and msg["AgentID"] == "218"
    assert msg["CreateTime"] == "1409659813"
    assert aibot_crypto.signature(TOKEN, POST_ARGS["timestamp"], POST_ARGS["nonce"],
                                  ENCRYPT) == POST_ARGS["msg_signature"]
    assert aibot_crypto.decrypt_text(AES_KEY, ENCRYPT, CORP_ID) == xml


def test_tencent_sample_rejected_when_anything_is_off():
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(POST_BODY, POST_ARGS["msg_signature"], "1409659814", POST_ARGS["nonce"])
    with pytest.raises(aibot_crypto.MalformedBody):          # another receive id
        aibot_crypto.decrypt_text(AES_KEY, ENCRYPT, "ww0000000000000000")
    with pytest.raises(aibot_crypto.MalformedBody):          # another key: bad padding
        aibot_crypto.decrypt_text(AIBOT_KEY, ENCRYPT, CORP_ID)


# --- the app callback signer ---------------------------------------------------------------------

def test_signer_plaintext_is_wecom_shaped():
    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID, agent_id=218)
    xml = signer.text_message_xml("mycreate", "hello", 4561255354251345929, create_time=1409659813)
    assert xml == ("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
                   "<FromUserName><![CDATA[mycreate]]></FromUserName><CreateTime>1409659813</CreateTime>"
                   "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content>"
                   "<MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>")
    sample = aibot_crypto.decrypt_text(AES_KEY, ENCRYPT, CORP_ID)
    assert xmltodict.parse(xml) == xmltodict.parse(sample)
    event = xmltodict.parse(signer.event_xml("lils", "click", event_key="#menu1", create_time=5))["xml"]
    assert (event["MsgType"], event["Event"], event["EventKey"], event["AgentID"]) == \
        ("event", "click", "#menu1", "218")


@pytest.mark.parametrize("content", ["张三 36.5", "<&> ]]> done", "a]]>b]]>", "", "多行\n第二行"])
def test_signer_round_trip_with_server_side_crypto(content):
    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    params, body = signer.encrypt(signer.text_message_xml("lils", content, msg_id=9))
    outer = xmltodict.parse(body)["xml"]
    assert set(outer) == {"ToUserName", "Encrypt", "AgentID"} and outer["ToUserName"] == CORP_ID
    server = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    plain = server.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"])
    assert (xmltodict.parse(plain)["xml"]["Content"] or "") == content
    reply = server.encrypt_message(f"<xml><Content>{cdata('已记录 ' + content)}</Content></xml>",
                                   "n1", "123")
    assert signer.decrypt_reply(reply) == "已记录 " + content


def test_signer_url_verification_and_tampered_reply():
    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    p = signer.verify_url_params("echo-123", timestamp="1700000000", nonce="42")
    server = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    assert server.check_signature(p["msg_signature"], p["timestamp"], p["nonce"], p["echostr"]) == "echo-123"
    reply = server.encrypt_message("<xml><Content>x</Content></xml>", "n1", "123")
    with pytest.raises(InvalidSignatureException):
        signer.decrypt_reply(reply.replace("<TimeStamp>123<", "<TimeStamp>124<"))


# --- aibot crypto ----------------------------------------------------------------------------------

def test_aibot_round_trip_and_signature():
    signer = AibotSigner(AIBOT_TOKEN, AIBOT_KEY)
    params, body = signer.encrypt(signer.message("chat1", "lils", "@晨检 36.5", "m1"))
    assert list(json.loads(body)) == ["encrypt"]
    data = aibot_crypto.decrypt_request(AIBOT_TOKEN, AIBOT_KEY, params["msg_signature"],
                                        params["timestamp"], params["nonce"], body.encode())
    assert data == {"msgid": "m1", "aibotid": "AIBOTID", "chatid": "chat1", "chattype": "group",
                    "from": {"userid": "lils"}, "msgtype": "text", "text": {"content": "@晨检 36.5"}}
    plain = {"msgtype": "stream", "stream": {"id": "m1", "finish": True, "content": "好，已记录"}}
    reply = aibot_crypto.encrypt_reply(AIBOT_TOKEN, AIBOT_KEY, plain, "n", "1700000000")
    assert set(reply) == {"encrypt", "msgsignature", "timestamp", "nonce"}
    assert reply["timestamp"] == 1700000000
    assert signer.decrypt_reply(reply) == plain
    assert signer.decrypt_reply(json.dumps(reply)) == plain
    with pytest.raises(aibot_crypto.InvalidSignature):
        signer.decrypt_reply({**reply, "nonce": "m"})
    p = signer.verify_url_params("echo-9")
    assert aibot_crypto.verify_url(AIBOT_TOKEN, AIBOT_KEY, p["msg_signature"], p["timestamp"],
                                   p["nonce"], p["echostr"]) == "echo-9"


def test_aibot_crypto_interoperates_with_wechatpy_with_an_empty_receive_id():
    ours = aibot_crypto.encrypt_text(AIBOT_KEY, '{"a": "晨检"}')
    assert PrpCrypto(aes_key(AIBOT_KEY)).decrypt(ours, "") == '{"a": "晨检"}'
    theirs = AppPrpCrypto(aes_key(AIBOT_KEY)).encrypt('{"b": 1}', "").decode()
    assert aibot_crypto.decrypt_text(AIBOT_KEY, theirs) == '{"b": 1}'
    # and the signature is wechatpy's (sha1 over the sorted byte strings)
    assert aibot_crypto.signature("t", "2", "1", ours) == wechatpy_signature("t", "2", "1", ours)


def _raw_cipher(key: bytes, plain: bytes) -> str:
    """Encrypts `plain` with WeCom's key and IV but no framing: for hand-made bad plaintexts."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def _framed(message: bytes, receive_id: bytes = b"", length: int | None = None, pad: int | None = None) -> bytes:
    data = b"R" * 16 + struct.pack(">I", len(message) if length is None else length) + message + receive_id
    n = 32 - len(data) % 32
    return data + bytes([n if pad is None else pad]) * n


BAD_BODIES = {
    "not JSON": b"<xml><Encrypt>x</Encrypt></xml>",
    "not UTF-8": b"\xff\xfe{",
    "JSON array": b'["encrypt"]',
    "no encrypt": b'{"Encrypt": "abc"}',
    "encrypt not a string": b'{"encrypt": 5}',
    "empty encrypt": b'{"encrypt": ""}',
}

BAD_CIPHERTEXTS = {
    "not base64": "@@@@",
    "short": base64.b64encode(b"x" * 16).decode(),
    "not whole blocks": base64.b64encode(b"x" * 40).decode(),
    "random bytes": base64.b64encode(bytes(range(64))).decode(),
    "padding byte 0": _raw_cipher(aes_key(AIBOT_KEY), b"\0" * 64),
    "length past the end": _raw_cipher(aes_key(AIBOT_KEY), _framed(b'{"a":1}', length=500)),
    "another receive id": _raw_cipher(aes_key(AIBOT_KEY), _framed(b'{"a":1}', b"wwcorp")),
    "not UTF-8 inside": _raw_cipher(aes_key(AIBOT_KEY), _framed(b"\xff\xfe\xfd")),
    "not JSON inside": _raw_cipher(aes_key(AIBOT_KEY), _framed(b"hello")),
    "JSON list inside": _raw_cipher(aes_key(AIBOT_KEY), _framed(b"[1, 2]")),
    "another key": aibot_crypto.encrypt_text(AES_KEY, '{"a": 1}'),
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_aibot_unsignable_bodies_are_malformed(name):
    with pytest.raises(aibot_crypto.MalformedBody):
        aibot_crypto.decrypt_request(AIBOT_TOKEN, AIBOT_KEY, "sig", "1", "2", BAD_BODIES[name])


@pytest.mark.parametrize("name", BAD_CIPHERTEXTS)
def test_aibot_bad_ciphertexts_signed_are_malformed_unsigned_are_forged(name):
    encrypt = BAD_CIPHERTEXTS[name]
    body = json.dumps({"encrypt": encrypt}).encode()
    good = aibot_crypto.signature(AIBOT_TOKEN, "1", "2", encrypt)
    with pytest.raises(aibot_crypto.MalformedBody):
        aibot_crypto.decrypt_request(AIBOT_TOKEN, AIBOT_KEY, good, "1", "2", body)
    for bad in ("0" * 40, "", None, good.upper()):
        with pytest.raises(aibot_crypto.InvalidSignature):
            aibot_crypto.decrypt_request(AIBOT_TOKEN, AIBOT_KEY, bad, "1", "2", body)


def test_a_bad_aes_key_is_a_setup_error_not_a_bad_request():
    with pytest.raises(aibot_crypto.BadAESKey):
        aibot_crypto.encrypt_text("short", "x")
    with pytest.raises(ValueError):
        aibot_crypto.decrypt_text("!" * 43, "abcd")


# What wechatpy 1.8 itself raises on garbage (pinned so an upgrade that changes it is noticed;
# the server side must catch these, not just wechatpy's own exceptions).
WECHATPY_GARBAGE = [
    ("signed, not base64", "@@@", IndexError),
    ("signed, bad base64 padding", "abcde", __import__("binascii").Error),
    ("signed, not whole AES blocks", base64.b64encode(b"x" * 20).decode(), ValueError),
    ("signed, random blocks", base64.b64encode(bytes(range(32))).decode(), struct.error),
]


@pytest.mark.parametrize("name,echostr,exc", WECHATPY_GARBAGE, ids=[g[0] for g in WECHATPY_GARBAGE])
def test_wechatpy_raises_raw_errors_on_signed_garbage(name, echostr, exc):
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    sig = wechatpy_signature(TOKEN, "1", "2", echostr)
    with pytest.raises(exc):
        crypto.check_signature(sig, "1", "2", echostr)
    with pytest.raises(aibot_crypto.MalformedBody):         # ours: one exception for all of it
        aibot_crypto.decrypt_text(AES_KEY, echostr, CORP_ID)


def test_wechatpy_raises_raw_errors_on_bad_xml():
    from xml.parsers.expat import ExpatError
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(ExpatError):
        crypto.decrypt_message("not xml", "s", "1", "2")
    with pytest.raises(KeyError):
        crypto.decrypt_message("<xml><A>1</A></xml>", "s", "1", "2")
    with pytest.raises(KeyError):
        crypto.decrypt_message("<root><Encrypt>a</Encrypt></root>", "s", "1", "2")
    with pytest.raises(UnicodeDecodeError):
        crypto.decrypt_message(b"<xml>\xff</xml>", "s", "1", "2")


# --- over HTTP, against an independent server side built on wechatpy ---------------------------------

def wechatpy_callback_app(environ, start_response):
    """A minimal WeCom callback server: wechatpy's crypto on both routes, not our server code."""
    req = Request(environ)
    a = req.args
    if req.path == "/wecom/callback":
        crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
        try:
            if req.method == "GET":
                resp = Response(crypto.check_signature(a["msg_signature"], a["timestamp"],
                                                       a["nonce"], a["echostr"]))
            else:
                msg = xmltodict.parse(crypto.decrypt_message(req.get_data(), a["msg_signature"],
                                                             a["timestamp"], a["nonce"]))["xml"]
                answer = f"<xml><MsgType>text</MsgType><Content>{cdata('收到：' + (msg.get('Content') or ''))}</Content></xml>"
                resp = Response(crypto.encrypt_message(answer, a["nonce"], a["timestamp"]),
                                content_type="text/xml")
        except InvalidSignatureException:
            resp = Response("bad signature", status=403)
        return resp(environ, start_response)
    if req.path == "/wecom/aibot":
        prp = AppPrpCrypto(aes_key(AIBOT_KEY))
        encrypt = a["echostr"] if req.method == "GET" else json.loads(req.get_data())["encrypt"]
        if wechatpy_signature(AIBOT_TOKEN, a["timestamp"], a["nonce"], encrypt) != a["msg_signature"]:
            return Response("bad signature", status=403)(environ, start_response)
        plain = prp.decrypt(encrypt, "")
        if req.method == "GET":
            return Response(plain)(environ, start_response)
        msg = json.loads(plain)
        if msg["text"]["content"] == "@晨检 silent":
            return Response("")(environ, start_response)
        reply = json.dumps({"msgtype": "stream", "stream": {
            "id": msg["msgid"], "finish": True, "content": f"{msg['from']['userid']}: {msg['text']['content']}"}},
            ensure_ascii=False)
        enc = prp.encrypt(reply, "").decode()
        body = {"encrypt": enc, "msgsignature": wechatpy_signature(AIBOT_TOKEN, "1700000000", "77", enc),
                "timestamp": 1700000000, "nonce": "77"}
        return Response(json.dumps(body), content_type="application/json")(environ, start_response)
    return Response("not found", status=404)(environ, start_response)


@pytest.fixture(scope="module")
def callback_server():
    with LiveServer(wechatpy_callback_app) as server:
        yield server


def test_post_text_over_http(callback_server):
    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    assert signer.verify_url(callback_server.url, "echo-77") == (200, "echo-77")
    assert signer.post_text(callback_server.url, "lils", "36.5 <ok>", msg_id=1) == (200, "收到：36.5 <ok>")
    stranger = CallbackSigner("another-token", AES_KEY, CORP_ID)
    assert stranger.post_text(callback_server.url, "lils", "36.5", msg_id=2) == (403, None)
    status, text = signer.post_xml(callback_server.url, signer.event_xml("lils", "enter_agent"))
    assert status == 200 and signer.decrypt_reply(text) == "收到："


def test_aibot_post_text_over_http(callback_server):
    signer = AibotSigner(AIBOT_TOKEN, AIBOT_KEY)
    assert signer.verify_url(callback_server.url, "echo-88") == (200, "echo-88")
    status, reply = signer.post_text(callback_server.url, "chat1", "lils", "@晨检 36.5", "m-1")
    assert status == 200
    assert reply == {"msgtype": "stream", "stream": {"id": "m-1", "finish": True,
                                                     "content": "lils: @晨检 36.5"}}
    assert signer.post_text(callback_server.url, "chat1", "lils", "@晨检 silent", "m-2") == (200, None)
    stranger = AibotSigner("another-token", AIBOT_KEY)
    assert stranger.post_text(callback_server.url, "chat1", "lils", "@晨检 36.5", "m-3") == (403, None)
