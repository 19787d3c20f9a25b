"""A second formula engine beside LibreOffice: the `formulas` package (pure Python, its own
parser and function library) computes the 建议等级 column from a copy of the book in which
the structured references are resolved to plain A1 references (it does not read Tables).
Only the customer and rule sheets' values go into the copy, so nothing else is needed."""
from __future__ import annotations

import re
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter

from kam_xl import layout as L

C, T, S = L.CUSTOMERS, L.TIER_RULES, L.SETTINGS


def _column_range(ws, table, header: str) -> str:
    t = ws.tables[table]
    c1, r1, c2, r2 = openpyxl.utils.cell.range_boundaries(t.ref)
    heads = [ws.cell(r1, c).value for c in range(c1, c2 + 1)]
    col = get_column_letter(c1 + heads.index(header))
    return f"'{ws.title}'!${col}${r1 + 1}:${col}${r2}"


def a1_copy(book: Path, out: Path) -> tuple[Path, str, list[int]]:
    """(the copy, the column letter of 建议等级, the data rows) for evaluation."""
    wb = openpyxl.load_workbook(book)
    cws, rws = wb[C.sheet], wb[T.sheet]
    t = cws.tables[C.name]
    c1, r1, c2, r2 = openpyxl.utils.cell.range_boundaries(t.ref)
    heads = [cws.cell(r1, c).value for c in range(c1, c2 + 1)]
    col = c1 + heads.index(C.header("suggested_tier"))
    ranges = {f"{T.name}[{h}]": _column_range(rws, T.name, h) for h in T.headers}
    ranges.update({f"{S.name}[{h}]": _column_range(rws, S.name, h) for h in S.headers})

    def resolve(f: str, row: int) -> str:
        def this_row(m):
            name = re.sub(r"'(.)", r"\1", m[1])
            return f"{get_column_letter(c1 + heads.index(name))}{row}"
        f = re.sub(r"Customers\[\[#This Row\],\[((?:[^\]']|'.)*)\]\]", this_row, f)
        for ref, a1 in ranges.items():
            f = f.replace(ref, a1)
        return f

    new = openpyxl.Workbook()
    new.remove(new.active)
    for src in (cws, rws):
        ws = new.create_sheet(src.title)
        for row in src.iter_rows():
            for cell in row:
                v = cell.value
                if isinstance(v, str) and v.startswith("="):
                    continue  # only inputs; the tier cells are set below
                if v is not None:
                    ws.cell(cell.row, cell.column, v)
    ws = new[C.sheet]
    rows = []
    for r in range(r1 + 1, r2 + 1):
        f = cws.cell(r, col).value
        if isinstance(f, str) and f.startswith("="):
            ws.cell(r, col, resolve(f, r))
            rows.append(r)
    new.save(out)
    return out, get_column_letter(col), rows


class Engine:
    """The book's 建议等级 formula of its first data row, compiled once by the `formulas`
    package; each call puts one customer's inputs into that row and computes."""

    KEYS = ("volume", "credit", "margin", "growth", "derived_credit")

    def __init__(self, book: Path, work: Path):
        import formulas
        copy, letter, rows = a1_copy(book, work / "a1.xlsx")
        self.row = rows[0]
        wb = openpyxl.load_workbook(book, read_only=True)
        ws = wb[C.sheet]
        heads = [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]
        wb.close()
        prefix = f"'[{copy.name}]{C.sheet}'!"
        self.inputs = {k: f"{prefix}{get_column_letter(heads.index(C.header(k)) + 1)}{self.row}"
                       for k in self.KEYS if C.header(k) in heads}
        self.output = f"{prefix}{letter}{self.row}"
        self.model = formulas.ExcelModel().loads(str(copy)).finish()

    def tier(self, row: dict) -> object:
        import schedula
        # a blank cell is the engine's EMPTY (None would be a value of its own)
        values = {ref: row.get(C.header(k)) for k, ref in self.inputs.items()}
        sol = self.model.calculate(inputs={ref: [[schedula.EMPTY if v is None or v == "" else v]]
                                           for ref, v in values.items()}, outputs=[self.output])
        v = sol[self.output].value[0][0]
        return "" if v is None else v
