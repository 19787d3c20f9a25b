"""Master data held in a MemoryStore, from the same rows the workbook fixtures use (by
column label): what the rule tests run on, in milliseconds."""
from __future__ import annotations

from typing import Any

from kam_xl import layout as L
from kam_xl.store.memory import MemoryStore
from tests.conftest import AS_OF, approved_applications, good_customer, good_receivable, good_visit, recent_surveys


def by_key(tdef: L.TableDef, row: dict[str, Any]) -> dict[str, Any]:
    """A row by column label → by layout key (a user's own column keeps its label)."""
    keys = {c.header: c.key for c in tdef.columns}
    return {keys.get(h, h): v for h, v in row.items()}


def settings_fields(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings by 参数 label → by field (a user's own parameter keeps its label)."""
    return {(L.SETTINGS_BY_KEY[k].field if k in L.SETTINGS_BY_KEY else k): v for k, v in settings.items()}


def memory_store(customers=None, visits=None, receivables=None, settings=None, rules=None,
                 certifications=None, complaints=None, surveys=None, missing=None) -> MemoryStore:
    """What tests.conftest.make_book builds as a workbook, as a MemoryStore."""
    customers = customers if customers is not None else [good_customer()]
    data = {
        L.CUSTOMERS: customers,
        L.VISITS: visits if visits is not None else [good_visit()],
        L.RECEIVABLES: receivables if receivables is not None else [good_receivable()],
        L.CERTIFICATIONS: certifications if certifications is not None else approved_applications(customers),
        L.COMPLAINTS: complaints or [],
        L.SURVEYS: surveys if surveys is not None else recent_surveys(customers),
    }
    tables = {t.name: [by_key(t, r) for r in rows] for t, rows in data.items()}
    rule_keys = [c.key for c in L.TIER_RULES.columns]
    tables[L.TIER_RULES.name] = ([by_key(L.TIER_RULES, r) for r in rules] if rules is not None else
                                 [dict(zip(rule_keys, r)) for r in L.DEFAULT_TIER_RULES])
    s = {"基准日期": AS_OF}
    s.update(settings or {})
    return MemoryStore(tables, settings_fields(s), missing)
