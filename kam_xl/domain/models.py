"""Typed records of the master workbook (PRODUCT.md §2) — stdlib + pydantic only.

Plain models: which values a column takes (its enumeration, its range) is said once,
in layout.py, and checked by the reading layer (workbook/reading.py), which turns
cells into these records.  A record read with only some of its columns raises
`UnreadField` on any other — never a silent None.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, create_model

from .. import layout as L
from .values import parse_date


class UnreadField(LookupError):
    """A field of a record the action's needs did not include: the declaration and the
    code that reads the record disagree (a programming error, never a user's)."""


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=False)
    # 0-based index of the row within its table's data body; Excel row is
    # table header row + 1 + index.
    row_index: int = -1

    def __getattr__(self, name: str):
        # a record built from some of its columns holds only those (workbook/reading.py)
        if name in type(self).model_fields:
            raise UnreadField(f"{type(self).__name__}.{name} was not read: add it to the action's needs")
        return super().__getattr__(name)


class Customer(Record):
    id: Optional[str] = None
    name: Optional[str] = None
    customer_type: Optional[str] = None
    industry: Optional[str] = None
    region: Optional[str] = None
    manager: Optional[str] = None
    staff: Optional[str] = None
    contact: Optional[str] = None
    phone: Optional[str] = None
    volume: Optional[float] = None
    margin: Optional[float] = None
    credit: Optional[str] = None
    growth: Optional[str] = None
    financial: Optional[str] = None
    attitude: Optional[str] = None
    confidentiality: Optional[str] = None
    cost_level: Optional[str] = None
    status: Optional[str] = None
    agreement_type: Optional[str] = None
    agreement_no: Optional[str] = None
    agreement_expiry: Optional[dt.date] = None
    tier: Optional[str] = None
    graded_on: Optional[dt.date] = None
    suggested_tier: Optional[str] = None
    satisfaction: Optional[float] = None
    created_on: Optional[dt.date] = None
    note: Optional[str] = None
    derived_credit: Optional[str] = None

    def grading_credit(self) -> Optional[str]:
        """推算信誉 where it is filled, else 回款信誉: what 建议等级 grades with (a book made
        before 推算信誉 existed has only the entered value)."""
        return self.__dict__.get("derived_credit") or self.credit

    def staff_list(self) -> list[str]:
        return split_names(self.staff)


class Visit(Record):
    id: Optional[str] = None
    customer_id: Optional[str] = None
    method: Optional[str] = None
    planned_date: Optional[dt.date] = None
    actual_date: Optional[dt.date] = None
    place: Optional[str] = None
    staff: Optional[str] = None
    attendee: Optional[str] = None
    purpose: Optional[str] = None
    content: Optional[str] = None
    expected: Optional[str] = None
    outcome: Optional[str] = None
    follow_up: Optional[str] = None
    follow_up_due: Optional[dt.date] = None
    state: Optional[str] = None
    dept_approval: Optional[str] = None  # 同意 | 驳回 | the approver's name (counts as 同意)
    exec_approval: Optional[str] = None
    note: Optional[str] = None


class Receivable(Record):
    id: Optional[str] = None
    customer_id: Optional[str] = None
    invoice_date: Optional[dt.date] = None
    amount: Optional[float] = None
    due_date: Optional[dt.date] = None
    paid: Optional[float] = None
    paid_date: Optional[dt.date] = None
    outstanding: Optional[float] = None
    overdue_days: Optional[int] = None
    aging: Optional[str] = None
    collector: Optional[str] = None
    dunning_level: Optional[str] = None
    last_dunning_date: Optional[dt.date] = None
    note: Optional[str] = None

    @property
    def open_amount(self) -> float:
        """Outstanding computed from amount and paid (the formula column may be stale)."""
        return round((self.amount or 0.0) - (self.paid or 0.0), 2)


class TierRule(Record):
    order: Optional[int] = None
    tier: Optional[str] = None
    volume_min: Optional[float] = None
    volume_max: Optional[float] = None
    min_credit: Optional[str] = None
    margin_min: Optional[float] = None
    margin_max: Optional[float] = None
    growth: Optional[str] = None
    extra: Optional[str] = None
    description: Optional[str] = None

    def growth_values(self) -> tuple[str, ...]:
        return _split_cached(self.growth)


class Certification(Record):
    id: Optional[str] = None
    customer_id: Optional[str] = None
    applied_on: Optional[dt.date] = None
    applicant: Optional[str] = None
    general_date: Optional[dt.date] = None
    general_result: Optional[str] = None
    field_date: Optional[dt.date] = None
    field_staff: Optional[str] = None
    field_result: Optional[str] = None
    reason: Optional[str] = None
    products: Optional[str] = None
    expected_amount: Optional[float] = None
    integrity: Optional[str] = None
    financial: Optional[str] = None
    attitude: Optional[str] = None
    confidentiality: Optional[str] = None
    cost_level: Optional[str] = None
    dept_approval: Optional[str] = None
    exec_approval: Optional[str] = None
    approved_on: Optional[dt.date] = None
    result: Optional[str] = None
    agreement_type: Optional[str] = None
    agreement_no: Optional[str] = None
    note: Optional[str] = None

    @property
    def investigated(self) -> bool:
        """Both investigations of the seed's 第6条 are on record."""
        return bool(self.general_date and self.general_result and self.field_date and self.field_result
                    and self.field_staff)

    def principles(self) -> dict[str, Optional[str]]:
        return {L.CERTIFICATIONS.header(k): getattr(self, k) for k in L.PRINCIPLES}


