"""`/wecom/callback`: WeCom's encrypted XML callback for the self-built app (private chats).

GET answers URL verification; POST verifies, decrypts, hands the message to the inbox and
answers with a passive encrypted reply. A bad signature gets 403 and nothing is stored; a
signed but malformed or undecryptable body gets 400; a database outage gets 503 so that WeCom
retries later. Nothing here raises a 500 for anything a sender can put in a request.

The signature is checked before the body is parsed: `Encrypt` is found by a bounded scan of
the raw body (`find_encrypt`, one regular expression over at most `MAX_BODY` bytes), its
signature verified, and only a signed body is parsed as XML. An unsigned body, however
large or deeply nested, costs a regex scan and one SHA-1.
"""
from __future__ import annotations

import logging
import re

import xmltodict
from flask import Blueprint, Response, request
from wechatpy.enterprise import create_reply, parse_message
from wechatpy.exceptions import InvalidSignatureException

from bot.inbox import Inbound
from bot.services import services
from bot.wecom import aibot_crypto

log = logging.getLogger(__name__)
bp = Blueprint("wecom_callback", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.before_request
def _limit_body():
    request.max_content_length = aibot_crypto.MAX_BODY


# The ciphertext is base64: no markup can hide inside it, so this cannot run away.
_ENCRYPT = re.compile(rb"<Encrypt>\s*(?:<!\[CDATA\[([A-Za-z0-9+/=]+)\]\]>|([A-Za-z0-9+/=]+))\s*</Encrypt>")


def find_encrypt(body: bytes) -> str | None:
    """The first `<Encrypt>` element's base64 text, found without parsing the XML."""
    m = _ENCRYPT.search(body)
    if m is None:
        return None
    return (m.group(1) or m.group(2)).decode("ascii")


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def looks_hostile(body: bytes) -> bool:
    """XML with a DTD (entity expansion, external entities) is never something WeCom sends."""
    head = body[:4096].upper()
    return b"<!DOCTYPE" in head or b"<!ENTITY" in head or b"<!ENTITY" in body.upper()


def parse_xml(body: bytes | str) -> dict:
    """The `<xml>` element as a dict; raises ValueError on anything else."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if looks_hostile(body):
        raise ValueError("XML with a DTD")
    try:
        text = body.decode("utf-8")
        doc = xmltodict.parse(text, disable_entities=True)
    except Exception as exc:  # expat raises several kinds on garbage
        raise ValueError(f"not XML: {exc.__class__.__name__}") from None
    xml = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(xml, dict):
        raise ValueError("no <xml> root")
    return xml


@bp.get("/wecom/callback")
def verify_url():
    svc = services()
    args = request.args
    sig, ts, nonce, echo = (args.get(k) for k in ("msg_signature", "timestamp", "nonce", "echostr"))
    if not (sig and ts and nonce):
        return _plain(403, "missing signature")
    if not echo:
        return _plain(400, "missing echostr")
    try:
        plain = svc.crypto.check_signature(sig, ts, nonce, echo)
    except InvalidSignatureException:
        return _plain(403, "bad signature")
    except Exception:  # wechatpy raises struct.error, ValueError, ... on garbage
        return _plain(400, "cannot decrypt echostr")
    return _plain(200, plain.decode("utf-8") if isinstance(plain, bytes) else str(plain))


@bp.post("/wecom/callback")
def receive():
    svc = services()
    args = request.args
    sig, ts, nonce = (args.get(k) for k in ("msg_signature", "timestamp", "nonce"))
    if not (sig and ts and nonce):
        return _plain(403, "missing signature")
    body = request.get_data(cache=False)
    encrypt = find_encrypt(body)
    if encrypt is None:
        return _plain(400, "malformed body (no Encrypt element)")
    try:
        aibot_crypto.check_signature(svc.config.wecom.token, ts, nonce, encrypt, sig)
    except aibot_crypto.InvalidSignature:
        return _plain(403, "bad signature")
    try:
        outer = parse_xml(body)
        if outer.get("Encrypt") != encrypt:
            raise ValueError("the Encrypt element is not the one signed")
    except ValueError as exc:
        return _plain(400, f"malformed body ({exc})")
    try:
        plain_xml = svc.crypto.decrypt_message(outer, sig, ts, nonce)
    except InvalidSignatureException:
        return _plain(403, "bad signature")
    except Exception as exc:  # struct.error, ValueError, binascii.Error, InvalidCorpIdException
        log.info("undecryptable callback: %s", exc.__class__.__name__)
        return _plain(400, "cannot decrypt")
    try:
        inner = parse_xml(plain_xml)
        message = parse_message(plain_xml)
        inbound = _inbound(message, inner, plain_xml)
    except Exception as exc:
        log.info("malformed decrypted message: %s", exc.__class__.__name__)
        return _plain(400, "malformed message")

    answer = svc.inbox.receive(inbound)
    if not answer.reply:
        return _plain(200, "")
    reply = create_reply(answer.reply, message)
    xml = svc.crypto.encrypt_message(reply.render(), nonce, ts)
    return Response(xml, status=200, mimetype="application/xml")


def _field(inner: dict, key: str, limit: int) -> str | None:
    """A text element of the decrypted message; ValueError when it is anything else."""
    value = inner.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not text")
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters")
    return value


def _inbound(message, inner: dict, plain_xml: str) -> Inbound:
    msg_type = (_field(inner, "MsgType", 32) or "").lower()
    sender = _field(inner, "FromUserName", 64)
    if not msg_type or not sender:
        raise ValueError("message without MsgType or FromUserName")
    created = _field(inner, "CreateTime", 20)
    if msg_type == "event":
        event = _field(inner, "Event", 64) or ""
        key = f"event:{sender}:{created}:{event}"
        content = event
    else:
        msg_id = _field(inner, "MsgId", 64)
        key = f"msg:{msg_id}" if msg_id else f"msg:{sender}:{created}:{msg_type}"
        content = _field(inner, "Content", 1_000_000) if msg_type == "text" else None
    return Inbound(channel="callback", msg_key=key[:200], sender=sender,
                   msg_type=msg_type, content=content, body=plain_xml)
