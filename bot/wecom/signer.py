"""The WeCom side of the callbacks: signs and encrypts messages exactly as WeCom does.

For tests and the demo: `CallbackSigner` speaks the app callback (encrypted XML),
`AibotSigner` the 智能机器人 callback (encrypted JSON). Both decrypt and verify the replies.
"""
from __future__ import annotations

import json
import random
import string
import time
from xml.sax.saxutils import escape

import requests
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.wecom import aibot_crypto


def _nonce() -> str:
    return "".join(random.choices(string.digits, k=10))


class CallbackSigner:
    def __init__(self, token: str, encoding_aes_key: str, corp_id: str, agent_id: int = 1000002):
        self.token, self.corp_id, self.agent_id = token, corp_id, agent_id
        self.crypto = WeChatCrypto(token, encoding_aes_key, corp_id)

    def verify_url_params(self, echo: str) -> dict:
        ts, nonce = str(int(time.time())), _nonce()
        encrypted = self.crypto.encrypt_message(echo, nonce, ts)
        doc = xmltodict.parse(encrypted)["xml"]
        return {"msg_signature": doc["MsgSignature"], "timestamp": ts, "nonce": nonce,
                "echostr": doc["Encrypt"]}

    def text_message_xml(self, from_user: str, content: str, msg_id: str | int,
                         agent_id: int | None = None, create_time: int | None = None) -> str:
        return (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
                f"<MsgType><![CDATA[text]]></MsgType>"
                f"<Content>{escape(content)}</Content>"
                f"<MsgId>{msg_id}</MsgId><AgentID>{agent_id or self.agent_id}</AgentID></xml>")

    def event_xml(self, from_user: str, event: str, create_time: int | None = None) -> str:
        return (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
                f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
                f"<EventKey><![CDATA[]]></EventKey><AgentID>{self.agent_id}</AgentID></xml>")

    def encrypt(self, xml: str, *, timestamp: str | None = None, nonce: str | None = None):
        """(query params, POST body) for a plaintext message, as WeCom would send it."""
        ts, nonce = timestamp or str(int(time.time())), nonce or _nonce()
        doc = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<Encrypt><![CDATA[{doc['Encrypt']}]]></Encrypt>"
                f"<AgentID><![CDATA[{self.agent_id}]]></AgentID></xml>")
        return {"msg_signature": doc["MsgSignature"], "timestamp": ts, "nonce": nonce}, body

    def decrypt_reply(self, body: str) -> str:
        """The Content of a passive encrypted reply (its signature verified)."""
        doc = xmltodict.parse(body)["xml"]
        xml = self.crypto.decrypt_message(doc, doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"])
        return xmltodict.parse(xml)["xml"].get("Content") or ""

    def post_text(self, base_url: str, from_user: str, content: str, msg_id: str | int,
                  timeout: float = 10):
        """Posts a text message; returns (HTTP status, decrypted reply text or None)."""
        params, body = self.encrypt(self.text_message_xml(from_user, content, msg_id))
        r = requests.post(f"{base_url}/wecom/callback", params=params, data=body.encode(),
                          timeout=timeout)
        if r.status_code != 200 or not r.text.strip():
            return r.status_code, None
        return r.status_code, self.decrypt_reply(r.text)


class AibotSigner:
    def __init__(self, token: str, encoding_aes_key: str, aibotid: str = "AIBOTID"):
        self.token, self.key, self.aibotid = token, encoding_aes_key, aibotid

    def message(self, chatid: str, from_user: str, content: str, msgid: str,
                chattype: str = "group") -> dict:
        return {"msgid": msgid, "aibotid": self.aibotid, "chatid": chatid, "chattype": chattype,
                "from": {"userid": from_user}, "msgtype": "text", "text": {"content": content}}

    def encrypt(self, plain: dict, *, timestamp: str | None = None, nonce: str | None = None):
        ts, nonce = timestamp or str(int(time.time())), nonce or _nonce()
        encrypt = aibot_crypto.encrypt_text(self.key, json.dumps(plain, ensure_ascii=False))
        params = {"msg_signature": aibot_crypto.signature(self.token, ts, nonce, encrypt),
                  "timestamp": ts, "nonce": nonce}
        return params, json.dumps({"encrypt": encrypt})

    def verify_url_params(self, echo: str) -> dict:
        ts, nonce = str(int(time.time())), _nonce()
        encrypt = aibot_crypto.encrypt_text(self.key, echo)
        return {"msg_signature": aibot_crypto.signature(self.token, ts, nonce, encrypt),
                "timestamp": ts, "nonce": nonce, "echostr": encrypt}

    def decrypt_reply(self, reply: dict) -> dict:
        sig = aibot_crypto.signature(self.token, str(reply["timestamp"]), reply["nonce"],
                                     reply["encrypt"])
        if sig != reply["msgsignature"]:
            raise aibot_crypto.InvalidSignature()
        return json.loads(aibot_crypto.decrypt_text(self.key, reply["encrypt"]))

    def post_text(self, base_url: str, chatid: str, from_user: str, content: str, msgid: str,
                  chattype: str = "group", timeout: float = 10):
        """Posts a message; returns (HTTP status, decrypted reply dict or None)."""
        params, body = self.encrypt(self.message(chatid, from_user, content, msgid, chattype))
        r = requests.post(f"{base_url}/wecom/aibot", params=params, data=body.encode(),
                          headers={"Content-Type": "application/json"}, timeout=timeout)
        if r.status_code != 200 or not r.text.strip():
            return r.status_code, None
        return r.status_code, self.decrypt_reply(r.json())
