"""The calculated columns are native formulas: LibreOffice Calc, an independent engine,
recalculates a book with macros disabled and shows in every calculated cell exactly what
the Python core computes — on thousands of random rows that hit every bound, blank and bad
inputs, both of the seed's alternative rule schemes, and after editing a rule and a Setting."""
from __future__ import annotations

import datetime as dt
import random
import zipfile
from pathlib import Path

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.domain.computed import receivable_cells, suggested_tier
from kam_xl.workbook.reading import coerce_record, read_settings
from kam_xl.domain.tiering import sort_rules
from kam_xl.workbook.builder import build_master
from kam_xl.workbook.formulas import STALE
from tests.helpers import add_user_column
from tests.tools import lo

pytestmark = [pytest.mark.libreoffice,
              pytest.mark.skipif(not lo.available(), reason="LibreOffice with python3-uno not installed (.ci/run)")]

AS_OF = dt.date(2026, 10, 31)
C, R, T = L.CUSTOMERS, L.RECEIVABLES, L.TIER_RULES
VOLUMES = [None, "", "abc", -5.0, 0.0, 19999.99, 20000.0, 20000.01, 49999.0, 50000.0, 100000.0, 199999.99,
           200000.0, 299999.0, 300000.0, 499999.99, 500000.0, 500000.01, 1000000.0, 5000000.0, 10000000.0, 2e7,
           # numbers stored as text (pasted from a system, typed with an apostrophe): the core reads them
           "300000", "1,200,000", "19999.99", "500000", "5e5", "50万"]
MARGINS = [None, "", "abc", -0.2, 0.0, 0.0499, 0.05, 0.0501, 0.12, 0.2499, 0.25, 0.2501, 0.6, 1.0, 1.5,
           "15%", "0.05", "4.99%", "25%"]
DERIVED = [None, None, None, None, "好", "较好", "一般", "差"]  # 推算信誉, as regrade writes it
CREDITS = [None, "好", "较好", "一般", "差", "优"]
GROWTHS = [None, "高", "中", "低", "很高"]
DAYS = [None, -30, -1, 0, 1, 29, 30, 31, 59, 60, 61, 89, 90, 91, 179, 180, 181, 400]


def random_customers(rng: random.Random, n: int, extra: dict | None = None) -> list[dict]:
    rows = []
    for i in range(n):
        row = {C.header("id"): f"KH{i + 1:06d}", C.header("name"): f"随机客户{i + 1}有限公司",
               C.header("volume"): rng.choice(VOLUMES), C.header("margin"): rng.choice(MARGINS),
               C.header("credit"): rng.choice(CREDITS), C.header("growth"): rng.choice(GROWTHS),
               C.header("derived_credit"): rng.choice(DERIVED)}
        for h, choices in (extra or {}).items():
            row[h] = rng.choice(choices)
        rows.append(row)
    return rows


