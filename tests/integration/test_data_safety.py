"""No lost cell under faults: killed writes, mutated files, hangs."""
import random
import shutil
import signal
import subprocess
import sys
import time

import openpyxl
import pytest

from kam_xl.cli import main
from kam_xl.files import new_book, run_import
from kam_xl.workbook.store import FileStore
from tests import legacy_files as lf


@pytest.fixture(scope="module")
def big_book(tmp_path_factory):
    """Large enough that a write takes a while (≈2,000 customers, 8,000 visits)."""
    return new_book(tmp_path_factory.mktemp("big") / "big.xlsm", demo=True, n_customers=2000)


def test_sigkill_during_a_write_leaves_the_original_intact(big_book, tmp_path):
    book = tmp_path / "book.xlsm"
    killed_mid_write = 0
    for attempt in range(3):
        shutil.copy2(big_book, book)
        before = book.read_bytes()
        proc = subprocess.Popen([sys.executable, "-m", "kam_xl.cli", "regrade", str(book)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any(tmp_path.glob(".~kam_*.tmp")):  # the write has begun
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:  # killed mid-write, not after it finished
            killed_mid_write += 1
            assert book.read_bytes() == before  # byte for byte the original
            FileStore(book).read(["Customers", "Visits", "Receivables"])
            openpyxl.load_workbook(book, keep_vba=True, read_only=True).close()
    assert killed_mid_write >= 1
    # the next run works and tidies nothing it should not
    assert main(["regrade", str(book)]) == 0


def _mutations(data: bytes, rng: random.Random, n: int):
    for i in range(n):
        b = bytearray(data)
        kind = i % 4
        if kind == 0:    # flip some bytes
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:  # truncate
            b = b[: rng.randrange(len(b))]
        elif kind == 2:  # insert junk
            pos = rng.randrange(len(b))
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        else:            # zero a block
            pos = rng.randrange(len(b))
            b[pos:pos + rng.randint(1, 4096)] = b"\0" * min(4096, len(b) - pos)
        yield bytes(b)


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout()


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_master_workbooks_never_crash_hang_or_write(book_factory, tmp_path, seed, capsys):
    src = book_factory().read_bytes()
    rng = random.Random(seed)
    signal.signal(signal.SIGALRM, _alarm)
    for i, data in enumerate(_mutations(src, rng, 100)):
        p = tmp_path / f"m{i}.xlsm"
        p.write_bytes(data)
        signal.alarm(20)
        try:
            rc = main(["validate", str(p)])
        finally:
            signal.alarm(0)
        assert rc in (0, 1, 2), i
        err = capsys.readouterr().err
        assert "Traceback" not in err and "内部错误" not in err, (i, err)
        if rc == 2:
            assert p.read_bytes() == data  # refused: nothing written


@pytest.mark.parametrize("maker,name", [(lf.xlsx_2019_archive, "a.xlsx"), (lf.xls_2021_archive, "b.xls"),
                                        (lf.gbk_visits_csv, "c.csv")])
def test_mutated_legacy_files_are_reported_not_crashed(book_factory, tmp_path, maker, name):
    book = book_factory()
    src = maker(tmp_path / name).read_bytes()
    rng = random.Random(name)
    folder = tmp_path / "mut"
    folder.mkdir()
    for i, data in enumerate(_mutations(src, rng, 60)):
        (folder / f"{i:03d}_{name}").write_bytes(data)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(120)
    try:
        res = run_import(book, [folder], dry_run=True)
    finally:
        signal.alarm(0)
    accounted = {o.file for o in res.outcomes} | {f for f, _ in res.unreadable}
    assert accounted == {f"{i:03d}_{name}" for i in range(60)}
