"""Normalising company names for duplicate detection and matching.

Full-width and half-width forms, spaces and bracket styles are the same name;
the legal form is kept as written — 有限公司 and 有限责任公司 are different
companies.
"""
from __future__ import annotations

import re
import unicodedata

_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")",
                           "〔": "(", "〕": ")", "｛": "(", "｝": ")", "{": "(", "}": ")"})
_SPACES = re.compile(r"[\s\u3000\u00a0]+")


def normalize_name(name: object) -> str:
    if name is None:
        return ""
    s = unicodedata.normalize("NFKC", str(name))
    s = s.translate(_BRACKETS)
    s = _SPACES.sub("", s)
    return s.lower()


def normalize_id(value: object) -> str:
    """An id compared tolerant of lost leading zeros and case: KH000012 == kh12 == 12."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = unicodedata.normalize("NFKC", str(value)).strip().upper()
    m = re.fullmatch(r"([A-Z]*)0*(\d+)", s)
    if m:
        return f"{m[1]}{int(m[2])}"
    return s


def next_ids(existing, prefix: str):
    """New ids after the highest of `existing` with this prefix: KH000301, KH000302 …"""
    n = 0
    for v in existing:
        m = re.fullmatch(prefix + r"(\d+)", str(v or ""))
        if m:
            n = max(n, int(m[1]))
    while True:
        n += 1
        yield f"{prefix}{n:06d}"
