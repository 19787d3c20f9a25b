"""The layering, checked on the source: imports only point down
(fronts → services → importing/reports → workbook → domain → layout), no module
imports one of ours inside a function to dodge a cycle, and the services and the
domain know nothing of how loading is done."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kam_xl import layout as L
from kam_xl.domain import problems

PKG = Path(__file__).resolve().parents[2] / "kam_xl"

# what each layer may import of ours (a layer may always import itself)
LAYERS = {
    "layout": set(),
    "errors": set(),
    "domain": {"layout", "errors"},
    "store": {"layout", "errors", "domain"},
    "workbook": {"layout", "errors", "domain", "store"},
    "importing": {"layout", "errors", "domain", "store", "workbook"},
    "reports": {"layout", "errors", "domain", "store", "workbook"},
    "progress": set(),
    "services": {"layout", "errors", "domain", "store", "workbook", "importing", "reports"},
    "cellfuncs": {"layout", "errors", "domain", "store", "workbook"},
    "demo": {"layout", "domain"},
}
FRONTS = {"cli", "files", "xl", "__main__", "__init__"}
SPEED_INTERNALS = {"gc", "threading", "pyarrow", "fastexcel", "concurrent", "multiprocessing"}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        layer = rel.parts[0].removesuffix(".py")
        yield path, rel, layer, ast.parse(path.read_text(encoding="utf-8"))


def _ours(node: ast.AST, rel: Path) -> list[str]:
    """The layers of ours an import statement reaches."""
    if isinstance(node, ast.ImportFrom):
        if node.level == 0:
            mod = node.module or ""
            return [mod.split(".")[1]] if mod.startswith("kam_xl.") else []
        base = list(rel.parts[:-1])[: len(rel.parts) - node.level]
        target = base + (node.module.split(".") if node.module else [])
        if target:
            return [target[0].removesuffix(".py")]
        return [a.name for a in node.names]  # from . import x (at the package root)
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("kam_xl.")]
    return []


def test_imports_only_point_down():
    wrong = []
    for path, rel, layer, tree in _modules():
        if layer in FRONTS:
            continue
        allowed = LAYERS[layer] | {layer}
        for node in ast.walk(tree):
            for target in _ours(node, rel):
                if target not in allowed:
                    wrong.append(f"{rel}:{node.lineno} imports {target}")
    assert not wrong, wrong


# The only imports of ours a function may make: a heavy backend loaded when an action needs it
# instead of at every command's start — the database (SQLAlchemy, Alembic) and the report's
# builders (pandas), half a second together.  tests/integration/test_cli.py holds the commands
# to it; the layering above still applies to these imports.
DEFERRED = {"files.py": {"store.sql"}, "services/actions.py": {"reports.service"}}


def _dotted(node: ast.AST, rel: Path) -> set[str]:
    """The modules of ours (dotted, below kam_xl) an import statement names."""
    if isinstance(node, ast.ImportFrom):
        if node.level == 0:
            mod = (node.module or "").removeprefix("kam_xl.")
            return {mod, *(f"{mod}.{a.name}" for a in node.names)}
        base = list(rel.parts[:-1])[: len(rel.parts) - node.level]
        mod = ".".join(base + (node.module.split(".") if node.module else []))
        return {mod, *(f"{mod}.{a.name}".lstrip(".") for a in node.names)}
    if isinstance(node, ast.Import):
        return {a.name.removeprefix("kam_xl.") for a in node.names}
    return set()


def test_no_module_imports_one_of_ours_inside_a_function():
    """Not to dodge a cycle; only a heavy backend listed in DEFERRED is loaded when needed."""
    inline = []
    for path, rel, layer, tree in _modules():
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if _ours(node, rel) and not (_dotted(node, rel) & DEFERRED.get(rel.as_posix(), set())):
                        inline.append(f"{rel}:{node.lineno}")
    assert not inline, inline


def test_a_deferred_backend_is_imported_by_no_module_at_its_top():
    """A backend deferred into a function is not imported at the top of any module: else every
    command would load it at its start anyway, and the deferral would only hide an import."""
    deferred = set().union(*DEFERRED.values())
    eager = []
    for path, rel, layer, tree in _modules():
        for node in tree.body:
            names = _dotted(node, rel)
            if any(n == d or n.startswith(d + ".") for n in names for d in deferred):
                eager.append(f"{rel}:{node.lineno}")
    assert not eager, eager


@pytest.mark.parametrize("layer", ["services", "domain"])
def test_services_and_domain_know_nothing_of_how_loading_is_done(layer):
    found = []
    for path, rel, lay, tree in _modules():
        if lay != layer:
            continue
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for n in names:
                if n.split(".")[0] in SPEED_INTERNALS:
                    found.append(f"{rel}:{node.lineno} {n}")
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.endswith(("engine", "workbook.store", "rawzip", "scan", "package"))):
                found.append(f"{rel}:{node.lineno} {node.module}")
    assert not found, found


# the workbook modules a service may use: none that reads or writes the book (the store
# protocol is the way to data); the output writer and the file-name rule are the fronts'
SERVICE_MAY_USE = {"outputs"}
# what names a spreadsheet row or column: never in a service or the domain
ROW_WORDS = re.compile(r"\b(row_index|excel_row|header_row|cell_ref|offsets|all_headers|\.tables\[|"
                       r"data\.tables|Changes\(|\.set\(|header_rows)\b")


@pytest.mark.parametrize("layer", ["services", "domain", "store"])
def test_services_and_domain_speak_of_records_not_rows(layer):
    """No service or domain module imports the workbook's internals or mentions a row
    position, a header-keyed change or an Excel table; the store protocol is the only way
    the services reach data."""
    found = []
    for path, rel, lay, tree in _modules():
        if lay != layer:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                parts = mod.split(".")
                if "workbook" in parts and not (set(parts[parts.index("workbook") + 1:]) <= SERVICE_MAY_USE
                                                and len(parts) > parts.index("workbook") + 1):
                    found.append(f"{rel}:{node.lineno} imports {mod}")
                if parts[-1] == "workbook" and node.names:
                    found.append(f"{rel}:{node.lineno} imports from workbook")
        text = path.read_text(encoding="utf-8")
        for m in ROW_WORDS.finditer(text):
            found.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1} {m[0]}")
    assert not found, found


def test_every_store_keeps_the_whole_protocol():
    from kam_xl.store.memory import MemoryStore
    from kam_xl.store.protocol import Store
    from kam_xl.workbook.store import FileStore
    from kam_xl.xl.book import XlBook
    for cls in (MemoryStore, FileStore, XlBook):
        for name in ("__enter__", "__exit__", "load", "locate", "apply"):
            assert callable(getattr(cls, name, None)), (cls.__name__, name)
    assert isinstance(MemoryStore(), Store)


def test_every_problem_code_used_is_registered_and_its_template_formats():
    used = set()
    for path, rel, layer, tree in _modules():
        if rel == Path("domain/problems.py"):
            continue  # the registry itself
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(r"[A-Z]+(-[A-Z0-9]+)+", node.value) and not node.value.startswith("UTF"):
                used.add(node.value)
    assert len(used) > 40
    assert used <= set(problems.CODES), sorted(used - set(problems.CODES))
    for c in problems.CODES.values():
        assert c.severity in L.SEVERITIES and c.title and c.template


def test_settings_defaults_come_from_layout_alone():
    from kam_xl.domain.models import Settings
    s = Settings()
    for d in L.SETTING_DEFS:
        assert getattr(s, d.field) == d.default, d.key
    assert set(Settings.model_fields) == {d.field for d in L.SETTING_DEFS}


def test_record_models_are_the_layout_tables():
    """One record vocabulary: each table's record class has exactly its layout keys (and the
    store's rid), typed by the column's kind."""
    from kam_xl.domain.models import FIELD_TYPES, MODELS
    for name, model in MODELS.items():
        tdef = L.TABLES[name]
        assert set(model.model_fields) == {c.key for c in tdef.columns} | {"rid"}, name
        for c in tdef.columns:
            assert model.model_fields[c.key].annotation == FIELD_TYPES[c.kind], (name, c.key)


def test_the_import_child_imports_only_what_reading_needs():
    """The sandbox child is started once per source file (a folder of fifty files: fifty starts):
    it imports the reading side (importing/parsing.py) and not the merge's models, stores or
    frames."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import kam_xl.importing.parsing; "
            "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(PKG.parent)], capture_output=True, text=True,
                         check=True).stdout.split()
    heavy = [m for m in out if m.split(".")[0] in {"pandas", "pyarrow", "pydantic", "fastexcel", "numpy", "sqlalchemy"}
             or m in {"kam_xl.domain.models", "kam_xl.store", "kam_xl.workbook.reading", "kam_xl.workbook.engine"}]
    assert heavy == []
    assert "kam_xl.importing.sheets" in out and "kam_xl.importing.readers" in out
