"""A deterministic, realistic demo data set for the master workbook.

≈300 customers across industries and regions of China, ≈1,200 visits, ≈800
receivables and a sales team, chosen so that every tier, every aging bucket and
a handful of rule violations occur.  The planted violations are listed in
PLANTED so tests can check that validation finds each of them.
"""
from __future__ import annotations

import datetime as dt
import random
from typing import Any

from . import layout as L
from .domain.models import Settings
from .domain.tiering import TierInputs, default_rules, grade

AS_OF = dt.date(2026, 10, 31)
SEED = 20261031

REGIONS = {
    "华东": ["上海", "杭州", "南京", "苏州", "宁波", "合肥"],
    "华南": ["广州", "深圳", "佛山", "东莞", "厦门"],
    "华北": ["北京", "天津", "石家庄", "太原"],
    "华中": ["武汉", "长沙", "郑州", "南昌"],
    "西南": ["成都", "重庆", "昆明", "贵阳"],
    "西北": ["西安", "兰州", "乌鲁木齐"],
    "东北": ["沈阳", "大连", "长春", "哈尔滨"],
}
INDUSTRIES = {
    "制造业": ["机械制造", "精密机械", "重工", "汽车零部件", "模具"],
    "电子": ["电子科技", "光电", "微电子", "智能科技"],
    "化工": ["化工", "新材料", "涂料"],
    "医药": ["医药", "生物科技", "医疗器械"],
    "建筑": ["建设工程", "建材", "装饰工程"],
    "食品": ["食品", "饮料", "粮油"],
    "物流": ["物流", "供应链管理", "国际货运"],
    "能源": ["能源", "新能源", "电力设备"],
    "零售": ["商贸", "连锁超市", "百货"],
    "政府及事业单位": ["人民医院", "职业技术学院", "公共资源交易中心"],
}
BRAND = list("华恒盛鑫泰宏远达隆兴瑞祥丰源通凯博信诚安嘉德荣天正东方新海金")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国文斌宇浩然欣怡子涵")

MANAGERS = ["周建国", "林海燕"]
SUPERVISORS = ["陈志强", "刘晓梅", "王立新"]
SPECIALISTS = ["张伟", "李娜", "赵磊", "孙静", "钱多多", "吴敏", "郑洁", "冯涛", "何欣怡"]
TEAM = MANAGERS + SUPERVISORS + SPECIALISTS

# (rule code, table, customer/record id) — every one must be found by validation.
PLANTED: list[tuple[str, str, str]] = []


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return "1" + rng.choice("3589") + "".join(str(rng.randint(0, 9)) for _ in range(9))
    area = rng.choice(["021", "010", "020", "0755", "0571", "025", "027", "028", "029", "0512"])
    return f"{area}-{rng.randint(2000000, 89999999)}"


