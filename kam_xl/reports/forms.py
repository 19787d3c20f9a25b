"""The printable 客户认定申请表 (PRODUCT.md §10.1): one A4 page from the customer row and its
latest application — the seed's three report items (与大客户交易的理由及基本交易方针, 交易商品
目录与金额, 调查资料与调查结果), the five selection principles, and signature lines for the
部门经理 and the 公司领导."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import xlsxwriter

from .. import layout as L
from ..domain.models import Certification, Customer, approval

FORM_TITLE = "客户认定申请表"
PRINCIPLE_TEXT = {  # the seed's 第5条 大客户选择原则, one line per column of the application
    "integrity": "诚信与信用：达到较高的诚信度，具有较好的信用",
    "financial": "财务能力：具有较强的财务能力",
    "attitude": "合作态度：具有积极的合作态度",
    "confidentiality": "保密承诺：遵守双方在商业和相关业务技术上的保密原则",
    "cost_level": "成本水平：成本管理和成本水平符合公司要求",
}


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.date):
        return f"{v:%Y-%m-%d}"
    if isinstance(v, float):
        return f"{v:,.2f}" if not v.is_integer() else f"{v:,.0f}"
    return str(v)


def write_form(path: Path, c: Customer, app: Certification | None) -> Path:
    C, A = L.CUSTOMERS, L.CERTIFICATIONS
    a = app or Certification()
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False})
    ws = wb.add_worksheet(FORM_TITLE)
    base = {"font_name": "微软雅黑", "font_size": 10, "valign": "vcenter", "border": 1, "text_wrap": True}
    f_title = wb.add_format({"font_name": "微软雅黑", "font_size": 18, "bold": True, "align": "center"})
    f_label = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7"})
    f_value = wb.add_format(base)
    f_section = wb.add_format({**base, "bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF"})
    f_note = wb.add_format({"font_name": "微软雅黑", "font_size": 9, "font_color": "#595959"})
    ws.set_paper(9)  # A4
    ws.set_portrait()
    ws.fit_to_pages(1, 1)
    ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    ws.center_horizontally()
    for col, width in enumerate((14, 22, 14, 22, 14, 22)):
        ws.set_column(col, col, width)
    row = 0
    ws.merge_range(row, 0, row, 5, FORM_TITLE, f_title)
    row += 1
    ws.merge_range(row, 0, row, 5, f"申请编号：{_text(a.id)}    申请日期：{_text(a.applied_on)}    申请人：{_text(a.applicant)}",
                   f_note)
    row += 2

    def section(title: str) -> None:
        nonlocal row
        ws.merge_range(row, 0, row, 5, title, f_section)
        row += 1

    def pairs(items: list[tuple[str, Any]]) -> None:
        nonlocal row
        for k in range(0, len(items), 3):
            for j, (label, value) in enumerate(items[k:k + 3]):
                ws.write(row, 2 * j, label, f_label)
                ws.write(row, 2 * j + 1, _text(value), f_value)
            row += 1

    def long(label: str, value: Any, height: int = 36) -> None:
        nonlocal row
        ws.set_row(row, height)
        ws.write(row, 0, label, f_label)
        ws.merge_range(row, 1, row, 5, _text(value), f_value)
        row += 1

    section("一、客户基本情况")
    margin = f"{c.margin:.1%}" if c.margin is not None else ""
    pairs([(C.header("id"), c.id), (C.header("name"), c.name), (C.header("customer_type"), c.customer_type),
           (C.header("industry"), c.industry), (C.header("region"), c.region), (C.header("manager"), c.manager),
           (C.header("contact"), c.contact), (C.header("phone"), c.phone), (C.header("staff"), c.staff),
           (C.header("volume"), c.volume), (C.header("margin"), margin), (C.header("credit"), c.credit),
           (C.header("financial"), c.financial), (C.header("attitude"), c.attitude),
           (C.header("status"), c.status)])
    section("二、调查资料与调查结果")
    pairs([(A.header("general_date"), a.general_date), (A.header("field_date"), a.field_date),
           (A.header("field_staff"), a.field_staff)])
    long("一般调查结论", a.general_result)
    long("实地调查结论", a.field_result)
    section("三、与大客户交易的理由及基本交易方针")
    long("理由及方针", a.reason, 48)
    section("四、交易商品目录与金额")
    long(A.header("products"), a.products)
    pairs([(A.header("expected_amount"), a.expected_amount), ("协议类型", a.agreement_type),
           ("协议编号", a.agreement_no)])
    section("五、大客户选择原则核对（第5条）")
    for key, text in PRINCIPLE_TEXT.items():
        ws.merge_range(row, 0, row, 4, text, f_value)
        ws.write(row, 5, _text(getattr(a, key)) or "待查", f_value)
        row += 1
    section("六、审批")
    for label, key in (("部门经理意见", "dept_approval"), ("公司领导意见", "exec_approval")):
        raw = getattr(a, key)
        shown = raw if raw in L.APPROVALS else (f"同意（{raw}）" if approval(raw) else "")
        ws.set_row(row, 40)
        ws.write(row, 0, label, f_label)
        ws.write(row, 1, shown, f_value)
        ws.write(row, 2, "签字", f_label)
        ws.write(row, 3, "", f_value)
        ws.write(row, 4, "日期", f_label)
        ws.write(row, 5, _text(a.approved_on) if approval(raw) else "", f_value)
        row += 1
    pairs([(A.header("result"), a.result), (A.header("approved_on"), a.approved_on)])
    row += 1
    ws.merge_range(row, 0, row, 5, "认定通过后，由大客户部人员与客户法人代表或指定人员签订《销售协议》或《VIP客户协议》。",
                   f_note)
    ws.print_area(0, 0, row, 5)
    wb.set_properties({"title": f"{FORM_TITLE} {c.id} {c.name}"})
    wb.close()
    return path
