"""`/wecom/aibot`: the 智能机器人's JSON callback, for @-mentions in school group chats.

Same rules as the private callback (403 bad signature, 400 malformed, one row per `msgid`);
every field of the decrypted JSON is type-checked (`to_inbound`), and the JSON itself is read
with bounded nesting and size (`aibot_crypto.loads_bounded`), so nothing a sender can put in a
request answers 5xx; only a database outage does (503, WeCom retries).
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


@bp.before_request
def _limit_body():
    request.max_content_length = aibot_crypto.MAX_BODY


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
    except BadMessage as exc:
        log.info("malformed aibot message: %s", exc)
        return _plain(400, "malformed message")
    answer = services().inbox.receive(inbound)
    if not answer.reply:
        return _plain(200, "")
    plain = {"msgtype": "stream",
             "stream": {"id": str(data.get("msgid")), "finish": True, "content": answer.reply}}
    return jsonify(aibot_crypto.encrypt_reply(token, key, plain, nonce, ts))


class BadMessage(ValueError):
    """A decrypted message whose fields are not what WeCom sends (answer 400)."""


def _text(data: dict, key: str, limit: int, *, required: bool = False) -> str | None:
    """data[key] as a string of at most `limit` characters; numbers (ids) are accepted too."""
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise BadMessage(f"no {key}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadMessage(f"{key} is not text")
    value = str(value)
    if len(value) > limit:
        raise BadMessage(f"{key} is longer than {limit} characters")
    return value


def _table(data: dict, key: str) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMessage(f"{key} is not an object")
    return value


def to_inbound(data: dict) -> Inbound:
    """The inbox's view of a decrypted message; BadMessage for any field of the wrong type."""
    if not isinstance(data, dict):
        raise BadMessage("not a JSON object")
    msgid = _text(data, "msgid", 128, required=True)
    msg_type = _text(data, "msgtype", 32, required=True)
    sender = _text(_table(data, "from"), "userid", 64)
    chat_id = _text(data, "chatid", 100)
    chattype = _text(data, "chattype", 16) or "single"
    if chattype not in ("single", "group"):
        raise BadMessage(f"chattype {chattype!r} is neither single nor group")
    in_group = chattype == "group"
    content = None
    addressed = True
    if msg_type == "text":
        raw = _table(data, "text").get("content")
        if not isinstance(raw, str):
            raise BadMessage("text.content is not text")
        stripped = _MENTION.sub("", raw, count=1)
        addressed = not in_group or stripped != raw
        content = stripped.strip()
    elif msg_type == "event":
        content = _text(_table(data, "event"), "eventtype", 64) or ""
    return Inbound(channel="aibot", msg_key=f"aibot:{msgid}", sender=sender, msg_type=msg_type,
                   content=content, body=json.dumps(data, ensure_ascii=False),
                   chat_id=chat_id, in_group=in_group, addressed=addressed)
