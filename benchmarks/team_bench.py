"""Team mode at scale (PRODUCT.md §11): distribute a master of PEOPLE × PER customers (4 visits
and 2 invoices each) and collect the books back after every person changed 10% of their
customers' phones and added 5 visits — each against its floor, in its own process (wait4:
the process's own peak RSS):

- distribute-floor: read the master with the file engine (every table, every column) and
  write the same per-person books with the builder, without 我的待办, the base or the ids;
- collect-floor: read every returned book and the master with the file engine, and write
  the master once.

    .venv/bin/python benchmarks/team_bench.py --people 50 --per 2000
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

from benchmarks.bench import measure  # noqa: E402  (one way to time a step in its own process)

STEPS = {
    "distribute": "from kam_xl.files import run_distribute; run_distribute(MASTER, OUT)",
    "distribute-floor": "from benchmarks.team_bench import distribute_floor; distribute_floor(MASTER, FLOOR)",
    "edit": "from benchmarks.team_bench import edit_books; edit_books(OUT)",
    "collect": "from kam_xl.files import run_collect; run_collect(MASTER, [OUT])",
    "collect-floor": "from benchmarks.team_bench import collect_floor; collect_floor(MASTER, OUT)",
}


def generate(folder: Path, people: int, per: int) -> Path:
    from kam_xl import demo
    from kam_xl.workbook.builder import build_master
    book = folder / f"team_{people}x{per}.xlsm"
    if book.exists():
        return book
    n = people * per
    data = demo.build_data(n_customers=n, n_visits=4 * n, n_receivables=2 * n, plant=False)
    for i, c in enumerate(data["Customers"]):
        c["客户经理"] = f"专员{i % people + 1:02d}"
    build_master(book, data, demo.demo_settings())
    return book


def distribute_floor(master: str, out: str) -> None:
    from kam_xl import layout as L
    from kam_xl.services.team import TEAM_NEEDS, TEAM_TABLES
    from kam_xl.workbook.builder import build_master
    from kam_xl.workbook.store import FileStore
    from kam_xl.workbook.team import rows_by_header
    data = FileStore(master, full_reads=True).load(TEAM_NEEDS)
    groups: dict[str, list] = {}
    for c in data.customers:
        groups.setdefault(c.manager, []).append(c)
    for person, customers in groups.items():
        ids = {c.id for c in customers}
        tables = {L.CUSTOMERS.name: rows_by_header(L.CUSTOMERS, customers)}
        for t in TEAM_TABLES[1:]:
            tables[t.name] = rows_by_header(t, [r for r in data.records_of(t.name) or () if r.customer_id in ids])
        build_master(Path(out) / f"{person}.xlsm", tables, None)


def edit_books(out: str) -> None:
    """Every person: 10% of their customers get a new phone, 5 new visits (the file engine)."""
    import datetime as dt
    from kam_xl import layout as L
    from kam_xl.store import EVERYTHING, ChangeSet, Needs
    from kam_xl.workbook.store import FileStore
    for book in sorted(Path(out).glob("*.xlsm")):
        store = FileStore(book)
        with store:
            data = store.load(Needs({L.CUSTOMERS.name: EVERYTHING}))
            ch = ChangeSet()
            for c in data.customers[::10]:
                ch.update(L.CUSTOMERS.name, c.rid, "phone", "139" + (c.id or "")[-8:])
            for c in data.customers[:5]:
                ch.add(L.VISITS.name, {"customer_id": c.id, "method": "电话回访", "state": "草稿",
                                       "planned_date": dt.date(2026, 11, 20)})
            store.apply(ch)


def collect_floor(master: str, out: str) -> None:
    from kam_xl.services.team import TEAM_NEEDS
    from kam_xl.store import ChangeSet
    from kam_xl.workbook.store import FileStore
    for book in sorted(Path(out).glob("*.xlsm")):
        FileStore(book, full_reads=True).load(TEAM_NEEDS)
    store = FileStore(master)
    with store:
        store.load(TEAM_NEEDS)
        ch = ChangeSet()
        ch.status = "floor"
        store.apply(ch)


def run_measured(step: str, env: dict) -> tuple[float, float]:
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); "
            + "; ".join(f"{k}={v!r}" for k, v in env.items())
            + f"; t=time.perf_counter(); {STEPS[step]}; print('ELAPSED', time.perf_counter()-t)")
    return measure(step, code, Path(env["WORK"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--per", type=int, default=2000)
    ap.add_argument("--dir", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--json")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                    f"from benchmarks.team_bench import generate; from pathlib import Path; "
                    f"generate(Path({str(folder)!r}), {args.people}, {args.per})"], check=True)
    source = generate(folder, args.people, args.per)
    print(f"master {source.name}: {source.stat().st_size / 1e6:.1f} MB (ready in {time.perf_counter() - t:.0f} s)",
          flush=True)
    work = folder / "team_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    master = work / "master.xlsm"
    shutil.copy2(source, master)
    out, floor_out = work / "books", work / "floor_books"
    out.mkdir()
    floor_out.mkdir()
    env = {"MASTER": str(master), "OUT": str(out), "FLOOR": str(floor_out), "WORK": str(work)}
    results = {}
    for step in ("distribute-floor", "distribute", "edit", "collect-floor", "collect"):
        results[step] = run_measured(step, env)
        print(f"{step:18s} {results[step][0]:8.1f} s  peak {results[step][1]:7.0f} MiB", flush=True)
    d = results["distribute"][0] / results["distribute-floor"][0]
    c = results["collect"][0] / results["collect-floor"][0]
    print(f"distribute/floor {d:.2f}   collect/floor {c:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"people": args.people, "per": args.per, "results": results,
                                               "distribute_ratio": d, "collect_ratio": c}, indent=1))


if __name__ == "__main__":
    main()
