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


def _shown(v) -> str:
    """About what a cell shows (for its column width): numbers as formatted, not as repr."""
    if isinstance(v, float) and not pd.isna(v):
        return f"{v:,.2f}"
    if isinstance(v, (dt.date, pd.Timestamp)):
        return "2026-10-31 00:00"[: 10 if isinstance(v, dt.date) and not isinstance(v, dt.datetime) else 16]
    return str(v)


def _cell_text(v) -> str:
    """A cell's text, cut visibly (never silently) at Excel's limit of 32,767 characters."""
    s = str(v)
    if len(s) > EXCEL_CELL_MAX:
        mark = f"…（原文 {len(s)} 字，超出单元格上限，已截断）"
        s = s[:EXCEL_CELL_MAX - len(mark)] + mark
    return s


PAGE_PX = 1150  # what fits across a landscape A4 page at a readable scale (≈ 80% and up)


def _print_setup(ws, width_px: int, widths: list[float]) -> None:
    """Landscape A4, header rows on every page, no gridlines, a footer with the sheet and the
    page: one page wide when that stays readable, else more pages with the first column
    repeated (never shrunk to an unreadable font)."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    wide = max(1, -(-width_px // PAGE_PX))
    ws.fit_to_pages(wide, 0)
    if wide > 1:
        ws.repeat_columns(0)
    ws.repeat_rows(HEADER_ROW)
    ws.hide_gridlines(1)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_footer("&L&A&R第 &P 页，共 &N 页")


def _cols_for(px: int, widths: list[float]) -> int:
    """The last column a drawing of this width reaches from column A."""
    total, j = 0, 0
    while total < px:
        total += (widths[j] if j < len(widths) else 8.43) * 7 + 5
        j += 1
    return max(j - 1, 0)


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
        widths = []
        for j, col in enumerate(df.columns):
            ws.write(HEADER_ROW, j, col, f_head)
            width = max(8, min(40, max([len(str(col)) * 1.8] + [len(_shown(v)) * 1.6 for v in df[col].head(200)])))
            ws.set_column(j, j, width)
            widths.append(width)
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
        table_px = int(sum(w * 7 + 5 for w in widths))
        n = len(df) - (1 if any(c.skip_last_row for c in sec.charts) else 0)
        charts = [ch for ch in sec.charts if n > 0]
        # each chart whole on a page of its own below the table, as wide as the page allows,
        # tall enough for one readable label per category
        chart_w = max(640, min(960, table_px))
        _print_setup(ws, max(table_px, chart_w if charts else 0), widths)
        info = []
        chart_row = HEADER_ROW + len(df) + 2
        breaks = []
        for ch in charts:
            breaks.append(chart_row)
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
            label_font = {"name": "微软雅黑", "size": 9}
            if ch.kind == "bar":  # categories down the side: every name shown
                chart.set_y_axis({"num_font": label_font, "interval_unit": 1, "reverse": True})
                chart.set_x_axis({"num_format": "#,##0", "num_font": label_font})
            elif ch.kind != "pie":
                chart.set_x_axis({"num_font": label_font, "interval_unit": 1})
                chart.set_y_axis({"num_format": "#,##0", "num_font": label_font})
            height = 340 if ch.kind != "bar" else max(300, min(620, 26 * n + 110))
            chart.set_size({"width": chart_w, "height": height})
            ws.insert_chart(chart_row, 0, chart, {"x_offset": 5, "y_offset": 5, "object_position": 1})
            chart_row += int(height / 20) + 3
        if breaks:
            ws.set_h_pagebreaks(breaks)
        ws.print_area(0, 0, max(chart_row, HEADER_ROW + len(df) + 1), max(len(df.columns) - 1, _cols_for(chart_w, widths)))
        charts_info[sec.sheet] = {"charts": info}
    wb.close()
    return charts_info
