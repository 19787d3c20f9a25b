"""A master book after a week of ordinary use: each variant edits a fresh book the way
staff (and the programs they use) change it.  Edits are made two ways, as in life:
openpyxl (what a script or another writer does) and direct XML edits that mimic what
Excel, WPS and LibreOffice write (rows typed under a table, totals rows, error cells,
shared formulas, calcChain, x14ac attributes, a header row switched off)."""
from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from pathlib import Path
from typing import Callable

import openpyxl

from kam_xl import layout as L
from kam_xl.workbook.package import col_index, col_letter, parse_ref, read_package
from tests.conftest import good_customer, good_receivable, good_visit, make_book


def base_book(path: Path, date1904: bool = False) -> Path:
    """Five customers (two without a tier, so regrade writes and logs), visits and an
    overdue receivable (so validate fills 催讨级别 and lists findings)."""
    customers = [good_customer(1), good_customer(2, 客户等级=None, 定级日期=None),
                 good_customer(3, 客户等级="B2", 定级日期=None), good_customer(4), good_customer(5)]
    visits = [good_visit(1), good_visit(2, "KH000002")]
    receivables = [good_receivable(1), good_receivable(2, "KH000002", 已回款=0.0, 回款日期=None,
                                                      到期日=dt.date(2026, 9, 1))]
    if date1904:
        from kam_xl.workbook.builder import build_master
        data = {L.CUSTOMERS.name: customers, L.VISITS.name: visits, L.RECEIVABLES.name: receivables}
        return build_master(path, data, {"基准日期": dt.date(2026, 10, 31)}, date1904=True)
    return make_book(path, customers, visits, receivables)


# --------------------------------------------------------------------------- XML edits
def rewrite(book: Path, edits: dict[str, Callable[[bytes], bytes]], add: dict[str, bytes] | None = None) -> None:
    """Rewrite some zip members (another writer saving the book)."""
    with zipfile.ZipFile(book) as z:
        members = [(i, z.read(i.filename)) for i in z.infolist()]
    tmp = book.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in members:
            fn = edits.get(info.filename)
            out.writestr(info.filename, fn(data) if fn else data)
        for name, data in (add or {}).items():
            out.writestr(name, data)
    os.replace(tmp, book)


def parts(book: Path, table: str) -> tuple[str, str, tuple[int, int, int, int]]:
    with zipfile.ZipFile(book) as z:
        tp = read_package(z).tables[table]
    return tp.sheet_part, tp.part, tp.bounds


def sheet_part(book: Path, sheet: str) -> str:
    with zipfile.ZipFile(book) as z:
        return read_package(z).sheets[sheet]


def _cell(ref: str, value) -> str:
    if isinstance(value, str) and value.startswith("="):
        return f'<c r="{ref}"><f>{value[1:]}</f></c>'
    if isinstance(value, tuple):  # (formula, cached)
        f, v = value
        t = ' t="str"' if isinstance(v, str) else ""
        return f'<c r="{ref}"{t}><f>{f}</f><v>{v}</v></c>'
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def add_rows(xml: bytes, rows: dict[int, dict[int, object]]) -> bytes:
    """Rows typed into the sheet (cells merged into existing rows or new rows, in order)."""
    s = xml.decode()
    for rn in sorted(rows):
        cells = "".join(_cell(f"{col_letter(c)}{rn}", v) for c, v in sorted(rows[rn].items()))
        m = re.search(rf'<row r="{rn}"[^>]*?(/?)>', s)
        if m:
            if m[1]:
                s = s[:m.start()] + s[m.start():m.end() - 2] + ">" + cells + "</row>" + s[m.end():]
            else:
                end = s.find("</row>", m.end())
                s = s[:end] + cells + s[end:]  # appended after the row's cells (columns to the right)
            continue
        later = [int(x) for x in re.findall(r'<row r="(\d+)"', s) if int(x) > rn]
        new = f'<row r="{rn}">{cells}</row>'
        if later:
            i = s.find(f'<row r="{min(later)}"')
            s = s[:i] + new + s[i:]
        else:
            s = s.replace("</sheetData>", new + "</sheetData>").replace("<sheetData/>", f"<sheetData>{new}</sheetData>")
    s = re.sub(r'<dimension ref="[^"]*"/>', "", s)
    return s.encode()