class Complaint(Record):
    id: Optional[str] = None
    customer_id: Optional[str] = None
    date: Optional[dt.date] = None
    channel: Optional[str] = None
    kind: Optional[str] = None
    content: Optional[str] = None
    level: Optional[str] = None
    receiver: Optional[str] = None
    handler: Optional[str] = None
    measures: Optional[str] = None
    due: Optional[dt.date] = None
    resolved_on: Optional[dt.date] = None
    state: Optional[str] = None
    confirmation: Optional[str] = None
    note: Optional[str] = None

    @property
    def open(self) -> bool:
        return self.state in L.COMPLAINT_OPEN or (self.state is None and self.resolved_on is None)


class Survey(Record):
    id: Optional[str] = None
    customer_id: Optional[str] = None
    date: Optional[dt.date] = None
    method: Optional[str] = None
    surveyor: Optional[str] = None
    quality: Optional[int] = None
    delivery: Optional[int] = None
    service: Optional[int] = None
    response: Optional[int] = None
    price: Optional[int] = None
    score: Optional[float] = None
    suggestions: Optional[str] = None
    follow_up: Optional[str] = None

    def computed_score(self) -> Optional[float]:
        """综合得分 as the native formula computes it: the mean of the 1–5 scores given, ×20."""
        given = [getattr(self, k) for k in L.SCORE_KEYS if getattr(self, k) is not None]
        return round(sum(given) / len(given) * 20, 1) if given else None


def approval(value: Any) -> Optional[str]:
    """An approval cell as people write it: 同意 / 驳回 from the drop-down, or the approver's
    name, which counts as 同意; None when blank."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    return s if s in L.APPROVALS else L.APPROVALS[0]


class _SettingsBase(BaseModel):
    """The Settings table's parameters; the fields and their defaults are made from
    layout.SETTING_DEFS (below), user-defined parameters ride along as extras."""
    model_config = ConfigDict(extra="allow")

    def survey_days(self, tier: str | None) -> int | None:
        return getattr(self, f"survey_days_{tier}", None) if tier else None

    def leader_names(self) -> list[str]:
        return split_names(self.leaders)

    def visit_days(self, tier: str | None) -> int | None:
        if not tier:
            return None
        return getattr(self, f"visit_days_{tier}", None)

    def dunning_thresholds(self) -> list[tuple[int, str]]:
        days = (self.dunning_1, self.dunning_2, self.dunning_3, self.dunning_4)
        return list(zip(days, L.DUNNING_LEVELS))


def _setting_type(d: L.SettingDef) -> Any:
    return {L.SETTING_TEXT: Optional[str], L.SETTING_DATE: Optional[dt.date], L.SETTING_INT: int,
            L.SETTING_NUMBER: Optional[float] if d.default is None else float}[d.kind]


Settings = create_model("Settings", __base__=_SettingsBase,
                        **{d.field: (_setting_type(d), d.default) for d in L.SETTING_DEFS})


# ---------------------------------------------------------------------------
# Cell coercion — lenient, reports problems instead of raising
_NAME_SPLIT = re.compile(r"[、;；,，/\s]+")


@functools.lru_cache(maxsize=1024)
def _split_cached(text: str | None) -> tuple[str, ...]:
    return tuple(split_names(text))


def split_names(text: Any) -> list[str]:
    if text is None:
        return []
    return [p for p in _NAME_SPLIT.split(str(text).strip()) if p]


def clean_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.strftime("%Y-%m-%d")
    s = str(v).strip()
    return s or None


def to_number(v: Any) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise ValueError("bool")
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip().replace(",", "")
    if not s:
        return None
    pct = s.endswith("%")
    if pct:
        s = s[:-1].strip()
    if not _PLAIN_NUMBER.fullmatch(s):  # what a spreadsheet's VALUE() reads, no more (no 1_000, ３, inf)
        raise ValueError(f"not a number: {v!r}")
    x = float(s)
    return x / 100 if pct else x


_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def to_date(v: Any) -> dt.date | None:
    """A date cell as typed: real dates, serials, 2026-03-05, 2026年3月5日, 20260305."""
    return parse_date(v)


MODELS = {"Customers": Customer, "Visits": Visit, "Receivables": Receivable, "TierRules": TierRule,
          "Certifications": Certification, "Complaints": Complaint, "Surveys": Survey}


