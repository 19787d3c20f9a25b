"""The column reader (workbook/columns.py) and the streamed sheet patch (engine.patch_sheet_stream,
rawzip streaming): both are used only on big sheets, so here their thresholds are set to zero and
every result is held to the one the fastexcel read and the whole-sheet patch give, on books after
ordinary use (tests/variants.py), the demo book, books saved by real Excel, books written by
openpyxl, and XML the way other writers write it."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.table import Table as XlTable

from kam_xl import layout as L
from kam_xl.errors import WorkbookUnreadable
from kam_xl.workbook import columns, engine, rawzip, store as store_mod
from kam_xl.workbook.package import read_package
from kam_xl.workbook.store import FileStore
from kam_xl.workbook.tables import Changes
from tests.conftest import good_customer, good_visit, make_book
from tests.variants import VARIANTS, base_book, cleanup_locks, parts, rewrite, set_cell

# workbooks saved by real Excel, when the repository sits beside shared/ (used when there, skipped when not)
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "excel-saved"


def _subsets(headers: list[str]) -> list[list[str]]:
    """Each column alone, the first two, the id with the last one, and four spread out."""
    out = [[h] for h in headers]
    if len(headers) > 1:
        out += [headers[:2], [headers[0], headers[-1]]]
    if len(headers) > 4:
        out.append(headers[::max(1, len(headers) // 4)][:4])
    return out


def _read_all(path: Path, via_columns: bool, monkeypatch) -> dict:
    """Every table, every column subset, exact and not, through FileStore.read."""
    monkeypatch.setattr(columns, "MIN_BYTES", 0 if via_columns else 1 << 62)
    used = []
    real = columns.Source.load

    def counting(self, *a, **k):
        got = real(self, *a, **k)
        used.append(1)
        return got
    monkeypatch.setattr(columns.Source, "load", counting)
    out = {}
    store = FileStore(path)
    with store:
        for name, tp in store.pkg.tables.items():
            if tp.header_rows == 0:
                continue
            for cols, exact in itertools.product(_subsets([str(h) for h in tp.columns]), (False, True)):
                t = store.read([name], {name: cols}, exact=[name] if exact else ())[name]
                out[name, tuple(cols), exact] = (t.headers, [[(type(v), v) for v in r] for r in t.rows],
                                                 t.exact, t.body_rows, len(t.rows))
    monkeypatch.setattr(columns.Source, "load", real)
    return out, len(used)


def _same_reads(path: Path, monkeypatch, expect_used: bool = True) -> None:
    fast, _ = _read_all(path, False, monkeypatch)
    mine, used = _read_all(path, True, monkeypatch)
    assert fast.keys() == mine.keys()
    for key in fast:
        assert mine[key] == fast[key], f"{path.name}: {key}"
    if expect_used:
        assert used, f"{path.name}: the column reader was never used"


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.__name__ not in
                                     ("mode_0640", "read_only", "excel_lock", "libreoffice_lock")],
                         ids=lambda v: v.__name__)
def test_same_values_as_fastexcel_after_ordinary_use(tmp_path, variant, monkeypatch):
    book = base_book(tmp_path / "book.xlsm")
    variant(book)
    try:
        _same_reads(book, monkeypatch)
    finally:
        cleanup_locks(book)


def test_same_values_on_the_demo_book(demo_book, monkeypatch):
    _same_reads(demo_book, monkeypatch)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the reference books are beside the repository, not in it")
@pytest.mark.parametrize("name", ["inventory-table.xlsx", "table-multiple.xlsx",
                                  "table_with_insertrow_attribute.xlsx", "temperature-table.xlsx"])
def test_same_values_on_books_saved_by_excel(tmp_path, name, monkeypatch):
    book = tmp_path / name
    shutil.copy2(REFERENCE / name, book)
    _same_reads(book, monkeypatch)


def test_same_values_on_a_book_openpyxl_wrote(tmp_path, monkeypatch):
    """openpyxl writes inline strings as shared strings, dates with its own number format,
    booleans, empty strings and formulas without a value."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "数据"
    ws.append(["编号", "名称", "日期", "金额", "是否", "备注"])
    for i in range(1, 40):
        ws.append([f"X{i:04d}", f"名称&<{i}>" if i % 3 else "", dt.datetime(2026, 1, 1) + dt.timedelta(days=i),
                   i * 1.5 if i % 4 else None, i % 2 == 0, f"=A{i + 1}&\"-\"" if i % 5 == 0 else f"注{i}"])
    ws.cell(3, 3).number_format = "yyyy\"年\"m\"月\"d\"日\""
    ws.add_table(XlTable(displayName="T1", ref="A1:F40"))
    book = tmp_path / "openpyxl.xlsx"
    wb.save(book)
    _same_reads(book, monkeypatch)


