"""Text columns are typed two ways — values shared through a dict when they repeat (customer ids,
places, people), straight when they are mostly distinct (ids, names, phones) — and both must read
a cell the same: stripped, blank as None, anything else through the cell coercion."""
from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pytest

from kam_xl import layout as L
from kam_xl.workbook.engine import to_python
from kam_xl.workbook.reading import _column

TEXT = L.VISITS.by_header()["拜访编号"]
HOSTILE = ["", " ", "\u3000", " a ", "\u3000名称\u3000", "\t李四\n", "x", "0", "None", "😀", "a\x00b"]


def _expected(values):
    return [None if v is None else (v.strip() or None) for v in values]


@pytest.mark.parametrize("repeat", [1, 50])  # every value its own / each value fifty times
def test_text_read_the_same_distinct_or_repeated(repeat):
    rng = random.Random(repeat)
    base = [f" V{i:06d} " if i % 7 else rng.choice(HOSTILE + [None]) for i in range(3000 // repeat)]
    values = [v for v in base for _ in range(repeat)]
    rng.shuffle(values)
    problems: list = []
    got = _column(TEXT, values, problems, 0, {})
    assert got == _expected(values) and not problems


def test_a_number_in_a_text_column_goes_through_the_cell_coercion_on_both_ways():
    distinct = [f"V{i}" for i in range(500)] + [12.0, dt.date(2026, 1, 2), True]
    repeated = ["V1", "V2"] * 250 + [12.0, dt.date(2026, 1, 2), True]
    for values in (distinct, repeated):
        got = _column(TEXT, values, [], 0, {})
        assert got[-3:] == ["12", "2026-01-02", "True"]
        assert got[:-3] == values[:-3]


@pytest.mark.parametrize("n,repeat", [(5000, 1), (5000, 3), (50, 1)])
def test_arrow_text_as_python_the_same_either_way(n, repeat):
    rng = random.Random(n + repeat)
    values = [f"C{i // repeat:06d}" if i % 11 else rng.choice(HOSTILE + [None]) for i in range(n)]
    arr = pa.array(values, pa.string())
    got = to_python(arr)
    assert got == [None if v in (None, "") else v for v in values]
    # repeated texts still come back as one object each (the memory of 400,000 visits)
    if repeat > 1:
        first = {}
        assert all(first.setdefault(v, v) is v for v in got if v is not None)
