"""Issue 2 (pgwarden core), seen from the client side: real psql, pgbench,
psycopg and asyncpg through a real pgwarden in front of a real PostgreSQL.

Fixtures and the world they build: conftest.py. Run with
  /usr/bin/python3 -m pytest -q tests/integration/test_core.py
"""

from __future__ import annotations

import asyncio
import re
import select
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import asyncpg
import psycopg
import pytest

import harness
import pgwire

ACQUIRE_TIMEOUT = 10  # the fixture's [pool] acquire_timeout
POOL_MAX = 5          # the fixture's [pool] max_size


def connect(pgw: harness.Pgwarden, user: str = "acme", db: str = "analytics",
            **kw) -> psycopg.Connection:
    kw.setdefault("autocommit", True)
    return psycopg.connect(pgw.dsn(user, db), **kw)


def direct(pg: harness.PostgresCluster) -> psycopg.Connection:
    """A superuser connection straight to PostgreSQL, to look behind pgwarden."""
    return psycopg.connect(pg.dsn(), autocommit=True)


def raw_login_error(pgw: harness.Pgwarden, user: str, db: str, password: str) -> dict[str, str]:
    """The ErrorResponse fields a client gets when logging in, without the
    source-location fields (F, L, R) that only say where in the server it was raised."""
    with pgwire.RawConnection(pgw.host, pgw.port) as conn:
        with pytest.raises(pgwire.ServerError) as info:
            conn.startup(user, db, password)
    return {k: v for k, v in info.value.fields.items() if k not in "FLR"}


