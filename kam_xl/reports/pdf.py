"""PDF of a report workbook via LibreOffice headless — it renders native Excel
charts and, with a CJK font installed (fonts-noto-cjk), Chinese text as text."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from ..errors import KamError


class PdfUnavailable(KamError):
    zh, en = "无法生成 PDF（未安装 LibreOffice）", "cannot write the PDF (LibreOffice not installed)"


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(xlsx: Path, timeout: int = 300) -> Path:
    exe = soffice()
    if exe is None:
        raise PdfUnavailable(xlsx)
    with tempfile.TemporaryDirectory(prefix="kam_lo_") as profile:
        r = subprocess.run(
            [exe, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
             "--convert-to", "pdf", "--outdir", str(xlsx.parent), str(xlsx)],
            capture_output=True, text=True, timeout=timeout)
    pdf = xlsx.with_suffix(".pdf")
    if r.returncode != 0 or not pdf.exists():
        raise PdfUnavailable(xlsx, r.stderr.strip()[:200], r.stderr.strip()[:200])
    os.chmod(pdf, stat.S_IMODE(os.stat(xlsx).st_mode))  # no more readable than the workbook it shows
    return pdf
