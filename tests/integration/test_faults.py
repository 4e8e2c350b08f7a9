"""Issue 8, faults: what a client sees when the upstream PostgreSQL or another
client misbehaves, and proof that everyone else keeps being served.

The upstream under attack is a PostgreSQL of this file's own ("victim"): its
backends are terminated, killed with SIGKILL (which makes the postmaster
restart every backend), stopped with SIGSTOP, and the whole server is
restarted with `pg_ctl restart -m fast`. The bystander is the shared world's
PostgreSQL (conftest.py), reached through another connection record of the
same pgwarden, so "another tenant keeps being served" is measured on a server
nothing here disturbs.

Every client call has a deadline (raw sockets with a timeout, see
faultkit.CALL_TIMEOUT); a daemon that never answers fails the test, it does
not hang it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import faultkit
import harness
import pgwire
from faultkit import Bystander, login, long_query, query_message, read_reply

# SQLSTATEs a client may see for a statement whose upstream went away: the
# proxy's own "upstream lost", or the server's shutdown/crash/recovery errors.
UPSTREAM_LOST = {"08006", "08003", "57P01", "57P02", "57P03", "08001"}

STOPPABLE_QUERY_TIMEOUT = 2  # s, connection "stoppable"
BULK_QUERY_TIMEOUT = 6       # s, connection "bulk"
SINGLE_IDLE_TX_TIMEOUT = 2   # s, connection "single" (pool of one)
FROZEN_CONNECT_TIMEOUT = 1   # s, connection "frozen"

VAULT = faultkit.LogVault()


@dataclass
class Victim:
    pg: harness.PostgresCluster
    analyst_password: str
    restart_log: str = ""

    def postmaster_running(self) -> bool:
        return (self.pg.data / "postmaster.pid").exists()

    def accepts(self) -> bool:
        return self.pg.psql("SELECT 1", check=False, timeout=10).ok

    def pg_ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run(
            harness._as_postgres([harness.PG_BINDIR / "pg_ctl", "-D", self.pg.data, *args]),
            cwd=self.pg.dir, env=harness.clean_env(), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def victim():
    """A PostgreSQL of this file's own with the analytics database."""
    pg = harness.PostgresCluster()
    pg.start()
    v = Victim(pg, "")
    try:
        v.analyst_password = pg.load_analytics("analytics", "analyst")
        # The harness runs PostgreSQL with synchronous_commit = off: make the
        # setup (roles, GRANT CONNECT) durable before crashing it on purpose,
        # or crash recovery may lose the last commits.
        pg.psql("CHECKPOINT")
        yield v
    finally:
        # After `pg_ctl restart` the postmaster is pg_ctl's child, not the
        # harness's: stop it ourselves before the folder goes.
        if pg.dir is not None and v.postmaster_running():
            v.pg_ctl("stop", "-m", "immediate", "-w", "-t", "30", timeout=60)
        pg.stop()


@pytest.fixture(scope="module")
def frozen_port():
    """A TCP listener that never accepts: the kernel completes the handshake
    (backlog), then nothing ever answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((harness.LOOPBACK, 0))
    s.listen(64)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@pytest.fixture(scope="module")
def fw(world, victim, frozen_port):
    """pgwarden with connection records on the victim (several settings), on
    the frozen listener, and one on the shared world's PostgreSQL (bystander)."""
    d = harness.Pgwarden()
    try:
        d.add_user("acme")
        url = victim.pg.url("analytics", "analyst", victim.analyst_password)
        d.add_connection("acme", "victim", url)
        d.add_connection("acme", "stoppable", url, query_timeout=STOPPABLE_QUERY_TIMEOUT)
        d.add_connection("acme", "bulk", url, query_timeout=BULK_QUERY_TIMEOUT)
        d.add_connection("acme", "single", url, min_size=1, max_size=1, acquire_timeout=15,
                         idle_transaction_timeout=SINGLE_IDLE_TX_TIMEOUT)
        d.add_connection("acme", "frozen",
                         victim.pg.url("analytics", "analyst", victim.analyst_password,
                                       port=frozen_port),
                         min_size=0, connect_timeout=FROZEN_CONNECT_TIMEOUT)
        d.add_connection("acme", "bystander",
                         world.pg.url("analytics", "analyst", world.roles["analyst"]))
        d.write_config()
        d.start()
        VAULT.watch("fw", d.dir)
        yield d
    finally:
        VAULT.keep("fw", d.dir)
        d.cleanup()


