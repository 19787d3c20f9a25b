"""Typed records of the master workbook (PRODUCT.md §2) — stdlib + pydantic only.

Cells arrive as whatever the user typed; `coerce_record` turns a row into a
model plus a list of type problems, never raising, so validation can report
every bad cell at once.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import operator
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict

from .. import layout as L
from .values import CellError, parse_date

Credit = Literal["好", "较好", "一般", "差"]
Growth = Literal["高", "中", "低"]


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=False)
    # 0-based index of the row within its table's data body; Excel row is
    # table header row + 1 + index.
    row_index: int = -1

    def __getattr__(self, name: str):
        # records built from a partial read (fast_construct, sparse) hold only the
        # columns read; the others read as their defaults (None)
        fields = type(self).model_fields
        if name in fields:
            return fields[name].default
        return super().__getattr__(name)


class Customer(Record):
    id: Optional[str] = None
    name: Optional[str] = None
    customer_type: Optional[Literal["协议大客户", "会员大客户"]] = None
    industry: Optional[str] = None
    region: Optional[str] = None
    manager: Optional[str] = None
    staff: Optional[str] = None
    contact: Optional[str] = None
    phone: Optional[str] = None
    volume: Optional[float] = None
    margin: Optional[float] = None
    credit: Optional[Credit] = None
    growth: Optional[Growth] = None
    financial: Optional[Literal["强", "中", "弱"]] = None
    attitude: Optional[Literal["积极", "一般", "消极"]] = None
    confidentiality: Optional[Literal["是", "否"]] = None
    cost_level: Optional[Literal["符合", "不符合"]] = None
    status: Optional[Literal["潜在", "调查中", "申请认定", "已认定", "已签约", "停用"]] = None
    agreement_type: Optional[Literal["销售协议", "VIP客户协议"]] = None
    agreement_no: Optional[str] = None
    agreement_expiry: Optional[dt.date] = None
    tier: Optional[str] = None
    graded_on: Optional[dt.date] = None
    suggested_tier: Optional[str] = None
    satisfaction: Optional[float] = None
    created_on: Optional[dt.date] = None
    note: Optional[str] = None

    def staff_list(self) -> list[str]:
        return split_names(self.staff)


class Visit(Record):
    id: Optional[str] = None
    customer_id: Optional[str] = None
    method: Optional[Literal["实地拜访", "电话回访", "客户活动", "接待来访"]] = None
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
    state: Optional[Literal["草稿", "待审批", "已批准", "已完成", "已取消"]] = None
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
    min_credit: Optional[Credit] = None
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


class Settings(BaseModel):
    """Parameters from the Settings table, defaults from layout.SETTING_DEFS."""
    model_config = ConfigDict(extra="allow")
    as_of: Optional[dt.date] = None
    visit_days_A1: int = 30
    visit_days_A2: int = 60
    visit_days_B1: int = 90
    visit_days_B2: int = 90
    visit_days_C: int = 180
    visit_days_D: int = 180
    credit_months: int = 12
    credit_good_ontime: float = 0.9
    credit_good_late: int = 30
    credit_fair_ontime: float = 0.75
    credit_fair_late: int = 60
    credit_bad_ontime: float = 0.5
    credit_bad_late: int = 90
    dunning_1: int = 1
    dunning_2: int = 31
    dunning_3: int = 61
    dunning_4: int = 91
    agreement_warn_days: int = 60
    min_staff_important: int = 2
    company_sales: Optional[float] = None
    backups_keep: int = 10
    survey_days_A1: int = 90
    survey_days_A2: int = 180
    survey_days_B1: int = 365
    survey_days_B2: int = 365
    survey_days_C: int = 365
    survey_days_D: int = 365
    survey_follow_below: float = 60
    survey_follow_days: int = 14
    leaders: Optional[str] = None

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

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> tuple["Settings", list[tuple[int, str, str]]]:
        """Build from Settings table rows ({参数 header: key, 值 header: value}).

        Returns the settings and problems (row index, key, message) for values
        that could not be read; those keep their defaults.
        """
        values: dict[str, Any] = {}
        problems: list[tuple[int, str, str]] = []
        key_header, value_header = L.SETTINGS.header("key"), L.SETTINGS.header("value")
        for i, row in enumerate(rows):
            key = clean_text(row.get(key_header))
            if not key:
                continue
            sdef = L.SETTINGS_BY_KEY.get(key)
            raw = row.get(value_header)
            if sdef is None:
                values[key] = raw  # user-defined parameter, usable in rule conditions
                continue
            if raw is None or raw == "":
                continue
            default = sdef.default
            try:
                if sdef.text:
                    v = clean_text(raw)
                elif sdef.field == "as_of":
                    v = to_date(raw)
                    if v is None:
                        raise ValueError
                elif isinstance(default, int) and not isinstance(default, bool):
                    v = int(to_number(raw))
                else:
                    v = to_number(raw)
                    if v is None:
                        raise ValueError
                values[sdef.field] = v
            except (TypeError, ValueError):
                problems.append((i, key, f"参数“{key}”的值“{raw}”无法识别，已使用默认值 {default}"))
        return cls(**values), problems


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
    s = str(v).strip().replace(",", "").replace("，", "")
    if not s:
        return None
    pct = s.endswith("%")
    if pct:
        s = s[:-1]
    x = float(s)
    return x / 100 if pct else x


def to_date(v: Any) -> dt.date | None:
    """A date cell as typed: real dates, serials, 2026-03-05, 2026年3月5日, 20260305."""
    return parse_date(v)


MODELS = {"Customers": Customer, "Visits": Visit, "Receivables": Receivable, "TierRules": TierRule,
          "Certifications": Certification, "Complaints": Complaint, "Surveys": Survey}


def coerce_value(col: L.Column, v: Any) -> tuple[Any, str | None]:
    """Turn one cell into the column's type.  Returns (value, problem message)."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None, None
    if isinstance(v, CellError):
        return None, v.message(col.header)
    try:
        if col.kind in (L.MONEY, L.PERCENT, L.NUMBER):
            x = to_number(v)
            if x is not None and col.kind == L.PERCENT and abs(x) > 1 and col.hi == 1:
                return x, f"“{col.header}”应在 0%–100% 之间，当前为 {v}"
            if x is not None and col.lo is not None and x < col.lo:
                return x, f"“{col.header}”不能小于 {col.lo:g}，当前为 {v}"
            if x is not None and col.hi is not None and x > col.hi:
                return x, f"“{col.header}”不能大于 {col.hi:g}，当前为 {v}"
            return x, None
        if col.kind == L.INT:
            x = to_number(v)
            if x is not None and ((col.lo is not None and x < col.lo) or (col.hi is not None and x > col.hi)):
                return None, f"“{col.header}”应为 {col.lo:g}–{col.hi:g} 的整数，当前为 {v}"
            return (int(x) if x is not None else None), None
        if col.kind in (L.DATE, L.DATETIME):
            return to_date(v), None
        if col.kind == L.ENUM:
            s = clean_text(v)
            if col.choices and s not in col.choices and not col.soft_choices:
                return None, f"“{col.header}”只能填写：{' | '.join(col.choices)}；当前为“{s}”"
            return s, None
        return clean_text(v), None
    except (TypeError, ValueError, OverflowError):
        kind = {L.MONEY: "金额数字", L.PERCENT: "百分比", L.NUMBER: "数字", L.INT: "整数",
                L.DATE: "日期(如 2026-03-05)", L.DATETIME: "日期时间"}.get(col.kind, "文本")
        return None, f"“{col.header}”应为{kind}，当前为“{v}”"


