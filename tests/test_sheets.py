"""storage.sheets: every import reads its CSV or XLSX here, streamed and bounded; a hostile or
broken file is refused in one line, through each import's own command too."""
import datetime as dt
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from storage.db import upgrade
from storage.sheets import MAX_COLUMNS, SheetError, read_table
from tests.support import config_toml
from tests.test_roster import dimension, district_rows, make_xlsx, rewrite_part

ROOT = Path(__file__).resolve().parents[1]
ROSTER_HEADER = ["学校", "班级", "姓名", "角色", "企业微信账号", "手机"]


def problems(path, **kw) -> list[str]:
    with pytest.raises(SheetError) as err:
        list(read_table(path, **kw))
    return err.value.problems


def zip_bomb(path: Path) -> Path:
    """A small XLSX whose first sheet unpacks to 50 MB (of spaces: ~50 KB packed)."""
    make_xlsx(path, district_rows(3))
    padding = b" " * (50 << 20)
    rewrite_part(path, "xl/worksheets/sheet1.xml",
                 lambda xml: xml.replace(b"<sheetData>", b"<sheetData>" + padding))
    assert path.stat().st_size < 2 << 20
    return path


# --- XLSX ------------------------------------------------------------------------------------

def test_a_stale_dimension_still_reads_every_row_and_column(tmp_path):
    path = make_xlsx(tmp_path / "stale.xlsx", district_rows(300))
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: dimension(xml, b"A1:B2"))
    rows = list(read_table(path))
    assert len(rows) == 302
    title, line, cells = rows[-1]
    assert (title, line) == ("Sheet", 302)
    assert cells[:4] == ["一小", "6年级（4）班", "学生299", "学生"]
    assert rows[1][2][:6] == ["一小", "", "王校长", "校长", "wangxz", "13800000002"]


