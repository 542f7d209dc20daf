"""Any text whatever gives a well-formed parse result and never raises."""
import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.parser import parse

TODAY = dt.date(2020, 2, 4)
KINDS = {"report", "command", "unrecognized", "invalid"}
pieces = st.sampled_from(["36.5", "体温", "应到", "实到45", "病假", "(", ")", "（", "无", "咳嗽", "张三",
                          "欧阳", "2月30日", "补报", "昨天", "℃", "F", "。", "，", "\n", "\x00",
                          "\ud800", "9" * 30, "👍", "三十六度五", "@晨检", "、"])


def well_formed(text):
    r = parse(text, TODAY, 37.3).to_dict()
    json.dumps(r, ensure_ascii=False)
    assert r["kind"] in KINDS
    if r["kind"] in ("command", "unrecognized"):
        assert r["people"] == [] and r["class"] is None and r["errors"] == []
    if r["kind"] == "invalid":
        assert r["errors"] and all(e["code"] and e["message"] for e in r["errors"])
    if r["kind"] == "report":
        assert r["people"] or r["class"]
        for p in r["people"]:
            assert p["temperature"] is None or 34.0 <= p["temperature"] <= 42.5
    return r


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text(text):
    well_formed(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=40).map("".join))
def test_report_like_fragments(text):
    well_formed(text)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=400))
def test_binary_ish(data):
    well_formed(data.decode("latin-1"))


def test_very_long_and_control_characters():
    well_formed("36.5 " * 20000)
    well_formed("（" * 50000)
    well_formed("".join(chr(c) for c in range(0, 0x3000, 7)))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["张三", "李四", "欧阳明月", "王芳"]), st.sampled_from(["36.5", "37.6", "36.9"]),
       st.sampled_from(["", " ", "  ", "🙂", "✅ "]), st.sampled_from(["", " ", "👍", "～"]))
def test_decoration_does_not_change_what_is_read(name, temp, before, after):
    r = well_formed(f"{before}{name}{before}{temp}{after}")
    assert [(p["name"], p["temperature"]) for p in r["people"]] == [(name, float(temp))]
