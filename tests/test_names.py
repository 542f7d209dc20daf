"""handlers.names: one spelling per class and name, and which roster values are unsafe."""
import pytest

from handlers.names import canonical_class, check_value, clean_name, clean_text

CLASSES = [
    ("三年级（2）班", "三年级2班"),
    ("三年级(2)班", "三年级2班"),
    ("三年级2班", "三年级2班"),
    ("三年级 2 班", "三年级2班"),
    ("三年级２班", "三年级2班"),                 # full-width digit
    ("三年级（ 2 ）班", "三年级2班"),
    ("三年级（二）班", "三年级2班"),
    ("三年级二班", "三年级2班"),
    ("三年级(02)班", "三年级2班"),
    ("三年级【2】班", "三年级2班"),
    ("初二(1)班", "初二1班"),
    ("初二一班", "初二1班"),
    ("高一（10）班", "高一10班"),
    ("高三(十二)班", "高三12班"),
    ("七年级\u200b(3)班", "七年级3班"),          # a zero-width space from a copied cell
    ("初二班", "初二班"),                         # no class number: left alone
    ("2020级3班", "2020级3班"),
    ("Grade  3 Class 2", "Grade 3 Class 2"),
    ("", ""),
]


@pytest.mark.parametrize("written, canonical", CLASSES)
def test_one_class_however_it_is_written(written, canonical):
    assert canonical_class(written) == canonical
    assert canonical_class(canonical) == canonical          # idempotent


NAMES = [
    ("胡 杰", "胡杰"),
    ("胡\u3000杰", "胡杰"),                      # ideographic space
    (" 欧阳 明月 ", "欧阳明月"),
    ("Tom  Lee", "Tom Lee"),
    ("Ｔｏｍ", "Tom"),                           # full-width Latin
    ("Lily 张", "Lily张"),
    ("买买提 • 艾力", "买买提·艾力"),              # Uyghur name, a bullet for the middle dot
    ("阿依古丽・吐尔逊", "阿依古丽·吐尔逊"),        # katakana middle dot
    ("扎西\u200b顿珠", "扎西顿珠"),               # zero-width space
    ("\ufeff次仁卓玛", "次仁卓玛"),               # BOM
    ("金 敏 浩", "金敏浩"),
    ("O'Brien  Sean", "O'Brien Sean"),
    ("J. R. Smith", "J. R. Smith"),              # dots of a Latin name stay
]


@pytest.mark.parametrize("written, clean", NAMES)
def test_names_lose_their_padding(written, clean):
    assert clean_name(written) == clean
    assert clean_name(clean) == clean


def test_clean_text_keeps_a_school_as_written():
    assert clean_text(" 城南中学（分校）\u200b ") == "城南中学（分校）"
    assert clean_text("第一  实验小学") == "第一 实验小学"


UNSAFE = [
    ("<@all>", "markup"),
    ("张三<@all>", "markup"),
    ("＜＠ａｌｌ＞", "markup"),                  # full-width, renders the same
    ("<font color=\"warning\">张三</font>", "markup"),
    ("[点我](http://evil.example)", "markdown link"),
    ("张`三`", "backtick"),
    ("**张三**", "emphasis"),
    ("# 城南中学", "heading"),
    ("> 引用", "heading or quote"),
    ("张\n三", "line break"),
    ("张\r三", "line break"),
    ("张\u2028三", "line break"),
    ("\x1b[31m张三", "escape sequence"),
    ("张\x07三", "control character (U+0007)"),
    ("张\u202e三", "bidirectional control character (U+202E)"),
    ("张\u2066三\u2069", "bidirectional control character (U+2066)"),
    ("张\u061c三", "bidirectional"),
    ("张\ufff9三", "invisible formatting character"),
]


@pytest.mark.parametrize("value, reason", UNSAFE)
def test_unsafe_values_get_an_english_reason(value, reason):
    why = check_value(value, 50)
    assert why is not None and reason in why
    assert why.isascii() or "<@all>" in why        # an operator's reason, no Chinese


SAFE = ["张三", "欧阳明月", "买买提·艾力", "Tom Lee", "O'Brien", "李*明", "a_b", "胡\t杰",
        "城南中学（分校）", "三年级2班", "\ue000明"]    # a private-use rare character


@pytest.mark.parametrize("value", SAFE)
def test_ordinary_values_pass(value):
    assert check_value(value, 50) is None


def test_length_is_the_column_length():
    assert check_value("明" * 50, 50) is None
    assert check_value("明" * 51, 50) == "is longer than 50 characters (51)"
