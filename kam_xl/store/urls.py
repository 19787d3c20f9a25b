"""Whether a command's BOOK names a database rather than a workbook file (PRODUCT.md §12) — told
without loading the database backend."""
from __future__ import annotations

from pathlib import Path


def is_url(text: str | Path) -> bool:
    return str(text).startswith(("sqlite:///", "postgresql://", "postgres://"))
