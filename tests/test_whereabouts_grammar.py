"""Leave and whereabouts wording, read by `handlers.whereabouts` (pure, no server)."""
import datetime as dt

import pytest

from handlers.config import Watch
from handlers.conversation import Candidate, Scope, Sender
from handlers.whereabouts import (
    WATCH_LIST, Draft, LeaveRequest, Problem, WatchRow, WhereaboutsReport, count_rows,
    counts_line, is_watched_area, list_lines, observation_ends_text, plan, read_leave,
    read_whereabouts, resolve, sheet_draft,
)

TODAY = dt.date(2020, 2, 4)          # a Tuesday
D = lambda m, d, y=2020: dt.date(y, m, d)   # noqa: E731


@pytest.mark.parametrize("text, name, start, end", [
    ("请假", None, D(2, 4), D(2, 4)),
    ("我今天请假", None, D(2, 4), D(2, 4)),
    ("明天请假", None, D(2, 5), D(2, 5)),
    ("请假至2月6日", None, D(2, 4), D(2, 6)),
    ("请假到2月6号", None, D(2, 4), D(2, 6)),
    ("李明 请假至2月6日", "李明", D(2, 4), D(2, 6)),
    ("李明请假至2月6日", "李明", D(2, 4), D(2, 6)),
    ("2月3日至5日请假", None, D(2, 3), D(2, 5)),
    ("2月5日-2月7日请假", None, D(2, 5), D(2, 7)),
    ("李明 2月5日至2月7日请假", "李明", D(2, 5), D(2, 7)),
    ("请假3天", None, D(2, 4), D(2, 6)),
    ("请3天假", None, D(2, 4), D(2, 6)),
    ("请假一天", None, D(2, 4), D(2, 4)),
    ("明天起请假3天", None, D(2, 5), D(2, 7)),
    ("李明 明天请假，家里有事", "李明", D(2, 5), D(2, 5)),
    ("李明（发烧）病假", "李明", D(2, 4), D(2, 4)),
    ("欧阳明月 今天事假", "欧阳明月", D(2, 4), D(2, 4)),
    ("请假到2020年2月10日", None, D(2, 4), D(2, 10)),
    ("２月５日请假", None, D(2, 5), D(2, 5)),
])
def test_leave_wordings(text, name, start, end):
    assert read_leave(text, TODAY) == LeaveRequest(name, start, end)


def test_leave_until_a_date_in_december_reads_this_december():
    assert read_leave("请假至12月5日", D(12, 1)) == LeaveRequest(None, D(12, 1), D(12, 5))
    assert read_leave("李明 12月3日至5日请假", D(12, 1)) == LeaveRequest("李明", D(12, 3), D(12, 5))
    # across the new year: 1月3日 in late December is next year's
    assert read_leave("请假至1月3日", D(12, 30)) == LeaveRequest(None, D(12, 30), D(1, 3, 2021))


@pytest.mark.parametrize("text, says", [
    ("请假至2月3日", "2月3日已经过去了"),
    ("王五 2月30日请假", "日期“2月30日”不存在"),
    ("2月6日至2月5日请假", "早于开始日期"),
    ("请假200天", "请假天数不对"),
    ("张三妈妈说张三今天请假", "没看懂"),
])
def test_leave_problems(text, says):
    result = read_leave(text, TODAY)
    assert isinstance(result, Problem) and says in result.message, result


def test_no_leave_word_is_no_leave():
    assert read_leave("36.5", TODAY) is None
    assert read_leave("李明 在湖北未返", TODAY) is None


