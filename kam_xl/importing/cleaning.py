"""Cleaning values from legacy spreadsheets: amounts, percentages, dates,
phones, ids and enumerations.  Each cleaner returns the clean value or raises
ValueError with a short Chinese reason; None means blank."""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from ..domain.values import means_nothing as is_blank  # a legacy cell's "nothing": blank, - or —
from ..domain.values import nfkc, parse_date  # noqa: F401  (part of the cleaners' API)


_AMOUNT = re.compile(r"\d+(\.\d+)?|\.\d+")
_SPACES = re.compile(r"\s+")


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("数字无效")
    return x


_UNITS = (("亿元", 1e8), ("亿", 1e8), ("万元", 1e4), ("万", 1e4), ("千元", 1e3), ("RMB'000", 1e3), ("'000", 1e3),
          ("千", 1e3), ("元", 1.0))


_T2S = None


def simplified(text: str) -> str:
    """Traditional Chinese as Simplified (客戶名稱 → 客户名称, 較好 → 较好), with OpenCC —
    a Hong Kong or Taiwan branch's headers and values read like the mainland's."""
    global _T2S
    if _T2S is None:
        import opencc
        _T2S = opencc.OpenCC("t2s")
    return _T2S.convert(text) if text and not text.isascii() else text


class DestroyedValue(ValueError):
    """A value a spreadsheet has already destroyed (a long code turned into 2.43E+19):
    refused, and never used to match or merge."""


_SCIENTIFIC = re.compile(r"[+-]?\d+(\.\d+)?[eE][+-]?\d+")


def unit_of(header: str) -> float:
    """The multiplier a header's unit states: 年用量（万元） → 10000, 年用量(萬元) too."""
    h = simplified(nfkc(header))
    m = re.search(r"[(\[]\s*([^)\]]*)\s*[)\]]|单位[:：]?\s*(\S+)$", h)
    text = (m[1] or m[2]) if m else ""
    for unit, mult in _UNITS:
        if unit in text:
            return mult
    return 1.0


def parse_amount(v: Any, multiplier: float = 1.0) -> float | None:
    """50万 · 32.5万元 · ¥1,200,000.00 · 120000元 · full-width digits · numbers × header unit."""
    if is_blank(v):
        return None
    if isinstance(v, bool):
        raise ValueError("金额无效")
    if isinstance(v, (int, float)):
        return round(_finite(float(v)) * multiplier, 2)
    s = simplified(nfkc(v)).replace(",", "").replace("，", "").replace(" ", "").replace("¥", "").replace("￥", "")
    s = s.replace("RMB", "").replace("人民币", "")
    neg = s.startswith("-") or (s.startswith("(") and s.endswith(")"))
    s = s.strip("-()")
    mult = multiplier
    for unit, m in _UNITS:
        if s.endswith(unit):
            s = s[: -len(unit)]
            mult = m if unit != "元" else 1.0
            break
    if not _AMOUNT.fullmatch(s):
        raise ValueError(f"金额“{v}”无法识别")
    x = float(s) * mult
    return round(-x if neg else x, 2)


def parse_percent(v: Any) -> float | None:
    """12.5% · 0.125 · 12.5 (a plain number above 1 is read as percent points)."""
    if is_blank(v):
        return None
    if isinstance(v, bool):
        raise ValueError("百分比无效")
    if isinstance(v, (int, float)):
        x = _finite(float(v))
    else:
        s = nfkc(v).replace(" ", "")
        pct = s.endswith("%")
        s = s.rstrip("%")
        if not re.fullmatch(r"-?\d+(\.\d+)?|-?\.\d+", s):
            raise ValueError(f"百分比“{v}”无法识别")
        x = float(s)
        if pct:
            return round(x / 100, 6)
    if abs(x) > 1:
        if abs(x) > 100:
            raise ValueError(f"百分比“{v}”超出范围")
        x = x / 100
    return round(x, 6)


def parse_text(v: Any) -> str | None:
    if is_blank(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date)):
        return v.strftime("%Y-%m-%d")
    return _SPACES.sub(" ", nfkc(v)).strip() or None


