"""The parser's shortcuts read what the whole grammar reads.

`handlers.parser` answers the common forms at once (a 接龙 line `聂海 36.5`, a message that is
only `正常`): these tests hold each shortcut against the full reading it stands for, on lines
generated from names of many regions, separators, temperatures and what parents add after them.
"""
import datetime as dt
import random

from handlers import lexicon
from handlers import parser as P

NAMES = ["聂海", "詹敏", "扎西多吉", "次仁卓玛", "阿依古丽·买买提", "朴永吉", "司徒静怡", "小龙女", "Tom",
         "Lily张", "Anna Li", "卓玛", "丹", "乌云其木格", "佘晓", "欧阳明月", "王体温", "李气温是", "ok"]
RELATIONS = ["", "", "妈妈", "家长", "的爸爸"]
SEPARATORS = ["", " ", ":", ",", " : ", "  "]
TEMPERATURES = ["36.5", "34.0", "37.3", "38.2", "42.5", "42.6", "42.9", "36.5度", "36.5°C", "36.5 度"]
AFTER = ["", " 正常", " 发烧", " 咳嗽", " 无发热", " 咳嗽:无", " 有点流鼻涕", " 已返校", " 元", " 分", " 小腹疼",
         " 喉咙有点疼", " 不发烧", " 晨检", " 李四", " 嗓子疼 已就医", ".", " 36.6", ",正常", "(咳嗽)"]


def lines(seed: int, n: int):
    rnd = random.Random(seed)
    for _ in range(n):
        yield (rnd.choice(NAMES) + rnd.choice(RELATIONS) + rnd.choice(SEPARATORS)
               + rnd.choice(TEMPERATURES) + rnd.choice(AFTER) + rnd.choice(["", rnd.choice(AFTER)]))


def test_a_list_line_read_at_once_is_read_as_the_whole_line_reading():
    roster = P.vocabulary(NAMES + ["正常", "咳"])
    shortcuts = 0
    for vocab in (None, roster):
        for line in lines(13, 3000):
            content = P.normalize(line)
            at_once = P._line_at_once(content, 37.3, vocab)
            if at_once is not None:
                shortcuts += 1
                assert ([at_once], []) == P._read_line(content, 37.3, vocab), line
    assert shortcuts > 1000                  # the common forms do take the shortcut


def test_a_word_of_well_being_alone_is_read_as_the_whole_grammar_reads_it():
    assert set(P._WELL_ALONE) == set(lexicon.WELL_WORDS)
    today = dt.date(2020, 2, 4)
    for word, people in P._WELL_ALONE.items():
        assert P.parse(word, today) == P._parse_full(word, today, 37.3) == P._report(today, None, people)
