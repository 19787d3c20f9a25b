"""Every action on a book after ordinary use (tests/variants.py): each ends either done and
correct, or refused clearly with the file byte-identical — and no action changes a cell it
does not own.  What the product writes is checked by Microsoft's Open XML SDK validator."""
from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.workbook.package import read_package
from tests import variants as V
from tests.tools import ooxml

ACTIONS = ("regrade", "validate", "report", "import")
REFUSED = {  # variant → the actions that must refuse (everything else must be done)
    "note_under_gradelog": {"regrade"},
    "note_under_issues": {"validate"},
    "note_under_customers": {"import"},
    "header_row_off": set(ACTIONS),
    "read_only": {"regrade", "validate", "import"},
    "excel_lock": {"regrade", "validate", "import"},
    "libreoffice_lock": {"regrade", "validate", "import"},
}
# what each action may write: table → columns (None: every column of the table)
OWNED = {
    "regrade": {L.CUSTOMERS.name: {L.CUSTOMERS.header("tier"), L.CUSTOMERS.header("graded_on"),
                                   L.CUSTOMERS.header("derived_credit"), L.CUSTOMERS.header("suggested_tier")},
                L.GRADE_LOG.name: None},
    "validate": {L.ISSUES.name: None, L.RECEIVABLES.name: {L.RECEIVABLES.header("dunning_level")},
                 L.CUSTOMERS.name: {L.CUSTOMERS.header("satisfaction"),  # the latest survey's score
                                    L.CUSTOMERS.header("derived_credit"), L.CUSTOMERS.header("suggested_tier")}},
    "report": {},
    "import": {L.CUSTOMERS.name: None, L.VISITS.name: None, L.RECEIVABLES.name: None, L.IMPORT_LOG.name: None},
}
OUTPUTS: list[tuple[Path, Path]] = []  # (book given, book the product wrote), for the validator


def _legacy_csv(folder: Path) -> Path:
    p = folder / "旧客户.csv"
    p.write_text("客户名称,年用量,回款情况\n新导入一号有限公司,30万,好\n新导入二号有限公司,5万,一般\n", encoding="utf-8")
    return p


def _run(action: str, book: Path, folder: Path, capsys) -> tuple[int, str, str]:
    args = {"regrade": ["regrade", str(book), "-v"],
            "validate": ["validate", str(book), "--json"],
            "report": ["report", str(book), "--out", str(folder / "报表")],
            "import": ["import", str(book), str(_legacy_csv(folder))]}[action]
    capsys.readouterr()
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _owned(action: str, sheet: str, coord: str, refs_before, refs_after, headers) -> bool:
    if (sheet, coord) == (L.SHEET_HOME, L.HOME_STATUS_CELL):
        return action != "report"
    r, c = V.cell_rc(coord)
    for table, cols in OWNED[action].items():
        for refs in (refs_before, refs_after):
            tsheet, (c1, r1, c2, r2) = refs[table]
            if tsheet == sheet and r1 < r <= r2 and c1 <= c <= c2:
                if cols is None or headers[table][c - c1] in cols:
                    return True
    return False


def _makes_typed_row_whole(action, sheet, coord, before_value, refs_before, refs_after, headers) -> bool:
    """PRODUCT.md §2: a row typed directly under a table and taken in gets, from every action
    that writes, its id where it was blank and its calculated columns (formula and value)."""
    if action == "report" or before_value is not None:
        return False
    r, c = V.cell_rc(coord)
    for table, (tsheet, (c1, r1, c2, r2)) in refs_after.items():
        tdef = L.TABLES.get(table)
        old_end = refs_before[table][1][3] if table in refs_before else r2
        if tdef is None or tsheet != sheet or not (old_end < r <= r2 and c1 <= c <= c2):
            continue
        header = headers[table][c - c1]
        made = {col.header for col in tdef.columns if col.formula}
        if tdef.id_key:
            made.add(tdef.header(tdef.id_key))
        return header in made
    return False