@pytest.fixture(autouse=True)
def daemon_log_on_failure(request, fw):
    """pgwarden's log lines of this test, shown by pytest when the test fails;
    the test fails if pgwarden died during it."""
    mark = fw.log_mark()
    yield from faultkit.daemons_survive(request, ("fw",))
    print("pgwarden log during this test:\n" + fw.log_since(mark)[-4000:])


@pytest.fixture
def bystander(fw):
    with Bystander(fw, "bystander", sql="SELECT count(*) FROM loans") as b:
        b.check(1)
        yield b


def lost_upstream_error(messages) -> dict[str, str]:
    errors = faultkit.errors_in(messages)
    assert len(errors) == 1, messages
    return errors[0]


# --------------------------------------------------------------------------
# Upstream backend killed mid-query


@pytest.mark.parametrize("how", ["pg_terminate_backend", "kill_9"])
def test_backend_killed_mid_query(fw, victim, bystander, how):
    """The backend running a client's statement dies (terminated by a
    superuser, or SIGKILL, after which PostgreSQL restarts every backend):
    the client gets one ERROR (upstream lost, SQLSTATE in UPSTREAM_LOST) and
    its ReadyForQuery, not a FATAL and not silence; the same session runs its
    next statement (within 2 s of PostgreSQL accepting connections again), on
    a new server connection; an idle session of the same pool does too; and a
    client of another upstream is served throughout."""
    tag = faultkit.marker(f"killed_{how}")
    with login(fw, "victim") as client, login(fw, "victim") as neighbour:
        neighbour.query("SELECT 1")
        client.send(query_message(long_query(tag)))
        pid = faultkit.find_backend(victim.pg, tag)
        if how == "pg_terminate_backend":
            with faultkit.superuser(victim.pg) as su:
                assert su.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        else:
            os.kill(pid, signal.SIGKILL)
        bystander.check()  # served while the victim's pool loses a server

        answer = read_reply(client, f"the statement whose backend died ({how})")
        err = lost_upstream_error(answer)
        assert err.get("C") in UPSTREAM_LOST, err
        assert err.get("S") == "ERROR", (
            f"the client was told {err.get('S')} {err.get('C')} {err.get('M')!r} although its"
            " session goes on: FATAL means the server closes the connection")
        assert answer[-1] == (b"Z", b"I")

        harness.wait_until(victim.accepts, 60, "the victim PostgreSQL to accept connections")
        back = time.monotonic()
        for session in (client, neighbour):
            def runs(session=session) -> bool:
                try:
                    return session.query("SELECT count(*) FROM loans")[0] == [["2000"]]
                except pgwire.ServerError:
                    return False
            harness.wait_until(runs, 2.0, f"a statement to succeed on the session after {how}")
        assert time.monotonic() - back < 2.5
        new_pid = int(client.query("SELECT pg_backend_pid()")[0][0][0])
        assert new_pid != pid
    harness.wait_until(lambda: faultkit.backend_idle_or_gone(victim.pg, pid), 10,
                       f"the dead backend {pid} to be gone")
    bystander.check()


# --------------------------------------------------------------------------
# Upstream restarted under load


@dataclass
class Outcome:
    worker: int
    started: float
    ended: float
    error: dict | None