def set_cell(xml: bytes, ref: str, cell_xml: str) -> bytes:
    s = xml.decode()
    m = re.search(rf'<c r="{ref}"[^>]*?(/>|>.*?</c>)', s, re.S)
    if m:
        return (s[:m.start()] + cell_xml + s[m.end():]).encode()
    rn = int(re.match(r"[A-Z]+(\d+)", ref)[1])
    return add_rows(xml, {rn: {}}).decode().replace(f'<row r="{rn}"></row>', f'<row r="{rn}">{cell_xml}</row>').encode()


def col_of(table: L.TableDef, key: str) -> int:
    return table.first_col + [c.key for c in table.columns].index(key)


# --------------------------------------------------------------------------- variants
def typed_rows_under_customers(book: Path) -> None:
    """Two customers typed directly under the table (LibreOffice, WPS, paste): not in its ref."""
    part, _, (c1, r1, c2, r2) = parts(book, L.CUSTOMERS.name)
    C = L.CUSTOMERS
    rows = {}
    for k, rn in enumerate((r2 + 1, r2 + 2)):
        rows[rn] = {col_of(C, "id"): f"KH00090{k + 1}", col_of(C, "name"): f"手工录入第{k + 1}有限公司",
                    col_of(C, "manager"): "手工经理", col_of(C, "volume"): 600000, col_of(C, "margin"): 0.1,
                    col_of(C, "credit"): "好", col_of(C, "growth"): "高"}
    rewrite(book, {part: lambda x: add_rows(x, rows)})


def typed_rows_under_visits(book: Path) -> None:
    """Two visits typed directly under the table (dates as Excel serials): not in its ref."""
    part, _, (c1, r1, c2, r2) = parts(book, L.VISITS.name)
    V = L.VISITS
    rows = {}
    for k, rn in enumerate((r2 + 1, r2 + 2)):
        rows[rn] = {col_of(V, "id"): f"BF00090{k + 1}", col_of(V, "customer_id"): "KH000001",
                    col_of(V, "method"): "电话回访", col_of(V, "planned_date"): 46300 + k,
                    col_of(V, "actual_date"): 46300 + k, col_of(V, "staff"): "手工录入", col_of(V, "state"): "已完成",
                    col_of(V, "outcome"): "手工补录的拜访"}
    rewrite(book, {part: lambda x: add_rows(x, rows)})


def note_under(table: L.TableDef, gap: int = 0):
    def edit(book: Path) -> None:
        part, _, (c1, r1, c2, r2) = parts(book, table.name)
        rewrite(book, {part: lambda x: add_rows(x, {r2 + 1 + gap: {c1: "注：本表下方为手工备注，请勿删除"}})})
    edit.__name__ = f"note_under_{table.name.lower()}" + (f"_gap{gap}" if gap else "")
    return edit


def sum_row_under_receivables(book: Path) -> None:
    part, _, (c1, r1, c2, r2) = parts(book, L.RECEIVABLES.name)
    amt = col_letter(col_of(L.RECEIVABLES, "amount"))
    rewrite(book, {part: lambda x: add_rows(x, {r2 + 1: {c1: "合计",
                                                         col_of(L.RECEIVABLES, "amount"): (f"SUM({amt}{r1 + 1}:{amt}{r2})", 200000)}})})