def _check_ownership(action, before: Path, after: Path, before_cells) -> None:
    after_cells = V.cells_of(after)
    refs_b, refs_a = V.table_refs(before), V.table_refs(after)
    with zipfile.ZipFile(after) as z:
        headers = {n: t.columns for n, t in read_package(z).tables.items()}
    with zipfile.ZipFile(before) as z:
        data_end = read_package(z).tables[L.CUSTOMERS.name].data_end  # the totals row may move
    bad = []
    for key in set(before_cells) | set(after_cells):
        b, a = before_cells.get(key), after_cells.get(key)
        if b == a:
            continue
        if not _owned(action, *key, refs_b, refs_a, headers) and \
                not _makes_typed_row_whole(action, *key, b, refs_b, refs_a, headers):
            bad.append((key, b, a))
        elif action == "import" and b is not None and key[0] == L.SHEET_CUSTOMERS:
            r, _ = V.cell_rc(key[1])
            if r <= data_end:
                bad.append((key, b, a))  # an import only fills blanks of existing customers
    assert not bad, f"{action} changed cells it does not own: {sorted(bad, key=str)[:8]}"


def _variant_name(fn) -> str:
    return fn.__name__.removesuffix("_gap1")


@pytest.mark.parametrize("variant", V.VARIANTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_is_done_right_or_refused_cleanly(variant, action, tmp_path, capsys):
    folder = tmp_path / "共享"
    folder.mkdir()
    book = V.base_book(folder / "大客户管理.xlsm")
    variant(book)
    before_bytes = book.read_bytes()
    before_mode = stat.S_IMODE(book.stat().st_mode)
    before_cells = None if variant is V.header_row_off else V.cells_of(book)
    rc, out, err = _run(action, book, folder, capsys)
    name = _variant_name(variant)
    assert "Traceback" not in out + err and "内部错误" not in err, err
    if action in REFUSED.get(name, ()):
        assert rc == 2, (rc, out, err)
        assert err.startswith("错误：") and "Error: " in err, err
        assert book.read_bytes() == before_bytes
        assert not list(folder.glob(".~kam_*"))
        return
    assert rc in (0, 1), err
    assert stat.S_IMODE(book.stat().st_mode) == before_mode
    if action == "report":
        assert book.read_bytes() == before_bytes
        assert list((folder / "报表").glob("*.xlsx"))
    else:
        _check_ownership_from_bytes(action, before_bytes, book, before_cells, tmp_path)
        kept = tmp_path.parent / f"out_{tmp_path.name}.xlsm"
        shutil.copy2(book, kept)
        given = tmp_path.parent / f"in_{tmp_path.name}.xlsm"
        given.write_bytes(before_bytes)
        OUTPUTS.append((given, kept))
    CHECKS.get(name, lambda *a: None)(action, book, before_bytes, out, tmp_path)


def _check_ownership_from_bytes(action, before_bytes, book, before_cells, tmp_path):
    before = tmp_path / "before.xlsm"
    before.write_bytes(before_bytes)
    _check_ownership(action, before, book, before_cells)


# ----------------------------------------------------------------------------- what "correct" means
def _customers(book: Path) -> list[dict]:
    from tests.helpers import table_records
    return table_records(book, L.SHEET_CUSTOMERS, L.CUSTOMERS.name)


def _typed_rows(action, book, before, out, tmp):
    assert "纳入表格" in out
    if action == "report":
        return  # the report writes nothing into the book
    names = [r["客户名称"] for r in _customers(book)]
    assert "手工录入第1有限公司" in names and "手工录入第2有限公司" in names  # inside the table now
    assert "纳入表格" in out
    if action == "regrade":
        typed = {r["客户名称"]: r for r in _customers(book)}
        assert typed["手工录入第1有限公司"]["客户等级"] == "A1"
        assert typed["手工录入第1有限公司"]["客户经理"] == "手工经理"
    if action == "import":
        rows = _customers(book)
        assert [r["客户名称"] for r in rows][-2:] == ["新导入一号有限公司", "新导入二号有限公司"]
        assert {r["客户名称"]: r["客户经理"] for r in rows}["手工录入第2有限公司"] == "手工经理"


def _totals(table: L.TableDef):
    def check(action, book, before, out, tmp):
        wb = openpyxl.load_workbook(book)
        ws = wb[table.sheet]
        t = ws.tables[table.name]
        assert t.totalsRowCount == 1
        c1, r1, c2, r2 = V.parse_ref(t.ref)
        label = ws.cell(r2, c1 + 1 + [c.key for c in table.columns].index(
            "customer_id" if table is L.GRADE_LOG else "severity" if table is L.ISSUES else "id")).value
        assert label == "汇总"  # the totals row is the last row of the table, wherever it moved
        assert V.parse_ref(t.autoFilter.ref)[3] == r2 - 1  # the filter never covers it
        body = [[ws.cell(r, c + 1).value for c in range(c1, c2 + 1)] for r in range(r1 + 1, r2)]
        assert all("汇总" not in row for row in body)
        if table is L.CUSTOMERS:
            assert "汇总" not in out
            if action == "validate":
                assert all(f["row"] != r2 for f in json.loads(out)["findings"] if f["sheet"] == table.sheet)
    return check


def _errors(action, book, before, out, tmp):
    if action == "validate":
        found = [f for f in json.loads(out)["findings"] if f["rule"] == "CELL-ERROR-VALUE"]
        # the input cells holding errors are findings; #NAME? in 建议等级 (calculated) and #SPILL!
        # beside the table are not
        assert {(f["sheet"], f["row"], f["column"]) for f in found} == {
            (L.SHEET_RECEIVABLES, 2, "备注"), (L.SHEET_CUSTOMERS, 4, "年用量(元)")}
        assert {f["row"]: f["message"] for f in found if f["sheet"] == L.SHEET_CUSTOMERS}[4].count("#N/A") == 1


def _input_formulas(action, book, before, out, tmp):
    if action == "validate":
        found = [f for f in json.loads(out)["findings"] if f["rule"] == "CELL-ERROR-VALUE"]
        assert [(f["row"], f["column"]) for f in found] == [(5, "年用量(元)")]
        assert "没有计算结果" in found[0]["message"]
        # the formula with Excel's cached result is read by that result: no finding on its cell
        assert not [f for f in json.loads(out)["findings"]
                    if f["row"] == 3 and f["sheet"] == L.SHEET_CUSTOMERS and f["column"] == "年用量(元)"]


def _shared(action, book, before, out, tmp):
    if action != "regrade":
        return
    ws = openpyxl.load_workbook(book)[L.SHEET_CUSTOMERS]
    t = V.col_letter(V.col_of(L.CUSTOMERS, "tier"))
    s = V.col_letter(V.col_of(L.CUSTOMERS, "suggested_tier"))
    assert ws[f"{t}2"].value == "A1"  # the master cell was regraded…
    for r in range(3, 7):  # …and no dependent lost its formula
        assert ws[f"{t}{r}"].value in (f"={s}{r}", "A1", "B2") and ws[f"{t}{r}"].value != "="


def _calc_chain(action, book, before, out, tmp):
    if action == "report":
        return
    with zipfile.ZipFile(book) as z:
        names = z.namelist()
        assert "xl/calcChain.xml" not in names
        assert b"calcChain" not in z.read("xl/_rels/workbook.xml.rels")
        assert b"calcChain" not in z.read("[Content_Types].xml")


def _fullwidth(action, book, before, out, tmp):
    if action == "regrade":
        graded = {r["客户编号"]: r["客户等级"] for r in _customers(book)}
        assert graded["KH000003"] == "A1"  # graded on the fullwidth 年用量（元） and 回款 信誉
        assert graded["KH000002"] == "B2"  # its overdue invoice makes its credit 一般
        ws = openpyxl.load_workbook(book)[L.SHEET_CUSTOMERS]
        assert "年用量（元）" in [c.value for c in ws[1]]  # the user's spelling stays


CHECKS = {
    "typed_rows_under_customers": _typed_rows,
    "totals_row_gradelog": _totals(L.GRADE_LOG), "totals_row_issues": _totals(L.ISSUES),
    "totals_row_customers": _totals(L.CUSTOMERS), "totals_row_receivables": _totals(L.RECEIVABLES),
    "error_cells": _errors, "input_formulas": _input_formulas, "shared_formula_in_tier": _shared,
    "calc_chain": _calc_chain, "fullwidth_header": _fullwidth,
}


def test_refusals_name_the_cells_and_say_what_to_do(tmp_path, capsys):
    book = V.base_book(tmp_path / "b.xlsm")
    V.note_under(L.GRADE_LOG)(book)
    rc, out, err = _run("regrade", book, tmp_path, capsys)
    assert rc == 2
    assert "调级记录" in err and "A3" in err and "把第 3 行的内容移走，或者把它们纳入表格" in err


def test_header_row_switched_off_is_refused_by_name(tmp_path, capsys):
    book = V.base_book(tmp_path / "b.xlsm")
    V.header_row_off(book)
    rc, out, err = _run("validate", book, tmp_path, capsys)
    assert rc == 2 and "标题行" in err and "客户档案" in err


def test_1904_books_get_their_dates_written_right(tmp_path, capsys):
    book = V.base_book(tmp_path / "mac.xlsm", date1904=True)
    assert main(["regrade", str(book), "--as-of", "2026-10-31"]) == 0
    wb = openpyxl.load_workbook(book)
    assert wb.epoch.year == 1904
    rows = {r["客户编号"]: r for r in _customers(book)}
    assert rows["KH000002"]["定级日期"].date().isoformat() == "2026-10-31"
    assert rows["KH000001"]["协议到期日"].date().isoformat() == "2027-12-31"  # read right too
    log = [c.value for c in wb[L.SHEET_GRADELOG]["A"][1:] if c.value]
    assert log and all(abs((v.date() - __import__("datetime").date.today()).days) <= 1 for v in log)


def test_group_and_mode_survive_a_write(tmp_path):
    book = V.base_book(tmp_path / "b.xlsm")
    os.chmod(book, 0o664)
    gid = os.getgid()
    groups = [g for g in os.getgroups() if g != gid]
    if groups:
        os.chown(book, -1, groups[0])
    st = book.stat()
    assert main(["regrade", str(book)]) == 0
    assert stat.S_IMODE(book.stat().st_mode) == 0o664 and book.stat().st_gid == st.st_gid


def test_no_temp_folder_is_left_behind(tmp_path):
    import subprocess
    import sys
    tmpdir = tmp_path / "systemp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    code = ("from kam_xl.files import new_book; import sys; new_book(sys.argv[1], demo=False)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "n.xlsm")], env=env, check=True)
    assert list(tmpdir.iterdir()) == []  # the VBA project's build folder went away with the process


