"""Report sections as pure functions from the book's records to DataFrames.

统计期间 (the period) is the year to date: 1 January of the as-of year up to
the as-of date.  Receivable figures are as of the as-of date.  Tiers are the
official 客户等级 (blank → 未定级).
"""
from __future__ import annotations

import datetime as dt
import functools
from array import array

import numpy as np
import pandas as pd

from .. import layout as L
from ..domain.models import people_serving, split_names, to_date
from ..domain.procedures import by_customer, latest
from ..domain.receivables import Dunning, DunningTally, aging_bucket, overdue_days, receivable_level
from ..domain.values import settled
from ..domain.visits import next_visit_due
from ..store import Beside, Snapshot
from .periods import Period

UNGRADED = "未定级"
ACTIVE_VISIT_STATES = (L.PENDING, L.APPROVED, L.DONE)


def tier_order(data: Snapshot) -> list[str]:
    seen = list(L.TIERS)
    for r in sorted(data.rules, key=lambda r: r.order or 0):
        if r.tier and r.tier not in seen:
            seen.append(r.tier)
    return seen + [UNGRADED]


def _memo(data: Snapshot, key, make):
    """What several sections use, made once per report (the frames of a million customers
    and two million invoices, the one pass over the visits): the frames are not changed by
    the sections that share them.  A value a part begun beside gives (BESIDE) is taken from it."""
    memo = data.__dict__.setdefault("_report_memo", {})
    if key not in memo:
        period = Period.year_to_date(data.as_of)
        for b in BESIDE:
            if b.name in data.begun and key in _GIVES[b.name](period):
                memo.update(data.begun.pop(b.name).result())
        if key not in memo:
            memo[key] = make()
    return memo[key]


# the memo's keys of what the passes make (the passes begun beside give them under the same keys)
RECEIVABLES_KEY = "receivables"


def _visits_key(period: Period) -> tuple:
    return "visits", period.start, period.end


def _due_key(period: Period) -> tuple:
    return "due", period.start, period.end


def _visits_of_the_year(data: Snapshot) -> dict:
    period = Period.year_to_date(data.as_of)
    return {_visits_key(period): _visits_pass(data, period)}


def _invoices_of_the_year(data: Snapshot) -> dict:
    period = Period.year_to_date(data.as_of)
    got = _receivables_pass(data)
    return {RECEIVABLES_KEY: got, _due_key(period): _due(got[0], period)}


# the report's passes over its two big tables, each needing that table alone (and the customers):
# a store that computes in a second process begins them while it loads the tables after them,
# else start_beside() starts them beside the sections that need neither
BESIDE = (Beside("report: the year's visits", (L.VISITS.name,), _visits_of_the_year),
          Beside("report: the invoices", (L.CUSTOMERS.name, L.RECEIVABLES.name), _invoices_of_the_year))
_GIVES = {BESIDE[0].name: lambda p: (_visits_key(p),), BESIDE[1].name: lambda p: (RECEIVABLES_KEY, _due_key(p))}


def start_beside(data: Snapshot) -> None:
    """The report's passes (BESIDE) not begun while loading started beside the sections where
    the store computes in parallel (the file store's second process); settle() after them."""
    memo = data.__dict__.setdefault("_report_memo", {})
    period = Period.year_to_date(data.as_of)
    for b in BESIDE:
        if data.parallel is not None and b.name not in data.begun and not memo.keys() & set(_GIVES[b.name](period)):
            data.begun[b.name] = data.parallel(functools.partial(b.make, data))


def settle(data: Snapshot) -> None:
    """A pass begun beside and not asked for (an error on the way) is stopped."""
    for b in BESIDE:
        part = data.begun.pop(b.name, None)
        if part is not None:
            part.cancel()


CUSTOMER_COLUMNS = ["客户编号", "客户名称", "等级", "年用量", "客户经理", "对接人员", "认定状态", "满意度", "建档日期"]


def customers_frame(data: Snapshot) -> pd.DataFrame:
    return _memo(data, "customers", lambda: _customers_frame(data))


