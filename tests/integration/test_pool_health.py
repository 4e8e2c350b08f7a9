"""Health checks of idle server connections ([pool] health_check_period,
issue 6).

An upstream that dies without closing its socket (a network path that
silently drops everything, a frozen host) is invisible to an idle pooled
connection: nothing arrives to read. pgwarden's health check sends such a
connection an empty Query and closes it if ReadyForQuery does not come back
within connect_timeout, then refills the pool to min_size -- before any
client is handed the dead connection.

The silent upstream is made deterministic with a TCP relay between pgwarden
and PostgreSQL whose existing links can be frozen: bytes stop flowing, no
socket closes.
"""

from __future__ import annotations

import select
import socket
import threading

import pytest

import faultkit
import harness

PERIOD = 1  # health_check_period and connect_timeout, seconds


class Link:
    """One relayed connection; frozen: neither direction is read any more."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.frozen = threading.Event()
        self.closed = threading.Event()
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self.closed.is_set():
                readable, _, _ = select.select([src], [], [], 0.05)
                if not readable or self.frozen.is_set():
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        self.closed.set()
        for s in (self.client, self.server):
            try:
                s.close()
            except OSError:
                pass


class Relay:
    """Accepts on a loopback port and relays each connection to (host, port)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.links: list[Link] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.links.append(Link(client, server))

    def count(self) -> int:
        with self.lock:
            return len(self.links)

    def open_count(self) -> int:
        with self.lock:
            return sum(not link.closed.is_set() for link in self.links)

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for link in self.links:
                link.close()


@pytest.fixture
def relay(world):
    r = Relay(world.pg.host, world.pg.port)
    yield r
    r.close()


def start_through_relay(daemon: harness.Pgwarden, world, relay: Relay, **pool) -> None:
    """Starts pgwarden with user acme's connection "analytics" reaching
    PostgreSQL through the relay, pool settings `pool`, and waits for its
    start-up read of the customer's functions (libpq, through the relay,
    once per schema_cache_ttl) to end, so later links through the relay are
    the pool's alone."""
    daemon.pool.update(**pool)
    daemon.add_user("acme")
    daemon.add_connection("acme", "analytics",
                          world.pg.url("analytics", "analyst", world.roles["analyst"],
                                       port=relay.port))
    daemon.start()
    harness.wait_until(lambda: relay.count() >= 1 and relay.open_count() == 0, 15,
                       "pgwarden's start-up schema read through the relay")


def analyst_backends(pg: harness.PostgresCluster) -> set[int]:
    with faultkit.superuser(pg) as su:
        rows = su.execute("SELECT pid FROM pg_stat_activity WHERE usename = 'analyst'"
                          " AND datname = 'analytics'").fetchall()
    return {int(r[0]) for r in rows}


def test_silent_idle_server_fails_its_check_and_is_replaced(world, relay):
    pg = world.pg
    daemon = harness.Pgwarden()
    try:
        start_through_relay(daemon, world, relay, min_size=1, max_size=2,
                            health_check_period=PERIOD, connect_timeout=PERIOD,
                            server_idle_timeout=0)
        links = relay.count()
        before = analyst_backends(pg)
        # The pool fills to min_size once used: one server, idle after this.
        r = daemon.psql("SELECT 1", "acme", "analytics")
        assert r.ok, r.stderr
        assert relay.count() == links + 1
        first = analyst_backends(pg) - before
        assert len(first) == 1

        # The path to PostgreSQL goes silent; the backend itself stays up.
        mark = daemon.log_mark()
        relay.links[links].frozen.set()

        # Within a period (plus connect_timeout for the unanswered check) the
        # server is closed and a new one opened through the relay -- with no
        # client asking for it.
        daemon.wait_for_log("failed its health check", timeout=10 * PERIOD, since=mark)
        harness.wait_until(lambda: relay.count() >= links + 2, 10 * PERIOD,
                           "the pool to open a replacement server")
        replacement = harness.wait_until(
            lambda: analyst_backends(pg) - before - first, 10 * PERIOD,
            "a new pgwarden backend in pg_stat_activity")
        assert len(replacement) == 1

        # The next client is served by the replacement, promptly.
        r = daemon.psql("SELECT 42", "acme", "analytics", timeout=2 * PERIOD + 5)
        assert r.ok, r.stderr
        assert "42" in r.stdout
        assert daemon.running
    finally:
        daemon.cleanup()


def test_healthy_idle_server_is_checked_and_kept(world, relay):
    pg = world.pg
    daemon = harness.Pgwarden()
    try:
        start_through_relay(daemon, world, relay, min_size=1, max_size=2,
                            health_check_period=PERIOD, connect_timeout=5,
                            server_idle_timeout=0)
        links = relay.count()
        before = analyst_backends(pg)
        assert daemon.psql("SELECT 1 AS before_check", "acme", "analytics").ok
        (pid,) = analyst_backends(pg) - before

        # pg_stat_activity shows a backend's last statement: the idle server's
        # turns from the client's SELECT into pgwarden's empty check query.
        def last_query() -> str:
            with faultkit.superuser(pg) as su:
                return su.execute("SELECT query FROM pg_stat_activity WHERE pid = %s",
                                  (pid,)).fetchone()[0]
        assert "before_check" in last_query()
        harness.wait_until(lambda: last_query() == "", 10 * PERIOD,
                           "the idle server's health check (an empty query)")

        # It passed: the same server serves the next client, nothing replaced.
        r = daemon.psql("SELECT pg_backend_pid()", "acme", "analytics")
        assert r.ok, r.stderr
        assert str(pid) in r.stdout
        assert relay.count() == links + 1
        assert "failed its health check" not in daemon.log
    finally:
        daemon.cleanup()
