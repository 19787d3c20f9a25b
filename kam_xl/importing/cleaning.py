"""Cleaning values from legacy spreadsheets: amounts, percentages, dates,
phones, ids and enumerations.  Each cleaner returns the clean value or raises
ValueError with a short Chinese reason; None means blank."""
from __future__ import annotations

import datetime as dt
import functools
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
    if not text or text.isascii():
        return text
    return _simplified(text)


@functools.lru_cache(maxsize=1 << 16)  # headers and enumerations repeat down a sheet
def _simplified(text: str) -> str:
    global _T2S
    if _T2S is None:
        import opencc
        _T2S = opencc.OpenCC("t2s")
    return _T2S.convert(text)


class DestroyedValue(ValueError):
    """A value a spreadsheet has already destroyed (a long code turned into 2.43E+19):
    refused, and never used to match or merge."""


_SCIENTIFIC = re.compile(r"[+-]?\d+(\.\d+)?[eE][+-]?\d+")


_CN_DATE = re.compile(r"([〇零一二三四五六七八九\d]{2,4})年([〇零一二三四五六七八九十\d]{1,3})月([〇零一二三四五六七八九十\d]{1,3})[日号]?")
_ROC = re.compile(r"(?:民国|中华民国)\s*(\d{1,3})\s*[年/.\-]\s*(\d{1,2})\s*[月/.\-]\s*(\d{1,2})\s*[日号]?")
_ROC_SLASH = re.compile(r"(1\d{2})[/.\-](\d{1,2})[/.\-](\d{1,2})")  # 110/03/05: a Taiwan date (ROC year 100+)
_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")


def parse_legacy_date(v: Any) -> dt.date | None:
    """A date in any form a Chinese office writes one: what parse_date reads, and Chinese
    numerals (二〇二一年三月五日), the 民国 calendar (民国110年3月5日, 110/03/05), and day/month
    or month/day with a four-digit year when only one reading exists (25/12/2021).  An
    ambiguous form (3/5/2021) is refused, never guessed."""
    if is_blank(v):
        return None
    if not isinstance(v, str):
        return parse_date(v)
    s = simplified(nfkc(v)).strip()
    s = re.sub(r"[T\s]+\d{1,2}:\d{2}(:\d{2})?(\.\d+)?$", "", s)
    m = _ROC.fullmatch(s) or _ROC_SLASH.fullmatch(s)
    if m:
        return _make_date(int(m[1]) + 1911, int(m[2]), int(m[3]), v)
    m = _CN_DATE.fullmatch(s)
    if m and not (m[1].isdigit() and m[2].isdigit() and m[3].isdigit()):
        y, mo, d = (int(chinese_number(x)) for x in m.groups())
        if y < 100:
            raise ValueError(f"日期“{v}”的年份不完整")
        return _make_date(y, mo, d, v)
    m = _DMY.fullmatch(s)
    if m:
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        if a <= 12 and b <= 12 and a != b:
            raise ValueError(f"日期“{v}”有歧义（{a}月{b}日还是{b}月{a}日？），请写成 {y}-MM-DD")
        return _make_date(y, b, a, v) if a > 12 else _make_date(y, a, b, v)
    return parse_date(v)


def _make_date(y: int, m: int, d: int, raw: Any) -> dt.date:
    try:
        return dt.date(y, m, d)
    except ValueError:
        raise ValueError(f"日期“{raw}”不存在") from None


def unit_of(header: str) -> float:
    """The multiplier a header's unit states: 年用量（万元） → 10000, 年用量(萬元) too."""
    h = simplified(nfkc(header))
    m = re.search(r"[(\[]\s*([^)\]]*)\s*[)\]]|单位[:：]?\s*(\S+)$", h)
    text = (m[1] or m[2]) if m else ""
    for unit, mult in _UNITS:
        if unit in text:
            return mult
    return 1.0


_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_SMALL = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 10 ** 4, "亿": 10 ** 8}


