"""LibreOffice Calc as an independent formula engine: recalculate a book through UNO with
macros disabled (tests/tools/lo_recalc.py, run by the system Python that has python3-uno)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("lo_recalc.py")


def available() -> bool:
    if not (shutil.which("soffice") and Path(SYSTEM_PYTHON).exists()):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True).returncode == 0


def recalc(book: Path, sheets: list[str], timeout: int = 1800) -> dict:
    out = book.with_suffix(".lo.json")
    r = subprocess.run([SYSTEM_PYTHON, str(SCRIPT), str(book), str(out), *sheets],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or not out.exists():
        raise RuntimeError(f"LibreOffice recalculation failed: {r.stderr[-2000:]}")
    return json.loads(out.read_text(encoding="utf-8"))
