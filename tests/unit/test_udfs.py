"""The cell functions: single cells and whole columns, bad input gives text not exceptions."""
import datetime as dt

from kam_xl.xl import udfs

D = dt.date


def test_kam_tier_single_cell_and_column():
    assert udfs.KAM_TIER(600000, "好", 0.12, "中") == "A1"
    col = udfs.KAM_TIER([[600000], [300000], [19999], [None]], [["好"], ["较好"], ["一般"], ["好"]],
                        [[0.12], [0.1], [0.3], [0.1]], [["中"], ["中"], ["高"], ["高"]])
    assert col == [["A1"], ["A2"], ["D"], ["缺年用量(元)"]]


def test_kam_tier_broadcasts_a_scalar_against_a_column():
    assert udfs.KAM_TIER([[600000], [250000]], "好", 0.12, "中") == [["A1"], ["A2"]]


def test_kam_tier_bad_input_returns_text_not_exception():
    assert udfs.KAM_TIER("很多", "好", 0.1, "中") == "缺年用量(元)"
    assert udfs.KAM_TIER(None, None, None, None) == ""


def test_kam_tier_why_explains():
    assert "命中第2条规则 → A1" in udfs.KAM_TIER_WHY(600000, "好", 0.12, "中")


def test_kam_aging_and_overdue_days_arrays():
    due = [[D(2026, 10, 1)], [D(2026, 12, 1)], [D(2026, 1, 1)], ["明天"]]
    out = [[100.0], [100.0], [0.0], [5.0]]
    asof = D(2026, 10, 31)
    assert udfs.KAM_AGING(due, out, asof) == [["1-30天"], ["未到期"], ["已结清"], ["日期无效"]]
    assert udfs.KAM_OVERDUE_DAYS(due, out, asof) == [[30], [0], [0], ["日期无效"]]
    assert udfs.KAM_OVERDUE_DAYS(D(2026, 10, 1), 100, asof) == 30


def test_kam_next_visit_uses_tier_frequency():
    asof = D(2026, 10, 31)
    assert udfs.KAM_NEXT_VISIT("A1", D(2026, 10, 1), asof) == D(2026, 10, 31)
    assert udfs.KAM_NEXT_VISIT([["A2"], ["B1"], ["非大客户"]], [[D(2026, 9, 1)], [None], [None]], asof) == \
        [[D(2026, 10, 31)], [asof], [""]]


def test_kam_credit_from_a_receivables_range_with_headers():
    grid = [["单据号", "客户编号", "开票日期", "金额", "到期日", "已回款", "回款日期"],
            ["F1", "KH1", D(2026, 5, 1), 100, D(2026, 5, 31), 100, D(2026, 5, 30)],
            ["F2", "KH2", D(2026, 3, 1), 100, D(2026, 4, 1), 0, None]]
    assert udfs.KAM_CREDIT([["KH1"], ["KH2"], ["KH3"]], grid, D(2026, 10, 31)) == [["好"], ["差"], ["无数据"]]
    assert udfs.KAM_CREDIT("KH1", [["x"]]) == "应收区域需含表头"


def test_every_cell_function_and_argument_has_a_chinese_description():
    """xlwings registers the docstring and each @xw.arg(doc=…) for Excel's function dialog
    (插入函数); checked on the source, since xlwings' decorators only attach them on Windows."""
    import ast
    import inspect
    import re
    from kam_xl.xl import udfs
    tree = ast.parse(inspect.getsource(udfs))
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("KAM_")]
    assert len(funcs) >= 6
    for f in funcs:
        decorators = {}
        for d in f.decorator_list:
            if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "arg":
                kw = {k.arg: getattr(k.value, "value", None) for k in d.keywords}
                decorators[d.args[0].value] = kw
        doc = ast.get_docstring(f)
        assert doc and re.search(r"[\u4e00-\u9fff]", doc), f.name
        for a in f.args.args:
            if a.arg == "caller":
                continue
            assert re.search(r"[\u4e00-\u9fff]", decorators.get(a.arg, {}).get("doc") or ""), (f.name, a.arg)
