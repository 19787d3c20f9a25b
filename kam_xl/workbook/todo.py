"""The 我的待办 sheet of a person's book (PRODUCT.md §11): one row per customer of the book,
every cell a native formula over the book's tables (COUNTIFS, SUMIFS, AGGREGATE, INDEX/MATCH:
Excel 2010+, WPS and LibreOffice alike, no dynamic arrays), so it stays live as the person
types visits, payments and complaints with macros blocked.  The rows take the customers
from the Customers table itself (a customer the person adds appears too, up to SPARE rows
more); the cached values are domain/todo.py's."""
from __future__ import annotations

import datetime as dt
from typing import Any

from .. import layout as L
from ..domain import todo
from .formulas import column

SHEET = "我的待办"
SPARE = 200  # rows for customers the person adds
C, V, R, CO, SU, S = L.CUSTOMERS, L.VISITS, L.RECEIVABLES, L.COMPLAINTS, L.SURVEYS, L.SETTINGS
ASOF = L.ASOF_NAME


def _setting(key_expr: str) -> str:
    return f"INDEX({column(S, 'value')},MATCH({key_expr},{column(S, 'key')},0))"


def _latest(a: str, dates: str, condition: str) -> str:
    """The latest date of the rows meeting `condition` — MAX inside SUMPRODUCT, which Excel,
    WPS and LibreOffice all evaluate as an array without Ctrl+Shift+Enter (MAX(INDEX(…,0)) is
    a parameter error in LibreOffice; a date typed as text makes the cell blank)."""
    latest = f"SUMPRODUCT(MAX({condition}*{dates}))"
    return f'=IF({a}="","",IFERROR(IF({latest}>0,{latest},""),""))'


def row_formulas(r: int) -> list[str]:
    """The formulas of sheet row `r` (1-based), in the order of todo.COLUMNS."""
    a, c, d, n = (f"$A{r}", f"$C{r}", f"$D{r}", f"$M{r}")
    blank = f'{a}=""'
    nth = f"ROWS($A$2:A{r})"
    ids = column(C, "id")

    def of_customer(key: str) -> str:
        return f'=IF({blank},"",INDEX({column(C, key)},MATCH({a},{ids},0))&"")'

    levels = L.DUNNING_LEVELS
    dunning = '""'
    for i, name in enumerate(levels):  # the highest threshold an open invoice of the customer reached
        threshold = _setting(f'"{L.SETTINGS_BY_FIELD["dunning_" + str(i + 1)].key}"')
        reached = f'COUNTIFS({column(R, "customer_id")},{a},{column(R, "overdue_days")},">="&{threshold})'
        dunning = f'IF({reached}>0,"{name}",{dunning})'
    open_states = "+".join(f'COUNTIFS({column(CO, "customer_id")},{a},{column(CO, "due")},"<="&({ASOF}+{todo.COMPLAINT_SOON}),'
                           f'{column(CO, "state")},"{s}")' for s in L.COMPLAINT_OPEN)
    visit_days = _setting(f'"拜访频率天数_"&{c}')
    survey_days = _setting(f'"满意度调查间隔天数_"&{c}')
    return [
        f'=IFERROR(IF(INDEX({ids},{nth})="","",INDEX({ids},{nth})&""),"")',
        of_customer("name"),
        of_customer("tier"),
        _latest(a, column(V, "actual_date"), f'({column(V, "customer_id")}={a})*({column(V, "state")}="{L.DONE}")'),
        f'=IF(OR({blank},{c}=""),"",IFERROR(IF({d}="",{ASOF}+0*{visit_days},{d}+{visit_days}),""))',
        f'=IF($E{r}="","",IF($E{r}<={ASOF},"{todo.VISIT_DUE}",IF($E{r}<={ASOF}+{todo.SOON},"{todo.VISIT_SOON}","")))',
        f'=IF({blank},"",COUNTIFS({column(V, "customer_id")},{a},{column(V, "follow_up_due")},"<"&{ASOF},'
        f'{column(V, "follow_up")},"<>"))',
        f'=IF({blank},"",COUNTIFS({column(R, "customer_id")},{a},{column(R, "due_date")},">="&{ASOF},'
        f'{column(R, "due_date")},"<="&({ASOF}+{todo.SOON}),{column(R, "outstanding")},">0"))',
        f'=IF({blank},"",COUNTIFS({column(R, "customer_id")},{a},{column(R, "overdue_days")},">0"))',
        f'=IF({blank},"",SUMIFS({column(R, "outstanding")},{column(R, "customer_id")},{a}))',
        f'=IF({blank},"",{dunning})',
        f'=IF({blank},"",{open_states})',
        _latest(a, column(SU, "date"), f'({column(SU, "customer_id")}={a})'),
        f'=IF(OR({blank},{c}=""),"",IFERROR(IF(IF({n}="",{ASOF}+0*{survey_days},{n}+{survey_days})'
        f'<={ASOF}+{todo.SOON},"{todo.SURVEY_DUE}",""),""))',
    ]


DATE_KEYS = {"last_visit", "visit_due", "last_survey"}


def add_todo_sheet(wb, ws, fmts, rows: list[dict[str, Any]], person: str, round_no: int, sent_on: dt.date) -> None:
    """Write the sheet: headers, one formula row per customer (and SPARE more), cached values."""
    head = wb.add_format({"bold": True, "font_name": "微软雅黑", "font_size": 10, "bg_color": "#DDEBF7",
                          "border": 1, "text_wrap": True, "valign": "vcenter"})
    date_f = fmts.by_kind[L.DATE]
    money_f = fmts.by_kind[L.MONEY]
    for j, (label, key) in enumerate(todo.COLUMNS):
        ws.write(0, j, label, head)
        ws.set_column(j, j, 28 if key == "name" else 12)
    for i in range(len(rows) + SPARE):
        r = i + 2
        cached = rows[i] if i < len(rows) else {}
        for j, (f, (_, key)) in enumerate(zip(row_formulas(r), todo.COLUMNS)):
            v = cached.get(key, "")
            fmt = date_f if key in DATE_KEYS else money_f if key == "open_total" else fmts.plain
            if isinstance(v, dt.date):
                v = (dt.datetime(v.year, v.month, v.day) - dt.datetime(1899, 12, 30)).days
            ws.write_formula(i + 1, j, f, fmt, v)
    note = len(todo.COLUMNS) + 1
    ws.set_column(note, note, 60)
    ws.write(0, note, f"{person} 的待办（第 {round_no} 轮，{sent_on:%Y-%m-%d} 分发）", fmts.label)
    ws.write(1, note, f"按首页基准日期计算，列出本周和下周要做的事：应拜访、逾期跟进、{todo.SOON} 天内到期和已逾期的应收、"
             f"{todo.COMPLAINT_SOON} 天内到期的投诉、应做的满意度调查。公式随录入自动更新，不需要宏。", fmts.note)
    ws.freeze_panes(1, 2)
    ws.autofilter(0, 0, len(rows) + SPARE, len(todo.COLUMNS) - 1)