def totals_row(table: L.TableDef, label_key: str, sum_key: str | None = None):
    """Excel's Table Design → Total Row: the ref grows by one row, totalsRowCount=1, a label
    and a SUBTOTAL formula in the new row."""
    def edit(book: Path) -> None:
        part, tpart, (c1, r1, c2, r2) = parts(book, table.name)
        tr = r2 + 1
        label_col = col_of(table, label_key)
        cells = {label_col: "汇总"}
        if sum_key:
            h = table.header(sum_key)
            cells[col_of(table, sum_key)] = (f"SUBTOTAL(109,{table.name}[{h}])", 0)

        def tx(x: bytes) -> bytes:
            s = x.decode()
            s = re.sub(r'(<table\b[^>]*?\bref=")[^"]*"', lambda m: m[1] + f'{col_letter(c1)}{r1}:{col_letter(c2)}{tr}"',
                       s, count=1)
            s = s.replace("<table ", '<table totalsRowCount="1" ', 1)
            s = s.replace(f'name="{table.header(label_key)}"', f'name="{table.header(label_key)}" totalsRowLabel="汇总"', 1)
            if sum_key:
                s = s.replace(f'name="{table.header(sum_key)}"', f'name="{table.header(sum_key)}" totalsRowFunction="sum"', 1)
            return s.encode()
        rewrite(book, {part: lambda x: add_rows(x, {tr: cells}), tpart: tx})
    edit.__name__ = f"totals_row_{table.name.lower()}"
    return edit


def error_cells(book: Path) -> None:
    """What Excel without the add-in and a few broken formulas leave behind."""
    C = L.CUSTOMERS
    part, _, (c1, r1, c2, r2) = parts(book, C.name)
    vol = col_letter(col_of(C, "volume"))
    tier = col_letter(col_of(C, "suggested_tier"))

    def edit(x: bytes) -> bytes:
        for r in range(r1 + 1, r2 + 1):  # the calculated column shows #NAME? everywhere
            x = set_cell(x, f"{tier}{r}", f'<c r="{tier}{r}" t="e"><f>KAM_TIER(J{r},L{r},K{r},M{r})</f><v>#NAME?</v></c>')
        x = set_cell(x, f"{vol}{r1 + 3}", f'<c r="{vol}{r1 + 3}" t="e"><f>VLOOKUP(A1,B1,3,0)</f><v>#N/A</v></c>')
        right = col_letter(c2 + 2)
        return set_cell(x, f"{right}{r1 + 1}", f'<c r="{right}{r1 + 1}" t="e"><f>SEQUENCE(3)</f><v>#SPILL!</v></c>')
    rpart, _, (rc1, rr1, rc2, rr2) = parts(book, L.RECEIVABLES.name)
    note = col_letter(col_of(L.RECEIVABLES, "note"))
    rewrite(book, {part: edit, rpart: lambda x: set_cell(x, f"{note}{rr1 + 1}",
                                                         f'<c r="{note}{rr1 + 1}" t="e"><f>LAMBDA(x,x)</f><v>#CALC!</v></c>')})


def input_formulas(book: Path) -> None:
    """年用量 typed as a formula: one with Excel's cached result, one saved without a result."""
    C = L.CUSTOMERS
    part, _, (c1, r1, c2, r2) = parts(book, C.name)
    vol = col_letter(col_of(C, "volume"))
    rewrite(book, {part: lambda x: set_cell(set_cell(
        x, f"{vol}{r1 + 2}", f'<c r="{vol}{r1 + 2}"><f>400000*2</f><v>800000</v></c>'),
        f"{vol}{r1 + 4}", f'<c r="{vol}{r1 + 4}"><f>400000*2</f></c>')})


def shared_formula_in_tier(book: Path) -> None:
    """客户等级 filled by a formula pasted down (=建议等级), which Excel saves as one shared
    formula: the master cell in the first row, the others pointing at it by si."""
    C = L.CUSTOMERS
    part, _, (c1, r1, c2, r2) = parts(book, C.name)
    t = col_letter(col_of(C, "tier"))
    s = col_letter(col_of(C, "suggested_tier"))

    def edit(x: bytes) -> bytes:
        first = r1 + 1
        # the next free shared-formula index, as Excel numbers them (the calculated columns use some)
        si = max([int(v) for v in re.findall(rb'\bsi="(\d+)"', x)] + [-1]) + 1
        x = set_cell(x, f"{t}{first}", f'<c r="{t}{first}" t="str"><f t="shared" ref="{t}{first}:{t}{r2}" si="{si}">'
                                         f'{s}{first}</f><v>C</v></c>')  # a stale value: regrade rewrites it
        for r in range(first + 1, r2 + 1):
            x = set_cell(x, f"{t}{r}", f'<c r="{t}{r}" t="str"><f t="shared" si="{si}"/><v>A1</v></c>')
        return x
    rewrite(book, {part: edit})


