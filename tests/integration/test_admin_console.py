"""The psql admin console: `psql -p PORT -U <admin> pgwarden`, then SHOW
POOLS and friends as result sets psql prints as tables, RELOAD, PAUSE and
RESUME. Only [admin] users get in; everything that is not a console command
gets a clear error; the figures are those of the live pools."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

import harness


@pytest.fixture(scope="module")
def console(world):
    daemon = harness.Pgwarden()
    try:
        daemon.add_user("ops")
        daemon.add_user("acme")
        daemon.add_connection("acme", "analytics",
                              world.pg.url("analytics", "analyst", world.roles["analyst"]),
                              min_size=1, max_size=2)
        daemon.extra_toml = '[admin]\nusers = ["ops"]\n'
        yield daemon.start()
    finally:
        daemon.cleanup()


def _show(daemon: harness.Pgwarden, command: str) -> list[dict[str, str]]:
    """Rows of a console command, as the admin user ops sees them."""
    return daemon.console_rows(command, "ops")


def test_show_pools_counts_the_live_pool(console):
    with psycopg.connect(console.dsn("acme", "analytics"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM loans").fetchone()[0] == 2000
        pools = _show(console, "SHOW POOLS;")
        row = next(p for p in pools if p["database"] == "analytics")
        assert row["user"] == "acme"
        assert int(row["cl_active"]) == 1      # this client
        assert int(row["sv_idle"]) + int(row["sv_active"]) >= 1
        assert int(row["queries"]) >= 1
        assert row["pool_mode"] == "transaction" and row["paused"] == "0"
    # Case and spacing do not matter; the client has left.
    row = next(p for p in _show(console, "  show   pools ") if p["database"] == "analytics")
    assert int(row["cl_active"]) == 0


def test_show_clients_lists_sessions_with_their_address(console):
    with psycopg.connect(console.dsn("acme", "analytics"), autocommit=True) as conn:
        conn.execute("SELECT 1")
        clients = _show(console, "SHOW CLIENTS")
    acme = [c for c in clients if c["user"] == "acme"]
    assert len(acme) == 1 and acme[0]["database"] == "analytics"
    assert acme[0]["addr"] == "127.0.0.1" and int(acme[0]["port"]) > 0
    assert [c for c in clients if c["user"] == "ops" and c["database"] == "pgwarden"]


def _acme_states(daemon: harness.Pgwarden) -> list[str]:
    return [c["state"] for c in _show(daemon, "SHOW CLIENTS") if c["user"] == "acme"]


def test_idle_clients_go_dormant_and_wake_intact(console):
    """A client idle for a second with nothing in flight goes dormant (its
    session keeps no coroutine). Its next statement wakes it with its session
    as it was: a SET, a named prepared statement and the answers are the
    same. A dormant client that leaves is gone from the list, and while
    clients sleep the console's own sessions stay served."""
    with psycopg.connect(console.dsn("acme", "analytics"), autocommit=True) as conn:
        conn.execute("SET application_name = 'sleeper'")
        conn.execute("SET TIME ZONE 'Asia/Tokyo'")
        q = "SELECT count(*) FROM loans WHERE loan_id > %s"
        assert conn.execute(q, (1000,), prepare=True).fetchone()[0] == 1000
        assert _acme_states(console) == ["active"]
        harness.wait_until(lambda: _acme_states(console) == ["dormant"], 15, "a dormant client")
        # Woken by the statement itself: same prepared statement, same settings.
        assert conn.execute(q, (1500,), prepare=True).fetchone()[0] == 500
        assert conn.execute("SHOW application_name").fetchone()[0] == "sleeper"
        assert conn.execute("SHOW TimeZone").fetchone()[0] == "Asia/Tokyo"
        assert _acme_states(console) == ["active"]
        harness.wait_until(lambda: _acme_states(console) == ["dormant"], 15, "dormant again")
        # A transaction across a pause keeps its server; the session stays
        # awake while it holds one, however long it idles.
        conn.execute("BEGIN")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        for _ in range(3):
            time.sleep(1)  # idle inside the transaction, past kDormantAfter
            assert _acme_states(console) == ["active"]
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        conn.execute("COMMIT")
        harness.wait_until(lambda: _acme_states(console) == ["dormant"], 15, "dormant once more")
    harness.wait_until(lambda: _acme_states(console) == [], 10, "the dormant client gone")


def test_every_show_command_answers(console):
    for command in ("SHOW CLIENTS", "SHOW SERVERS", "SHOW STATS", "SHOW CONNECTIONS",
                    "SHOW CONFIG", "SHOW VERSION", "SHOW HELP"):
        r = console.psql(command, "ops", "pgwarden", tuples_only=False)
        assert r.ok, (command, r.stderr)
        assert r.stdout.strip(), command
    version = console.psql("SHOW VERSION", "ops", "pgwarden").stdout
    assert version.startswith("pgwarden ")


def test_console_shows_no_secret(console, world):
    text = "\n".join(console.psql(c, "ops", "pgwarden").stdout
                     for c in ("SHOW CONFIG", "SHOW CONNECTIONS", "SHOW POOLS", "SHOW SERVERS"))
    for secret in console.secrets() + [world.roles["analyst"]]:
        assert secret not in text


def test_only_admin_users_get_in(console):
    r = console.psql("SHOW POOLS", "acme", "pgwarden")
    assert not r.ok
    assert 'user "acme" may not use the admin console' in r.stderr
    r = console.psql("SHOW POOLS", "ops", "pgwarden", password="wrong")
    assert not r.ok and "password authentication failed" in r.stderr


def test_sql_and_extended_protocol_are_refused(console):
    r = console.psql("SELECT 1", "ops", "pgwarden")
    assert not r.ok and 'the pgwarden admin console does not run "SELECT"' in r.stderr
    with psycopg.connect(console.dsn("ops", "pgwarden"), autocommit=True) as conn:
        for sql in (b"SHOW POOLS", b"DELETE FROM loans"):
            result = conn.pgconn.exec_params(sql, [])  # PQexecParams: extended protocol
            assert result.status == psycopg.pq.ExecStatus.FATAL_ERROR
            assert result.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"0A000"
        # The session survives, and simple queries still work.
        assert conn.pgconn.exec_(b"SHOW VERSION").status == psycopg.pq.ExecStatus.TUPLES_OK


def test_pause_holds_new_transactions_until_resume(console):
    with psycopg.connect(console.dsn("acme", "analytics"), autocommit=True) as conn:
        conn.execute("SELECT 1")
        assert console.psql("PAUSE analytics", "ops", "pgwarden").ok
        assert _show(console, "SHOW CONNECTIONS")[0]["paused"] == "1"
        done = threading.Event()

        def query() -> None:
            conn.execute("SELECT 2")
            done.set()

        t = threading.Thread(target=query, daemon=True)
        t.start()
        # Held: the query waits for a server while the pool is paused.
        harness.wait_until(
            lambda: any(int(p["cl_waiting"]) > 0 for p in _show(console, "SHOW POOLS")), 10,
            "the client to wait")
        assert not done.is_set()
        assert console.psql("RESUME analytics", "ops", "pgwarden").ok
        assert done.wait(10)
        t.join(timeout=10)
        assert _show(console, "SHOW CONNECTIONS")[0]["paused"] == "0"
    r = console.psql("PAUSE nosuch", "ops", "pgwarden")
    assert not r.ok and "nosuch" in r.stderr


def test_reload_from_the_console(console):
    mark = console.log_mark()
    r = console.psql("RELOAD", "ops", "pgwarden")
    assert r.ok, r.stderr
    console.wait_for_log("reload: configuration applied", since=mark)