def _strings_book(tmp_path: Path) -> Path:
    """Shared strings the way Excel writes them: rich text runs, phonetic guides, entities,
    character references, an empty string, xml:space; inline strings and str formulas."""
    book = base_book(tmp_path / "book.xlsm")
    sheet, _, (c1, r1, c2, r2) = parts(book, L.VISITS.name)
    with zipfile.ZipFile(book) as z:
        sst = z.read("xl/sharedStrings.xml")
    extra = [b"<si><r><rPr><b/></rPr><t>\xe5\xae\x9e\xe5\x9c\xb0</t></r><r><t xml:space=\"preserve\"> \xe6\x8b\x9c\xe8\xae\xbf</t></r></si>",
             b"<si><t>\xe7\x8e\x8b\xe5\xbc\xba</t><rPh sb=\"0\" eb=\"2\"><t>\xe3\x83\xaf\xe3\x83\xb3</t></rPh></si>",
             b"<si><t>A &amp; B &lt;C&gt; &#x4E2D;&#25991;</t></si>",
             b"<si><t/></si>"]
    count = sst.count(b"<si>") + sst.count(b"<si/>")
    sst = sst.replace(b"</sst>", b"".join(extra) + b"</sst>")
    row = r1 + 1
    cells = {
        f"F{row}": f'<c r="F{row}" t="s"><v>{count}</v></c>',
        f"H{row}": f'<c r="H{row}" t="s"><v>{count + 1}</v></c>',
        f"I{row}": f'<c r="I{row}" t="s"><v>{count + 2}</v></c>',
        f"J{row}": f'<c r="J{row}" t="s"><v>{count + 3}</v></c>',
        f"K{row + 1}": f'<c r="K{row + 1}" t="inlineStr"><is><r><t>内联</t></r><r><t>文本</t></r></is></c>',
        f"L{row + 1}": f'<c r="L{row + 1}" t="str"><f>"a"&amp;"b"</f><v>a&amp;b</v></c>',
    }

    def edit(xml: bytes) -> bytes:
        for ref, c in cells.items():
            xml = set_cell(xml, ref, c)
        return xml
    rewrite(book, {sheet: edit, "xl/sharedStrings.xml": lambda _: sst})
    return book


def test_rich_text_phonetics_entities_and_inline_strings(tmp_path, monkeypatch):
    book = _strings_book(tmp_path)
    _same_reads(book, monkeypatch)
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    with FileStore(book) as s:
        t = s.read([L.VISITS.name], {L.VISITS.name: ["地点", "拜访对象", "拜访目的", "拜访内容"]})[L.VISITS.name]
    assert t.rows[0] == ["实地 拜访", "王强", "A & B <C> 中文", None]


def test_a_broken_shared_string_table_is_cut_as_the_element_regex_cuts_it():
    for sst in (b"<sst><si><t>a</si>x</t></si><si><t>b</t></si></sst>", b"<sst><si><t>a</t></si><si><t>b</t></sst>",
                b"<sst></si><si><t>a</t></si></sst>", b"<sst><si><t>a</t></si></si><si><t>b</t></si></sst>"):
        assert columns._si_bodies(sst) == columns.SI.findall(sst), sst


@pytest.mark.parametrize("how", ["as_written", "pretty", "attribute", "empty_entry", "nothing"])
def test_the_shared_string_table_is_cut_the_same_whatever_its_writer_did(tmp_path, how, monkeypatch):
    """The common table is cut at its joints, any other goes through the element regex: the same
    entries either way, and the same values read."""
    book = _strings_book(tmp_path)
    with zipfile.ZipFile(book) as z:
        sst = z.read("xl/sharedStrings.xml")
    edited = {"as_written": sst,
              "pretty": sst.replace(b"</si><si>", b"</si>\n  <si>"),
              "attribute": sst.replace(b"<si>", b'<si xmlns:x="urn:x">', 1),
              "empty_entry": sst.replace(b"<si><t/></si>", b"<si/>"),
              "nothing": re.sub(rb"<si>.*</si>", b"", sst, flags=re.S)}[how]
    assert columns._si_bodies(edited) == columns.SI.findall(edited)
    if how != "nothing":  # (a table without its entries is a broken book)
        rewrite(book, {"xl/sharedStrings.xml": lambda _: edited})
        _same_reads(book, monkeypatch)


