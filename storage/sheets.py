"""Reading a spreadsheet file: a CSV, or one or every sheet of an XLSX, streamed and bounded.

Every import (`roster import`, `watch import`, `records import`) reads its file here, so a
hostile or broken file is refused the same way everywhere.

Guarantees:
- Bounded memory, however big or hostile the file: rows are streamed. A CSV line is at most
  `MAX_LINE_CHARS` characters and a row at most `MAX_COLUMNS` cells. An XLSX is a zip whose
  declared sizes (parts, total, per part, compression ratio: a zip bomb) are checked before
  openpyxl opens it; openpyxl then reads it in read-only mode with the sheet's stored dimension
  ignored (it may be stale, A1:B2 on a full sheet, or absurd, A1:XFD2000) and at most
  `MAX_COLUMNS` columns.
- Text: a CSV is UTF-8 (with or without a BOM) when the whole file decodes as UTF-8, else
  GB18030 (Excel's "CSV" on a Chinese Windows); a file with a NUL byte is not text and refused.
- One-line errors: whatever is wrong with the file (missing, unknown type, not a zip, a broken
  sheet, a bad CSV quote) raises `SheetError`, whose `problems` are short lines naming the file
  or the line; never an openpyxl or csv traceback.
- Blank rows are skipped; line numbers stay those of the file (a CSV row is numbered by the
  line it starts on, a quoted field may span lines).
"""
from __future__ import annotations

import codecs
import csv
import zipfile
from pathlib import Path
from typing import Callable, Iterator

MAX_COLUMNS = 64                    # cells read from any row
MAX_LINE_CHARS = 64 * 1024          # one CSV line
# XLSX (a zip): what the declared sizes may be before anything is unpacked.
XLSX_MAX_TOTAL = 1 << 30            # all parts together, uncompressed
XLSX_MAX_RATIO = 100                # uncompressed / compressed, for parts over 1 MiB
XLSX_MAX_SHARED_STRINGS = 64 << 20  # openpyxl keeps the shared strings in memory
XLSX_MAX_OTHER_PART = 16 << 20      # styles, workbook, theme: parsed whole
XLSX_MAX_PARTS = 10_000
XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt", "")
PROGRESS_EVERY = 5000               # rows between two progress calls

Progress = Callable[[str, int, "float | None"], None]   # (stage, rows, fraction done or None)
Row = tuple[str, int, list]                            # (sheet title, line number, cells)


