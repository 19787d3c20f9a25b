"""A person's book of team mode, as files: written from the records the team service picked
(builder.TeamBook), and its identity read back from its document properties."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from xml.sax.saxutils import unescape

from .. import layout as L
from ..domain import todo
from .builder import TEAM_PROPERTIES, TeamBook, build_master

_PROP = re.compile(r'<property\b[^>]*\bname="([^"]+)"[^>]*>\s*<vt:(\w+)>([^<]*)</vt:\w+>\s*</property>')


def custom_properties(path: Path) -> dict[str, str]:
    """The workbook's custom document properties (docProps/custom.xml), as text."""
    try:
        with zipfile.ZipFile(path) as z:
            if "docProps/custom.xml" not in z.namelist():
                return {}
            xml = z.read("docProps/custom.xml").decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError):
        return {}
    return {m[1]: unescape(m[3]) for m in _PROP.finditer(xml)}


def identity(path: Path) -> tuple[str | None, str | None, int | None]:
    """(master id, person, round) a distributed book carries; Nones when it carries none."""
    p = custom_properties(path)
    master, person, rnd = (p.get(k) for k in TEAM_PROPERTIES[:3])
    try:
        n = int(float(rnd)) if rnd else None
    except ValueError:
        n = None
    return master or None, person or None, n


def rows_by_header(tdef: L.TableDef, records) -> list[dict[str, Any]]:
    return [{tdef.header(k): v for k, v in r.values().items() if k in tdef.keys} for r in records]


def write_person_book(path: Path, master_id: str, person: str, round_no: int, tables: dict, data) -> Path:
    """The person's .xlsm: their records, the master's rules and Settings, 我的待办."""
    by_header = {name: rows_by_header(L.TABLES[name], recs) for name, recs in tables.items()}
    by_header[L.TIER_RULES.name] = rows_by_header(L.TIER_RULES, data.rules)
    settings = {d.key: getattr(data.settings, d.field) for d in L.SETTING_DEFS}
    settings.update({k: v for k, v in (data.settings.__pydantic_extra__ or {}).items()})
    rows = todo.todo_rows(tables.get(L.CUSTOMERS.name, ()), tables.get(L.VISITS.name, ()),
                          tables.get(L.RECEIVABLES.name, ()), tables.get(L.COMPLAINTS.name, ()),
                          tables.get(L.SURVEYS.name, ()), data.settings, data.as_of)
    team = TeamBook(master_id, person, round_no, data.as_of, tuple(rows))
    return build_master(path, by_header, settings, team=team)