def calc_chain(book: Path) -> None:
    """Excel's calcChain.xml listing the formula cells of the receivables sheet."""
    part = sheet_part(book, L.SHEET_RECEIVABLES)
    with zipfile.ZipFile(book) as z:
        names = list(read_package(z).sheets)
        xml = z.read(part).decode()
    sheet_id = names.index(L.SHEET_RECEIVABLES) + 1
    refs = re.findall(r'<c r="([A-Z]+\d+)"[^>]*>\s*<f>', xml)
    chain = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<calcChain xmlns="http://schemas.openxml'
             'formats.org/spreadsheetml/2006/main">' + "".join(f'<c r="{r}" i="{sheet_id}"/>' for r in refs) + "</calcChain>")

    def rels(x: bytes) -> bytes:
        return x.replace(b"</Relationships>", b'<Relationship Id="rId999" Type="http://schemas.openxmlformats.org/'
                         b'officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>')

    def types(x: bytes) -> bytes:
        return x.replace(b"</Types>", b'<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.'
                         b'openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>')
    rewrite(book, {"xl/_rels/workbook.xml.rels": rels, "[Content_Types].xml": types},
            add={"xl/calcChain.xml": chain.encode()})


def x14ac_rows(book: Path) -> None:
    """Excel 2010+ writes rows with x14ac:dyDescent under mc:Ignorable."""
    part = sheet_part(book, L.SHEET_CUSTOMERS)

    def edit(x: bytes) -> bytes:
        s = x.decode()
        s = s.replace('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"',
                      '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                      'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac" '
                      'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"', 1)
        s = re.sub(r'<row r="(\d+)"', r'<row r="\1" x14ac:dyDescent="0.25"', s)
        return s.encode()
    rewrite(book, {part: edit})


def fullwidth_header(book: Path) -> None:
    """年用量(元) typed again as 年用量（元） (a Chinese input method's brackets), and a space."""
    C = L.CUSTOMERS
    part, tpart, (c1, r1, c2, r2) = parts(book, C.name)
    ref = f"{col_letter(col_of(C, 'volume'))}{r1}"
    rewrite(book, {part: lambda x: set_cell(x, ref, f'<c r="{ref}" t="inlineStr"><is><t>年用量（元）</t></is></c>'),
                   tpart: lambda x: x.replace("name=\"年用量(元)\"".encode(), "name=\"年用量（元）\"".encode())
                   .replace("name=\"回款信誉\"".encode(), "name=\"回款 信誉\"".encode())})
    hdr = f"{col_letter(col_of(C, 'credit'))}{r1}"
    rewrite(book, {part: lambda x: set_cell(x, hdr, f'<c r="{hdr}" t="inlineStr"><is><t>回款 信誉</t></is></c>')})


def header_row_off(book: Path) -> None:
    """Table Design → Header Row unticked: Excel drops the header cells and the ref starts below."""
    part, tpart, (c1, r1, c2, r2) = parts(book, L.CUSTOMERS.name)

    def tx(x: bytes) -> bytes:
        s = x.decode()
        s = re.sub(r'(<table\b[^>]*?\bref=")[^"]*"', lambda m: m[1] + f'{col_letter(c1)}{r1 + 1}:{col_letter(c2)}{r2}"',
                   s, count=1)
        s = s.replace("<table ", '<table headerRowCount="0" ', 1)
        return re.sub(r"<autoFilter[^>]*/>", "", s).encode()
    rewrite(book, {tpart: tx, part: lambda x: re.sub(rb'<row r="%d"[^>]*>.*?</row>' % r1, b"", x, count=1, flags=re.S)})


