"""engine.to_python: an Arrow column as a cell reads — compared with the plain conversion on random
columns of text (empty, repeated, unique), dates, timestamps (at midnight or not) and numbers, with
empty cells anywhere; a repeated value is one shared object."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from kam_xl.workbook.engine import to_python


def _plain(arr: pa.Array) -> list:
    values = arr.to_pylist()
    if pa.types.is_timestamp(arr.type) and all(v is None or v.time() == dt.time() for v in values):
        values = [None if v is None else v.date() for v in values]
    if pa.types.is_string(arr.type):
        values = [v or None for v in values]
    return values


_TEXT = st.one_of(st.none(), st.sampled_from(["", "已完成", "计划", " 取消 "]), st.text(max_size=6))
_MIDNIGHT = st.one_of(st.none(), st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)).map(
    lambda d: dt.datetime.combine(d, dt.time())))
_ANY_TIME = st.one_of(_MIDNIGHT, st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 12, 31)).map(
    lambda t: t.replace(microsecond=0)))


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.lists(_TEXT, max_size=200).map(lambda v: pa.array(v, pa.string())),
    st.lists(_MIDNIGHT, max_size=200).map(lambda v: pa.array(v, pa.timestamp("ms"))),
    st.lists(_ANY_TIME, max_size=200).map(lambda v: pa.array(v, pa.timestamp("ms"))),
    st.lists(st.one_of(st.none(), st.dates()), max_size=200).map(lambda v: pa.array(v, pa.date32())),
    st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), max_size=200).map(lambda v: pa.array(v, pa.float64())),
))
def test_to_python_reads_a_column_as_the_plain_conversion(arr: pa.Array) -> None:
    got = to_python(arr)
    assert got == _plain(arr)
    assert [type(v) for v in got] == [type(v) for v in _plain(arr)]


def test_a_repeated_value_is_one_object_and_nulls_stay_empty() -> None:
    arr = pa.array(["已完成", None, "已完成", "", "计划", None, "已完成"] * 20)
    got = to_python(arr)
    assert got[:7] == ["已完成", None, "已完成", None, "计划", None, "已完成"]
    assert len({id(v) for v in got if v == "已完成"}) == 1
    days = pa.array([dt.datetime(2026, 3, 1), None, dt.datetime(2026, 3, 1)] * 30, pa.timestamp("ms"))
    got = to_python(days)
    assert got[:3] == [dt.date(2026, 3, 1), None, dt.date(2026, 3, 1)] and got[0] is got[2]
    assert to_python(pa.array([], pa.string())) == []
