"""全面校验: findings to 校验结果 (replacing the last run's), 催讨级别 filled,
highlights follow automatically (conditional formats keyed on 校验结果)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .. import layout as L
from ..domain.findings import FindingsReport
from ..domain.problems import code as problem_code
from ..domain.procedures import satisfaction_updates
from ..domain.receivables import Dunning
from ..domain.selection import Checker, Inputs
from ..workbook.loader import BookData
from ..workbook.tables import Changes, Formula
from .credit import write_derived_credit

R = L.RECEIVABLES


@dataclass
class ValidationReport:
    as_of: dt.date
    report: FindingsReport
    dunning: list[Dunning]
    changes: Changes = field(default_factory=Changes)
    credit_changes: int = 0  # rows whose 推算信誉 changed

    @property
    def errors(self) -> int:
        return self.report.errors

    @property
    def findings(self):
        return self.report.sorted()

    def summary_lines(self) -> list[str]:
        r = self.report
        lines = [f"基准日期 {self.as_of:%Y-%m-%d}：错误 {r.errors} 项，警告 {r.warnings} 项"
                 + (f"（每一项的行、列和改法见工作表“{L.SHEET_ISSUES}”）" if r.errors or r.warnings else "")]
        counts = r.by_rule()
        for severity in L.SEVERITIES:
            found = sorted(((n, c) for c, n in counts.items() if problem_code(c).severity == severity),
                           key=lambda x: (-x[0], x[1]))
            if found:
                lines.append(f"{severity}：")
                lines += [f"  {problem_code(c).title} {n} 项（{c}）" for n, c in found]
        if self.dunning:
            lines.append(f"逾期客户 {len(self.dunning)} 户（每户按最高级别催讨一次）：")
            for d in self.dunning[:10]:
                lines.append(f"  {d.customer_id} {d.customer_name or ''} {d.level} 未回 {d.overdue_amount:,.0f} 元")
        lines.append("结论：" + ("无错误 / no errors" if r.valid else f"存在 {r.errors} 项错误 / {r.errors} errors"))
        return lines

    def as_json(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(), "errors": self.report.errors,
            "warnings": self.report.warnings, "by_rule": dict(self.report.by_rule()),
            "findings": [f.as_json() for f in self.findings],
            "dunning": [d.__dict__ for d in self.dunning],
        }


def _checker(data: BookData) -> Checker:
    header_rows = {name: t.header_row for name, t in data.tables.items()}
    return Checker(Inputs(
        customers=data.customers, visits=data.visits, receivables=data.receivables,
        rules=data.rules, settings=data.settings, as_of=data.as_of, header_rows=header_rows,
        problems=data.problems,
        certifications=data.certifications, complaints=data.complaints, surveys=data.surveys))


def linked(row: dict, data: BookData) -> dict:
    """A finding's 行号 as a link that jumps to the cell it names (PRODUCT.md §2): a
    HYPERLINK formula whose value is the row number, so the highlight and a filter on
    行号 work as before."""
    header, n = L.ISSUES.header("row"), row.get(L.ISSUES.header("row"))
    sheet, column = row.get(L.ISSUES.header("sheet")), row.get(L.ISSUES.header("column"))
    if not isinstance(n, int) or not sheet:
        return row
    # findings name the layout's sheet; the link goes to the sheet as the book has it now
    # (a user may have renamed it) and to the finding's column there
    table = next((data.tables[t.name] for t in L.TABLES.values() if t.sheet == sheet and t.name in data.tables),
                 None)
    actual = table.sheet if table is not None else sheet
    cell = table.cell_ref(n - table.header_row - 1, column) if table is not None and column in (table.offsets or {}) \
        else f"A{n}"
    # a sheet name is the user's text: quoted for the reference, then for the string literal
    target = f"'{actual.replace(chr(39), chr(39) * 2)}'!{cell}".replace('"', '""')
    return {**row, header: Formula(f'HYPERLINK("#{target}",{n})', n)}


def validate(data: BookData, now: dt.datetime | None = None) -> ValidationReport:
    now = now or dt.datetime.now().replace(microsecond=0)
    checker = _checker(data)
    report = checker.run()
    for n in data.notices:  # rows typed under a table, taken in or left outside it
        report.add(n.code, n.sheet, n.row, n.column, n.message)
    out = ValidationReport(data.as_of, report, checker.dunning)
    out.changes.replace(L.ISSUES.name, [linked(f.as_row(), data) for f in out.findings])
    rt = data.tables.get(R.name)
    if rt is not None and rt.has(R.header("dunning_level")):
        header = R.header("dunning_level")
        for r in data.receivables:
            level = checker.dunning_levels.get(r.row_index)
            if level != r.dunning_level:
                out.changes.set(R.name, r.row_index, header, level)
    out.credit_changes = write_derived_credit(data, checker.credits, out.changes)
    if data.surveys is not None:  # 满意度 is the latest survey's 综合得分 (validate keeps it so)
        header = L.CUSTOMERS.header("satisfaction")
        for row, score in satisfaction_updates(data.customers, data.surveys).items():
            out.changes.set(L.CUSTOMERS.name, row, header, score)
    out.changes.status = (f"{now:%Y-%m-%d %H:%M} 全面校验：错误 {report.errors} 项，警告 {report.warnings} 项"
                          f"，逾期客户 {len(checker.dunning)} 户")
    return out
