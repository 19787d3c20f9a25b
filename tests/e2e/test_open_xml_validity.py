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
