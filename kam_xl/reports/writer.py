"""Writing a report workbook: one sheet per section, Chinese titles, number
formats, native Excel charts, print setup (landscape, fit to width, repeated
header rows)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from ..workbook.outputs import write_output  # noqa: F401  (the reports' writer of files)

MONEY_COLS = {"数值", "年用量合计", "回款金额", "平均年用量", "逾期未回款", "期间到期应收", "期间回款", "合计",
              "未到期", "1-30天", "31-60天", "61-90天", "91-180天", "180天以上"}
PCT_COLS = {"客户占比", "用量占比", "完成率", "回款率", "拜访完成率", "投诉解决率", "调查覆盖率"}
INT_COLS = {"客户数", "逾期笔数", "最长逾期天数", "计划", "已完成", "逾期未完成", "负责客户数", "新认定客户",
            "计划拜访", "完成拜访", "新增投诉", "解决投诉", "等级变动", "未结投诉", "其中重大"}


@dataclass
class Chart:
    kind: str                 # pie | column | bar
    title: str
    categories_col: str
    value_cols: list[str]
    stacked: bool = False
    skip_last_row: bool = False  # a 合计 row


@dataclass
class Section:
    sheet: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    charts: list[Chart] = field(default_factory=list)


HEADER_ROW = 3  # 0-based row of the table header (title, subtitle, blank above)


EXCEL_CELL_MAX = 32767


def _cell_text(v) -> str:
    """A cell's text, cut visibly (never silently) at Excel's limit of 32,767 characters."""
    s = str(v)
    if len(s) > EXCEL_CELL_MAX:
        mark = f"…（原文 {len(s)} 字，超出单元格上限，已截断）"
        s = s[:EXCEL_CELL_MAX - len(mark)] + mark
    return s


def write_report(path: Path, title: str, subtitle: str, sections: list[Section]) -> dict[str, dict]:
    """Write the workbook; returns per sheet the chart ranges (for tests and traceability)."""
    # text is text: an imported "=HYPERLINK(…)" must never become a live formula in the report
    wb = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True, "strings_to_formulas": False,
                                         "strings_to_urls": False, "strings_to_numbers": False})
    base = {"font_name": "微软雅黑", "font_size": 10}
    f_title = wb.add_format({**base, "bold": True, "font_size": 16, "font_color": "#1F4E78"})
    f_sub = wb.add_format({**base, "font_color": "#595959"})
    f_head = wb.add_format({**base, "bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF",
                            "border": 1, "align": "center", "valign": "vcenter", "text_wrap": True})
    f_text = wb.add_format({**base, "border": 1})
    f_money = wb.add_format({**base, "border": 1, "num_format": "#,##0.00"})
    f_int = wb.add_format({**base, "border": 1, "num_format": "#,##0"})
    f_pct = wb.add_format({**base, "border": 1, "num_format": "0.0%"})
    f_date = wb.add_format({**base, "border": 1, "num_format": "yyyy-mm-dd"})
    f_dt = wb.add_format({**base, "border": 1, "num_format": "yyyy-mm-dd hh:mm"})
    wb.set_properties({"title": title, "subject": subtitle})
    charts_info: dict[str, dict] = {}
    for sec in sections:
        ws = wb.add_worksheet(sec.sheet)
        df = sec.frame
        ws.write(0, 0, sec.title, f_title)
        ws.write(1, 0, subtitle + (("；" + sec.note) if sec.note else ""), f_sub)
        ws.set_row(HEADER_ROW, 30)
        for j, col in enumerate(df.columns):
            ws.write(HEADER_ROW, j, col, f_head)
            width = max(10, min(60, max([len(str(col)) * 2] + [len(str(v)) * 1.6 for v in df[col].head(200)])))
            ws.set_column(j, j, width)
        for i, row in enumerate(df.itertuples(index=False)):
            for j, (col, v) in enumerate(zip(df.columns, row)):
                r = HEADER_ROW + 1 + i
                if v is None or (isinstance(v, float) and pd.isna(v)):
                    ws.write_blank(r, j, None, f_text)
                elif isinstance(v, (dt.datetime, pd.Timestamp)):
                    ws.write_datetime(r, j, pd.Timestamp(v).to_pydatetime(), f_dt)
                elif isinstance(v, dt.date):
                    ws.write_datetime(r, j, dt.datetime(v.year, v.month, v.day), f_date)
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    unit_pct = col == "数值" and "单位" in df.columns and df["单位"].iloc[i] == "%"
                    fmt = f_pct if (col in PCT_COLS or unit_pct) else f_int if col in INT_COLS or (
                        col == "数值" and df["单位"].iloc[i] in ("户", "次")) else f_money
                    ws.write_number(r, j, float(v), fmt)
                else:
                    ws.write_string(r, j, _cell_text(v), f_text)
        ws.freeze_panes(HEADER_ROW + 1, 0)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(HEADER_ROW)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer("&C第 &P 页，共 &N 页")
        info = []
        n = len(df) - (1 if any(c.skip_last_row for c in sec.charts) else 0)
        chart_row = HEADER_ROW + len(df) + 3  # charts below the table, side by side
        for k, ch in enumerate(sec.charts):
            if n <= 0:
                break
            chart = wb.add_chart({"type": ch.kind, **({"subtype": "stacked"} if ch.stacked else {})})
            cat_j = list(df.columns).index(ch.categories_col)
            cats = [sec.sheet, HEADER_ROW + 1, cat_j, HEADER_ROW + n, cat_j]
            for vc in ch.value_cols:
                vj = list(df.columns).index(vc)
                series = {"name": [sec.sheet, HEADER_ROW, vj], "categories": cats,
                          "values": [sec.sheet, HEADER_ROW + 1, vj, HEADER_ROW + n, vj]}
                if ch.kind == "pie":
                    series["data_labels"] = {"percentage": True, "category": True}
                chart.add_series(series)
                info.append({"chart": ch.title, "series": vc,
                             "categories": f"{xl_rowcol_to_cell(HEADER_ROW + 1, cat_j)}:{xl_rowcol_to_cell(HEADER_ROW + n, cat_j)}",
                             "values": f"{xl_rowcol_to_cell(HEADER_ROW + 1, vj)}:{xl_rowcol_to_cell(HEADER_ROW + n, vj)}"})
            chart.set_title({"name": ch.title, "name_font": {"name": "微软雅黑", "size": 12}})
            chart.set_legend({"position": "bottom", "font": {"name": "微软雅黑"}})
            if ch.kind == "bar":
                chart.set_y_axis({"num_font": {"name": "微软雅黑"}})
            elif ch.kind != "pie":
                chart.set_x_axis({"num_font": {"name": "微软雅黑"}})
                chart.set_y_axis({"num_format": "#,##0"})
            chart.set_size({"width": 520, "height": 300})
            ws.insert_chart(chart_row, 0, chart, {"x_offset": 10 + k * 540, "y_offset": 5})
        charts_info[sec.sheet] = {"charts": info}
    wb.close()
    return charts_info
