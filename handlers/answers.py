"""Chinese answers to the chat commands (查询, 撤销, 统计, 谁没报), from plain figures.

Each function sees only what the asker may see; `masked=True` (a group chat) turns other
people's names into 张* and leaves out their health details.
"""
from __future__ import annotations

import datetime as dt

from handlers.figures import ClassStatus, DaySnapshot, PersonRow, SchoolFigures
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


def stats_school(fig: SchoolFigures, day: dt.date, masked: bool, threshold: float,
                 by_class: list[str] | None = None) -> str:
    lines = [f"{fig.school} {day_label(day)} 统计",
             f"教职工已报 {fig.staff_reported}/{fig.staff_expected}",
             f"班级已报 {fig.classes_reported}/{fig.classes_expected}"]
    if fig.classes_reported:
        lines.append(f"应到{fig.expected} 实到{fig.present} 缺勤{fig.absent} "
                     f"因病缺勤{fig.sick_absent} 班级报告发热{fig.class_fever}")
    lines.append(f"个人体温异常 {len(fig.abnormal_people)}人")
    if fig.symptom_counts:
        lines.append("症状：" + "，".join(f"{symptoms_text([s])}{n}"
                                          for s, n in sorted(fig.symptom_counts.items())))
    if fig.abnormal_people:
        for p, r in fig.abnormal_people[:MAX_NAMES]:
            who = mask(p.name) if masked else p.name
            detail = "异常" if masked else reading_text(r.temperature, r.symptoms, r.abnormal,
                                                         threshold)
            lines.append(f"· {who}（{p.class_name or '教职工'}）{detail}")
    if by_class:
        lines += by_class
    return "\n".join(lines)


def stats_class(status: ClassStatus, snapshot: DaySnapshot, students: list[PersonRow],
                masked: bool, threshold: float) -> str:
    lines = [f"{status.class_name} {day_label(snapshot.day)} 统计",
             class_status_text(status, sum(1 for s in students if s.id in snapshot.records),
                               len(students))]
    for s in students:
        r = snapshot.records.get(s.id)
        if r and r.abnormal:
            who = mask(s.name) if masked else s.name
            lines.append(f"· {who} " + ("异常" if masked else
                                        reading_text(r.temperature, r.symptoms, r.abnormal, threshold)))
    return "\n".join(lines)


def stats_district(figs: list[SchoolFigures], day: dt.date) -> str:
    staff_r = sum(f.staff_reported for f in figs)
    staff_e = sum(f.staff_expected for f in figs)
    cls_r = sum(f.classes_reported for f in figs)
    cls_e = sum(f.classes_expected for f in figs)
    lines = [f"全区 {day_label(day)} 统计：{len(figs)}所学校",
             f"教职工已报 {staff_r}/{staff_e}，班级已报 {cls_r}/{cls_e}",
             f"体温异常 {sum(len(f.abnormal_people) for f in figs)}人，"
             f"因病缺勤 {sum(f.sick_absent for f in figs)}人"]
    order = sorted(figs, key=lambda f: (f.staff_reported + f.classes_reported > 0, f.school))
    for f in order:
        lines.append(f"· {f.school} 教职工{f.staff_reported}/{f.staff_expected} "
                     f"班级{f.classes_reported}/{f.classes_expected} 异常{len(f.abnormal_people)}")
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
    for f in sorted(missing, key=lambda f: -(len(f.missing_staff) + len(f.missing_classes))):
        lines.append(f"· {f.school}：教职工{len(f.missing_staff)}人，班级{len(f.missing_classes)}个")
    return "\n".join(lines)
