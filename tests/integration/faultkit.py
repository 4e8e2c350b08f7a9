"""Helpers shared by test_faults.py and test_hostile.py: raw sessions whose
every call is bounded by a socket timeout, a bystander that measures whether
other clients are still served, pgwarden's resident memory, and a vault of
every log a test file produced (for the final secrets audit).

Plain Python; run with Debian's /usr/bin/python3.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import psycopg

import harness
import pgwire
from pgwire import cstr, message, read_until_ready

CALL_TIMEOUT = 20.0  # seconds; no raw client call in these tests waits longer
BYSTANDER_MAX_LATENCY = 1.0  # seconds for one simple query of an unaffected client
# Set by scripts/sanitize ("address" or "thread") for a sanitizer build.
# ASan holds freed memory in its quarantine (256 MiB by default) so that a
# use after free is caught, and TSan shadows every byte: resident memory
# there measures the sanitizer, not pgwarden.
SANITIZER = os.environ.get("PGWARDEN_SANITIZE", "")


def marker(prefix: str) -> str:
    """A unique SQL identifier to find one statement in pg_stat_activity."""
    return f"{prefix}_{secrets.token_hex(4)}"


def login(pgw: harness.Pgwarden, db: str, user: str = "acme",
          timeout: float = CALL_TIMEOUT, **kw) -> pgwire.RawConnection:
    """A raw session through pgwarden; every read and write times out after `timeout`."""
    conn = pgwire.RawConnection(pgw.host, pgw.port, timeout=timeout)
    try:
        conn.startup(user, db, pgw.users[user], **kw)
    except BaseException:
        conn.close()
        raise
    return conn


def query_message(sql: str) -> bytes:
    return message(b"Q", cstr(sql))


def long_query(tag: str) -> str:
    """Runs for minutes (the guard refuses pg_sleep); `tag` names it in pg_stat_activity."""
    return f"SELECT count(*) AS {tag} FROM generate_series(1, 2000000000)"


class NoReady(AssertionError):
    """The server sent no ReadyForQuery: it went silent (timeout) or closed."""


def read_reply(conn: pgwire.RawConnection, what: str) -> list[tuple[bytes, bytes]]:
    """read_until_ready, but silence or a close fails with what arrived so far."""
    out: list[tuple[bytes, bytes]] = []
    try:
        while True:
            kind, body = conn.read_message()
            out.append((kind, body))
            if kind == b"Z":
                return out
    except TimeoutError:
        how = f"went silent for {conn.sock.gettimeout():g}s"
    except (pgwire.Closed, ConnectionError):
        how = "closed the connection"
    got = [(k, pgwire.parse_fields(b) if k in b"EN" else b[:40]) for k, b in out]
    raise NoReady(f"{what}: pgwarden {how} without ReadyForQuery; it sent {got}")


def errors_in(messages: list[tuple[bytes, bytes]]) -> list[dict[str, str]]:
    return [pgwire.parse_fields(body) for kind, body in messages if kind == b"E"]


def superuser(pg: harness.PostgresCluster) -> psycopg.Connection:
    return psycopg.connect(pg.dsn(), autocommit=True, connect_timeout=10)


def find_backend(pg: harness.PostgresCluster, tag: str, timeout: float = 15) -> int:
    """PID of the upstream backend actively running the statement tagged `tag`."""
    with superuser(pg) as su:
        row = harness.wait_until(
            lambda: su.execute(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                " AND pid <> pg_backend_pid() AND query LIKE %s", (f"%{tag}%",)).fetchone(),
            timeout, f"the statement tagged {tag} to run upstream")
    return int(row[0])


def statement_gone(pg: harness.PostgresCluster, tag: str) -> bool:
    with superuser(pg) as su:
        return su.execute("SELECT count(*) = 0 FROM pg_stat_activity WHERE state = 'active'"
                          " AND pid <> pg_backend_pid() AND query LIKE %s",
                          (f"%{tag}%",)).fetchone()[0]


def backend_idle_or_gone(pg: harness.PostgresCluster, pid: int) -> bool:
    with superuser(pg) as su:
        return su.execute("SELECT coalesce((SELECT state FROM pg_stat_activity WHERE pid = %s),"
                          " 'gone') IN ('idle', 'gone')", (pid,)).fetchone()[0]


class Bystander:
    """A client of another connection record (or tenant) that must keep being
    served, quickly, whatever happens to the others."""

    def __init__(self, pgw: harness.Pgwarden, db: str, user: str = "acme",
                 sql: str = "SELECT 1") -> None:
        self.conn = login(pgw, db, user)
        self.sql = sql
        self.latencies: list[float] = []

    def check(self, times: int = 3) -> float:
        """Runs the query `times` times; returns the slowest and asserts it was fast."""
        for _ in range(times):
            started = time.monotonic()
            rows, status = self.conn.query(self.sql)
            self.latencies.append(time.monotonic() - started)
            assert rows and status == b"I", (rows, status)
        slowest = max(self.latencies[-times:])
        assert slowest < BYSTANDER_MAX_LATENCY, (
            f"a client of an unaffected connection waited {slowest:.2f}s for {self.sql!r}")
        return slowest

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Bystander":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def rss_bytes(pid: int) -> int:
    """VmRSS of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def enable_admin(pgw: harness.Pgwarden) -> tuple[int, str]:
    """Adds an [admin] table (loopback port, token file) to a written config;
    returns (port, token). Call after write_config(), before start()."""
    port = harness.free_port()
    token = "admintok" + secrets.token_hex(20)
    token_file = pgw.dir / "admin-token"
    token_file.write_text(token + "\n")
    with open(pgw.config_path, "a") as f:
        f.write(f"\n[admin]\nlisten = {harness.toml_str(f'{harness.LOOPBACK}:{port}')}\n"
                f"token_file = {harness.toml_str(str(token_file))}\n")
    return port, token


