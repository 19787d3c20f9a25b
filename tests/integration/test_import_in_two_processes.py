"""A long source sheet's rows are read in two processes (importing/sheets.py SPLIT_ROWS): the
second half in a fork while this process reads the first.  Totals (by their text and by their
sums), repeated headers, blank rows, placeholders and footers are the same whichever half
they fall in, and where the second process gives nothing its half is read here."""
from __future__ import annotations

import csv
import os
import signal
import time

import pytest

from kam_xl import layout as L
from kam_xl.files import new_book, run_import
from kam_xl.importing import service, sheets
from kam_xl.importing.readers import read_source
from kam_xl.importing.parsing import parse_file
from kam_xl.workbook import parallel
from kam_xl.workbook.store import FileStore
from tests.helpers import table_records
from tests.integration.test_import_structure import regional_workbook

HEADER = ["单位名称", "业务员", "年用量（万元）", "回款情况", "电话"]


def _long_csv(path, n: int):
    """n customers with what a printed archive leaves between them: a 合计 row, a row of
    sums without a label, a header again at a page break, blank rows, a placeholder, a row
    with data but no name, and an export footer — spread over the whole sheet."""
    rows, since = [HEADER], 0.0
    for i in range(n):
        amount = float(10 + i % 7)
        rows.append([f"{'华东华南西北'[i % 3 * 2:i % 3 * 2 + 2]}精工{i:05d}有限公司", f"业务员{i % 9}", amount,
                     "优良中差"[i % 4], f"139{i:08d}"])
        since += amount
        if i % 23 == 11:
            rows.append(["合计", None, since, None, None])
            since = 0.0
        elif i % 23 == 17:
            rows.append([None, None, since, None, None])  # the sums above, with no label
            since = 0.0
        elif i % 31 == 5 and i > 60:  # (below the rows the header is looked for in)
            rows.append(HEADER)
        elif i % 37 == 3:
            rows.append([])
        elif i % 41 == 7:
            rows.append(["XX有限公司", "张三", 50, None, None])
        elif i % 43 == 9:
            rows.append([None, "业务员1", 12, "优", "13900000000"])
    rows.append(["导出人：王芳", None, "导出时间：2024-01-02 09:30"])
    with open(path, "w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _parsed(path) -> str:
    fp = parse_file(path, read_source(path), 0)
    return repr(([(t, [(r.row, sorted(r.values.items()), r.notes, sorted(r.codes.items())) for r in rows])
                  for t, rows in sorted(fp.rows.items())], fp.outcomes, fp.unreadable, fp.lines))


def _looked_here(m) -> list:
    """(start, end) of each stretch of rows read in this process."""
    here, real, calls = os.getpid(), sheets._look, []

    def counted(grid, hm, rows, start, end):
        if os.getpid() == here:
            calls.append((start, end))
        return real(grid, hm, rows, start, end)
    m.setattr(sheets, "_look", counted)
    return calls


@pytest.mark.parametrize("how", ["forked", "dies"])
@pytest.mark.parametrize("source", ["csv", "workbook"])
def test_rows_read_in_two_processes_are_classified_as_in_one(how, source, tmp_path, monkeypatch):
    path = _long_csv(tmp_path / "客户档案.csv", 400) if source == "csv" else \
        regional_workbook(tmp_path / "大客户档案2023.xlsx")
    with monkeypatch.context() as m:
        m.setattr(sheets, "SPLIT_ROWS", 10 ** 9)
        here = _looked_here(m)
        one = _parsed(path)
        assert here and all(end - start < 10 ** 9 for start, end in here)
    forks = []
    with monkeypatch.context() as m:
        m.setattr(sheets, "SPLIT_ROWS", 2)
        here = _looked_here(m)
        real_fork = parallel.forked
        m.setattr(parallel, "forked", lambda fn: forks.append(real_fork(fn)) or forks[-1])
        if how == "dies":
            real_look, parent = sheets._look, os.getpid()

            def dying(*a):
                if os.getpid() != parent:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_look(*a)
            m.setattr(sheets, "_look", dying)
        two = _parsed(path)
    assert two == one
    assert forks and all(isinstance(f, parallel.Forked) and f.pid is None for f in forks)  # taken, reaped
    if how == "forked":  # each sheet's first half here, its second half in the other process
        assert all(start < end for start, end in here) and len(here) == len(forks)
    if source == "csv":
        for kind in (sheets.TOTAL, sheets.REPEATED_HEADER, sheets.EXAMPLE, sheets.FOOTER, "无法确定是哪个客户"):
            assert kind in one, kind


def test_a_long_archive_imports_as_its_rows_read_in_one_process(tmp_path, monkeypatch):
    """Through the whole import, whose sandbox child reads a sheet this long in two processes:
    every row skipped or rejected as one process reads it, every customer row a customer."""
    split = sheets.SPLIT_ROWS
    src = _long_csv(tmp_path / "客户档案.csv", split + 500)
    monkeypatch.setattr(sheets, "SPLIT_ROWS", 10 ** 9)  # (here only: the child reads in two)
    one = parse_file(src, read_source(src), 0)
    book = new_book(tmp_path / "master.xlsm")
    res = run_import(book, [src])
    assert sorted((o.row, o.outcome, o.message) for o in res.outcomes if o.outcome != "新增") == \
        sorted((o.row, o.outcome, o.message) for o in one.outcomes)
    customers = {r["客户名称"] for r in table_records(book, L.SHEET_CUSTOMERS, "Customers")}
    assert customers == {r.values["客户名称"] for r in one.rows[L.CUSTOMERS.name]}
    assert len(customers) > split and {o.outcome for o in one.outcomes} >= {"跳过", "拒绝"}


@pytest.mark.parametrize("how", ["forked", "dies"])
def test_appended_rows_cached_values_computed_in_two_processes_are_the_same(how, tmp_path, monkeypatch):
    """Many appended rows have their cached values (建议等级, an invoice's open amount and
    overdue days) computed in two processes (service.CACHED_SPLIT, by the store's second process):
    the same cells as in one."""
    from tests.legacy_files import old_archive_folder
    src = old_archive_folder(tmp_path / "旧档案")
    got = []
    for split in (10 ** 9, 2):
        book = new_book(tmp_path / f"master{split}.xlsm")
        forks = []
        with monkeypatch.context() as m:
            m.setattr(service, "CACHED_SPLIT", split)
            real_fork, parent = FileStore.parallel, os.getpid()

            def fork(self, fn):
                if how == "dies":
                    def dying():
                        if os.getpid() != parent:
                            os.kill(os.getpid(), signal.SIGKILL)
                        return fn()
                    forks.append(real_fork(self, dying))
                else:
                    forks.append(real_fork(self, fn))
                return forks[-1]
            m.setattr(FileStore, "parallel", fork)  # (the store's second process, Snapshot.parallel)
            run_import(book, [src])
        assert len(forks) == (0 if split > 2 else 2)  # the customers and the invoices
        assert all(isinstance(f, parallel.Forked) and f.pid is None for f in forks)  # taken, reaped
        got.append([table_records(book, t.sheet, t.name, data_only=True) for t in (L.CUSTOMERS, L.RECEIVABLES)])
    assert got[0] == got[1]
    customers, invoices = got[0]
    assert len(customers) >= 4 and all(c["建议等级"] for c in customers)
    assert invoices and all(r[L.RECEIVABLES.header("outstanding")] is not None for r in invoices)


def _gathered(parsed) -> str:
    res = parsed.result
    return repr(([(t, [(r.info.file, r.row, sorted(r.values.items()), r.notes, r.order) for r in rows])
                  for t, rows in sorted(parsed.rows_by_table.items())], res.outcomes, res.unreadable,
                 [(s.file, s.sheet, s.table, s.date) for s in res.sources], parsed.mapping))


def test_source_files_read_two_at_a_time_are_taken_in_the_files_order(tmp_path, monkeypatch):
    """A folder's files are read by two children at a time (service.PARSERS): the rows, the
    outcomes, the unreadable files and the sources come in the files' order, as when they are
    read one after the other — a broken file and a file that is not a table among them."""
    folder = tmp_path / "分公司"
    folder.mkdir()
    for i in range(7):
        _long_csv(folder / f"{i:02d}_华东{i}.csv", 20_000 if i == 0 else 400 - 50 * i)  # (the first: read last)
    (folder / "03_损坏.xlsx").write_bytes(b"PK\x03\x04 not a zip at all")
    (folder / "05_说明.txt").write_text("这是导入说明，不是表格。\n请把客户名称放在第一列。\n", encoding="utf-8")
    progress = []

    class Seen:
        def update(self, done, total, name):
            progress.append((done, total, name))
    monkeypatch.setattr(service, "PARSERS", 1)
    one_by_one = service.parse_sources([folder])
    monkeypatch.setattr(service, "PARSERS", 2)
    two_at_a_time = service.parse_sources([folder], progress=Seen())
    assert _gathered(two_at_a_time) == _gathered(one_by_one)
    assert [f for f, _ in one_by_one.result.unreadable] == ["03_损坏.xlsx", "05_说明.txt"]
    assert sum(len(rows) for rows in one_by_one.rows_by_table.values()) > 7 * 50
    names = [name for _, _, name in progress]
    assert names == sorted(names) and len(names) == 8 and "03_损坏.xlsx" not in names and progress[-1][1] == 9


def test_two_big_source_files_are_never_read_at_once_and_small_ones_go_beside_them(tmp_path, monkeypatch):
    """A folder with big files (service.BIG_SOURCE, lowered here) and small ones: no two big files'
    children read at the same time (each may grow to its memory cap), while a small one is read
    beside a big one; what they give is the same, in the files' order, as one at a time."""
    folder = tmp_path / "各分公司"
    folder.mkdir()
    sizes = {"01_华东.csv": 25_000, "02_华南小.csv": 40, "03_西北.csv": 6_000, "04_华北小.csv": 60,
             "05_西南.csv": 3_000}
    for name, n in sizes.items():
        _long_csv(folder / name, n)
    big = {name for name, n in sizes.items() if n >= 3_000}
    monkeypatch.setattr(service, "BIG_SOURCE", min((folder / n).stat().st_size for n in big))
    assert all((folder / n).stat().st_size < service.BIG_SOURCE for n in set(sizes) - big)
    spans: dict[str, tuple[float, float]] = {}
    real = service.run_isolated

    def timed(path, *args):  # the real child, its start and end noted
        began = time.monotonic()
        try:
            return real(path, *args)
        finally:
            spans[path.name] = (began, time.monotonic())
    monkeypatch.setattr(service, "run_isolated", timed)
    monkeypatch.setattr(service, "PARSERS", 2)
    two_at_a_time = service.parse_sources([folder])
    assert set(spans) == set(sizes)
    ordered = sorted(spans[n] for n in big)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ordered, ordered[1:])), spans
    first = spans["01_华东.csv"]  # begun first, the small ones read while it is
    assert all(first[0] < spans[n][0] < first[1] for n in set(sizes) - big), spans
    monkeypatch.setattr(service, "PARSERS", 1)
    assert _gathered(two_at_a_time) == _gathered(service.parse_sources([folder]))
    assert sum(len(rows) for rows in two_at_a_time.rows_by_table.values()) > 0.9 * sum(sizes.values())
