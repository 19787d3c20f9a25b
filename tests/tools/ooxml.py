"""Microsoft's Open XML SDK validator (npm @ooxml-tools/validate, WebAssembly in Node),
run once over many files.  .ci/run installs it under .ci/node; KAM_OOXML_MODULES may
point at another node_modules folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ooxml_validate.mjs")
OFFICE = "Office2016"


def modules() -> Path | None:
    for p in (os.environ.get("KAM_OOXML_MODULES"), ROOT / ".ci" / "node" / "node_modules"):
        if p and (Path(p) / "@ooxml-tools" / "validate").is_dir():
            return Path(p)
    return None


def available() -> bool:
    return shutil.which("node") is not None and modules() is not None


def validate(paths, timeout: int = 1800) -> dict[str, list[dict]]:
    """{file: [problem, ...]} — an empty list is a clean file."""
    r = subprocess.run(["node", str(SCRIPT), str(modules()), OFFICE, *map(str, paths)],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"ooxml-validate failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout)
