"""客户档案卡 (PRODUCT.md §6): one customer's file on one or two A4 pages — what a
specialist prints before a visit: the customer's data, its tier and why (the rule and the
inputs), the credit derived from its receivables, the team, the last visits and open
follow-ups, receivables with aging and dunning, complaints, surveys and grade history."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xlsxwriter

from .. import layout as L
from ..domain.computed import receivable_cells
from ..domain.receivables import derive_credit, receivable_level
from ..domain.tiering import TierInputs, grade, sort_rules
from ..store import Snapshot
from .periods import to_wan

C, V, R = L.CUSTOMERS, L.VISITS, L.RECEIVABLES
MAX_VISITS, MAX_RECEIVABLES, MAX_OTHER = 8, 12, 5


@dataclass
class Block:
    title: str
    headers: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Card:
    customer_id: str
    title: str
    facts: list[tuple[str, Any]]          # label, value — two per line
    tier_text: str
    credit_text: str
    blocks: list[Block] = field(default_factory=list)


def build_card(data: Snapshot, c) -> Card:
    """The card's content from what the store read (domain functions only)."""
    as_of, settings = data.as_of, data.settings
    mine_r = [r for r in data.receivables if r.customer_id == c.id]
    credit = derive_credit(mine_r, as_of, settings, c.credit)
    result = grade(TierInputs(c.volume, credit.credit, c.margin, c.growth,
                              extra=data.customer_extra(c) if data.rows_kept else {},
                              credit_source=credit.text if credit.derived else ("录入值" if c.credit else "")),
                   sort_rules(data.rules), settings)
    facts = [("客户编号", c.id), ("客户名称", c.name), ("客户类型", c.customer_type), ("行业", c.industry),
             ("区域", c.region), ("认定状态", c.status), ("客户经理", c.manager), ("对接人员", c.staff),
             ("联系人", c.contact), ("联系电话", c.phone), ("年用量(万元)", round(to_wan(c.volume), 2) if c.volume is not None else None),
             ("利润率", f"{c.margin:.1%}" if c.margin is not None else None),
             ("回款信誉(录入)", c.credit), ("推算信誉", credit.credit if credit.derived else "（无应收数据）"),
             ("增长潜力", c.growth), ("满意度", c.satisfaction), ("协议类型", c.agreement_type),
             ("协议编号", c.agreement_no), ("协议到期日", c.agreement_expiry), ("客户等级", c.tier),
             ("定级日期", c.graded_on), ("建档日期", c.created_on)]
    tier_text = (f"按分级规则应为 {result.tier}：{result.explanation}" if result.graded
                 else f"无法定级：{result.explanation}")
    card = Card(c.id or "", f"客户档案卡 — {c.name or c.id}", facts, tier_text,
                f"回款信誉：{credit.text}" if credit.text else "")

    visits = sorted((v for v in data.visits if v.customer_id == c.id),
                    key=lambda v: v.actual_date or v.planned_date or dt.date.min, reverse=True)
    card.blocks.append(Block("最近拜访", ["日期", "方式", "人员", "对象", "目的", "结果", "状态"], [
        [v.actual_date or v.planned_date, v.method, v.staff, v.attendee, v.purpose, v.outcome, v.state]
        for v in visits[:MAX_VISITS]], note=f"共 {len(visits)} 次" if len(visits) > MAX_VISITS else ""))
    follow = [v for v in visits if v.follow_up]
    card.blocks.append(Block("跟进事项", ["拜访日期", "跟进事项", "期限", "是否逾期"], [
        [v.actual_date or v.planned_date, v.follow_up, v.follow_up_due,
         "已逾期" if v.follow_up_due and v.follow_up_due < as_of else ""]
        for v in follow[:MAX_OTHER]]))
    rows = []
    open_total = 0.0
    for r in sorted(mine_r, key=lambda r: r.invoice_date or dt.date.min, reverse=True):
        cells = receivable_cells(r, as_of)
        _, level = receivable_level(r, settings, as_of)
        outstanding = cells.get("outstanding")
        if isinstance(outstanding, (int, float)):
            open_total += max(outstanding, 0)
        rows.append([r.id, r.invoice_date, r.amount, r.due_date, outstanding, cells.get("overdue_days"),
                     cells.get("aging"), level])
    card.blocks.append(Block("应收账款（元）", ["单据号", "开票日期", "金额", "到期日", "未回款", "逾期天数", "账龄", "催讨级别"],
                             rows[:MAX_RECEIVABLES],
                             note=f"未回款合计 {open_total:,.2f} 元" + (f"；共 {len(rows)} 笔，列出最近 {MAX_RECEIVABLES} 笔"
                                                                   if len(rows) > MAX_RECEIVABLES else "")))
    complaints = sorted((x for x in (data.complaints or ()) if x.customer_id == c.id),
                        key=lambda x: x.date or dt.date.min, reverse=True)
    card.blocks.append(Block("客户投诉", ["日期", "类别", "严重程度", "内容", "处理人", "期限", "状态"], [
        [x.date, x.kind, x.level, x.content, x.handler, x.due, x.state] for x in complaints[:MAX_OTHER]]))
    surveys = sorted((x for x in (data.surveys or ()) if x.customer_id == c.id),
                     key=lambda x: x.date or dt.date.min, reverse=True)
    card.blocks.append(Block("满意度调查", ["日期", "方式", "综合得分", "意见建议"], [
        [x.date, x.method, x.computed_score(), x.suggestions] for x in surveys[:MAX_OTHER]]))
    history = [g for g in data.grade_log if g.customer_id == c.id]
    card.blocks.append(Block("等级变动", ["时间", "原等级", "新等级", "操作人"], [
        [g.time, g.old_tier, g.new_tier, g.operator] for g in history[-MAX_OTHER:][::-1]]))
    return card


