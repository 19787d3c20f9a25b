"""Reading untrusted legacy files in a child process.

A damaged or crafted .xls/.xlsx/.csv can make a reader panic, abort, loop or try to
allocate gigabytes; in a child process with a memory cap and a time limit that becomes
one "unreadable file" line in the import report instead of a dead import.  Every
source, text files included, is parsed there.

The child is started in Python's isolated mode (-I: no current folder, no PYTHONPATH,
no user site-packages on the module path) and imports this package from where the
parent found it, so a pickle.py or csv.py in the folder the user works in never runs.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from .readers import SheetGrid, UnreadableSource, read_source, refuse_special

MEMORY_LIMIT = 2 << 30    # bytes of address space for the child
TIME_LIMIT = 600          # seconds
MAX_RESULT = 1 << 30      # bytes of parsed rows the parent accepts from one file

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = ("import sys\n"
          "sys.path.insert(0, sys.argv[1])\n"
          "from kam_xl.importing.sandbox import _child\n"
          "_child(sys.argv[2])\n")


def _limit_memory() -> None:  # runs in the child before exec
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def read_isolated(path: Path, root: Path | None = None, timeout: float = TIME_LIMIT) -> list[SheetGrid]:
    """The file's sheets, read in the child.  `root`: the archive folder the file was
    found in (a link out of it is refused)."""
    refuse_special(path, root)  # a FIFO would block the child until the time limit; refuse by name now
    try:
        r = subprocess.run([sys.executable, "-I", "-c", _CHILD, _PACKAGE_ROOT, str(path)],
                           capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           preexec_fn=_limit_memory if sys.platform != "win32" else None)
    except subprocess.TimeoutExpired:
        raise UnreadableSource(f"读取超时（超过 {timeout:.0f} 秒），文件可能已损坏") from None
    if r.returncode != 0 or not r.stdout:
        raise UnreadableSource("文件已损坏或内容过大，读取时出错（已超出 2 GB 内存上限或读取程序异常退出）")
    if len(r.stdout) > MAX_RESULT:
        raise UnreadableSource("文件内容过多（解析后超过 1 GB），请拆分成几个文件再导入")
    result = pickle.loads(r.stdout)
    if isinstance(result, str):
        raise UnreadableSource(result)
    return result


def _child(path: str) -> None:
    try:
        result: object = read_source(Path(path))
    except UnreadableSource as e:
        result = str(e)
    except MemoryError:
        result = "文件过大或结构异常，读取时超出内存上限（2 GB），未导入"
    except BaseException as e:  # noqa: BLE001 — a native panic, a bug: report, do not crash the parent
        result = f"文件已损坏或无法解析（{type(e).__name__}）"
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.flush()