def run_async(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --------------------------------------------------------------------------
# Queries through pgwarden


def test_psql_answers_count_of_loans(pgwarden, pg):
    """psql through pgwarden gets the same answer as psql straight to PostgreSQL."""
    r = pgwarden.psql("SELECT count(*) FROM loans", "acme", "analytics")
    assert r.ok, r.stderr
    assert r.stdout == "2000"
    assert r.stdout == pg.psql("SELECT count(*) FROM loans", db="analytics")


def test_daemon_says_it_is_listening(pgwarden):
    """Once it accepts connections the daemon logs a "listening on" line
    naming its address."""
    line = [l for l in pgwarden.log.splitlines() if "listening on" in l]
    assert line and f"{pgwarden.port}" in line[0], pgwarden.log[-2000:]


def test_multi_statement_simple_query(pgwarden):
    """A multi-statement Query string returns every result, runs as one
    implicit transaction on one server, and an error in the middle reaches the
    client while the session stays usable."""
    r = pgwarden.psql("SELECT 1 AS one; SELECT count(*) FROM borrowers; SELECT 'three'",
                      "acme", "analytics")
    assert r.ok, r.stderr
    assert r.stdout.splitlines() == ["1", "500", "three"]

    with connect(pgwarden) as conn:
        cur = conn.cursor()
        # Same implicit transaction: a transaction-local setting is visible
        # to the next statement of the string, and gone afterwards.
        cur.execute("SELECT set_config('extra_float_digits', '-3', true);"
                    " SELECT current_setting('extra_float_digits')")
        assert cur.fetchall() == [("-3",)]
        assert cur.nextset() and cur.fetchall() == [("-3",)]
        assert cur.execute("SELECT current_setting('extra_float_digits')").fetchone()[0] == "1"

        with pytest.raises(psycopg.errors.DivisionByZero):
            cur.execute("SELECT 1; SELECT 1/0; SELECT 3")
        assert cur.execute("SELECT count(*) FROM payments").fetchone() == (8000,)

        # A failed explicit block stays failed until the client ends it.
        with pytest.raises(psycopg.errors.DivisionByZero):
            cur.execute("BEGIN; SELECT 1/0; ROLLBACK")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            cur.execute("SELECT 1")
        cur.execute("ROLLBACK")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert cur.execute("SELECT 42").fetchone() == (42,)


@pytest.mark.parametrize("prepare_threshold", [None, 5], ids=["unprepared", "driver-default"])
def test_extended_protocol_psycopg(pgwarden, pg, prepare_threshold):
    """psycopg's server-side binding (Parse/Bind/Describe/Execute/Sync with
    unnamed statements) returns typed results, NULLs, binary results and
    errors, and pipelines several queries before one Sync."""
    with connect(pgwarden, prepare_threshold=prepare_threshold) as conn:
        cur = conn.cursor()
        # Fewer than 5 runs of any one text: psycopg never names a statement
        # (named statements are issue 5).
        assert cur.execute("SELECT %s::int + 1, %s::text, %s::numeric", (41, "zoë", "1.50")
                           ).fetchone() == (42, "zoë", pytest.approx(1.5))
        assert cur.execute("SELECT %s::text IS NULL", (None,)).fetchone() == (True,)
        status_counts = cur.execute(
            "SELECT status, count(*) FROM loans WHERE principal > %s GROUP BY status ORDER BY status",
            (20000,)).fetchall()
        expected = pg.psql("SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM"
                           " (SELECT status, count(*) n FROM loans WHERE principal > 20000"
                           "  GROUP BY status) s", db="analytics")
        assert ",".join(f"{s}={n}" for s, n in status_counts) == expected

        bcur = conn.cursor(binary=True)
        assert bcur.execute("SELECT %s::bigint * 2, now() IS NOT NULL", (21,)).fetchone() == (42, True)

        with pytest.raises(psycopg.errors.DivisionByZero):
            cur.execute("SELECT %s::int / 0", (1,))
        assert cur.execute("SELECT %s::int", (7,)).fetchone() == (7,)

        with conn.pipeline():
            curs = [conn.cursor() for _ in range(10)]
            for i, c in enumerate(curs):  # distinct texts: never auto-prepared
                c.execute(f"SELECT %s::int * 2 AS double_{i}", (i,))
        assert [c.fetchone()[0] for c in curs] == [i * 2 for i in range(10)]

    # Non-autocommit: psycopg's own BEGIN ... COMMIT around parameterised queries.
    with connect(pgwarden, autocommit=False, prepare_threshold=prepare_threshold) as conn:
        with conn.transaction():
            n = conn.execute("SELECT count(*) FROM payments WHERE amount >= %s", (100,)).fetchone()[0]
            assert n == int(pg.psql("SELECT count(*) FROM payments WHERE amount >= 100", db="analytics"))


def test_asyncpg_unnamed_statements(pgwarden):
    """asyncpg with statement_cache_size=0 (unnamed statements only) runs
    parameterised queries, fetches rows and uses transactions through pgwarden."""

    async def scenario():
        conn = await asyncpg.connect(**pgwarden.connect_kwargs("acme", "analytics"),
                                     statement_cache_size=0, timeout=10)
        try:
            assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
            rows = await conn.fetch(
                "SELECT loan_id, principal FROM loans WHERE borrower_id = $1 ORDER BY loan_id", 8)
            assert rows and all(r["loan_id"] > 0 for r in rows)
            assert await conn.fetchval("SELECT count(*) FROM loans") == 2000
            async with conn.transaction():
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                for i in range(3):
                    assert await conn.fetchval("SELECT $1::text || pg_backend_pid()", "p") == f"p{pid}"
            with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
                await conn.fetchval("SELECT 1 / $1::int", 0)
            assert await conn.fetchval("SELECT $1::text", "still fine") == "still fine"
        finally:
            await conn.close()

    run_async(scenario())


def test_asyncpg_named_statements_survive_pooling(pgwarden):
    """asyncpg with its default statement cache names every statement; they
    must keep working while other clients pin servers, so this client's
    statements run on server connections that never saw its Parse."""

    async def scenario():
        kw = pgwarden.connect_kwargs("acme", "analytics")
        conn = await asyncpg.connect(**kw, timeout=10)
        holders = []
        try:
            stmt = await conn.prepare("SELECT $1::int * 2")
            for i in range(POOL_MAX):
                assert await stmt.fetchval(i) == i * 2
                assert await conn.fetchval("SELECT $1::int + 1", i) == i + 1
                if len(holders) < POOL_MAX - 1:
                    h = await asyncpg.connect(**kw, statement_cache_size=0, timeout=10)
                    holders.append(h)
                    await h.execute("BEGIN")
                    await h.fetchval("SELECT 1")
        finally:
            for h in holders:
                await h.close()
            await conn.close()

    run_async(scenario())


# --------------------------------------------------------------------------
# Pooling


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_through_small_pool(pgwarden, pg, mode):
    """pgbench -S with 20 clients through a pool of at most 5 server
    connections completes every transaction with none failed, and PostgreSQL
    never sees more than 5 connections from the pool."""
    clients, per_client = 20, 50
    argv = [str(harness.PG_BINDIR / "pgbench"), "-n", "-S", "-M", mode,
            "-c", str(clients), "-j", "2", "-t", str(per_client),
            "-h", pgwarden.host, "-p", str(pgwarden.port), "-U", "acme", "bench"]
    env = harness.clean_env(PGPASSWORD=pgwarden.users["acme"])
    peak = 0
    with direct(pg) as monitor:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 180
            while proc.poll() is None and time.monotonic() < deadline:
                n = monitor.execute("SELECT count(*) FROM pg_stat_activity"
                                    " WHERE datname = 'bench' AND usename = 'bencher'").fetchone()[0]
                peak = max(peak, n)
                time.sleep(0.02)  # sampling interval, not synchronisation
            out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    report = out + err
    assert proc.returncode == 0, report
    assert f"number of transactions actually processed: {clients * per_client}/{clients * per_client}" in report, report
    failed = re.search(r"number of failed transactions: (\d+)", report)
    if failed:
        assert failed.group(1) == "0", report
    assert 1 <= peak <= POOL_MAX, f"PostgreSQL saw {peak} connections from a pool of max {POOL_MAX}"


def test_clients_beyond_pool_wait_then_get_clear_error(pgwarden):
    """With every server of the pool held in open transactions, the next
    client waits about acquire_timeout and then gets an error (not a hang);
    once the holders finish, new clients are served again."""
    holders = []
    try:
        for _ in range(POOL_MAX):
            h = connect(pgwarden)
            h.execute("BEGIN")
            h.execute("SELECT 1")
            holders.append(h)
        start = time.monotonic()
        r = pgwarden.psql("SELECT 1", "acme", "analytics", timeout=ACQUIRE_TIMEOUT + 30)
        waited = time.monotonic() - start
        assert not r.ok, f"a 6th client got a server from a pool of {POOL_MAX}: {r.stdout}"
        assert r.stderr, "the waiting client got no error message"
        assert ACQUIRE_TIMEOUT - 1 <= waited <= ACQUIRE_TIMEOUT + 10, (waited, r.stderr)
    finally:
        for h in holders:
            h.close()
    r = pgwarden.psql("SELECT count(*) FROM loans", "acme", "analytics")
    assert r.ok and r.stdout == "2000", r.stderr


# A client that dies in the middle of a transaction. It marks its transaction
# with a transaction-local setting that any later client on the same server
# connection would see if the transaction was left open.
KILLED_CLIENT = r"""
import sys, psycopg
dsn, mode = sys.argv[1], sys.argv[2]
conn = psycopg.connect(dsn, autocommit=True)
conn.execute("BEGIN")
pid = conn.execute("SELECT pg_backend_pid(), set_config('extra_float_digits', '-7', true)").fetchone()[0]
if mode == "failed_transaction":
    try:
        conn.execute("SELECT 1/0")
    except psycopg.errors.DivisionByZero:
        pass
print("ready", pid, flush=True)
if mode == "mid_query":
    # pg_sleep is refused by the query guard; this runs for a few seconds.
    conn.execute("SELECT count(*) FROM generate_series(1, 150000000) AS mid_query_marker")
sys.stdin.read()
"""


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"child said nothing in {timeout}s: {proc.stderr.read() if proc.poll() is not None else ''}")
    return proc.stdout.readline()


