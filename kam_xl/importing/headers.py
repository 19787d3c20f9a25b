"""Mapping a legacy sheet's header cells to the master workbook's fields: the synonym
table (data, synonyms.json), header normalisation, the columns a candidate header row
(or pair of rows) maps and its score.  Where the header is, sheets.py decides."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import layout as L
from .cleaning import nfkc, simplified, unit_of
from .readers import SheetGrid

SYNONYMS_FILE = Path(__file__).with_name("synonyms.json")
TARGETS = (L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name, L.COMPLAINTS.name, L.SURVEYS.name)


@functools.lru_cache(maxsize=4)
def synonyms(path: str = str(SYNONYMS_FILE)) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def norm_header(text: Any) -> str:
    """Compare headers without width, spaces, brackets or a unit in brackets."""
    if text is None:
        return ""
    return _bare(simplified(nfkc(text)))  # 客戶名稱 as 客户名称


def _bare(s: str) -> str:
    """A header's text without a unit in brackets ((元) (万元) (%) …), spaces or punctuation, in lower case."""
    return _NOISE.sub("", _UNIT.sub("", s)).lower()


_UNIT = re.compile(r"[(\[（【][^)\]）】]*[)\]）】]")
_NOISE = re.compile(r"[\s:：*＊._'’\-#/]+")  # Cust. No. · Account-Name · Invoice #


def header_shape(text: Any) -> tuple[int, bool]:
    """(length, all ASCII?) of norm_header(text), without its Traditional → Simplified step, the
    costly one: OpenCC's t2s maps letters (Lo) one to one — never to a bracket, a space or a
    cased letter — so it changes neither (tests check it).  A text of a shape no header has is
    no header: a data row's name is told apart from a repeated header without converting it."""
    return shape(_bare(nfkc(text))) if text is not None else (0, True)


def shape(key: str) -> tuple[int, bool]:
    """A normalised header's (length, all ASCII?): what header_shape gives for its texts."""
    return len(key), key.isascii()


@functools.lru_cache(maxsize=None)
def header_shapes() -> frozenset[tuple[int, bool]]:
    """The shapes of every normalised header of every target table."""
    return frozenset(shape(k) for table in TARGETS for k in lookup(table))


@functools.lru_cache(maxsize=None)  # one per target table (an LRU smaller than TARGETS thrashes)
def lookup(table: str) -> dict[str, str]:
    out = {}
    for target, names in synonyms()["tables"][table].items():
        out[norm_header(target)] = target
        for n in names:
            out.setdefault(norm_header(n), target)
    return out


@dataclass
class HeaderMap:
    table: str
    header_rows: tuple[int, ...]        # 0-based rows forming the header
    columns: dict[int, str]             # source column → target header
    multipliers: dict[int, float]       # source column → amount unit from the header
    source_headers: dict[int, str]      # source column → header text as written
    ignored: list[str] = field(default_factory=list)
    # columns whose words are unknown but whose cells are shaped like customer codes: which of
    # them refers to the customer is decided by content against the archive's codes (import)
    code_columns: list[int] = field(default_factory=list)
    by_content: dict[int, str] = field(default_factory=dict)  # columns placed by what they hold: why
    hints: dict[int, str] = field(default_factory=dict)       # unplaced columns: what they seem to hold

    @property
    def first_data_row(self) -> int:
        return max(self.header_rows) + 1


def _cell(rows: list[list[Any]], r: int, c: int) -> Any:
    row = rows[r] if r < len(rows) else []
    return row[c] if c < len(row) else None


def _match(table: str, names: list[str]) -> str | None:
    lk = lookup(table)
    for n in names:
        k = norm_header(n)
        if k and k in lk:
            return lk[k]
    return None


def candidate(table: str, rows, hdr_rows: tuple[int, ...], width: int):
    columns, mult, src = {}, {}, {}
    used = set()
    for c in range(width):
        texts = [str(_cell(rows, r, c)) for r in hdr_rows if _cell(rows, r, c) not in (None, "")]
        if not texts:
            continue
        # sub-header first, then group + sub, then the group alone
        names = [texts[-1], "".join(texts)] + texts[:-1] if len(texts) > 1 else texts
        target = _match(table, names)
        label = "/".join(dict.fromkeys(texts))
        src[c] = label
        if target and target not in used:
            columns[c] = target
            used.add(target)
            mult[c] = unit_of(texts[-1]) if unit_of(texts[-1]) != 1.0 else unit_of(label)
    return columns, mult, src


def score(table: str, columns: dict[int, str]) -> float:
    distinct = synonyms()["distinctive"].get(table, [])
    return len(columns) + 0.5 * sum(1 for t in columns.values() if t in distinct)


def title_text(grid: SheetGrid, hm: HeaderMap | None) -> str:
    top = hm.header_rows[0] if hm else min(len(grid.rows), 5)
    return " ".join(str(v) for r in grid.rows[:top] for v in r if v not in (None, ""))
