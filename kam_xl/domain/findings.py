"""Findings: problems in data, collected, never raised (PRODUCT.md §4)."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import layout as L
from .problems import code


@dataclass(frozen=True)
class Finding:
    rule: str          # stable code, e.g. CUST-CREDIT-BAD
    severity: str      # 错误 | 警告
    sheet: str
    row: int | None    # Excel row
    column: str | None
    message: str       # Chinese, says how to fix it
    customer_id: str | None = None
    value: Any = None

    def as_row(self) -> dict[str, Any]:
        return L.ISSUES.row(severity=self.severity, sheet=self.sheet, row=self.row, column=self.column,
                            rule=self.rule, message=self.message, customer_id=self.customer_id)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FindingsReport:
    findings: list[Finding] = field(default_factory=list)

    def add(self, rule: str, sheet: str, row: int | None, column: str | None, message: str,
            customer_id: str | None = None, value: Any = None) -> None:
        """A finding of a registered code (its severity comes from the registry)."""
        self.findings.append(Finding(rule, code(rule).severity, sheet, row, column, message, customer_id, value))

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == L.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == L.WARNING)

    @property
    def valid(self) -> bool:
        return self.errors == 0

    def by_rule(self) -> Counter:
        return Counter(f.rule for f in self.findings)

    def sorted(self) -> list[Finding]:
        sheet_order = {s: i for i, s in enumerate(L.SHEET_ORDER)}
        return sorted(self.findings, key=lambda f: (
            L.SEVERITIES.index(f.severity), sheet_order.get(f.sheet, 99), f.row or 0, f.column or "", f.rule))
