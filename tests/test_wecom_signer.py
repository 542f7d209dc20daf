"""WeCom's callback crypto: Tencent's published sample vectors and round trips."""
import pytest
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.wecom import aibot_crypto
from bot.wecom.signer import AibotSigner, CallbackSigner
from tests.support import AIBOT_AES_KEY, AIBOT_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID, SAMPLE_TOKEN
from tests.test_callback import SAMPLE_ENCRYPT, SAMPLE_POST_ARGS


def test_tencent_sample_url_verification():
    crypto = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    echo = crypto.check_signature(
        "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780",
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==")
    assert echo == "1616140317555161061"


def test_tencent_sample_message():
    crypto = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    xml = crypto.decrypt_message({"Encrypt": SAMPLE_ENCRYPT}, SAMPLE_POST_ARGS["msg_signature"],
                                 SAMPLE_POST_ARGS["timestamp"], SAMPLE_POST_ARGS["nonce"])
    assert "<Content><![CDATA[hello]]></Content>" in xml
    assert "<FromUserName><![CDATA[mycreate]]></FromUserName>" in xml
    assert "<MsgId>4561255354251345929</MsgId>" in xml


def test_signer_round_trip_with_server_side_crypto():
    signer = CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    params, body = signer.encrypt(signer.text_message_xml("lils", "张三 36.5 <&>", msg_id=9))
    server = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    plain = server.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"])
    assert "张三 36.5 &lt;&amp;&gt;" in plain
    reply = server.encrypt_message("<xml><Content><![CDATA[已记录]]></Content></xml>", "n1", "123")
    assert signer.decrypt_reply(reply) == "已记录"


def test_aibot_round_trip_and_signature():
    signer = AibotSigner(AIBOT_TOKEN, AIBOT_AES_KEY)
    params, body = signer.encrypt(signer.message("chat1", "lils", "@晨检 36.5", "m1"))
    data = aibot_crypto.decrypt_request(AIBOT_TOKEN, AIBOT_AES_KEY, params["msg_signature"],
                                        params["timestamp"], params["nonce"], body.encode())
    assert data["text"]["content"] == "@晨检 36.5" and data["from"]["userid"] == "lils"
    with pytest.raises(aibot_crypto.InvalidSignature):
        aibot_crypto.decrypt_request(AIBOT_TOKEN, AIBOT_AES_KEY, "0" * 40, params["timestamp"],
                                     params["nonce"], body.encode())
    with pytest.raises(aibot_crypto.MalformedBody):
        aibot_crypto.decrypt_request(AIBOT_TOKEN, AIBOT_AES_KEY, "x", "1", "2", b"<xml/>")
    reply = aibot_crypto.encrypt_reply(AIBOT_TOKEN, AIBOT_AES_KEY,
                                       {"msgtype": "stream", "stream": {"content": "好"}}, "n", "1")
    assert signer.decrypt_reply(reply)["stream"]["content"] == "好"