def _customers_frame(data: Snapshot) -> pd.DataFrame:
    cols: list[list] = [[] for _ in CUSTOMER_COLUMNS]  # a column at a time, not a dict per row
    cid, name, tier, volume, manager, staff, status, sat, created = cols
    for c in data.customers:
        if c.id or c.name:
            cid.append(c.id)
            name.append(c.name)
            tier.append(c.tier or UNGRADED)
            volume.append(c.volume or 0.0)
            manager.append(c.manager)
            staff.append(c.staff)
            status.append(c.status)
            sat.append(c.satisfaction)
            created.append(c.created_on)
    return _frame(CUSTOMER_COLUMNS, cols)


def _frame(names: list[str], cols: list[list]) -> pd.DataFrame:
    """A frame of columns (pandas types them as it does a list of dicts, a row each)."""
    return pd.DataFrame(dict(zip(names, cols)), columns=names)


# the invoices' frame: an invoice's own number is not among its columns (no section shows it,
# and at 2,000,000 invoices it is 150 MB of text)
RECEIVABLE_COLUMNS = ["客户编号", "等级", "金额", "已回款", "未回款", "到期日", "逾期天数", "账龄", "催收人"]


def receivables_frame(data: Snapshot) -> pd.DataFrame:
    return _receivables(data)[0]


def overdue_customers(data: Snapshot) -> list[Dunning]:
    """The dunning list (one line per overdue customer), as receivables.dunning makes it."""
    return _receivables(data)[1]


def _receivables(data: Snapshot) -> tuple[pd.DataFrame, list[Dunning]]:
    return _memo(data, RECEIVABLES_KEY, lambda: _receivables_pass(data))


def _receivables_pass(data: Snapshot) -> tuple[pd.DataFrame, list[Dunning]]:
    """The receivables frame and the dunning list in one pass over the invoices (a store may
    hand them as a stream: two million invoices are never all records at once).  Amounts are
    gathered as machine numbers, a customer's id as the customer record's own text."""
    customers = {c.id: c for c in data.customers if c.id}
    cid_, tier_, due_, aging_, collector_ = [], [], [], [], []
    amount_, paid_, open_ = array("d"), array("d"), array("d")
    days_ = array("q")
    as_of, settings = data.as_of, data.settings
    thresholds = settings.dunning_thresholds()  # read once, not per invoice
    tally = DunningTally()
    for r in data.receivables:
        days, level = receivable_level(r, settings, as_of, thresholds)
        if level and r.customer_id:
            tally.add(r, days, level)
        amount = r.amount
        if amount is None or amount <= 0:
            continue
        owed = r.open_amount
        open_amt = max(0.0, owed)
        c = customers.get(r.customer_id)
        cid_.append(c.id if c is not None else r.customer_id)
        tier_.append((c.tier or UNGRADED) if c is not None else UNGRADED)
        amount_.append(amount)
        paid_.append(min(r.paid or 0.0, amount))
        open_.append(open_amt)
        due_.append(r.due_date)
        # the overdue days the dunning level was found from, when they were of this open amount
        late = days if days is not None and owed >= 0 else overdue_days(r.due_date, open_amt, as_of)
        days_.append(late or 0)
        aging_.append(aging_bucket(r.due_date, open_amt, as_of, late))
        collector_.append(r.collector)
    frame = _frame(RECEIVABLE_COLUMNS, [cid_, tier_, _numbers(amount_), _numbers(paid_), _numbers(open_), due_,
                                        _numbers(days_), aging_, collector_])

    def name_of(cid: str) -> str | None:
        c = customers.get(cid)
        return c.name if c is not None else None
    return frame, tally.customers(name_of)


def _numbers(values: array) -> np.ndarray:
    """An array of machine numbers as a numpy column (no copy)."""
    return np.frombuffer(values, dtype=np.float64 if values.typecode == "d" else np.int64)


def due_in(data: Snapshot, period: Period) -> pd.DataFrame:
    """The invoices of the receivables frame due within the period (found once per report and
    period: the overview and 绩效考核 both count them)."""
    return _memo(data, _due_key(period), lambda: _due(receivables_frame(data), period))


def _due(recv: pd.DataFrame, period: Period) -> pd.DataFrame:
    return recv.loc[recv["到期日"].map(lambda d: d in period).astype(bool), ["催收人", "金额", "已回款"]]


