"""Reading legacy spreadsheets: .xls (BIFF), .xlsx, .xlsm, .ods with python-calamine
(every sheet, its merged ranges and whether it is hidden), text in UTF-8 (with/without
BOM), GBK, GB18030 or UTF-16 (Excel's "Unicode text", tab-separated), and web pages
saved as .xls/.xlsx (their <table>s).  What a file is comes from its content, not its
extension.  A file that cannot be read raises UnreadableSource with a reason."""
from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED = (".xls", ".xlsx", ".xlsm", ".ods", ".csv", ".txt", ".tsv", ".htm", ".html")
MAX_BYTES = 512 * 1024 * 1024


class UnreadableSource(Exception):
    """A source file that cannot be imported; str() is the Chinese reason."""


@dataclass
class SheetGrid:
    file: Path
    sheet: str
    rows: list[list[Any]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2 (0-based, inclusive)
    hidden: bool = False


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
    if _is_encrypted_ooxml(path):
        raise UnreadableSource("文件设有密码（已加密），请先在 Excel 中取消密码后再导入")
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as e:
        raise _workbook_error(path, e) from None
    grids = []
    try:
        hidden = set()
        try:
            hidden = {m.name for m in wb.sheets_metadata if "hidden" in str(m.visible).lower()}
        except Exception:
            pass
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
            grids.append(SheetGrid(path, name, [[None if v == "" else v for v in r] for r in rows], merged,
                                   hidden=name in hidden))
    finally:
        wb.close()
    if not any(any(v is not None for v in r) for g in grids for r in g.rows):
        raise UnreadableSource("文件中没有任何数据")
    return grids


class _Tables(HTMLParser):
    """The <table>s of a web page as rows of cell texts; rowspan/colspan become merges."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[list[list[Any]], list[tuple[int, int, int, int]]]] = []
        self._stack: list[tuple[list, list, set]] = []  # rows, merges, cells a rowspan covers
        self._cell: list[str] | None = None
        self._colspan = 1

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._stack.append(([], [], set()))
        elif not self._stack:
            return
        elif tag == "tr":
            self._stack[-1][0].append([])
        elif tag in ("td", "th"):
            rows, merged, covered = self._stack[-1]
            if not rows:
                rows.append([])
            r, row = len(rows) - 1, rows[-1]
            while (r, len(row)) in covered:
                row.append(None)
            a = dict(attrs)
            span_r, span_c = _span(a.get("rowspan")), _span(a.get("colspan"))
            c = len(row)
            if span_r > 1 or span_c > 1:
                merged.append((r, c, r + span_r - 1, c + span_c - 1))
                covered.update((rr, cc) for rr in range(r + 1, r + span_r) for cc in range(c, c + span_c))
            self._cell, self._colspan = [], span_c
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._stack:
            text = re.sub(r"[ \t\r\n\xa0]+", " ", "".join(self._cell)).strip()
            row = self._stack[-1][0][-1]
            row.append(text or None)
            row.extend([None] * (self._colspan - 1))
            self._cell = None
        elif tag == "table" and self._stack:
            rows, merged, _ = self._stack.pop()
            self.tables.append((rows, merged))


def _span(v) -> int:
    try:
        return max(1, min(int(v), 1000))
    except (TypeError, ValueError):
        return 1


def read_html(path: Path, data: bytes) -> list[SheetGrid]:
    """A web page saved as .xls/.xlsx (what many systems export): its tables."""
    m = re.search(rb"charset=[\"']?([A-Za-z0-9_-]+)", data[:4096])
    text = None
    if m and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = {"gb2312": "gb18030", "gbk": "gb18030"}.get(m[1].decode("ascii").lower(), m[1].decode("ascii"))
        try:
            text = data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is None:
        text, _ = _decode_csv(data)
    parser = _Tables()
    try:
        parser.feed(text)
        parser.close()
    except Exception as e:
        raise UnreadableSource(f"网页表格无法解析（{type(e).__name__}）") from None
    found = [t for t in parser.tables if any(any(v is not None for v in r) for r in t[0])]
    grids = [SheetGrid(path, path.stem + (f"#{i + 1}" if i else ""), rows, merged)
             for i, (rows, merged) in enumerate(found)]
    if not grids:
        raise UnreadableSource("网页中没有表格")
    return grids


def sniff(path: Path, head: bytes) -> str:
    """What a file is by its first bytes: "zip" (xlsx/xlsm/ods), "ole" (xls, or an
    encrypted xlsx), "html", or "text"."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    probe = head
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            probe = head[len(bom):].decode(enc, "ignore").encode("utf-8", "ignore")
    low = probe.lstrip().lower()
    if low.startswith(b"<") and b"<table" in low:
        return "html"
    return "text"


def read_source(path: Path) -> list[SheetGrid]:
    if not path.exists():
        raise UnreadableSource("文件不存在")
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        raise UnreadableSource(f"不支持的文件类型 {ext}（支持 xls、xlsx、xlsm、ods、csv、txt、网页表格）")
    if path.stat().st_size > MAX_BYTES:
        raise UnreadableSource("文件过大（超过 512 MB）")
    with open(path, "rb") as f:
        head = f.read(8192)
    kind = sniff(path, head)
    if kind in ("zip", "ole"):
        return read_workbook(path)
    if kind == "html":
        return read_html(path, path.read_bytes())
    return read_csv(path)


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
