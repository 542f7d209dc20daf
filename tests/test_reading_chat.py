"""The reading rules issue 13 changed (CONTRACT.md "Reading rules"), table-driven, with names from
many regions. None of these texts is the corpus's."""
import datetime as dt

import pytest

from handlers.conversation import Candidate, Scope, Sender, decide
from handlers.parser import parse

TODAY = dt.date(2020, 2, 4)


def read(text, names=None):
    return parse(text, TODAY, 37.3, names=names)


def people(text, names=None):
    return [(p.name, p.temperature, tuple(p.symptoms)) for p in read(text, names).people]


@pytest.mark.parametrize("text,want", [
    ("聂海 36.5", [("聂海", 36.5, ())]),                               # rare surnames
    ("詹敏 38.2 发烧", [("詹敏", 38.2, ("fever",))]),
    ("鲁娜36.6 岑溪37.9咳嗽", [("鲁娜", 36.6, ()), ("岑溪", 37.9, ("cough",))]),
    ("蒲公英 36.4，丘琳 36.7", [("蒲公英", 36.4, ()), ("丘琳", 36.7, ())]),
    ("扎西多吉 36.5", [("扎西多吉", 36.5, ())]),                       # Tibetan, no surname
    ("洛桑丹增尼玛 36.8", [("洛桑丹增尼玛", 36.8, ())]),
    ("热依拉·艾买提 36.6", [("热依拉·艾买提", 36.6, ())]),             # Uyghur with a dot
    ("努尔 · 阿不都 36.9", [("努尔·阿不都", 36.9, ())]),
    ("朴永吉 36.3", [("朴永吉", 36.3, ())]),                           # Korean-Chinese
    ("司徒静怡 36.4", [("司徒静怡", 36.4, ())]),                       # compound surname
    ("小龙女 36.5", [("小龙女", 36.5, ())]),
    ("胡 杰 36.4", [("胡杰", 36.4, ())]),                              # padding inside
    ("阮  平 36.1", [("阮平", 36.1, ())]),
    ("孟华妈妈 36.7", [("孟华", 36.7, ())]),                           # relations dropped
    ("燕青爸爸：36.6", [("燕青", 36.6, ())]),
    ("卓玛家长 37.8 咳嗽", [("卓玛", 37.8, ("cough",))]),
    ("牛犇的妈妈 36.2", [("牛犇", 36.2, ())]),
    ("本人 36.5", [(None, 36.5, ())]),                                 # no-name words
    ("今天早上 36.6", [(None, 36.6, ())]),
    ("更正 36.8", [(None, 36.8, ())]),
    ("老师好 36.4", [(None, 36.4, ())]),
])
def test_names_without_a_surname_list(text, want):
    assert people(text) == want


def test_named_readings_are_never_merged_into_the_sender():
    assert people("聂海 36.5，詹敏 38.2，鲁娜 37.0") == [
        ("聂海", 36.5, ()), ("詹敏", 38.2, ()), ("鲁娜", 37.0, ())]


@pytest.mark.parametrize("text,want", [
    ("Tom 38.6 发热", [("Tom", 38.6, ("fever",))]),
    ("Lily张 37.0", [("Lily张", 37.0, ())]),
    ("lily张妈妈 36.9", [("Lily张", 36.9, ())]),
    ("欧阳 娜娜 36.4", [("欧阳娜娜", 36.4, ())]),
    ("丹 36.5", [("丹", 36.5, ())]),                                  # one character
    ("今天周一鸣体温36.9", [("周一鸣", 36.9, ())]),
    ("Tom 已返校", []),                                               # outside a list: not read
])
def test_roster_names_wherever_they_stand(text, want):
    names = frozenset({"Tom", "Lily张", "欧阳娜娜", "丹", "周一鸣", "胡杰"})
    assert people(text, names) == want


@pytest.mark.parametrize("text,want", [
    ("体温 36 度 5", 36.5), ("体温36,5", 36.5), ("36,5", 36.5), ("３６，７", 36.7),
    ("体温37 度 1", 37.1),
])
def test_numbers(text, want):
    assert people(text) == [(None, want, ())]


