"""A real PostgreSQL server for the tests: initdb into a temporary folder, pg_ctl start on a free
localhost port (as the `postgres` user when the tests run as root, which initdb refuses), one
fresh database per test, stopped at the end.  Debian's `postgresql` package (.ci/run)."""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    if not (_bin("initdb") and _bin("pg_ctl")):
        return False
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None


class Server:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="kam_pg_"))
        os.chmod(self.base, 0o777)
        self.data = self.base / "data"
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._names = itertools.count(1)

    def start(self) -> "Server":
        subprocess.run([*self.as_pg, _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "kam",
                        "-E", "UTF8", "--locale=C", "--no-sync"], check=True, capture_output=True)
        subprocess.run([*self.as_pg, _bin("pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w",
                        "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                              f"-c synchronous_commit=off", "start"], check=True, capture_output=True)
        return self

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://kam@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import psycopg
        name = f"kam_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.as_pg, _bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
