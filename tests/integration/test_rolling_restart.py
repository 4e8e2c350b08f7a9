"""Rolling restart with [server] reuse_port: a second pgwarden binds the same
address while the first still runs, the first is told to stop (SIGTERM), and
a client that keeps opening connections and querying throughout sees no
error at all."""

from __future__ import annotations

import signal
import threading
import time

import psycopg
import harness


def _instance(world, port: int) -> harness.Pgwarden:
    daemon = harness.Pgwarden()
    daemon.add_user("acme", "rolling-restart-pw-1")
    daemon.add_connection("acme", "analytics",
                          world.pg.url("analytics", "analyst", world.roles["analyst"]))
    daemon.server_settings["reuse_port"] = "true"
    daemon.port = port
    return daemon


class ClientLoop(threading.Thread):
    """Connects, queries and disconnects in a loop (bounded in count and
    time), recording every failure."""

    def __init__(self, dsn: str, limit: int = 5000, seconds: float = 90) -> None:
        super().__init__(daemon=True)
        self.dsn, self.limit, self.deadline = dsn, limit, time.monotonic() + seconds
        self.successes = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        for i in range(self.limit):
            if self.stop.is_set() or time.monotonic() > self.deadline:
                return
            try:
                with psycopg.connect(self.dsn) as conn:
                    assert conn.execute("SELECT %s::int", (i,)).fetchone() == (i,)
                self.successes += 1
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                self.errors.append(f"{type(e).__name__}: {e}")


def test_no_client_sees_an_error_across_the_swap(world):
    port = harness.free_port()
    old, new = _instance(world, port), _instance(world, port)
    loops: list[ClientLoop] = []

    def served() -> int:
        return sum(loop.successes for loop in loops)

    try:
        old.start()
        # Several at once, so that connections are arriving at every moment
        # of the swap (one loop alone often slips between the steps).
        loops = [ClientLoop(old.dsn("acme", "analytics")) for _ in range(3)]
        for loop in loops:
            loop.start()
        harness.wait_until(lambda: served() >= 30, 30, "the client loops to get going")

        new.start()  # the port already accepts (old): wait for new's own listener
        new.wait_for_log("listening on")
        before = served()
        harness.wait_until(lambda: served() >= before + 30, 30,
                           "clients served while both instances run")

        old.proc.send_signal(signal.SIGTERM)
        assert old.proc.wait(timeout=30) == 0
        after = served()
        harness.wait_until(lambda: served() >= after + 60, 30,
                           "clients served by the new instance alone")
    finally:
        for loop in loops:
            loop.stop.set()
            loop.join(timeout=30)
        old.cleanup()
        new.cleanup()
    errors = [e for loop in loops for e in loop.errors]
    assert errors == [], errors[:5]


def test_without_reuse_port_a_second_instance_cannot_bind(world):
    port = harness.free_port()
    first, second = _instance(world, port), _instance(world, port)
    first.server_settings.pop("reuse_port")
    second.server_settings.pop("reuse_port")
    try:
        first.start()
        second.write_config()
        try:
            # The port accepts (first instance), so start() may return before
            # the second one has failed to bind; either way it must exit.
            second.start(timeout=10)
        except RuntimeError:
            pass
        else:
            assert second.proc.wait(timeout=20) != 0
        assert "Address already in use" in second.log
    finally:
        first.cleanup()
        second.cleanup()