def _kill_client_mid_transaction(pgwarden, pg, mode: str) -> int:
    """Runs a client into the given state and kills it; returns the upstream pid it used."""
    if mode == "reset_mid_extended":
        # Parse/Bind/Execute + Flush, no Sync: the server holds an open implicit
        # transaction; then the socket dies with RST.
        conn = pgwire.RawConnection(pgwarden.host, pgwarden.port)
        conn.startup("acme", "analytics", pgwarden.users["acme"])
        sql = "SELECT pg_backend_pid(), set_config('extra_float_digits', '-7', true)"
        conn.send(pgwire.message(b"P", pgwire.cstr("") + pgwire.cstr(sql) + b"\0\0")
                  # portal "", statement "", no formats, no parameters, no result formats
                  + pgwire.message(b"B", b"\0" + b"\0" + b"\0\0" * 3)
                  + pgwire.message(b"E", b"\0" + b"\0\0\0\0")
                  + pgwire.message(b"H"))
        row = None
        while True:
            kind, body = conn.read_message()
            if kind == b"D":
                row = pgwire.data_row(body)
            if kind == b"C":
                break
            assert kind != b"E", pgwire.parse_fields(body)
        conn.reset()
        return int(row[0])

    proc = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT,
                             pgwarden.dsn("acme", "analytics"), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=harness.clean_env())
    try:
        line = _readline(proc, 30)
        assert line.startswith("ready"), line
        pid = int(line.split()[1])
        if mode == "mid_query":
            with direct(pg) as d:
                harness.wait_until(
                    lambda: d.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND"
                                      " state = 'active' AND query LIKE '%%mid_query_marker%%'",
                                      (pid,)).fetchone(),
                    10, "the killed client's query to be running")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        return pid
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()


