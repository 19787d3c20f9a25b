"""Reading dates and text as people type them in Chinese spreadsheets, and
Excel's date serials — one implementation for workbook cells, legacy imports
and cell functions.  Stdlib only."""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any, Optional

from .. import layout as L

EXCEL_EPOCH = dt.datetime(1899, 12, 30)
MAX_SERIAL = 2958466  # 9999-12-31


class CellError:
    """An Excel error value read from a cell (#N/A, #NAME?, #SPILL! …), or a formula
    cell with no calculated result (NO_VALUE).  A value, not an exception."""
    __slots__ = ("code",)
    NO_VALUE = "NO_VALUE"

    def __init__(self, code: str):
        self.code = code

    def __repr__(self) -> str:
        return f"CellError({self.code!r})"

    def __str__(self) -> str:
        return self.code

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CellError) and other.code == self.code

    def __hash__(self) -> int:
        return hash(("CellError", self.code))

    def message(self, header: str) -> str:
        if self.code == self.NO_VALUE:
            return f"“{header}”是没有计算结果的公式（保存时未计算；在 Excel 中重新计算后保存，或改为数值）"
        return f"“{header}”是错误值 {self.code}（公式出错或引用失效）"


def open_of(amount: Optional[float], paid: Optional[float]) -> float:
    """An invoice's outstanding amount from its amount and what was paid (the formula column may be stale)."""
    return round((amount or 0.0) - (paid or 0.0), 2)


def settled(amount: float) -> bool:
    """An open amount that counts as paid (within layout.SETTLED of zero)."""
    return amount <= L.SETTLED


def same_amount(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) < L.SETTLED


def due_from_term(invoice_date: dt.date, term_days: int) -> dt.date:
    """到期日 of an invoice on a payment term (账期 N 天): the invoice date + N days (seed: 账期
    counts calendar days from the invoice)."""
    return invoice_date + dt.timedelta(days=int(term_days))


def nfkc(v: Any) -> str:
    s = v if type(v) is str else str(v)
    return s.strip() if s.isascii() else unicodedata.normalize("NFKC", s).strip()


def is_blank(v: Any) -> bool:
    """The one rule for an empty cell: nothing, NaN, or only spaces (full-width ones too)."""
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip(" \t\r\n\u3000\xa0")


def means_nothing(v: Any) -> bool:
    """Blank, or what people type for "nothing" in a legacy sheet or a date cell (- or —)."""
    if type(v) is str:
        return not v.strip(NOTHING)
    return is_blank(v)


# what a cell holding "nothing" may hold: a text beginning with none of these is not blank
NOTHING = " \t\r\n\u3000\xa0-—－–"


EPOCH_1904 = dt.datetime(1904, 1, 1)


def to_serial(v: dt.date, date1904: bool = False) -> float:
    """A date or datetime as Excel's serial number (in the 1904 date system when asked)."""
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day)
    delta = v - (EPOCH_1904 if date1904 else EXCEL_EPOCH)
    return delta.days + delta.seconds / 86400


_DATE_PATTERNS = (
    re.compile(r"(\d{4})\s*[年/.\-]\s*(\d{1,2})\s*[月/.\-]\s*(\d{1,2})\s*日?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)


def parse_date(v: Any) -> dt.date | None:
    """2019年3月5日 · 2019/3/5 · 2019.03.05 · 20190305 · Excel serials · real dates.
    None for blank; ValueError with a short Chinese reason otherwise."""
    if means_nothing(v):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, bool):
        raise ValueError("日期无效")
    if isinstance(v, (int, float)):
        x = float(v)
        if not math.isfinite(x):
            raise ValueError("日期无效")
        if 19000101 <= x <= 21001231 and x == int(x):
            return parse_date(str(int(x)))
        if 1 <= x < MAX_SERIAL:
            return (EXCEL_EPOCH + dt.timedelta(days=int(x))).date()
        raise ValueError(f"日期“{v}”无法识别")
    s = nfkc(v)
    s = re.sub(r"[T\s]+\d{1,2}:\d{2}(:\d{2})?(\.\d+)?$", "", s)
    for pat in _DATE_PATTERNS:
        m = pat.fullmatch(s)
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                raise ValueError(f"日期“{v}”不存在") from None
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return parse_date(float(s))
    raise ValueError(f"日期“{v}”无法识别")