def _fallback_book(tmp_path: Path, how: str) -> Path:
    book = base_book(tmp_path / f"{how}.xlsm")
    sheet, _, (c1, r1, c2, r2) = parts(book, L.VISITS.name)
    row = r1 + 1
    if how == "mixed":  # a number typed in a text column, a text in a date column
        edit = lambda x: set_cell(set_cell(x, f"H{row}", f'<c r="H{row}"><v>42</v></c>'),
                                  f"D{row + 1}", f'<c r="D{row + 1}" t="inlineStr"><is><t>待定</t></is></c>')
    elif how == "no_ref":  # cells without their reference (allowed; some writers do it)
        edit = lambda x: x.replace(f'<c r="I{row}" '.encode(), b'<c ')
    elif how == "attribute_first":  # the reference after another attribute (legal XML, any order)
        edit = lambda x: re.sub(rf'<c r="(I{row})"( [^>]*?)>'.encode(), rb'<c\2 r="\1">', x)
    elif how == "other_space":  # a tab between the tag's name and its reference (legal XML)
        edit = lambda x: x.replace(f'<c r="I{row}"'.encode(), f'<c\tr="I{row}"'.encode())
    elif how == "prefixed":  # the main namespace bound to a prefix for the cells only (legal XML)
        def edit(x: bytes) -> bytes:
            x = x.replace(b"<worksheet ", b'<worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ', 1)
            return re.sub(rb"<(/?)(c|v|is|t)\b", rb"<\1x:\2", x)
    elif how == "escape":
        edit = lambda x: set_cell(x, f"I{row}", f'<c r="I{row}" t="inlineStr"><is><t>第一行_x000D_第二行</t></is></c>')
    elif how == "time":
        edit = lambda x: set_cell(x, f"D{row}", f'<c r="D{row}" s="{_date_style(book)}"><v>46000.5</v></c>')
    else:
        raise AssertionError(how)
    rewrite(book, {sheet: edit})
    return book


def _date_style(book: Path) -> int:
    src = columns.Source(str(book))
    with zipfile.ZipFile(book) as z:
        return src.styles(z).index("date")


@pytest.mark.parametrize("how", ["mixed", "no_ref", "attribute_first", "other_space", "prefixed", "escape", "time"])
def test_what_it_does_not_type_like_calamine_goes_to_fastexcel(tmp_path, how, monkeypatch):
    book = _fallback_book(tmp_path, how)
    _same_reads(book, monkeypatch)
    sheet, _, (c1, r1, c2, r2) = parts(book, L.VISITS.name)
    with zipfile.ZipFile(book) as z:
        tp = read_package(z).tables[L.VISITS.name]
    src = columns.Source(str(book))
    cols = {"mixed": [7, 3], "no_ref": [8], "attribute_first": [8], "other_space": [8], "prefixed": [0],
            "escape": [8], "time": [3]}[how]
    with pytest.raises(columns.Unusual):
        for c in cols:
            src.load(sheet, c1, r1, tp.data_end - r1, [c], [c])


def test_number_formats():
    assert columns.format_kind("yyyy-mm-dd") == "date"
    assert columns.format_kind('yyyy"年"m"月"d"日"') == "date"
    assert columns.format_kind("[$-804]yyyy/m/d") == "date"
    assert columns.format_kind("[h]:mm:ss") == "duration"
    assert columns.format_kind('#,##0.00"元"') == "number"
    assert columns.format_kind('"day"0') == "number"
    assert columns.format_kind("0.00_);[Red](0.00)") == "number"
    assert columns.format_kind("[Red]#,##0;[Blue]-#,##0") == "number"


def test_a_1904_book_is_read_by_fastexcel(tmp_path):
    book = base_book(tmp_path / "b1904.xlsm", date1904=True)
    with zipfile.ZipFile(book) as z:
        pkg = read_package(z)
    assert not columns.Source(str(book), pkg.date1904).suits(pkg.tables[L.VISITS.name].sheet_part, 1)


