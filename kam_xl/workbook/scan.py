"""One streaming look through a sheet's XML for what a table reader does not show:
error cells (#N/A, #NAME?, #SPILL! …), formula cells without a cached value, shared
formulas, and every cell below the tables of the sheet (typed rows, notes, a manual
合计 row).  The sheet is inflated piece by piece and never held whole; the common
case (no errors, nothing below) costs one inflate and a few byte searches.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field

from .package import TablePart, col_index

CHUNK = 8 << 20

_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_ROW_NUM = re.compile(rb'\br="(\d+)"')
_ROW_HEAD = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*?(/?)>')
_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_T_ATTR = re.compile(rb'\bt="(\w+)"')
_V = re.compile(rb"<v>([^<]*)</v>")
_IS_T = re.compile(rb"<t\b[^>]*>([^<]*)</t>")
_F = re.compile(rb"<f\b")
_SI_ANY = re.compile(rb'\bsi="(\d+)"')
_MASTER = re.compile(rb'<f\b(?=[^>]*\bt="shared")(?=[^>]*\bref=")')  # attributes in any order


@dataclass
class TailCell:
    """A cell below a table: what it holds, enough to tell data from a note or a total."""
    kind: str          # 'n' number, 's' shared string index, 'str'/'inlineStr' text, 'b', 'e', 'blank'
    text: str          # the value as written (a shared string's index for 's')
    formula: bool


@dataclass
class SheetScan:
    errors: dict[tuple[int, int], str] = field(default_factory=dict)       # (row, col) → "#N/A"
    error_spans: list[tuple[int, int]] = field(default_factory=list)       # byte spans of error cells
    uncached: set[tuple[int, int]] = field(default_factory=set)            # formula cells with no value
    shared: bool = False                                                   # any t="shared" formula
    max_si: int = -1                                                       # the highest shared-formula index
    masters: set[tuple[int, int]] = field(default_factory=set)             # cells holding a shared formula's text
    tail: dict[int, dict[int, TailCell]] = field(default_factory=dict)     # rows below the tables


def _cell_at(seg: bytes, pos: int) -> tuple[int, int] | None:
    """Start and end of the <c> element around byte `pos`."""
    start = seg.rfind(b"<c ", 0, pos)
    if start < 0:
        return None
    end = seg.find(b"</c>", pos)
    close = seg.find(b"/>", start, pos + 1)
    if end < 0 or (0 <= close < seg.find(b">", start)):
        return None
    return start, end + 4


def _ref_of(seg: bytes, start: int) -> tuple[int, int] | None:
    m = _REF.search(seg, start, start + 64)
    return (int(m[2]), col_index(m[1].decode())) if m else None


def parse_cell(attrs: bytes, body: bytes | None) -> tuple[tuple[int, int] | None, TailCell]:
    m = _REF.search(attrs)
    ref = (int(m[2]), col_index(m[1].decode())) if m else None
    t = _T_ATTR.search(attrs)
    kind = t[1].decode() if t else "n"
    body = body or b""
    formula = bool(_F.search(body))
    if kind == "inlineStr":
        text = "".join(x.decode("utf-8", "replace") for x in _IS_T.findall(body))
    else:
        v = _V.search(body)
        text = v[1].decode("utf-8", "replace") if v else ""
    if not text and not formula:
        kind = "blank"
    return ref, TailCell(kind, text, formula)


class _Scanner:
    def __init__(self, below: int):
        self.below = below  # rows after this one are looked at cell by cell
        self.out = SheetScan()

    def segment(self, seg: bytes, offset: int) -> None:
        out = self.out
        pos = seg.find(b't="e"')
        while pos >= 0:
            span = _cell_at(seg, pos)
            if span:
                ref = _ref_of(seg, span[0])
                v = _V.search(seg, span[0], span[1])
                if ref:
                    out.errors[ref] = v[1].decode() if v else "#N/A"
                    out.error_spans.append((offset + span[0], offset + span[1]))
            pos = seg.find(b't="e"', pos + 5)
        for needle in (b"</f></c>", b"</f><v></v></c>", b"</f><v/></c>", b"/></c>"):
            pos = seg.find(needle)
            while pos >= 0:
                if needle == b"/></c>" and not seg.startswith(b"<f", seg.rfind(b"<", 0, pos)):
                    pos = seg.find(needle, pos + 1)
                    continue
                start = seg.rfind(b"<c ", 0, pos)
                ref = _ref_of(seg, start) if start >= 0 else None
                if ref:
                    out.uncached.add(ref)
                pos = seg.find(needle, pos + 1)
        if b't="shared"' in seg:
            out.shared = True
            out.max_si = max([out.max_si] + [int(x) for x in _SI_ANY.findall(seg)])
            for m in _MASTER.finditer(seg):
                start = seg.rfind(b"<c ", 0, m.start())
                ref = _ref_of(seg, start) if start >= 0 else None
                if ref:
                    out.masters.add(ref)
        last = seg.rfind(b"<row ")
        if last < 0:
            return
        m = _ROW_NUM.search(seg, last, last + 200)
        if not m or int(m[1]) <= self.below:
            return
        for rm in _ROW_HEAD.finditer(seg):
            rn = int(rm[1])
            if rn <= self.below or rm[2]:
                continue
            stop = seg.find(b"</row>", rm.end())
            cells = {}
            for cm in _CELL.finditer(seg, rm.end(), stop if stop >= 0 else len(seg)):
                ref, cell = parse_cell(cm[1], cm[2])
                if ref and cell.kind != "blank":
                    cells[ref[1]] = cell
            if cells:
                out.tail[rn] = cells


def scan_sheet(path: str, part: str, tables: list[TablePart]) -> SheetScan:
    """Scan one sheet part; `tables` are the tables on it (their ends decide what is 'below')."""
    below = min((t.data_end for t in tables), default=0)
    sc = _Scanner(below)
    with zipfile.ZipFile(path) as z, z.open(part) as f:
        carry = b""
        offset = 0  # stream offset of carry's first byte
        while True:
            chunk = f.read(CHUNK)
            buf = carry + chunk if carry else chunk
            if not chunk:
                if buf:
                    sc.segment(buf, offset)
                break
            cut = buf.rfind(b"<row ")
            if cut <= 0:
                carry = buf
                continue
            sc.segment(buf[:cut], offset)
            offset += cut
            carry = buf[cut:]
    return sc.out


def blank_errors(xml: bytes, spans: list[tuple[int, int]]) -> bytes:
    """The sheet with its error cells emptied (style kept), for a reader that cannot
    read every error value; the values themselves come back from the scan."""
    out, pos = [], 0
    for a, b in sorted(spans):
        head = xml[a:xml.find(b">", a) + 1]
        ref = _REF.search(head)
        style = re.search(rb'\bs="(\d+)"', head)
        out += [xml[pos:a], b'<c r="' + ref[1] + ref[2] + b'"' + (b' s="' + style[1] + b'"' if style else b"") + b"/>"]
        pos = b
    out.append(xml[pos:])
    return b"".join(out)


# ---------------------------------------------------------------------------
# What lies below a table
_LABEL = re.compile(r"^\s*(合\s*计|小\s*计|总\s*计|共\s*计|注|说明|备注)\s*[:：]?")


@dataclass
class Below:
    """Rows under one table that hold something in its columns."""
    absorb: list[int] = field(default_factory=list)    # typed directly under it, look like its rows
    strays: list[int] = field(default_factory=list)    # look like its rows but are not adjacent
    others: list[int] = field(default_factory=list)    # notes, totals typed by hand, anything else
    cells: dict[int, list[int]] = field(default_factory=dict)  # row → columns with content


def classify_below(tp: TablePart, scan: SheetScan, computed: set[str], text_of) -> Below:
    """Sort the rows below `tp` (within its columns): those Excel's auto-expand would have
    taken in (directly under the data, no totals row, a row of values in at least two input
    columns, no formula outside the calculated columns, not labelled 合计/注/…), and the rest.
    text_of(cell) gives a cell's text (shared strings resolved)."""
    c1, _, c2, _ = tp.bounds
    out = Below()
    end = tp.bounds[3]  # below the ref (a totals row, when there is one, is part of the table)
    next_row = end + 1
    adjacent = tp.totals_rows == 0
    for rn in sorted(r for r in scan.tail if r > end):
        cells = {c: cell for c, cell in scan.tail[rn].items() if c1 <= c <= c2}
        if not cells:
            continue
        out.cells[rn] = sorted(cells)
        inputs = {c: cell for c, cell in cells.items() if tp.columns[c - c1] not in computed}
        first = min(cells)
        label = text_of(cells[first]) if cells[first].kind in ("s", "str", "inlineStr") else ""
        looks = (len(inputs) >= 2 and not any(cell.formula for cell in inputs.values())
                 and not _LABEL.match(label or ""))
        if looks and adjacent and rn == next_row:
            out.absorb.append(rn)
            next_row += 1
            continue
        adjacent = False
        (out.strays if looks else out.others).append(rn)
    return out


def shared_strings(path: str) -> list[str]:
    """The shared string table (only read when a cell below a table needs its text)."""
    with zipfile.ZipFile(path) as z:
        try:
            data = z.read("xl/sharedStrings.xml")
        except KeyError:
            return []
    out = []
    for si in re.finditer(rb"<si>(.*?)</si>", data, re.S):
        out.append("".join(t.decode("utf-8", "replace") for t in _IS_T.findall(si[1])))
    return out