def test_upstream_restart_under_load(fw, victim, bystander):
    """`pg_ctl restart -m fast` while four clients run statements back to back
    on the victim: only statements that started before the server had been
    back for 2 s fail, each with an upstream-lost SQLSTATE; every session
    survives (no close, no hang: every call has a deadline); every client has
    statements succeeding again within 2 s of the server being back; a client
    of another upstream sees no error and no delay."""
    workers, outcomes, trouble = 4, [], []
    stop = threading.Event()
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            conn = login(fw, "victim", timeout=15)
        except Exception as e:  # noqa: BLE001 - reported below
            trouble.append(f"worker {i}: login failed: {e!r}")
            return
        try:
            for _ in range(20000):  # bounded; ends on stop
                if stop.is_set():
                    return
                started = time.monotonic()
                try:
                    rows, _ = conn.query("SELECT count(*) FROM generate_series(1, 300000)")
                    error = None if rows == [["300000"]] else {"M": f"wrong rows {rows!r}"}
                except pgwire.ServerError as e:
                    error = e.fields
                with lock:
                    outcomes.append(Outcome(i, started, time.monotonic(), error))
        except TimeoutError:
            trouble.append(f"worker {i}: no answer within 15 s (the call hung)")
        except (pgwire.Closed, OSError) as e:
            trouble.append(f"worker {i}: session lost: {e!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()

    def successes_since(since: float) -> set[int]:
        with lock:
            return {o.worker for o in outcomes if o.error is None and o.started >= since}

    try:
        harness.wait_until(lambda: len(successes_since(0)) == workers or trouble, 20,
                           "every worker to run statements")
        assert not trouble, "; ".join(trouble)
        down = time.monotonic()
        r = victim.pg_ctl("restart", "-m", "fast", "-w", "-t", "60",
                          "-l", str(victim.pg.dir / "restarted.log"))
        assert r.returncode == 0, r.stderr
        back = time.monotonic()
        bystander.check()
        harness.wait_until(lambda: len(successes_since(back + 2.0)) == workers or trouble, 20,
                           "every worker to succeed 2 s after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not [t for t in threads if t.is_alive()], "a client call never returned"
    assert not trouble, "; ".join(trouble)

    failed = [o for o in outcomes if o.error is not None]
    late = [o for o in failed if o.started > back + 2.0]
    assert not late, (f"statements started more than 2 s after the server was back failed:"
                      f" {[(round(o.started - back, 2), o.error.get('C'), o.error.get('M')) for o in late]}")
    odd = [o for o in failed if o.error.get("C") not in UPSTREAM_LOST]
    assert not odd, [(o.error.get("C"), o.error.get("M")) for o in odd]
    for i in range(workers):
        first = min((o.ended for o in outcomes
                     if o.worker == i and o.error is None and o.started >= back), default=None)
        assert first is not None and first - back <= 2.0, (
            f"worker {i}: first success {first and round(first - back, 2)}s after the server was back")
    print(f"restart: {len(failed)} failed statements of {len(outcomes)};"
          f" server down for {back - down:.2f}s")
    bystander.check()


# --------------------------------------------------------------------------
# Upstream frozen


def test_frozen_listener_connect_timeout(fw, bystander):
    """A connection record whose upstream accepts TCP and never answers: each
    of three concurrent clients gets "Connection timed out. Server may be
    unreachable." (08001) about connect_timeout (1 s) later, and meanwhile
    clients of other connection records are served without delay."""
    results: list[tuple[float, dict | str]] = []

    def attempt() -> None:
        started = time.monotonic()
        try:
            with login(fw, "frozen", timeout=15) as conn:
                conn.query("SELECT 1")
                results.append((time.monotonic() - started, "the query succeeded"))
        except pgwire.ServerError as e:
            results.append((time.monotonic() - started, e.fields))
        except Exception as e:  # noqa: BLE001 - reported below
            results.append((time.monotonic() - started, repr(e)))

    threads = [threading.Thread(target=attempt, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    with login(fw, "victim") as same_upstream_other_pool:
        while any(t.is_alive() for t in threads):  # bounded by the attempts' own timeouts
            bystander.check(1)
            assert same_upstream_other_pool.query("SELECT 1")[0] == [["1"]]
            for t in threads:
                t.join(timeout=0.1)
    assert len(results) == 3, results
    for elapsed, fields in results:
        assert isinstance(fields, dict), fields
        assert fields.get("C") == "08001", fields
        assert "Connection timed out. Server may be unreachable." in fields.get("M", ""), fields
        assert FROZEN_CONNECT_TIMEOUT * 0.8 <= elapsed < FROZEN_CONNECT_TIMEOUT + 5, elapsed


def test_stopped_backend_query_timeout(fw, victim, bystander):
    """SIGSTOP of the backend serving a statement (it can no longer answer,
    not even a cancel): the query timeout (2 s) still ends the statement for
    the client, with 57014, while the backend is still stopped; other clients
    of the same upstream (another pool, and the same pool) and of another
    upstream are served meanwhile; after SIGCONT the session goes on."""
    tag = faultkit.marker("stopped")
    with login(fw, "stoppable") as client:
        sent = time.monotonic()
        client.send(query_message(long_query(tag)))
        pid = faultkit.find_backend(victim.pg, tag)
        os.kill(pid, signal.SIGSTOP)
        try:
            with login(fw, "victim") as other_pool, login(fw, "stoppable") as same_pool:
                for conn in (other_pool, same_pool):
                    started = time.monotonic()
                    assert conn.query("SELECT count(*) FROM loans")[0] == [["2000"]]
                    assert time.monotonic() - started < faultkit.BYSTANDER_MAX_LATENCY
            bystander.check()
            budget = STOPPABLE_QUERY_TIMEOUT + 10
            client.sock.settimeout(max(0.1, sent + budget - time.monotonic()))
            answer = read_reply(client, f"query_timeout is {STOPPABLE_QUERY_TIMEOUT}s; {budget}s"
                                " after a statement began on a stopped backend")
            err = lost_upstream_error(answer)
            assert err.get("C") == "57014", err
            assert answer[-1][0] == b"Z"
        finally:
            os.kill(pid, signal.SIGCONT)
        client.sock.settimeout(faultkit.CALL_TIMEOUT)
        assert client.query("SELECT count(*) FROM loans")[0] == [["2000"]]
    harness.wait_until(lambda: faultkit.statement_gone(victim.pg, tag), 15,
                       "the stopped statement to end after SIGCONT")


def postmaster_pid(pg: harness.PostgresCluster) -> int:
    return int((pg.data / "postmaster.pid").read_text().split()[0])


def children_of(postmaster: int) -> list[int]:
    """The postmaster's children (backends and auxiliary processes)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                pids.append(int(entry))
    return pids


def test_stopped_server_statement_times_out(fw, victim, bystander):
    """SIGSTOP of the postmaster and every one of its processes: a statement
    on the victim (its pool's servers all frozen) ends for the client within
    query_timeout (2 s) + 10 s with 57014 (or a connect timeout, 08001),
    while clients of another upstream are served; after SIGCONT the same
    session runs statements again."""
    with login(fw, "stoppable") as client:
        assert client.query("SELECT 1")[0] == [["1"]]
        postmaster = postmaster_pid(victim.pg)
        stopped = []
        try:
            # The postmaster first, so that it forks nothing we would miss; a
            # child may exit before its turn.
            for pid in [postmaster, *children_of(postmaster)]:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:
                    continue
                stopped.append(pid)
            sent = time.monotonic()
            client.send(query_message("SELECT count(*) FROM loans"))
            bystander.check()
            budget = STOPPABLE_QUERY_TIMEOUT + 10
            client.sock.settimeout(budget)
            answer = read_reply(client, f"query_timeout is {STOPPABLE_QUERY_TIMEOUT}s; {budget}s"
                                " after a statement was sent to a stopped server")
            err = lost_upstream_error(answer)
            assert err.get("C") in ("57014", "08001"), err
            assert time.monotonic() - sent < budget
            bystander.check()
        finally:
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        client.sock.settimeout(faultkit.CALL_TIMEOUT)

        def runs() -> bool:
            try:
                return client.query("SELECT count(*) FROM loans")[0] == [["2000"]]
            except pgwire.ServerError:
                return False
        harness.wait_until(runs, 5, "the session to run statements after SIGCONT")


# --------------------------------------------------------------------------
# Client vanishes mid-transaction


@pytest.mark.parametrize("how", ["tcp_reset", "half_open"])
def test_vanished_client_transaction_never_reused(fw, victim, bystander, how):
    """On a pool of one server, a client inside a transaction with a SET LOCAL
    marker vanishes: with a TCP reset (SO_LINGER 0), or half-open (it just
    stops sending and reading, socket open). The next client gets the only
    server in a fresh transaction, without the marker (the old transaction was
    rolled back or the server replaced): at once after a reset, and after
    idle_transaction_timeout (2 s) for the silent one."""
    gone = login(fw, "single")
    try:
        gone.query("BEGIN")
        gone.query("SET LOCAL extra_float_digits = -7")
        (pid, began), = gone.query("SELECT pg_backend_pid(), now()")[0]
        assert gone.query("SHOW extra_float_digits")[0] == [["-7"]]
        vanished = time.monotonic()
        if how == "tcp_reset":
            gone.reset()
        bystander.check()

        with login(fw, "single") as nxt:
            rows, status = nxt.query(
                f"SELECT current_setting('extra_float_digits'), now() > '{began}'::timestamptz")
            waited = time.monotonic() - vanished
            assert rows == [["1", "t"]], f"the next client saw the vanished client's transaction: {rows}"
            assert status == b"I"
            limit = 3 if how == "tcp_reset" else SINGLE_IDLE_TX_TIMEOUT + 4
            assert waited < limit, f"the next client waited {waited:.1f}s for the pool's only server"
        if how == "half_open":
            # The silent client was told why, had it been listening.
            data = gone.read_until_closed(10)
            errors = [pgwire.parse_fields(b) for k, b in pgwire.split_messages(data) if k == b"E"]
            assert [e.get("C") for e in errors] == ["25P03"], data
    finally:
        gone.close()
    harness.wait_until(lambda: faultkit.backend_idle_or_gone(victim.pg, int(pid)), 10,
                       "the vanished client's transaction to end upstream")
    bystander.check()


@pytest.mark.parametrize("next_params", [{}, {"TimeZone": "Nowhere/Bogus"}],
                         ids=["no_parameters", "invalid_timezone"])
def test_next_client_does_not_inherit_session_state(fw, bystander, next_params):
    """On a pool of one server, a client that logged in with its own
    application_name leaves. The next client (sending no parameters, or an
    invalid TimeZone) is either refused with FATAL 22023 (as PostgreSQL refuses
    an invalid value; pgwarden at login or at the first statement) or gets a session where the previous
    client's application_name is gone and the TimeZone pgwarden reported to
    it is the one the server really uses."""
    mine = faultkit.marker("first_clients_app")
    with login(fw, "single", extra={"application_name": mine}) as first:
        assert first.query("SELECT current_setting('application_name')")[0] == [[mine]]
    try:
        nxt = login(fw, "single", extra=next_params)
    except pgwire.ServerError as e:
        assert next_params and e.fields.get("S") == "FATAL", e.fields
        return
    with nxt:
        try:
            (app, timezone), = nxt.query(
                "SELECT current_setting('application_name'), current_setting('TimeZone')")[0]
        except pgwire.ServerError as e:
            # pgwarden learns that a startup value is invalid when it first
            # applies it upstream: it then ends the session as PostgreSQL
            # would have at login (FATAL 22023), and the server is reset.
            assert next_params and e.fields.get("S") == "FATAL", e.fields
            assert e.fields.get("C") == "22023", e.fields
            assert nxt.read_until_closed(10) is not None
            return
        assert app != mine, (
            f"the next client (startup parameters {next_params}) inherited the previous"
            " client's application_name")
        assert timezone == nxt.params.get("TimeZone"), (
            f"pgwarden reported TimeZone {nxt.params.get('TimeZone')!r}, the server uses {timezone!r}")
    bystander.check()


# --------------------------------------------------------------------------
# Slow reader


SLOW_READER_ROWS = 200_000  # x 1000 characters: ~200 MB of DataRows
RSS_GROWTH_LIMIT = 64 * 1024 * 1024


def test_slow_reader_memory_bounded(fw, victim, bystander):
    """A client asks for ~200 MB and reads nothing: back-pressure reaches the
    upstream backend (it waits in ClientWrite) and pgwarden's resident memory
    grows by less than 64 MiB (the observed growth is printed); other clients
    keep their latency; and the query timeout (6 s) still ends the statement
    upstream, after which the reader finds an error or a closed socket, never
    a complete result."""
    pid = fw.proc.pid
    rss_before = faultkit.rss_bytes(pid)
    tag = faultkit.marker("slow_reader")
    slow = login(fw, "bulk")
    try:
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sent = time.monotonic()
        slow.send(query_message(
            f"SELECT repeat('x', 1000) AS {tag} FROM generate_series(1, {SLOW_READER_ROWS})"))
        with faultkit.superuser(victim.pg) as su:
            harness.wait_until(
                lambda: su.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'ClientWrite'"
                                   " AND query LIKE %s", (f"%{tag}%",)).fetchone(),
                BULK_QUERY_TIMEOUT - 1, "the upstream backend to block writing to pgwarden")
        samples = []
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # measure while the reader stalls
            samples.append(faultkit.rss_bytes(pid))
            bystander.check(1)
        growth = max(samples) - rss_before
        print(f"slow reader: pgwarden VmRSS {rss_before / 2**20:.1f} MiB before,"
              f" at most {max(samples) / 2**20:.1f} MiB while stalled"
              f" (+{growth / 2**20:.1f} MiB, {len(samples)} samples)")
        if not faultkit.SANITIZER:  # see faultkit.SANITIZER: the bound is a release build's
            assert growth < RSS_GROWTH_LIMIT, f"pgwarden grew by {growth / 2**20:.1f} MiB"
        assert max(bystander.latencies) < faultkit.BYSTANDER_MAX_LATENCY

        try:
            harness.wait_until(lambda: faultkit.statement_gone(victim.pg, tag),
                               max(1.0, sent + BULK_QUERY_TIMEOUT + 15 - time.monotonic()),
                               "the stalled statement to end upstream")
        except TimeoutError:
            pytest.fail(f"query_timeout is {BULK_QUERY_TIMEOUT}s, but {BULK_QUERY_TIMEOUT + 15}s"
                        " later the slow reader's statement still runs upstream (a cancel does not"
                        " interrupt a backend blocked writing; the server must be closed)")
        print(f"slow reader: statement ended upstream {time.monotonic() - sent:.1f}s after it was sent")
        # The reader wakes up: whatever was already buffered, then an error or EOF.
        completed = error = None
        closed = False
        slow.sock.settimeout(faultkit.CALL_TIMEOUT)
        for _ in range(SLOW_READER_ROWS + 10):
            try:
                kind, body = slow.read_message()
            except (pgwire.Closed, ConnectionError):
                closed = True
                break
            if kind == b"C":
                completed = body
            elif kind == b"E":
                error = pgwire.parse_fields(body)
            elif kind == b"Z":
                break
        print(f"slow reader: then read {'EOF' if closed else error}")
        assert completed is None, f"the reader got a complete result {completed!r} despite the timeout"
        assert closed or (error and error.get("C") == "57014"), (closed, error)
    finally:
        slow.close()
    bystander.check()
    if not faultkit.SANITIZER:
        harness.wait_until(lambda: faultkit.rss_bytes(pid) - rss_before < RSS_GROWTH_LIMIT, 10,
                           "pgwarden's memory to stay bounded after the slow reader")


# --------------------------------------------------------------------------
# Must stay last: audits every log this file produced.


def test_zz_no_secret_in_any_log(fw, world, victim):
    """After every fault above, no password (client, upstream, superuser) and
    not the encryption key appears in any log pgwarden wrote (daemon log with
    its audit lines)."""
    secrets_used = {"encryption key": fw.encryption_key,
                    "acme's password": fw.users["acme"],
                    "victim analyst password": victim.analyst_password,
                    "victim superuser password": victim.pg.superuser_password,
                    "world superuser password": world.pg.superuser_password,
                    **{f"world role {r}": p for r, p in world.roles.items()}}
    texts = VAULT.texts()
    assert texts and all(texts.values()), f"no logs to audit: {list(texts)}"
    assert not faultkit.leaked(texts, secrets_used), faultkit.leaked(texts, secrets_used)
