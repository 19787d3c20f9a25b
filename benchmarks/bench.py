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
    "floor": "from benchmarks.bench import floor; floor(BOOK)",  # the old floor: the baseline
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


def written_contents(after: str, parts: list[str]) -> dict[str, bytes]:
    """The parts as the action wrote them (inflated before the floor's clock starts: making
    their bytes is the action's work, deflating them is what any approach pays)."""
    import zipfile
    with zipfile.ZipFile(after) as z:
        return {p: z.read(p) for p in parts}


def action_floor(book: str, tables: list[str], written: dict[str, bytes], sources: list[str] = ()) -> None:
    """The least this action pays (PRODUCT.md performance issue): read every source file it
    imports (decoded and split into CSV fields), inflate and parse (expat, no tree) exactly the
    sheets of the tables it reads, and deflate the parts it writes, as it wrote them, into a new
    zip with every other member copied — what any approach pays to do the same reading and writing."""
    import csv
    import io
    import pyexpat
    import zipfile
    from kam_xl import layout as L
    from kam_xl.workbook.package import read_package
    from kam_xl.workbook.rawzip import copy_with_replacements
    for src in sources:
        with open(src, encoding="gb18030", newline="") as f:
            for _ in csv.reader(io.StringIO(f.read())):
                pass
    with zipfile.ZipFile(book) as z:
        pkg = read_package(z)
        read = {pkg.sheets[L.TABLES[t].sheet] for t in tables if L.TABLES[t].sheet in pkg.sheets}
        for part in sorted(read):
            pyexpat.ParserCreate().Parse(z.read(part), True)
    tmp = book + ".floor"
    copy_with_replacements(book, tmp, written)
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


def new_csv(legacy: Path) -> Path:
    """The all-new archive generated beside the legacy one (import-new's source)."""
    return legacy.with_name(legacy.name.replace("legacy_", "new_"))


def run_once(action: str, master: Path, legacy: Path, work: Path) -> tuple[float, float]:
    book = work / f"{action}.xlsm"
    shutil.copy2(master.with_name("empty.xlsm") if action == "import-new" else master, book)
    new = new_csv(legacy)
    for p in (work / "备份").glob("*"):
        p.unlink()
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); BOOK={str(book)!r}; LEGACY={str(legacy)!r}; NEW={str(new)!r}; "
            f"OUT={str(work / 'reports')!r}; t=time.perf_counter(); {ACTIONS[action]}; "
            f"print('ELAPSED', time.perf_counter()-t)")
    return measure(action, code, work)


def run_floor(action: str, base: Path, tables: list[str], parts: list[str], work: Path,
              sources: list[str] = ()) -> float:
    book = work / f"floor-{action}.xlsm"
    shutil.copy2(base, book)
    after = work / f"{action}.xlsm"
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); "
            f"from benchmarks.bench import action_floor, written_contents; "
            f"W = written_contents({str(after)!r}, {parts!r}); "
            f"t=time.perf_counter(); action_floor({str(book)!r}, {tables!r}, W, {list(sources)!r}); "
            f"print('ELAPSED', time.perf_counter()-t)")
    return measure(f"floor-{action}", code, work)[0]


def run_pandas(action: str, base: Path, tables: list[str], work: Path) -> float:
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench import pandas_read; "
            f"t=time.perf_counter(); pandas_read({str(base)!r}, {tables!r}); print('ELAPSED', time.perf_counter()-t)")
    return measure(f"pandas-{action}", code, work)[0]


# the whole process's seconds of the last run of each name: the interpreter's start and end too (an
# action that leaves its records to the interpreter's end to free does not show that in ELAPSED)
WHOLE: dict[str, float] = {}
# its CPU seconds (user + system) with every process it started and waited for (the helper, the forks):
# the work done, which a slower or faster machine state changes less than the ratio of wall seconds
# between an action on two cores and a floor on one
CPU: dict[str, float] = {}