def collection_rate(due: pd.DataFrame) -> tuple[float, float, float | None]:
    """(due in period, collected of it, rate) of the invoices due within a period (due_in)."""
    total = float(due["金额"].sum())
    paid = float(due["已回款"].sum())
    return total, paid, (paid / total if total else None)


VISIT_TALLY = ["人员", "行数", "计划", L.DONE, "逾期未完成"]


def visit_tallies(data: Snapshot, period: Period) -> pd.DataFrame:
    """Per person, the visits planned in the period and not cancelled/draft (a visit counts for
    each of its staff): 行数 the visits, 计划 those with a 拜访编号, 已完成, 逾期未完成 — tallied
    in one pass over the visits (at 1M customers, three million visits of the year)."""
    return _visits(data, period)[0]


def _visits(data: Snapshot, period: Period) -> tuple[pd.DataFrame, int, int]:
    """(visit_tallies, visits planned in the period, of them done): one pass over the visits."""
    return _memo(data, _visits_key(period), lambda: _visits_pass(data, period))


def _visits_pass(data: Snapshot, period: Period) -> tuple[pd.DataFrame, int, int]:
    tally: dict[str, list[int]] = {}
    planned = done_n = 0
    as_of = data.as_of
    people: dict = {}  # a 拜访人员 cell → the people it names (a few hundred texts over 400,000 visits)
    for v in data.visits:
        if v.state not in ACTIVE_VISIT_STATES or v.planned_date not in period:
            continue
        done = v.state == L.DONE
        planned += 1
        done_n += done
        overdue = not done and v.planned_date < as_of
        has_id = v.id is not None
        names = people.get(v.staff)
        if names is None:
            names = people[v.staff] = split_names(v.staff) or ["（未填写）"]
        for s in names:
            t = tally.get(s)
            if t is None:
                t = tally[s] = [0, 0, 0, 0]
            t[0] += 1
            t[1] += has_id
            t[2] += done
            t[3] += overdue
    people = sorted(tally)
    frame = pd.DataFrame({"人员": people, **{c: pd.Series([tally[p][i] for p in people], dtype="int64")
                                            for i, c in enumerate(VISIT_TALLY[1:])}}, columns=VISIT_TALLY)
    return frame, planned, done_n


# ---------------------------------------------------------------------------
def overview(data: Snapshot, period: Period) -> pd.DataFrame:
    cust = customers_frame(data)
    recv = receivables_frame(data)
    key = cust[cust["等级"].isin([t for t in tier_order(data) if t not in ("非大客户", UNGRADED)])]
    total_due, collected, rate = collection_rate(due_in(data, period))
    _, planned, done = _visits(data, period)
    rows = [
        ("大客户数（A1–D）", len(key), "户"),
        ("其中 A 级（A1/A2）", int(cust["等级"].isin(list(L.A_TIERS)).sum()), "户"),
        ("大客户年用量合计", float(key["年用量"].sum()), "元"),
        ("应收未回款合计", float(recv["未回款"].sum()), "元"),
        ("其中逾期未回款", float(recv.loc[recv["逾期天数"] > 0, "未回款"].sum()), "元"),
        ("逾期客户数", int(recv.loc[recv["逾期天数"] > 0, "客户编号"].nunique()), "户"),
        ("期间到期应收", total_due, "元"),
        ("期间已回款", collected, "元"),
        ("回款率", rate, "%"),
        ("期间拜访计划数", planned, "次"),
        ("期间已完成拜访", done, "次"),
        ("拜访计划完成率", (done / planned) if planned else None, "%"),
    ]
    return pd.DataFrame(rows, columns=["指标", "数值", "单位"])


def tier_distribution(data: Snapshot) -> pd.DataFrame:
    cust = customers_frame(data)
    g = cust.groupby("等级").agg(客户数=("客户编号", "count"), 年用量合计=("年用量", "sum"))
    order = [t for t in tier_order(data) if t in g.index]
    g = g.reindex(order).reset_index()
    g["客户占比"] = g["客户数"] / g["客户数"].sum() if len(g) else []
    g["用量占比"] = g["年用量合计"] / g["年用量合计"].sum() if g["年用量合计"].sum() else 0.0
    g["平均年用量"] = g["年用量合计"] / g["客户数"]
    return g[["等级", "客户数", "客户占比", "年用量合计", "用量占比", "平均年用量"]]


