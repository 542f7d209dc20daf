"""Chinese answers to the chat commands (查询, 撤销, 统计, 谁没报), from plain figures.

Each function sees only what the asker may see; `masked=True` (a group chat) turns other
people's names into 张* and leaves out their health details.
"""
from __future__ import annotations

import datetime as dt

from handlers.figures import ClassStatus, DaySnapshot, PersonRow, SchoolFigures, attention_order
from handlers.health import is_abnormal
from handlers.replies import class_line, day_label, mask, reading_text, symptoms_text

MAX_NAMES = 30          # a phone screen; the rest is counted


def names(people, masked: bool, limit: int = MAX_NAMES) -> str:
    shown = [mask(p.name) if masked else p.name for p in people[:limit]]
    more = f" 等{len(people)}人" if len(people) > limit else ""
    return "、".join(shown) + more


def query_answer(history: list[tuple[dt.date, str | None]], class_status: str | None) -> str:
    """history: (day, reading text or None when not reported) for the last school days."""
    lines = ["您近7天的记录："]
    for day, text in history:
        lines.append(f"{day_label(day)} {text or '未报'}")
    if len(lines) == 1:
        lines.append("（暂无记录）")
    if class_status:
        lines.append(class_status)
    return "\n".join(lines)


def class_status_text(status: ClassStatus, students_reported: int, students_total: int) -> str:
    if status.report is None:
        head = f"今日{status.class_name}：班级情况未报（发送如：{status.class_name} 应到45 实到45）"
    else:
        r = status.report
        head = "今日" + class_line(status.class_name, r.expected, r.present, r.absent,
                                   r.sick_absent, r.fever)
    if students_total:
        head += f"\n学生个人体温已报 {students_reported}/{students_total}"
    return head


def undo_answer(items: list[str]) -> str:
    if not items:
        return "没有可撤销的报告。"
    return "已撤销：" + "；".join(items) + "\n如需重新报告，请直接发送正确内容。"


def _symptom_line(counts: dict[str, int]) -> str | None:
    if not counts:
        return None
    order = sorted(counts.items(), key=lambda kv: (kv[0] != "fever", -kv[1], kv[0]))
    return "症状：" + "，".join(f"{symptoms_text([code])}{n}人" for code, n in order)


def stats_school(fig: SchoolFigures, day: dt.date, masked: bool, threshold: float,
                 by_class: list[str] | None = None) -> str:
    """A principal's 统计. `masked` (a group): counts, and abnormal people as masked names with
    no class and no reading; the full version goes to the principal privately."""
    lines = [f"{fig.school} {day_label(day)} 统计",
             f"教职工已报 {fig.staff_reported}/{fig.staff_expected}"
             + (f"（请假{len(fig.staff_on_leave)}人）" if fig.staff_on_leave else ""),
             f"班级已报 {fig.classes_reported}/{fig.classes_expected}"]
    if fig.classes_reported:
        lines.append(f"应到{fig.expected} 实到{fig.present} 缺勤{fig.absent} "
                     f"因病缺勤{fig.sick_absent} 班级报告发热{fig.class_fever}")
    lines.append(f"发热 {fig.fevers}人，体温/症状异常 {len(fig.abnormal_people)}人")
    symptom_line = _symptom_line(fig.symptom_counts)
    if symptom_line:
        lines.append(symptom_line)
    if fig.abnormal_people:
        if masked:
            lines.append("异常：" + names([p for p, _r in fig.abnormal_people], True)
                         + "（详情已私信）")
        else:
            for p, r in fig.abnormal_people[:MAX_NAMES]:
                lines.append(f"· {p.name}（{p.class_name or '教职工'}）"
                             + reading_text(r.temperature, r.symptoms, True, threshold))
    if by_class:
        lines += by_class
    return "\n".join(lines)


