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
import time
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


DB_ACTIONS = ("regrade", "validate", "report")  # what runs on a master too big for any workbook


def generate_database(url: str, n_cust: int, n_visits: int, n_recv: int, chunk: int = 50_000) -> None:
    """A master straight into a database, too big for a workbook (1M customers, 4M visits): the
    demo's data made a chunk of customers at a time (its own seed each), ids renumbered to run
    on across chunks, names made unique, inserted in one transaction per table-chunk."""
    import itertools

    from kam_xl import demo, layout as L
    from kam_xl.store.schema import tables
    from kam_xl.store.sql import open_database

    store = open_database(url, create=True)
    data_tables = [L.CUSTOMERS, L.VISITS, L.RECEIVABLES, *L.PROCEDURE_TABLES]
    counters = {t.name: itertools.count(1) for t in data_tables}
    prefix = {t.name: "" for t in data_tables}
    with store._writing() as conn, conn.begin():
        for t in [*data_tables, L.SETTINGS]:
            conn.execute(tables[t.name].delete())
        store._insert_many(conn, L.SETTINGS, [{"key": k, "value": v} for k, v in demo.demo_settings().items()])
    t0 = time.perf_counter()
    for k, start in enumerate(range(0, n_cust, chunk)):
        m = min(chunk, n_cust - start)
        data = demo.build_data(n_customers=m, n_visits=round(m * n_visits / n_cust),
                               n_receivables=round(m * n_recv / n_cust), seed=demo.SEED + k, plant=False)
        ids: dict[str, str] = {}
        for t in data_tables:
            id_h = t.header("id")
            ref_h = t.header("customer_id") if "customer_id" in t.keys else None
            for row in data[t.name]:
                old = row.get(id_h)
                if old:
                    prefix[t.name] = prefix[t.name] or old.rstrip("0123456789")
                    row[id_h] = f"{prefix[t.name]}{next(counters[t.name]):08d}"
                if t is L.CUSTOMERS:
                    ids[old] = row[id_h]
                    if k:
                        row[t.header("name")] = f"{row[t.header('name')]}（{k}区）"
                elif ref_h:
                    row[ref_h] = ids.get(row.get(ref_h), row.get(ref_h))
        with store._writing() as conn, conn.begin():
            for t in data_tables:
                rows = data[t.name]
                for i in range(0, len(rows), 20000):
                    store._insert_many(conn, t, rows[i:i + 20000])
        del data
        print(f"  generated {start + m:,} customers in {time.perf_counter() - t0:.0f} s", flush=True)
    store.close()


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
    ap.add_argument("--database-only", action="store_true",
                    help="no workbook: the data generated straight into each database (1M customers), "
                         "then regrade, validate and report")
    ap.add_argument("--json")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    if args.database_only:
        master = legacy = folder / "none"
    else:
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                        f"from benchmarks.bench import generate; from pathlib import Path; "
                        f"generate(Path({str(folder)!r}), {args.customers}, {args.visits}, {args.receivables})"],
                       check=True)
        master, legacy = generate(folder, args.customers, args.visits, args.receivables)
    work = folder / "db_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    kinds = [k for k in args.kinds.split(",") if not (args.database_only and k == "workbook")]
    server = None
    results: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        for kind in kinds:
            book = work / f"{kind}.xlsm"
            if not args.database_only:
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
            if args.database_only:  # the set-up: generated into the database, in its own process
                code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from kam_xl.files import db_init; "
                        f"from benchmarks.db_bench import generate_database; db_init({target!r}); "
                        f"import time; t=time.perf_counter(); generate_database({target!r}, {args.customers}, "
                        f"{args.visits}, {args.receivables}); print('ELAPSED', time.perf_counter()-t)")
                t, peak = measure(f"{kind}-generate", code, work)
                results[kind]["generate"] = (t, peak)
                print(f"{kind:10s} generate  {t:8.2f} s  peak {peak:7.0f} MiB", flush=True)
            for action in (DB_ACTIONS if args.database_only else ACTIONS):
                if action == "load" and kind == "workbook":
                    continue
                t, peak = run(kind, action, target, book, legacy, work)
                results[kind][action] = (t, peak)
                print(f"{kind:10s} {action:9s} {t:8.2f} s  peak {peak:7.0f} MiB", flush=True)
    finally:
        if server is not None:
            server.stop()
    print("\naction      " + "".join(f"{k:>22s}" for k in results))
    for action in (("generate", *DB_ACTIONS) if args.database_only else ACTIONS):
        cells = []
        for kind in results:
            t, peak = results[kind].get(action, (float("nan"), float("nan")))
            cells.append(f"{t:10.1f} s {peak:6.0f} MiB")
        print(f"{action:10s} " + "".join(f"{c:>22s}" for c in cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "sizes": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
