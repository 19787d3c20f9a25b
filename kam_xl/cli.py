"""kam-xl: the headless front.  Each command parses its arguments and calls
one service; errors become one clear Chinese + English message and an exit
code (0 done, 1 done with problems found, 2 could not run), never a traceback."""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
import traceback
from pathlib import Path

from . import __version__
from . import layout as L
from . import files as svc
from .errors import KamError

EXIT_OK, EXIT_PROBLEMS, EXIT_FAIL = 0, 1, 2


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD / date must be YYYY-MM-DD: {text}")


def _month(text: str) -> str:
    try:
        dt.date.fromisoformat(text + "-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"月份格式应为 YYYY-MM / month must be YYYY-MM: {text}")
    return text


def _out(line: str = "") -> None:
    print(line, flush=True)


def operator_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USERNAME") or os.environ.get("USER") or "未知"


# ---------------------------------------------------------------------------
def cmd_new(args) -> int:
    path = svc.new_book(args.book, demo=args.demo, force=args.force)
    _out(f"已创建主工作簿 / created: {path}")
    return EXIT_OK


def cmd_regrade(args) -> int:
    res = svc.run_regrade(args.book, as_of=args.as_of, dry_run=args.dry_run, operator=operator_name())
    for line in res.summary_lines():
        _out(line)
    if args.dry_run or args.verbose:
        for m in res.moves:
            _out(f"  {m.where} {m.customer_id or ''} {m.name or ''}：{m.old or '（空）'} → {m.new}")
    for where, cid, why in res.ungraded[: 50 if not args.verbose else None]:
        _out(f"  无法定级 {where} {cid or ''}：{why}")
    if args.dry_run:
        _out("试运行（--dry-run）：未写入任何内容 / dry run: nothing written")
    return EXIT_OK


def cmd_validate(args) -> int:
    report = svc.run_validate(args.book, as_of=args.as_of, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=1, default=str))
    else:
        for line in report.summary_lines():
            _out(line)
    return EXIT_PROBLEMS if report.errors else EXIT_OK


def cmd_report(args) -> int:
    out = svc.run_report(args.book, out=args.out, as_of=args.as_of, pdf=args.pdf, month=args.month)
    for p in out:
        _out(f"已生成报表 / report written: {p}")
    for n in getattr(out, "notices", ()):
        _out(n.line() if hasattr(n, "line") else str(n))
    return EXIT_OK


def cmd_form(args) -> int:
    out = svc.run_form(args.book, args.customer, out=args.out, pdf=not args.no_pdf)
    for p in out:
        _out(f"已生成客户认定申请表 / form written: {p}")
    for n in getattr(out, "notices", ()):
        _out(n.line() if hasattr(n, "line") else str(n))
    return EXIT_OK


def cmd_card(args) -> int:
    out = svc.run_card(args.book, args.customer, out=args.out, pdf=not args.no_pdf, as_of=args.as_of)
    for p in out:
        _out(f"已生成客户档案卡 / customer card written: {p}")
    for n in getattr(out, "notices", ()):
        _out(n.line() if hasattr(n, "line") else str(n))
    return EXIT_OK


def cmd_import(args) -> int:
    result = svc.run_import(args.book, args.sources, dry_run=args.dry_run, report_path=args.report,
                            mapping=args.mapping, suggest=args.suggest_mapping)
    for line in result.summary_lines():
        _out(line)
    if args.suggest_mapping:
        _out("只写出了导入映射，未导入 / mapping written, nothing imported")
        return EXIT_OK
    if args.dry_run:
        _out("试运行（--dry-run）：未写入任何内容 / dry run: nothing written")
    return EXIT_PROBLEMS if result.has_problems else EXIT_OK


def _names(text: str | None) -> list[str]:
    import re
    return [x for x in re.split(r"[,，、;；\s]+", text or "") if x]


def cmd_distribute(args) -> int:
    res = svc.run_distribute(args.book, args.out, by=args.by, people=_names(args.people))
    for line in res.summary_lines():
        _out(line)
    return EXIT_OK


def cmd_collect(args) -> int:
    res = svc.run_collect(args.book, args.books, prefer_theirs=args.prefer == "theirs", report=args.report)
    for line in res.summary_lines():
        _out(line)
    _out(f"汇总报告 / merge report: {res.report_path}")
    c = res.counts()
    return EXIT_PROBLEMS if c["冲突"] or c["拒绝"] else EXIT_OK


def cmd_reassign(args) -> int:
    res = svc.run_reassign(args.book, args.src, args.dst, _names(args.customers))
    for line in res.summary_lines(args.src, args.dst):
        _out(line)
    return EXIT_OK