def coerce_record(table: L.TableDef, row: dict[str, Any], index: int):
    """Row of {header: value} → (model, [(header, raw value, message)])."""
    headers = list(row)
    records, problems = coerce_rows(table, headers, [list(row.values())], start=index, skip_blank=False)
    return records[0], [(h, raw, msg) for _, h, raw, msg in problems]


_DATETIME, _DATE = dt.datetime, dt.date


def _column(col: L.Column, raw: list[Any], problems: list, rows_offset: int,
            same: dict[str, Any] | None = None) -> list[Any]:
    """Convert one column.  The common cell types are handled inline (this runs for
    every cell of 100k-row books); anything else goes through coerce_value."""
    def slow(r: int, v: Any) -> Any:
        val, msg = coerce_value(col, v)
        if msg and not col.formula:  # computed columns are not user input
            problems.append((rows_offset + r, col.header, v, msg))
        if col.kind == L.PERCENT and val is not None and col.hi == 1 and abs(val) > 1:
            return None  # out of range: unknown rather than a guess
        return val

    kind = col.kind
    if kind == L.TEXT:
        # one string object per distinct value: names, places and ids repeat across
        # hundreds of thousands of rows
        same = {} if same is None else same
        return [same.setdefault(v, v.strip() or None) if type(v) is str else None if v is None else slow(r, v)
                for r, v in enumerate(raw)]
    if kind == L.ENUM:
        if col.soft_choices or not col.choices:
            return [(v.strip() or None) if type(v) is str else None if v is None else slow(r, v)
                    for r, v in enumerate(raw)]
        canon = {c: c for c in col.choices}  # one shared string object per choice
        return [canon[v] if v in canon else None if v is None or v == "" else slow(r, v)
                for r, v in enumerate(raw)]
    if kind in (L.MONEY, L.NUMBER):
        if col.lo is None and col.hi is None:
            return [float(v) if type(v) in (float, int) else None if v is None else slow(r, v)
                    for r, v in enumerate(raw)]
    if kind == L.INT:  # scores 1–5, counts: numbers in range go straight through
        lo = -math.inf if col.lo is None else col.lo
        hi = math.inf if col.hi is None else col.hi
        return [int(v) if type(v) in (float, int) and lo <= v <= hi and math.isfinite(v) else None if v is None
                else slow(r, v) for r, v in enumerate(raw)]
    if kind in (L.DATE, L.DATETIME):
        days: dict[Any, _DATE] = {}  # a few hundred distinct days over many rows: one object each
        return [days.setdefault(v, v.date()) if type(v) is _DATETIME else v if type(v) is _DATE
                else None if v is None else slow(r, v) for r, v in enumerate(raw)]
    return [None if v is None else slow(r, v) for r, v in enumerate(raw)]


