"""A few columns of a big sheet, read straight from its XML as it is inflated.

fastexcel (calamine) builds every cell of a sheet before it hands over the columns
asked for: on a 400,000-row 拜访记录 that is 7 million cells and half a gigabyte, to
give back the one or two columns an action reads.  Here the sheet is inflated piece
by piece and only the cells of the wanted columns are matched (a regular expression
per piece, the rest of the row skipped at C speed); the shared strings they point at
come from one pass over the string table.

The values are the ones the fastexcel path gives (engine.to_python): text ("" is
None), float, bool, a date for a date-formatted whole serial, None for an empty
cell.  Whatever this reader would not type the way calamine does — a cell without
its reference, a namespace prefix, a column mixing kinds, a time of day, a duration,
the 1904 date system, an `_xHHHH_` escape — raises `Unusual`, and the caller reads
the table with fastexcel as before.  tests/unit/test_columns.py holds the two
readers to the same values on books written by every writer we run.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
import zipfile
from typing import Any, Iterable

from . import deflate
from .package import _rels, attrs, col_letter
from .scan import MAX_STRETCH, SI, T_ATTR, V_TAG, rich_text, xml_text

MIN_BYTES = 24 << 20   # smaller sheets: fastexcel is as quick and the memory is small anyway
MAX_COLUMNS = 4        # more value columns than this: calamine's native speed wins

_XESC = re.compile(r"_x[0-9A-Fa-f]{4}_")
_S_ATTR = re.compile(rb'\bs="(\d+)"')
_NUMFMT = re.compile(rb"<numFmt\b[^>]*?/?>")
_CELLXFS = re.compile(rb"<cellXfs\b[^>]*>(.*?)</cellXfs>", re.S)
_XF = re.compile(rb"<xf\b[^>]*?/?>")

EPOCH = dt.date(1899, 12, 30)
DATE_IDS = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 47}  # calamine's built-in date formats
DURATION_IDS = {46}                                       # [h]:mm:ss


class Unusual(Exception):
    """Something this reader does not type the way fastexcel does: read with fastexcel."""


def format_kind(code: str) -> str:
    """'date', 'duration' or 'number' for a number format code (its first section)."""
    quoted = escaped = False
    depth = 0
    bracket = ""
    for ch in code:
        if escaped:
            escaped = False
        elif quoted:
            quoted = ch != '"'
        elif ch in "\\_":
            escaped = True
        elif ch == '"':
            quoted = True
        elif ch == ";":
            break
        elif ch == "[":
            depth += 1
            bracket = ""
        elif ch == "]":
            if bracket and bracket[0].lower() in "hms" and set(bracket.lower()) == {bracket[0].lower()}:
                return "duration"
            depth = max(0, depth - 1)
        elif depth:
            bracket += ch
        elif ch.lower() in "dmyhs":
            return "date"
    return "number"


class Strings:
    """The shared string table, each entry decoded the first time a cell asks for it:
    a big book holds a million strings and a few columns point at a fraction of them."""

    def __init__(self, data: bytes):
        self._bodies = _si_bodies(data)
        self._done: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._bodies)

    def __getitem__(self, i: int) -> str:
        got = self._done.get(i)
        if got is None:
            body = self._bodies[i]
            if body.startswith(b"<t>") and body.endswith(b"</t>") and body.count(b"<") == 2:
                got = body[3:-4].decode("utf-8")
                if "&" in got:
                    got = xml_text(body[3:-4])
            else:
                got = rich_text(body) if body else ""
            if "_x" in got and _XESC.search(got):
                raise Unusual("an _xHHHH_ escape")
            self._done[i] = got
        return got


def _si_bodies(data: bytes) -> list[bytes]:
    """The body of every <si> of a shared string table, in order.  The common table — every
    entry a plain <si> written right after the one before, as Excel, xlsxwriter and openpyxl
    write it — is cut at its joints at C speed (a million strings: 0.07 s instead of 0.36 s);
    any other (attributes, <si/>, whitespace between entries) goes through the element regex."""
    n = data.count(b"<si")
    first = data.find(b"<si>")
    # n entries, n ends, n - 1 joints: no end inside an entry (a broken file's), cut as the regex does
    if n and data.count(b"</si><si>") == n - 1 and first == data.find(b"<si") and data.count(b"</si>") == n:
        end = data.rfind(b"</si>")
        if end > first:
            return data[first + 4:end].split(b"</si><si>")
    return SI.findall(data)


class Source:
    """One book file's shared strings and number formats, read once, for every table
    read from it (shared by the store's threads)."""

    def __init__(self, path: str, date1904: bool = False):
        self.path = path
        self.date1904 = date1904
        self._lock = threading.Lock()
        self._strings: Strings | None = None
        self._styles: list[str] | None = None
        self._parts: tuple[str | None, str | None] | None = None

    def _part_names(self, z: zipfile.ZipFile) -> tuple[str | None, str | None]:
        if self._parts is None:
            targets = list(_rels(z, "xl/workbook.xml").values())
            sst = next((t for t in targets if t.lower().endswith("sharedstrings.xml")), None)
            styles = next((t for t in targets if t.lower().endswith("styles.xml")), None)
            self._parts = (sst, styles)
        return self._parts

    def strings(self, z: zipfile.ZipFile) -> Strings:
        with self._lock:
            if self._strings is None:
                part = self._part_names(z)[0]
                self._strings = Strings(z.read(part) if part and part in z.NameToInfo else b"")
            return self._strings

    def styles(self, z: zipfile.ZipFile) -> list[str]:
        """Each cell style's kind: 'date', 'duration' or 'number'."""
        with self._lock:
            if self._styles is None:
                part = self._part_names(z)[1]
                data = z.read(part) if part and part in z.NameToInfo else b""
                custom = {}
                for tag in _NUMFMT.findall(data):
                    a = attrs(tag)
                    if a.get("numFmtId", "").isdigit():
                        custom[int(a["numFmtId"])] = format_kind(a.get("formatCode", ""))
                kinds = []
                xfs = _CELLXFS.search(data)
                for tag in _XF.findall(xfs[1] if xfs else b""):
                    fid = attrs(tag).get("numFmtId", "0")
                    fid = int(fid) if fid.isdigit() else 0
                    kinds.append(custom[fid] if fid in custom else "date" if fid in DATE_IDS
                                 else "duration" if fid in DURATION_IDS else "number")
                self._styles = kinds
            return self._styles

    def suits(self, sheet_part: str, n_columns: int) -> bool:
        """Whether reading n_columns of this sheet here beats fastexcel."""
        if n_columns > MAX_COLUMNS or self.date1904:
            return False
        try:
            with zipfile.ZipFile(self.path) as z:
                return z.getinfo(sheet_part).file_size >= MIN_BYTES
        except (KeyError, OSError, zipfile.BadZipFile):
            return False

    def load(self, sheet_part: str, first_col: int, header_row: int, n_body: int, keep: list[int],
             user: list[int], chunks: Iterable[bytes] | None = None) -> tuple[list[list[Any]], int]:
        """The kept columns (offsets from first_col) of the table rows below header_row, cut
        after the last row with a value in a `user` column; (columns, rows).  `chunks`: the
        sheet's XML as another pass inflates it (the scan's, in the helper process), in order
        and whole; else the part is inflated here."""
        reader = _SheetReader(self, first_col, header_row, n_body, keep, user)
        with zipfile.ZipFile(self.path) as z:
            reader.strings = self.strings(z)
            reader.styles = self.styles(z)
            if chunks is None:
                for chunk in deflate.inflated(self.path, sheet_part):
                    reader.feed(chunk)
            else:
                for chunk in chunks:
                    reader.feed(chunk)
        return reader.result()


def _prefixed_cell(seg: bytes) -> bool:
    """Whether a <c> tag with a namespace prefix (<x:c …>) is in the piece: one search for ":c"
    (rare in a sheet: a row's spans="1:18" has a colon, not ":c"), each hit looked at."""
    pos = seg.find(b":c")
    while pos >= 0:
        if seg[pos + 2:pos + 3] in (b" ", b">"):
            return True
        pos = seg.find(b":c", pos + 2)
    return False


class _SheetReader:
    def __init__(self, src: Source, first_col: int, header_row: int, n_body: int, keep: list[int],
                 user: list[int]):
        self.lo, self.hi = header_row + 1, header_row + n_body
        self.keep = keep
        letters = {col_letter(first_col + i): j for j, i in enumerate(keep)}
        self.slot = {k.encode(): v for k, v in letters.items()}
        self.values: list[list[Any]] = [[None] * n_body for _ in keep]
        self.kept_user = [keep.index(i) for i in user if i in keep]
        self.other_user = sorted({col_letter(first_col + i) for i in user if i not in keep})
        alt = b"|".join(re.escape(k) for k in self.slot)
        # the common cell (<v> alone) has its value in group 4, any other body is group 5; a <c>
        # tag that does not start with its reference (no r, another attribute first, other
        # whitespace) matches the second branch, with no group: this reader would not see that
        # cell (looked for in the same pass as the cells, not by counting tags over the sheet)
        self.cell = re.compile(rb'<c(?: r="(' + alt + rb')(\d+)"([^>]*?)(?:/>|><v>([^<]*)</v></c>|>(.*?)</c>)'
                               rb'|(?! r=")(?=[\s/>]))', re.S)
        if self.other_user:
            alt = "|".join(self.other_user).encode()
            self.user_cell = re.compile(rb'<c r="(?:' + alt + rb')(\d+)"([^>]*?)(?:/>|>(.*?)</c>)', re.S)
        self.last_other = 0  # the last table row with a value in a user column not kept
        self.attrs: dict[bytes, tuple[str, str]] = {}
        self.strings: Strings | list = []
        self.styles: list[str] = []
        self.pending = b""  # the XML since the last row end
        self.head_seen = False

    def feed(self, chunk: bytes) -> None:
        """The sheet's next bytes: every whole row in them is read (a piece ends after a row)."""
        buf = self.pending + chunk
        if not self.head_seen:
            if len(buf) < 4096:
                self.pending = buf
                return
            self._head(buf)
        end = buf.rfind(b"</row>")
        if end < 0:
            if len(buf) > MAX_STRETCH:
                raise Unusual("no row end")
            self.pending = buf
            return
        end += 6
        self.piece(buf[:end])
        self.pending = buf[end:]

    def _head(self, head: bytes) -> None:
        self.head_seen = True
        head = head[:4096]
        if re.search(rb"<\w+:worksheet\b", head) or b"<worksheet" not in head:
            raise Unusual("a namespace prefix")  # every tag would carry it

    def _attrs(self, attrs: bytes) -> tuple[str, str]:
        got = self.attrs.get(attrs)
        if got is None:
            t = T_ATTR.search(attrs)
            s = _S_ATTR.search(attrs)
            style = int(s[1]) if s else 0
            kind = self.styles[style] if style < len(self.styles) else "number"
            got = self.attrs[attrs] = (t[1].decode() if t else "n", kind)
        return got

    def value(self, attrs: bytes, body: bytes | None, v: bytes | None = None) -> Any:
        """A cell's value from its attributes and either its <v> text or its whole body."""
        t, style = self.attrs.get(attrs) or self._attrs(attrs)
        if v is None:
            if not body:
                return None
            if t == "inlineStr":
                s = rich_text(body)
                if "_x" in s and _XESC.search(s):
                    raise Unusual("an _xHHHH_ escape")
                return s if s != "" else None
            m = V_TAG.search(body)
            if m is None:
                return None  # a formula without its value: the scan marks it
            v = m[1]
        if t == "s":
            s = self.strings[int(v)]
        elif t == "n":
            if not v.strip():
                return None
            x = float(v)
            if style == "number":
                return x
            if style == "duration" or x != int(x) or x < 61 or x >= 2958466:
                raise Unusual("a time, a duration or an early date")
            return EPOCH + dt.timedelta(days=int(x))
        elif t == "str":
            s = xml_text(v)
            if "_x" in s and _XESC.search(s):
                raise Unusual("an _xHHHH_ escape")
        elif t == "b":
            return v.strip() in (b"1", b"true")
        elif t == "e":
            return None  # error cells come back from the scan
        else:  # 'd' (ISO dates), inlineStr with a <v>, anything new
            raise Unusual(f"t={t}")
        return s if s != "" else None

    def filled(self, attrs: bytes, body: bytes | None) -> bool:
        """Whether a cell holds a value (as the fastexcel path counts: not empty, not "")."""
        if not body:
            return False
        t = self._attrs(attrs)[0]
        if t == "inlineStr":
            return rich_text(body) != ""
        m = V_TAG.search(body)
        if m is None or (t == "n" and not m[1].strip()):
            return False
        if t == "s":
            try:
                return self.strings[int(m[1])] != ""
            except (ValueError, IndexError) as e:
                raise Unusual(str(e)) from None
        if t in ("str", "inlineStr"):
            return m[1] != b""
        return t != "e"

    def piece(self, seg: bytes) -> None:
        if _prefixed_cell(seg):  # a prefixed <x:c>: this reader would not see the cell
            raise Unusual("cells with a namespace prefix")
        lo, n, slot, values = self.lo, self.hi - self.lo + 1, self.slot, self.values
        value, known = self.value, self.attrs
        strings = self.strings
        done = getattr(strings, "_done", None)
        if done is None:
            done = {}
        numbers: dict = {}  # a number's text → its value in this piece (dates repeat; one object each)
        try:
            for m in self.cell.finditer(seg):
                letters, row, attrs, v, body = m.groups()
                if row is None:  # every <c> element must start with its r (see self.cell)
                    raise Unusual("cells without their reference first")
                r = int(row) - lo
                if r < 0 or r >= n:
                    continue
                kind = known.get(attrs)
                if v and kind is not None:  # the common cell: its value alone, its style seen before
                    t = kind[0]
                    if t == "s":
                        i = int(v)
                        x = done.get(i)
                        if x is None:
                            x = strings[i]
                        if x == "":
                            continue
                    elif t == "n" and kind[1] == "number":
                        x = numbers.get(v)
                        if x is None:
                            x = value(attrs, body, v)
                            if x is None:
                                continue
                            numbers[v] = x
                    else:
                        x = numbers.get((attrs, v))
                        if x is None:
                            x = value(attrs, body, v)
                            if type(x) is dt.date:
                                numbers[(attrs, v)] = x
                            elif x is None:
                                continue
                else:
                    x = value(attrs, body, v)
                    if x is None:
                        continue
                values[slot[letters]][r] = x
        except (ValueError, IndexError) as e:  # a number that is not one, a string index out of range
            raise Unusual(str(e)) from None
        if self.other_user:
            self._last_user_row(seg)

    def _last_user_row(self, seg: bytes) -> None:
        """The last table row of this piece with a value in a user column not kept: rows
        are looked at from the piece's end, so this stops at the first one with data."""
        end = len(seg)
        while end > 0:
            start = seg.rfind(b"<row", 0, end)
            if start < 0:
                return
            row_seen = None
            for m in self.user_cell.finditer(seg, start, end):
                row_seen = int(m[1])
                if row_seen < self.lo:
                    return
                if row_seen <= self.hi and self.filled(m[2], m[3]):
                    self.last_other = max(self.last_other, row_seen)
                    return
            end = start

    def result(self) -> tuple[list[list[Any]], int]:
        """The columns and rows, once the whole sheet has been fed."""
        if not self.head_seen:
            self._head(self.pending)
        self.piece(self.pending)
        self.pending = b""
        for j, col in enumerate(self.values):
            kinds = set(map(type, col)) - {type(None)}
            if len(kinds) > 1:
                raise Unusual(f"column {j} mixes {sorted(k.__name__ for k in kinds)}")
        last = self.last_other - self.lo + 1 if self.last_other else 0
        for j in self.kept_user:
            col = self.values[j]
            for i in range(len(col) - 1, last - 1, -1):
                if col[i] is not None:
                    last = i + 1
                    break
        return [col[:last] for col in self.values], last