@pytest.mark.parametrize("text", ["应到36,5人", "36,37", "1,2,3"])
def test_commas_that_are_no_point(text):
    assert all(p[1] not in (36.5, 36.37) for p in people(text))


JIELONG = """#接龙
12月2日 初二(1)班 晨检体温
例 张三 36.5

1. 聂海 36.5
2. 詹敏 38.2 发烧
3. 孟华妈妈 36.7
4、阿依古丽·买买提 36.4
5) 胡 杰 36.6
(6) 已收到
７．本人 36.3"""


def test_jielong_lines_header_and_unreadable():
    r = read(JIELONG)
    assert r.kind == "report" and r.listed
    assert (r.date, r.session) == (dt.date(2019, 12, 2), "morning")
    assert [(p.name, p.temperature) for p in r.people] == [
        ("聂海", 36.5), ("詹敏", 38.2), ("孟华", 36.7),
        ("阿依古丽·买买提", 36.4), ("胡杰", 36.6), (None, 36.3)]
    assert r.unread == ("6. 已收到",)


@pytest.mark.parametrize("marks", [("1.", "2."), ("1、", "2、"), ("(1)", "(2)"), ("1）", "2）"),
                                   ("①", "②"), ("一、", "二、"), ("１．", "２．")])
def test_list_markers(marks):
    r = read(f"{marks[0]} 次仁卓玛 36.5\n{marks[1]} 詹敏 36.7")
    assert [(p.name, p.temperature) for p in r.people] == [("次仁卓玛", 36.5), ("詹敏", 36.7)]


def test_list_number_after_a_header_temperature_word():
    r = read("初二(1)班 晨检体温 1. 聂海 36.5\n2. 詹敏 36.7")
    assert r.kind == "report" and {p.name for p in r.people} >= {"詹敏"}


def test_an_out_of_range_line_names_its_number():
    r = read("1. 聂海 36.5\n2. 詹敏 46.5")
    assert r.kind == "invalid" and "第2条" in r.errors[0].message


@pytest.mark.parametrize("text,cls,who", [
    ("初三(2)班 应到40 实到39 缺勤1：佟欣怡（发烧38.5，已就医）",
     {"absent": 1}, [("佟欣怡", 38.5, ("fever",))]),
    ("初三(2)班 应到40 实到39 缺勤1人：孔子磊（感冒发烧）", {"absent": 1}, [("孔子磊", None, ("fever",))]),
    ("应到40 实到39 请假1人 孔子磊 发烧38度", {"absent": 1, "fever": None}, [("孔子磊", 38.0, ("fever",))]),
    ("二(1)班 应到40 实到39 1人病假", {"absent": 1, "sick_absent": 1}, []),
    ("全班45人，到校43人，1人病假，1人事假", {"expected": 45, "present": 43, "absent": 2, "sick_absent": 1}, []),
    ("高一3班 应到50 实到49 事假1：格桑梅朵 其余正常", {"absent": 1, "sick_absent": 0, "fever": 0}, []),
    ("应到30 实到30 无缺勤 无发热", {"absent": 0, "fever": 0}, []),
])
def test_class_summaries_as_teachers_write_them(text, cls, who):
    r = read(text)
    assert r.kind == "report" and r.class_summary is not None
    for key, value in cls.items():
        assert getattr(r.class_summary, {"sick_absent": "sick_absent"}.get(key, key)) == value, key
    assert people(text) == who


@pytest.mark.parametrize("text,command", [
    ("体温怎么报", "help"), ("请问怎么填？", "help"), ("查一下我今天报了没", "query"),
    ("我今天报了吗", "query"), ("刚才报错了，撤回", "undo"), ("删除上一条记录", "undo"),
    ("看看今天的情况", "stats"), ("今天报了多少人", "stats"), ("哪些老师还没报体温", "unreported"),
    ("还有哪几个班没交", "unreported"),
])
def test_commands_by_what_they_ask(text, command):
    r = read(text)
    assert (r.kind, r.command) == ("command", command)


