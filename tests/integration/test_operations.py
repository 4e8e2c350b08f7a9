"""Running pgwarden as a service: systemd notifications in the right order,
SIGHUP reload that swaps the configuration without dropping anyone (and keeps
the old one when the new one is bad), and SIGTERM drain that lets open
transactions finish and tells idle clients 57P01."""

from __future__ import annotations

import contextlib
import signal
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest

import harness
import pgwire


class NotifySocket:
    """A NOTIFY_SOCKET datagram listener, as systemd provides one."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pgwarden-notify-"))
        self.path = self.dir / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def states(self) -> list[str]:
        """The READY/RELOADING/STOPPING lines, in order (STATUS and WATCHDOG dropped)."""
        out = []
        for m in self.drain():
            out += [line for line in m.split("\n") if line.split("=")[0] in
                    ("READY", "RELOADING", "STOPPING")]
        return out

    def wait_for(self, state: str, timeout: float = 10) -> None:
        harness.wait_until(lambda: state in self.states(), timeout, f"{state} on NOTIFY_SOCKET")

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)
        self.dir.rmdir()


@pytest.fixture
def service(world):
    """A pgwarden of its own (it is reloaded and stopped), with a notify socket."""
    notify = NotifySocket()
    daemon = harness.Pgwarden()
    daemon.add_user("acme")
    daemon.add_connection("acme", "analytics",
                          world.pg.url("analytics", "analyst", world.roles["analyst"]))
    daemon.extra_env["NOTIFY_SOCKET"] = str(notify.path)
    daemon.write_config()
    daemon.start()
    try:
        yield daemon, notify
    finally:
        daemon.cleanup()
        notify.close()


def connect(daemon: harness.Pgwarden, db: str = "analytics") -> psycopg.Connection:
    return psycopg.connect(daemon.dsn("acme", db), autocommit=True)


def test_reload_swaps_config_without_dropping_clients(service, world):
    """SIGHUP: a client in a transaction keeps it (same server, same data) and
    commits; a connection added to the file is reachable at once; the notify
    socket saw READY=1, RELOADING=1, READY=1."""
    daemon, notify = service
    notify.wait_for("READY=1")
    with connect(daemon) as held:
        held.execute("BEGIN")
        pid = held.execute("SELECT pg_backend_pid()").fetchone()[0]
        daemon.add_connection("acme", "added_later",
                              world.pg.url("analytics", "analyst", world.roles["analyst"]))
        daemon.pool["max_size"] = 4
        daemon.write_config()
        mark = daemon.log_mark()
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_log("reload: configuration applied", since=mark)
        assert held.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        held.execute("COMMIT")
        assert held.execute("SELECT count(*) FROM loans").fetchone() == (2000,)
    with connect(daemon, "added_later") as fresh:
        assert fresh.execute("SELECT count(*) FROM borrowers").fetchone() == (500,)
    assert notify.states()[:3] == ["READY=1", "RELOADING=1", "READY=1"]


def test_bad_reload_keeps_the_running_config(service):
    """A config that does not load is refused with its reason in the log; the
    running configuration keeps serving and nothing is dropped."""
    daemon, notify = service
    with connect(daemon) as client:
        daemon.config_path.write_text(daemon.config_path.read_text() + "\n[pool]\nmax_size = -1\n")
        mark = daemon.log_mark()
        daemon.proc.send_signal(signal.SIGHUP)
        line = daemon.wait_for_log("reload failed, keeping the running configuration", since=mark)
        assert "pgwarden.toml" in line
        assert client.execute("SELECT 1").fetchone() == (1,)
    with connect(daemon) as again:
        assert again.execute("SELECT 2").fetchone() == (2,)
    assert daemon.proc.poll() is None


def _fatal_then_closed(conn: pgwire.RawConnection) -> dict[str, str]:
    data = conn.read_until_closed(10)
    errors = [pgwire.parse_fields(b) for k, b in pgwire.split_messages(data) if k == b"E"]
    assert len(errors) == 1, data
    return errors[0]


def test_sigterm_drains_then_exits_zero(service):
    """SIGTERM: idle clients get FATAL 57P01 at once, a client inside a
    transaction finishes it and only then gets 57P01, new connections are
    refused, the process exits 0, and STOPPING=1 was announced."""
    daemon, notify = service
    idle = pgwire.RawConnection(daemon.host, daemon.port)
    idle.startup("acme", "analytics", daemon.users["acme"])
    busy = pgwire.RawConnection(daemon.host, daemon.port)
    busy.startup("acme", "analytics", daemon.users["acme"])
    busy.query("BEGIN")
    mark = daemon.log_mark()
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.wait_for_log("shutting down", since=mark)
    notify.wait_for("STOPPING=1")

    fatal = _fatal_then_closed(idle)
    assert (fatal["S"], fatal["C"], fatal["M"]) == ("FATAL", "57P01", "pgwarden is shutting down")

    assert busy.query("SELECT count(*) FROM loans")[0] == [["2000"]]
    assert busy.query("COMMIT")[1] == b"I"
    fatal = _fatal_then_closed(busy)
    assert fatal["C"] == "57P01"

    assert daemon.proc.wait(timeout=10) == 0
    assert not harness.port_accepts(daemon.host, daemon.port)
    for c in (idle, busy):
        c.close()


def test_sigterm_grace_ends_stuck_transactions(service):
    """A transaction left open past shutdown_grace (5 s here) does not hold the
    process: its client is told 57P01 and pgwarden exits 0."""
    daemon, notify = service
    stuck = pgwire.RawConnection(daemon.host, daemon.port)
    stuck.startup("acme", "analytics", daemon.users["acme"])
    stuck.query("BEGIN")
    daemon.proc.send_signal(signal.SIGTERM)
    fatal = _fatal_then_closed(stuck)
    assert fatal["C"] == "57P01"
    assert daemon.proc.wait(timeout=15) == 0
    stuck.close()


@contextlib.contextmanager
def _running(daemon: harness.Pgwarden):
    """Starts `daemon` with its current settings; cleans it up afterwards."""
    daemon.write_config()
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture
def impatient(world):
    """A pgwarden with client_idle_timeout = 1 s and idle_transaction_timeout = 1 s."""
    daemon = harness.Pgwarden()
    daemon.add_user("acme")
    daemon.add_connection("acme", "analytics",
                          world.pg.url("analytics", "analyst", world.roles["analyst"]),
                          idle_transaction_timeout=1)
    daemon.server_settings["client_idle_timeout"] = 1
    with _running(daemon):
        yield daemon


def test_idle_timeouts_close_idle_clients(impatient, pg):
    """A client idle outside a transaction past client_idle_timeout gets FATAL
    57P05; one idle inside a transaction past idle_transaction_timeout gets
    25P03 and its server is not handed to anyone with the transaction open;
    an active client is left alone."""
    idle = pgwire.RawConnection(impatient.host, impatient.port)
    idle.startup("acme", "analytics", impatient.users["acme"])
    in_tx = pgwire.RawConnection(impatient.host, impatient.port)
    in_tx.startup("acme", "analytics", impatient.users["acme"])
    in_tx.query("BEGIN")
    pid = int(in_tx.query("SELECT pg_backend_pid()")[0][0][0])

    assert _fatal_then_closed(idle)["C"] == "57P05"
    assert _fatal_then_closed(in_tx)["C"] == "25P03"
    with psycopg.connect(pg.dsn(), autocommit=True) as su:
        harness.wait_until(
            lambda: su.execute("SELECT coalesce((SELECT state FROM pg_stat_activity WHERE pid = %s),"
                               " 'gone') IN ('idle', 'gone')", (pid,)).fetchone()[0],
            10, "the abandoned transaction to be closed")
    with connect(impatient) as busy:
        for _ in range(3):  # active: each statement is activity
            assert busy.execute("SELECT 1").fetchone() == (1,)
    for c in (idle, in_tx):
        c.close()


def _client_states(daemon: harness.Pgwarden, user: str = "acme") -> list[str]:
    """SHOW CLIENTS' state column for `user`'s sessions (admin console)."""
    return [row["state"] for row in daemon.console_rows("SHOW CLIENTS", "ops")
            if row["user"] == user]


@pytest.fixture
def drowsy(world):
    """client_idle_timeout = 5 s (well past the second after which an idle
    session goes dormant), and an admin console user to watch."""
    daemon = harness.Pgwarden()
    daemon.add_user("acme")
    daemon.add_user("ops")
    daemon.add_connection("acme", "analytics",
                          world.pg.url("analytics", "analyst", world.roles["analyst"]))
    daemon.server_settings["client_idle_timeout"] = 5
    daemon.extra_toml = '[admin]\nusers = ["ops"]\n'
    with _running(daemon):
        yield daemon


def test_dormant_clients_still_get_timeouts_and_shutdown(drowsy):
    """A dormant session (idle, holding no coroutine) still hears its idle
    timer: FATAL 57P05 at client_idle_timeout. Another one, kept active
    until dormant and then left, gets FATAL 57P01 on SIGTERM, and pgwarden
    exits 0 with no session left behind."""
    sleeper = pgwire.RawConnection(drowsy.host, drowsy.port)
    sleeper.startup("acme", "analytics", drowsy.users["acme"])
    harness.wait_until(lambda: _client_states(drowsy) == ["dormant"], 10, "a dormant client")
    assert _fatal_then_closed(sleeper)["C"] == "57P05"
    sleeper.close()

    # Statements a little more often than client_idle_timeout would allow
    # idle, each one waking the session from dormancy.
    waker = pgwire.RawConnection(drowsy.host, drowsy.port)
    waker.startup("acme", "analytics", drowsy.users["acme"])
    for n in range(2):
        harness.wait_until(lambda: _client_states(drowsy) == ["dormant"], 10, "dormant")
        assert waker.query(f"SELECT {n} + 1")[0] == [[str(n + 1)]]
    harness.wait_until(lambda: _client_states(drowsy) == ["dormant"], 10, "dormant at the end")
    drowsy.proc.send_signal(signal.SIGTERM)
    fatal = _fatal_then_closed(waker)
    assert (fatal["C"], fatal["M"]) == ("57P01", "pgwarden is shutting down")
    assert drowsy.proc.wait(timeout=10) == 0
    waker.close()
