"""What a master keeps of team mode (PRODUCT.md §11): its own id, the rounds it sent out,
the base each person got in each round, and the records each person's collects created
(so a row they delete may go, and a book collected twice adds nothing twice).

`FolderLedger` keeps it in a folder beside a workbook master (`<master>_分发/`, JSON,
one file per person and round, written atomically); a database master keeps the same in
its own tables (store/sql.py SqlLedger: whoever runs a collect on the server finds it).  `MemoryLedger` is the same in memory, for tests."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

FORMAT = 1


def _encode(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return {"$dt": v.isoformat()}
    if isinstance(v, dt.date):
        return {"$d": v.isoformat()}
    return v


def _decode(v: Any) -> Any:
    if isinstance(v, dict) and len(v) == 1:
        if "$dt" in v:
            return dt.datetime.fromisoformat(v["$dt"])
        if "$d" in v:
            return dt.date.fromisoformat(v["$d"])
    return v


def encode_records(tables: dict[str, dict[str, dict[str, Any]]]) -> dict:
    return {t: {k: {f: _encode(v) for f, v in rec.items()} for k, rec in recs.items()} for t, recs in tables.items()}


def decode_records(tables: dict) -> dict[str, dict[str, dict[str, Any]]]:
    return {t: {k: {f: _decode(v) for f, v in rec.items()} for k, rec in recs.items()} for t, recs in tables.items()}


def pack_base(person: str, round_no: int, tables: dict) -> bytes:
    """A base as kept: gzip'd JSON (dates tagged)."""
    data = json.dumps({"format": FORMAT, "person": person, "round": round_no,
                       "tables": encode_records(tables)}, ensure_ascii=False).encode("utf-8")
    return gzip.compress(data, 6)


def unpack_base(data: bytes) -> dict:
    return decode_records(json.loads(gzip.decompress(data))["tables"])


class MemoryLedger:
    def __init__(self, master_id: str | None = None):
        self.state: dict[str, Any] = {"format": FORMAT, "master_id": master_id or uuid.uuid4().hex,
                                      "rounds": [], "created": {}}
        self.bases: dict[tuple[str, int], dict] = {}

    # -- the ledger's state ------------------------------------------------------------
    @property
    def master_id(self) -> str:
        return self.state["master_id"]

    def next_round(self, people: list[str], when: dt.date) -> int:
        n = len(self.state["rounds"]) + 1
        self.state["rounds"].append({"round": n, "date": when.isoformat(), "people": list(people)})
        self._save_state()
        return n

    def _open(self, raw: str | None, create: bool) -> None:
        """The state as kept (`raw` JSON), a new one when `create`, else none (never distributed)."""
        if raw is not None:
            self.state = json.loads(raw)
        elif create:
            MemoryLedger.__init__(self)
            self._save_state()
        else:
            self.state = None

    @property
    def exists(self) -> bool:
        return self.state is not None

    def save_base(self, person: str, round_no: int, tables: dict) -> None:
        self.bases[(person, round_no)] = encode_records(tables)

    def base(self, person: str, round_no: int) -> dict | None:
        raw = self.bases.get((person, round_no))
        return decode_records(raw) if raw is not None else None

    def has_base(self, person: str, round_no: int) -> bool:
        return (person, round_no) in self.bases

    def created(self, person: str) -> dict[str, dict[str, str]]:
        """table → {fingerprint of the new row as returned: the master id it got}."""
        return self.state["created"].setdefault(person, {})

    def remember_created(self, person: str, table: str, fingerprint: str, record_id: str) -> None:
        self.created(person).setdefault(table, {})[fingerprint] = record_id

    def commit(self) -> None:
        """What a collect learnt, kept (after the master holds it)."""
        self._save_state()

    def _save_state(self) -> None:
        pass


class FolderLedger(MemoryLedger):
    """The ledger of a workbook master, in `<folder>/<stem>_分发/`."""

    def __init__(self, master: Path, create: bool = False):
        self.folder = Path(master).with_name(Path(master).stem + "_分发")
        self.bases = {}
        state = self.folder / "ledger.json"
        self._open(state.read_text(encoding="utf-8") if state.exists() else None, create)

    def _base_path(self, person: str, round_no: int) -> Path:
        # a person's name is data from the book (客户经理): never a path — its letters and digits
        # for the reader, a hash for uniqueness; nothing of it can leave the folder
        readable = "".join(ch for ch in person if ch.isalnum())[:20]
        digest = hashlib.sha256(person.encode("utf-8")).hexdigest()[:10]
        return self.folder / f"base_{round_no:03d}_{readable}_{digest}.json.gz"

    def save_base(self, person: str, round_no: int, tables: dict) -> None:
        _atomic(self._base_path(person, round_no), pack_base(person, round_no, tables))

    def has_base(self, person: str, round_no: int) -> bool:
        return self._base_path(person, round_no).exists()

    def base(self, person: str, round_no: int) -> dict | None:
        p = self._base_path(person, round_no)
        if not p.exists():
            return None
        return unpack_base(p.read_bytes())

    def _save_state(self) -> None:
        self.folder.mkdir(exist_ok=True)
        _atomic(self.folder / "ledger.json", json.dumps(self.state, ensure_ascii=False, indent=1).encode("utf-8"))


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".~", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
