"""The 智能机器人 (AI bot) callback crypto: JSON bodies, WeCom's AES framing, receive id "".

Used by the server (`bot/aibot.py`) and by the WeCom-side signer in tests and the demo.
Signature: sha1 of the sorted [token, timestamp, nonce, encrypt], as for the app callback.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct

from wechatpy.crypto import PrpCrypto

RECEIVE_ID = ""


class InvalidSignature(Exception):
    pass


class MalformedBody(Exception):
    pass


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, str(timestamp), str(nonce), encrypt])).encode()).hexdigest()


def _prp(aes_key: str) -> PrpCrypto:
    try:
        key = base64.b64decode(aes_key + "=")
    except (binascii.Error, ValueError):
        raise MalformedBody("bad EncodingAESKey") from None
    return PrpCrypto(key)


def encrypt_text(aes_key: str, plain: str) -> str:
    return _prp(aes_key).encrypt(plain, RECEIVE_ID).decode()


def decrypt_text(aes_key: str, encrypt: str) -> str:
    try:
        return _prp(aes_key).decrypt(encrypt, RECEIVE_ID)
    except MalformedBody:
        raise
    except Exception as exc:  # struct.error, ValueError, binascii.Error, UnicodeDecodeError, ...
        raise MalformedBody(f"cannot decrypt ({exc.__class__.__name__})") from None


def verify_url(token: str, aes_key: str, msg_signature: str, timestamp: str, nonce: str,
               echostr: str) -> str:
    if signature(token, timestamp, nonce, echostr) != msg_signature:
        raise InvalidSignature()
    return decrypt_text(aes_key, echostr)


def decrypt_request(token: str, aes_key: str, msg_signature: str, timestamp: str, nonce: str,
                    body: bytes) -> dict:
    """The decrypted JSON of a callback; InvalidSignature or MalformedBody otherwise."""
    try:
        outer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("not JSON") from None
    encrypt = outer.get("encrypt") if isinstance(outer, dict) else None
    if not isinstance(encrypt, str) or not encrypt:
        raise MalformedBody("no encrypt field")
    if signature(token, timestamp, nonce, encrypt) != msg_signature:
        raise InvalidSignature()
    plain = decrypt_text(aes_key, encrypt)
    try:
        data = json.loads(plain)
    except ValueError:
        raise MalformedBody("decrypted body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedBody("decrypted body is not a JSON object")
    return data


def encrypt_reply(token: str, aes_key: str, plain: dict, nonce: str, timestamp: str) -> dict:
    encrypt = encrypt_text(aes_key, json.dumps(plain, ensure_ascii=False))
    return {"encrypt": encrypt, "msgsignature": signature(token, timestamp, nonce, encrypt),
            "timestamp": int(timestamp) if str(timestamp).isdigit() else timestamp, "nonce": nonce}
