"""The master in a database against the master in a workbook (PRODUCT.md §12): the same
actions on the same data — the benchmark book of bench.py — in the workbook, in SQLite and in
PostgreSQL (a throwaway server started here, tests/tools/pg.py), one run, each action in its
own process with its own peak (wait4).  `db load` (the workbook copied into the database) is
timed as the set-up it is.

    .venv/bin/python benchmarks/db_bench.py --customers 100000 --visits 400000 --receivables 200000
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import bench  # noqa: E402
from benchmarks.bench import generate, measure  # noqa: E402

# bench.py's actions, their BOOK being the workbook or the database URL; `load` copies the
# workbook SOURCE into the database
ACTIONS = {"load": "from kam_xl.files import db_init, db_load; db_init(BOOK); db_load(BOOK, SOURCE)",
           **{a: bench.ACTIONS[a] for a in ("regrade", "validate", "report", "import")}}
KINDS = ("workbook", "sqlite", "postgresql")


def run(kind: str, action: str, target: str, book: Path, legacy: Path, work: Path) -> tuple[float, float]:
    env = {"BOOK": target, "SOURCE": str(book), "LEGACY": str(legacy), "OUT": str(work / "reports")}
    code = (f"import sys, os, time; sys.path.insert(0, {str(ROOT)!r}); os.chdir({str(work)!r}); "
            + "; ".join(f"{k}={v!r}" for k, v in env.items())
            + f"; t=time.perf_counter(); {ACTIONS[action]}; print('ELAPSED', time.perf_counter()-t)")
    return measure(f"{kind}-{action}", code, work)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100000)
    ap.add_argument("--visits", type=int, default=400000)
    ap.add_argument("--receivables", type=int, default=200000)
    ap.add_argument("--dir", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--json")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                    f"from benchmarks.bench import generate; from pathlib import Path; "
                    f"generate(Path({str(folder)!r}), {args.customers}, {args.visits}, {args.receivables})"],
                   check=True)
    master, legacy = generate(folder, args.customers, args.visits, args.receivables)
    work = folder / "db_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    kinds = args.kinds.split(",")
    server = None
    results: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        for kind in kinds:
            book = work / f"{kind}.xlsm"
            shutil.copy2(master, book)
            if kind == "workbook":
                target = str(book)
            elif kind == "sqlite":
                target = f"sqlite:///{work / 'bench.db'}"
            else:
                from tests.tools import pg
                if not pg.available():
                    print("PostgreSQL not installed: skipped")
                    continue
                server = server or pg.Server().start()
                target = server.new_database()
            results[kind] = {}
            for action in ACTIONS:
                if action == "load" and kind == "workbook":
                    continue
                t, peak = run(kind, action, target, book, legacy, work)
                results[kind][action] = (t, peak)
                print(f"{kind:10s} {action:9s} {t:8.2f} s  peak {peak:7.0f} MiB", flush=True)
    finally:
        if server is not None:
            server.stop()
    print("\naction      " + "".join(f"{k:>22s}" for k in results))
    for action in ACTIONS:
        cells = []
        for kind in results:
            t, peak = results[kind].get(action, (float("nan"), float("nan")))
            cells.append(f"{t:10.1f} s {peak:6.0f} MiB")
        print(f"{action:10s} " + "".join(f"{c:>22s}" for c in cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "sizes": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
