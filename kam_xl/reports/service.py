"""生成报表: build every section from the book's tables, write the workbook
(and optionally the PDF) named by the as-of date."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .. import layout as L
from ..errors import BadArgument
from ..store import Needs, Snapshot
from . import builders as B
from . import periods as P
from .pdf import to_pdf
from .writer import Chart, Section, write_output, write_report

REPORT_STEM = "大客户管理报表"


def in_wan(frame, columns: list[str], rename: bool = True):
    """Amounts a manager reads (overviews, charts, KPI tables) in 万元 (PRODUCT.md §2);
    lists a clerk checks stay in 元.  The column says its unit: 年用量合计(万元)."""
    out = frame.copy()
    for c in columns:
        if c in out.columns:
            out[c] = out[c].map(P.to_wan)
    if rename:
        out = out.rename(columns={c: f"{c}(万元)" for c in columns if c in out.columns})
    return out


def _overview_in_wan(frame):
    out = frame.copy()
    is_yuan = out["单位"] == "元"
    out.loc[is_yuan, "数值"] = out.loc[is_yuan, "数值"].astype(float) / P.WAN
    out.loc[is_yuan, "单位"] = "万元"
    return out


def report_needs(needs: Needs) -> Needs:
    """The report's needs with the passes it makes from a few tables alone (builders.BESIDE):
    a store that computes in a second process begins them while it loads the rest."""
    return replace(needs, beside=B.BESIDE)


def meeting_sections(data: Snapshot, month: str) -> list[Section]:
    """例会: last month's summary and next month's plan, per person, ready to print."""
    m = P.month_period(month)
    nxt = P.next_month(m)
    return [
        Section("例会-上月总结", f"{m.start:%Y年%m月} 工作总结（按人员）", in_wan(B.monthly_summary(data, m), ["回款金额"]),
                f"统计期间 {m.label}：拜访按计划日期，回款按回款日期和催收人，新认定按审批日期，投诉按受理/解决日期"),
        Section("例会-下月计划", f"{nxt.start:%Y年%m月} 工作计划（按人员）", B.next_month_plan(data, nxt),
                f"计划期间 {nxt.label}：应拜访按拜访频率，应收按到期日，协议按到期日，满意度调查按调查间隔，以及全部未结投诉"),
    ]


def sections(data: Snapshot, month: str | None = None) -> list[Section]:
    period = P.Period.year_to_date(data.as_of)
    B.start_beside(data)  # the passes not begun while loading, beside what needs neither
    try:
        # what needs neither pass first, then 绩效考核 (its customers' part before it asks for them)
        dist = B.tier_distribution(data)
        changes = B.grade_changes(data, period)
        complaints = B.open_complaints(data) if data.complaints is not None else None
        kpis = B.staff_kpis(data, period)
        visits = B.visit_execution(data, period)
        overdue = B.overdue_customers(data)
        ov = B.overview(data, period)
        aging = B.aging_by_tier(data)
        dunning = B.dunning_list(overdue, data)
        meeting = meeting_sections(data, month) if month else []
    finally:
        B.settle(data)
    buckets = [c for c in aging.columns if c not in ("等级", "合计")]
    span = f"统计期间 {period.label}"
    return [
        Section("概览", "大客户管理概览", _overview_in_wan(ov), f"{span}；金额单位：万元"),
        Section("等级分布", "客户等级分布与年用量", in_wan(dist, ["年用量合计", "平均年用量"]),
                "按客户档案中的“客户等级”统计；金额单位：万元",
                [Chart("pie", "各等级客户数", "等级", ["客户数"]),
                 Chart("column", "各等级年用量（万元）", "等级", ["年用量合计(万元)"])]),
        Section("账龄分析", "应收账款账龄（按等级，未回款金额，万元）", in_wan(aging, buckets + ["合计"], rename=False),
                "已结清的不计入；金额单位：万元",
                [Chart("column", "账龄结构（万元）", "等级", buckets, stacked=True, skip_last_row=True)]),
        Section("催讨清单", "逾期应收催讨清单（每户一行，按最高级别）", dunning,
                "催讨级别按参数表的逾期天数阈值；金额单位：元"),
        Section("拜访执行", "拜访计划执行情况（按人员）", visits, f"{span}：期间内计划的拜访（不含草稿、已取消）",
                [Chart("bar", "拜访计划与完成", "人员", ["计划", L.DONE, "逾期未完成"])]),
        Section("绩效考核", "大客户人员绩效考核指标", in_wan(kpis, ["期间到期应收", "期间回款"]),
                f"{span}：新认定客户按期间内建档且已认定/已签约统计；回款率按催收人统计期间内到期的应收；金额单位：万元"),
        Section("等级变动", "期间内客户等级变动", changes, f"{span}：按定级的基准日期，来自调级记录"),
    ] + ([Section("投诉情况", "未结投诉（按客户）", complaints, "状态为待处理、处理中的投诉")]
         if complaints is not None else []) + meeting


def report_paths(book_path: Path, out: str | None, as_of) -> Path:
    name = f"{REPORT_STEM}_{as_of:%Y-%m-%d}.xlsx"
    if out is None:
        return book_path.parent / name
    p = Path(out)
    if p.is_dir() or not p.suffix:
        p.mkdir(parents=True, exist_ok=True)
        return p / name
    if p.suffix.lower() != ".xlsx":
        raise BadArgument(p, "报表文件应以 .xlsx 结尾", "the report file must end in .xlsx")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def build_report(data: Snapshot, book_path: Path, out: str | None = None, pdf: bool = False,
                 month: str | None = None) -> list[Path]:
    path = report_paths(Path(book_path), out, data.as_of)
    write_output(path, lambda tmp: write_report(
        tmp, "大客户管理报表", f"基准日期 {data.as_of:%Y-%m-%d}", sections(data, month)),
        book=Path(book_path))
    outs = [path]
    if pdf:
        outs.append(to_pdf(path))
    return outs
