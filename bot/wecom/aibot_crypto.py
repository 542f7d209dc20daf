"""The 智能机器人 (AI bot) callback crypto: JSON bodies, WeCom's AES framing, receive id "".

Used by the server (`bot/aibot.py`) and by the WeCom-side signer in tests and the demo.

Signature: sha1 of the sorted [token, timestamp, nonce, encrypt], as for the app callback.
Ciphertext: base64(AES-256-CBC(key, iv=key[:16], PKCS#7 to 32-byte blocks of
16 random bytes + 4-byte big-endian length + message + receive id)), the framing of WeCom's
app callback; the 智能机器人 uses the receive id "" (an empty string).

The AES framing is implemented here with `cryptography` instead of wechatpy's `PrpCrypto`.
PrpCrypto 1.8 decrypts an empty receive id fine, but it checks nothing of the framing: it
takes the last byte as the padding length without checking it, and when the length field
points past the end it silently truncates and reads the receive id as "" — which is exactly
the 智能机器人's id, so for us its receive-id check would accept garbled plaintext. Garbage
also comes out of it as raw IndexError / struct.error / ValueError / binascii.Error /
UnicodeDecodeError. This version checks padding, length and id, and raises `MalformedBody`
for all of it. It interoperates with PrpCrypto both ways and decrypts Tencent's published
sample (see tests/test_wecom_signer.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

RECEIVE_ID = ""
BLOCK = 32                       # WeCom pads to 32 bytes, not AES's 16
MAX_DEPTH = 16                   # WeCom's JSON nests 3 deep; Python's parser recurses per level
# The largest webhook body read (both callbacks). WeCom's text messages carry at most 2048
# bytes of content; encrypted and base64-wrapped such a message is about 4 KB; 128 KB is
# thirty times that and still cheap to hash and scan.
MAX_BODY = 128 * 1024
_RANDOM_ALPHABET = string.ascii_letters + string.digits


class InvalidSignature(Exception):
    """The msg_signature does not match: not from WeCom (answer 403)."""


class MalformedBody(Exception):
    """Signed (or unsignable) but not a well-formed encrypted body (answer 400)."""


class BadAESKey(ValueError):
    """The configured EncodingAESKey is not 43 base64 characters: a setup error, not a request's."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([str(token), str(timestamp), str(nonce), str(encrypt)]))
                        .encode()).hexdigest()


def check_signature(token: str, timestamp, nonce, encrypt: str, msg_signature) -> None:
    """Raises InvalidSignature unless `msg_signature` signs the four values (constant time)."""
    if not isinstance(msg_signature, str) or not hmac.compare_digest(
            signature(token, timestamp, nonce, encrypt).encode(), msg_signature.encode("utf-8", "replace")):
        raise InvalidSignature()


def aes_key_bytes(aes_key: str) -> bytes:
    try:
        key = base64.b64decode(str(aes_key) + "=", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(aes_key or "") != 43 or len(key) != 32:
        raise BadAESKey("EncodingAESKey must be 43 base64 characters")
    return key


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt_text(aes_key: str, plain: str, receive_id: str = RECEIVE_ID) -> str:
    """WeCom's ciphertext of `plain` (base64 text)."""
    key = aes_key_bytes(aes_key)
    body = plain.encode("utf-8")
    rand = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(16)).encode()
    data = rand + struct.pack(">I", len(body)) + body + receive_id.encode("utf-8")
    pad = BLOCK - len(data) % BLOCK
    data += bytes([pad]) * pad
    enc = _cipher(key).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode("ascii")


def decrypt_text(aes_key: str, encrypt: str, receive_id: str = RECEIVE_ID) -> str:
    """The plaintext of a WeCom ciphertext; MalformedBody for anything not well formed."""
    key = aes_key_bytes(aes_key)
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise MalformedBody("ciphertext is not base64") from None
    if len(raw) < BLOCK or len(raw) % 16:
        raise MalformedBody("ciphertext length is not a whole number of AES blocks")
    dec = _cipher(key).decryptor()
    data = dec.update(raw) + dec.finalize()
    pad = data[-1]
    if not 1 <= pad <= BLOCK or data[-pad:] != bytes([pad]) * pad:
        raise MalformedBody("bad padding (wrong key?)")
    data = data[16:-pad]
    if len(data) < 4:
        raise MalformedBody("plaintext too short")
    (length,) = struct.unpack(">I", data[:4])
    if length > len(data) - 4:
        raise MalformedBody("message length field exceeds the plaintext")
    message, from_id = data[4:4 + length], data[4 + length:]
    if from_id != receive_id.encode("utf-8"):
        raise MalformedBody("receive id does not match")
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("plaintext is not UTF-8") from None


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str) -> int:
    """How deep JSON's arrays and objects nest in `text`, counted outside string literals.

    A linear scan that needs no recursion, so a body of 990 `[` is refused before the C
    parser recurses into a RecursionError.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def loads_bounded(text: str, what: str, max_depth: int = MAX_DEPTH):
    """json.loads for text from outside: MalformedBody for anything not plain, nested JSON.

    Refused: nesting deeper than `max_depth`, invalid JSON, and strings that no database
    column can hold (NUL, lone surrogates such as "\\ud800").
    """
    if len(text) > 4 * MAX_BODY:
        raise MalformedBody(f"{what} is too large")
    if nesting_depth(text) > max_depth:
        raise MalformedBody(f"{what} nests deeper than {max_depth}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedBody(f"{what} is not JSON") from None
    _check_strings(data, what)
    return data


def _check_strings(value, what: str) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            if "\x00" in v:
                raise MalformedBody(f"{what} holds a NUL character")
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise MalformedBody(f"{what} holds a lone surrogate") from None


def verify_url(token: str, aes_key: str, msg_signature: str, timestamp: str, nonce: str,
               echostr: str) -> str:
    """The plaintext echostr of a GET URL verification, to be answered as is."""
    check_signature(token, timestamp, nonce, echostr, msg_signature)
    return decrypt_text(aes_key, echostr)


def decrypt_request(token: str, aes_key: str, msg_signature: str, timestamp: str, nonce: str,
                    body: bytes) -> dict:
    """The decrypted JSON of a callback; InvalidSignature or MalformedBody otherwise.

    A body that is not JSON with a string "encrypt" cannot be checked for a signature, so it
    is MalformedBody; everything else is checked for its signature before it is decrypted.
    """
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody("not UTF-8") from None
    if not isinstance(body, str):
        raise MalformedBody("not JSON")
    outer = loads_bounded(body, "body")
    encrypt = outer.get("encrypt") if isinstance(outer, dict) else None
    if not isinstance(encrypt, str) or not encrypt:
        raise MalformedBody("no encrypt field")
    check_signature(token, timestamp, nonce, encrypt, msg_signature)
    plain = decrypt_text(aes_key, encrypt)
    data = loads_bounded(plain, "decrypted body")
    if not isinstance(data, dict):
        raise MalformedBody("decrypted body is not a JSON object")
    return data


def encrypt_reply(token: str, aes_key: str, plain: dict, nonce: str, timestamp: str) -> dict:
    """The passive reply body {"encrypt", "msgsignature", "timestamp", "nonce"} for `plain`."""
    encrypt = encrypt_text(aes_key, json.dumps(plain, ensure_ascii=False))
    return {"encrypt": encrypt, "msgsignature": signature(token, timestamp, nonce, encrypt),
            "timestamp": int(timestamp) if str(timestamp).isdigit() else timestamp, "nonce": nonce}