def openpyxl_roundtrip(book: Path) -> None:
    """Another program's save: shared strings, and formulas without cached results."""
    wb = openpyxl.load_workbook(book, keep_vba=True)
    wb.save(book)


def sorted_and_hidden(book: Path) -> None:
    """Customers sorted by name descending (values moved), one row hidden by a filter."""
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[L.SHEET_CUSTOMERS]
    c1, r1, c2, r2 = parse_ref(ws.tables[L.CUSTOMERS.name].ref)
    rows = [[ws.cell(r, c + 1).value for c in range(c1, c2 + 1)] for r in range(r1 + 1, r2 + 1)]
    rows.sort(key=lambda r: r[1], reverse=True)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            ws.cell(r1 + 1 + i, c1 + 1 + j, v)
    ws.row_dimensions[r1 + 2].hidden = True
    wb.save(book)


def user_column(book: Path) -> None:
    from tests.helpers import add_user_column
    add_user_column(book, L.SHEET_CUSTOMERS, L.CUSTOMERS.name, "大区负责人", ["甲", "乙", "丙", "丁", "戊"])


def mode_0640(book: Path) -> None:
    os.chmod(book, 0o640)


def read_only(book: Path) -> None:
    os.chmod(book, 0o444)


def excel_lock(book: Path) -> None:
    book.with_name("~$" + book.name).write_bytes(b"\x0cuser")


def libreoffice_lock(book: Path) -> None:
    book.with_name(".~lock." + book.name + "#").write_text("user,host,/home/user,02.12.2026 09:00,file:///;")


VARIANTS = [
    typed_rows_under_customers,
    note_under(L.GRADE_LOG), note_under(L.ISSUES, gap=1), note_under(L.CUSTOMERS),
    sum_row_under_receivables,
    totals_row(L.GRADE_LOG, "customer_id"), totals_row(L.ISSUES, "severity"),
    totals_row(L.CUSTOMERS, "id", "volume"), totals_row(L.RECEIVABLES, "id", "amount"),
    error_cells, input_formulas, shared_formula_in_tier, calc_chain, x14ac_rows,
    fullwidth_header, header_row_off, openpyxl_roundtrip, sorted_and_hidden, user_column,
    mode_0640, read_only, excel_lock, libreoffice_lock,
]


def both_ways(tmp_path: Path, variant: Callable[[Path], None], switch: Callable[[bool], None],
              run: Callable[[Path, Path], object]) -> list:
    """run(book, folder) on the same lived-in book (base_book, then `variant`) twice, in folders of their
    own: with the path under test off (switch(False)), then on (switch(True))."""
    out = []
    for on in (False, True):
        folder = tmp_path / ("on" if on else "off")
        folder.mkdir()
        book = base_book(folder / "大客户管理.xlsm")
        variant(book)
        switch(on)
        out.append(run(book, folder))
    return out


def cleanup_locks(book: Path) -> None:
    for p in (book.with_name("~$" + book.name), book.with_name(".~lock." + book.name + "#")):
        p.unlink(missing_ok=True)
    os.chmod(book, 0o644)


def cells_of(path: Path) -> dict[tuple[str, str], object]:
    """Every cell of every sheet as openpyxl reads it (formulas as text)."""
    wb = openpyxl.load_workbook(path, keep_vba=True)
    out = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    out[(ws.title, c.coordinate)] = c.value
    return out


def table_refs(path: Path) -> dict[str, tuple[str, tuple[int, int, int, int]]]:
    with zipfile.ZipFile(path) as z:
        pkg = read_package(z)
    return {n: (t.sheet, t.bounds) for n, t in pkg.tables.items()}


def cell_rc(coord: str) -> tuple[int, int]:
    m = re.fullmatch(r"([A-Z]+)(\d+)", coord)
    return int(m[2]), col_index(m[1])