@pytest.mark.skipif(not ooxml.available(), reason="the Open XML SDK validator (npm @ooxml-tools/validate) is not installed")
def test_zz_everything_the_actions_wrote_validates_clean():
    assert OUTPUTS, "the matrix above wrote no book"
    found = ooxml.validate([p for pair in OUTPUTS for p in pair])

    def keys(path):
        return {(p["id"], p["path"]["partUri"], p["path"]["xpath"]) for p in found[str(path)]}
    # what the product writes has no problem the book it was given did not already have
    # (openpyxl's own styles.xml, say); the builder's books are checked clean elsewhere
    added = {str(after): sorted(keys(after) - keys(before))[:3] for before, after in OUTPUTS if keys(after) - keys(before)}
    assert not added, added
    clean_inputs = [b for b, _ in OUTPUTS if not found[str(b)]]
    assert len(clean_inputs) >= len(OUTPUTS) // 2  # most variants start clean, so "no new problem" means clean


def test_a_folder_that_refuses_the_temp_file_is_a_clear_refusal(tmp_path, capsys, monkeypatch):
    """(Running as root, a chmod'ed folder cannot be made to refuse; the OS error it gives is.)"""
    import tempfile as tf
    book = V.base_book(tmp_path / "b.xlsm")
    before = book.read_bytes()

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path))
    monkeypatch.setattr(tf, "mkstemp", refuse)
    rc, out, err = _run("regrade", book, tmp_path, capsys)
    assert rc == 2 and "只读" in err and "Traceback" not in err and "内部错误" not in err
    assert book.read_bytes() == before


def test_a_full_disk_during_the_report_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    import errno
    from kam_xl.reports import service
    book = V.base_book(tmp_path / "b.xlsm")

    def full(path, *a, **k):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(service, "write_report", full)
    rc, out, err = _run("report", book, tmp_path, capsys)
    assert rc == 2 and "磁盘已满" in err and "No space left" in err
    assert not [p for p in (tmp_path / "报表").iterdir()]


def test_renamed_and_reordered_sheets_still_work(tmp_path, capsys):
    book = V.base_book(tmp_path / "b.xlsm")
    wb = openpyxl.load_workbook(book, keep_vba=True)
    wb[L.SHEET_CUSTOMERS].title = "客户档案2026"
    wb.move_sheet("应收账款", offset=-2)
    wb.save(book)
    for action in ("regrade", "validate", "report"):
        rc, out, err = _run(action, book, tmp_path, capsys)
        assert rc in (0, 1), err
    with zipfile.ZipFile(book) as z:
        assert "客户档案2026" in read_package(z).sheets
