"""The WeCom side of the callbacks: signs and encrypts messages exactly as WeCom does.

For tests and the demo: `CallbackSigner` speaks the app callback (encrypted XML, the app's
corp id as receive id, built on wechatpy's `WeChatCrypto`), `AibotSigner` the 智能机器人
callback (encrypted JSON, receive id "", `bot.wecom.aibot_crypto`). Both decrypt the passive
replies and check their signatures.

The plaintext XML is WeCom's: string fields in CDATA, numbers bare, as in Tencent's sample
(which also has a newline after each element):

    <xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>
    <FromUserName><![CDATA[mycreate]]></FromUserName><CreateTime>1409659813</CreateTime>
    <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content>
    <MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>
"""
from __future__ import annotations

import json
import secrets
import string
import time

import requests
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.wecom import aibot_crypto


def _nonce() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(10))


def cdata(text) -> str:
    """`text` as a CDATA section; a "]]>" inside is split over two sections, as XML requires."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


class CallbackSigner:
    """WeCom calling our app callback `/wecom/callback` (GET verification, POST messages)."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str, agent_id: int = 1000002):
        self.token, self.corp_id, self.agent_id = token, corp_id, agent_id
        self.crypto = WeChatCrypto(token, encoding_aes_key, corp_id)

    # --- plaintext as WeCom writes it ----------------------------------------------------
    def text_message_xml(self, from_user: str, content: str, msg_id: str | int,
                         agent_id: int | None = None, create_time: int | None = None) -> str:
        return (f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName>"
                f"<FromUserName>{cdata(from_user)}</FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
                f"<MsgType><![CDATA[text]]></MsgType>"
                f"<Content>{cdata(content)}</Content>"
                f"<MsgId>{msg_id}</MsgId>"
                f"<AgentID>{agent_id if agent_id is not None else self.agent_id}</AgentID></xml>")

    def event_xml(self, from_user: str, event: str, event_key: str = "",
                  agent_id: int | None = None, create_time: int | None = None) -> str:
        """An event such as enter_agent, subscribe or click (with its EventKey)."""
        return (f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName>"
                f"<FromUserName>{cdata(from_user)}</FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
                f"<MsgType><![CDATA[event]]></MsgType><Event>{cdata(event)}</Event>"
                f"<EventKey>{cdata(event_key)}</EventKey>"
                f"<AgentID>{agent_id if agent_id is not None else self.agent_id}</AgentID></xml>")

    # --- signing and encryption ------------------------------------------------------------
    def verify_url_params(self, echo: str, *, timestamp: str | None = None,
                          nonce: str | None = None) -> dict:
        """Query params of the GET URL verification; the server must answer `echo`."""
        ts, nonce = timestamp or str(int(time.time())), nonce or _nonce()
        doc = xmltodict.parse(self.crypto.encrypt_message(echo, nonce, ts))["xml"]
        return {"msg_signature": doc["MsgSignature"], "timestamp": ts, "nonce": nonce,
                "echostr": doc["Encrypt"]}

    def encrypt(self, xml: str, *, timestamp: str | None = None, nonce: str | None = None):
        """(query params, POST body) for a plaintext message, as WeCom would send it."""
        ts, nonce = timestamp or str(int(time.time())), nonce or _nonce()
        doc = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
        body = (f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName>"
                f"<Encrypt>{cdata(doc['Encrypt'])}</Encrypt>"
                f"<AgentID>{cdata(self.agent_id)}</AgentID></xml>")
        return {"msg_signature": doc["MsgSignature"], "timestamp": ts, "nonce": nonce}, body

    def decrypt_reply_xml(self, body: str | bytes) -> str:
        """The plaintext XML of a passive encrypted reply, its signature checked.

        Raises wechatpy's InvalidSignatureException for a bad signature (and wechatpy's raw
        errors, e.g. KeyError or ExpatError, for something that is no encrypted reply).
        """
        doc = xmltodict.parse(body)["xml"]
        return self.crypto.decrypt_message(doc, doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"])

    def decrypt_reply(self, body: str | bytes) -> str:
        """The Content of a passive encrypted reply (its signature checked)."""
        reply = xmltodict.parse(self.decrypt_reply_xml(body), strip_whitespace=False)["xml"]
        return reply.get("Content") or ""

    # --- over HTTP ---------------------------------------------------------------------------
    def verify_url(self, base_url: str, echo: str = "1616140317555161061", timeout: float = 10):
        """GET /wecom/callback as WeCom does when the URL is saved: (status, answer text)."""
        r = requests.get(f"{base_url}/wecom/callback", params=self.verify_url_params(echo),
                         timeout=timeout)
        return r.status_code, r.text

    def post_xml(self, base_url: str, xml: str, timeout: float = 10):
        """Posts any plaintext message encrypted: (HTTP status, raw answer body)."""
        params, body = self.encrypt(xml)
        r = requests.post(f"{base_url}/wecom/callback", params=params, data=body.encode(),
                          headers={"Content-Type": "text/xml"}, timeout=timeout)
        return r.status_code, r.text

    def post_text(self, base_url: str, from_user: str, content: str, msg_id: str | int,
                  timeout: float = 10):
        """Posts a text message; returns (HTTP status, decrypted reply text or None)."""
        status, text = self.post_xml(base_url, self.text_message_xml(from_user, content, msg_id),
                                     timeout=timeout)
        if status != 200 or not text.strip():
            return status, None
        return status, self.decrypt_reply(text)


class AibotSigner:
    """WeCom calling our 智能机器人 callback `/wecom/aibot` (JSON, receive id "")."""

    def __init__(self, token: str, encoding_aes_key: str, aibotid: str = "AIBOTID"):
        self.token, self.key, self.aibotid = token, encoding_aes_key, aibotid

    def message(self, chatid: str, from_user: str, content: str, msgid: str,
                chattype: str = "group") -> dict:
        """The plaintext JSON of a text message that @-mentions the bot."""
        return {"msgid": msgid, "aibotid": self.aibotid, "chatid": chatid, "chattype": chattype,
                "from": {"userid": from_user}, "msgtype": "text", "text": {"content": content}}

    def encrypt(self, plain: dict, *, timestamp: str | None = None, nonce: str | None = None):
        """(query params, POST body `{"encrypt": ...}`) for a plaintext JSON message."""
        ts, nonce = timestamp or str(int(time.time())), nonce or _nonce()
        encrypt = aibot_crypto.encrypt_text(self.key, json.dumps(plain, ensure_ascii=False))
        params = {"msg_signature": aibot_crypto.signature(self.token, ts, nonce, encrypt),
                  "timestamp": ts, "nonce": nonce}
        return params, json.dumps({"encrypt": encrypt})

    def verify_url_params(self, echo: str, *, timestamp: str | None = None,
                          nonce: str | None = None) -> dict:
        ts, nonce = timestamp or str(int(time.time())), nonce or _nonce()
        encrypt = aibot_crypto.encrypt_text(self.key, echo)
        return {"msg_signature": aibot_crypto.signature(self.token, ts, nonce, encrypt),
                "timestamp": ts, "nonce": nonce, "echostr": encrypt}

    def decrypt_reply(self, reply: dict | str | bytes) -> dict:
        """The plaintext JSON of a passive reply {"encrypt", "msgsignature", "timestamp", "nonce"}.

        Raises aibot_crypto.InvalidSignature or MalformedBody.
        """
        if not isinstance(reply, dict):
            try:
                reply = json.loads(reply)
            except ValueError:
                raise aibot_crypto.MalformedBody("reply is not JSON") from None
        try:
            encrypt, sig = reply["encrypt"], reply["msgsignature"]
            ts, nonce = str(reply["timestamp"]), str(reply["nonce"])
        except (KeyError, TypeError):
            raise aibot_crypto.MalformedBody("reply lacks encrypt/msgsignature/timestamp/nonce") from None
        aibot_crypto.check_signature(self.token, ts, nonce, encrypt, sig)
        try:
            data = json.loads(aibot_crypto.decrypt_text(self.key, encrypt))
        except ValueError:
            raise aibot_crypto.MalformedBody("decrypted reply is not JSON") from None
        return data

    def verify_url(self, base_url: str, echo: str = "1616140317555161061", timeout: float = 10):
        r = requests.get(f"{base_url}/wecom/aibot", params=self.verify_url_params(echo),
                         timeout=timeout)
        return r.status_code, r.text

    def post_text(self, base_url: str, chatid: str, from_user: str, content: str, msgid: str,
                  chattype: str = "group", timeout: float = 10):
        """Posts a message; returns (HTTP status, decrypted reply dict or None)."""
        params, body = self.encrypt(self.message(chatid, from_user, content, msgid, chattype))
        r = requests.post(f"{base_url}/wecom/aibot", params=params, data=body.encode(),
                          headers={"Content-Type": "application/json"}, timeout=timeout)
        if r.status_code != 200 or not r.text.strip():
            return r.status_code, None
        return r.status_code, self.decrypt_reply(r.text)