def write_card(path: Path, card: Card, as_of: dt.date) -> Path:
    """One or two A4 pages, portrait, every block labelled; imported text is text."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False})
    ws = wb.add_worksheet("客户档案卡")
    base = {"font_name": "微软雅黑", "font_size": 9, "valign": "top", "border": 1, "text_wrap": True}
    f_title = wb.add_format({"font_name": "微软雅黑", "font_size": 16, "bold": True})
    f_sub = wb.add_format({"font_name": "微软雅黑", "font_size": 9, "font_color": "#595959"})
    f_label = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7"})
    f_value = wb.add_format(base)
    f_date = wb.add_format({**base, "num_format": "yyyy-mm-dd"})
    f_money = wb.add_format({**base, "num_format": "#,##0.00"})
    f_section = wb.add_format({"font_name": "微软雅黑", "font_size": 11, "bold": True, "font_color": "#1F4E78",
                               "bottom": 2, "bottom_color": "#1F4E78"})
    f_head = wb.add_format({**base, "bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF"})
    f_note = wb.add_format({"font_name": "微软雅黑", "font_size": 9, "italic": True, "font_color": "#595959"})
    widths = (11, 12, 11, 12, 11, 12, 11, 12)
    for i, w in enumerate(widths):
        ws.set_column(i, i, w)
    ws.set_paper(9)
    ws.set_portrait()
    ws.fit_to_pages(1, 2)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    ws.set_footer(f"&L{card.customer_id} 客户档案卡&R第 &P 页，共 &N 页")
    row = 0
    ws.merge_range(row, 0, row, 7, card.title, f_title)
    row += 1
    ws.merge_range(row, 0, row, 7, f"基准日期 {as_of:%Y-%m-%d}（拜访前请核对最新数据）", f_sub)
    row += 2

    def put(r, c, v, fmt=None):
        if isinstance(v, dt.datetime):
            ws.write_datetime(r, c, v, fmt or f_date)
        elif isinstance(v, dt.date):
            ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), fmt or f_date)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            ws.write_number(r, c, float(v), fmt or f_value)
        elif v is None:
            ws.write_blank(r, c, None, fmt or f_value)
        else:
            ws.write_string(r, c, str(v), fmt or f_value)

    for i in range(0, len(card.facts), 4):  # four label/value pairs per line
        for j, (label, value) in enumerate(card.facts[i:i + 4]):
            ws.write_string(row, 2 * j, label, f_label)
            put(row, 2 * j + 1, value)
        row += 1
    row += 1
    ws.merge_range(row, 0, row, 7, "等级与依据", f_section)
    row += 1
    ws.merge_range(row, 0, row + 2, 7, card.tier_text + ("\n" + card.credit_text if card.credit_text else ""),
                   f_value)
    row += 4
    for block in card.blocks:
        ws.merge_range(row, 0, row, 7, block.title + (f"（{block.note}）" if block.note else ""), f_section)
        row += 1
        if not block.rows:
            ws.merge_range(row, 0, row, 7, "无", f_note)
            row += 2
            continue
        span = max(1, 8 // len(block.headers))
        for j, h in enumerate(block.headers):
            c1 = j * span
            c2 = 7 if j == len(block.headers) - 1 else c1 + span - 1
            (ws.merge_range(row, c1, row, c2, h, f_head) if c2 > c1 else ws.write_string(row, c1, h, f_head))
        row += 1
        for values in block.rows:
            for j, v in enumerate(values):
                c1 = j * span
                c2 = 7 if j == len(values) - 1 else c1 + span - 1
                fmt = f_money if isinstance(v, float) and block.headers[j] in ("金额", "未回款") else None
                if c2 > c1:
                    ws.merge_range(row, c1, row, c2, None, fmt or f_value)
                put(row, c1, v, fmt)
            row += 1
        row += 1
    wb.close()
    return path