@functools.lru_cache(maxsize=16)
def _defaults(model: type) -> dict[str, Any]:
    return {name: f.default for name, f in model.model_fields.items()}


_ALL_SET: dict[type, set] = {}
_setattr = object.__setattr__


def fast_construct(model: type, values: dict[str, Any]):
    """model_construct without its per-call overhead, for values already typed by
    the column converters (700k rows of a 100k-customer book go through here).
    `values` becomes the instance dict (callers pass a fresh dict); one shared
    set object marks every field as set."""
    obj = model.__new__(model)
    fields_set = _ALL_SET.get(model)
    if fields_set is None:
        fields_set = _ALL_SET[model] = set(model.model_fields)
    if len(values) < len(fields_set) // 2:
        d = values  # a partial read: sparse, missing fields fall back to defaults (Record.__getattr__)
    else:
        d = _defaults(model).copy()
        d.update(values)
    _setattr(obj, "__dict__", d)
    _setattr(obj, "__pydantic_fields_set__", fields_set)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


def coerce_rows(table: L.TableDef, headers: list[str], rows: list[list[Any]], start: int = 0,
                skip_blank: bool = True, same: dict[str, Any] | None = None):
    """A table body → (models, [(row index, header, raw value, message)]), column by column.
    `same` shares one string object per distinct text value across calls (chunks)."""
    raw = [[row[i] if i < len(row) else None for row in rows] for i in range(len(headers))]
    return coerce_columns(table, headers, raw, start, skip_blank, same, n_rows=len(rows))


def coerce_columns(table: L.TableDef, headers: list[str], raw_columns: list[list[Any]], start: int = 0,
                   skip_blank: bool = True, same: dict[str, Any] | None = None, n_rows: int | None = None):
    """The same from columns (one list of cell values per header) — how the file
    engine reads a table."""
    problems: list = []
    by_header = table.by_header()
    keys, columns = [], []
    for h, raw in zip(headers, raw_columns):
        col = by_header.get(h)
        if col is None:
            continue
        keys.append(col.key)
        columns.append(_column(col, raw, problems, start, same))
    if n_rows is None:
        n_rows = len(raw_columns[0]) if raw_columns else 0
    computed = {c.key for c in table.columns if c.formula}
    model = MODELS[table.name]
    out = []
    user_cols = [j for j, k in enumerate(keys) if k not in computed]
    n_user = len(user_cols)
    if n_user > 1:
        pick = operator.itemgetter(*user_cols)
        def blank(vals): return pick(vals).count(None) == n_user
    elif n_user == 1:
        only = user_cols[0]
        def blank(vals): return vals[only] is None
    else:
        def blank(vals): return True
    blank_rows = set()
    rows_iter = zip(*columns) if columns else iter([()] * n_rows)
    for r, vals in enumerate(rows_iter):
        if skip_blank and blank(vals):
            blank_rows.add(start + r)
            continue
        d = dict(zip(keys, vals))
        d["row_index"] = start + r
        out.append(fast_construct(model, d))
    if blank_rows:
        problems = [p for p in problems if p[0] not in blank_rows]
    return out, problems
