"""The benchmark script (benchmarks/bench.py) runs end to end, the way the performance issue runs
it (growth, every action's own floor, pandas, openpyxl once, the books generated), on books small
enough for the suite: a change to the engine or to the actions that breaks the benchmark is found
here, not by the next round of measurements.  Its numbers are not looked at — only that every one
of them was measured."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = ["regrade", "validate", "import", "import-new", "report"]


def test_the_whole_benchmark_runs_on_small_books_and_measures_every_action(tmp_path):
    out = tmp_path / "bench"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--growth", "200,400", "--rounds", "1",
                        "--per-action-floors", "--openpyxl-rounds", "1", "--regenerate", "--dir", str(out),
                        "--json", str(tmp_path / "bench.json")],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads((tmp_path / "bench.json").read_text())
    assert sorted(got["sizes"], key=int) == ["200", "400"]
    for size, res in got["sizes"].items():
        assert res["rows"] == [int(size), 4 * int(size), 2 * int(size)]
        assert res["generation"]["s"] > 0 and res["generation"]["peak_mb"] > 0
        assert set(res["median_s"]) == set(ACTIONS) | {"floor"} | ({"openpyxl"} if size == "400" else set())
        assert all(t > 0 for t in res["median_s"].values())
        assert all(res["peak_mb"][a] > 0 for a in res["median_s"])
        assert set(res["own_floor_s"]) == set(res["pandas_s"]) == set(ACTIONS)
        assert all(res["own_floor_s"][a] > 0 and res["pandas_s"][a] > 0 for a in ACTIONS)
        assert all(res["cpu_s"][a] > 0 and res["cpu_s"][f"floor-{a}"] > 0 for a in ACTIONS)
    # each action wrote its book (the floor deflates what it wrote), the report none of the master's parts
    parts = dict(re.findall(r"round 1 (\S+)\s+own floor .*? writes (\d+) parts", r.stdout))
    assert set(parts) == set(ACTIONS)
    assert all(int(parts[a]) >= 1 for a in ("regrade", "validate", "import", "import-new")) and parts["report"] == "0"
    for a in ("regrade", "validate", "import", "import-new"):
        with zipfile.ZipFile(out / "work" / f"{a}.xlsm") as z:
            assert z.testzip() is None and "xl/vbaProject.bin" in z.namelist()
    assert "100000" not in " ".join(p.name for p in out.iterdir())  # the sizes asked for, not the default
    assert re.search(r"growth: seconds per 10,000 customers", r.stdout)
    assert re.search(r"the whole benchmark: \d+ s \([\d.]+ min\), of which openpyxl's load\+save \d+ s", r.stdout)