@pytest.mark.parametrize("mode", ["idle_in_transaction", "failed_transaction", "mid_query",
                                  "reset_mid_extended"])
def test_killed_client_leaves_no_dirty_server(pgwarden, pg, mode):
    """A client killed mid-transaction (idle in it, in a failed one, while a
    query runs, or after an unsynced extended-protocol Execute) never hands its
    open transaction to anyone: clients that hold every server of the pool at
    once each start a fresh transaction without the dead client's marker, the
    dead client's server is rolled back or closed, and the pool keeps working."""
    upstream_pid = _kill_client_mid_transaction(pgwarden, pg, mode)
    killed_at = datetime.now(timezone.utc)

    for _round in range(3):
        checkers = []
        try:
            for _ in range(POOL_MAX):  # all servers of the pool at once
                c = connect(pgwarden)
                checkers.append(c)
                notices: list[str] = []
                c.add_notice_handler(lambda d, n=notices: n.append(d.message_primary or ""))
                c.execute("BEGIN")
                marker, started = c.execute(
                    "SELECT current_setting('extra_float_digits'), now()").fetchone()
                assert marker != "-7", f"a new client saw the killed client's marker ({mode})"
                assert started > killed_at, f"a new client landed in a transaction begun before the kill ({mode})"
                assert not [n for n in notices if "already a transaction" in n], notices
        finally:
            for c in checkers:
                c.close()

    with direct(pg) as d:
        harness.wait_until(
            lambda: d.execute("SELECT coalesce((SELECT state FROM pg_stat_activity WHERE pid = %s),"
                              " 'gone') IN ('idle', 'gone')", (upstream_pid,)).fetchone()[0],
            15, f"the dead client's server (pid {upstream_pid}) to be rolled back or closed")
    r = pgwarden.psql("SELECT count(*) FROM loans", "acme", "analytics")
    assert r.ok and r.stdout == "2000", r.stderr


def test_transactions_isolated_across_pooled_clients(pgwarden):
    """Two clients in overlapping transactions each keep their own server for
    the whole transaction: one client's transaction-local state is invisible to
    the other, and the upstream session is read-only by default."""
    with connect(pgwarden) as c1, connect(pgwarden) as c2:
        c1.execute("BEGIN")
        pid1, start1, _ = c1.execute(
            "SELECT pg_backend_pid(), now(), set_config('extra_float_digits', '-5', true)").fetchone()
        assert c1.execute("SHOW transaction_read_only").fetchone() == ("on",)

        c2.execute("BEGIN")
        pid2, marker2 = c2.execute(
            "SELECT pg_backend_pid(), current_setting('extra_float_digits')").fetchone()
        assert pid2 != pid1
        assert marker2 == "1"
        c2.execute("SELECT set_config('extra_float_digits', '2', true)")
        for _ in range(5):  # autocommit statements of other clients meanwhile
            assert pgwarden.psql("SELECT current_setting('extra_float_digits')",
                                 "acme", "analytics").stdout == "1"

        assert c1.execute("SELECT pg_backend_pid(), now(), current_setting('extra_float_digits')"
                          ).fetchone() == (pid1, start1, "-5")
        assert c2.execute("SELECT current_setting('extra_float_digits')").fetchone() == ("2",)
        c1.execute("COMMIT")
        c2.execute("ROLLBACK")


