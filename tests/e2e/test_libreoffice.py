"""LibreOffice Calc opens what the product writes and sees the same data."""
import shutil
import subprocess

import pytest
from python_calamine import CalamineWorkbook

from kam_xl import layout as L
from kam_xl.files import run_regrade, run_validate
from tests.helpers import table_records

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice Calc not installed (.ci/run installs it)")


def convert(src, outdir, fmt="xlsx"):
    r = subprocess.run([SOFFICE, "--headless", "--norestore", f"-env:UserInstallation=file://{outdir}/lo_profile",
                        "--convert-to", fmt, "--outdir", str(outdir), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = outdir / (src.stem + "." + fmt)
    assert out.exists(), r.stdout + r.stderr
    return out


def test_libreoffice_reads_a_regraded_and_validated_book(demo_book, tmp_path):
    run_regrade(demo_book, operator="张伟")
    run_validate(demo_book)
    out = convert(demo_book, tmp_path)
    for t in (L.CUSTOMERS, L.VISITS, L.RECEIVABLES, L.GRADE_LOG, L.ISSUES, *L.PROCEDURE_TABLES):
        ours = table_records(demo_book, t.sheet, t.name)
        theirs = table_records(out, t.sheet, t.name)
        assert len(theirs) == len(ours), t.name
        for a, b in zip(ours, theirs):
            for col in t.columns:
                if col.formula:
                    continue
                assert a[col.header] == b[col.header], (t.name, col.header)
    with CalamineWorkbook.from_path(str(out)) as wb:
        assert wb.sheet_names[: len(L.SHEET_ORDER)] == list(L.SHEET_ORDER)