def chinese_number(text: str) -> float:
    """五十万 → 500000 · 三千五百万 → 35000000 · 二〇二一 → 2021 · 十二 → 12; digits may mix in
    (3千万 → 30000000, 1.5亿 → 150000000).  ValueError when it is not a number."""
    s = text.strip()
    if not s:
        raise ValueError("空")
    if all(ch in _CN_DIGITS for ch in s):  # read digit by digit: 二〇二一
        return float("".join(str(_CN_DIGITS[ch]) for ch in s))
    total, section, number = 0.0, 0.0, None
    last_unit, zero = 0, False  # the unit before the number being read; a 零 in between
    i = 0
    while i < len(s):
        m = re.match(r"\d+(\.\d+)?", s[i:])
        if m:
            number = float(m[0])
            i += len(m[0])
            continue
        ch = s[i]
        if ch in _CN_DIGITS:
            zero = zero or _CN_DIGITS[ch] == 0
            number = float(_CN_DIGITS[ch])
        elif ch in _CN_SMALL:
            section += (number if number is not None else 1.0) * _CN_SMALL[ch]
            number, last_unit, zero = None, _CN_SMALL[ch], False
        elif ch in _CN_BIG:
            section += number or 0.0
            if section == 0:
                section = 1.0
            if ch == "亿":
                total = (total + section) * _CN_BIG[ch]
            else:
                total += section * _CN_BIG[ch]
            section, number, last_unit, zero = 0.0, None, _CN_BIG[ch], False
        else:
            raise ValueError(f"“{text}”不是数字")
        i += 1
    if number and last_unit >= 100 and not zero:  # 12万3, 一万二: a unit left out — 120003 or 123000?
        raise ValueError(f"“{text}”省略了单位，有歧义")
    return total + section + (number or 0.0)


_PLAIN_NUMBER = re.compile(r"-?\d{1,15}(\.\d+)?", re.ASCII)
_PER_YEAR = re.compile(r"(/|每)?(年|年度)$")


def parse_amount(v: Any, multiplier: float = 1.0) -> float | None:
    """50万 · 32.5万元 · ¥1,200,000.00 · 120000元 · full-width digits · numbers × header unit."""
    if type(v) is str and _PLAIN_NUMBER.fullmatch(v):  # 181.0 in a CSV: most amounts
        return round(_finite(float(v)) * multiplier, 2)
    if is_blank(v):
        return None
    if isinstance(v, bool):
        raise ValueError("金额无效")
    if isinstance(v, (int, float)):
        return round(_finite(float(v)) * multiplier, 2)
    s = simplified(nfkc(v)).replace(",", "").replace("，", "").replace(" ", "").replace("¥", "").replace("￥", "")
    s = s.replace("RMB", "").replace("人民币", "")
    s = _PER_YEAR.sub("", s)  # 12.5万元/年, 30万每年: the column is a yearly amount already
    neg = s.startswith("-") or (s.startswith("(") and s.endswith(")"))
    s = s.strip("-()")
    mult = multiplier
    for unit, m in _UNITS:
        if s.endswith(unit):
            s = s[: -len(unit)]
            mult = m if unit != "元" else 1.0
            break
    if not _AMOUNT.fullmatch(s):
        s = s.removesuffix("元")
        if not s or not re.fullmatch(r"[\d.〇零一二两三四五六七八九十百千万亿]+", s):
            raise ValueError(f"金额“{v}”无法识别")
        try:  # 3千万 · 五十万 · 一百二十万元 (the unit found above is part of the number here)
            x = chinese_number(s + ("万" if mult == 1e4 and multiplier != 1e4 else
                                    "亿" if mult == 1e8 and multiplier != 1e8 else "")) * (
                1e3 if mult == 1e3 and multiplier != 1e3 else 1.0) * (multiplier if mult in (multiplier, 1.0) else 1.0)
        except ValueError:
            raise ValueError(f"金额“{v}”无法识别") from None
        return round(-x if neg else x, 2)
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
    if type(v) is float and 1e10 <= v < 2e10 and v.is_integer():
        v = str(int(v))  # a mobile number a reader took for a number
    if type(v) is str and len(v) == 11 and v[0] == "1" and v.isascii() and v.isdigit():
        return v  # a mobile number as written: most phones
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
