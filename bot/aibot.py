"""`/wecom/aibot`: the 智能机器人's JSON callback, for @-mentions in school group chats.

Same rules as the private callback (403 bad signature, 400 malformed, one row per `msgid`);
the answer is a passive encrypted JSON reply carrying a finished `stream` whose content is
what a private message would get, with other people's names masked and health details kept
for private chat.
"""
from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, Response, jsonify, request

from bot.inbox import Inbound
from bot.services import services
from bot.wecom import aibot_crypto

log = logging.getLogger(__name__)
bp = Blueprint("wecom_aibot", __name__)
_MENTION = re.compile(r"^\s*(@\S+\s*)+")


def init_app(app) -> None:
    app.register_blueprint(bp)


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _keys():
    wc = services().config.wecom
    return wc.aibot_token, wc.aibot_encoding_aes_key


@bp.get("/wecom/aibot")
def verify_url():
    token, key = _keys()
    if not token:
        return _plain(404, "the 智能机器人 is not configured")
    args = request.args
    sig, ts, nonce, echo = (args.get(k) for k in ("msg_signature", "timestamp", "nonce", "echostr"))
    if not (sig and ts and nonce):
        return _plain(403, "missing signature")
    if not echo:
        return _plain(400, "missing echostr")
    try:
        plain = aibot_crypto.verify_url(token, key, sig, ts, nonce, echo)
    except aibot_crypto.InvalidSignature:
        return _plain(403, "bad signature")
    except (aibot_crypto.MalformedBody, ValueError):
        return _plain(400, "cannot decrypt echostr")
    return _plain(200, plain)


@bp.post("/wecom/aibot")
def receive():
    token, key = _keys()
    if not token:
        return _plain(404, "the 智能机器人 is not configured")
    args = request.args
    sig, ts, nonce = (args.get(k) for k in ("msg_signature", "timestamp", "nonce"))
    if not (sig and ts and nonce):
        return _plain(403, "missing signature")
    try:
        data = aibot_crypto.decrypt_request(token, key, sig, ts, nonce, request.get_data(cache=False))
    except aibot_crypto.InvalidSignature:
        return _plain(403, "bad signature")
    except (aibot_crypto.MalformedBody, ValueError) as exc:   # BadAESKey is a ValueError
        return _plain(400, f"malformed body ({exc})")
    try:
        inbound = to_inbound(data)
    except (ValueError, TypeError, AttributeError) as exc:
        log.info("malformed aibot message: %s", exc)
        return _plain(400, "malformed message")
    answer = services().inbox.receive(inbound)
    if not answer.reply:
        return _plain(200, "")
    plain = {"msgtype": "stream",
             "stream": {"id": str(data.get("msgid")), "finish": True, "content": answer.reply}}
    return jsonify(aibot_crypto.encrypt_reply(token, key, plain, nonce, ts))


def to_inbound(data: dict) -> Inbound:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    msgid = data.get("msgid")
    sender = (data.get("from") or {}).get("userid")
    msg_type = str(data.get("msgtype") or "")
    if not msgid or not msg_type:
        raise ValueError("no msgid or msgtype")
    chattype = data.get("chattype") or "single"
    in_group = chattype == "group"
    content = None
    addressed = True
    if msg_type == "text":
        raw = (data.get("text") or {}).get("content")
        if not isinstance(raw, str):
            raise ValueError("text.content is not text")
        stripped = _MENTION.sub("", raw, count=1)
        addressed = not in_group or stripped != raw
        content = stripped.strip()
    elif msg_type == "event":
        content = str((data.get("event") or {}).get("eventtype") or "")
    return Inbound(channel="aibot", msg_key=f"aibot:{msgid}"[:200],
                   sender=str(sender)[:64] if sender else None, msg_type=msg_type[:32],
                   content=content, body=json.dumps(data, ensure_ascii=False),
                   chat_id=data.get("chatid"), in_group=in_group, addressed=addressed)
