"""我的待办 in a person's book is live with native formulas: LibreOffice Calc, with macros
disabled, recalculates every cell of it to what the Python core cached (domain/todo.py) —
on the demo's people, whose customers have visits due, follow-ups past due, overdue and
falling-due invoices, complaints near their deadline and surveys due."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from kam_xl.domain import todo
from kam_xl.files import new_book, run_distribute
from kam_xl.workbook.todo import SHEET
from tests.tools import lo

pytestmark = [pytest.mark.libreoffice,
              pytest.mark.skipif(not lo.available(), reason="LibreOffice with python3-uno not installed (.ci/run)")]


def _as_python(v):
    if isinstance(v, dt.datetime):
        return (v - dt.datetime(1899, 12, 30)).days
    return v


def test_the_todo_sheet_recalculates_in_libreoffice_as_python_cached_it(tmp_path):
    master = new_book(tmp_path / "大客户管理.xlsm", demo=True, n_customers=120)
    out = tmp_path / "分发"
    out.mkdir()
    books = [s.path for s in run_distribute(master, out).sent][:2]
    kinds = set()
    for book in books:
        cached = [[_as_python(c.value) for c in row]
                  for row in openpyxl.load_workbook(book, data_only=True)[SHEET].iter_rows(min_row=2)]
        got = lo.recalc(book, [SHEET])
        assert got["errors"][SHEET] == []
        rows = got["sheets"][SHEET][1:]
        n = len(todo.COLUMNS)
        filled = 0
        for i, (mine, theirs) in enumerate(zip(cached, rows)):
            for j, (a, b) in enumerate(zip(mine[:n], theirs[:n])):
                a = "" if a is None else a
                if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                    assert abs(a - b) < 1e-6, (book.name, i + 2, todo.COLUMNS[j], a, b)
                else:
                    assert a == b, (book.name, i + 2, todo.COLUMNS[j], a, b)
            if mine[0]:
                filled += 1
                for j, (_, key) in enumerate(todo.COLUMNS):
                    if mine[j] not in ("", 0, None):
                        kinds.add(key)
        assert filled > 10
    # the sheet had something of every kind to say
    assert {"visit_state", "follow_ups", "overdue", "dunning", "open_total", "survey_state"} <= kinds, kinds