def test_rows_below_the_table_and_an_exact_end(tmp_path, monkeypatch):
    """Trailing blank table rows, a row with a value only in a column not read, a note below."""
    visits = [good_visit(i) for i in range(1, 8)]
    book = make_book(tmp_path / "b.xlsm", visits=visits)
    sheet, tpart, (c1, r1, c2, r2) = parts(book, L.VISITS.name)
    last = r2

    def edit(xml: bytes) -> bytes:
        for col in "ABCDEFGHIJKLMNOPQR":
            xml = set_cell(xml, f"{col}{last}", "")  # the last row blank, the one above it
            if col != "R":
                xml = set_cell(xml, f"{col}{last - 1}", "")  # with nothing but a 备注
        xml = set_cell(xml, f"R{last - 1}", f'<c r="R{last - 1}" t="inlineStr"><is><t>只有备注</t></is></c>')
        return set_cell(xml, f"B{last + 3}", f'<c r="B{last + 3}" t="inlineStr"><is><t>表外的说明</t></is></c>')
    rewrite(book, {sheet: edit})
    _same_reads(book, monkeypatch)
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    with FileStore(book) as s:
        t = s.read([L.VISITS.name], {L.VISITS.name: ["拜访编号"]}, exact=[L.VISITS.name])[L.VISITS.name]
    assert len(t.rows) == 6 and t.rows[-1] == [None]


# --------------------------------------------------------------------------- the streamed patch
def _sheet_edits(xml: bytes) -> list[dict[int, dict[int, object]]]:
    rows = [int(x) for x in re.findall(rb'<row r="(\d+)"', xml)]
    last = max(rows)
    return [
        {rows[min(1, len(rows) - 1)]: {0: "改"}, last: {2: 3.5}},
        {last + 1: {0: "新", 3: dt.date(2026, 11, 20)}, last + 2: {0: "新2"}},
        {rows[0]: {1: None}, rows[min(2, len(rows) - 1)]: {1: engine.DELETE}, last + 5: {4: True}},
        {r: {0: f"批{r}"} for r in rows[1:]},
    ]


@pytest.mark.parametrize("chunk", [64, 997, 1 << 20])
def test_streamed_patch_equals_the_whole_sheet_patch(tmp_path, chunk, monkeypatch):
    book = base_book(tmp_path / "book.xlsm")
    with zipfile.ZipFile(book) as z:
        pkg = read_package(z)
        xmls = {p: z.read(p) for p in {t.sheet_part for t in pkg.tables.values()}}
    some = xmls[next(iter(xmls))]
    xmls["empty"] = some[:some.find(b"<sheetData")] + b"<sheetData/>" + some[some.find(b"</sheetData>") + 12:]
    monkeypatch.setattr(engine, "STREAM_CHUNK", chunk)
    for part, xml in xmls.items():
        for rows in _sheet_edits(xml) if part != "empty" else [{3: {0: "a"}}]:
            whole = b"".join(engine.patch_sheet_chunks(xml, rows, (200, 20)))
            streamed = b"".join(engine.patch_sheet_stream(io.BytesIO(xml).read, rows, (200, 20)))
            assert streamed == whole, (part, rows)


def test_a_streamed_member_is_a_valid_zip_member(tmp_path, monkeypatch):
    """Blocks deflated apart and joined: zipfile, openpyxl and calamine read the result."""
    book = base_book(tmp_path / "book.xlsm")
    monkeypatch.setattr(rawzip, "STREAM_BLOCK", 5000)
    sheet, _, _ = parts(book, L.CUSTOMERS.name)
    with zipfile.ZipFile(book) as z:
        xml = z.read(sheet)
    out = tmp_path / "out.xlsm"
    rawzip.copy_with_replacements(str(book), str(out), {sheet: iter([xml[i:i + 777] for i in range(0, len(xml), 777)])})
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        assert z.read(sheet) == xml
    assert openpyxl.load_workbook(out, keep_vba=True)["客户档案"]["A2"].value == "KH000001"
    import python_calamine
    assert python_calamine.CalamineWorkbook.from_path(str(out)).get_sheet_by_name("客户档案").to_python()[1][0] == "KH000001"


