"""Normalising company names for duplicate detection and matching.

Full-width and half-width forms, spaces and bracket styles are the same name;
the legal form is kept as written — 有限公司 and 有限责任公司 are different
companies.
"""
from __future__ import annotations

import re
import unicodedata

_BRACKETS_FROM = {"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")",
                  "〔": "(", "〕": ")", "｛": "(", "｝": ")", "{": "(", "}": ")"}
_BRACKETS = str.maketrans(_BRACKETS_FROM)
_SPACES = re.compile(r"[\s\u3000\u00a0]+")


# what the two steps below change: a name with none of these (most names) skips them
_BRACKET_OR_SPACE = re.compile("[" + re.escape("".join(_BRACKETS_FROM)) + r"\s\u3000\u00a0]")


def normalize_name(name: object) -> str:
    if name is None:
        return ""
    s = unicodedata.normalize("NFKC", str(name))
    if _BRACKET_OR_SPACE.search(s):
        s = _SPACES.sub("", s.translate(_BRACKETS))
    return s.lower()


_ID = re.compile(r"([A-Z]*)0*(\d+)")


def normalize_id(value: object) -> str:
    """An id compared tolerant of lost leading zeros and case: KH000012 == kh12 == 12."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value)
    s = (s if s.isascii() else unicodedata.normalize("NFKC", s)).strip().upper()
    m = _ID.fullmatch(s)
    if m:
        return f"{m[1]}{int(m[2])}"
    return s


def next_ids(existing, prefix: str):
    """New ids after the highest of `existing` with this prefix: KH000301, KH000302 …"""
    n = 0
    numbered = re.compile(re.escape(prefix) + r"(\d+)")
    for v in existing:
        m = numbered.fullmatch(v if type(v) is str else str(v or ""))
        if m:
            n = max(n, int(m[1]))
    while True:
        n += 1
        yield f"{prefix}{n:06d}"


def find_customer(customers, text: str):
    """The customer a person means by an id (KH000002, kh000002, 2) or by its name
    (width, spaces and brackets as typed); (customer, None) or (None, why in Chinese)."""
    wanted = str(text or "").strip()
    if not wanted:
        return None, "没有给出客户编号或名称"
    key = normalize_id(wanted)
    by_id = [c for c in customers if c.id and normalize_id(c.id) == key]
    if len(by_id) == 1:
        return by_id[0], None
    name = normalize_name(wanted)
    by_name = [c for c in customers if c.name and normalize_name(c.name) == name]
    if len(by_name) == 1:
        return by_name[0], None
    if len(by_id) > 1 or len(by_name) > 1:
        found = by_id or by_name
        return None, f"“{wanted}”对应多个客户（{'、'.join(c.id or c.name for c in found[:5])}），请用客户编号"
    return None, f"客户档案中没有编号或名称为“{wanted}”的客户"
