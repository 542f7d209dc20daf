"""The grammar, table-driven: what a teacher writes → what the bot reads (CONTRACT.md rules)."""
import datetime as dt

import pytest

from handlers.lexicon import SYMPTOM_WORDS
from handlers.parser import parse

TODAY = dt.date(2020, 2, 4)


def read(text, today=TODAY, threshold=37.3):
    return parse(text, today, threshold).to_dict()


def person(text, **kw):
    r = read(text, **kw)
    assert r["kind"] == "report", (text, r)
    assert len(r["people"]) == 1, (text, r)
    return r["people"][0]


CONTRACT_SYMPTOMS = {
    "fever": ["发热", "发烧", "高烧", "低烧"], "cough": ["咳嗽", "干咳"],
    "sore_throat": ["咽痛", "喉咙痛", "嗓子疼"], "fatigue": ["乏力", "疲乏"],
    "runny_nose": ["流涕", "流鼻涕", "鼻塞"], "diarrhea": ["腹泻", "拉肚子"],
    "vomiting": ["呕吐", "恶心"], "headache": ["头痛", "头疼"],
    "dyspnea": ["呼吸困难", "胸闷", "气促"], "rash": ["皮疹", "出疹"],
    "conjunctivitis": ["红眼", "结膜炎", "结膜充血"], "loss_of_smell_taste": ["嗅觉减退", "味觉减退"],
    "abdominal_pain": ["腹痛", "肚子疼"], "dizziness": ["头晕"], "parotid_swelling": ["腮腺肿大"],
    "jaundice": ["黄疸"],
}


@pytest.mark.parametrize("code,word", [(c, w) for c, ws in CONTRACT_SYMPTOMS.items() for w in ws])
def test_every_contract_symptom_word(code, word):
    p = person(f"36.6 {word}")
    assert code in p["symptoms"] and p["abnormal"]
    assert word in SYMPTOM_WORDS[code]


@pytest.mark.parametrize("text,symptoms", [
    ("36.5 无咳嗽", []),
    ("36.5 没有发烧", []),
    ("36.4，不咳不喘", []),
    ("36.5 未见发热", []),
    ("36.5 否认咳嗽、乏力", []),
    ("36.6 无发热、咳嗽、乏力等症状", []),
    ("36.6 无发热和咳嗽", []),
    ("36.7 咳嗽：无", []),
    ("36.7 咳嗽（无）", []),
    ("36.5 无发热，咳嗽", ["cough"]),          # a comma ends the negation
    ("36.5 无发热 咳嗽", ["cough"]),          # so does a space
    ("36.8 有点咳嗽", ["cough"]),
    ("37.3 发热", ["fever"]),
])
def test_negation_scope(text, symptoms):
    assert sorted(person(text)["symptoms"]) == sorted(symptoms)


@pytest.mark.parametrize("text,day", [
    ("36.5", "2020-02-04"),
    ("补报 36.5", "2020-02-04"),
    ("补报 2月3日 36.5", "2020-02-03"),
    ("2月3号 36.5", "2020-02-03"),
    ("2020-02-03 36.5", "2020-02-03"),
    ("2020年2月3日 36.5", "2020-02-03"),
    ("昨天 36.5", "2020-02-03"),
    ("前天 36.5", "2020-02-02"),
    ("12月30日 36.5", "2019-12-30"),            # more than six months ahead: last year
])
def test_date_forms(text, day):
    r = read(text)
    assert (r["kind"], r["date"]) == ("report", day)


@pytest.mark.parametrize("text,code", [
    ("2月9日 36.5", "date_in_future"),
    ("明天 36.5", "date_in_future"),
    ("2月30日 36.5", "date_invalid"),
    ("46.5", "temperature_out_of_range"),
    ("体温 33", "temperature_out_of_range"),
    ("33.9", "temperature_out_of_range"),
    ("42.6", "temperature_out_of_range"),
    ("应到45 实到46", "class_numbers_inconsistent"),
    ("应到45 实到44 缺勤2", "class_numbers_inconsistent"),
])
def test_refusals_have_a_code_and_a_chinese_message(text, code):
    r = read(text)
    assert r["kind"] == "invalid"
    assert code in [e["code"] for e in r["errors"]]
    assert all(e["message"] and "例如" in e["message"] for e in r["errors"])