class SheetError(Exception):
    """The file cannot be read; `problems` are lines like "roster.xlsx: ..." or "line 4: ..."."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def read_table(path: str | Path, *, sheet: int | None = 0, as_text: bool = True,
               what: str = "spreadsheet", progress: Progress | None = None) -> Iterator[Row]:
    """(sheet title, line number, cells) of each non-blank row of a CSV or XLSX file.

    `sheet` is the index of the XLSX sheet to read, or None for every sheet in order; a CSV is
    one sheet titled "". With `as_text` every cell is a str ("" for an empty cell, 13800000000
    for a whole number Excel stored as a float); without it, cells are as openpyxl gives them
    (None, str, int, float, datetime, ...; a CSV's are str). `what` the file should be ("roster")
    words the refusal of a file far too big for one. `progress("reading", rows, fraction or
    None)` is called every few thousand rows. The path and its type are checked at once
    (raising SheetError); the file's content as it is read.
    """
    p = Path(path)
    if not p.is_file():
        raise SheetError([f"file not found: {path}"])
    suffix = p.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return _xlsx_rows(p, sheet, as_text, what, progress)
    if suffix in CSV_SUFFIXES:
        return _csv_rows(p, what, progress)
    raise SheetError([f"{p.name}: unsupported file type {suffix!r} (use .csv or .xlsx)"])


def cell_text(value) -> str:
    """A cell as text: "" for empty, a whole float without its ".0" (a mobile number typed
    into Excel comes back as 13800000000.0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _blank(cells: list) -> bool:
    return not any(c is not None and str(c).strip() for c in cells)


# --- CSV -------------------------------------------------------------------------------------

def _csv_encoding(p: Path) -> str:
    """utf-8-sig when the whole file decodes as UTF-8, else gb18030; refuses binary files."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            if b"\x00" in chunk:
                raise SheetError([f"{p.name}: this is not a CSV text file"])
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return "utf-8-sig" if utf8 else "gb18030"


def _csv_rows(p: Path, what: str, progress: Progress | None) -> Iterator[Row]:
    encoding = _csv_encoding(p)
    size = max(p.stat().st_size, 1)
    with open(p, encoding=encoding, newline="") as f:
        def lines():
            while line := f.readline(MAX_LINE_CHARS):
                if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
                    raise SheetError([f"line {reader.line_num + 1}: longer than "
                                      f"{MAX_LINE_CHARS} characters; is this a {what}?"])
                yield line

        reader = csv.reader(lines())
        start = 1                   # a quoted field may span lines: a row is where it starts
        try:
            for row in reader:
                if progress and reader.line_num % PROGRESS_EVERY == 0:
                    progress("reading", reader.line_num, min(f.buffer.tell() / size, 1.0))
                if not _blank(row):
                    yield "", start, row[:MAX_COLUMNS]
                start = reader.line_num + 1
        except csv.Error as exc:
            raise SheetError([f"line {reader.line_num}: {exc}"]) from None
        except UnicodeDecodeError:
            raise SheetError([f"line {reader.line_num + 1}: not {encoding} text"]) from None


# --- XLSX ------------------------------------------------------------------------------------

def check_xlsx_archive(p: Path, what: str = "spreadsheet") -> None:
    """Refuses a file that is not a zip or whose declared sizes would unpack into too much."""
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SheetError([f"{p.name}: not a readable XLSX file (not a zip archive: {exc})"]) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > XLSX_MAX_PARTS:
            raise SheetError([f"{p.name}: not a {what}: the XLSX has {len(infos)} parts"])
        total = 0
        for info in infos:
            total += info.file_size
            name = info.filename.lower()
            ratio = info.file_size / max(info.compress_size, 1)   # Apache POI refuses over 100 too
            if info.file_size > (1 << 20) and ratio > XLSX_MAX_RATIO:
                raise SheetError([f"{p.name}: refused: part {info.filename} would unpack "
                                  f"{ratio:.0f} times its size ({info.file_size} bytes); "
                                  "a zip bomb?"])
            if name.endswith("sharedstrings.xml"):
                limit = XLSX_MAX_SHARED_STRINGS
            elif name.startswith("xl/worksheets/"):
                limit = XLSX_MAX_TOTAL
            else:
                limit = XLSX_MAX_OTHER_PART
            if info.file_size > limit:
                raise SheetError([f"{p.name}: refused: part {info.filename} unpacks to "
                                  f"{info.file_size} bytes (at most {limit})"])
        if total > XLSX_MAX_TOTAL:
            raise SheetError([f"{p.name}: refused: the XLSX unpacks to {total} bytes "
                              f"(at most {XLSX_MAX_TOTAL})"])


def _unreadable(p: Path, exc: Exception) -> SheetError:
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return SheetError([f"{p.name}: not a readable XLSX file "
                       f"({exc.__class__.__name__}{': ' + detail if detail else ''})"])


def _xlsx_rows(p: Path, sheet: int | None, as_text: bool, what: str,
               progress: Progress | None) -> Iterator[Row]:
    check_xlsx_archive(p, what)
    from openpyxl import load_workbook

    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a broken file
        raise _unreadable(p, exc) from None
    try:
        sheets = wb.worksheets if sheet is None else wb.worksheets[sheet:sheet + 1]
        if sheet is not None and not sheets:
            raise SheetError([f"{p.name}: the workbook has no sheet"
                              + (f" {sheet + 1}" if sheet else "")])
        done = 0
        for ws in sheets:
            # Forget the stored dimension; read at most MAX_COLUMNS of whatever rows there are.
            ws.reset_dimensions()
            rows = ws.iter_rows(max_col=MAX_COLUMNS, values_only=True)
            line = 0
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - a broken sheet fails while parsing
                    raise _unreadable(p, exc) from None
                line += 1
                done += 1
                if progress and done % PROGRESS_EVERY == 0:
                    progress("reading", done, None)
                if not _blank(row):
                    yield ws.title, line, [cell_text(v) for v in row] if as_text else list(row)
    finally:
        wb.close()