def test_a_declared_xfd_dimension_keeps_memory_small(tmp_path):
    path = make_xlsx(tmp_path / "xfd.xlsx", district_rows(2000))
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: dimension(xml, b"A1:XFD2002"))
    tracemalloc.start()
    try:
        n = 0
        for _title, _line, cells in read_table(path):
            assert len(cells) <= MAX_COLUMNS
            n += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 2002
    assert peak < 20 << 20, f"peak {peak >> 20} MB"   # 16384 columns × 2002 rows: ~300 MB


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    path = zip_bomb(tmp_path / "bomb.xlsx")
    tracemalloc.start()
    try:
        found = problems(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [line] = found
    assert line.startswith("bomb.xlsx: refused: part xl/worksheets/sheet1.xml would unpack ")
    assert line.endswith("a zip bomb?")
    assert peak < 10 << 20


def test_a_malformed_xlsx_is_one_line(tmp_path):
    # tests/test_roster.py covers random bytes, a zip without a workbook, a sheet cut in half
    # and a truncated file through `roster import`; these break the other parts.
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    cases = [empty]
    for part, data in (("xl/workbook.xml", b"<not xml"), ("xl/styles.xml", b"garbage"),
                       ("xl/worksheets/sheet1.xml", b"\xff\xfe garbage")):
        path = make_xlsx(tmp_path / (part.replace("/", "_") + ".xlsx"), district_rows(5))
        rewrite_part(path, part, lambda _xml, data=data: data)
        cases.append(path)
    for path in cases:
        [line] = problems(path, sheet=None)
        assert line.startswith(f"{path.name}: not a readable XLSX file ("), line
        assert "\n" not in line and len(line) < 300
    no_sheet = make_xlsx(tmp_path / "nosheet.xlsx", district_rows(5))
    with zipfile.ZipFile(no_sheet) as zf:
        parts = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(no_sheet, "w") as zf:
        for name, data in parts:
            if name != "xl/worksheets/sheet1.xml":
                zf.writestr(name, data)
    assert problems(no_sheet) == ["nosheet.xlsx: the workbook has no sheet"]


def test_cells_as_text_or_as_openpyxl_gives_them_and_every_sheet(tmp_path):
    wb = Workbook()
    first = wb.active
    first.title = "one"
    first.append(["day", "mobile", "temperature", "empty"])
    first.append([dt.date(2026, 3, 2), 13800000002, 37.5, None])
    first.append([None, None, None, None])                     # blank: skipped
    first.append(["x", None, None, None])
    second = wb.create_sheet("two")
    second.append(["only", "row"])
    wb.create_sheet("blank")
    path = tmp_path / "book.xlsx"
    wb.save(path)

    assert [(t, n, c[:4]) for t, n, c in read_table(path)] == [
        ("one", 1, ["day", "mobile", "temperature", "empty"]),
        ("one", 2, ["2026-03-02 00:00:00", "13800000002", "37.5", ""]),
        ("one", 4, ["x", "", "", ""])]
    raw = list(read_table(path, sheet=None, as_text=False))
    assert [(t, n) for t, n, _c in raw] == [("one", 1), ("one", 2), ("one", 4), ("two", 1)]
    assert raw[1][2][:4] == [dt.datetime(2026, 3, 2), 13800000002, 37.5, None]
    assert [c[:2] for t, n, c in read_table(path, sheet=1)] == [["only", "row"]]
    assert problems(path, sheet=5) == ["book.xlsx: the workbook has no sheet 6"]


# --- CSV -------------------------------------------------------------------------------------

def test_a_gb18030_csv_and_a_utf8_one_with_a_bom(tmp_path):
    text = "学校,班级,姓名\n第一实验小学,三年级2班,欧阳𠀀\n\n,,\n"   # 𠀀: outside GBK, in GB18030
    gb = tmp_path / "gb.csv"
    gb.write_bytes(text.encode("gb18030"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(text.encode("utf-8-sig"))
    for path in (gb, bom):
        assert list(read_table(path)) == [("", 1, ["学校", "班级", "姓名"]),
                                          ("", 2, ["第一实验小学", "三年级2班", "欧阳𠀀"])]


def test_a_nul_byte_is_refused(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes("姓名,学校\n张\x00三,一小\n".encode("utf-8"))
    assert problems(path) == ["nul.csv: this is not a CSV text file"]


def test_csv_lines_columns_quotes_and_types(tmp_path):
    long = tmp_path / "long.csv"
    long.write_text("a,b\n" + "x," * 40_000 + "\n", encoding="utf-8")
    assert problems(long, what="roster") == [
        "line 2: longer than 65536 characters; is this a roster?"]
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(str(i) for i in range(500)) + "\n", encoding="utf-8")
    [(_t, _n, cells)] = read_table(wide)
    assert len(cells) == MAX_COLUMNS and cells[-1] == str(MAX_COLUMNS - 1)
    quoted = tmp_path / "quoted.csv"                 # a row is numbered where it starts
    quoted.write_text('a,b\n"two\nlines",x\nlast,y\n', encoding="utf-8")
    assert [n for _t, n, _c in read_table(quoted)] == [1, 2, 4]
    huge_field = tmp_path / "field.csv"              # a quoted field spanning 200 000 chars
    huge_field.write_text('a,b\n"' + ("y" * 50_000 + "\n") * 4 + '",x\n', encoding="utf-8")
    assert problems(huge_field) == ["line 4: field larger than field limit (131072)"]
    odd = tmp_path / "sheet.ods"
    odd.write_text("x", encoding="utf-8")
    assert problems(odd) == ["sheet.ods: unsupported file type '.ods' (use .csv or .xlsx)"]
    assert problems(tmp_path / "gone.csv") == [f"file not found: {tmp_path / 'gone.csv'}"]


def test_progress_is_reported_while_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "1,2\n" * 12_000, encoding="utf-8")
    seen = []
    assert sum(1 for _ in read_table(path, progress=lambda *a: seen.append(a))) == 12_001
    assert [a[:2] for a in seen] == [("reading", 5000), ("reading", 10000)]
    assert 0 < seen[0][2] < seen[1][2] <= 1


# --- each import's command refuses a zip bomb in one line ------------------------------------

@pytest.mark.parametrize("verb", [("watch", "import"), ("records", "import"),
                                  ("roster", "import")])
def test_each_import_verb_refuses_a_zip_bomb_in_one_line(tmp_path, verb):
    url = f"sqlite:///{tmp_path}/bot.db"
    upgrade(url)
    cfg = tmp_path / "config.toml"
    cfg.write_text(config_toml(url), encoding="utf-8")
    bomb = zip_bomb(tmp_path / "bomb.xlsx")
    res = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), *verb, str(bomb)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    [line] = [l for l in res.stderr.splitlines() if " INFO " not in l]   # alembic's log lines
    assert line.startswith(f"error: {bomb}: nothing imported: bomb.xlsx: refused: part "
                           "xl/worksheets/sheet1.xml would unpack "), line
    assert line.endswith("a zip bomb?")