def cmd_db(args) -> int:
    if args.db_command == "init":
        path = svc.db_init(args.url)
        _out(f"已建立数据库 / database ready: {path}")
    elif args.db_command == "upgrade":
        before, after = svc.db_upgrade(args.url)
        _out(f"数据库结构已是最新版本 {after} / the schema is at {after}" if before == after else
             f"数据库结构已从 {before or '空'} 升级到 {after} / schema upgraded from {before or 'nothing'} to {after}")
    else:
        counts = svc.db_load(args.url, args.book)
        _out(f"已从“{args.book}”复制到数据库 / copied into the database: " + "，".join(
            f"{L.TABLES[t].sheet} {n}" for t, n in counts.items()))
    return EXIT_OK


def cmd_export(args) -> int:
    path = svc.db_export(args.url, args.out, _names(args.people))
    _out(f"已导出主工作簿 / exported: {path}")
    return EXIT_OK


def cmd_demo(args) -> int:
    for line in svc.run_demo(Path(args.dir), pdf=not args.no_pdf):
        _out(line)
    return EXIT_OK


# ---------------------------------------------------------------------------
_ARG_ERRORS = (  # argparse's own words → what a Chinese user reads
    (r"the following arguments are required: (.*)", "缺少参数：{0}"),
    (r"unrecognized arguments: (.*)", "无法识别的参数：{0}"),
    (r"argument (\S+): invalid choice: (.*?) \(choose from (.*)\)", "参数 {0} 的值 {1} 无效，可选：{2}"),
    (r"argument (\S+): expected one argument", "参数 {0} 后面需要一个值"),
    (r"argument (\S+): (.*)", "参数 {0} 的值不正确：{1}"),
)


