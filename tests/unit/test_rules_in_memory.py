"""Every selection, procedure and tiering rule on MemoryStore: the same actions the
buttons and the CLI run, on records held in memory — milliseconds per rule, no workbook.
(The same rules end to end through real books stay in tests/integration.)"""
from __future__ import annotations

import datetime as dt
import time

import pytest

from kam_xl import layout as L
from kam_xl.domain.receivables import amount_faults, date_faults
from kam_xl.domain.values import due_from_term
from kam_xl.errors import RulesInvalid
from kam_xl.services.actions import regrade_book, validate_book
from kam_xl.services.regrade import regrade
from kam_xl.store import EVERYTHING, LAST_VISITS, ChangeSet, Needs
from kam_xl.store.memory import MemoryStore
from kam_xl.workbook.tables import Notice
from tests.conftest import AS_OF, good_customer, good_receivable, good_visit
from tests.integration.test_validate import CASES
from tests.memory import memory_store

# cells the reading layer types (a word in a money column, a value outside a list) are not
# records' rules: a MemoryStore holds typed values
RECORD_CASES = [c for c in CASES if not c[0].endswith(("-TYPE", "-ENUM"))]


def _validate(store):
    return validate_book(store, AS_OF)


def test_a_clean_store_has_no_findings():
    rep = _validate(memory_store())
    assert rep.findings == [] and rep.errors == 0


@pytest.mark.parametrize("rule,data,sheet,row,column", RECORD_CASES,
                         ids=[c[0] + f"-{i}" for i, c in enumerate(RECORD_CASES)])
def test_each_rule_names_its_record_and_field(rule, data, sheet, row, column):
    store = memory_store(**data)
    started = time.perf_counter()
    rep = _validate(store)
    took = time.perf_counter() - started
    found = [f for f in rep.report.findings if f.rule == rule]
    assert found, [f.rule for f in rep.report.findings]
    tdef = next(t for t in L.TABLES.values() if t.sheet == sheet)
    # a record's rid in memory is its place in the order given: the book's row minus its header row
    assert (found[0].table, found[0].rid, tdef.header(found[0].key)) == (tdef.name, row - 2, column)
    assert store.findings and any(p.rule == rule for p in store.findings)  # the store holds them
    assert took < 1.0  # a rule in memory: milliseconds (generous for a noisy machine)


def test_a_duplicate_id_names_the_other_records_the_way_its_store_numbers_them():
    store = memory_store(customers=[good_customer(1), good_customer(2, 客户编号="KH000001",
                                                                   客户名称="杭州第2新材料有限公司")])
    rep = _validate(store)
    dup = [f for f in rep.findings if f.rule == "CUST-ID-DUP"]
    assert len(dup) == 1 and "（第 0、1 行）" in dup[0].message and dup[0].row == 1


def test_the_complaint_overdue_rule():
    late = {"投诉编号": "TS000001", "客户编号": "KH000001", "投诉日期": dt.date(2026, 10, 1), "投诉渠道": "电话",
            "投诉类别": "交付", "投诉内容": "交货延迟", "严重程度": "一般", "受理人": "张伟", "处理人": "李娜",
            "处理期限": dt.date(2026, 10, 20), "状态": "处理中"}
    done = dict(late, 投诉编号="TS000002", 状态="已解决", 解决日期=dt.date(2026, 10, 19), 客户确认="满意")
    rep = _validate(memory_store(complaints=[late, done]))
    hits = [f for f in rep.report.findings if f.rule == "COMPLAINT-OVERDUE"]
    assert [(f.table, f.rid, f.key) for f in hits] == [(L.COMPLAINTS.name, 0, "due")]
    assert "2026-10-20" in hits[0].message


def test_validate_fills_dunning_levels_and_satisfaction_in_the_store():
    late = good_receivable(2, 开票日期=dt.date(2026, 6, 1), 到期日=dt.date(2026, 7, 1), 已回款=0.0, 回款日期=None)
    store = memory_store(receivables=[good_receivable(1), late])
    rep = _validate(store)
    assert [d.customer_id for d in rep.dunning] == ["KH000001"]
    rows = store.rows[L.RECEIVABLES.name]
    assert rows[0].get("dunning_level") is None and rows[1]["dunning_level"]
    assert store.rows[L.CUSTOMERS.name][0]["satisfaction"] == 92.0  # the latest survey's score
    assert store.status and "全面校验" in store.status


def test_regrade_in_memory_moves_tiers_logs_each_move_and_derives_credit():
    slow = good_customer(2, 客户名称="杭州第2新材料有限公司", **{"年用量(元)": 30000.0, "增长潜力": "中",
                                                             "客户等级": "A1"})
    store = memory_store(customers=[good_customer(1), slow])
    res = regrade_book(store, "测试", AS_OF)
    assert [(m.customer_id, m.old, m.new) for m in res.moves] == [("KH000002", "A1", "B2")]
    rows = store.rows[L.CUSTOMERS.name]
    assert rows[1]["tier"] == "B2" and rows[1]["graded_on"] == AS_OF and rows[0]["tier"] == "A1"
    log = list(store.rows[L.GRADE_LOG.name].values())
    assert [(g["customer_id"], g["old_tier"], g["new_tier"], g["operator"]) for g in log] == \
        [("KH000002", "A1", "B2", "测试")]
    assert rows[0]["derived_credit"] == "好"  # paid on time: 推算信誉 from the receivables
    assert rows[0]["suggested_tier"] == "A1"  # the store keeps the calculated field


