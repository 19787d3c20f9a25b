"""The program's own failures.  Each carries a Chinese and an English message;
the CLI turns them into one clear line and exit code 2, never a traceback."""
from __future__ import annotations


class KamError(Exception):
    """kam_xl 无法完成操作 / kam_xl could not run."""
    exit_code = 2
    zh = "无法完成操作"
    en = "could not run"

    def __init__(self, path: object = None, detail: str = "", detail_en: str = ""):
        self.path = str(path) if path is not None else ""
        self.detail = detail
        self.detail_en = detail_en
        super().__init__(self.message())

    def message(self) -> str:
        where = f"“{self.path}”" if self.path else ""
        zh = f"{self.zh}{where}" + (f"：{self.detail}" if self.detail else "")
        en = f"{self.en}" + (f" '{self.path}'" if self.path else "") + (
            f": {self.detail_en}" if self.detail_en else "")
        return f"错误：{zh}\nError: {en}"


class WorkbookNotFound(KamError):
    zh, en = "找不到工作簿", "workbook not found"


class WorkbookLocked(KamError):
    zh, en = "工作簿正在被 Excel、WPS 或 LibreOffice 打开（存在锁定文件），请先关闭后再运行", \
        "workbook is open in Excel, WPS or LibreOffice (lock file present); close it first"


class WorkbookReadOnly(KamError):
    zh, en = "工作簿或所在文件夹是只读的，本次未写入（请取消只读属性或把工作簿复制到可写的文件夹）", \
        "workbook or its folder is read-only; nothing written"


class ContentInTheWay(KamError):
    zh, en = "表格下方有不属于表格的内容，写入会覆盖它们，本次未写入", \
        "content below a table would be overwritten; nothing written"


class TableLayoutUnsupported(KamError):
    zh, en = "表格结构无法处理，本次未读写", "unsupported table layout; nothing read or written"


class WorkbookUnreadable(KamError):
    zh, en = "无法读取工作簿（文件损坏、加密或不是 Excel 工作簿）", \
        "cannot read workbook (corrupt, encrypted or not an Excel workbook)"


class WorkbookChanged(KamError):
    zh, en = "工作簿在读取后被其他程序修改，为防止覆盖他人修改，本次未写入，请重新运行", \
        "workbook changed on disk since it was read; nothing written, run again"


class NotAMasterWorkbook(KamError):
    zh, en = "不是 kam_xl 主工作簿（缺少规定的工作表或表格）", \
        "not a kam_xl master workbook (missing sheets or tables)"


class BadArgument(KamError):
    zh, en = "参数错误", "bad argument"


class FileOperationFailed(KamError):
    zh, en = "文件操作失败，工作簿未改动", "file operation failed; the workbook is unchanged"


class WriteFailed(KamError):
    zh, en = "写入失败，原工作簿未改动", "write failed; the original workbook is unchanged"


class ReportWriteFailed(KamError):
    zh, en = "无法写入报表文件（磁盘已满或文件夹不可写），未留下不完整的文件", \
        "cannot write the report (disk full or folder not writable); no partial file left"


class BackupFailed(KamError):
    zh, en = "无法保存备份，工作簿未改动", "cannot keep a backup; the workbook is unchanged"


class RulesInvalid(KamError):
    zh, en = "分级规则表或参数表中有无法识别的单元格，为免错误定级，本次未运行、未写入", \
        "the tier rule table or the parameters hold cells that cannot be read; nothing run, nothing written"