def measure(name: str, code: str, work: Path) -> tuple[float, float]:
    """Run `code` (which prints 'ELAPSED s' last) in its own process: (seconds, its own peak MiB);
    WHOLE[name]: the process's seconds from its start to its end."""
    out_f, err_f = work / f"{name}.out", work / f"{name}.err"
    with open(out_f, "w") as o, open(err_f, "w") as e:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=o, stderr=e)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        WHOLE[name] = time.perf_counter() - started
        CPU[name] = usage.ru_utime + usage.ru_stime
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name} failed: {err_f.read_text()[-2000:]}")
    elapsed = float(out_f.read_text().strip().splitlines()[-1].split()[1])
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100000)
    ap.add_argument("--visits", type=int, default=400000)
    ap.add_argument("--receivables", type=int, default=200000)
    ap.add_argument("--growth", help="comma-separated customer counts (visits and receivables in the same "
                                     "proportion as --customers) run one after the other, e.g. 10000,30000,100000; "
                                     "prints the time per 10,000 customers at each size")
    ap.add_argument("--regenerate", action="store_true",
                    help="generate the books again (timed, with the generator's own peak memory)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--openpyxl-rounds", type=int, default=1,
                    help="the reference is slow; 0 skips it (with --growth: at the largest size only)")
    ap.add_argument("--dir", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--libreoffice", action="store_true", help="also time LibreOffice's full recalculation")
    ap.add_argument("--only", help="comma-separated actions to run (the floor always runs)")
    ap.add_argument("--per-action-floors", action="store_true",
                    help="also each action's own floor (the sources it imports read, the sheets it reads parsed, "
                         "the parts it writes deflated) and pandas+calamine reading the same sheets")
    args = ap.parse_args()
    started = time.perf_counter()
    compile_program()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in args.growth.split(",")] if args.growth else [args.customers]
    results = {}
    for n in sizes:
        n_visits = args.visits * n // args.customers
        n_recv = args.receivables * n // args.customers
        print(f"\n== {n} customers, {n_visits} visits, {n_recv} receivables ==", flush=True)
        results[n] = run_size(args, folder, n, n_visits, n_recv, openpyxl=(n == max(sizes)))
    if len(sizes) > 1:
        print_growth(results)
    total = time.perf_counter() - started
    ref = WHOLE.get("openpyxl")  # the reference's own share (its process, start to end): the machine's state moves it most
    print(f"\nthe whole benchmark: {total:.0f} s ({total / 60:.1f} min)"
          + (f", of which openpyxl's load+save {ref:.0f} s and everything else {(total - ref) / 60:.1f} min" if ref else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": {str(n): r for n, r in results.items()},
                                               "total_s": total, "args": vars(args)}, indent=1))


def compile_program() -> None:
    """The program's bytecode written before anything is timed, as an installed program has it (pip
    compiles a package it installs; an editable checkout writes it on the first run).  Where the
    environment says not to write it (PYTHONDONTWRITEBYTECODE, as on some CI machines), every action
    and its helper process would otherwise compile the whole package again each time it starts."""
    import compileall
    compileall.compile_dir(str(ROOT / "kam_xl"), quiet=1)


def generate_timed(folder: Path, n_cust: int, n_visits: int, n_recv: int, fresh: bool) -> dict:
    """Generate the book and the legacy files in a child process (a child forked from a parent
    that built a 100k book would inherit its peak RSS, and every action would report it as its
    own): its seconds and its own peak memory."""
    if fresh:
        for name in (f"bench_{n_cust}.xlsm", f"legacy_{n_cust}.csv", f"new_{n_cust}.csv", "empty.xlsm"):
            (folder / name).unlink(missing_ok=True)
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench import generate; "
            f"from pathlib import Path; t=time.perf_counter(); "
            f"generate(Path({str(folder)!r}), {n_cust}, {n_visits}, {n_recv}); print('ELAPSED', time.perf_counter()-t)")
    folder.joinpath("work").mkdir(exist_ok=True)
    t, peak = measure(f"generate-{n_cust}", code, folder / "work")
    return {"s": t, "peak_mb": peak}