def stats_counts(fig: SchoolFigures, day: dt.date) -> str:
    """A teacher's 统计: the school's numbers, no one's name."""
    return (f"{fig.school} {day_label(day)}：教职工已报 {fig.staff_reported}/{fig.staff_expected}，"
            f"班级已报 {fig.classes_reported}/{fig.classes_expected}，发热 {fig.fevers}人，"
            f"体温/症状异常 {len(fig.abnormal_people)}人。")


def stats_class(status: ClassStatus, snapshot: DaySnapshot, students: list[PersonRow],
                masked: bool, threshold: float) -> str:
    lines = [f"{status.class_name} {day_label(snapshot.day)} 统计",
             class_status_text(status, sum(1 for s in students if s.id in snapshot.records),
                               len(students))]
    abnormal = [(st, snapshot.records[st.id]) for st in students if st.id in snapshot.records
                and is_abnormal(snapshot.records[st.id].temperature,
                                snapshot.records[st.id].symptoms, threshold)]
    if abnormal and masked:
        lines.append("异常：" + names([st for st, _r in abnormal], True) + "（详情已私信）")
    for st, r in ([] if masked else abnormal):
        lines.append(f"· {st.name} " + reading_text(r.temperature, r.symptoms, True, threshold))
    return "\n".join(lines)


def stats_district(figs: list[SchoolFigures], day: dt.date) -> str:
    staff_r = sum(f.staff_reported for f in figs)
    staff_e = sum(f.staff_expected for f in figs)
    cls_r = sum(f.classes_reported for f in figs)
    cls_e = sum(f.classes_expected for f in figs)
    lines = [f"全区 {day_label(day)} 统计：{len(figs)}所学校",
             f"教职工已报 {staff_r}/{staff_e}，班级已报 {cls_r}/{cls_e}",
             f"发热 {sum(f.fevers for f in figs)}人，"
             f"体温/症状异常 {sum(len(f.abnormal_people) for f in figs)}人，"
             f"因病缺勤 {sum(f.sick_absent for f in figs)}人",
             f"零报告 {sum(1 for f in figs if f.zero_report)}所，"
             f"未报齐 {sum(1 for f in figs if not f.complete)}所"]
    for f in attention_order(figs):
        state = "零报告" if f.zero_report else ("未报齐" if not f.complete else "")
        lines.append(f"· {f.school} 教职工{f.staff_reported}/{f.staff_expected} "
                     f"班级{f.classes_reported}/{f.classes_expected} 发热{f.fevers} "
                     f"异常{len(f.abnormal_people)}" + (f" {state}" if state else ""))
    return "\n".join(lines)


def unreported_school(fig: SchoolFigures, day: dt.date, masked: bool) -> str:
    if fig.complete:
        return f"{fig.school} {day_label(day)}：全部已报 ✅"
    lines = [f"{fig.school} {day_label(day)} 未报："]
    if fig.missing_classes:
        lines.append(f"班级{len(fig.missing_classes)}个：" +
                     "、".join(c.class_name for c in fig.missing_classes))
    if fig.missing_staff:
        lines.append(f"教职工{len(fig.missing_staff)}人：" + names(list(fig.missing_staff), masked))
    return "\n".join(lines)


def unreported_counts(fig: SchoolFigures, day: dt.date) -> str:
    if fig.complete:
        return f"{fig.school} {day_label(day)}：全部已报 ✅"
    return (f"{fig.school} {day_label(day)}：还有{len(fig.missing_staff)}位教职工、"
            f"{len(fig.missing_classes)}个班级未报。")


def unreported_district(figs: list[SchoolFigures], day: dt.date) -> str:
    missing = [f for f in figs if not f.complete]
    if not missing:
        return f"全区 {day_label(day)}：所有学校全部已报 ✅"
    lines = [f"全区 {day_label(day)} 未报完的学校 {len(missing)}所："]
    for f in attention_order(missing):
        lines.append(f"· {f.school}：教职工{len(f.missing_staff)}人，班级{len(f.missing_classes)}个")
    return "\n".join(lines)
