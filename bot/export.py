"""`export`: records of a date range to CSV or XLSX, one row per current record with its history.

Cells that a spreadsheet would run as a formula (=, +, -, @ at the start) are written as text.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from handlers.parser import SYMPTOM_NAMES
from storage import records as store
from storage.models import ClassReport, HealthRecord

RECORD_HEADER = ["日期 day", "检次 check", "学校 school", "班级 class", "姓名 name",
                 "体温 temperature", "症状 symptoms", "异常 abnormal", "报告人 reported by",
                 "报告时间 reported at", "更正记录 history"]
CLASS_HEADER = ["日期 day", "检次 check", "学校 school", "班级 class", "应到 expected",
                "实到 present", "缺勤 absent", "因病缺勤 sick absent", "发热 fever",
                "报告人 reported by", "报告时间 reported at", "更正记录 history"]


class ExportError(Exception):
    pass


def safe_cell(value):
    """Neutralises spreadsheet formula injection in text cells."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _local(t: dt.datetime | None, tz) -> str:
    if t is None:
        return ""
    return t.replace(tzinfo=dt.timezone.utc).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _history_text(rows, describe, tz) -> str:
    parts = []
    for r in rows:
        state = "已撤销" if r.revoked_at else "已被更正"
        who = r.reported_by.name if r.reported_by else ""
        parts.append(f"{_local(r.created_at, tz)} {who} {describe(r)}（{state}）")
    return "；".join(parts)


def record_rows(session: Session, start: dt.date, end: dt.date, tz) -> list[list]:
    all_rows = store.records_between(session, start, end, include_history=True)
    history: dict[tuple, list[HealthRecord]] = {}
    for r in all_rows:
        if r.replaced_at or r.revoked_at:
            history.setdefault((r.person_id, r.day, r.check), []).append(r)

    def describe(r):
        t = "" if r.temperature is None else f"{r.temperature:.1f}℃ "
        return t + ("、".join(SYMPTOM_NAMES.get(s, s) for s in r.symptom_list) or "无症状")

    out = []
    for r in all_rows:
        if r.replaced_at or r.revoked_at:
            continue
        p = r.person
        out.append([
            r.day.isoformat(), r.check, p.school_name or "", p.class_name or "", p.name,
            "" if r.temperature is None else round(r.temperature, 1),
            "、".join(SYMPTOM_NAMES.get(s, s) for s in r.symptom_list),
            "是" if r.abnormal else "否",
            r.reported_by.name if r.reported_by else "", _local(r.created_at, tz),
            _history_text(history.get((r.person_id, r.day, r.check), []), describe, tz),
        ])
    return out


def class_rows(session: Session, start: dt.date, end: dt.date, tz) -> list[list]:
    all_rows = store.class_reports_between(session, start, end, include_history=True)
    history: dict[tuple, list[ClassReport]] = {}
    for r in all_rows:
        if r.replaced_at or r.revoked_at:
            history.setdefault((r.school_id, r.class_name, r.day, r.check), []).append(r)

    def describe(r):
        return f"应到{r.expected} 实到{r.present} 缺勤{r.absent} 病假{r.sick_absent} 发热{r.fever}"

    out = []
    for r in all_rows:
        if r.replaced_at or r.revoked_at:
            continue
        out.append([r.day.isoformat(), r.check, r.school.name, r.class_name, r.expected,
                    r.present, r.absent, r.sick_absent, r.fever,
                    r.reported_by.name if r.reported_by else "", _local(r.created_at, tz),
                    _history_text(history.get((r.school_id, r.class_name, r.day, r.check), []),
                                  describe, tz)])
    return out


def export(session: Session, start: dt.date, end: dt.date, out: str | Path, tz) -> int:
    """Writes the file; returns the number of person records written."""
    if end < start:
        raise ExportError(f"--to {end} is before --from {start}")
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ExportError(f"{path.name}: the file must end in .csv or .xlsx")
    if path.parent and not path.parent.exists():
        raise ExportError(f"folder {path.parent} does not exist")
    rows = record_rows(session, start, end, tz)
    if suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8-sig") as f:   # BOM: Excel reads UTF-8
            w = csv.writer(f)
            w.writerow(RECORD_HEADER)
            for row in rows:
                w.writerow([safe_cell(v) for v in row])
    else:
        _write_xlsx(path, rows, class_rows(session, start, end, tz))
    return len(rows)


def _write_xlsx(path: Path, rows: list[list], classes: list[list]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "records 个人记录"
    ws.append(RECORD_HEADER)
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    ws2 = wb.create_sheet("classes 班级报告")
    ws2.append(CLASS_HEADER)
    for row in classes:
        ws2.append([safe_cell(v) for v in row])
    for sheet in (ws, ws2):
        sheet.freeze_panes = "A2"
    wb.save(path)
