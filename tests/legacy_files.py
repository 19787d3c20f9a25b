"""Legacy archive files as Chinese B2B firms keep them, built by the tests:
title rows, merged two-row headers, units in headers, 合计 rows, footers,
numbers stored as floats, GBK CSVs, BIFF .xls, broken and encrypted files."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import xlwt


def xlsx_2019_archive(path: Path) -> Path:
    """Title row, two-row header with merged groups, 年用量 in 万元, a 合计 row and a footer."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户档案"
    ws["A1"] = "2019年度大客户档案"
    ws.merge_cells("A1:H1")
    ws.append([])
    ws.append(["基本信息", None, None, "联系人", None, "业务情况", None, None])
    ws.merge_cells("A3:C3"); ws.merge_cells("D3:E3"); ws.merge_cells("F3:H3")
    ws.append(["客户代码", "单位名称", "业务员", "姓名", "电话", "年用量（万元）", "回款情况", "毛利率"])
    ws.append([12.0, "上海宏达精密机械有限公司", "张伟", "王强", 2155550000, 85, "优", "12.5%"])
    ws.append([None, "杭州  恒泰化工有限公司", "李娜", "赵敏", 13812345678.0, "32.5", "良", 0.08])
    ws.append([None, "南京（江北）新材料有限责任公司", "李娜", "钱多", "+86 139 0000 1111", "4.2万", "中", 9])
    ws.append([None, None, None, None, None, None, None, None])
    ws.append([None, "合计", None, None, None, 121.7, None, None])
    ws.append(["制表人：周建国"])
    wb.save(path)
    return path


def xls_2021_archive(path: Path) -> Path:
    """A real BIFF .xls: a newer source for one of the same customers, amounts as text with ¥."""
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("2021客户")
    ws.write_merge(0, 0, 0, 4, "客户名单（2021年）")
    for j, h in enumerate(["客户名称", "客户经理", "年采购额", "信誉等级", "建档日期"]):
        ws.write(2, j, h)
    date_fmt = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    rows = [("上海宏达精密机械有限公司", "张伟", "¥1,200,000.00", "好", dt.date(2015, 3, 5)),
            ("广州 (天河) 物流有限公司", "刘晓梅", "120000元", "较好", "2019年3月5日"),
            ("深圳光明电子有限公司", "陈志强", "50万", "一般", "20190305")]
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            if isinstance(v, dt.date):
                ws.write(3 + i, j, v, date_fmt)
            else:
                ws.write(3 + i, j, v)
    ws.write(6, 0, "总计")
    wb.save(str(path))
    return path


def gbk_visits_csv(path: Path) -> Path:
    lines = [
        "拜访记录表",
        "单位名称,拜访日期,方式,拜访人,拜访内容,结果",
        "上海宏达精密机械有限公司,2021/3/5,上门,张伟,年度回顾,同意续签",
        "杭州恒泰化工有限公司,2021.04.10,电话,李娜,回款沟通,约定回款时间",
        "不存在的公司,2021-05-01,上门,李娜,新品推介,需报价",
        ",,,,,",
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def utf8_bom_receivables_csv(path: Path) -> Path:
    lines = [
        "发票号,付款单位,开票日期,金额,到期日,已收金额,收款日期",
        "INV-001,上海宏达精密机械有限公司,2021-01-05,\"¥120,000.00\",2021-02-04,120000,2021-02-01",
        "INV-002,南京(江北)新材料有限责任公司,20210301,3.5万,20210331,0,",
        "INV-003,杭州恒泰化工有限公司,2021年4月1日,abc,2021年5月1日,0,",
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8"))
    return path


def old_archive_folder(d: Path) -> Path:
    """A folder of the old spreadsheets the import tests use: two customer archives (a 2019 xlsx,
    a 2021 BIFF xls), GBK visits and UTF-8-BOM invoices."""
    d.mkdir()
    xlsx_2019_archive(d / "2019客户档案.xlsx")
    xls_2021_archive(d / "客户名单.xls")
    gbk_visits_csv(d / "拜访.csv")
    utf8_bom_receivables_csv(d / "应收.csv")
    return d


def corrupt_xlsx(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 this is not really a zip file")
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def no_header_xlsx(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in [["月份", "件数"], [1, 2], [3, 4]]:
        ws.append(r)
    wb.save(path)
    return path


def encrypted_xlsx(path: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile
    plain = path.with_name("plain_" + path.name)
    wb = openpyxl.Workbook()
    wb.active.append(["客户名称", "年用量"])
    wb.active.append(["加密公司", 100])
    wb.save(plain)
    with open(plain, "rb") as f, open(path, "wb") as out:
        OOXMLFile(f).encrypt("secret", out)
    plain.unlink()
    return path
