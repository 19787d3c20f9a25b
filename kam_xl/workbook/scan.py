"""One streaming look through a sheet's XML for what a table reader does not show:
error cells (#N/A, #NAME?, #SPILL! …), formula cells without a cached value, shared
formulas, and every cell below the tables of the sheet (typed rows, notes, a manual
合计 row).  The sheet is inflated piece by piece and never held whole; the common
case (no errors, nothing below) costs one inflate and a few byte searches.
"""
from __future__ import annotations

import re
import zipfile
from xml.sax.saxutils import unescape
from dataclasses import dataclass, field
from typing import Iterator

from . import deflate
from .package import TablePart, col_index, col_letter

MAX_STRETCH = 256 << 20  # bytes without a row start: no real sheet has one; a whitespace bomb does
CELL_WINDOW = 1 << 16    # how far back or ahead a search for a cell's own tags may look
FAR_COLS = 64            # cells this many columns right of the tables …
FAR_ROWS = 100_000       # … or this far below them make the reader use a trimmed copy


class SheetTooStrange(ValueError):
    """A sheet built to exhaust a reader (a stretch of hundreds of MB without a row)."""

_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_ROW_NUM = re.compile(rb'\br="(\d+)"')
_ROW_HEAD = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*?(/?)>')
_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
T_ATTR = re.compile(rb'\bt="(\w+)"')
V_TAG = re.compile(rb"<v>([^<]*)</v>")
SI = re.compile(rb"<si\b[^>]*?(?:/>|>(.*?)</si>)", re.S)  # a shared string (its body)
_T_RUN = re.compile(rb"<t\b[^>]*?(?:/>|>([^<]*)</t>)")
_RPH = re.compile(rb"<rPh\b.*?</rPh>", re.S)
_ENTITIES = {"&quot;": '"', "&apos;": "'"}
_CHAR_REF = re.compile(r"&#(x[0-9A-Fa-f]+|\d+);")
_F = re.compile(rb"<f\b")
# the attribute si="…" after a space (a literal start lets the regex engine skip ahead: a \b
# made this the slowest search of the scan); after a tab or line break only when one is there
_SI_ANY = re.compile(rb' si="(\d+)"')
_SI_OTHER = re.compile(rb'[\t\r\n]si="(\d+)"')
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
    max_row: int = 0                                                       # the last row of the sheet
    # the last column far beyond the tables; None: not looked for (a read that ignores them)
    max_col: int | None = 0


def _cell_at(seg: bytes, pos: int) -> tuple[int, int] | None:
    """Start and end of the <c> element around byte `pos` (searches stay near `pos`:
    a crafted sheet with many markers and no cell tags must not make this quadratic)."""
    start = seg.rfind(b"<c ", max(0, pos - CELL_WINDOW), pos)
    if start < 0:
        return None
    end = seg.find(b"</c>", pos, pos + CELL_WINDOW)
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
    t = T_ATTR.search(attrs)
    kind = t[1].decode() if t else "n"
    body = body or b""
    formula = bool(_F.search(body))
    if kind == "inlineStr":
        text = rich_text(body, "replace")
    else:
        v = V_TAG.search(body)
        text = v[1].decode("utf-8", "replace") if v else ""
    if not text and not formula:
        kind = "blank"
    return ref, TailCell(kind, text, formula)


def xml_text(raw: bytes, errors: str = "strict") -> str:
    """Element text as it reads: entities and character references resolved."""
    s = unescape(raw.decode("utf-8", errors), _ENTITIES)
    return _CHAR_REF.sub(lambda m: chr(int(m[1][1:], 16) if m[1][0] == "x" else int(m[1])), s) if "&#" in s else s


def rich_text(body: bytes, errors: str = "strict") -> str:
    """The text of a shared or inline string (<si>, <is>): its runs joined, phonetic guides left out."""
    if b"<rPh" in body:
        body = _RPH.sub(b"", body)
    return "".join(xml_text(t, errors) for t in _T_RUN.findall(body) if t)


def beyond_pattern(col: int) -> re.Pattern:
    """A cell reference whose column is right of `col` (a regex, so the common case —
    nothing there — costs one C-level search per chunk)."""
    letters = col_letter(col - 1)
    n = len(letters)
    alts = [rb"[A-Z]{%d,3}" % (n + 1)] if n < 3 else []
    for i, ch in enumerate(letters):
        if ch != "Z":
            alts.append(letters[:i].encode() + b"[" + chr(ord(ch) + 1).encode() + b"-Z]" + (b"[A-Z]{%d}" % (n - i - 1)))
    # no \b before r=": a literal start lets the regex engine skip ahead (7x faster on a big
    # sheet); r=" followed by letters is only ever a cell reference
    return re.compile(rb'r="(' + b"|".join(alts) + rb')\d') if alts else re.compile(rb"(?!)")