def aging_by_tier(data: Snapshot) -> pd.DataFrame:
    recv = receivables_frame(data)
    recv = recv[recv["未回款"] > L.SETTLED]
    buckets = list(L.AGING_BUCKETS[:-1])
    pivot = recv.pivot_table(index="等级", columns="账龄", values="未回款", aggfunc="sum", fill_value=0.0)
    pivot = pivot.reindex(columns=buckets, fill_value=0.0)
    order = [t for t in tier_order(data) if t in pivot.index]
    pivot = pivot.reindex(order)
    pivot["合计"] = pivot.sum(axis=1)
    pivot.loc["合计"] = pivot.sum(axis=0)
    return pivot.reset_index()


def dunning_list(dunning: list[Dunning], data: Snapshot) -> pd.DataFrame:
    mgr = {c.id: c.manager for c in data.customers if c.id}
    staff = {c.id: c.staff for c in data.customers if c.id}
    rows = [{"客户编号": d.customer_id, "客户名称": d.customer_name, "建议催讨级别": d.level,
             "逾期笔数": d.invoices, "逾期未回款": d.overdue_amount, "最长逾期天数": d.worst_days,
             "客户经理": mgr.get(d.customer_id), "对接人员": staff.get(d.customer_id)} for d in dunning]
    return pd.DataFrame(rows, columns=["客户编号", "客户名称", "建议催讨级别", "逾期笔数", "逾期未回款",
                                       "最长逾期天数", "客户经理", "对接人员"])


def visit_execution(data: Snapshot, period: Period) -> pd.DataFrame:
    v = visit_tallies(data, period)
    if v.empty:
        return pd.DataFrame(columns=["人员", "计划", L.DONE, "逾期未完成", "完成率"])
    g = v[["人员", "计划", L.DONE, "逾期未完成"]].copy()
    g[L.DONE] = g[L.DONE].astype(int)
    g["逾期未完成"] = g["逾期未完成"].astype(int)
    g["完成率"] = g[L.DONE] / g["计划"]
    return g.sort_values(["计划", "人员"], ascending=[False, True]).reset_index(drop=True)


