"""Button macros (RunPython from KamButtons.bas).  One function per button:
get the calling book, hand it to the same service the CLI uses, tell the user.
Only Windows/Mac Excel can run these live; the tests call them with a stand-in
book through `_run(..., book=...)`."""
from __future__ import annotations

import getpass
import traceback
from pathlib import Path

from .. import layout as L
from ..errors import KamError
from .. import files
from ..services import actions as services
from .book import XlBook

TITLE = "大客户管理"


def _caller():
    import xlwings as xw
    return xw.Book.caller()


def _operator(book) -> str:
    try:
        return str(book.app.api.UserName)
    except Exception:
        try:
            return getpass.getuser()
        except Exception:
            return "未知"


def _alert(book, text: str) -> None:
    try:
        book.app.alert(text, title=TITLE)
    except Exception:
        pass


def _run(action, book=None):
    book = book if book is not None else _caller()
    failed = True
    try:
        message = action(book)
        failed = False
    except KamError as e:
        message = e.message()
    except Exception as e:  # the program's own bug: a message in the book, never an xlwings traceback
        log = Path.home() / ".kam_xl_error.log"
        try:
            log.write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            pass
        message = (f"错误：程序内部错误（{type(e).__name__}: {e}），工作簿未改动；详情见 {log}\n"
                   f"Error: internal error ({type(e).__name__}); workbook unchanged")
    _alert(book, message)
    if failed:  # the status cell says so too (an action that ran writes its own status)
        try:
            book.sheets[L.SHEET_HOME].range(L.HOME_STATUS_CELL).value = message.splitlines()[0][:200]
        except Exception:
            pass
    return message


def regrade(book=None):
    def act(b):
        res = services.regrade_book(XlBook(b), _operator(b))
        return "\n".join(res.summary_lines())
    return _run(act, book)


def validate(book=None):
    def act(b):
        rep = services.validate_book(XlBook(b))
        return "\n".join(rep.summary_lines()[:15]) + "\n问题单元格已标红，详见“校验结果”表。"
    return _run(act, book)


def report(book=None):
    """The management report with the monthly meeting pack of the month just ended."""
    def act(b):
        folder = Path(b.fullname).parent
        outs = services.report_book(XlBook(b), Path(b.fullname), out=str(folder), month=services.MEETING_AUTO)
        return "报表已生成（含月度例会材料）：\n" + "\n".join(str(p) for p in outs)
    return _run(act, book)


def _per_customer(book, given: str | None, title: str, action, done: str):
    """A button that asks for one customer (Excel's InputBox: an id or a name) and writes
    that customer's printable file beside the book; the notices (no LibreOffice …) with it."""
    def act(b):
        who = given
        if who is None:
            who = b.app.api.InputBox("请输入客户编号或客户名称（如 KH000123）", title, "", Type=2)
        if not who or who is False:
            return "未输入客户，未生成。"
        outs = action(XlBook(b), Path(b.fullname), str(who), out=str(Path(b.fullname).parent))
        return f"{done}：\n" + "\n".join(str(p) for p in outs) + "".join(
            "\n" + str(n) for n in getattr(outs, "notices", ()))
    return _run(act, book)


def form(book=None, customer_id: str | None = None):
    """客户认定申请表 of the customer the user names."""
    return _per_customer(book, customer_id, "打印客户认定申请表", services.form_book, "客户认定申请表已生成")


def card(book=None, customer: str | None = None):
    """客户档案卡 of the customer the user names."""
    return _per_customer(book, customer, "客户档案卡", services.card_book, "客户档案卡已生成")


def _ask_files(book, kinds: str = "Excel/CSV (*.xls;*.xlsx;*.xlsm;*.csv),*.xls;*.xlsx;*.xlsm;*.csv",
               title: str = "选择历史档案") -> list[str]:
    """Excel's own multi-select file dialog (Windows COM)."""
    picked = book.app.api.GetOpenFilename(kinds, 1, title, None, True)
    if not picked or picked is False:
        return []
    return [str(p) for p in (picked if isinstance(picked, (list, tuple)) else [picked])]


def import_archives(book=None, files: list[str] | None = None):
    def act(b):
        paths = files if files is not None else _ask_files(b)
        if not paths:
            return "未选择文件，未导入。"
        result = services.import_book(XlBook(b), paths)
        return "\n".join(result.summary_lines()[:15])
    return _run(act, book)


def distribute(book=None):
    """分发: the personal books, in a folder beside this one."""
    def act(b):
        master = Path(b.fullname)
        folder = master.with_name(f"{master.stem}_个人工作簿")
        folder.mkdir(exist_ok=True)
        res = files.run_distribute(master, folder, store=XlBook(b))
        return "\n".join(res.summary_lines()) + "\n请把各人的工作簿发给本人；交回后用“汇总”合并。"
    return _run(act, book)


def collect(book=None, books: list[str] | None = None):
    """汇总: the returned books merged into this one; the 汇总报告 beside it."""
    def act(b):
        paths = books if books is not None else _ask_files(b, "个人工作簿 (*.xlsm),*.xlsm", "选择交回的个人工作簿")
        if not paths:
            return "未选择工作簿，未汇总。"
        res = files.run_collect(Path(b.fullname), paths, store=XlBook(b))
        return "\n".join(res.summary_lines()[:15]) + f"\n汇总报告：{res.report_path}"
    return _run(act, book)
