"""A second, independent formula engine (the `formulas` package: its own parser and
function library, pure Python) computes 建议等级 from the book's own formula — compiled
once, then given random rows: bounds, blanks, bad values, numbers stored as text,
推算信誉 — and gets exactly what the Python core gets.  With LibreOffice
(test_native_formulas) that is two engines besides Excel that need no array evaluation
to agree.  (Its VALUE() does not read "15%": percentages typed as text are left to the
LibreOffice test.)"""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kam_xl import layout as L
from kam_xl.domain.computed import suggested_tier
from kam_xl.domain.tiering import sort_rules
from kam_xl.workbook.builder import build_master
from kam_xl.workbook.reading import coerce_record
from tests.e2e.test_native_formulas import (AS_OF, CREDITS, DERIVED, GROWTHS, MARGINS, SCHEME_SHARE, VOLUMES,
                                            _rules_and_settings, _set_rules)

pytest.importorskip("formulas")
from tests.tools.second_engine import Engine  # noqa: E402

C = L.CUSTOMERS
PLAIN_MARGINS = [m for m in MARGINS if not (isinstance(m, str) and m.endswith("%"))]

row = st.fixed_dictionaries({
    C.header("volume"): st.one_of(st.sampled_from(VOLUMES), st.integers(0, 2_000_000).map(float),
                                  st.integers(0, 2_000_000).map(str),
                                  st.integers(0, 2_000_000).map(lambda x: f"{x:,}")),
    C.header("margin"): st.one_of(st.sampled_from(PLAIN_MARGINS), st.integers(-120, 120).map(lambda x: x / 100),
                                  st.integers(-20, 120).map(lambda x: str(x / 100))),
    C.header("credit"): st.sampled_from(CREDITS), C.header("growth"): st.sampled_from(GROWTHS),
    C.header("derived_credit"): st.sampled_from(DERIVED)})


class _Case:
    def __init__(self, book, work):
        self.engine = Engine(book, work)
        rules, self.settings = _rules_and_settings(book)
        self.rules = sort_rules(rules)

    def disagreement(self, values: dict):
        c, _ = coerce_record(C, values, 0)
        want = suggested_tier(c, values, self.rules, self.settings)
        got = self.engine.tier(values)
        return None if (got or "") == want else (values, got, want)


@pytest.fixture(scope="module")
def default_rules(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    book = folder / "book.xlsm"
    build_master(book, {C.name: [{C.header("id"): "KH000001", C.header("name"): "公式引擎测试有限公司"}]},
                 {"基准日期": AS_OF})
    return _Case(book, folder)


@pytest.fixture(scope="module")
def share_rules(tmp_path_factory):
    from kam_xl.cli import main
    folder = tmp_path_factory.mktemp("engine_share")
    book = folder / "share.xlsm"
    build_master(book, {C.name: [{C.header("id"): "KH000001", C.header("name"): "公式引擎测试有限公司"}]},
                 {"基准日期": AS_OF, "公司年销售额(元)": 20000000})
    _set_rules(book, SCHEME_SHARE)
    assert main(["regrade", str(book)]) in (0, 1)  # compiles the rule table into the formula
    return _Case(book, folder)


def test_a_second_engine_computes_every_tier_as_the_core_does(default_rules):
    rng = random.Random(20261203)
    bad = []
    for _ in range(250):
        values = {C.header("volume"): rng.choice(VOLUMES), C.header("margin"): rng.choice(PLAIN_MARGINS),
                  C.header("credit"): rng.choice(CREDITS), C.header("growth"): rng.choice(GROWTHS),
                  C.header("derived_credit"): rng.choice(DERIVED)}
        d = default_rules.disagreement(values)
        if d:
            bad.append(d)
    assert not bad, bad[:5]


def test_a_second_engine_agrees_on_a_rule_table_with_conditions(share_rules):
    rng = random.Random(5)
    bad = [d for d in (share_rules.disagreement({
        C.header("volume"): rng.choice(VOLUMES), C.header("margin"): rng.choice(PLAIN_MARGINS),
        C.header("credit"): rng.choice(CREDITS), C.header("growth"): rng.choice(GROWTHS),
        C.header("derived_credit"): rng.choice(DERIVED)}) for _ in range(120)) if d]
    assert not bad, bad[:5]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row)
def test_property_formula_and_core_agree_numbers_stored_as_text_included(default_rules, values):
    assert default_rules.disagreement(values) is None
