"""A new book's big tables: every row after the first is written into its sheet by the
builder itself (builder.STREAM_FROM), not held as cells by xlsxwriter until it closes.

The reference is the same book built by xlsxwriter alone (STREAM_FROM out of reach): the two
must hold the same cells — value, type, style, formula — the same tables and the same
dimension, compared in the XML itself (a shared string by its text, not its index)."""
from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from kam_xl import demo, layout as L
from kam_xl.workbook import builder
from kam_xl.workbook.package import read_package

HOSTILE_TEXTS = [
    "A&B <有限> 公司 \"引号\"", "  前后空格  ", "控制\x01字符\x1f", "字面 _x0041_ 转义", "=1+1", "#N/A",
    "表情 😀 客户", "长" * 40000, "", "line\nbreak", "<r>像富文本</r>",
]


def _data(n: int) -> dict:
    data = demo.build_data(n_customers=n, n_visits=3 * n, n_receivables=2 * n, plant=False)
    customers = data[L.CUSTOMERS.name]
    name, note = L.CUSTOMERS.header("name"), L.CUSTOMERS.columns[-1].header
    for i, text in enumerate(HOSTILE_TEXTS):  # texts a legacy file or a user typed, in later rows
        customers[2 + i][name] = text
        customers[3 + i][note] = text
    volume = L.CUSTOMERS.header("volume")
    customers[5][volume] = 0.1 + 0.2
    customers[6][volume] = 1e20
    customers[7][volume] = Decimal("12345.678")
    customers[8][volume] = True
    customers[9][volume] = None
    customers[10][volume] = np.int64(7)  # a number type xlsxwriter takes through float()
    visits = data[L.VISITS.name]
    date = L.VISITS.header("actual_date")
    visits[4][date] = dt.datetime(2026, 3, 5, 14, 30)
    visits[5][date] = dt.date(1900, 3, 1)
    return data


def _cells(path: Path) -> dict[str, dict[str, tuple]]:
    """Sheet → cell reference → (style, type, formula element, value), a shared string's
    value as its text."""
    out = {}
    with zipfile.ZipFile(path) as z:
        sst = [re.sub(r"<[^>]+>", "", m) for m in
               re.findall(r"<si>(.*?)</si>", z.read("xl/sharedStrings.xml").decode(), re.S)]
        for name, part in read_package(z).sheets.items():
            xml = z.read(part).decode()
            cells = {}
            for m in re.finditer(r'<c r="([A-Z]+\d+)"([^>]*?)(?:/>|>(.*?)</c>)', xml, re.S):
                attrs = dict(re.findall(r'(\w+)="([^"]*)"', m[2]))
                inner = m[3] or ""
                f = re.search(r"<f\b[^>]*?(?:/>|>.*?</f>)", inner, re.S)
                v = re.search(r"<v>(.*?)</v>", inner, re.S)
                value = v[1] if v else None
                if attrs.get("t") == "s":
                    value = sst[int(value)]
                cells[m[1]] = (attrs.get("s"), attrs.get("t"), f[0] if f else None, value)
            dims = re.search(r'<dimension ref="([^"]+)"', xml)
            out[name] = {"cells": cells, "dimension": dims[1] if dims else None}
        out["tables"] = {n: z.read(tp.part) for n, tp in read_package(z).tables.items()}
    return out


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    data = _data(60)
    seen: dict[str, int] = {}
    write = builder._streamed_sheet

    def spy(sheet_xml, st, *args):
        seen[st.table.name] = len(st.rows)
        return write(sheet_xml, st, *args)
    builder._streamed_sheet = spy
    try:
        streamed = builder.build_master(folder / "streamed.xlsm", data, demo.demo_settings())
    finally:
        builder._streamed_sheet = write
    # every table with rows had them streamed, the reference none
    assert seen == {name: len(rows) for name, rows in data.items() if len(rows) >= 2}
    assert set(seen) >= {L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name, L.SURVEYS.name}
    keep = builder.STREAM_FROM
    builder.STREAM_FROM = 10 ** 9
    try:
        whole = builder.build_master(folder / "whole.xlsm", data, demo.demo_settings())
    finally:
        builder.STREAM_FROM = keep
    return streamed, whole, data


def test_streamed_rows_are_the_cells_xlsxwriter_writes(books):
    streamed, whole, _ = books
    a, b = _cells(streamed), _cells(whole)
    assert a.keys() == b.keys()
    compared = 0
    for sheet in a:
        if sheet == "tables":
            assert a[sheet] == b[sheet]
            continue
        assert a[sheet]["dimension"] == b[sheet]["dimension"], sheet
        assert a[sheet]["cells"] == b[sheet]["cells"], sheet
        compared += len(a[sheet]["cells"])
    assert compared > 5000


def test_the_streamed_book_reads_back_in_openpyxl_and_calamine(books):
    streamed, whole, data = books
    customers = data[L.CUSTOMERS.name]
    ours, theirs = openpyxl.load_workbook(streamed), openpyxl.load_workbook(whole)
    cal_ours, cal_theirs = CalamineWorkbook.from_path(str(streamed)), CalamineWorkbook.from_path(str(whole))
    for t in (*L.DATA_TABLES, *L.PROCEDURE_TABLES):
        assert ([[c.value for c in r] for r in ours[t.sheet].iter_rows()]
                == [[c.value for c in r] for r in theirs[t.sheet].iter_rows()]), t.sheet
        assert (cal_ours.get_sheet_by_name(t.sheet).to_python()
                == cal_theirs.get_sheet_by_name(t.sheet).to_python()), t.sheet
        assert ours[t.sheet].tables[t.name].ref == theirs[t.sheet].tables[t.name].ref
    ws = ours[L.CUSTOMERS.sheet]
    headers = [c.value for c in ws[1]]
    name_col = headers.index(L.CUSTOMERS.header("name")) + 1
    got = {ws.cell(row=4 + i, column=name_col).value for i in range(len(HOSTILE_TEXTS))}
    assert {"A&B <有限> 公司 \"引号\"", "  前后空格  ", "=1+1", "#N/A", "表情 😀 客户", "line\nbreak",
            "长" * 32767, None} <= got  # Excel's limit of 32,767 characters, cut as xlsxwriter cuts
    tier_col = headers.index(L.CUSTOMERS.header("suggested_tier")) + 1
    assert ws.cell(row=len(customers) + 1, column=tier_col).value.startswith("=")
    assert ws.tables[L.CUSTOMERS.name].ref.endswith(str(len(customers) + 1))
    rows = cal_ours.get_sheet_by_name(L.VISITS.sheet).to_python()
    assert len(rows) == 1 + len(data[L.VISITS.name])
    date_col = rows[0].index(L.VISITS.header("actual_date"))
    assert rows[5][date_col] == dt.datetime(2026, 3, 5, 14, 30)
    assert [r[0] for r in rows[1:]] == [v[L.VISITS.header("id")] for v in data[L.VISITS.name]]
