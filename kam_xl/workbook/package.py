"""The structure of an .xlsx/.xlsm package: which zip part holds which sheet
and which table, and each table's range.  Reads only the small XML parts."""
from __future__ import annotations

import posixpath
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from xml.sax.saxutils import unescape

from .. import layout as L

_REL = re.compile(rb'<Relationship\b[^>]*?/>')
_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')
_SHEET = re.compile(rb'<sheet\b[^>]*?/>')


def attrs(tag: bytes) -> dict[str, str]:
    return {k.decode(): unescape(v.decode(), {"&quot;": '"', "&apos;": "'"})
            for k, v in _ATTR.findall(tag)}


def col_letter(idx: int) -> str:
    """0-based column index → letters."""
    s = ""
    idx += 1
    while idx:
        idx, r = divmod(idx - 1, 26)
        s = chr(65 + r) + s
    return s


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_REF = re.compile(r"([A-Z]+)(\d+)")


def parse_ref(ref: str) -> tuple[int, int, int, int]:
    """'B2:D10' → (first_col, first_row, last_col, last_row), cols 0-based, rows 1-based."""
    a, _, b = ref.replace("$", "").partition(":")
    ma, mb = _REF.fullmatch(a), _REF.fullmatch(b or a)
    return col_index(ma[1]), int(ma[2]), col_index(mb[1]), int(mb[2])


def make_ref(c1: int, r1: int, c2: int, r2: int) -> str:
    return f"{col_letter(c1)}{r1}:{col_letter(c2)}{r2}"


def _rels(z: zipfile.ZipFile, part: str) -> dict[str, str]:
    d, f = posixpath.split(part)
    rels_name = posixpath.join(d, "_rels", f + ".rels")
    try:
        data = z.read(rels_name)
    except KeyError:
        return {}
    out = {}
    for tag in _REL.findall(data):
        a = attrs(tag)
        if a.get("TargetMode") == "External":
            continue
        target = a["Target"]
        if target.startswith("/"):
            path = target[1:]
        else:
            path = posixpath.normpath(posixpath.join(d, target))
        out[a["Id"]] = path
    return out


def header_key(text: str) -> str:
    """A header as compared with the layout's: width (（）→()), case and spaces do not count."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


@dataclass
class TablePart:
    name: str
    part: str
    sheet: str
    sheet_part: str
    ref: str
    columns: list[str]            # the layout's header where the typed one means it, else as typed
    typed_columns: list[str] | None = None  # the headers as they stand in the file
    header_rows: int = 1          # headerRowCount: 0 when the header row is switched off
    totals_rows: int = 0          # totalsRowCount: the last row of `ref` is the totals row
    file_ref: str | None = None   # the ref in the file, when rows typed below were taken in
    calculated: dict[str, str] | None = None  # header → the calculated column's formula, as in the file

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        return parse_ref(self.ref)

    @property
    def data_end(self) -> int:
        """Excel row of the last data row (above the totals row, if any)."""
        return self.bounds[3] - self.totals_rows


@dataclass
class Package:
    sheets: dict[str, str]        # sheet name → part path, in workbook order
    tables: dict[str, TablePart]  # table name → part
    date1904: bool = False        # workbookPr date1904: serials count from 1904-01-01
    calc_chain: str | None = None  # xl/calcChain.xml when the book has one


_TABLE_TAG = re.compile(rb"<table\b[^>]*>")
_TCOL = re.compile(rb"<tableColumn\b[^>]*?(?:/>|>)")
_TCOL_FULL = re.compile(rb"<tableColumn\b([^>]*?)(?:/>|>(.*?)</tableColumn>)", re.S)
_CALC = re.compile(rb"<calculatedColumnFormula\b[^>]*>(.*?)</calculatedColumnFormula>", re.S)


def calculated_formulas(table_xml: bytes, headers: list[str]) -> dict[str, str]:
    out = {}
    for h, m in zip(headers, _TCOL_FULL.finditer(table_xml)):
        f = _CALC.search(m[2] or b"")
        if f:
            out[h] = unescape(f[1].decode(), {"&quot;": '"', "&apos;": "'"})
    return out


def _canonical(name: str, typed: list[str]) -> list[str]:
    """Typed headers → the layout's spelling where they match it after header_key."""
    tdef = L.TABLES.get(name)
    if tdef is None:
        return list(typed)
    by_key = {header_key(h): h for h in tdef.headers}
    out = []
    for h in typed:
        canon = h if h in tdef.headers else by_key.get(header_key(h), h)
        out.append(canon if canon not in out else h)
    return out


def read_package(z: zipfile.ZipFile) -> Package:
    wb_part = "xl/workbook.xml"
    rels = _rels(z, wb_part)
    sheets: dict[str, str] = {}
    wb_xml = z.read(wb_part)
    pr = re.search(rb"<workbookPr\b[^>]*>", wb_xml)
    date1904 = bool(pr) and attrs(pr.group(0)).get("date1904", "0").lower() in ("1", "true")
    calc_chain = next((p for p in rels.values() if p.endswith("calcChain.xml")), None)
    for tag in _SHEET.findall(wb_xml):
        a = attrs(tag)
        rid = a.get("r:id") or next((v for k, v in a.items() if k.endswith(":id")), None)
        if rid in rels:
            sheets[a["name"]] = rels[rid]
    tables: dict[str, TablePart] = {}
    for sheet, part in sheets.items():
        for target in _rels(z, part).values():
            if not re.search(r"/tables/table\d*\.xml$", target):
                continue
            data = z.read(target)
            ta = attrs(_TABLE_TAG.search(data).group(0))
            typed = [attrs(t).get("name", "") for t in _TCOL.findall(data)]
            name = ta.get("displayName") or ta["name"]
            columns = _canonical(name, typed)
            tables[name] = TablePart(
                name, target, sheet, part, ta["ref"], columns, typed,
                header_rows=int(ta.get("headerRowCount", "1") or 1),
                totals_rows=int(ta.get("totalsRowCount", "0") or 0),
                calculated=calculated_formulas(data, columns))
    return Package(sheets, tables, date1904, calc_chain)
