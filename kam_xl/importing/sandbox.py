"""Reading untrusted legacy workbooks in a child process.

A damaged .xls/.xlsx can make the native reader panic, abort or try to
allocate gigabytes; in a child process with a memory cap and a time limit
that becomes one "unreadable file" line in the import report instead of a
dead import.  CSV files are parsed in-process by the csv module.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from .readers import SheetGrid, UnreadableSource, read_source

MEMORY_LIMIT = 4 << 30   # bytes of address space for the child
TIME_LIMIT = 600         # seconds


def _limit_memory() -> None:  # runs in the child before exec
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def read_isolated(path: Path, timeout: float = TIME_LIMIT) -> list[SheetGrid]:
    if path.suffix.lower() == ".csv":
        return read_source(path)
    try:
        r = subprocess.run([sys.executable, "-m", "kam_xl.importing.sandbox", str(path)],
                           capture_output=True, timeout=timeout,
                           preexec_fn=_limit_memory if sys.platform != "win32" else None)
    except subprocess.TimeoutExpired:
        raise UnreadableSource(f"读取超时（超过 {timeout:.0f} 秒），文件可能已损坏") from None
    if r.returncode != 0 or not r.stdout:
        raise UnreadableSource("文件已损坏，读取时出错")
    result = pickle.loads(r.stdout)
    if isinstance(result, str):
        raise UnreadableSource(result)
    return result


def _child(path: str) -> None:
    try:
        result: object = read_source(Path(path))
    except UnreadableSource as e:
        result = str(e)
    except BaseException as e:  # noqa: BLE001 — a native panic, a bug: report, do not crash the parent
        result = f"文件已损坏或无法解析（{type(e).__name__}）"
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.flush()


if __name__ == "__main__":
    _child(sys.argv[1])