def daemons_survive(request, names: tuple[str, ...]):
    """Generator for an autouse fixture: restarts a daemon an earlier test
    killed, and fails the test during which one of them died (with its log)."""
    import pytest
    daemons = {n: request.getfixturevalue(n) for n in names if n in request.fixturenames}
    for name, d in daemons.items():
        if not d.running:
            with open(d.logfile, "a") as log:
                log.write(f"[test] restarting pgwarden ({name}), which died in an earlier test\n")
            d.start()
    marks = {name: d.log_mark() for name, d in daemons.items()}
    yield
    for name, d in daemons.items():
        if d.proc is not None and d.proc.poll() is not None:
            code = d.proc.returncode
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            pytest.fail(f"pgwarden ({name}) died during this test ({how}); its log meanwhile:\n"
                        + d.log_since(marks[name])[-3000:], pytrace=False)


# --------------------------------------------------------------------------
# Logs of every daemon a test file started, kept past their teardown


class LogVault:
    """Log texts of daemons already cleaned up, plus folders of live ones."""

    def __init__(self) -> None:
        self.saved: dict[str, str] = {}
        self.live: dict[str, Path] = {}

    def watch(self, name: str, folder: Path) -> None:
        self.live[name] = folder

    def keep(self, name: str, folder: Path) -> None:
        """Copies every log file in folder before the folder is removed."""
        for path in sorted(folder.glob("*.log")):
            self.saved[f"{name}/{path.name}"] = path.read_text(errors="replace")
        self.live.pop(name, None)

    def texts(self) -> dict[str, str]:
        out = dict(self.saved)
        for name, folder in self.live.items():
            for path in sorted(folder.glob("*.log")):
                out[f"{name}/{path.name}"] = path.read_text(errors="replace")
        return out


def leaked(texts: dict[str, str], secret_values: dict[str, str]) -> list[str]:
    """'secret name in log name' for every secret found in any text."""
    return [f"{what} in {where}" for where, text in texts.items()
            for what, value in secret_values.items() if value and value in text]