def staff_kpis(data: Snapshot, period: Period) -> pd.DataFrame:
    """绩效考核 per staff member: 新认定客户 (applications of the customers they serve approved in the
    period; in a book without the 认定申请 table, certified customers whose file was opened in the
    period), 回款率 of receivables due in the period they collect, visits done vs planned, average
    satisfaction of the customers they serve, 投诉解决率 (complaints received in the period that they
    handle, resolved or closed) and 调查覆盖率 (their certified customers surveyed in the period)."""
    approved_in = {a.customer_id for a in data.certifications or ()
                   if a.result == L.PASSED and a.approved_on in period} if data.certifications is not None else None
    cust = customers_frame(data)
    # a customer's 客户编号 as a number (a blank one as -1): "the rows of these customers" is a
    # test on numbers per person, not on a million texts; whom a person serves is an array of them
    codes, uniques = pd.factorize(cust["客户编号"])
    code_of = dict(zip(uniques, range(len(uniques))))
    # whom each person serves: the customers gathered per (对接人员, 客户经理) as written — a few
    # hundred pairs over a million customers — and each pair's names split once
    by_pair: dict[tuple, array] = {}
    for c in data.customers:
        pair = (c.staff, c.manager)
        codes_ = by_pair.get(pair)
        if codes_ is None:
            codes_ = by_pair[pair] = array("q")
        code = -1 if c.id is None else code_of.get(c.id)
        if code is not None:
            codes_.append(code)
    people: set[str] = set()
    serves: dict[str, array] = {}
    for (staff, manager), codes_ in by_pair.items():
        names = people_serving(staff, manager)
        for n in names:
            serves.setdefault(n, array("q")).extend(codes_)
        people |= names
    coverage = _survey_coverage(data, period, code_of, len(uniques))
    complaints = _complaint_tallies(data, period)
    # what the visits' and the invoices' passes give, asked for after what needs neither (the passes
    # may still run in a second process)
    vis = visit_tallies(data, period).set_index("人员")
    recv = receivables_frame(data)
    # the invoices due in the period, found once (not a date test per invoice per person), their
    # collectors as numbers (a person's invoices: a test on numbers, not on texts)
    due = due_in(data, period)
    collector_codes, collectors = pd.factorize(due["催收人"])
    collector_of = dict(zip(collectors, range(len(collectors))))
    due_amount, due_paid = due["金额"].to_numpy(dtype=float), due["已回款"].to_numpy(dtype=float)
    people |= set(vis.index) | set(recv["催收人"].dropna().unique())
    # what is counted of a person's customers, as one column each over all the customers
    satisfaction = pd.to_numeric(cust["满意度"], errors="coerce").to_numpy(dtype=float)
    certified_in_period = None if approved_in is not None else (
        cust["认定状态"].isin(list(L.CERTIFIED_STATUSES)).astype(bool) &
        cust["建档日期"].map(lambda d: d in period).astype(bool)).to_numpy()

    def rows_of(frame_codes, wanted) -> np.ndarray:
        return np.isin(frame_codes, np.asarray(wanted, dtype=codes.dtype))

    approved_codes = None if approved_in is None else \
        [code_of[i] for i in approved_in if i in code_of] + ([-1] if None in approved_in else [])
    rows = []
    for p in sorted(people):
        served = np.unique(np.frombuffer(serves[p], dtype=np.int64)) if serves.get(p) else np.array([], np.int64)
        mine = rows_of(codes, served)
        if approved_codes is not None:
            new_cert = int(rows_of(codes[mine], approved_codes).sum())
        else:
            new_cert = int((certified_in_period & mine).sum())
        k = collector_of.get(p)
        theirs = collector_codes == k if k is not None else np.zeros(len(due_amount), dtype=bool)
        total, paid = float(due_amount[theirs].sum()), float(due_paid[theirs].sum())
        rate = paid / total if total else None
        planned, done = (int(vis.at[p, "行数"]), int(vis.at[p, L.DONE])) if p in vis.index else (0, 0)
        sat = satisfaction[mine]
        sat = sat[~np.isnan(sat)]
        resolved, received = complaints.get(p, (0, 0))
        rows.append({"人员": p, "负责客户数": int(mine.sum()), "新认定客户": new_cert, "期间到期应收": total,
                     "期间回款": paid, "回款率": rate, "计划拜访": planned, "完成拜访": done,
                     "拜访完成率": (done / planned) if planned else None,
                     "客户满意度": float(sat.mean()) if len(sat) else None,
                     "投诉解决率": resolved / received if received else None,
                     "调查覆盖率": coverage(served)})
    return pd.DataFrame(rows, columns=["人员", "负责客户数", "新认定客户", "期间到期应收", "期间回款", "回款率",
                                       "计划拜访", "完成拜访", "拜访完成率", "客户满意度", "投诉解决率", "调查覆盖率"])


def grade_changes(data: Snapshot, period: Period) -> pd.DataFrame:
    cols = ["时间", "客户编号", "客户名称", "原等级", "新等级", "依据", "操作人", "规则版本"]
    rows = [{c: r.get(c) for c in cols} for r in _grade_log_rows(data) if graded_on(r) in period]
    return pd.DataFrame(rows, columns=cols)


def graded_on(log_row: dict):
    """The date a logged change counts on: the as-of date it was graded at (基准日期), never
    the clock; a log written before that column existed falls back to its 时间."""
    for key in ("as_of", "time"):
        h = L.GRADE_LOG.header(key)
        if log_row.get(h) not in (None, ""):
            try:
                return to_date(log_row.get(h))
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------------------
# The monthly meeting pack (例会: 总结上月工作情况，制定下月工作计划, PRODUCT.md §10.4)
def _serving(data: Snapshot) -> dict[str, set[str]]:
    """Customer id → the people serving it (客户经理 and 对接人员)."""
    return {c.id: c.served_by() for c in data.customers if c.id}