class _Parser(argparse.ArgumentParser):
    """Argument errors in Chinese and English, exit status 2 (PRODUCT.md §8)."""

    def error(self, message: str):
        import re
        zh = message
        for pattern, template in _ARG_ERRORS:
            m = re.fullmatch(pattern, message)
            if m:
                zh = template.format(*m.groups())
                break
        self.print_usage(sys.stderr)
        self.exit(2, f"错误：参数不正确：{zh}（运行 {self.prog} -h 查看用法）\nError: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kam-xl",
        description="大客户管理工作簿的命令行工具 / key-account management workbook, headless.",
        epilog="退出码 exit status: 0 完成 done; 1 完成但发现问题 problems found; 2 无法运行 could not run")
    p.add_argument("--version", action="version", version=f"kam-xl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("new", help="新建主工作簿 / create a master workbook")
    s.add_argument("book", help="要创建的 .xlsm 文件 / the .xlsm to create")
    s.add_argument("--demo", action="store_true", help="填入演示数据 / fill with demo data")
    s.add_argument("--force", action="store_true", help="覆盖已存在的文件 / overwrite an existing file")
    s.set_defaults(func=cmd_new)

    s = sub.add_parser("regrade", help="重新分级 / recompute customer tiers")
    s.add_argument("book")
    s.add_argument("--as-of", type=_date, help="基准日期 YYYY-MM-DD（默认取参数表或今天）")
    s.add_argument("--dry-run", action="store_true", help="只显示变动，不写入 / show changes, write nothing")
    s.add_argument("-v", "--verbose", action="store_true", help="列出每一项变动 / list every change")
    s.set_defaults(func=cmd_regrade)

    s = sub.add_parser("validate", help="全面校验 / check selection rules, visits, receivables")
    s.add_argument("book")
    s.add_argument("--as-of", type=_date)
    s.add_argument("--json", action="store_true", help="以 JSON 输出校验结果 / print findings as JSON")
    s.add_argument("--dry-run", action="store_true", help="只检查，不写入 / check only, write nothing")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("report", help="生成管理报表 / management report")
    s.add_argument("book")
    s.add_argument("--out", help="报表文件或文件夹 / report file or folder")
    s.add_argument("--as-of", type=_date)
    s.add_argument("--pdf", action="store_true", help="同时生成 PDF / also write a PDF")
    s.add_argument("--month", type=_month, help="月度例会材料：该月总结与下月计划，如 2026-10 / meeting pack for YYYY-MM")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("form", help="打印客户认定申请表 / the printable certification application of a customer")
    s.add_argument("book")
    s.add_argument("customer", help="客户编号或客户名称 / customer id or name, e.g. KH000123")
    s.add_argument("--out", help="输出文件夹（默认工作簿所在文件夹）/ output folder")
    s.add_argument("--no-pdf", action="store_true", help="不生成 PDF / skip the PDF")
    s.set_defaults(func=cmd_form)

    s = sub.add_parser("card", help="客户档案卡（拜访前打印）/ one customer's file for a visit")
    s.add_argument("book")
    s.add_argument("customer", help="客户编号或客户名称 / customer id or name")
    s.add_argument("--out", help="输出文件夹（默认工作簿所在文件夹）/ output folder")
    s.add_argument("--as-of", type=_date)
    s.add_argument("--no-pdf", action="store_true", help="不生成 PDF / skip the PDF")
    s.set_defaults(func=cmd_card)

    s = sub.add_parser("import", help="导入历史档案 / import legacy archive spreadsheets")
    s.add_argument("book")
    s.add_argument("sources", nargs="+", help="文件或文件夹 / files or folders (.xls .xlsx .xlsm .csv)")
    s.add_argument("--dry-run", action="store_true", help="只分析，不写入 / analyse only, write nothing")
    s.add_argument("--report", help="另存导入报告 (.csv) / also write the import report to this file")
    s.add_argument("--suggest-mapping", metavar="FILE",
                   help="只写出将使用的列映射 (.csv/.xlsx)，不导入 / write the column mapping, import nothing")
    s.add_argument("--mapping", metavar="FILE",
                   help="按修改过的列映射导入 / import with a column mapping the user edited")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("distribute", help="分发：每人一本个人工作簿 / one workbook per person")
    s.add_argument("book", help="主工作簿 / the master workbook")
    s.add_argument("--out", required=True, help="个人工作簿的输出文件夹 / folder for the personal books")
    s.add_argument("--by", default="客户经理", help="按哪一列分人（默认 客户经理）/ the customer column naming the person")
    s.add_argument("--people", help="只给这些人分发，逗号分隔 / only these people, comma-separated")
    s.set_defaults(func=cmd_distribute)

    s = sub.add_parser("collect", help="汇总：把个人工作簿三方合并回主工作簿 / merge personal books back")
    s.add_argument("book", help="主工作簿 / the master workbook")
    s.add_argument("books", nargs="+", help="个人工作簿或所在文件夹 / personal books or their folder")
    s.add_argument("--prefer", choices=["master", "theirs"], default="master",
                   help="两边都改了同一格时采用哪一边（默认保留主工作簿）/ which side wins a conflict")
    s.add_argument("--report", help="汇总报告文件 (.xlsx) / where to write the merge report")
    s.set_defaults(func=cmd_collect)

    s = sub.add_parser("reassign", help="转交客户（人员离职或调整）/ move customers to another person")
    s.add_argument("book", help="主工作簿 / the master workbook")
    s.add_argument("--from", dest="src", required=True, help="原客户经理 / from")
    s.add_argument("--to", dest="dst", required=True, help="新客户经理 / to")
    s.add_argument("--customers", help="只转交这些客户编号，逗号分隔 / only these customer ids")
    s.set_defaults(func=cmd_reassign)

    s = sub.add_parser("db", help="主数据放在数据库中 / the master in a database")
    dbs = s.add_subparsers(dest="db_command", metavar="DB_COMMAND", parser_class=_Parser, required=True)
    d = dbs.add_parser("init", help="建立数据库 / create the schema")
    d.add_argument("url", help="sqlite:///大客户管理.db")
    d = dbs.add_parser("upgrade", help="把旧版本建立的数据库升级到当前结构 / upgrade an older schema")
    d.add_argument("url")
    d = dbs.add_parser("load", help="把主工作簿的数据复制进数据库（可重复运行）/ copy a workbook in")
    d.add_argument("url")
    d.add_argument("book")
    s.set_defaults(func=cmd_db)

    s = sub.add_parser("export", help="从数据库导出主工作簿 / write a master workbook from the database")
    s.add_argument("url")
    s.add_argument("out", help="导出的 .xlsm / the .xlsm to write")
    s.add_argument("--people", help="只导出这些客户经理的客户 / only these people's customers")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("demo", help="生成演示工作簿并运行全部操作 / build the demo workbook and run every action")
    s.add_argument("--dir", default="workbooks", help="输出文件夹 / output folder (default: workbooks)")
    s.add_argument("--no-pdf", action="store_true", help="不生成 PDF / skip the PDF")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: bad arguments exit 2, --help exits 0
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_FAIL
    try:
        return args.func(args)
    except KamError as e:
        print(e.message(), file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # output piped into head & co.
        return EXIT_OK
    except KeyboardInterrupt:
        print("已中断，工作簿未改动 / interrupted; workbook unchanged", file=sys.stderr)
        return EXIT_FAIL
    except OSError as e:  # a file the program had to read or write: name it, no traceback
        where = f"“{e.filename}”" if e.filename else ""
        print(f"错误：文件操作失败{where}：{e.strerror or e}，工作簿未改动\n"
              f"Error: file operation failed{' ' + repr(str(e.filename)) if e.filename else ''}: "
              f"{e.strerror or e}; workbook unchanged", file=sys.stderr)
        return EXIT_FAIL
    except Exception as e:  # the program's own bug: still no traceback for the user
        log = Path.home() / ".kam_xl_error.log"
        try:
            log.write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            pass
        print(f"错误：程序内部错误（{type(e).__name__}: {e}），工作簿未改动；详情见 {log}\n"
              f"Error: internal error ({type(e).__name__}); workbook unchanged; details in {log}",
              file=sys.stderr)
        return EXIT_FAIL


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
