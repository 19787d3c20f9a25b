"""Reading untrusted legacy files in a child process.

A damaged or crafted .xls/.xlsx/.csv can make a reader panic, abort, loop or try to
allocate gigabytes; in a child process with a memory cap and a time limit that becomes
one "unreadable file" line in the import report instead of a dead import.  Every
source, text files included, is read there — and its rows classified (parsing.parse_file),
so the parent reads the master book meanwhile, on the other core.

The child is started in Python's isolated mode (-I: no current folder, no PYTHONPATH,
no user site-packages on the module path) and imports this package from where the
parent found it, so a pickle.py or csv.py in the folder the user works in never runs.
"""
from __future__ import annotations

import gc
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Callable

from .readers import UnreadableSource, refuse_special

MEMORY_LIMIT = 2 << 30    # bytes of address space for the child
TIME_LIMIT = 600          # seconds
MAX_RESULT = 1 << 30      # bytes of parsed rows the parent accepts from one file

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


# the child's first lines, before it imports anything of ours or a reader's: its memory cap (set by
# the child itself — no code runs between fork and exec, which with the parent's other threads
# could wait forever on a lock one of them held)
_CAP = ("try:\n"
        "    import resource\n"
        f"    resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        "except (ImportError, ValueError, OSError):\n"
        "    pass\n")


def run_isolated(path: Path, root: Path | None, program: str, payload: object = None,
                 timeout: float = TIME_LIMIT) -> object:
    """What `program` (a child's code: it gets the package folder and the file as argv[1:],
    `payload` pickled on stdin, and answers with child_main) gives for the file."""
    refuse_special(path, root)  # a FIFO would block the child until the time limit; refuse by name now
    try:
        r = subprocess.run([sys.executable, "-I", "-c", _CAP + program, _PACKAGE_ROOT, str(path)],
                           capture_output=True, timeout=timeout,
                           input=pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
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


def child_main(path: str, work: Callable[[Path, object], object]) -> None:
    """A child's answer on stdout: work(the file, the payload), or why it could not."""
    try:
        payload = pickle.load(sys.stdin.buffer)
        result: object = work(Path(path), payload)
    except UnreadableSource as e:
        result = str(e)
    except MemoryError:
        result = "文件过大或结构异常，读取时超出内存上限（2 GB），未导入"
    except BaseException as e:  # noqa: BLE001 — a native panic, a bug: report, do not crash the parent
        result = f"文件已损坏或无法解析（{type(e).__name__}）"
    gc.disable()  # (pickling the answer makes no cycles, and the process ends after it)
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.flush()