_TWO_LETTERS = re.compile(rb'r="[A-Z][A-Z]')
_NO_VALUE = re.compile(rb"</f>(?:</c>|<v></v></c>|<v/></c>)")
_WORD = re.compile(rb"\w")


def _masters(seg: bytes) -> Iterator[int]:
    """Where each <f> tag holding a shared formula's text starts: t="shared" and a ref="…" among
    its attributes, in any order — _MASTER's matches, found from the rare ref=" rather than from
    every formula (a table's calculated column is a hundred thousand <f> tags and one master).
    The tag of a ref=" starts at the last "<" before it: looked for only since the previous hit,
    so that a stretch of ref=" without tags costs one pass, not one per hit."""
    prev, lt, looked = 0, -1, -1
    pos = seg.find(b'ref="')
    while pos >= 0:
        found = seg.rfind(b"<", prev, pos)
        lt = found if found >= 0 else lt
        if lt > looked and (pos == 0 or not _WORD.match(seg, pos - 1)):
            looked = lt  # a tag is looked at once, however many ref=" it holds
            if _MASTER.match(seg, lt):
                yield lt
        prev = pos
        pos = seg.find(b'ref="', pos + 5)


class _Scanner:
    def __init__(self, below: int, right: int = 16384):
        self.below = below  # rows after this one are looked at cell by cell
        self.out = SheetScan()
        self.far = beyond_pattern(right) if right < 16384 else None
        # a column right of `right` (never left of Z: FAR_COLS) has two letters or more: a stretch
        # without a reference of two letters (a table up to Z, most data sheets) has no far cell —
        # one simple search instead of the alternatives tried at every cell (0.4 s of 400,000 visits)
        self.two_letters = _TWO_LETTERS if right >= 26 else None

    def segment(self, seg: bytes, offset: int) -> None:
        out = self.out
        pos = _find_error(seg, 0)
        while pos >= 0:
            span = _cell_at(seg, pos)
            if span:
                ref = _ref_of(seg, span[0])
                v = V_TAG.search(seg, span[0], span[1])
                if ref:
                    out.errors[ref] = v[1].decode() if v else "#N/A"
                    out.error_spans.append((offset + span[0], offset + span[1]))
            pos = _find_error(seg, pos + 5)
        # a stretch without formulas (most of a data sheet) skips their searches
        formulas = _has_formula_tag(seg)
        # a formula without its value: </f> then the cell's end, an empty <v>, or a self-closed
        # <f …/> then the cell's end (one regex pass for the first three, one search for the last)
        for m in (_NO_VALUE.finditer(seg) if formulas else ()):
            _uncached_at(out, seg, m.start())
        pos = seg.find(b"/></c>") if formulas else -1
        while pos >= 0:
            if seg.startswith(b"<f", seg.rfind(b"<", 0, pos)):
                _uncached_at(out, seg, pos)
            pos = seg.find(b"/></c>", pos + 1)
        if formulas and b't="shared"' in seg:
            out.shared = True
            found = set(_SI_ANY.findall(seg))
            if b'\tsi="' in seg or b'\nsi="' in seg or b'\rsi="' in seg:
                found.update(_SI_OTHER.findall(seg))
            out.max_si = max([out.max_si, *map(int, found)])
            for start in _masters(seg):
                cell = seg.rfind(b"<c ", max(0, start - CELL_WINDOW), start)
                ref = _ref_of(seg, cell) if cell >= 0 else None
                if ref:
                    out.masters.add(ref)
        if self.far is not None and (self.two_letters is None or self.two_letters.search(seg)):
            for m in self.far.finditer(seg):
                out.max_col = max(out.max_col, col_index(m[1].decode()))
        last = seg.rfind(b"<row ")
        if last < 0:
            return
        m = _ROW_NUM.search(seg, last, last + 200)
        if m:
            out.max_row = max(out.max_row, int(m[1]))
        if not m or int(m[1]) <= self.below:
            return
        for rm in _ROW_HEAD.finditer(seg):
            rn = int(rm[1])
            if rn <= self.below or rm[2]:
                continue
            stop = seg.find(b"</row>", rm.end())
            stop = min(stop if stop >= 0 else len(seg), rm.end() + (4 << 20))  # a row of notes, not a bomb
            cells = {}
            for cm in _CELL.finditer(seg, rm.end(), stop):
                ref, cell = parse_cell(cm[1], cm[2])
                if ref and cell.kind != "blank":
                    cells[ref[1]] = cell
            if cells:
                out.tail[rn] = cells