def _grade_log_rows(data: Snapshot) -> list[dict]:
    """The grade log's entries by column label (the report's columns are labelled)."""
    return [{L.GRADE_LOG.header(k): v for k, v in g.values().items()} for g in data.grade_log]


def monthly_summary(data: Snapshot, month: Period) -> pd.DataFrame:
    """上月总结 per person: visits done vs planned in the month, money collected (回款日期 in the
    month, by 催收人), certifications approved (审批日期 in the month, by the customer's people),
    complaints opened (受理人) and closed (处理人), grade changes of their customers."""
    cols = ["人员", "计划拜访", "完成拜访", "拜访完成率", "回款金额", "新认定客户", "新增投诉", "解决投诉", "等级变动"]
    serving = _serving(data)
    rows: dict[str, dict] = {}

    def row(p: str) -> dict:
        return rows.setdefault(p, {c: 0 for c in cols} | {"人员": p})

    for v in data.visits:
        if v.state in ACTIVE_VISIT_STATES and v.planned_date in month:
            for p in split_names(v.staff) or ["（未填写）"]:
                row(p)["计划拜访"] += 1
                row(p)["完成拜访"] += v.state == L.DONE
    for r in data.receivables:
        if r.paid_date in month and (r.paid or 0) > 0:
            row(r.collector or "（未填写）")["回款金额"] += float(min(r.paid, r.amount or r.paid))
    for a in data.certifications or ():
        if a.result == L.PASSED and a.approved_on in month:
            for p in serving.get(a.customer_id, ()) or ["（未填写）"]:
                row(p)["新认定客户"] += 1
    for x in data.complaints or ():
        if x.date in month:
            row(x.receiver or "（未填写）")["新增投诉"] += 1
        if x.resolved_on in month and x.state in (L.COMPLAINT_RESOLVED, L.COMPLAINT_CLOSED):
            for p in split_names(x.handler) or ["（未填写）"]:
                row(p)["解决投诉"] += 1
    for g in _grade_log_rows(data):
        if graded_on(g) in month:
            for p in serving.get(g.get(L.GRADE_LOG.header("customer_id")), ()):
                row(p)["等级变动"] += 1
    out = pd.DataFrame(sorted(rows.values(), key=lambda r: r["人员"]), columns=cols)
    out["拜访完成率"] = [(d / p) if p else None for d, p in zip(out["完成拜访"], out["计划拜访"])]
    return out


PLAN_COLS = ["人员", "事项", "客户编号", "客户名称", "日期", "说明"]


def next_month_plan(data: Snapshot, month: Period) -> pd.DataFrame:
    """下月计划 per person: visits due by each customer's frequency, receivables falling due,
    agreements expiring, surveys due, complaints still open — one line per item."""
    names = {c.id: c.name for c in data.customers if c.id}
    items: list[dict] = []

    def add(person, kind, cid, when, note):
        items.append({"人员": person or "（未填写）", "事项": kind, "客户编号": cid, "客户名称": names.get(cid),
                      "日期": when, "说明": note})

    last = data.last_visits()
    surveys = by_customer(data.surveys or ())
    for c in data.customers:
        if not c.id or c.status == L.INACTIVE:
            continue
        due = next_visit_due(c.tier, last.get(c.id), data.settings, data.as_of)
        if due is not None and due <= month.end:
            add(c.manager, "应拜访", c.id, max(due, month.start),
                f"{c.tier} 客户每 {data.settings.visit_days(c.tier)} 天拜访一次" +
                (f"，上次 {last[c.id]:%Y-%m-%d}" if c.id in last else "，尚无已完成拜访"))
        if c.agreement_expiry in month:
            add(c.manager, "协议到期", c.id, c.agreement_expiry, f"{c.agreement_type or ''} {c.agreement_no or ''} 到期，安排续签")
        days = data.settings.survey_days(c.tier)
        if data.surveys is not None and c.status in L.CERTIFIED_STATUSES and days:
            s = latest(surveys.get(c.id, []))
            due = (s.date + dt.timedelta(days=days)) if s else month.start
            if due <= month.end:
                add(c.manager, "满意度调查", c.id, max(due, month.start),
                    f"每 {days} 天一次" + (f"，上次 {s.date:%Y-%m-%d}" if s else "，尚无调查"))
    for r in data.receivables:
        if r.due_date in month and r.amount and not settled(r.open_amount):
            add(r.collector, "应收到期", r.customer_id, r.due_date, f"{r.id} 未回 {r.open_amount:,.2f} 元")
    for x in data.complaints or ():
        if x.open:
            for p in split_names(x.handler) or [None]:
                add(p, "未结投诉", x.customer_id, x.due, f"{x.id} {x.level or ''}{x.kind or ''}：{x.content or ''}")
    out = pd.DataFrame(items, columns=PLAN_COLS)
    order = {k: i for i, k in enumerate(("应拜访", "应收到期", "协议到期", "满意度调查", "未结投诉"))}
    if len(out):
        out = out.assign(_k=out["事项"].map(order)).sort_values(["人员", "_k", "日期", "客户编号"],
                                                                na_position="last").drop(columns="_k")
    return out.reset_index(drop=True)


