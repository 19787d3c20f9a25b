"""The README's two commands are the ones that work (and CI runs the test one)."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_CMD = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/kam-xl demo"
TEST_CMD = "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/python -m pytest"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(python3 -m venv[^\n]*)\n```", text)


def test_readme_has_exactly_the_two_setup_commands():
    assert readme_commands() == [DEMO_CMD, TEST_CMD]


def test_ci_runs_the_readme_test_command():
    assert TEST_CMD in (ROOT / ".ci" / "run").read_text()


def test_readme_demo_command_runs_the_demo(tmp_path):
    """The demo half of the README command, in the environment the tests run in."""
    kam = Path(sys.executable).with_name("kam-xl")
    cmd = [str(kam)] if kam.exists() else [sys.executable, "-m", "kam_xl.cli"]
    r = subprocess.run(cmd + ["demo"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    book = tmp_path / "workbooks" / "大客户管理_演示.xlsm"
    assert book.exists()
    assert "[重新分级 regrade]" in r.stdout and "[全面校验 validate]" in r.stdout
