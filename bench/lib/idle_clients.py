"""The memory run: hold N idle, authenticated clients on a proxy and see how its
resident set grows (VmRSS after minus before, divided by N).

Clients are tests/integration/pgwire.py raw connections (startup + SCRAM, then
nothing): a socket and a few Python objects each, where a driver connection
would cost the client far more. Logins run on a small thread pool; each socket
then sits idle until close_all().
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pgwire
from targets import Target, proc_rss_kb


@dataclass
class MemoryResult:
    target: str
    clients: int              # asked for
    connected: int = 0        # authenticated and idle when RSS was read
    rss_before_kb: int | None = None
    rss_after_kb: int | None = None
    query_ok: bool = False    # one of the idle clients could still run SELECT 1
    error: str = ""

    @property
    def kb_per_client(self) -> float | None:
        if self.rss_before_kb is None or self.rss_after_kb is None or not self.connected:
            return None
        return (self.rss_after_kb - self.rss_before_kb) / self.connected

    @property
    def ok(self) -> bool:
        return self.connected == self.clients and self.query_ok and not self.error


class IdleClients:
    """A growing set of idle authenticated connections to one target."""

    def __init__(self, target: Target, login_threads: int = 16, timeout: float = 30) -> None:
        self.target = target
        self.login_threads = login_threads
        self.timeout = timeout
        self.conns: list[pgwire.RawConnection] = []
        self.errors: list[str] = []

    def _login(self) -> pgwire.RawConnection | None:
        t = self.target
        try:
            conn = pgwire.RawConnection(t.host, t.port, timeout=self.timeout)
        except OSError as e:
            self.errors.append(f"connect: {e}")
            return None
        try:
            conn.startup(t.user, t.db, t.password)
            return conn
        except Exception as e:  # noqa: BLE001 - any failure is a result to report
            self.errors.append(f"login: {type(e).__name__}: {e}")
            conn.close()
            return None

    def grow_to(self, n: int, deadline: float) -> None:
        """Opens connections until n are held, a login fails, or the deadline
        (time.monotonic()) passes; stops at the first failed batch."""
        with ThreadPoolExecutor(self.login_threads) as pool:
            while len(self.conns) < n and time.monotonic() < deadline and not self.errors:
                batch = min(n - len(self.conns), 4 * self.login_threads)
                for conn in pool.map(lambda _: self._login(), range(batch)):
                    if conn is not None:
                        self.conns.append(conn)
        if len(self.conns) < n and not self.errors:
            self.errors.append(f"deadline passed with {len(self.conns)} of {n} clients open")

    def query_one(self) -> bool:
        """SELECT 1 on the oldest idle client: the proxy still serves them."""
        if not self.conns:
            return False
        try:
            rows, _ = self.conns[0].query("SELECT 1")
            return rows == [["1"]]
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"SELECT 1 on an idle client: {type(e).__name__}: {e}")
            return False

    def close_all(self) -> None:
        for conn in self.conns:
            try:
                conn.send(pgwire.message(b"X"))
            except OSError:
                pass
            conn.close()
        self.conns.clear()


def measure(target: Target, levels: list[int], settle: float = 2.0,
            time_limit: float = 300) -> list[MemoryResult]:
    """RSS per idle client at each level (ascending), on one proxy, growing
    one set of clients; the baseline is read after one client logged in and
    out, so the pool and the login path are already warm."""
    pid = target.pid
    warm = IdleClients(target)
    warm.grow_to(1, time.monotonic() + 30)
    warm.query_one()
    warm.close_all()
    time.sleep(settle)
    before = proc_rss_kb(pid)
    clients = IdleClients(target)
    out: list[MemoryResult] = []
    try:
        for n in sorted(levels):
            r = MemoryResult(target.name, n, rss_before_kb=before)
            clients.grow_to(n, time.monotonic() + time_limit)
            time.sleep(settle)  # let the proxy finish whatever the logins started
            r.connected = len(clients.conns)
            crash = target.crashed()
            if crash:
                r.error = f"{target.name} {crash}"
            else:
                r.rss_after_kb = proc_rss_kb(pid)
                r.query_ok = clients.query_one()
            if clients.errors and not r.error:
                r.error = clients.errors[0]
            out.append(r)
            if r.error:
                break
    finally:
        clients.close_all()
    return out