def run_size(args, folder: Path, n_cust: int, n_visits: int, n_recv: int, openpyxl: bool) -> dict:
    gen = generate_timed(folder, n_cust, n_visits, n_recv, args.regenerate)
    print(f"generation {gen['s']:.1f} s  peak {gen['peak_mb']:.0f} MB" + ("" if args.regenerate else
                                                                            " (the files were there already)"),
          flush=True)
    master, legacy = folder / f"bench_{n_cust}.xlsm", folder / f"legacy_{n_cust}.csv"
    work = folder / "work"
    work.mkdir(exist_ok=True)
    times: dict[str, list[float]] = {a: [] for a in ACTIONS}
    whole: dict[str, list[float]] = {a: [] for a in ACTIONS}
    peaks: dict[str, float] = {a: 0.0 for a in ACTIONS}
    order = [a for a in ACTIONS if a != "openpyxl"]
    if args.only:
        wanted = set(args.only.split(",")) | {"floor"}
        order = [a for a in order if a in wanted]
    own: dict[str, list[float]] = {}
    pandas_t: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for a in order + (["openpyxl"] if openpyxl and r < args.openpyxl_rounds else []):
            t, peak = run_once(a, master, legacy, work)
            times[a].append(t)
            cpu.setdefault(a, []).append(CPU[a])
            whole[a].append(WHOLE[a])
            peaks[a] = max(peaks[a], peak)
            print(f"round {r + 1} {a:9s} {t:8.2f} s  peak {peak:7.0f} MB  (whole process {WHOLE[a]:.2f} s)",
                  flush=True)
            if args.per_action_floors and a not in ("floor", "openpyxl"):
                base = master.with_name("empty.xlsm") if a == "import-new" else master
                parts = written_parts(base, work / f"{a}.xlsm")
                tables = list(needs_of(a).tables)
                sources = {"import": [str(legacy)], "import-new": [str(new_csv(legacy))]}.get(a, [])
                f_t = run_floor(a, base, tables, parts, work, sources)
                own.setdefault(a, []).append(f_t)
                cpu.setdefault(f"floor-{a}", []).append(CPU[f"floor-{a}"])
                p_t = run_pandas(a, base, tables, work)
                pandas_t.setdefault(a, []).append(p_t)
                print(f"round {r + 1} {a:9s} own floor {f_t:6.2f} s (reads {len(sources)} sources, "
                      f"{len(tables)} tables, writes {len(parts)} parts)  pandas+calamine read {p_t:6.2f} s",
                      flush=True)
    med = {a: statistics.median(v) for a, v in times.items() if v}
    own_med = {a: statistics.median(v) for a, v in own.items()}
    cpu_med = {a: statistics.median(v) for a, v in cpu.items()}
    if own:
        print("\naction      median s   own floor s   action/own floor   pandas read s   CPU s   floor CPU s   "
              "CPU/floor CPU")
        for a in own:
            print(f"{a:10s} {med[a]:9.2f} {own_med[a]:13.2f} {med[a] / own_med[a]:18.2f} "
                  f"{statistics.median(pandas_t[a]):15.2f} {cpu_med[a]:7.2f} {cpu_med[f'floor-{a}']:13.2f} "
                  f"{cpu_med[a] / cpu_med[f'floor-{a}']:15.2f}")
    whole_med = {a: statistics.median(v) for a, v in whole.items() if v}
    print("\naction      median s   peak MB   action/floor   openpyxl/action   whole process s")
    for a, m in med.items():
        ratio_floor = m / med["floor"]
        ratio_ref = med["openpyxl"] / m if "openpyxl" in med else float("nan")
        print(f"{a:10s} {m:9.2f} {peaks[a]:9.0f} {ratio_floor:13.2f} {ratio_ref:17.1f} {whole_med[a]:17.2f}")
    lo = libreoffice_recalc(master, work) if args.libreoffice else None
    print(f"\nbook: {master.stat().st_size / 2**20:.1f} MiB", flush=True)
    if lo:
        print(f"LibreOffice (macros off): load {lo['load']:.1f} s, full recalculation {lo['calculate']:.1f} s "
              f"of every native formula cell ({n_cust} 建议等级 + {n_recv} × 3 receivable columns)")
    return {"median_s": med, "whole_process_s": whole_med, "peak_mb": peaks, "libreoffice": lo, "own_floor_s": own_med,
            "cpu_s": cpu_med,
            "pandas_s": {a: statistics.median(v) for a, v in pandas_t.items()}, "generation": gen,
            "book_mib": master.stat().st_size / 2**20, "rows": [n_cust, n_visits, n_recv]}


def print_growth(results: dict[int, dict]) -> None:
    """Seconds per 10,000 customers (rows in proportion) at each size, and the largest size's
    against the smallest's: above 1.2 the action grows faster than its rows."""
    sizes = sorted(results)
    print("\ngrowth: seconds per 10,000 customers (rows in proportion)")
    print("action     " + "".join(f"{n:>10d}" for n in sizes) + f"   {sizes[-1]}/{sizes[0]}")
    for a in results[sizes[0]]["median_s"]:
        per = [results[n]["median_s"][a] / (n / 10000) for n in sizes if a in results[n]["median_s"]]
        if len(per) == len(sizes):
            print(f"{a:10s} " + "".join(f"{x:10.2f}" for x in per) + f"   {per[-1] / per[0]:.2f}")


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
