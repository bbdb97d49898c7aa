"""A throwaway PostgreSQL cluster on a free port in a temporary directory (Debian's binaries)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.servers import _free_port

PG_BIN = Path(os.environ.get("ALLIANCE_PG_BIN", "/usr/lib/postgresql/15/bin"))


def postgres_missing_reason() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return f"{PG_BIN}/initdb is missing: `apt-get install -y postgresql` (or set ALLIANCE_PG_BIN)"
    return None


class Cluster:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="alliance-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        # initdb refuses to run as root: run it as the `postgres` user, in a folder it owns.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        url = self.init()
        self.resume()
        return url

    def init(self) -> str:
        """The cluster's files, not started; returns its URL."""
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def processes(self) -> list[int]:
        """The postmaster and every backend it started (to freeze them all with SIGSTOP)."""
        head = (self.data / "postmaster.pid").read_text().split("\n")[0]
        pids, found = {int(head)}, True
        while found:
            found = False
            for status in Path("/proc").glob("[0-9]*/stat"):
                try:
                    pid, ppid = int(status.parent.name), int(status.read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid in pids and pid not in pids:
                    pids.add(pid)
                    found = True
        return sorted(pids)

    def signal_all(self, signum: int) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def pause(self) -> None:
        """Stop the server cleanly (pg_ctl stop -m fast); `resume` starts it again, data kept."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -F"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
