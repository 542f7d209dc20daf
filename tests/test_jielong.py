"""A head teacher pastes the class's 接龙 through the webhook (issue 13): every readable line is
recorded for its student, nothing for her, and the reply names the missing and unread lines.
Also: roster names outside the surname list, and a property over generated rosters."""
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from handlers.conversation import Candidate, Scope, Sender, decide
from handlers.parser import parse
from storage.models import Person
from tests.test_dialogs import current, say

DAY = "2020-02-04"
# 37 students added to 三年级2班 (张三, 李四, 欧阳明月 are there already): 40 in all, names from
# many regions, most outside the common-surname list.
NEW_STUDENTS = [
    "聂海", "詹敏", "孟华", "鲁娜", "岑溪", "蒲公英", "丘琳", "扎西多吉", "次仁卓玛", "格桑梅朵",
    "阿依古丽·买买提", "热依拉·艾买提", "朴永吉", "金哲秀", "司徒静怡", "小龙女", "胡杰", "Tom",
    "Lily张", "阮平", "燕青", "牛犇", "卓玛", "丹", "敖登", "巴特尔", "乌云其木格", "那日苏", "上官婉清",
    "佘晓", "亓官明", "冼星", "禤丽", "粘伟", "笪宏", "钭雨", "逄博",
]
MISSING = ("钭雨", "逄博")


def _add_students(world, names):
    with world.services.sessions() as s, s.begin():
        lils = s.scalar(select(Person).where(Person.userid == "lils"))
        for n in names:
            s.add(Person(name=n, role="student", school_id=lils.school_id, class_name="三年级2班"))


def _chain():
    relation = {"孟华": "妈妈", "詹敏": "家长", "岑溪": "爸爸"}
    padded = {"胡杰": "胡 杰", "阮平": "阮  平"}
    listed = [n for n in ["张三", "李四", "欧阳明月", *NEW_STUDENTS] if n not in MISSING]
    lines = ["#接龙", "2月4日 三年级(2)班 晨检体温", "例 张三 36.5", ""]
    for i, n in enumerate(listed, 1):
        temp = "38.2 发烧" if n == "詹敏" else f"36.{i % 10}"
        lines.append(f"{i}. {padded.get(n, n)}{relation.get(n, '')} {temp}")
    lines.append(f"{len(listed) + 1}. 老师好")                   # the one line that cannot be read
    return "\n".join(lines), listed


def test_a_pasted_jielong_of_forty(world):
    _add_students(world, NEW_STUDENTS)
    text, listed = _chain()
    assert len(listed) == 38
    reply = say(world, "lils", text)
    people, _ = current(world)
    assert set(n for n, _d, _c in people) == set(listed)          # nothing for 李老师
    assert people[("詹敏", DAY, "morning")] == (38.2, True)
    assert people[("胡杰", DAY, "morning")][0] == 36.0 + (listed.index("胡杰") + 1) % 10 / 10
    assert "共38人" in reply and "未在名单中：钭雨、逄博" in reply
    assert "第39条“老师好”" in reply
    assert "詹敏 体温38.2℃，发热" in reply and "李老师" not in reply


def test_roster_names_outside_the_surname_list(world):
    _add_students(world, ["聂海", "Tom", "扎西多吉"])
    assert "聂海" in say(world, "lils", "聂海 36.5")
    reply = say(world, "lils", "Tom 38.6 发热")
    assert "Tom 体温38.6℃，发热" in reply
    assert "扎西多吉" in say(world, "lils", "扎西多吉妈妈 36.4")
    people, _ = current(world)
    assert people == {("聂海", DAY, "morning"): (36.5, False), ("Tom", DAY, "morning"): (38.6, True),
                      ("扎西多吉", DAY, "morning"): (36.4, False)}


def test_names_nobody_knows_and_chatter(world):
    assert "未找到学生“孙悟空”" in say(world, "lils", "孙悟空 38.5")
    assert "是否为：李四" in say(world, "lils", "李思 36.5")
    assert say(world, "zhangls", "收到") == "" and say(world, "zhangls", "好的谢谢") == ""
    assert "36.5" in say(world, "zhangls", "36")                   # looks like a failed report
    assert current(world)[0] == {}


# --- the property: a named line is never the sender's ---------------------------------------
HAN_NAME_CHARS = "聂詹鲁岑蒲丘佘亓冼禤粘笪钭逄海敏娜溪琳晓明星丽伟宏雨博扎西多吉次仁卓玛格桑梅朵热依拉阿古丽买提永哲秀静怡婉清龙女杰平青犇登巴特尔乌云其木那日苏"
han_names = st.text(alphabet=HAN_NAME_CHARS, min_size=1, max_size=4)
dotted = st.tuples(st.text(HAN_NAME_CHARS, min_size=2, max_size=4),
                   st.text(HAN_NAME_CHARS, min_size=2, max_size=3)).map("·".join)
latin = st.sampled_from(["Tom", "Lily", "Anna", "Kevin", "Amy"])
mixed = st.tuples(latin, st.sampled_from("张王聂詹")).map("".join)
roster_names = st.lists(st.one_of(han_names, han_names, dotted, latin, mixed), min_size=1, max_size=12,
                        unique=True)
HEAD = Sender(1, "lils", "李老师", "head_teacher", "第一实验小学", "三年级2班")


@settings(max_examples=300, deadline=None)
@given(roster_names, st.data())
def test_no_reading_goes_to_the_sender_unless_the_line_names_nobody(names, data):
    scope = Scope(reportable={n: Candidate(i, n, "三年级2班", "student") for i, n in enumerate(names, 10)})
    lines, self_lines, named = [], 0, set()
    for i, n in enumerate(names, 1):
        if data.draw(st.booleans(), label="self line") and i % 4 == 0:
            lines.append(f"{i}. 本人 36.{i % 10}")
            self_lines += 1
            continue
        padded = len(n) == 2 and not n.isascii() and data.draw(st.booleans(), label="padded")
        relation = data.draw(st.sampled_from(["", "妈妈", "家长", "爸爸"]), label="relation")
        temp = data.draw(st.sampled_from(["36.5", "37.8 发热", "36,6", "体温36.4"]), label="reading")
        lines.append(f"{i}. {' '.join(n) if padded else n}{relation} {temp}")
        named.add(n)
    text = "\n".join(lines)
    result = parse(text, dt.date(2020, 2, 4), 37.3, names=frozenset(names))
    decision = decide(result, HEAD, scope, text=text)
    assert len([r for r in decision.records if r.is_sender]) <= (1 if self_lines else 0), (text, decision)
    if len(lines) >= 2:                      # a list: every named line recorded for its student
        assert {r.name for r in decision.records if not r.is_sender} == named, (text, decision)