def test_upstream_sessions_are_read_only(pgwarden, pg):
    """pgwarden opens upstream sessions with default_transaction_read_only=on,
    so a write fails inside PostgreSQL even on a table the upstream role owns."""
    with connect(pgwarden, db="bench") as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        before = pg.psql("SELECT bbalance FROM pgbench_branches WHERE bid = 1", db="bench")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("UPDATE pgbench_branches SET bbalance = bbalance + 1 WHERE bid = 1")
        # 25006 from PostgreSQL itself; 42501 once the policy (issue 3) refuses it first.
        assert info.value.sqlstate in ("25006", "42501"), info.value
        assert pg.psql("SELECT bbalance FROM pgbench_branches WHERE bid = 1", db="bench") == before
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_client_sees_stable_backend_key_and_parameters(pgwarden, pg):
    """The client's BackendKeyData and ParameterStatus belong to pgwarden:
    psycopg's backend_pid stays the same while its statements run on different
    server connections, it is not any server's pid, and the reported server
    parameters are PostgreSQL's real ones."""
    with connect(pgwarden) as conn:
        key_pid = conn.info.backend_pid
        server_version = pg.psql("SHOW server_version")
        seen = set()
        holders = []
        try:
            for _ in range(POOL_MAX):
                seen.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
                assert conn.info.backend_pid == key_pid
                assert conn.info.parameter_status("server_version") == server_version
                if len(holders) < POOL_MAX - 1:
                    h = connect(pgwarden)
                    holders.append(h)
                    h.execute("BEGIN")
                    h.execute("SELECT 1")
        finally:
            for h in holders:
                h.close()
        assert len(seen) >= 2, f"all statements ran on one server ({seen}); the test proved nothing"
        assert key_pid not in seen, "the client was given an upstream server's BackendKeyData"
        for name, value in {"server_encoding": "UTF8", "client_encoding": "UTF8",
                            "integer_datetimes": "on", "standard_conforming_strings": "on"}.items():
            assert conn.info.parameter_status(name) == value, name


# --------------------------------------------------------------------------
# Authentication and tenancy


def test_wrong_password_is_28P01(pgwarden):
    """A wrong password gets PostgreSQL's own FATAL 28P01 text, and psql shows it."""
    err = raw_login_error(pgwarden, "acme", "analytics", "not-the-password")
    assert err["S"] == "FATAL" and err["C"] == "28P01"
    assert err["M"] == 'password authentication failed for user "acme"'
    r = pgwarden.psql("SELECT 1", "acme", "analytics", password="not-the-password")
    assert not r.ok
    assert 'FATAL:  password authentication failed for user "acme"' in r.stderr


def test_password_guessing_is_slowed_down(pgwarden):
    """Issue 8, brute force: after three failures within a minute from one
    address for one user, each further failure is answered later (250 ms,
    doubling), with a warning in the log; other users are not slowed, and a
    successful login forgives."""
    user = "guesser-" + harness.new_password()[:8]  # unknown: the mock exchange fails alike
    mark = pgwarden.log_mark()
    for _ in range(3):
        raw_login_error(pgwarden, user, "analytics", "wrong")
    assert "answering in" not in pgwarden.log_since(mark)
    for expected in (0.25, 0.5, 1.0):
        started = time.monotonic()
        err = raw_login_error(pgwarden, user, "analytics", "wrong")
        assert time.monotonic() - started >= expected
        assert err["C"] == "28P01"
    log = pgwarden.log_since(mark)
    assert f'user="{user}": authentication failed (6 times within a minute); answering in 1000 ms' \
        in log, log[-2000:]
    # Same address, another user: not slowed; the right password forgives.
    other = pgwarden.log_mark()
    raw_login_error(pgwarden, "tenant_b", "tenant_b_db", "wrong")
    assert pgwarden.psql("SELECT 1", "tenant_b", "tenant_b_db").ok
    raw_login_error(pgwarden, "tenant_b", "tenant_b_db", "wrong")
    assert "answering in" not in pgwarden.log_since(other)


def test_unknown_user_gets_identical_error(pgwarden):
    """An unknown user gets exactly the error a known user with a wrong
    password gets (same fields, only the name differs), so names cannot be probed."""
    known = raw_login_error(pgwarden, "acme", "analytics", "not-the-password")
    unknown = raw_login_error(pgwarden, "nosuchuser", "analytics", "not-the-password")
    assert unknown["M"] == 'password authentication failed for user "nosuchuser"'
    assert {k: v.replace("nosuchuser", "acme") for k, v in unknown.items()} == known