@pytest.mark.parametrize("text,temp,abnormal", [
    ("34.0", 34.0, False), ("42.5", 42.5, True), ("37.3", 37.3, True), ("37.2", 37.2, False),
    ("３６．５", 36.5, False), ("36。6", 36.6, False), ("三十六度五", 36.5, False),
    ("体温三十六点八度", 36.8, False), ("97.9F", 36.6, False), ("98.6°F", 37.0, False),
    ("🌡️36.6😷", 36.6, False), ("✅ 体温：36.4度 ✅", 36.4, False),
])
def test_temperatures_and_boundaries(text, temp, abnormal):
    p = person(text)
    assert (p["name"], p["temperature"], p["abnormal"]) == (None, temp, abnormal)


def test_custom_threshold():
    assert not person("37.4", threshold=37.5)["abnormal"]
    assert person("37.5", threshold=37.5)["abnormal"]


@pytest.mark.parametrize("name", ["张三", "李健康", "陈晨", "王正常", "欧阳娜娜", "司马光", "上官婉儿",
                                  "诸葛亮", "欧阳明月"])
def test_names_of_two_to_four_characters(name):
    assert person(f"{name} 36.5")["name"] == name
    assert person(f"{name}36.5")["name"] == name


@pytest.mark.parametrize("text", [
    "张三 36.5，李四 37.6 发热", "张三36.5李四37.6发热", "张三 36.5、李四 37.6（发热）",
    "1. 张三 36.5\n2. 李四 37.6 发热", "张三 36.5；李四 37.6 发热",
])
def test_several_people(text):
    people = read(text)["people"]
    assert [(p["name"], p["temperature"]) for p in people] == [("张三", 36.5), ("李四", 37.6)]
    assert people[1]["symptoms"] == ["fever"] and people[1]["abnormal"]


def test_returned_students():
    people = read("张三、李四 返校")["people"]
    assert [(p["name"], p["temperature"], p["abnormal"]) for p in people] == [
        ("张三", None, False), ("李四", None, False)]


@pytest.mark.parametrize("text,command", [
    ("帮助", "help"), ("?", "help"), ("？", "help"), ("怎么报", "help"),
    ("查询", "query"), ("我的记录", "query"), ("撤销", "undo"), ("撤回", "undo"),
    ("统计", "stats"), ("今日情况", "stats"), ("谁没报", "unreported"), ("还有谁没报？", "unreported"),
    ("未报名单", "unreported"),
])
def test_commands(text, command):
    r = read(text)
    assert (r["kind"], r["command"], r["people"], r["date"]) == ("command", command, [], None)


@pytest.mark.parametrize("text", ["收到", "好的，谢谢", "👍", "8:30开会", "明天8点开会", "8点半集合",
                                  "302室", "联系电话13800138000", "请有发热的同学及时报告",
                                  "请各位老师按时上报体温", "[图片]", "", "   ", "第3.5节课"])
def test_chatter_stays_silent(text):
    assert read(text)["kind"] == "unrecognized"


@pytest.mark.parametrize("text,cls", [
    ("三年级2班 应到45 实到44 病假1 发热0",
     {"name": "三年级2班", "expected": 45, "present": 44, "absent": 1, "sick_absent": 1, "fever": 0}),
    ("初一(3)班 应到四十五人，实到四十五人，全部正常",
     {"name": "初一(3)班", "expected": 45, "present": 45, "absent": 0, "sick_absent": 0, "fever": 0}),
    ("二(1)班 应到42 实到40 事假2",
     {"expected": 42, "present": 40, "absent": 2, "sick_absent": 0, "fever": None}),
    ("应到30 实到29 无发热", {"expected": 30, "present": 29, "absent": 1, "sick_absent": None, "fever": 0}),
])
def test_class_summaries(text, cls):
    got = read(text)["class"]
    for key, value in cls.items():
        assert got[key] == value, (key, got)


def test_student_named_in_a_class_summary():
    r = read("六年级3班 应到38 实到37 缺勤1（李明 发热37.8 已就医）")
    assert r["class"]["absent"] == 1
    assert [(p["name"], p["temperature"], p["symptoms"]) for p in r["people"]] == [
        ("李明", 37.8, ["fever"])]
    assert read("初一(3)班：应到48，实到47，病假1（发热）")["people"] == []


def test_sessions():
    assert read("晨检 36.4")["session"] == "morning"
    assert read("午检 36.7")["session"] == "noon"
    assert read("36.7")["session"] is None
