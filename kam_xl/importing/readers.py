"""Reading legacy spreadsheets: .xls (BIFF), .xlsx, .xlsm with python-calamine
(every sheet, merged ranges filled), .csv in UTF-8 (with/without BOM), GBK or
GB18030.  A file that cannot be read raises UnreadableSource with a reason."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED = (".xls", ".xlsx", ".xlsm", ".csv")
MAX_BYTES = 512 * 1024 * 1024


class UnreadableSource(Exception):
    """A source file that cannot be imported; str() is the Chinese reason."""


@dataclass
class SheetGrid:
    file: Path
    sheet: str
    rows: list[list[Any]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2 (0-based, inclusive)


def _decode_csv(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "UTF-8 (BOM)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "UTF-16"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GBK/GB18030"
    except UnicodeDecodeError:
        raise UnreadableSource("文本编码无法识别（不是 UTF-8、GBK 或 GB18030）") from None


def read_csv(path: Path) -> list[SheetGrid]:
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableSource("文件为空")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableSource("不是文本格式的 CSV 文件")
    text, enc = _decode_csv(data)
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), dialect)]
    except csv.Error as e:
        raise UnreadableSource(f"CSV 格式错误（{e}）") from None
    return [SheetGrid(path, path.stem, [[c if c != "" else None for c in r] for r in rows])]


def _workbook_error(path: Path, e: Exception) -> UnreadableSource:
    name = type(e).__name__
    if name == "PasswordError" or "password" in str(e).lower() or "encrypt" in str(e).lower():
        return UnreadableSource("文件设有密码（已加密），请先在 Excel 中取消密码后再导入")
    return UnreadableSource(f"文件已损坏或不是有效的 Excel 文件（{name}）")


def _is_encrypted_ooxml(path: Path) -> bool:
    """Password-protected .xlsx/.xlsm are OLE containers holding 'EncryptedPackage'."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return False
    try:
        import olefile
        with olefile.OleFileIO(str(path)) as ole:
            return ole.exists("EncryptedPackage")
    except Exception:
        return False


def read_workbook(path: Path) -> list[SheetGrid]:
    from python_calamine import CalamineWorkbook
    if path.stat().st_size == 0:
        raise UnreadableSource("文件为空")
    if path.suffix.lower() in (".xlsx", ".xlsm") and _is_encrypted_ooxml(path):
        raise UnreadableSource("文件设有密码（已加密），请先在 Excel 中取消密码后再导入")
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as e:
        raise _workbook_error(path, e) from None
    grids = []
    try:
        for name in wb.sheet_names:
            try:
                sheet = wb.get_sheet_by_name(name)
                rows = sheet.to_python(skip_empty_area=False)
            except Exception as e:
                raise _workbook_error(path, e) from None
            try:
                merged = [(a[0], a[1], b[0], b[1]) for a, b in (sheet.merged_cell_ranges or [])]
            except Exception:
                merged = []
            grids.append(SheetGrid(path, name, [[None if v == "" else v for v in r] for r in rows], merged))
    finally:
        wb.close()
    if not any(any(v is not None for v in r) for g in grids for r in g.rows):
        raise UnreadableSource("文件中没有任何数据")
    return grids


def read_source(path: Path) -> list[SheetGrid]:
    if not path.exists():
        raise UnreadableSource("文件不存在")
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        raise UnreadableSource(f"不支持的文件类型 {ext}（支持 xls、xlsx、xlsm、csv）")
    if path.stat().st_size > MAX_BYTES:
        raise UnreadableSource("文件过大（超过 512 MB）")
    if ext == ".csv":
        return read_csv(path)
    return read_workbook(path)


def expand_sources(paths: list[Path]) -> list[Path]:
    """Files as given; folders searched recursively for supported files (Excel's ~$ lock files skipped)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED
                              and not f.name.startswith("~$")))
        else:
            out.append(p)
    return out
