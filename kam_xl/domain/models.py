"""Typed records of the master workbook (PRODUCT.md §2) — stdlib + pydantic only.

Plain models: which values a column takes (its enumeration, its range) is said once,
in layout.py, and checked by the reading layer (workbook/reading.py), which turns
cells into these records.  A record read with only some of its columns raises
`UnreadField` on any other — never a silent None.
"""
from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, create_model

from .. import layout as L
from .values import open_of, parse_date


class UnreadField(LookupError):
    """A field of a record the action's needs did not include: the declaration and the
    code that reads the record disagree (a programming error, never a user's)."""


class Record(BaseModel):
    """A record of one table.  `rid` is the store's key of the record: opaque to the
    domain and the services (a file store numbers a table's rows, a database has its
    primary key, MemoryStore counts); ascending in the order the records were entered,
    so "the later record" is the one with the greater rid."""
    model_config = ConfigDict(extra="allow", frozen=False)
    rid: int = -1

    def __getattr__(self, name: str):
        # a record built from some of its columns holds only those (workbook/reading.py)
        if name in type(self).model_fields:
            raise UnreadField(f"{type(self).__name__}.{name} was not read: add it to the action's needs")
        return super().__getattr__(name)

    def values(self) -> dict[str, Any]:
        """The record's fields by layout key (those read), without its rid."""
        return {k: v for k, v in self.__dict__.items() if k != "rid"}


class _Customer(Record):
    def grading_credit(self) -> Optional[str]:
        """推算信誉 where it is filled, else 回款信誉: what 建议等级 grades with (a book made
        before 推算信誉 existed has only the entered value)."""
        return self.__dict__.get("derived_credit") or self.credit

    def staff_list(self) -> list[str]:
        return split_names(self.staff)

    def served_by(self) -> set[str]:
        return people_serving(self.staff, self.manager)


class _Receivable(Record):
    @property
    def open_amount(self) -> float:
        """Outstanding computed from amount and paid (the formula column may be stale)."""
        return open_of(self.amount, self.paid)


class _TierRule(Record):
    def growth_values(self) -> tuple[str, ...]:
        return _split_cached(self.growth)


class _Certification(Record):
    @property
    def investigated(self) -> bool:
        """Both investigations of the seed's 第6条 are on record."""
        return bool(self.general_date and self.general_result and self.field_date and self.field_result
                    and self.field_staff)

    def principles(self) -> dict[str, Optional[str]]:
        return {L.CERTIFICATIONS.header(k): getattr(self, k) for k in L.PRINCIPLES}


class _Complaint(Record):
    @property
    def open(self) -> bool:
        return self.state in L.COMPLAINT_OPEN or (self.state is None and self.resolved_on is None)


class _Survey(Record):
    def computed_score(self) -> Optional[float]:
        """综合得分 as the native formula computes it: the mean of the 1–5 scores given, ×20."""
        scores = _SCORES(self)
        if None not in scores:  # every score given (the common survey)
            return round(sum(scores) / len(scores) * 20, 1)
        given = [v for v in scores if v is not None]
        return round(sum(given) / len(given) * 20, 1) if given else None


_SCORES = operator.attrgetter(*L.SCORE_KEYS)

# a column's kind → the type its field holds (the reading layer makes the values)
FIELD_TYPES = {L.TEXT: Optional[str], L.ENUM: Optional[str], L.MONEY: Optional[float],
               L.NUMBER: Optional[float], L.PERCENT: Optional[float], L.INT: Optional[int],
               L.DATE: Optional[dt.date], L.DATETIME: Optional[dt.datetime]}


def record_model(table: L.TableDef, name: str, base: type = Record) -> type:
    """The record class of a table, its fields made from the table's columns in layout.py
    (one field per column, by layout key), its behaviour from `base`."""
    return create_model(name, __base__=base, __module__=__name__,
                        **{c.key: (FIELD_TYPES[c.kind], None) for c in table.columns})


Customer = record_model(L.CUSTOMERS, "Customer", _Customer)
Visit = record_model(L.VISITS, "Visit")
Receivable = record_model(L.RECEIVABLES, "Receivable", _Receivable)
TierRule = record_model(L.TIER_RULES, "TierRule", _TierRule)
Certification = record_model(L.CERTIFICATIONS, "Certification", _Certification)
Complaint = record_model(L.COMPLAINTS, "Complaint", _Complaint)
Survey = record_model(L.SURVEYS, "Survey", _Survey)
GradeLogEntry = record_model(L.GRADE_LOG, "GradeLogEntry")
ImportLogEntry = record_model(L.IMPORT_LOG, "ImportLogEntry")
SettingRow = record_model(L.SETTINGS, "SettingRow")


def approval(value: Any) -> Optional[str]:
    """An approval cell as people write it: 同意 / 驳回 from the drop-down, or the approver's
    name, which counts as 同意; None when blank."""
    if value is None:
        return None
    if type(value) is str:  # the few texts of a table's approval columns, read once each
        got = _APPROVED.get(value, _UNSEEN)
        if got is _UNSEEN:
            if len(_APPROVED) > 4096:
                _APPROVED.clear()
            got = _APPROVED[value] = _approval(value)
        return got
    return _approval(value)


