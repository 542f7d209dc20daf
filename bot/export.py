"""`export`: records of a date range to CSV or XLSX, one row per current record with its history.

The XLSX has three sheets: person records, class reports, and daily school summaries (per day,
check and school: staff and classes reported/expected, 应到/实到/缺勤/因病缺勤, fevers, computed
like the digests). The CSV holds the person records. Cells that a spreadsheet would run as a
formula (=, +, -, @ at the start) are written as text. A long range shows a progress bar on
stderr when stderr is a terminal.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from handlers.clock import local_text
from handlers.digest import check_label
from handlers.health import is_abnormal, symptom_name
from storage import records as store
from storage.models import ClassReport, HealthRecord

RECORD_HEADER = ["日期 day", "检次 check", "学校 school", "班级 class", "姓名 name",
                 "体温 temperature", "症状 symptoms", "异常 abnormal", "报告人 reported by",
                 "报告时间 reported at", "更正记录 history", "病假缺勤 sick absentee"]
CLASS_HEADER = ["日期 day", "检次 check", "学校 school", "班级 class", "应到 expected",
                "实到 present", "缺勤 absent", "因病缺勤 sick absent", "发热 fever",
                "报告人 reported by", "报告时间 reported at", "更正记录 history"]


SUMMARY_HEADER = ["日期 day", "检次 check", "学校 school", "教职工已报 staff reported",
                  "教职工应报 staff expected", "班级已报 classes reported",
                  "班级应报 classes expected", "应到 expected", "实到 present", "缺勤 absent",
                  "因病缺勤 sick absent", "发热 fever"]
PROGRESS_MIN_DAYS = 8       # shorter ranges finish before a bar would help
DEFAULT_THRESHOLD = 37.3


class ExportError(Exception):
    pass


def safe_cell(value):
    """Neutralises spreadsheet formula injection in text cells, and drops the control
    characters a worksheet cannot hold (ESC, NUL, …: a school or name stored with them must
    still export; tab, CR and LF stay)."""
    if isinstance(value, str):
        value = _ILLEGAL.sub("", value)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
    return value


_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")     # = openpyxl's ILLEGAL_CHARACTERS_RE


def _private(path: Path, mode: str, **kw):
    """`open(path, mode)` for a new or replaced file readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)                 # an existing file keeps its mode through O_TRUNC
    except OSError:
        pass
    return os.fdopen(fd, mode, **kw)


def _local(t: dt.datetime | None, tz) -> str:
    return local_text(t, tz, missing="")


def _history_text(rows, describe, tz) -> str:
    parts = []
    for r in rows:
        state = "已撤销" if r.revoked_at else "已被更正"
        who = r.reported_by.name if r.reported_by else ""
        parts.append(f"{_local(r.created_at, tz)} {who} {describe(r)}（{state}）")
    return "；".join(parts)


def record_rows(session: Session, start: dt.date, end: dt.date, tz, *,
                school: str | None = None, threshold: float | None = None) -> list[list]:
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    all_rows = store.records_between(session, start, end, include_history=True)
    history: dict[tuple, list[HealthRecord]] = {}
    for r in all_rows:
        if r.replaced_at or r.revoked_at:
            history.setdefault((r.person_id, r.day, r.check), []).append(r)

    def describe(r):
        t = "" if r.temperature is None else f"{r.temperature:.1f}℃ "
        return t + ("、".join(symptom_name(s) for s in r.symptom_list) or "无症状")

    out = []
    for r in all_rows:
        if r.replaced_at or r.revoked_at:
            continue
        p = r.person
        if school is not None and p.school_name != school:
            continue
        out.append([
            r.day.isoformat(), r.check, p.school_name or "", p.class_name or "", p.name,
            "" if r.temperature is None else round(r.temperature, 1),
            "、".join(symptom_name(s) for s in r.symptom_list),
            "是" if is_abnormal(r.temperature, r.symptom_list, threshold) else "否",
            r.reported_by.name if r.reported_by else "", _local(r.created_at, tz),
            _history_text(history.get((r.person_id, r.day, r.check), []), describe, tz),
            "是" if r.absent else "",
        ])
    return out


def class_rows(session: Session, start: dt.date, end: dt.date, tz, *,
               school: str | None = None) -> list[list]:
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
        if school is not None and r.school.name != school:
            continue
        out.append([r.day.isoformat(), r.check, r.school.name, r.class_name, r.expected,
                    r.present, r.absent, r.sick_absent, r.fever,
                    r.reported_by.name if r.reported_by else "", _local(r.created_at, tz),
                    _history_text(history.get((r.school_id, r.class_name, r.day, r.check), []),
                                  describe, tz)])
    return out


def summary_rows(session: Session, start: dt.date, end: dt.date, *, config=None,
                 school: str | None = None, progress=None) -> list[list]:
    """One row per day, check and school, figured like the digests.

    The days: every school day of the range (with `config`) and every day with any report;
    the checks: the configured ones (with `config`) and any found in the data; the expected
    staff and classes: today's roster.
    """
    from storage.snapshot import snapshots_of
    from storage.trends import days_with_data, tallies_of

    threshold = config.fever_threshold if config is not None else DEFAULT_THRESHOLD
    days = days_with_data(session, start, end)
    checks = [c.name for c in config.checks] if config is not None else []
    if config is not None:
        d = start
        while d <= end:
            if config.calendar.is_school_day(d):
                days.add(d)
            d += dt.timedelta(days=1)
    for c in _checks_in_data(session, start, end):
        if c not in checks:
            checks.append(c)
    days = sorted(days)
    out = []
    bar = progress if progress is not None else _NoProgress()
    bar.start(len(days))
    for i in range(0, len(days), 31):               # a month of snapshots at a time
        chunk = days[i:i + 31]
        snaps = snapshots_of(session, chunk, checks)
        for day in chunk:
            for check in checks:
                for t in tallies_of(snaps[(day, check)], threshold):
                    if school is not None and t.school != school:
                        continue
                    out.append([day.isoformat(), check_label(check), t.school,
                                t.staff_reported, t.staff_expected, t.classes_reported,
                                t.classes_expected, t.expected, t.present, t.absent,
                                t.sick_absent, t.fevers])
            bar.step(day)
    bar.finish()
    return out


