"""Scale benchmark: regrade, validate, a legacy import, report, the floor and an
openpyxl load+save, on one generated book, interleaved, each in its own process
(so peak memory is that action's own).  Prints medians, peak RSS and ratios.

    python benchmarks/bench.py --customers 100000 --visits 400000 --receivables 200000 --rounds 3

The floor is what any approach must pay for this book: inflate and parse the
three data sheets' XML and write the zip back.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACTIONS = {
    "regrade": "from kam_xl.files import run_regrade; run_regrade(BOOK, operator='bench')",
    "validate": "from kam_xl.files import run_validate; run_validate(BOOK)",
    "import": "from kam_xl.files import run_import; run_import(BOOK, [LEGACY])",
    # every row a new customer, into a book with no customers yet (the first import of an archive)
    "import-new": "from kam_xl.files import run_import; run_import(BOOK, [NEW])",
    "report": "from kam_xl.files import run_report; run_report(BOOK, out=OUT)",
    "floor": "from benchmarks.bench import floor; floor(BOOK)",
    "openpyxl": ("import openpyxl; wb = openpyxl.load_workbook(BOOK, keep_vba=True); "
                 "wb.save(BOOK)"),
}


def floor(book: str) -> None:
    """The least any approach pays to read this book's data and write it back:
    inflate the three data sheets, parse their XML (expat, no tree), deflate them
    into a new zip the way the engine deflates big parts (fast level, two threads)
    with every other member copied."""
    import pyexpat
    import zipfile
    from kam_xl import layout as L
    from kam_xl.workbook.package import read_package
    from kam_xl.workbook.rawzip import copy_with_replacements
    with zipfile.ZipFile(book) as z:
        pkg = read_package(z)
        parts = {pkg.sheets[t.sheet]: z.read(pkg.sheets[t.sheet]) for t in L.DATA_TABLES}
    for data in parts.values():
        pyexpat.ParserCreate().Parse(data, True)
    tmp = book + ".floor"
    copy_with_replacements(book, tmp, parts)
    os.replace(tmp, book)


def needs_of(action: str):
    """The needs an action declares (which tables it reads)."""
    from kam_xl import layout as L
    from kam_xl.services import actions
    return {"regrade": actions.REGRADE_NEEDS, "validate": actions.VALIDATE_NEEDS, "report": actions.REPORT_NEEDS,
            "import": actions.import_needs({L.CUSTOMERS.name}),
            "import-new": actions.import_needs({L.CUSTOMERS.name})}[action]


def written_parts(before: Path, after: Path) -> list[str]:
    """The zip members an action wrote: new, or with another checksum than before."""
    import zipfile
    with zipfile.ZipFile(before) as a, zipfile.ZipFile(after) as b:
        old = {i.filename: i.CRC for i in a.infolist()}
        return sorted(i.filename for i in b.infolist() if old.get(i.filename) != i.CRC)


def action_floor(book: str, tables: list[str], parts: list[str]) -> None:
    """The least this action pays (PRODUCT.md performance issue): inflate and parse (expat, no
    tree) exactly the sheets of the tables it reads, and deflate the parts it writes into a new
    zip with every other member copied — what any approach pays to do the same reading and writing."""
    import pyexpat
    import zipfile
    from kam_xl import layout as L
    from kam_xl.workbook.package import read_package
    from kam_xl.workbook.rawzip import copy_with_replacements
    with zipfile.ZipFile(book) as z:
        pkg = read_package(z)
        names = set(z.namelist())
        read = {pkg.sheets[L.TABLES[t].sheet] for t in tables if L.TABLES[t].sheet in pkg.sheets}
        for part in sorted(read):
            pyexpat.ParserCreate().Parse(z.read(part), True)
        out = {p: z.read(p) for p in parts if p in names}
    tmp = book + ".floor"
    copy_with_replacements(book, tmp, out)
    os.replace(tmp, book)


def pandas_read(book: str, tables: list[str]) -> None:
    """The read-only reference a user would reach for: pandas with the calamine engine reading
    the same sheets (no typing of our own, no writing)."""
    import pandas as pd
    from kam_xl import layout as L
    sheets = sorted({L.TABLES[t].sheet for t in tables})
    pd.read_excel(book, sheet_name=sheets, engine="calamine")


def generate(folder: Path, n_cust: int, n_visits: int, n_recv: int) -> tuple[Path, Path]:
    from kam_xl import demo
    from kam_xl.workbook.builder import build_master
    book = folder / f"bench_{n_cust}.xlsm"
    legacy = folder / f"legacy_{n_cust}.csv"
    empty, new = folder / "empty.xlsm", folder / f"new_{n_cust}.csv"
    if not empty.exists():
        build_master(empty, None, demo.demo_settings())
    if book.exists() and legacy.exists() and new.exists():
        return book, legacy
    t = time.perf_counter()
    data = demo.build_data(n_customers=n_cust, n_visits=n_visits, n_receivables=n_recv, plant=False)
    if not book.exists():
        build_master(book, data, demo.demo_settings())
    write_legacy(legacy, data["Customers"])
    write_legacy(new, data["Customers"], branches=False)
    print(f"generated {book.name} ({book.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.0f} s",
          flush=True)
    return book, legacy


def write_legacy(path: Path, customers: list[dict], branches: bool = True) -> None:
    """A legacy archive as big as the book: every other row an existing customer (it
    merges), the others branches nobody has on file yet (they are appended); without
    branches, every customer as it is (all new to an empty book)."""
    import csv
    credit = {"好": "优", "较好": "良", "一般": "中", "差": "差"}
    with open(path, "w", encoding="gb18030", newline="") as f:
        w = csv.writer(f)
        w.writerow(["单位名称", "业务员", "年用量（万元）", "回款情况", "电话"])
        for i, c in enumerate(customers):
            name = c["客户名称"] if i % 2 == 0 or not branches else c["客户名称"] + "第二分公司"
            w.writerow([name, c["客户经理"], round(c["年用量(元)"] / 10000, 4), credit[c["回款信誉"]],
                        c["联系电话"]])


def run_once(action: str, master: Path, legacy: Path, work: Path) -> tuple[float, float]:
    book = work / f"{action}.xlsm"
    shutil.copy2(master.with_name("empty.xlsm") if action == "import-new" else master, book)
    new = legacy.with_name(legacy.name.replace("legacy_", "new_"))
    for p in (work / "备份").glob("*"):
        p.unlink()
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); BOOK={str(book)!r}; LEGACY={str(legacy)!r}; NEW={str(new)!r}; "
            f"OUT={str(work / 'reports')!r}; t=time.perf_counter(); {ACTIONS[action]}; "
            f"print('ELAPSED', time.perf_counter()-t)")
    return measure(action, code, work)


def run_floor(action: str, base: Path, tables: list[str], parts: list[str], work: Path) -> float:
    book = work / f"floor-{action}.xlsm"
    shutil.copy2(base, book)
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench import action_floor; "
            f"t=time.perf_counter(); action_floor({str(book)!r}, {tables!r}, {parts!r}); "
            f"print('ELAPSED', time.perf_counter()-t)")
    return measure(f"floor-{action}", code, work)[0]


def run_pandas(action: str, base: Path, tables: list[str], work: Path) -> float:
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench import pandas_read; "
            f"t=time.perf_counter(); pandas_read({str(base)!r}, {tables!r}); print('ELAPSED', time.perf_counter()-t)")
    return measure(f"pandas-{action}", code, work)[0]


def measure(name: str, code: str, work: Path) -> tuple[float, float]:
    """Run `code` (which prints 'ELAPSED s' last) in its own process: (seconds, its own peak MiB)."""
    out_f, err_f = work / f"{name}.out", work / f"{name}.err"
    with open(out_f, "w") as o, open(err_f, "w") as e:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=o, stderr=e)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name} failed: {err_f.read_text()[-2000:]}")
    elapsed = float(out_f.read_text().strip().splitlines()[-1].split()[1])
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100000)
    ap.add_argument("--visits", type=int, default=400000)
    ap.add_argument("--receivables", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--openpyxl-rounds", type=int, default=1, help="the reference is slow; 0 skips it")
    ap.add_argument("--dir", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--libreoffice", action="store_true", help="also time LibreOffice's full recalculation")
    ap.add_argument("--only", help="comma-separated actions to run (the floor always runs)")
    ap.add_argument("--per-action-floors", action="store_true",
                    help="also each action's own floor (the sheets it reads parsed, the parts it writes deflated) "
                         "and pandas+calamine reading the same sheets")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    # generated in a child: a child forked from a parent that built a 100k book would inherit
    # its peak RSS, and every action would report it as its own
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                    f"from benchmarks.bench import generate; from pathlib import Path; "
                    f"generate(Path({str(folder)!r}), {args.customers}, {args.visits}, {args.receivables})"],
                   check=True)
    master, legacy = generate(folder, args.customers, args.visits, args.receivables)
    work = folder / "work"
    work.mkdir(exist_ok=True)
    times: dict[str, list[float]] = {a: [] for a in ACTIONS}
    peaks: dict[str, float] = {a: 0.0 for a in ACTIONS}
    order = [a for a in ACTIONS if a != "openpyxl"]
    if args.only:
        wanted = set(args.only.split(",")) | {"floor"}
        order = [a for a in order if a in wanted]
    own: dict[str, list[float]] = {}
    pandas_t: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for a in order + (["openpyxl"] if r < args.openpyxl_rounds else []):
            t, peak = run_once(a, master, legacy, work)
            times[a].append(t)
            peaks[a] = max(peaks[a], peak)
            print(f"round {r + 1} {a:9s} {t:8.2f} s  peak {peak:7.0f} MB", flush=True)
            if args.per_action_floors and a not in ("floor", "openpyxl"):
                base = master.with_name("empty.xlsm") if a == "import-new" else master
                parts = written_parts(base, work / f"{a}.xlsm")
                tables = list(needs_of(a).tables)
                f_t = run_floor(a, base, tables, parts, work)
                own.setdefault(a, []).append(f_t)
                p_t = run_pandas(a, base, tables, work)
                pandas_t.setdefault(a, []).append(p_t)
                print(f"round {r + 1} {a:9s} own floor {f_t:6.2f} s (reads {len(tables)} tables, writes "
                      f"{len(parts)} parts)  pandas+calamine read {p_t:6.2f} s", flush=True)
    med = {a: statistics.median(v) for a, v in times.items() if v}
    if own:
        print("\naction      median s   own floor s   action/own floor   pandas read s")
        for a in own:
            f = statistics.median(own[a])
            print(f"{a:10s} {med[a]:9.2f} {f:13.2f} {med[a] / f:18.2f} {statistics.median(pandas_t[a]):15.2f}")
    print("\naction      median s   peak MB   action/floor   openpyxl/action")
    for a, m in med.items():
        ratio_floor = m / med["floor"]
        ratio_ref = med["openpyxl"] / m if "openpyxl" in med else float("nan")
        print(f"{a:10s} {m:9.2f} {peaks[a]:9.0f} {ratio_floor:13.2f} {ratio_ref:17.1f}")
    lo = libreoffice_recalc(master, work) if args.libreoffice else None
    print(f"\nbook: {master.stat().st_size / 2**20:.1f} MiB")
    if lo:
        print(f"LibreOffice (macros off): load {lo['load']:.1f} s, full recalculation {lo['calculate']:.1f} s "
              f"of every native formula cell ({args.customers} 建议等级 + {args.receivables} × 3 receivable columns)")
    if args.json:
        Path(args.json).write_text(json.dumps({"median_s": med, "peak_mb": peaks, "libreoffice": lo,
                                               "own_floor_s": {a: statistics.median(v) for a, v in own.items()},
                                               "pandas_s": {a: statistics.median(v) for a, v in pandas_t.items()},
                                               "book_mib": master.stat().st_size / 2**20,
                                               "sizes": vars(args)}, indent=1))


def libreoffice_recalc(book: Path, work: Path) -> dict | None:
    """LibreOffice Calc loading the book with macros disabled and recalculating everything
    (tests/tools/lo_recalc.py through python3-uno): what a book without Python costs."""
    sys.path.insert(0, str(ROOT))
    from tests.tools import lo
    if not lo.available():
        print("LibreOffice with python3-uno not installed: no recalculation measured")
        return None
    copy = work / "lo.xlsm"
    shutil.copy2(book, copy)
    return lo.recalc(copy, [])["seconds"]


if __name__ == "__main__":
    main()