def _action_results(book: Path, streamed: bool, monkeypatch) -> dict:
    monkeypatch.setattr(store_mod, "STREAM_PART", 0 if streamed else 1 << 62)
    monkeypatch.setattr(columns, "MIN_BYTES", 0 if streamed else 1 << 62)
    from kam_xl.files import run_regrade, run_validate
    run_regrade(book)
    run_validate(book)
    s = FileStore(book)
    with s:
        s.write(Changes(updates={L.VISITS.name: {(0, "备注"): "流式"}},
                        appends={L.VISITS.name: [good_visit(90, 拜访编号="BF000090")]}))
    with zipfile.ZipFile(book) as z:
        return {n: z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/") or n.startswith("xl/tables/")}


def test_actions_write_the_same_book_streamed(tmp_path, monkeypatch):
    a, b = base_book(tmp_path / "a.xlsm"), tmp_path / "b.xlsm"
    shutil.copy2(a, b)
    streamed = _action_results(a, True, monkeypatch)
    whole = _action_results(b, False, monkeypatch)
    # the run times in the logs (serials with a time of day) and the status line
    stamp = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?|<v>\d{5}\.\d+</v>")
    assert streamed.keys() == whole.keys()
    for n in streamed:
        assert stamp.sub(b"T", streamed[n]) == stamp.sub(b"T", whole[n]), n
    assert openpyxl.load_workbook(a, keep_vba=True)["拜访记录"]["A4"].value == "BF000090"


def test_a_part_that_fails_mid_stream_leaves_the_book_as_it_was(tmp_path, monkeypatch):
    book = base_book(tmp_path / "book.xlsm")
    before = book.read_bytes()
    monkeypatch.setattr(store_mod, "STREAM_PART", 0)

    def broken(read, rows, last, date1904=False):
        yield read(100)
        raise ValueError("inflate failed")
    monkeypatch.setattr(engine, "patch_sheet_stream", broken)
    s = FileStore(book)
    with pytest.raises(WorkbookUnreadable) as e:
        with s:
            s.write(Changes(updates={L.VISITS.name: {(0, "备注"): "x"}}))
    assert "book.xlsm" in str(e.value) and "inflate failed" in str(e.value)  # the file and the cause, named
    assert book.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_a_second_read_thread_closing_leaves_the_shared_strings_to_the_store(demo_book, monkeypatch):
    """The last-visit view is read on a second thread by a view of the store (concurrent());
    when the view closes, the strings the two share stay for the store's own reads."""
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    made = []
    real = columns.Strings.__init__

    def counting(self, data):
        made.append(1)
        real(self, data)
    monkeypatch.setattr(columns.Strings, "__init__", counting)
    store = FileStore(demo_book)
    with store:
        view = store.concurrent()
        got = view.read([L.VISITS.name], {L.VISITS.name: ["客户编号", "实际日期", "状态"]})[L.VISITS.name]
        view.close()
        mine = store.read([L.RECEIVABLES.name], {L.RECEIVABLES.name: ["单据号", "金额"]})[L.RECEIVABLES.name]
    assert got.rows and mine.rows
    assert len(made) == 1


def test_the_scan_reads_shared_strings_as_the_column_reader_does(tmp_path):
    """Text below a table (typed rows, notes) is read through the same string decoding: entities,
    character references and rich-text runs resolved, phonetic guides left out."""
    from kam_xl.workbook import scan
    book = _strings_book(tmp_path)
    got = scan.shared_strings(str(book))
    assert got[-4:] == ["实地 拜访", "王强", "A & B <C> 中文", ""]


def test_a_read_from_the_xml_alone_opens_no_fastexcel_reader(demo_book, monkeypatch):
    """The visits view's thread reads three columns from the sheet's XML: it must not parse the
    book's shared strings into a fastexcel reader it never uses (80 MB and 0.4 s at 100k); the
    store's own reader is opened when a sheet is first loaded through it, once."""
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    opened = []
    real = engine.open_reader
    monkeypatch.setattr(engine, "open_reader", lambda path: opened.append(path) or real(path))
    store = FileStore(demo_book)
    with store:
        view = store.concurrent()
        got = view.read([L.VISITS.name], {L.VISITS.name: ["客户编号", "实际日期", "状态"]})[L.VISITS.name]
        view.close()
        assert got.rows and opened == []
        monkeypatch.setattr(columns, "MIN_BYTES", 1 << 62)  # now through fastexcel
        for name in (L.RECEIVABLES.name, L.VISITS.name):
            assert store.read([name])[name].rows
    assert len(opened) == 1