def test_regrade_tells_what_the_visits_view_found_while_it_was_read():
    """The file store reads the last-visit view meanwhile; reading it may take a visit typed under
    the table in and say so — after the action began.  The notice still reaches the result."""
    store = memory_store()
    with store:
        data = store.load(Needs({n: EVERYTHING for n in (L.CUSTOMERS.name, L.RECEIVABLES.name, L.TIER_RULES.name)}),
                          AS_OF)
    late = Notice("TAKEN-IN", L.VISITS.sheet, 9, None, "第 9 行直接录入在表格下方，已纳入表格")

    def view():
        data.notices.append(late)
        return {}
    data.deferred[LAST_VISITS] = view
    res = regrade(data, "测试")
    assert late in res.notices and late.line() in res.summary_lines()


@pytest.mark.parametrize("volume,credit,margin,growth,tier", [
    (800000, "好", 0.12, "中", "A1"), (500000, "好", 0.12, "中", "A1"), (499999, "好", 0.12, "中", "A2"),
    (300000, "较好", 0.12, "低", "A2"), (250000, "一般", 0.12, "高", "B1"), (60000, "一般", 0.10, "高", "B1"),
    (30000, "好", 0.10, "低", "B2"), (10000, "好", 0.30, "中", "D"), (10000, "好", 0.10, "低", "非大客户"),
    (900000, "好", 0.03, "高", "C"),
])
def test_each_default_tier_rule(volume, credit, margin, growth, tier):
    c = good_customer(1, **{"年用量(元)": float(volume), "回款信誉": credit, "利润率": margin, "增长潜力": growth,
                            "客户等级": None})
    store = memory_store(customers=[c], receivables=[])  # no receivables: the entered credit grades
    res = regrade_book(store, "测试", AS_OF)
    assert store.rows[L.CUSTOMERS.name][0]["tier"] == tier, res.graded[0].explanation


def test_a_rule_condition_on_a_users_own_column():
    rules = [{"顺序": 1, "等级": "A1", "附加条件": "年采购次数>=12", "说明": "常客"},
             {"顺序": 2, "等级": "C", "说明": "其余"}]
    store = memory_store(customers=[good_customer(1, 年采购次数=15), good_customer(2, 年采购次数=3)], rules=rules)
    regrade_book(store, "测试", AS_OF)
    assert [r["tier"] for r in store.rows[L.CUSTOMERS.name].values()] == ["A1", "C"]


def test_a_typo_in_a_rule_never_regrades_a_customer():
    rules = [{"顺序": 1, "等级": "A", "年用量下限(含)": 500000, "年用量上限(不含)": 100000, "说明": "颠倒"},
             {"顺序": 2, "等级": "其他", "说明": "其余"}]
    store = memory_store(rules=rules)
    before = {k: dict(v) for k, v in store.rows[L.CUSTOMERS.name].items()}
    with pytest.raises(RulesInvalid, match="年用量上限应大于下限"):
        regrade_book(store, "测试", AS_OF)
    assert store.rows[L.CUSTOMERS.name] == before and not store.applied


def test_a_record_typed_without_an_id_gets_the_next_one():
    store = memory_store(customers=[good_customer(1), good_customer(2, 客户编号=None, 客户名称="新客户有限公司")])
    validate_book(store, AS_OF)
    assert store.rows[L.CUSTOMERS.name][1]["id"] == "KH000002"


def test_a_store_without_a_later_column_still_runs_every_action():
    store = memory_store(missing={L.CUSTOMERS.name: {"derived_credit"}})
    regrade_book(store, "测试", AS_OF)
    _validate(store)
    assert "derived_credit" not in store.rows[L.CUSTOMERS.name][0]


def test_the_import_and_the_validator_share_the_receivable_rules():
    assert amount_faults(100.0, 120.0) == [("RECV-PAID-RANGE", "paid")]
    assert amount_faults(100.0, 100.004) == []  # within the fen
    assert amount_faults(None, None) == amount_faults(0.0, None) == [("RECV-AMOUNT-INVALID", "amount")]
    assert date_faults(dt.date(2026, 8, 1), dt.date(2026, 7, 1)) == [("RECV-DUE-BEFORE-INVOICE", "due_date")]
    assert due_from_term(dt.date(2026, 8, 1), 90) == dt.date(2026, 10, 30)


def test_record_actions_add_update_remove_in_memory():
    store = memory_store(visits=[good_visit(1), good_visit(2), good_visit(3)])
    changes = ChangeSet()
    changes.update(L.VISITS.name, 0, "outcome", "已签单")
    changes.remove(L.VISITS.name, 1)
    changes.add(L.VISITS.name, {"id": "BF000009", "customer_id": "KH000001", "state": "草稿"})
    with store:
        store.load(validate_needs())
        store.apply(changes)
    rows = store.rows[L.VISITS.name]
    assert sorted(rows) == [0, 2, 3] and rows[0]["outcome"] == "已签单" and rows[3]["id"] == "BF000009"


def validate_needs():
    from kam_xl.services.actions import VALIDATE_NEEDS
    return VALIDATE_NEEDS


def test_the_memory_store_is_a_store():
    from kam_xl.store.protocol import Store
    assert isinstance(MemoryStore(), Store)
