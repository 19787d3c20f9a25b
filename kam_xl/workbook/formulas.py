"""Formula text of a table's calculated columns, shared by the builder and the
file engine so a row appended later carries exactly the formula Excel keeps
as the table's calculated-column formula (structured references)."""
from __future__ import annotations

import re

from .. import layout as L


def _esc_col(header: str) -> str:
    return re.sub(r"([\[\]#'])", r"'\1", header)


def structured(table: L.TableDef, col: L.Column) -> str:
    """The column's formula without '=': Table[[#This Row],[Header]] references."""
    return re.sub(r"\{col:(\w+)\}",
                  lambda m: f"{table.name}[[#This Row],[{_esc_col(table.header(m[1]))}]]",
                  col.formula)
