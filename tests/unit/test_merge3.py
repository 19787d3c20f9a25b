"""The three-way building blocks: diff and merge3 over keyed records (PRODUCT.md §11)."""
from __future__ import annotations

import datetime as dt

from kam_xl.store.merge import REMOVED, Conflict, diff, merge3, same

BASE = {"KH1": {"name": "甲公司", "volume": 100000.0, "tier": "B1"},
        "KH2": {"name": "乙公司", "volume": 50000.0, "tier": "B2"},
        "KH3": {"name": "丙公司", "volume": 20000.0, "tier": "C"}}


def copy(records):
    return {k: dict(v) for k, v in records.items()}


def test_same_treats_blank_money_and_days_the_way_a_book_does():
    assert same(None, "") and same(100.0, 100.004) and not same(100.0, 100.01)
    assert same(dt.datetime(2026, 10, 1), dt.date(2026, 10, 1)) and not same(1, "1")


def test_diff_finds_added_removed_and_changed_fields():
    other = copy(BASE)
    other["KH1"]["tier"] = "A2"
    del other["KH3"]
    other["KH4"] = {"name": "丁公司"}
    d = diff(BASE, other)
    assert d.added == {"KH4": {"name": "丁公司"}} and list(d.removed) == ["KH3"]
    assert d.changed == {"KH1": {"tier": ("B1", "A2")}}
    assert diff(BASE, copy(BASE)).empty


def test_changes_on_different_fields_and_records_merge_cleanly():
    ours, theirs = copy(BASE), copy(BASE)
    ours["KH1"]["tier"] = "A2"
    theirs["KH1"]["volume"] = 120000.0
    theirs["KH2"]["name"] = "乙股份公司"
    ours["KH5"] = {"name": "戊公司"}
    m = merge3(BASE, ours, theirs)
    assert not m.conflicts
    assert m.records["KH1"] == {"name": "甲公司", "volume": 120000.0, "tier": "A2"}
    assert m.records["KH2"]["name"] == "乙股份公司" and "KH5" in m.records


def test_the_same_change_on_both_sides_is_no_conflict_a_different_one_is():
    ours, theirs = copy(BASE), copy(BASE)
    ours["KH1"]["tier"] = theirs["KH1"]["tier"] = "A2"
    ours["KH2"]["volume"], theirs["KH2"]["volume"] = 60000.0, 70000.0
    m = merge3(BASE, ours, theirs)
    assert m.records["KH1"]["tier"] == "A2"
    assert m.conflicts == [Conflict("KH2", "volume", 50000.0, 60000.0, 70000.0)]
    assert m.records["KH2"]["volume"] == 60000.0  # ours until someone decides; theirs is in the conflict


def test_removed_on_one_side_changed_on_the_other_is_kept_and_asked_about():
    ours, theirs = copy(BASE), copy(BASE)
    del ours["KH3"]
    theirs["KH3"]["tier"] = "B2"
    m = merge3(BASE, ours, theirs)
    assert m.records["KH3"]["tier"] == "B2"
    assert [(c.key, c.field, c.ours) for c in m.conflicts] == [("KH3", None, REMOVED)]
    # removed on one side, untouched on the other: removed
    ours, theirs = copy(BASE), copy(BASE)
    del theirs["KH2"]
    assert "KH2" not in merge3(BASE, ours, theirs).records


def test_added_on_both_sides_fills_gaps_and_conflicts_on_different_values():
    ours, theirs = copy(BASE), copy(BASE)
    ours["KH9"] = {"name": "新公司", "volume": None, "tier": "C"}
    theirs["KH9"] = {"name": "新公司", "volume": 30000.0, "tier": "B2"}
    m = merge3(BASE, ours, theirs)
    assert m.records["KH9"]["volume"] == 30000.0
    assert m.conflicts == [Conflict("KH9", "tier", None, "C", "B2")]


def test_nothing_is_lost_every_value_not_kept_is_in_a_conflict():
    ours, theirs = copy(BASE), copy(BASE)
    for k in BASE:
        ours[k]["tier"], theirs[k]["tier"] = "X" + k, "Y" + k
    m = merge3(BASE, ours, theirs)
    lost = {("Y" + k) for k in BASE} - {m.records[k]["tier"] for k in BASE}
    assert lost == {c.theirs for c in m.conflicts}
