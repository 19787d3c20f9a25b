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
import zipfile

from ..workbook.scan import beyond_pattern, trim_sheet

SUPPORTED = (".xls", ".xlsx", ".xlsm", ".ods", ".csv", ".txt", ".tsv", ".htm", ".html")
MAX_BYTES = 512 * 1024 * 1024
MAX_COLUMNS = 1024  # no archive has more; a stray cell at XFD1 must not make every row 16,384 wide


class UncachedFormula:
    """A formula cell saved without its result (a program that writes formulas but does not
    calculate them: openpyxl, some exporters).  Its value is unknown: refused on its row,
    never read as blank and never used to match or merge."""
    __slots__ = ("formula",)

    def __init__(self, formula: str):
        self.formula = formula

    def __str__(self) -> str:
        return "=" + self.formula

    def __repr__(self) -> str:
        return f"UncachedFormula({self.formula!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, UncachedFormula) and other.formula == self.formula

    def __hash__(self) -> int:
        return hash(("uncached", self.formula))


class UnreadableSource(Exception):
    """A source file that cannot be imported; str() is the Chinese reason."""


@dataclass
class SheetGrid:
    file: Path
    sheet: str
    rows: list[list[Any]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2 (0-based, inclusive)
    hidden: bool = False
    named: bool = True   # the sheet name is one a user gave a sheet (not a text file's own name)
    offset: int = 0      # sheet rows above the grid's first row (a table stacked under another)
    home: str = ""       # the sheet's own name, when the grid is one of several tables on it

    @property
    def sheet_name(self) -> str:
        """The name the user gave the sheet (a part's name says which part it is)."""
        return self.home or self.sheet


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
    return [SheetGrid(path, path.stem, [[c if c != "" else None for c in r] for r in rows], named=False)]


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


def _without_far_cells(path: Path):
    """An in-memory copy of an .xlsx/.xlsm whose sheets have cells right of column
    MAX_COLUMNS (a note at XFD1), without those cells; None when there are none (or the
    file is not a zip: .xls has 256 columns at most)."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None
    far = beyond_pattern(MAX_COLUMNS)
    with z:
        sheets = [i for i in z.infolist() if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")]
        hits = []
        for info in sheets:
            if info.file_size > MAX_BYTES:
                raise UnreadableSource(f"工作表 {info.filename} 解压后超过 512 MB，未读取")
            with z.open(info) as f:
                tail = b""
                while True:
                    chunk = f.read(8 << 20)
                    if not chunk:
                        break
                    if far.search(tail + chunk):
                        hits.append(info.filename)
                        break
                    tail = chunk[-32:]
        if not hits:
            return None
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as w:
            for info in z.infolist():
                data = z.read(info)
                if info.filename in hits:
                    data = trim_sheet(data, 1 << 21, MAX_COLUMNS)
                w.writestr(info, data)
    out.seek(0)
    return out


_SHEET = re.compile(rb'<sheet\b[^>]*?\bname="([^"]*)"[^>]*?\br:id="([^"]*)"', re.S)
_SHEET_ALT = re.compile(rb'<sheet\b[^>]*?\br:id="([^"]*)"[^>]*?\bname="([^"]*)"', re.S)
_REL = re.compile(rb'<Relationship\b[^>]*?\bId="([^"]*)"[^>]*?\bTarget="([^"]*)"|'
                  rb'<Relationship\b[^>]*?\bTarget="([^"]*)"[^>]*?\bId="([^"]*)"', re.S)
# a cell with a formula and no cached value: <c r="B5"><f>B4*2</f></c>, <c r="B6"><f t="shared" si="0"/></c>
_UNCACHED = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})(\d+)"[^>]*?>\s*<f\b([^>]*?)(?:/>|>([^<]*)</f>)\s*'
                       rb'(?:<v>\s*</v>|<v\s*/>)?\s*</c>', re.S)


def uncached_formulas(path: Path) -> dict[str, dict[tuple[int, int], str]]:
    """Sheet name → {(row, column) 0-based: formula text} of the formula cells an OOXML
    workbook holds without a cached value (empty for every other file)."""
    from xml.sax.saxutils import unescape
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return {}
    out: dict[str, dict[tuple[int, int], str]] = {}
    with z:
        try:
            book, rels = z.read("xl/workbook.xml"), z.read("xl/_rels/workbook.xml.rels")
        except KeyError:
            return {}
        targets = {}
        for m in _REL.finditer(rels):
            rid, target = (m[1], m[2]) if m[1] is not None else (m[4], m[3])
            t = target.decode("utf-8", "replace").lstrip("/")
            targets[rid] = t if t.startswith("xl/") else "xl/" + t
        pairs = [(m[1], m[2]) for m in _SHEET.finditer(book)] or [(m[2], m[1]) for m in _SHEET_ALT.finditer(book)]
        for name, rid in pairs:
            part = targets.get(rid)
            if part is None or part not in z.namelist() or z.getinfo(part).file_size > MAX_BYTES:
                continue
            xml = z.read(part)
            if b"<f" not in xml:
                continue
            found = {}
            shared: dict[bytes, str] = {}
            for m in _UNCACHED.finditer(xml):
                col = 0
                for ch in m[1]:
                    col = col * 26 + ch - 64
                text = unescape(m[4].decode("utf-8", "replace")) if m[4] else ""
                si = re.search(rb'si="(\d+)"', m[3] or b"")
                if si and text:
                    shared[si[1]] = text
                elif si:
                    text = shared.get(si[1], "") or "（共享公式）"
                found[(int(m[2]) - 1, col - 1)] = text
            if found:
                out[unescape(name.decode("utf-8", "replace"), {"&quot;": '"', "&apos;": "'"})] = found
    return out


def read_workbook(path: Path) -> list[SheetGrid]:
    from python_calamine import CalamineWorkbook
    if path.stat().st_size == 0:
        raise UnreadableSource("文件为空")
    if _is_encrypted_ooxml(path):
        raise UnreadableSource("文件设有密码（已加密），请先在 Excel 中取消密码后再导入")
    try:
        trimmed = _without_far_cells(path)
        wb = CalamineWorkbook.from_filelike(trimmed) if trimmed is not None else \
            CalamineWorkbook.from_path(str(path))
    except UnreadableSource:
        raise
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
    missing = uncached_formulas(path)  # a formula saved without its result is not an empty cell
    for g in grids:
        for (r, c), formula in missing.get(g.sheet, {}).items():
            if c >= MAX_COLUMNS:
                continue
            while len(g.rows) <= r:
                g.rows.append([])
            row = g.rows[r]
            if len(row) <= c:
                row.extend([None] * (c + 1 - len(row)))
            if row[c] is None:
                row[c] = UncachedFormula(formula)
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
    grids = [SheetGrid(path, path.stem + (f"#{i + 1}" if i else ""), rows, merged, named=False)
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


def refuse_special(path: Path, root: Path | None = None) -> None:
    """A source must be a regular file (not a pipe, a device or a folder), and a file
    found in an archive folder must not be a link to somewhere outside that folder."""
    import os
    import stat
    if root is not None and path.is_symlink():
        target = Path(os.path.realpath(path))
        try:
            target.relative_to(Path(os.path.realpath(root)))
        except ValueError:
            raise UnreadableSource(f"这是一个链接，指向文件夹之外的“{target}”，未导入（请直接指定该文件）") from None
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UnreadableSource("文件不存在" + ("（链接指向的文件不存在）" if path.is_symlink() else "")) from None
    except OSError as e:
        raise UnreadableSource(f"无法访问（{e.strerror or e}）") from None
    if stat.S_ISDIR(st.st_mode):
        raise UnreadableSource("这是一个文件夹，不是文件")
    if not stat.S_ISREG(st.st_mode):
        kind = "管道（FIFO）" if stat.S_ISFIFO(st.st_mode) else "设备文件" if (
            stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) else "套接字等特殊文件"
        raise UnreadableSource(f"不是普通文件（{kind}），未读取")


def read_source(path: Path) -> list[SheetGrid]:
    refuse_special(path)
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
    try:
        return read_csv(path)
    except UnreadableSource as e:
        if ext in (".xls", ".xlsx", ".xlsm", ".ods") and "不是文本格式" in str(e):  # named a workbook, holds neither
            raise UnreadableSource(f"文件已损坏或不是有效的 Excel 文件（扩展名是 {ext}，内容却不是表格文件）") from None
        raise


def expand_sources(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """(file, the archive folder it was found in, or None for a file given by name).
    Folders are searched recursively for supported files (Excel's ~$ lock files skipped;
    links to folders are not followed); what is found that is not a regular file stays
    on the list, so that it is refused by name, never silently passed over."""
    import os
    out: list[tuple[Path, Path | None]] = []
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            found = []
            for dirpath, dirnames, filenames in os.walk(p):  # os.walk does not follow links to folders
                for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    f = Path(dirpath) / name
                    if f.suffix.lower() in SUPPORTED and not name.startswith("~$"):
                        found.append(f)
            out.extend((f, p) for f in sorted(found))
        else:
            out.append((p, None))
    return out