def _complaint_tallies(data: Snapshot, period: Period) -> dict[str, tuple[int, int]]:
    """Handler → (resolved or closed, received) of the complaints received in the period, in one
    pass (a complaint with several handlers counts for each): 投诉解决率 is the first over the second."""
    tallies: dict[str, list[int]] = {}
    for x in data.complaints or ():
        if x.date in period:
            done = x.state in (L.COMPLAINT_RESOLVED, L.COMPLAINT_CLOSED)
            for person in set(split_names(x.handler)):
                t = tallies.setdefault(person, [0, 0])
                t[0] += done
                t[1] += 1
    return {p: (t[0], t[1]) for p, t in tallies.items()}


def _survey_coverage(data: Snapshot, period: Period, code_of: dict, n: int):
    """A person's 调查覆盖率 from the customer numbers they serve (staff_kpis' codes; -1: a customer
    without 客户编号): the share of their certified customers with a survey in the period.  Which
    customers are certified and which were surveyed is found once, as flags by number."""
    if data.surveys is None:
        return lambda served: None
    certified = np.zeros(n + 1, dtype=bool)  # the last place: customers without a 客户编号
    surveyed = np.zeros(n + 1, dtype=bool)
    for c in data.customers:
        if c.status in L.CERTIFIED_STATUSES:
            code = n if c.id is None else code_of.get(c.id)
            if code is not None:
                certified[code] = True
    for s in data.surveys:
        if s.date in period:
            code = n if s.customer_id is None else code_of.get(s.customer_id)
            if code is not None:
                surveyed[code] = True

    def coverage(served: np.ndarray) -> float | None:
        places = np.where(served < 0, n, served)
        mine = places[certified[places]]
        if not len(mine):
            return None
        return int(surveyed[mine].sum()) / len(mine)
    return coverage


def open_complaints(data: Snapshot) -> pd.DataFrame:
    """Open complaints per customer (in the customer's context: tier and manager)."""
    cols = ["客户编号", "客户名称", "等级", "客户经理", "未结投诉", "其中重大", "最早投诉日期", "最近处理期限", "处理人"]
    by = {c.id: c for c in data.customers if c.id}
    groups: dict[str, list] = {}
    for x in data.complaints or ():
        if x.open and x.customer_id:
            groups.setdefault(x.customer_id, []).append(x)
    rows = []
    for cid, xs in groups.items():
        c = by.get(cid)
        dates = [x.date for x in xs if x.date]
        dues = [x.due for x in xs if x.due]
        rows.append({"客户编号": cid, "客户名称": c.name if c else None, "等级": (c.tier if c else None) or UNGRADED,
                     "客户经理": c.manager if c else None, "未结投诉": len(xs),
                     "其中重大": sum(x.level == L.COMPLAINT_MAJOR for x in xs), "最早投诉日期": min(dates) if dates else None,
                     "最近处理期限": min(dues) if dues else None,
                     "处理人": "、".join(sorted({n for x in xs for n in split_names(x.handler)}))})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["其中重大", "未结投诉", "客户编号"], ascending=[False, False, True]).reset_index(drop=True)
