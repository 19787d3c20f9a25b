"""Every book the builder writes, and what an action writes into the demo book, validates
clean with Microsoft's Open XML SDK validator (npm @ooxml-tools/validate, offline)."""
import shutil

import pytest

from kam_xl.cli import main
from tests import variants as V
from tests.tools import ooxml

pytestmark = pytest.mark.skipif(not ooxml.available(), reason="Open XML SDK validator not installed (.ci/run)")


def test_built_and_written_books_have_no_open_xml_error(_demo_master, tmp_path):
    small = V.base_book(tmp_path / "small.xlsm")
    mac = V.base_book(tmp_path / "mac.xlsm", date1904=True)
    regraded = tmp_path / "demo_regraded.xlsm"
    shutil.copy2(_demo_master, regraded)
    assert main(["regrade", str(regraded)]) == 0
    assert main(["validate", str(regraded)]) in (0, 1)
    found = ooxml.validate([_demo_master, small, mac, regraded])
    assert all(v == [] for v in found.values()), {k: v[:3] for k, v in found.items() if v}


def test_team_books_and_the_collected_master_have_no_open_xml_error(tmp_path):
    """A person's book (我的待办, a protected rules sheet, document properties), the master after
    a collect that added, changed and deleted rows, and the 汇总报告."""
    import openpyxl
    from kam_xl.files import new_book, run_collect, run_distribute
    master = new_book(tmp_path / "m.xlsm", demo=True, n_customers=30)
    out = tmp_path / "out"
    out.mkdir()
    book = run_distribute(master, out).sent[0].path
    sent = tmp_path / "sent.xlsm"  # as we wrote it (openpyxl's own save is not ours to judge)
    shutil.copy2(book, sent)
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb["客户档案"]
    heads = [c.value for c in ws[1]]
    ws.cell(2, heads.index("联系电话") + 1).value = "13900000000"
    wb.save(book)
    res = run_collect(master, [book])
    found = ooxml.validate([sent, master, res.report_path])
    assert all(v == [] for v in found.values()), {k: v[:3] for k, v in found.items() if v}


def test_the_suggested_import_mapping_has_no_open_xml_error(tmp_path):
    from kam_xl.files import new_book, run_import
    book = new_book(tmp_path / "m.xlsm")
    src = tmp_path / "客户.csv"
    src.write_text("客户名称,年用量,奇怪的列\n甲方有限公司,30万,=HYPERLINK(\"x\")\n", encoding="utf-8-sig")
    plan = run_import(book, [src], suggest=tmp_path / "映射.xlsx").suggested
    found = ooxml.validate([plan])
    assert found[str(plan)] == [], found