_CJK = re.compile(r"[\u4e00-\u9fff]")


def parse_company(v: Any) -> str | None:
    """A Chinese company name: spaces are noise (杭州  恒泰化工 → 杭州恒泰化工); brackets and
    the legal form are kept as written."""
    t = parse_text(v)
    if t and _CJK.search(t):
        t = _SPACES.sub("", t)
    return t


def parse_id(v: Any) -> str | None:
    """Ids as text: 12.0 → "12", full-width → half-width, spaces removed.  A code Excel has
    already mangled — shown in scientific notation (2.4322E+19) or stored as a number past
    15 digits or with decimals — is refused: its digits are gone (DestroyedValue)."""
    if isinstance(v, float) and math.isfinite(v) and (abs(v) >= 1e15 or not v.is_integer()):
        raise DestroyedValue(f"编号“{v:.6g}”已被 Excel 存成数字（超过 15 位或带小数），原编号已丢失")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** 15:
        raise DestroyedValue(f"编号“{v}”超过 15 位，Excel 已丢掉末几位，原编号已丢失")
    t = parse_text(v)
    if t and _SCIENTIFIC.fullmatch(t.replace(" ", "")):
        raise DestroyedValue(f"编号“{t}”已被 Excel 改成科学计数法，原编号已丢失")
    return t.replace(" ", "").upper() if t else None


_AREA3 = re.compile(r"^0(10|2\d)")


def parse_phone(v: Any) -> str | None:
    """Phones as text: numbers stored as floats, lost leading zeros of landlines, +86."""
    if is_blank(v):
        return None
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(f"电话“{v}”无法识别")
        v = str(int(v))
    s = nfkc(v)
    parts = re.split(r"[/、;；,，]| 或 ", s)
    out = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        ext = ""
        m = re.search(r"(?:转|ext\.?|x)\s*(\d+)$", p, re.I)
        if m:
            ext, p = "-" + m[1], p[: m.start()]
        digits = re.sub(r"[^\d+]", "", p)
        if digits.startswith("+86"):
            digits = digits[3:]
        elif digits.startswith("0086"):
            digits = digits[4:]
        digits = digits.lstrip("+")
        if not digits.isdigit() or not (7 <= len(digits) <= 12):
            raise ValueError(f"电话“{v}”无法识别")
        if len(digits) == 11 and digits.startswith("1"):
            out.append(digits + ext)
            continue
        if not digits.startswith("0") and len(digits) >= 9:
            digits = "0" + digits  # a landline stored as a number lost its leading zero
        if digits.startswith("0"):
            n = 3 if _AREA3.match(digits) else 4
            out.append(f"{digits[:n]}-{digits[n:]}{ext}")
        else:
            out.append(digits + ext)  # a local number without area code
    return "、".join(out) if out else None


def parse_enum(v: Any, mapping: dict[str, str], choices: tuple[str, ...]) -> str | None:
    """An enumerated value as people write it: the choice itself (width, spaces and case
    aside), a known synonym, or — when that points at exactly one choice — a text that
    contains a choice or a synonym, or is contained in one (客户来访 → 接待来访 by 来访,
    上门拜访 → 实地拜访, 电话 → 电话回访).  Anything else raises: the caller reports it."""
    if is_blank(v):
        return None
    s = simplified(nfkc(v).replace(" ", ""))
    if s in choices:
        return s
    for key in (s, s.upper()):
        if key in mapping:
            return mapping[key]
    # words of two characters or more: 好 in 不好 must not read as 好
    words = {c: c for c in choices if len(c) >= 2}
    words.update((k, t) for k, t in mapping.items() if len(k) >= 2 and not k.isascii())
    # the longest word found in the text (or the text found in a word) decides, if it
    # names a single choice
    hits: dict[int, set[str]] = {}
    for word, target in words.items():
        if len(s) >= 2 and (word in s or s in word):
            hits.setdefault(min(len(word), len(s)), set()).add(target)
    if hits:
        best = hits[max(hits)]
        if len(best) == 1:
            return next(iter(best))
    raise ValueError(f"取值“{v}”不在 {'/'.join(choices)} 之中")