def _has_formula_tag(seg: bytes) -> bool:
    """b"<f" in seg, found from its "f" at memchr speed (a sheet's cells and rows seldom hold
    one) rather than from its "<", which starts every tag: 0.3 s less for 400,000 visits.  A
    stretch with many an "f" (English text typed inline) is searched as a whole after a few."""
    pos = seg.find(b"f", 1)
    for _ in range(_F_TRIES):
        if pos < 0:
            return False
        if seg[pos - 1] == 60:  # "<"
            return True
        pos = seg.find(b"f", pos + 1)
    return pos >= 0 and seg.find(b"<f", pos - 1) >= 0


_F_TRIES = 32


def _find_error(seg: bytes, start: int) -> int:
    """seg.find(b't="e"', start), found from its "e" at memchr speed where a lowercase "e" is rare
    (a sheet of values and shared strings: 0.2 s less for 400,000 visits); where it is not (t="shared"
    in every formula cell, English text inline) the whole search after a few."""
    pos = seg.find(b"e", start + 3)
    for _ in range(_F_TRIES):
        if pos < 0:
            return -1
        if seg[pos - 3:pos + 2] == b't="e"':
            return pos - 3
        pos = seg.find(b"e", pos + 1)
    return seg.find(b't="e"', pos - 3) if pos >= 0 else -1


def _uncached_at(out: SheetScan, seg: bytes, pos: int) -> None:
    start = seg.rfind(b"<c ", max(0, pos - CELL_WINDOW), pos)
    ref = _ref_of(seg, start) if start >= 0 else None
    if ref:
        out.uncached.add(ref)


def scan_sheet(path: str, part: str, tables: list[TablePart]) -> SheetScan:
    """Scan one sheet part; `tables` are the tables on it (their ends decide what is 'below')."""
    scanner = SheetScanner(part, tables)
    for chunk in deflate.inflated(path, part):  # piece by piece: the sheet is never held whole
        scanner.feed(chunk)
    return scanner.result()


class SheetScanner:
    """scan_sheet fed the sheet's XML in order, in pieces of any size — so that another reader
    of the same sheet (the column reader, in the helper process) takes the same inflated pieces."""

    def __init__(self, part: str, tables: list[TablePart], far: bool = True):
        """far=False: cells far right of the tables are not looked for (max_col None) — what
        only a reader that builds the sheet's whole grid needs, not one that reads a few
        columns (the column reader): a regular expression tried at every cell of the sheet."""
        below = min((t.data_end for t in tables), default=0)
        right = max((t.bounds[2] for t in tables), default=0) + FAR_COLS
        self.part = part
        self.sc = _Scanner(below, right if far else 16384)
        if not far:
            self.sc.out.max_col = None
        self.pending: list[bytes] = []  # the stretch since the last row start, in pieces (linear, never re-copied)
        self.size = 0
        self.offset = 0  # stream offset of the stretch's first byte

    def feed(self, chunk: bytes) -> None:
        pending = self.pending
        # a row start in this chunk (or across its seam with the previous one)
        seam = pending[-1][-4:] if pending else b""
        hit = (seam + chunk).rfind(b"<row ")
        cut_in_chunk = hit - len(seam) if hit >= 0 else -1
        if hit < 0 or (self.size + cut_in_chunk <= 0):
            pending.append(chunk)
            self.size += len(chunk)
            if self.size > MAX_STRETCH:
                raise SheetTooStrange(f"{self.part}: {self.size >> 20} MB without a row")
            return
        buf = b"".join(pending + [chunk])
        cut = self.size + cut_in_chunk
        self.sc.segment(buf[:cut], self.offset)
        self.offset += cut
        rest = buf[cut:]
        self.pending, self.size = [rest], len(rest)

    def result(self) -> SheetScan:
        """What the scan found, once the whole sheet has been fed."""
        if self.pending:
            self.sc.segment(b"".join(self.pending), self.offset)
            self.pending = []
        return self.sc.out


_ROW_EL = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*?(?:/>|>(.*?)</row>)', re.S)
_DIMENSION = re.compile(rb'<dimension\b[^>]*/>')


def trim_sheet(xml: bytes, last_row: int, last_col: int) -> bytes:
    """The sheet without the cells beyond (last_row, last_col): what a table reader is
    given when a stray note far away would make it allocate the sheet's whole grid
    (the note itself stays in the book, untouched; only the reader's copy lacks it)."""
    def cell(m: re.Match) -> bytes:
        r = _REF.search(m[1])
        return m[0] if r is None or col_index(r[1].decode()) <= last_col else b""

    def row(m: re.Match) -> bytes:
        if int(m[1]) > last_row:
            return b""
        return _CELL.sub(cell, m[0]) if m[2] else m[0]

    xml = _ROW_EL.sub(row, xml)
    return _DIMENSION.sub(b'<dimension ref="A1:' + col_letter(last_col).encode() + str(last_row).encode() + b'"/>',
                          xml, count=1)


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
    return [rich_text(body, "replace") if body else "" for body in SI.findall(data)]