@pytest.mark.parametrize("text, want", [
    ("李明 在湖北未返", WhereaboutsReport("李明", "away", place="湖北")),
    ("李明在湖北未返", WhereaboutsReport("李明", "away", place="湖北")),
    ("在湖北未返", WhereaboutsReport(None, "away", place="湖北")),
    ("李明 仍滞留武汉", WhereaboutsReport("李明", "away", place="武汉")),
    ("李明 目前在孝感，暂未返回", WhereaboutsReport("李明", "away", place="孝感")),
    ("李明 2月1日从武汉返回", WhereaboutsReport("李明", "returned", place="武汉", day=D(2, 1))),
    ("2月1日从武汉返回", WhereaboutsReport(None, "returned", place="武汉", day=D(2, 1))),
    ("李明 已返回", WhereaboutsReport("李明", "returned", day=TODAY)),
    ("李明 2月1日从广州返回，居家观察14天",
     WhereaboutsReport("李明", "returned", place="广州", day=D(2, 1), start=D(2, 1), days=14)),
    ("李明 居家观察至2月16日", WhereaboutsReport("李明", "observing", until=D(2, 16))),
    ("李明 居家观察14天", WhereaboutsReport("李明", "observing", days=14)),
    ("居家观察十四天", WhereaboutsReport(None, "observing", days=14)),
    ("欧阳明月 居家隔离至2月18日", WhereaboutsReport("欧阳明月", "observing", until=D(2, 18))),
    ("李明 2月2日起居家观察", WhereaboutsReport("李明", "observing", start=D(2, 2))),
    ("李明 解除观察", WhereaboutsReport("李明", "released", day=TODAY)),
    ("解除居家观察", WhereaboutsReport(None, "released", day=TODAY)),
    ("李明 观察期满", WhereaboutsReport("李明", "released", day=TODAY)),
])
def test_whereabouts_wordings(text, want):
    assert read_whereabouts(text, TODAY) == want


@pytest.mark.parametrize("text", ["摸排", "摸排情况", "摸排名单", "人员摸排", "查看摸排", "观察名单"])
def test_the_list_question(text):
    assert read_whereabouts(text, TODAY) is WATCH_LIST


@pytest.mark.parametrize("text, says", [
    ("李明 2月10日从武汉返回", "晚于今天"),
    ("李明 居家观察100天", "观察天数不对"),
])
def test_whereabouts_problems(text, says):
    result = read_whereabouts(text, TODAY)
    assert isinstance(result, Problem) and says in result.message, result


@pytest.mark.parametrize("text", ["李明 在家", "36.5", "明天8点开会"])
def test_not_whereabouts(text):
    assert read_whereabouts(text, TODAY) is None


WATCH = Watch(observe_days=14, areas=("湖北", "武汉"))


def row(status, start=None, end=None, place=None, returned_on=None):
    return WatchRow(1, "李明", "城东中学", "三年级2班", "student", status, place, start, end,
                    returned_on, TODAY, 1)


def test_places_of_a_watched_area():
    assert is_watched_area("武汉市", WATCH.areas)
    assert is_watched_area("湖北省孝感市", WATCH.areas)
    assert is_watched_area("湖北省", WATCH.areas)
    assert not is_watched_area("广州", WATCH.areas)
    assert not is_watched_area(None, WATCH.areas)


@pytest.mark.parametrize("report, current, want", [
    # a return from an area starts observe_days of observation, the return day being day 1
    (WhereaboutsReport(None, "returned", place="武汉", day=D(2, 1)), None,
     Draft("observing", "武汉", D(2, 1), D(2, 14), returned_on=D(2, 1))),
    (WhereaboutsReport(None, "returned", place="湖北黄冈", day=D(2, 3)), None,
     Draft("observing", "湖北黄冈", D(2, 3), D(2, 16), returned_on=D(2, 3))),
    # from elsewhere: back, no observation
    (WhereaboutsReport(None, "returned", place="广州", day=D(2, 2)), None,
     Draft("returned", "广州", D(2, 2))),
    # unless told otherwise
    (WhereaboutsReport(None, "returned", place="广州", day=D(2, 1), start=D(2, 1), days=7), None,
     Draft("observing", "广州", D(2, 1), D(2, 7), returned_on=D(2, 1))),
    (WhereaboutsReport(None, "returned", place="武汉", day=D(2, 1), start=D(2, 1), until=D(2, 20)),
     None, Draft("observing", "武汉", D(2, 1), D(2, 20), returned_on=D(2, 1))),
    # observation told without a start: from today, or kept from the current observation
    (WhereaboutsReport(None, "observing", days=14), None, Draft("observing", None, TODAY, D(2, 17))),
    (WhereaboutsReport(None, "observing", until=D(2, 16)),
     row("observing", D(2, 1), D(2, 14), "武汉", D(2, 1)),
     Draft("observing", "武汉", D(2, 1), D(2, 16), returned_on=D(2, 1))),
    (WhereaboutsReport(None, "observing"), None, Draft("observing", None, TODAY, D(2, 17))),
    (WhereaboutsReport(None, "away", place="湖北"), None, Draft("away", "湖北", TODAY)),
    (WhereaboutsReport(None, "released", day=TODAY), row("observing", D(2, 1), D(2, 14), "武汉"),
     Draft("released", "武汉", TODAY)),
])
def test_plan(report, current, want):
    assert plan(report, current, TODAY, WATCH) == want