@pytest.mark.parametrize("text", ["收到", "好的谢谢", "已收到", "收到通知", "通知", "请各位老师明天统计一下",
                                  "完成了吗"])
def test_chatter(text):
    assert read(text).kind == "unrecognized"


@pytest.mark.parametrize("text,topic", [
    ("请假", "leave"), ("明天请假", "leave"), ("请假至12月5日", "leave"), ("李明 请假至12月5日", "leave"),
    ("扎西 请病假", "leave"),
    ("在湖北未返", "whereabouts"), ("2月1日从武汉返回", "whereabouts"), ("居家观察至2月16日", "whereabouts"),
    ("居家观察14天", "whereabouts"), ("解除观察", "whereabouts"), ("摸排", "whereabouts"),
    ("李明 在湖北未返", "whereabouts"),
    ("物资 口罩2000个 消毒液50升", "supplies"), ("库存 体温枪10把", "supplies"), ("盘点", "supplies"),
    ("物资", "supplies"), ("清单", "checklist"), ("清单 1 3 已完成", "checklist"), ("完成 2", "checklist"),
    ("已完成：重点场室消毒", "checklist"), ("清单 2 未完成", "checklist"),
    ("口罩 库存 200个", "supplies"), ("消毒液库存 30升", "supplies"),
])
def test_other_jobs_by_topic(text, topic):
    r = read(text)
    assert (r.kind, r.topic) == ("other", topic)
    assert r.to_dict()["topic"] == topic


def test_a_temperature_keeps_a_whereabouts_word_a_report():
    assert read("居家观察 36.5").kind == "report"


@pytest.mark.parametrize("text", ["晨检 36.5，未见咳嗽", "36.5 未发现发热", "补报 2月3日 36.6，未出现咳嗽"])
def test_what_a_check_did_not_see_is_no_person(text):
    r = read(text)
    assert [p.name for p in r.people] == [None] and not r.people[0].symptoms


# --- who the readings go to -------------------------------------------------------------------
CLASS = ["聂海", "詹敏", "Tom", "扎西多吉", "阿依古丽·买买提", "李四"]
SCOPE = Scope(reportable={n: Candidate(i, n, "三年级2班", "student") for i, n in enumerate(CLASS, 10)},
              school_people={n: [Candidate(i, n, "三年级2班", "student")] for i, n in enumerate(CLASS, 10)})
HEAD = Sender(1, "lils", "李老师", "head_teacher", "第一实验小学", "三年级2班")


def decided(text):
    return decide(parse(text, TODAY, 37.3, names=frozenset(CLASS)), HEAD, SCOPE, text=text)


def test_an_unknown_name_is_asked_about_never_the_senders():
    d = decided("孙悟空 38.5")
    assert d.outcome == "refused" and "孙悟空" in d.reply and not d.records


def test_a_near_miss_by_sound_is_suggested():
    assert "是否为：李四" in decided("李思 36.5").reply


def test_a_list_records_what_it_can_and_names_the_rest():
    d = decided("1. 聂海 36.5\n2. 詹敏 36.8\n3. Tom 36.4\n4. 扎西多吉 36.6\n5. 孙悟空 36.5\n6. 看不清")
    assert d.outcome == "recorded"
    assert [r.name for r in d.records] == ["聂海", "詹敏", "Tom", "扎西多吉"]
    assert not any(r.is_sender for r in d.records)
    assert any("孙悟空" in p for p in d.problems) and d.unread == ("6. 看不清",)
    assert d.missing == ("阿依古丽·买买提", "李四")


def test_chatter_gets_no_hint_a_failed_report_does():
    unrecognized = parse("收到", TODAY)
    assert decide(unrecognized, HEAD, SCOPE, text="收到").reply is None
    assert decide(parse("好的谢谢", TODAY), HEAD, SCOPE, text="好的谢谢").reply is None
    assert "36.5" in decide(parse("36", TODAY), HEAD, SCOPE, text="36").reply
    assert decide(parse("36", TODAY), HEAD, SCOPE, text="36", in_group=True).reply is None