_APPROVED: dict[str, Optional[str]] = {}
_UNSEEN = object()


def _approval(value: Any) -> Optional[str]:
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


@functools.lru_cache(maxsize=4096)
def _split_cached(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    return tuple(p for p in _NAME_SPLIT.split(str(text).strip()) if p)


def split_names(text: Any) -> list[str]:
    """The people a cell names (何欣怡、冯涛、李娜): the same few texts recur over a table."""
    if text is None:
        return []
    return list(_split_cached(text if type(text) is str else str(text)))


def people_serving(staff: Any, manager: Any) -> set[str]:
    """Who serves a customer: its 对接人员 and its 客户经理 (a blank one is nobody)."""
    return set(split_names(staff)) | ({manager} if manager else set())


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
          "Certifications": Certification, "Complaints": Complaint, "Surveys": Survey,
          "GradeLog": GradeLogEntry, "ImportLog": ImportLogEntry, "Settings": SettingRow}


class RecordShape:
    """How the records of one model and one set of columns are made: the defaults to
    start from (a full record), or none (a partial one), and the fields-set object all
    of them share (a set per record would cost more than the record; it holds every
    field the record has, so the only write pydantic makes to it — adding a field on
    assignment — changes nothing)."""
    __slots__ = ("model", "defaults", "fields_set")

    def __init__(self, model: type, keys, partial: bool):
        self.model = model
        if model not in _PRIMED:  # the class's shared keys hold every field, in the model's order,
            _PRIMED.add(model)   # whatever shape makes the first record
            first = model.__new__(model)
            for k in model.model_fields:
                _setattr(first, k, None)
        self.defaults = None if partial else {n: f.default for n, f in model.model_fields.items()}
        self.fields_set = set(keys) | {"rid"} if partial else set(model.model_fields)

    def make(self, values: dict[str, Any]):
        """A record of `values` (a full record: the defaults for the fields not in them).

        The fields are set one by one, in the same order for every record of a shape: the
        instance dicts then share their keys with the class (PEP 412's split dicts, 144
        bytes for nine fields instead of 272) — a third less memory per record, which is
        what holds a million customers and two million invoices in memory at all."""
        obj = self.model.__new__(self.model)
        if self.defaults is not None:
            for k, default in self.defaults.items():
                _setattr(obj, k, values.get(k, default))
            for k, v in values.items():
                if k not in self.defaults:
                    _setattr(obj, k, v)
        else:
            for k, v in values.items():
                _setattr(obj, k, v)
        _setattr(obj, "__pydantic_fields_set__", self.fields_set)
        _setattr(obj, "__pydantic_extra__", None)
        _setattr(obj, "__pydantic_private__", None)
        return obj


    def row_maker(self, keys: list[str]):
        """make() specialised to rows: a function (values in the order of `keys`, rid) → a
        record equal to make(dict(zip(keys, values)) | {"rid": rid}), its fields set in the
        same order (the split dict shared as in make) by straight-line code, without the
        dict per row — a third of the time of make on a 400,000-row table.  Compiled once per
        model, key order and kind of shape (small tables are typed many times over).

        The fields go straight into the instance's dict (its keys still shared with the class):
        half the time of object.__setattr__ per field (a slot wrapper's call, its arguments
        packed anew each time), for the dict object itself, 64 bytes more per record."""
        cache_key = (self.model, tuple(keys), self.defaults is None, frozenset(self.fields_set))
        made = _ROW_MAKERS.get(cache_key)
        if made is not None:
            return made
        at = {k: j for j, k in enumerate(keys)}
        order = list(self.defaults) + [k for k in [*keys, "rid"] if k not in self.defaults] \
            if self.defaults is not None else [k for k in keys if k != "rid"] + ["rid"]
        lines = ["def make_row(vals, rid):", "    o = new(M)", "    d = o.__dict__"]
        for k in order:
            value = "rid" if k == "rid" else f"vals[{at[k]}]" if k in at else f"D[{k!r}]"
            lines.append(f"    d[{k!r}] = {value}")
        lines += ["    s(o, '__pydantic_fields_set__', FS)", "    s(o, '__pydantic_extra__', None)",
                  "    s(o, '__pydantic_private__', None)", "    return o"]
        space = {"new": self.model.__new__, "M": self.model, "s": _setattr, "D": self.defaults,
                 "FS": self.fields_set}
        exec("\n".join(lines), space)  # the field names are the model's own identifiers, never user text
        if len(_ROW_MAKERS) > 1024:  # a long-lived process (the xlwings server) keeps a bounded cache
            _ROW_MAKERS.clear()
        _ROW_MAKERS[cache_key] = space["make_row"]
        return space["make_row"]


_setattr = object.__setattr__
_PRIMED: set = set()
_ROW_MAKERS: dict = {}
