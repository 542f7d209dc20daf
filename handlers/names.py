"""How a roster spells people and classes, and which roster values are unsafe to repeat.

Pure functions on text, shared by the roster import and the live path (the parser matches a
teacher's `三年级（2）班` and `胡 杰` against the roster's `三年级2班` and `胡杰`):

- `canonical_class`: one class however it is written: `三年级（2）班`, `三年级(2)班`,
  `三年级 2 班`, `三年级２班`, `三年级（二）班` and `三年级2班` are all `三年级2班`;
  `初二(1)班` is `初二1班`.
- `clean_name`: a person's name without padding or invisible characters: `胡 杰` is 胡杰,
  `Tom  Lee` is `Tom Lee`, `买买提 • 艾力` is 买买提·艾力.
- `clean_text`: any other roster value (a school) trimmed, invisible characters dropped and
  runs of spaces made one; otherwise kept as written, so it still matches the config's scopes.
- `check_value`: why a value must not enter the roster (an English reason for the operator),
  or None: too long for its column, control or bidirectional characters, escape sequences,
  line breaks, or markup WeCom would render (`<@all>`, `[x](http…)`, `<font`, backticks,
  `**`), since names and schools are quoted in group markdown and principals' messages.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from handlers.cn_numbers import cn_to_int

# Invisible characters that copy-paste (Excel, WeChat) leaves in names; dropped, not refused.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f"))
# Bidirectional embeddings, overrides and isolates (and the Arabic letter mark): refused.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
# Ways of writing the middle dot of Uyghur and transliterated names: 买买提·艾力.
_DOTS = re.compile(r"\s*[·•‧∙⋅・･.．]\s*")
_SPACE = re.compile(r"\s+")
_NOT_PLAIN = re.compile(r"[\s·•‧∙⋅・･.．]")

_CN_NUMBER = "[〇零一二两三四五六七八九十]{1,3}"
# (2) / [2] / 【2】 / (二) right before 班, after NFKC has made the brackets ASCII.
_BRACKETED = re.compile(rf"[(\[【〔]\s*(\d+|{_CN_NUMBER})\s*[)\]】〕](?=班)")
# 三年级二班, 初二一班, 高一十班: a Chinese class number between a grade and 班.
_GRADE_CN = re.compile(rf"(年级|级|[初高][一二三])({_CN_NUMBER})(?=班)")
_LEADING_ZEROS = re.compile(r"(?<!\d)0+(?=\d)")

_MARKUP = (
    (re.compile(r"<\s*[@!/A-Za-z]"), "markup ('<' starting a tag or a mention such as <@all>)"),
    (re.compile(r"\[[^\]]*\]\s*\("), "a markdown link ([text](address))"),
    (re.compile(r"`"), "a backtick (markdown code)"),
    (re.compile(r"\*\*|__|~~"), "a run of '*', '_' or '~' (markdown emphasis)"),
    (re.compile(r"^\s*[#>]"), "a leading '#' or '>' (markdown heading or quote)"),
)


def _class_number(text: str) -> str:
    if text.isdigit():
        return str(int(text))
    value = cn_to_int(text)
    return text if value is None else str(value)


def _join_words(text: str) -> str:
    """Collapses whitespace: none beside a Chinese (wide) character, one space elsewhere
    (`胡 杰` → 胡杰, `Lily 张` → Lily张, `J.  R. Smith` → `J. R. Smith`)."""
    parts = _SPACE.split(text.strip())
    out = parts[0]
    for part in parts[1:]:
        if out and part and not _wide(out[-1]) and not _wide(part[0]):
            out += " "
        out += part
    return out


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def canonical_class(text: str) -> str:
    """The one spelling of a class: `三年级（2）班` → `三年级2班`, `初二(1)班` → `初二1班`."""
    s = unicodedata.normalize("NFKC", text or "").translate(_INVISIBLE)
    s = _join_words(s)
    s = _BRACKETED.sub(lambda m: _class_number(m.group(1)), s)
    s = _GRADE_CN.sub(lambda m: m.group(1) + _class_number(m.group(2)), s)
    return _LEADING_ZEROS.sub("", s)


@lru_cache(maxsize=1 << 16)          # a district's names, read again with every list
def clean_name(text: str) -> str:
    """A name without padding: `胡 杰` → 胡杰, `Tom  Lee` → `Tom Lee`, `Ｔｏｍ` → Tom."""
    if text.isprintable() and not _NOT_PLAIN.search(text) and \
            unicodedata.is_normalized("NFKC", text):
        return text        # most names: nothing to clean (a roster cleans ~300k of them)
    s = unicodedata.normalize("NFKC", text or "").translate(_INVISIBLE)
    s = _DOTS.sub("·", s) if _has_han(s) else s
    return _join_words(s)


def clean_text(text: str) -> str:
    """A roster value kept as written but trimmed, invisible characters dropped, spaces single."""
    return _SPACE.sub(" ", (text or "").translate(_INVISIBLE)).strip()


def check_value(text: str, max_len: int) -> str | None:
    """Why `text` is unsafe as a roster value of a column of `max_len` characters, or None."""
    if len(text) > max_len:
        return f"is longer than {max_len} characters ({len(text)})"
    # isprintable() is False for every control, format and separator character but the ASCII
    # space, so most values skip the loop (a 300k-row roster checks ~1M values).
    for ch in "" if text.isprintable() else text:
        if ch in "\r\n\u2028\u2029\x85\x0b\x0c":
            return "contains a line break"
        if ch == "\x1b":
            return "contains an escape sequence (ESC)"
        if ch in _BIDI:
            return f"contains a bidirectional control character (U+{ord(ch):04X})"
        category = unicodedata.category(ch)
        if category == "Cc" and ch != "\t":     # a tab is padding, which cleaning drops
            return f"contains a control character (U+{ord(ch):04X})"
        if category == "Cs":
            return "contains an unpaired surrogate (not valid text)"
        if category == "Cf" and ord(ch) not in _INVISIBLE:
            return f"contains an invisible formatting character (U+{ord(ch):04X})"
    folded = text if text.isascii() else unicodedata.normalize("NFKC", text)  # ＜＠ａｌｌ＞
    for pattern, what in _MARKUP:
        if pattern.search(folded):
            return f"contains {what}"
    return None


def _has_han(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" or "\U00020000" <= c <= "\U0003134f" for c in text)
