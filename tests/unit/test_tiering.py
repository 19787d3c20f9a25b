"""Default tier rules: every bound exactly at, just below and just above; each seed hole."""
import pytest

from kam_xl.domain.models import Settings, TierRule
from kam_xl.domain.tiering import TierInputs, default_rules, grade, rules_version, sort_rules

RULES = sort_rules(default_rules())


def tier(v, credit="好", margin=0.10, growth="中"):
    return grade(TierInputs(v, credit, margin, growth), RULES).tier


@pytest.mark.parametrize("volume,credit,margin,growth,expected", [
    # rule 1 C: V >= 20万 and M < 5%
    (200000, "好", 0.0499, "高", "C"),
    (200000, "好", 0.05, "中", "A2"),        # margin bound is exclusive: 5% is not C
    (199999, "好", 0.01, "高", "B1"),        # just below 20万 → not C
    (5000000, "好", 0.049, "高", "C"),
    # rule 2 A1: V >= 50万 and credit 好 (inclusive)
    (500000, "好", 0.10, "中", "A1"),
    (499999, "好", 0.10, "中", "A2"),
    (500001, "好", 0.10, "中", "A1"),
    # rule 3 A2: V >= 20万 and credit 好/较好
    (200000, "较好", 0.10, "低", "A2"),
    (199999, "较好", 0.10, "低", "B2"),
    (600000, "较好", 0.10, "低", "A2"),       # hole: ≥50万 with only fairly good credit
    (350000, "好", 0.10, "低", "A2"),          # hole: 30万–50万
    (600000, "一般", 0.10, "高", "B1"),        # ≥50万 with fair credit and high growth
    (600000, "差", 0.10, "低", "B2"),
    # rule 4 B1: V >= 5万 and growth 高
    (50000, "一般", 0.10, "高", "B1"),
    (49999, "一般", 0.10, "高", "B2"),
    (150000, "一般", 0.10, "高", "B1"),        # hole: 10万–20万
    (150000, "一般", 0.10, "中", "B2"),
    # rule 5 B2: V >= 2万
    (20000, "差", 0.10, "低", "B2"),
    (19999, "差", 0.10, "低", "非大客户"),
    # rule 6 D: V < 2万, M >= 25%, growth 高/中
    (19999, "一般", 0.25, "中", "D"),
    (19999, "一般", 0.2499, "中", "非大客户"),
    (19999, "一般", 0.40, "低", "非大客户"),
    (0, "一般", 0.30, "高", "D"),
    # rule 7
    (1000, "好", 0.10, "高", "非大客户"),
])
def test_default_rules_at_every_bound(volume, credit, margin, growth, expected):
    assert tier(volume, credit, margin, growth) == expected


def test_explanation_names_inputs_matching_rule_and_skipped_rows():
    res = grade(TierInputs(350000, "较好", 0.12, "中"), RULES)
    text = res.explanation
    assert res.tier == "A2" and res.rule_order == 3
    assert "年用量=35万" in text and "回款信誉=较好" in text and "利润率=12%" in text
    assert "命中第3条规则" in text
    assert "第1条C(利润率≥5%)" in text and "第2条A1(年用量<50万)" in text


def test_missing_volume_cannot_grade_and_says_which_input():
    res = grade(TierInputs(None, "好", 0.1, "高"), RULES)
    assert res.tier is None and res.missing == ("年用量(元)",)
    assert "无法定级" in res.explanation and "年用量(元)" in res.explanation


def test_missing_margin_only_matters_when_a_rule_needs_it():
    # ≥20万: rule 1 needs the margin → cannot grade rather than guess
    assert grade(TierInputs(300000, "好", None, "高"), RULES).missing == ("利润率",)
    # below 20万 the C rule is decided by volume alone; B1 needs no margin
    assert grade(TierInputs(80000, "好", None, "高"), RULES).tier == "B1"


def test_missing_credit_is_reported_when_an_a_rule_is_reached():
    res = grade(TierInputs(600000, None, 0.2, "高"), RULES)
    assert res.tier is None and res.missing == ("回款信誉",)


def test_rules_apply_in_order_column_not_row_position():
    rules = default_rules()
    rules.reverse()  # rows in the sheet shuffled; 顺序 decides
    assert grade(TierInputs(300000, "好", 0.01, "高"), sort_rules(rules)).tier == "C"


def test_rule_version_changes_when_a_rule_changes():
    rules = default_rules()
    v1 = rules_version(rules)
    rules[1] = rules[1].model_copy(update={"volume_min": 600000})
    assert rules_version(rules) != v1


def test_extra_conditions_use_customer_columns_and_share_of_sales():
    rules = [TierRule(rid=0, order=1, tier="A", extra="年采购次数>=12; 合作年限>=10"),
             TierRule(rid=1, order=2, tier="大客户", extra="销售占比>0.05"),
             TierRule(rid=2, order=3, tier="其他")]
    s = Settings(company_sales=10_000_000)
    x = TierInputs(600000, "好", 0.1, "中", extra={"年采购次数": 12, "合作年限": 11})
    assert grade(x, rules, s).tier == "A"
    x = TierInputs(500001, "好", 0.1, "中", extra={"年采购次数": 4, "合作年限": 11})
    assert grade(x, rules, s).tier == "大客户"
    x = TierInputs(500000, "好", 0.1, "中", extra={"年采购次数": 4, "合作年限": 11})
    assert grade(x, rules, s).tier == "其他"  # exactly 5% is not "more than 5%"
    # unknown company sales: cannot decide the share → no guess
    res = grade(TierInputs(500001, "好", 0.1, "中", extra={"年采购次数": 4, "合作年限": 1}), rules, Settings())
    assert res.tier is None and res.missing == ("销售占比",)