def test_plan_refuses():
    assert isinstance(plan(WhereaboutsReport(None, "released", day=TODAY), None, TODAY, WATCH), Problem)
    assert isinstance(plan(WhereaboutsReport(None, "observing", until=D(2, 1)), None, TODAY, WATCH), Problem)


SENDERS = {
    "teacher": Sender(1, "zhangls", "张老师", "teacher", "一小", "三年级2班"),
    "head": Sender(2, "lils", "李老师", "head_teacher", "一小", "三年级2班"),
    "principal": Sender(3, "wangxz", "王校长", "principal", "一小"),
    "bureau": Sender(4, "chenju", "陈局长", "bureau"),
}
LISI = Candidate(10, "李四", "三年级2班", "student")
WANGWU = Candidate(11, "王五", "四年级1班", "student")
SCHOOL = {"李四": [LISI], "王五": [WANGWU], "张老师": [Candidate(1, "张老师", "三年级2班", "teacher")]}


@pytest.mark.parametrize("sender, name, scope, want", [
    ("teacher", None, Scope(), 1),
    ("teacher", "张老师", Scope(), 1),
    ("teacher", "李四", Scope(school_people=SCHOOL), "您只能登记本人的请假和去向"),
    ("head", "李四", Scope({"李四": LISI}, SCHOOL), 10),
    ("head", "王五", Scope({"李四": LISI}, SCHOOL), "“王五”不是您班的学生（四年级1班）"),
    ("head", "李斯", Scope({"李四": LISI}, SCHOOL), "是否为：李四"),
    ("principal", "王五", Scope({"李四": LISI, "王五": WANGWU}, SCHOOL), 11),
    ("principal", "李明", Scope({}, {"李明": [Candidate(20, "李明", "一班", "student"),
                                           Candidate(21, "李明", "二班", "student")]}),
     "名单中有2个“李明”（一班、二班）"),
    ("bureau", None, Scope(), "教育局账号不登记"),
])
def test_rights(sender, name, scope, want):
    got = resolve(name, SENDERS[sender], scope)
    if isinstance(want, int):
        assert got.person_id == want
    else:
        assert isinstance(got, Problem) and want in got.message, got


def test_counts_and_lines():
    rows = [row("away", D(2, 4), place="湖北"),
            row("observing", D(2, 1), D(2, 14), "武汉", D(2, 1)),
            WatchRow(2, "王五", "城东中学", "四年级1班", "student", "observing", None, D(1, 22),
                     TODAY, None, TODAY, 1),
            WatchRow(3, "张老师", "城东中学", "三年级2班", "teacher", "leave", None, TODAY,
                     D(2, 6), None, TODAY, 1)]
    counts = count_rows(rows)
    assert counts_line(counts) == "在外未返 1、居家观察 2、今日期满 1、请假 1"
    assert list_lines(rows) == [
        "在外未返（1人）：", "· 李明（三年级2班）湖北，2月4日登记",
        "居家观察（2人）：", "· 李明（三年级2班）至2月14日，2月1日从武汉返回",
        "· 王五（四年级1班）至2月4日（今日期满）",
        "请假（1人）：", "· 张老师（教职工）2月4日至2月6日"]
    notice = observation_ends_text(rows[2], TODAY)
    assert "王五" in notice and "今日期满" in notice and "2月5日起不再列入观察名单" in notice


@pytest.mark.parametrize("status, place, start, end, want", [
    ("在外未返", "湖北", None, None, Draft("away", "湖北", TODAY)),
    ("已返回", "武汉", D(2, 1), None, Draft("observing", "武汉", D(2, 1), D(2, 14), D(2, 1))),
    ("已返回", "广州", D(2, 1), None, Draft("returned", "广州", D(2, 1))),
    ("居家观察", "", D(2, 1), D(2, 10), Draft("observing", "", D(2, 1), D(2, 10))),
    ("解除观察", None, None, None, Draft("released", None, TODAY)),
    ("请假", None, D(2, 5), None, LeaveRequest(None, D(2, 5), D(2, 5))),
    ("出差", None, None, None, "is not one of"),
    ("请假", None, None, None, "开始 is empty"),
    ("居家观察", None, D(2, 5), D(2, 1), "is before"),
])
def test_sheet_rows(status, place, start, end, want):
    got = sheet_draft(status, place, start, end, TODAY, WATCH)
    if isinstance(want, str):
        assert isinstance(got, str) and want in got
    else:
        assert got == want