def _checks_in_data(session: Session, start: dt.date, end: dt.date) -> list[str]:
    from sqlalchemy import select

    found = set(session.scalars(select(HealthRecord.check).where(
        HealthRecord.day >= start, HealthRecord.day <= end).distinct()))
    found |= set(session.scalars(select(ClassReport.check).where(
        ClassReport.day >= start, ClassReport.day <= end).distinct()))
    return sorted(found)


class _NoProgress:
    def start(self, total: int) -> None: ...
    def step(self, day: dt.date) -> None: ...
    def finish(self) -> None: ...


class ProgressBar:
    """`导出 [██████······] 45/120 2026-03-02` redrawn in place on a terminal's stderr."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.total = self.done = 0

    def start(self, total: int) -> None:
        self.total, self.done = total, 0

    def step(self, day: dt.date) -> None:
        self.done += 1
        filled = self.width * self.done // max(self.total, 1)
        self.stream.write(f"\r导出 [{'█' * filled}{'·' * (self.width - filled)}] "
                          f"{self.done}/{self.total} {day.isoformat()}")
        self.stream.flush()

    def finish(self) -> None:
        if self.total:
            self.stream.write("\n")
            self.stream.flush()


def _auto_progress(start: dt.date, end: dt.date, progress):
    if progress is False:
        return None
    if progress is True:
        return ProgressBar()
    if progress is not None:
        return progress
    long_range = (end - start).days + 1 >= PROGRESS_MIN_DAYS
    isatty = getattr(sys.stderr, "isatty", lambda: False)
    return ProgressBar() if long_range and isatty() else None


def export_xlsx_bytes(session: Session, start: dt.date, end: dt.date, tz, *, config=None,
                      school: str | None = None) -> bytes:
    """The same workbook as `export` to a .xlsx, in memory (the dashboard's download);
    `school` limits every sheet to one school."""
    import io

    buf = io.BytesIO()
    threshold = config.fever_threshold if config is not None else None
    _write_xlsx(buf, record_rows(session, start, end, tz, school=school, threshold=threshold),
                class_rows(session, start, end, tz, school=school),
                summary_rows(session, start, end, config=config, school=school),
                extra_sheets(session, start, end, config, school=school))
    return buf.getvalue()


def export(session: Session, start: dt.date, end: dt.date, out: str | Path, tz, *,
           config=None, progress=None) -> int:
    """Writes the file; returns the number of person records written.

    `config` (optional) adds school days without any report and the configured checks and
    fever threshold to the summary sheet. `progress`: None shows a bar on a terminal for a
    range of a week or more, True/False force it, or pass an object with start/step/finish.
    """
    if end < start:
        raise ExportError(f"--to {end} is before --from {start}")
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ExportError(f"{path.name}: the file must end in .csv or .xlsx")
    if path.parent and not path.parent.exists():
        raise ExportError(f"folder {path.parent} does not exist")
    rows = record_rows(session, start, end, tz,
                       threshold=config.fever_threshold if config is not None else None)
    if suffix == ".csv":
        with _private(path, "w", newline="", encoding="utf-8-sig") as f:   # BOM: Excel reads UTF-8
            w = csv.writer(f)
            w.writerow(RECORD_HEADER)
            for row in rows:
                w.writerow([safe_cell(v) for v in row])
    else:
        summaries = summary_rows(session, start, end, config=config,
                                 progress=_auto_progress(start, end, progress))
        with _private(path, "wb") as f:
            _write_xlsx(f, rows, class_rows(session, start, end, tz), summaries,
                        extra_sheets(session, start, end, config))
    return len(rows)


def extra_sheets(session: Session, start: dt.date, end: dt.date, config, *,
                 school: str | None = None) -> list[tuple[str, list]]:
    """The district's other jobs as sheets (title, header row first): 物资, 摸排."""
    if config is None:
        return []
    from storage.roster_queries import school_id_of
    from storage.supplies import supplies_sheet_rows
    from storage.whereabouts import watch_sheet_rows

    out = []
    school_id = school_id_of(session, school) if school is not None else None
    if school is None or school_id is not None:
        out.append(("watch 摸排", watch_sheet_rows(session, start, end, school_id=school_id,
                                                   returned_days=config.watch.observe_days)))
    if config.supplies:
        out.append(("supplies 物资", supplies_sheet_rows(session, config, start, end, school=school)))
    return out


def _write_xlsx(path, rows: list[list], classes: list[list],
                summaries: list[list] | None = None,
                extra: list[tuple[str, list]] = ()) -> None:
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
    sheets = [ws, ws2]
    if summaries is not None:
        ws3 = wb.create_sheet("summary 每日学校汇总")
        ws3.append(SUMMARY_HEADER)
        for row in summaries:
            ws3.append([safe_cell(v) for v in row])
        sheets.append(ws3)
    for title, table in extra:
        sheet = wb.create_sheet(title)
        for row in table:
            sheet.append([safe_cell(v) for v in row])
        sheets.append(sheet)
    for sheet in sheets:
        sheet.freeze_panes = "A2"
        for cell in sheet[1]:
            sheet.column_dimensions[cell.column_letter].width = max(10, min(40, len(str(cell.value)) + 2))
    wb.save(path)