def test_unknown_and_foreign_database_look_the_same(pgwarden):
    """With the right password, an unknown database and another tenant's
    database both get FATAL 3D000 'database "X" does not exist' with identical
    fields: nothing hints that the other tenant's database exists."""
    cases = [("acme", "nosuchdb"), ("acme", "tenant_a_db"), ("tenant_a", "tenant_b_db"),
             ("tenant_b", "tenant_a_db"), ("tenant_a", "analytics")]
    errors = {}
    for user, db in cases:
        err = raw_login_error(pgwarden, user, db, pgwarden.users[user])
        assert err["C"] == "3D000" and err["S"] == "FATAL", (user, db, err)
        assert err["M"] == f'database "{db}" does not exist'
        errors[(user, db)] = {k: v.replace(db, "X") for k, v in err.items()}
    assert len({tuple(sorted(e.items())) for e in errors.values()}) == 1, errors
    r = pgwarden.psql("SELECT 1", "tenant_a", "tenant_b_db")
    assert 'FATAL:  database "tenant_b_db" does not exist' in r.stderr


def test_wrong_password_to_foreign_database_is_28P01(pgwarden):
    """Without the right password nobody learns anything about databases:
    a wrong password gets 28P01 whether the database exists, is another
    tenant's, or does not exist."""
    for db in ("tenant_a_db", "tenant_b_db", "nosuchdb"):
        err = raw_login_error(pgwarden, "tenant_a", db, "not-the-password")
        assert err["C"] == "28P01", (db, err)


def test_tenant_cannot_read_other_tenants_data(pgwarden, world):
    """Tenant A, through every database name it can reach, lands in its own
    database as its own role and cannot read tenant B's table; the same
    connection name ("reports") routes each tenant to its own database."""
    secret_a, secret_b = world.tenant_secrets["secrets_a"], world.tenant_secrets["secrets_b"]
    for db in ("tenant_a_db", "reports"):
        with connect(pgwarden, "tenant_a", db) as conn:
            assert conn.execute("SELECT current_database(), current_user").fetchone() == (
                "tenant_a_db", "tenant_a")
            assert conn.execute("SELECT secret FROM secrets_a").fetchall() == [(secret_a,)]
            with pytest.raises(psycopg.errors.UndefinedTable):
                conn.execute("SELECT secret FROM secrets_b")
            with pytest.raises(psycopg.errors.FeatureNotSupported):
                conn.execute("SELECT secret FROM tenant_b_db.public.secrets_b")
            visible = conn.execute("SELECT string_agg(table_catalog || '.' || table_name, ',')"
                                   " FROM information_schema.tables"
                                   " WHERE table_schema = 'public'").fetchone()[0]
            assert "secrets_b" not in visible
    with connect(pgwarden, "tenant_b", "reports") as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == (
            "tenant_b_db", "tenant_b")
        assert conn.execute("SELECT secret FROM secrets_b").fetchall() == [(secret_b,)]


# --------------------------------------------------------------------------
# Upstream failures


def test_upstream_unreachable_gives_clear_error(pgwarden):
    """A connection record pointing at a closed port gives the client
    "Unable to connect. Check host/port." promptly, and other pools still work."""
    start = time.monotonic()
    r = pgwarden.psql("SELECT 1", "acme", "unreachable", timeout=60)
    assert not r.ok
    assert "Unable to connect. Check host/port." in r.stderr, r.stderr
    assert time.monotonic() - start < 15
    r = pgwarden.psql("SELECT count(*) FROM loans", "acme", "analytics")
    assert r.ok and r.stdout == "2000", r.stderr


def test_upstream_wrong_password_gives_clear_error(pgwarden, world):
    """A connection record with a wrong upstream password gives the client
    "Authentication failed. Check credentials." and the password appears
    neither in the client's error nor in pgwarden's log."""
    mark = pgwarden.log_mark()
    r = pgwarden.psql("SELECT 1", "acme", "badpass", timeout=60)
    assert not r.ok
    assert "Authentication failed. Check credentials." in r.stderr, r.stderr
    for secret in (world.wrong_upstream_password, world.roles["analyst"]):
        assert secret not in r.stderr
        assert secret not in pgwarden.log_since(mark)


# --------------------------------------------------------------------------
# Start-up