def _company(rng: random.Random, city: str, kind: str, used: set[str]) -> str:
    for attempt in range(400):
        brand = "".join(rng.sample(BRAND, 2 + attempt // 20))  # longer brands once short ones run out
        if kind == "人民医院" and attempt >= 20:
            kind = "医疗器械"
        if kind in ("人民医院", "职业技术学院", "公共资源交易中心"):
            name = f"{city}市{brand}{kind}" if kind != "人民医院" else f"{city}市第{rng.randint(1, 9)}人民医院"
        else:
            form = rng.choice(["有限公司", "有限公司", "有限责任公司", "股份有限公司", "集团有限公司"])
            name = f"{city}{brand}{kind}{form}"
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("name space exhausted")


def _profile(rng: random.Random, i: int) -> dict[str, Any]:
    """Volume/margin/credit/growth spread so every default tier occurs."""
    bucket = i % 10
    if bucket == 0:      # A1-ish
        vol = rng.randint(50, 260) * 10000
        credit, margin = "好", rng.uniform(0.08, 0.3)
    elif bucket == 1:    # A2-ish
        vol = rng.randint(20, 49) * 10000
        credit, margin = rng.choice(["好", "较好"]), rng.uniform(0.06, 0.3)
    elif bucket == 2:    # C: big but thin margin
        vol = rng.randint(20, 120) * 10000
        credit, margin = rng.choice(["好", "较好", "一般"]), rng.uniform(0.01, 0.049)
    elif bucket in (3, 4):  # B1
        vol = rng.randint(5, 19) * 10000
        credit, margin = rng.choice(["好", "较好", "一般"]), rng.uniform(0.08, 0.3)
    elif bucket in (5, 6):  # B2
        vol = rng.randint(2, 9) * 10000 + rng.randint(0, 9999)
        credit, margin = rng.choice(["较好", "一般", "差"]), rng.uniform(0.05, 0.25)
    elif bucket == 7:    # D
        vol = rng.randint(3000, 19999)
        credit, margin = rng.choice(["好", "较好", "一般"]), rng.uniform(0.25, 0.45)
    else:                # 非大客户
        vol = rng.randint(1000, 19999)
        credit, margin = rng.choice(["较好", "一般", "差"]), rng.uniform(0.02, 0.2)
    growth = {0: "中", 1: "中", 2: "低", 3: "高", 4: "高", 5: "低", 6: "中", 7: rng.choice(["高", "中"]),
              8: rng.choice(["低", "中"]), 9: "低"}[bucket]
    if bucket == 9:
        margin = rng.uniform(0.02, 0.2)
    return {"年用量(元)": float(vol), "利润率": round(margin, 3), "回款信誉": credit, "增长潜力": growth}


def build_data(n_customers: int = 300, n_visits: int = 1200, n_receivables: int = 800,
               as_of: dt.date = AS_OF, seed: int = SEED, plant: bool = True) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    PLANTED.clear()
    used: set[str] = set()
    customers: list[dict[str, Any]] = []
    rules = default_rules()
    settings = Settings()
    region_names = list(REGIONS)
    for i in range(n_customers):
        region = rng.choice(region_names)
        city = rng.choice(REGIONS[region])
        industry = rng.choice(list(INDUSTRIES))
        kind = rng.choice(INDUSTRIES[industry])
        prof = _profile(rng, i)
        status = rng.choices(["已签约", "已认定", "申请认定", "调查中", "潜在", "停用"],
                             [40, 25, 10, 10, 12, 3])[0]
        staff_n = rng.choices([1, 2, 3], [2, 5, 2])[0]
        staff = rng.sample(SPECIALISTS + SUPERVISORS, staff_n)
        created = as_of - dt.timedelta(days=rng.randint(60, 3000))
        agreement_type = agreement_no = expiry = None
        if status == "已签约":
            agreement_type = "VIP客户协议" if industry == "政府及事业单位" or rng.random() < 0.4 else "销售协议"
            agreement_no = f"{'VIP' if agreement_type == 'VIP客户协议' else 'XS'}-{created.year}-{i + 1:04d}"
            expiry = as_of + dt.timedelta(days=rng.randint(90, 900))
        certified = status in L.CERTIFIED_STATUSES
        row = {
            "客户编号": f"KH{i + 1:06d}",
            "客户名称": _company(rng, city, kind, used),
            "客户类型": "协议大客户" if status == "已签约" or rng.random() < 0.6 else "会员大客户",
            "行业": industry, "区域": region,
            "客户经理": rng.choice(MANAGERS + SUPERVISORS),
            "对接人员": "、".join(staff),
            "联系人": _person(rng), "联系电话": _phone(rng),
            **prof,
            "财务状况": rng.choice(["强", "中"]) if certified else rng.choice(["强", "中", "弱"]),
            "合作态度": rng.choice(["积极", "一般"]) if certified else rng.choice(["积极", "一般", "消极"]),
            "保密承诺": "是" if certified or rng.random() < 0.5 else "否",
            "成本水平": "符合" if certified or rng.random() < 0.7 else "不符合",
            "认定状态": status,
            "协议类型": agreement_type, "协议编号": agreement_no, "协议到期日": expiry,
            "满意度": float(rng.randint(62, 99)),
            "建档日期": created,
            "备注": rng.choice([None, None, None, "年度框架协议客户", "需关注回款", "新开发客户", "集团统一采购"]),
        }
        if certified and row["回款信誉"] == "差":
            row["回款信誉"] = "一般"
        if (row["回款信誉"], certified) == ("差", False) and rng.random() < 0.5:
            row["财务状况"] = "弱"
        # last year's grading: mostly what the rules say, some out of date
        res = grade(TierInputs(prof["年用量(元)"], row["回款信誉"], prof["利润率"], prof["增长潜力"]),
                    rules, settings)
        tier = res.tier
        if rng.random() < 0.12:
            tier = rng.choice(L.TIERS)
        if rng.random() < 0.04:
            tier = None
        if tier in L.IMPORTANT_TIERS and len(staff) < 2:
            row["对接人员"] = "、".join(staff + rng.sample([s for s in SPECIALISTS if s not in staff], 1))
        row["客户等级"] = tier
        row["定级日期"] = as_of - dt.timedelta(days=rng.randint(200, 400)) if tier else None
        customers.append(row)

    visits = _visits(rng, customers, n_visits, as_of)
    receivables = _receivables(rng, customers, n_receivables, as_of)
    certifications = _certifications(rng, customers, as_of)
    complaints = _complaints(rng, customers, as_of)
    surveys = _surveys(rng, customers, visits, as_of)
    if plant:
        _plant(customers, visits, receivables, as_of)
        _plant_procedures(customers, certifications, complaints, surveys, visits, as_of)
    for c in customers:
        c.pop("_planted", None)
    return {L.CUSTOMERS.name: customers, L.VISITS.name: visits, L.RECEIVABLES.name: receivables,
            L.CERTIFICATIONS.name: certifications, L.COMPLAINTS.name: complaints, L.SURVEYS.name: surveys}


LEADERS = ["王总", "李副总"]
PRODUCTS = ["工业轴承、密封件", "数控刀具及配件", "电子元器件", "包装材料", "实验耗材", "办公设备及耗材",
            "化工原料", "劳保用品"]


def application(i: int, c: dict[str, Any], as_of: dt.date, stage: str, rng: random.Random | None = None) -> dict[str, Any]:
    """A 客户认定申请 at a stage of the seed's procedure: 一般调查 → 实地调查 → 申请 → 审批.
    stage: 'general' (only the general investigation), 'applied' (both done, awaiting approval),
    'approved', 'rejected'."""
    rng = rng or random.Random(i)
    applied = as_of - dt.timedelta(days=rng.randint(20, 700))
    staff = [s for s in str(c.get("对接人员") or "").replace(";", "、").split("、") if s]
    field_staff = [c.get("客户经理") or rng.choice(MANAGERS)] + [s for s in staff if s != c.get("客户经理")][:1]
    if len(field_staff) < 2:
        field_staff.append(rng.choice(SPECIALISTS))
    row = {
        "申请编号": f"RD{i:06d}", "客户编号": c["客户编号"], "申请日期": applied,
        "申请人": (staff or field_staff)[0],
        "一般调查日期": applied - dt.timedelta(days=30),
        "一般调查结论": "已取得客户概况与最新年度决算表；与其负责人面谈，对我司评价良好，采购方针稳定",
    }
    if stage == "general":
        return row
    row.update({
        "实地调查日期": applied - dt.timedelta(days=10), "实地调查人员": "、".join(field_staff),
        "实地调查结论": "生产经营正常，财务稳健，管理规范，符合大客户选择原则",
        "交易理由及基本方针": "用量大、回款及时，建立长期稳定合作；优先供货、专人对接",
        "交易商品目录": rng.choice(PRODUCTS),
        "预计年交易金额(元)": round(c["年用量(元)"], -3) if isinstance(c.get("年用量(元)"), (int, float)) else 100000.0,
        "诚信与信用": "符合", "财务能力": "符合", "合作态度": "符合", "保密承诺": "符合", "成本水平": "符合",
        "认定结果": "待定",
    })
    if stage == "approved":
        row.update({"部门经理意见": rng.choice(["同意", c["客户经理"]]), "公司领导意见": rng.choice(["同意", *LEADERS]),
                    "审批日期": applied + dt.timedelta(days=7), "认定结果": "通过",
                    "协议类型": c.get("协议类型"), "协议编号": c.get("协议编号")})
    elif stage == "rejected":
        row.update({"部门经理意见": "同意", "公司领导意见": "驳回", "审批日期": applied + dt.timedelta(days=9),
                    "认定结果": "不通过", "成本水平": "不符合", "备注": "成本水平不符合公司要求"})
    return row


def _certifications(rng: random.Random, customers, as_of: dt.date) -> list[dict[str, Any]]:
    out = []
    for c in customers:
        st = c["认定状态"]
        stage = {"已签约": "approved", "已认定": "approved", "申请认定": "applied"}.get(st)
        if st == "调查中" and rng.random() < 0.6:
            stage = "general"
        if st == "潜在" and rng.random() < 0.15:
            stage = "rejected"
        if stage:
            out.append(application(len(out) + 1, c, as_of, stage, rng))
    return out


COMPLAINT_TEXT = {"产品质量": "到货批次有尺寸偏差", "交付": "交货延迟一周", "服务": "售后响应慢", "价格": "对调价有异议",
                  "账务": "发票金额与订单不符", "其他": "对接人员变动未通知"}


def _complaints(rng: random.Random, customers, as_of: dt.date) -> list[dict[str, Any]]:
    out = []
    pool = [c for c in customers if c["认定状态"] != "停用"]
    for i, c in enumerate(rng.sample(pool, max(1, len(pool) // 6))):
        kind = rng.choice(L.COMPLAINT_KINDS)
        date = as_of - dt.timedelta(days=rng.randint(1, 300))
        level = rng.choices(L.COMPLAINT_LEVELS, [6, 3, 1])[0]
        state = rng.choices(L.COMPLAINT_STATES, [1, 2, 3, 4])[0]
        due = date + dt.timedelta(days={"一般": 15, "严重": 7, "重大": 3}[level])
        if state in L.COMPLAINT_OPEN and due < as_of:
            due = as_of + dt.timedelta(days=rng.randint(1, 10))
        handler = c["对接人员"].split("、")[0]
        if level == "重大":
            handler += "、" + rng.choice(LEADERS)
        closed = state in ("已解决", "已关闭")
        out.append({
            "投诉编号": f"TS{i + 1:06d}", "客户编号": c["客户编号"], "投诉日期": date,
            "投诉渠道": rng.choice(L.COMPLAINT_CHANNELS), "投诉类别": kind, "投诉内容": COMPLAINT_TEXT[kind],
            "严重程度": level, "受理人": rng.choice(SPECIALISTS), "处理人": handler,
            "处理措施": "核实情况，补发/更换并向客户书面说明" if closed or state == "处理中" else None,
            "处理期限": due, "解决日期": min(due, as_of) if closed else None, "状态": state,
            "客户确认": rng.choice(L.CONFIRMATIONS[:2]) if state == "已关闭" else None,
        })
    return out


def _surveys(rng: random.Random, customers, visits, as_of: dt.date) -> list[dict[str, Any]]:
    """Surveys and phone return-visit scores; a low score gets a follow-up visit planned."""
    out = []
    for c in customers:
        if c["认定状态"] not in L.CERTIFIED_STATUSES and rng.random() < 0.7:
            continue
        mine = []
        for k in range(rng.choice((1, 1, 2))):
            date = as_of - dt.timedelta(days=rng.randint(5, 80) + 150 * k)
            base = rng.choice((3, 4, 4, 5, 5))
            scores = [max(1, min(5, base + rng.choice((-1, 0, 0, 1)))) for _ in L.SCORE_KEYS]
            row = {"调查编号": f"MY{len(out) + 1:06d}", "客户编号": c["客户编号"], "调查日期": date,
                   "调查方式": rng.choice(L.SURVEY_METHODS), "调查人": rng.choice(SPECIALISTS),
                   **dict(zip([L.SURVEYS.header(key) for key in L.SCORE_KEYS], scores)),
                   "意见建议": rng.choice([None, "希望缩短交货周期", "价格可再优惠", "服务响应及时"])}
            score = round(sum(scores) / len(scores) * 20, 1)
            if score < 60:
                row["跟进事项"] = "安排主管上门回访，了解不满意原因"
                visits.append(_follow_up(len(visits) + 1, c, date + dt.timedelta(days=5)))
            out.append(row)
            mine.append(row)
        if mine:
            latest = max(mine, key=lambda s: s["调查日期"])
            c["满意度"] = round(sum(latest[L.SURVEYS.header(key)] for key in L.SCORE_KEYS) / 5 * 20, 1)
    return out


def _follow_up(n: int, c: dict[str, Any], when: dt.date) -> dict[str, Any]:
    staff = c["对接人员"].split("、")[0]
    return {"拜访编号": f"BF{n:06d}", "客户编号": c["客户编号"], "拜访方式": "实地拜访", "计划日期": when,
            "地点": "客户公司", "拜访人员": staff, "拜访对象": c["联系人"], "拜访目的": "满意度低分跟进",
            "拜访内容": "了解不满意原因并提出改进措施", "预期效果": "客户认可改进方案", "状态": "待审批",
            "部门经理审批": None, "公司领导审批": None}


def _plant_procedures(customers, certifications, complaints, surveys, visits, as_of: dt.date) -> None:
    """One mistake per §10 rule, each recorded in PLANTED."""
    by_id = {c["客户编号"]: c for c in customers}

    def app_of(pred):
        return next(a for a in certifications if pred(a, by_id[a["客户编号"]]) and not a.get("_p"))

    def mark(rec, key, code, table):
        rec["_p"] = True
        PLANTED.append((code, table, rec[key]))

    a = app_of(lambda a, c: c["认定状态"] == "已认定" and a["认定结果"] == "通过" and not c.get("_planted"))
    a["公司领导意见"] = None
    mark(a, "申请编号", "CERT-APPROVAL-MISSING", L.CERTIFICATIONS.name)
    by_id[a["客户编号"]]["_planted"] = True
    PLANTED.append(("CUST-CERT-NOT-APPROVED", L.CUSTOMERS.name, a["客户编号"]))
    a = app_of(lambda a, c: c["认定状态"] == "已签约" and a["认定结果"] == "通过" and not c.get("_planted"))
    a["保密承诺"] = "待查"
    mark(a, "申请编号", "CERT-PRINCIPLE", L.CERTIFICATIONS.name)
    a = app_of(lambda a, c: a["认定结果"] == "待定")
    a["实地调查人员"] = a["实地调查人员"].split("、")[0]
    mark(a, "申请编号", "CERT-FIELD-STAFF", L.CERTIFICATIONS.name)
    a = app_of(lambda a, c: a["认定结果"] == "待定" and c["认定状态"] == "申请认定" and not c.get("_planted"))
    certifications.remove(a)  # 申请认定 with no application behind it
    PLANTED.append(("CUST-CERT-NO-APPLICATION", L.CUSTOMERS.name, a["客户编号"]))
    p = next(p for p in complaints if p["状态"] in L.COMPLAINT_OPEN)
    p["处理期限"] = as_of - dt.timedelta(days=6)
    PLANTED.append(("COMPLAINT-OVERDUE", L.COMPLAINTS.name, p["投诉编号"]))
    p = next(p for p in complaints if p["严重程度"] == "一般" and p["状态"] == "已解决")
    p["严重程度"] = "重大"
    PLANTED.append(("COMPLAINT-MAJOR-NO-LEADER", L.COMPLAINTS.name, p["投诉编号"]))
    p = next(p for p in complaints if p["状态"] == "已关闭")
    p["客户确认"] = None
    PLANTED.append(("COMPLAINT-CLOSED-NO-CONFIRM", L.COMPLAINTS.name, p["投诉编号"]))
    a1 = next(c for c in customers if c["客户等级"] == "A1" and c["认定状态"] != "停用"
              and not any(p["客户编号"] == c["客户编号"] for p in complaints))
    complaints.append({"投诉编号": f"TS{len(complaints) + 1:06d}", "客户编号": a1["客户编号"],
                       "投诉日期": as_of - dt.timedelta(days=2), "投诉渠道": "电话", "投诉类别": "产品质量",
                       "投诉内容": "整批货物质量不合格，影响客户生产线", "严重程度": "重大", "受理人": "张伟",
                       "处理人": "周建国、王总", "处理期限": as_of + dt.timedelta(days=1), "状态": "处理中"})
    PLANTED.append(("CUST-MAJOR-COMPLAINT-OPEN", L.CUSTOMERS.name, a1["客户编号"]))
    def visited(s):
        until = s["调查日期"] + dt.timedelta(days=14)
        return any(v["客户编号"] == s["客户编号"] and s["调查日期"] <= (v["计划日期"] or v["实际日期"] or dt.date.min) <= until
                   for v in visits)
    s = next(s for s in surveys if s["调查日期"] < as_of - dt.timedelta(days=30) and not s.get("跟进事项")
             and not visited(s))
    for key in L.SCORE_KEYS:
        s[L.SURVEYS.header(key)] = 2
    PLANTED.append(("SURVEY-LOW-NO-FOLLOWUP", L.SURVEYS.name, s["调查编号"]))
    c = next(c for c in customers if c["认定状态"] in L.CERTIFIED_STATUSES and c["客户等级"] == "A1"
             and not c.get("_planted") and any(x["客户编号"] == c["客户编号"] for x in surveys))
    for x in [x for x in surveys if x["客户编号"] == c["客户编号"]]:
        x["调查日期"] = as_of - dt.timedelta(days=200)
    c["_planted"] = True
    PLANTED.append(("CUST-SURVEY-DUE", L.CUSTOMERS.name, c["客户编号"]))
    for rec in certifications + complaints + surveys:
        rec.pop("_p", None)


PURPOSES = ["年度合作回顾", "新产品推介", "了解采购计划", "处理质量投诉", "续签协议洽谈", "回款沟通",
            "技术交流", "节日拜访", "需求调研", "项目验收"]
OUTCOMES = ["客户认可新方案，下月下单", "确认年度采购量", "投诉已处理，客户满意", "约定回款时间",
            "需报价后再议", "客户同意续签", "收集到竞品信息", "安排技术支持"]


def _visits(rng: random.Random, customers, n: int, as_of: dt.date) -> list[dict[str, Any]]:
    out = []
    weights = [5 if (c["客户等级"] or "").startswith("A") else 2 if (c["客户等级"] or "").startswith("B") else 1
               for c in customers]
    picks = rng.choices(customers, weights, k=n)  # one draw: cumulative weights computed once
    for i in range(n):
        c = picks[i]
        method = rng.choices(L.VISIT_METHODS, [50, 35, 8, 7])[0]
        planned = as_of + dt.timedelta(days=rng.randint(-330, 45))
        if planned > as_of:
            state = rng.choice(["草稿", "待审批", "已批准"])
        else:
            state = rng.choices(["已完成", "已取消", "已批准", "待审批"], [85, 5, 6, 4])[0]
        staff = c["对接人员"].split("、")
        row = {
            "拜访编号": f"BF{i + 1:06d}", "客户编号": c["客户编号"], "拜访方式": method,
            "计划日期": planned,
            "实际日期": min(as_of, planned + dt.timedelta(days=rng.randint(0, 3))) if state == "已完成" else None,
            "地点": "电话" if method == "电话回访" else f"{c['区域']}·客户公司" if method == "实地拜访" else "公司会议室",
            "拜访人员": "、".join(rng.sample(staff, min(len(staff), rng.choice((1, 2))))),
            "拜访对象": c["联系人"], "拜访目的": rng.choice(PURPOSES),
            "拜访内容": "沟通合作情况、了解需求与意见",
            "预期效果": "巩固合作关系，提升满意度",
            "拜访结果": rng.choice(OUTCOMES) if state == "已完成" else None,
            "跟进事项": rng.choice([None, "发送报价单", "安排样品", "财务对账"]) if state == "已完成" else None,
            "状态": state,
            "部门经理审批": "同意" if state in ("已批准", "已完成") else None,
            "公司领导审批": "同意" if state in ("已批准", "已完成") else None,
            "备注": None,
        }
        if row["跟进事项"]:
            row["跟进期限"] = row["实际日期"] + dt.timedelta(days=14)
        out.append(row)
    out.sort(key=lambda r: r["计划日期"])
    for i, r in enumerate(out):
        r["拜访编号"] = f"BF{i + 1:06d}"
    return out


def _receivables(rng: random.Random, customers, n: int, as_of: dt.date) -> list[dict[str, Any]]:
    out = []
    big = [c for c in customers if c["年用量(元)"] >= 20000]
    # late payers follow the customer's entered credit, so the credit regrade derives from the
    # receivables mostly agrees with it (好: within 20 days, 较好: 55, 一般: 85, 差: up to 200)
    lateness = {"好": (0.97, 20), "较好": (0.92, 45), "一般": (0.85, 70), "差": (0.35, 200)}
    for i in range(n):
        c = rng.choice(big)
        invoice = as_of - dt.timedelta(days=rng.randint(0, 420))
        terms = rng.choice([30, 30, 60, 90])
        due = invoice + dt.timedelta(days=terms)
        amount = round(c["年用量(元)"] / rng.randint(4, 12), -2) or 1000.0
        p_on_time, max_late = lateness[c["回款信誉"] or "一般"]
        row = {"单据号": f"FP{invoice:%Y%m}{i + 1:05d}", "客户编号": c["客户编号"], "开票日期": invoice,
               "金额": float(amount), "到期日": due, "已回款": 0.0, "回款日期": None,
               "催收人": c["对接人员"].split("、")[0], "催讨级别": None, "最近催讨日期": None, "备注": None}
        if due > as_of:
            if rng.random() < 0.3:
                row["已回款"], row["回款日期"] = float(amount), invoice + dt.timedelta(days=rng.randint(5, terms))
        elif rng.random() < p_on_time:
            row["已回款"], row["回款日期"] = float(amount), due - dt.timedelta(days=rng.randint(0, 10))
        else:
            late = rng.randint(1, max_late)
            paid_on = due + dt.timedelta(days=late)
            if paid_on <= as_of:  # paid late
                row["已回款"], row["回款日期"] = float(amount), paid_on
            else:  # still open at the as-of date, overdue by less than the customer's usual lateness
                part = rng.choice([0.0, 0.0, 0.3, 0.5])
                row["已回款"] = round(amount * part, 2)
                row["回款日期"] = due + dt.timedelta(days=rng.randint(0, 20)) if part else None
                if row["回款日期"] and row["回款日期"] > as_of:
                    row["回款日期"] = as_of
                row["最近催讨日期"] = as_of - dt.timedelta(days=rng.randint(1, 30)) if rng.random() < 0.5 else None
        out.append(row)
    # every aging bucket shows up in the demo: a few uncertified late payers' invoices still open
    # 15, 45, 75, 120 and 200 days after their due date
    late_payers = [c["客户编号"] for c in big if c["认定状态"] not in L.CERTIFIED_STATUSES and c["回款信誉"] in ("差", "一般")]
    for k, days in enumerate((15, 45, 75, 120, 200)):
        if k >= len(late_payers):
            break
        row = next((r for r in out if r["客户编号"] == late_payers[k]), None)
        if row is not None:
            due = as_of - dt.timedelta(days=days)
            row.update({"开票日期": due - dt.timedelta(days=30), "到期日": due, "已回款": 0.0, "回款日期": None})
    out.sort(key=lambda r: r["开票日期"])
    return out


def _plant(customers, visits, receivables, as_of: dt.date) -> None:
    """A handful of realistic mistakes, each recorded in PLANTED."""
    def cust(pred):
        return next(c for c in customers if pred(c) and not c.get("_planted"))

    def mark(c, code):
        c["_planted"] = True
        PLANTED.append((code, L.CUSTOMERS.name, c["客户编号"]))

    # a certified customer entered as paying well whose invoices say otherwise: one invoice of the
    # window 150 days overdue makes the derived credit 差 (what regrade grades with)
    billed = {r["客户编号"] for r in receivables}
    c = cust(lambda c: c["认定状态"] == "已认定" and c["客户编号"] in billed)
    r = next(r for r in receivables if r["客户编号"] == c["客户编号"])
    r.update({"开票日期": as_of - dt.timedelta(days=200), "到期日": as_of - dt.timedelta(days=150), "已回款": 0.0,
              "回款日期": None})
    mark(c, "CUST-CREDIT-BAD")
    c = cust(lambda c: c["认定状态"] == "已认定")
    c["财务状况"] = "弱"; mark(c, "CUST-FINANCE-WEAK")
    c = cust(lambda c: c["认定状态"] == "已签约")
    c["保密承诺"] = "否"; mark(c, "CUST-CONFIDENTIALITY")
    c = cust(lambda c: c["认定状态"] == "已签约")
    c["协议编号"] = None; mark(c, "CUST-AGREEMENT-MISSING")
    c = cust(lambda c: c["认定状态"] == "已签约")
    c["协议到期日"] = as_of - dt.timedelta(days=12); mark(c, "CUST-AGREEMENT-EXPIRED")
    c = cust(lambda c: c["认定状态"] == "已签约")
    c["协议到期日"] = as_of + dt.timedelta(days=25); mark(c, "CUST-AGREEMENT-EXPIRING")
    c = cust(lambda c: c["客户等级"] == "A1" and c["年用量(元)"] >= 500000 and c["回款信誉"] == "好")
    c["对接人员"] = c["对接人员"].split("、")[0]; mark(c, "CUST-STAFF-FEW")
    # the same company typed twice, once with full-width brackets and spaces
    src = cust(lambda c: c["认定状态"] == "潜在")
    dup = dict(src)
    dup["客户编号"] = f"KH{len(customers) + 1:06d}"
    dup["客户名称"] = src["客户名称"].replace("有限", " 有限", 1)
    dup["_planted"] = True
    customers.append(dup)
    PLANTED.append(("CUST-NAME-DUP", L.CUSTOMERS.name, dup["客户编号"]))
    # visits
    v = next(v for v in visits if v["状态"] == "待审批")
    v["地点"] = None
    PLANTED.append(("VISIT-PLAN-INCOMPLETE", L.VISITS.name, v["拜访编号"]))
    v = next(v for v in visits if v["状态"] == "已批准" and v["计划日期"] > as_of)
    v["公司领导审批"] = None
    PLANTED.append(("VISIT-APPROVAL-MISSING", L.VISITS.name, v["拜访编号"]))
    v = next(v for v in visits if v["状态"] == "已完成")
    v["拜访结果"] = None
    PLANTED.append(("VISIT-DONE-INCOMPLETE", L.VISITS.name, v["拜访编号"]))
    # receivables
    r = receivables[-5]
    r["已回款"] = r["金额"] + 5000
    PLANTED.append(("RECV-PAID-RANGE", L.RECEIVABLES.name, r["单据号"]))
    r = receivables[-9]
    r["到期日"] = r["开票日期"] - dt.timedelta(days=10)
    PLANTED.append(("RECV-DUE-BEFORE-INVOICE", L.RECEIVABLES.name, r["单据号"]))
    r = receivables[-13]
    r["客户编号"] = "KH999999"
    PLANTED.append(("RECV-CUSTOMER-UNKNOWN", L.RECEIVABLES.name, r["单据号"]))


def demo_settings(as_of: dt.date = AS_OF) -> dict[str, Any]:
    return {"基准日期": as_of, "公司年销售额(元)": 60000000, "公司领导名单": "、".join(LEADERS)}