def random_receivables(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        amount = rng.choice([None, "abc", 0.0, 100.0, 5000.5, 120000.0, 33333.33])
        paid = rng.choice([None, 0.0, 50.0, 100.0, 5000.5, 120000.0, "x"]) if rng.random() < 0.8 else None
        days = rng.choice(DAYS)
        rows.append({R.header("id"): f"FP{i + 1:08d}", R.header("customer_id"): "KH000001",
                     R.header("invoice_date"): AS_OF - dt.timedelta(days=200),
                     R.header("amount"): amount, R.header("paid"): paid,
                     R.header("due_date"): None if days is None else AS_OF - dt.timedelta(days=days)})
    return rows


def random_surveys(rng: random.Random, n: int) -> list[dict]:
    heads = [L.SURVEYS.header(k) for k in L.SCORE_KEYS]
    return [{"调查编号": f"MY{i + 1:06d}", "客户编号": "KH000001", "调查日期": AS_OF,
             **{h: rng.choice([None, 1, 2, 3, 4, 5, 5, 0, 6, 4.5, "x"]) for h in heads}} for i in range(n)]


def _records(sheet: list[list], table: L.TableDef) -> list[dict]:
    header, *rows = sheet
    return [dict(zip(header, (None if v == "" else v for v in r))) for r in rows if any(v != "" for v in r)]


def _rules_and_settings(book: Path):
    from kam_xl.workbook.store import FileStore
    t = FileStore(book).read([T.name, L.SETTINGS.name])
    rules = [coerce_record(T, r, i)[0] for i, r in enumerate(t[T.name].records())]
    settings, _ = read_settings(t[L.SETTINGS.name].records())
    return rules, settings


def _compare(book: Path, n_customers: int, n_receivables: int, as_of: dt.date = AS_OF) -> None:
    """LibreOffice's values of every calculated cell against the Python core, from the
    inputs LibreOffice itself holds; and no error in any table cell (macros are disabled)."""
    got = lo.recalc(book, [C.sheet, R.sheet])
    assert not got["errors"][C.sheet] and not got["errors"][R.sheet], \
        (got["errors"][C.sheet][:3], got["errors"][R.sheet][:3])
    rules, settings = _rules_and_settings(book)
    ordered = sort_rules(rules)
    customers = _records(got["sheets"][C.sheet], C)
    assert len(customers) == n_customers
    bad = []
    for i, row in enumerate(customers):
        c, _ = coerce_record(C, row, i)
        want = suggested_tier(c, row, ordered, settings)
        if (row.get(C.header("suggested_tier")) or "") != want:
            bad.append((i + 2, {k: row.get(C.header(k)) for k in ("volume", "credit", "margin", "growth")},
                        row.get(C.header("suggested_tier")), want))
    assert not bad, bad[:5]
    receivables = _records(got["sheets"][R.sheet], R)
    assert len(receivables) == n_receivables
    for i, row in enumerate(receivables):
        r, _ = coerce_record(R, row, i)
        want = receivable_cells(r, as_of)
        for key in ("outstanding", "overdue_days", "aging"):
            h = R.header(key)
            a, b = row.get(h), want.get(key)
            if isinstance(b, (int, float)) and not isinstance(b, bool):
                assert a is not None and abs(a - b) < 1e-6, (i + 2, h, row, a, b)
            else:
                assert a == b, (i + 2, h, row, a, b)


def _cached_equals_recalculated(book: Path) -> None:
    """What the product cached in the file is what LibreOffice computes."""
    data = openpyxl.load_workbook(book, data_only=True)
    got = lo.recalc(book, [C.sheet])
    ws = data[C.sheet]
    col = C.headers.index(C.header("suggested_tier"))
    cached = [(r[col].value or "") for r in ws.iter_rows(min_row=2) if r[0].value]
    computed = [(r[col] or "") for r in got["sheets"][C.sheet][1:] if r[0] != ""]
    assert cached == computed


@pytest.fixture(scope="module")
def default_book(tmp_path_factory) -> Path:
    rng = random.Random(20261202)
    book = tmp_path_factory.mktemp("native") / "book.xlsm"
    build_master(book, {C.name: random_customers(rng, 5000), R.name: random_receivables(rng, 5000),
                        L.SURVEYS.name: random_surveys(rng, 1000)}, {"基准日期": AS_OF})
    return book


def test_libreoffice_recalculates_every_calculated_cell_as_python_does(default_book):
    _compare(default_book, 5000, 5000)


def test_libreoffice_computes_the_survey_score_as_python_does(default_book):
    got = lo.recalc(default_book, [L.SURVEYS.sheet])
    assert not got["errors"][L.SURVEYS.sheet]
    rows = _records(got["sheets"][L.SURVEYS.sheet], L.SURVEYS)
    assert len(rows) == 1000
    for i, row in enumerate(rows):
        want = coerce_record(L.SURVEYS, row, i)[0].computed_score()
        assert (row.get("综合得分") or None) == want, (i + 2, row, want)


def test_the_cached_values_are_what_a_formula_engine_computes(default_book):
    _cached_equals_recalculated(default_book)


def test_no_calculated_column_calls_python_and_opening_does_not_recalculate(default_book):
    with zipfile.ZipFile(default_book) as z:
        wb = z.read("xl/workbook.xml").decode()
        tables = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/tables/"))
    assert "fullCalcOnLoad" not in wb
    assert "calculatedColumnFormula" in tables and "KAM_" not in tables.replace("KAM_ASOF", "")


def _set_rules(book: Path, rows: list[tuple], settings: dict | None = None) -> None:
    """A manager retypes the rule table in Excel (here: openpyxl) and saves."""
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[T.sheet]
    t = ws.tables[T.name]
    c1, r1, c2, r2 = openpyxl.utils.cell.range_boundaries(t.ref)
    for r in range(r1 + 1, r2 + 1):
        for c in range(c1, c1 + len(T.columns)):
            ws.cell(r, c).value = None
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            ws.cell(r1 + 1 + i, c1 + j).value = v
    if settings:
        st = ws.tables[L.SETTINGS.name]
        sc1, sr1, _, sr2 = openpyxl.utils.cell.range_boundaries(st.ref)
        for r in range(sr1 + 1, sr2 + 1):
            key = ws.cell(r, sc1).value
            if key in settings:
                ws.cell(r, sc1 + 1).value = settings[key]
    wb.save(book)


SCHEME_ABC = [  # the seed's 大客户 A/B/C by annual sales, purchase frequency and years of cooperation
    (1, "A", 10000000, None, None, None, None, "", "年采购次数>=12；合作年限>=10", "年销售额1000万以上、每月采购、合作十年以上"),
    (2, "B", 5000000, None, None, None, None, "", "年采购次数>=6", "500万以上"),
    (3, "C", 1000000, None, None, None, None, "", "", "100万以上"),
    (4, "非大客户", None, None, None, None, None, "", "", "其余"),
]
SCHEME_SHARE = [  # "a key account is more than 5% of company sales", plus the default rows after it
    (1, "A1", None, None, "好", None, None, "", "销售占比>0.05", "占公司销售额5%以上且信誉好"),
    (2, "B1", 50000, None, None, None, None, "高、中", "", ""),
    (3, "C", None, None, None, 0.0, 0.05, "", "", ""),
    (4, "非大客户", None, None, None, None, None, "", "", "其余"),
]


def test_the_seed_scheme_by_sales_frequency_and_years_is_computed_natively(tmp_path):
    rng = random.Random(7)
    book = tmp_path / "abc.xlsm"
    build_master(book, {C.name: random_customers(rng, 2000), R.name: random_receivables(rng, 500)}, {"基准日期": AS_OF})
    add_user_column(book, C.sheet, C.name, "年采购次数", [rng.choice([None, 3, 6, 11, 12, 24, "x"]) for _ in range(2000)])
    add_user_column(book, C.sheet, C.name, "合作年限", [rng.choice([None, 2, 9, 10, 15]) for _ in range(2000)])
    _set_rules(book, SCHEME_ABC)
    got = lo.recalc(book, [C.sheet])  # edited 附加条件, not yet compiled: the column says so
    col = C.headers.index(C.header("suggested_tier"))
    assert {r[col] for r in got["sheets"][C.sheet][1:] if r[0] != ""} == {STALE}
    assert main(["regrade", str(book)]) == 0  # compiles the conditions into the formula
    _compare(book, 2000, 500)
    _cached_equals_recalculated(book)


def test_share_of_sales_and_edits_without_python_are_computed_natively(tmp_path):
    rng = random.Random(11)
    book = tmp_path / "share.xlsm"
    build_master(book, {C.name: random_customers(rng, 2000), R.name: random_receivables(rng, 2000)},
                 {"基准日期": AS_OF, "公司年销售额(元)": 20000000})
    _set_rules(book, SCHEME_SHARE)
    assert main(["regrade", str(book)]) == 0
    _compare(book, 2000, 2000)
    # a rule bound and the as-of date edited in the book, no Python run: the formulas follow
    edited = [list(r) for r in SCHEME_SHARE]
    edited[1][2] = 200000  # B1 now from 20万
    _set_rules(book, [tuple(r) for r in edited], {"基准日期": dt.datetime(2026, 12, 15)})
    _compare(book, 2000, 2000, as_of=dt.date(2026, 12, 15))


def test_a_book_patched_as_a_stream_recalculates_as_python_does_and_validates(tmp_path, monkeypatch):
    """Big sheets are patched as a stream while the new book is written (engine.patch_sheet_stream,
    rawzip's block deflate); forced here on a small book: an import appends customers (with their
    cached 建议等级), a regrade changes tiers in place — LibreOffice recalculates every calculated
    cell as the Python core does, the cached values are what it computes, and the Open XML SDK
    validator finds nothing.  Every part they replace is deflated as a big one is: by ISA-L
    (workbook/deflate.py), in blocks or in two halves joined into one stream; every part they
    keep is copied as a big one is, file to file by the kernel (rawzip.RawCopy)."""
    from kam_xl.files import run_import, run_regrade
    from kam_xl.workbook import columns, deflate, engine, rawzip, store as store_mod
    from tests.conftest import good_customer, good_receivable, make_book
    from tests.legacy_files import xlsx_2019_archive
    from tests.tools import ooxml
    monkeypatch.setattr(store_mod, "STREAM_PART", 0)
    monkeypatch.setattr(rawzip, "BIG_PART", 0)
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    monkeypatch.setattr(rawzip, "KERNEL_COPY", 0)
    copied = []
    real_copy = rawzip.os.copy_file_range
    monkeypatch.setattr(rawzip.os, "copy_file_range", lambda *a: copied.append(1) or real_copy(*a))
    streamed = []
    real = engine.patch_sheet_stream

    def counting(*a, **k):
        streamed.append(1)
        yield from real(*a, **k)
    monkeypatch.setattr(engine, "patch_sheet_stream", counting)
    assert deflate._isal is not None  # the compressor under test is ISA-L's (pinned in pyproject.toml)
    compressors = []
    real_compressor = deflate.fast_compressor
    monkeypatch.setattr(rawzip, "fast_compressor", lambda: compressors.append(1) or real_compressor())
    book = make_book(tmp_path / "b.xlsm", customers=[good_customer(i, 客户等级=None) for i in range(1, 6)],
                     receivables=[good_receivable(i, f"KH{i:06d}") for i in range(1, 6)])
    run_import(book, [xlsx_2019_archive(tmp_path / "档案2019.xlsx")])
    run_regrade(book)
    assert streamed  # the stream path wrote the sheets
    assert compressors  # and ISA-L deflated them
    assert copied and rawzip.RawCopy.kernel  # the kernel copied the parts kept
    _compare(book, 8, 5)
    _cached_equals_recalculated(book)
    if ooxml.available():
        found = ooxml.validate([book])
        assert all(v == [] for v in found.values()), {k: v[:3] for k, v in found.items() if v}


def test_a_book_whose_parts_are_patched_in_a_second_process_recalculates_and_validates(tmp_path, monkeypatch):
    """A write makes its sheet part with the most rows to patch in a second process and hands its
    pieces to the zip writer as a stream (store._patched_beside); forced here on a small book with the
    sheets patched whole: an import appends customers and the import log, a regrade changes tiers and
    appends to the grade log — LibreOffice recalculates every calculated cell as the Python core does,
    the cached values are what it computes, and the Open XML SDK validator finds nothing."""
    from kam_xl.files import run_import, run_regrade
    from kam_xl.workbook import parallel, store as store_mod
    from tests.conftest import good_customer, good_receivable, make_book
    from tests.legacy_files import xlsx_2019_archive
    from tests.tools import ooxml
    if not parallel.CAN_FORK:
        pytest.skip("no fork on this system: every part is made in one process")
    monkeypatch.setattr(store_mod, "STREAM_PART", 1 << 62)  # the sheets patched whole, as the small ones are
    monkeypatch.setattr(store_mod, "BESIDE_ROWS", 1)
    beside = []
    real = store_mod._patch_to_hand_over

    def counting(*a):
        beside.append(1)  # (counted in the second process: its list is its own)
        return real(*a)
    monkeypatch.setattr(store_mod, "_patch_to_hand_over", counting)
    taken = []
    real_when = store_mod._when_written
    monkeypatch.setattr(store_mod, "_when_written", lambda pending: taken.append(pending) or real_when(pending))
    book = make_book(tmp_path / "b.xlsm", customers=[good_customer(i, 客户等级=None) for i in range(1, 6)],
                     receivables=[good_receivable(i, f"KH{i:06d}") for i in range(1, 6)])
    run_import(book, [xlsx_2019_archive(tmp_path / "档案2019.xlsx")])
    run_regrade(book)
    assert len(taken) == 2 and not beside  # one part of each write made in the second process, none here
    assert all(p.pid is None for p in taken)  # taken and reaped
    _compare(book, 8, 5)
    _cached_equals_recalculated(book)
    if ooxml.available():
        found = ooxml.validate([book])
        assert all(v == [] for v in found.values()), {k: v[:3] for k, v in found.items() if v}