def run_until_exit(argv: list[str], env: dict[str, str], timeout: float = 20):
    """Runs the daemon expecting it to refuse to start: (exit code, stderr lines)."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"pgwarden kept running instead of refusing to start:\n{err}")
    return proc.returncode, [line for line in (out + err).splitlines() if line.strip()]


def test_valid_scratch_config_starts(scratch_pgwarden):
    """Control for the refusal tests below: the unmodified scratch config with
    its key starts and serves, so their refusals are about the defect they add."""
    scratch_pgwarden.write_config()
    scratch_pgwarden.start()
    r = scratch_pgwarden.psql("SELECT count(*) FROM loans", "acme", "analytics")
    assert r.ok and r.stdout == "2000", r.stderr
    assert scratch_pgwarden.stop() == 0, scratch_pgwarden.log


BAD_CONFIGS = {
    # id: (edit of the valid config, words the one error line must contain)
    "wrong-type": (lambda t: t.replace("max_size = 5", 'max_size = "five"'), ["max_size"]),
    "min-above-max": (lambda t: t.replace("min_size = 2", "min_size = 9"), ["min_size|max_size"]),
    "unknown-key": (lambda t: t.replace("workers = 2", "workers = 2\nlisten_adress = 1"),
                    ["listen_adress"]),
    "bad-listen": (lambda t: re.sub(r"listen = \[.*\]", 'listen = ["127.0.0.1:notaport"]', t),
                   ["listen"]),
    "unknown-owner": (lambda t: t + '\n[[connections]]\nuser = "ghost"\nname = "x"\n'
                      + re.search(r'connection_string_encrypted = "[^"]*"', t).group(0) + "\n",
                      ["user"]),
    "plain-password": (lambda t: re.sub(r'password = "SCRAM[^"]*"', 'password = "hunter2-plain"', t),
                       ["password"]),
    "toml-syntax": (lambda t: t.replace("workers = 2", "workers = = 2"), [r":\d+"]),
}


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=list(BAD_CONFIGS))
def test_bad_config_is_one_clear_line(scratch_pgwarden, case):
    """A bad config makes pgwarden exit non-zero with exactly one line naming
    the file and the offending key (or line), never echoing a secret."""
    edit, words = BAD_CONFIGS[case]
    d = scratch_pgwarden
    good = d.render_config(port=d.port)
    bad = edit(good)
    assert bad != good
    d.config_path.write_text(bad)
    code, lines = run_until_exit([str(d.binary), "--config", str(d.config_path)],
                                 harness.clean_env(ENCRYPTION_KEY=d.encryption_key))
    assert code != 0
    assert len(lines) == 1, lines
    assert str(d.config_path) in lines[0] or d.config_path.name in lines[0], lines[0]
    for w in words:
        assert re.search(w, lines[0]), (w, lines[0])
    assert "hunter2-plain" not in lines[0]
    assert not harness.port_accepts(d.host, d.port)


def test_missing_config_file_is_named(scratch_pgwarden):
    """A config path that does not exist: non-zero exit, one line naming it."""
    missing = scratch_pgwarden.dir / "nope.toml"
    code, lines = run_until_exit([str(scratch_pgwarden.binary), "--config", str(missing)],
                                 harness.clean_env(ENCRYPTION_KEY=scratch_pgwarden.encryption_key))
    assert code != 0
    assert len(lines) == 1 and "nope.toml" in lines[0], lines


@pytest.mark.parametrize("key", [None, "", "not-a-fernet-key-1234567890"], ids=["unset", "empty", "malformed"])
def test_refuses_to_start_without_valid_encryption_key(scratch_pgwarden, key):
    """Without a usable ENCRYPTION_KEY pgwarden refuses to start, says so, and
    does not echo what it was given."""
    d = scratch_pgwarden
    d.write_config()
    env = harness.clean_env() if key is None else harness.clean_env(ENCRYPTION_KEY=key)
    code, lines = run_until_exit([str(d.binary), "--config", str(d.config_path)], env)
    assert code != 0
    assert any("ENCRYPTION_KEY" in line for line in lines), lines
    if key:
        assert not any(key in line for line in lines), lines
    assert not harness.port_accepts(d.host, d.port)


# --------------------------------------------------------------------------
# Must stay last in this file: it audits the log of everything above.


def test_zz_no_secret_in_daemon_log(pgwarden, world):
    """Nothing secret from the config or the upstream ever reached the
    daemon's log during this session: not the encryption key, not a client
    password, not an upstream password."""
    log = pgwarden.log
    assert log, "the daemon logged nothing at all"
    leaked = [s for s in [*pgwarden.secrets(), *world.roles.values(),
                          world.pg.superuser_password] if s in log]
    assert not leaked, f"{len(leaked)} secret(s) appear in the pgwarden log"
