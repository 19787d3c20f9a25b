"""The structure of an .xlsx/.xlsm package: which zip part holds which sheet
and which table, and each table's range.  Reads only the small XML parts."""
from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from xml.sax.saxutils import unescape

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


@dataclass
class TablePart:
    name: str
    part: str
    sheet: str
    sheet_part: str
    ref: str
    columns: list[str]

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        return parse_ref(self.ref)


@dataclass
class Package:
    sheets: dict[str, str]        # sheet name → part path, in workbook order
    tables: dict[str, TablePart]  # table name → part

    def sheet_part(self, sheet: str) -> str:
        return self.sheets[sheet]


_TABLE_TAG = re.compile(rb"<table\b[^>]*>")
_TCOL = re.compile(rb"<tableColumn\b[^>]*?(?:/>|>)")


def read_package(z: zipfile.ZipFile) -> Package:
    wb_part = "xl/workbook.xml"
    rels = _rels(z, wb_part)
    sheets: dict[str, str] = {}
    for tag in _SHEET.findall(z.read(wb_part)):
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
            cols = [attrs(t).get("name", "") for t in _TCOL.findall(data)]
            tables[ta.get("displayName") or ta["name"]] = TablePart(
                ta.get("displayName") or ta["name"], target, sheet, part, ta["ref"], cols)
    return Package(sheets, tables)
