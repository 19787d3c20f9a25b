"""The 汇总报告 of a collect (PRODUCT.md §11): the accounting (applied + conflicts + refused +
unchanged = every cell that differs from the base), then every conflict and refusal with
the base, the returned and the master's value, then what was applied."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter

COLUMNS = ("人员", "工作表", "记录编号", "字段", "原值", "返回值", "主工作簿值", "结果", "单元格数", "说明")
WIDTHS = (10, 10, 12, 14, 18, 18, 18, 8, 8, 60)
ORDER = {"冲突": 0, "拒绝": 1, "已应用": 2, "未变": 3}


def write_merge_report(path: Path, res) -> Path:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    base = {"font_name": "微软雅黑", "font_size": 10}
    title = wb.add_format({**base, "bold": True, "font_size": 14})
    head = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1})
    plain = wb.add_format(base)
    date = wb.add_format({**base, "num_format": "yyyy-mm-dd"})
    wrap = wb.add_format({**base, "text_wrap": True})
    ws = wb.add_worksheet("汇总报告")
    ws.write(0, 0, f"汇总报告（{dt.datetime.now():%Y-%m-%d %H:%M}）", title)
    for i, line in enumerate(res.summary_lines()[: 2 + len(res.books)]):
        ws.write(1 + i, 0, line, plain)
    top = 3 + len(res.books)
    for j, (h, w) in enumerate(zip(COLUMNS, WIDTHS)):
        ws.write(top, j, h, head)
        ws.set_column(j, j, w)
    lines = sorted(res.lines, key=lambda x: (ORDER.get(x.outcome, 9), x.person, x.table, str(x.record_id)))
    for i, line in enumerate(lines):
        row = line.as_row()
        for j, h in enumerate(COLUMNS):
            v = row[h]
            if isinstance(v, dt.datetime):
                ws.write_datetime(top + 1 + i, j, v, date)
            elif isinstance(v, dt.date):
                ws.write_datetime(top + 1 + i, j, dt.datetime(v.year, v.month, v.day), date)
            elif isinstance(v, dict):
                ws.write_string(top + 1 + i, j, "、".join(f"{k}={x}" for k, x in v.items())[:500], wrap)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(top + 1 + i, j, v, plain)
            elif v is None:
                ws.write_blank(top + 1 + i, j, None, plain)
            else:
                ws.write_string(top + 1 + i, j, str(v), wrap if h == "说明" else plain)
    if lines:
        ws.autofilter(top, 0, top + len(lines), len(COLUMNS) - 1)
    ws.freeze_panes(top + 1, 0)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(top)
    wb.close()
    return path
