"""The command line as a user meets it: exit codes and the messages they read."""
import subprocess
import sys

import pytest

from kam_xl.cli import build_parser, main


def run(*args):
    return subprocess.run([sys.executable, "-m", "kam_xl.cli", *map(str, args)], capture_output=True, text=True)


def test_every_command_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == {"new", "regrade", "validate", "report", "import", "demo", "form", "card",
                                "distribute", "collect", "reassign", "db", "export"}
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name
    r = run("--help")
    assert r.returncode == 0 and "退出码" in r.stdout


def test_missing_workbook_exit_2_with_chinese_and_english(tmp_path):
    r = run("regrade", tmp_path / "nope.xlsm")
    assert r.returncode == 2
    assert "找不到工作簿" in r.stderr and "workbook not found" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("content", [b"garbage", b""])
def test_corrupt_workbook_exit_2_no_traceback(tmp_path, content):
    p = tmp_path / "bad.xlsm"
    p.write_bytes(content)
    for cmd in ("regrade", "validate", "report"):
        r = run(cmd, p)
        assert r.returncode == 2, cmd
        assert "无法读取工作簿" in r.stderr and "Traceback" not in r.stderr
    assert p.read_bytes() == content


def test_truncated_workbook_is_refused_and_left_as_is(book_factory):
    book = book_factory()
    data = book.read_bytes()
    book.write_bytes(data[: len(data) // 2])
    r = run("validate", book)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_not_a_master_workbook(tmp_path):
    import openpyxl
    p = tmp_path / "plain.xlsx"
    openpyxl.Workbook().save(p)
    r = run("regrade", p)
    assert r.returncode == 2 and "不是 kam_xl 主工作簿" in r.stderr


def test_locked_workbook_exit_2_and_untouched(book_factory):
    book = book_factory()
    (book.parent / ("~$" + book.name)).write_text("x")
    before = book.read_bytes()
    for cmd in ("regrade", "validate"):
        r = run(cmd, book)
        assert r.returncode == 2 and "Excel" in r.stderr
    assert book.read_bytes() == before


def test_bad_arguments_exit_2(book_factory):
    assert main(["regrade", str(book_factory()), "--as-of", "31/10/2026"]) == 2
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


def test_validate_exit_codes(book_factory):
    from tests.conftest import good_customer
    assert main(["validate", str(book_factory())]) == 0
    assert main(["validate", str(book_factory(customers=[good_customer(1, 保密承诺="否")]))]) == 1


def test_progress_is_quiet_when_not_a_terminal(book_factory):
    r = run("regrade", book_factory())
    assert r.returncode == 0 and r.stderr == ""


def test_progress_shows_on_a_terminal(book_factory):
    import io
    from kam_xl.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True
    out = Tty()
    with Progress("重新分级", stream=out) as bar:
        bar.step("读取工作簿")
        bar._rich.refresh()
    assert "重新分级 读取工作簿" in out.getvalue()
    piped = io.StringIO()
    with Progress("重新分级", stream=piped) as bar:
        bar.step("读取工作簿")
    assert piped.getvalue() == ""


def test_a_command_on_a_workbook_loads_the_report_and_database_parts_only_when_it_needs_them(book_factory, tmp_path):
    """Every command starts by importing its front; pandas (the report's builders) and SQLAlchemy
    with Alembic (the master in a database) take half a second to import, so a regrade or a
    validation of a workbook file never loads them, and a report loads pandas only."""
    book = book_factory()
    probe = ("import runpy, sys\n"
             "sys.argv = ['kam-xl', *sys.argv[1:]]\n"
             "try:\n"
             "    runpy.run_module('kam_xl.cli', run_name='__main__')\n"
             "except SystemExit as e:\n"
             "    code = e.code\n"
             "print('LOADED', sorted(m for m in ('pandas', 'sqlalchemy', 'alembic') if m in sys.modules), code)\n")

    def loaded(*args):
        r = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True)
        line = r.stdout.strip().splitlines()[-1]
        assert line.startswith("LOADED"), r.stderr[-2000:]
        return line

    assert loaded("regrade", book) == "LOADED [] 0"
    assert loaded("validate", book).startswith("LOADED [] ")  # findings in the test book: exit 1 is fine
    assert loaded("report", book, "--out", tmp_path / "out") == "LOADED ['pandas'] 0"
    assert list((tmp_path / "out").glob("*.xlsx"))
    db = tmp_path / "m.db"
    assert loaded("db", "init", f"sqlite:///{db}") == "LOADED ['alembic', 'sqlalchemy'] 0"
    assert db.exists()
