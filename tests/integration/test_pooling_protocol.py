"""Transaction pooling, message by message: named prepared statements on
whichever server a client lands, their PostgreSQL error semantics, query
timeouts cancelled upstream for real, and client cancels routed to the right
server. Each test drives pgwarden with a real client (raw protocol, psycopg or
asyncpg) against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import struct
import threading
import time

import asyncpg
import psycopg
import pytest

import harness
import pgwire
from pgwire import cstr, message, read_until_ready


def raw(pgw: harness.Pgwarden, db: str = "analytics") -> pgwire.RawConnection:
    conn = pgwire.RawConnection(pgw.host, pgw.port)
    conn.startup("acme", db, pgw.users["acme"])
    return conn


def parse(name: str, sql: str) -> bytes:
    return message(b"P", cstr(name) + cstr(sql) + struct.pack("!h", 0))


def bind(portal: str, statement: str) -> bytes:
    return message(b"B", cstr(portal) + cstr(statement) + struct.pack("!hhh", 0, 0, 0))


def execute(portal: str = "") -> bytes:
    return message(b"E", cstr(portal) + struct.pack("!i", 0))


def close(kind: bytes, name: str) -> bytes:
    return message(b"C", kind + cstr(name))


def describe(kind: bytes, name: str) -> bytes:
    return message(b"D", kind + cstr(name))


SYNC = message(b"S")


def kinds(messages: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(k for k, _ in messages)


def error_of(messages: list[tuple[bytes, bytes]]) -> dict[str, str]:
    errors = [pgwire.parse_fields(b) for k, b in messages if k == b"E"]
    assert len(errors) == 1, messages
    return errors[0]


def hold_servers(pgw: harness.Pgwarden, count: int) -> list[psycopg.Connection]:
    """Opens `count` clients that each pin a server in an open transaction."""
    holders = []
    for _ in range(count):
        h = psycopg.connect(pgw.dsn("acme", "analytics"), autocommit=True)
        h.execute("BEGIN")
        h.execute("SELECT 1")
        holders.append(h)
    return holders


def test_named_statement_runs_on_a_server_that_never_saw_its_parse(pgwarden):
    """A statement parsed while one server was linked is executed after the
    client's transaction moved to another server (others pin the first);
    pgwarden re-prepares it there and the client sees plain results."""
    with raw(pgwarden) as conn:
        conn.send(parse("s1", "SELECT count(*) FROM borrowers WHERE borrower_id <= 10") + SYNC)
        assert kinds(read_until_ready(conn)) == b"1Z"
        holders = hold_servers(pgwarden, 3)
        try:
            for _ in range(3):
                conn.send(bind("", "s1") + execute() + SYNC)
                answer = read_until_ready(conn)
                assert kinds(answer) == b"2DCZ", answer
                assert pgwire.data_row(answer[1][1]) == ["10"]
        finally:
            for h in holders:
                h.close()


def test_duplicate_statement_name_is_42P05_and_session_survives(pgwarden):
    """Parsing a name that exists fails as PostgreSQL fails it (42P05), the
    rest of the batch is skipped up to Sync, and the statement still works."""
    with raw(pgwarden) as conn:
        conn.send(parse("dup", "SELECT 1") + SYNC)
        assert kinds(read_until_ready(conn)) == b"1Z"
        conn.send(parse("dup", "SELECT 2") + bind("", "dup") + execute() + SYNC)
        answer = read_until_ready(conn)
        assert kinds(answer) == b"EZ", answer
        err = error_of(answer)
        assert err["C"] == "42P05" and err["M"] == 'prepared statement "dup" already exists'
        conn.send(bind("", "dup") + execute() + SYNC)
        answer = read_until_ready(conn)
        assert kinds(answer) == b"2DCZ" and pgwire.data_row(answer[1][1]) == ["1"]


def test_unknown_statement_is_26000(pgwarden):
    """Bind or Describe of a statement the client never parsed gets 26000,
    with nothing sent upstream, and the next batch works."""
    with raw(pgwarden) as conn:
        for request in (bind("", "nope"), describe(b"S", "nope")):
            conn.send(request + execute() + SYNC)
            answer = read_until_ready(conn)
            assert kinds(answer) == b"EZ", answer
            err = error_of(answer)
            assert err["C"] == "26000" and err["M"] == 'prepared statement "nope" does not exist'
        assert conn.query("SELECT 5")[0] == [["5"]]


def test_close_is_answered_even_for_unknown_names(pgwarden):
    """Close of a statement that does not exist returns CloseComplete, as
    PostgreSQL does (Odyssey #1361); after Close, the name is free again and
    Bind to it fails."""
    with raw(pgwarden) as conn:
        conn.send(close(b"S", "never_parsed") + SYNC)
        assert kinds(read_until_ready(conn)) == b"3Z"
        conn.send(parse("c1", "SELECT 7") + SYNC)
        assert kinds(read_until_ready(conn)) == b"1Z"
        conn.send(close(b"S", "c1") + SYNC)
        assert kinds(read_until_ready(conn)) == b"3Z"
        conn.send(bind("", "c1") + execute() + SYNC)
        assert error_of(read_until_ready(conn))["C"] == "26000"
        conn.send(parse("c1", "SELECT 8") + bind("", "c1") + execute() + SYNC)
        answer = read_until_ready(conn)
        assert kinds(answer) == b"12DCZ" and pgwire.data_row(answer[2][1]) == ["8"]


def test_portal_and_statement_may_share_a_name(pgwarden):
    """Statement and portal namespaces are separate: closing portal "x" keeps
    statement "x" (PgDog #1338)."""
    with raw(pgwarden) as conn:
        conn.send(message(b"Q", cstr("BEGIN")))
        read_until_ready(conn)
        conn.send(parse("x", "SELECT 42") + bind("x", "x") + close(b"P", "x") + SYNC)
        assert kinds(read_until_ready(conn)) == b"123Z"
        conn.send(bind("", "x") + execute() + SYNC)
        answer = read_until_ready(conn)
        assert kinds(answer) == b"2DCZ" and pgwire.data_row(answer[1][1]) == ["42"]
        conn.query("COMMIT")


def test_statement_names_are_per_client(pgwarden):
    """Two clients may use one name for different SQL; each gets its own."""
    with raw(pgwarden) as a, raw(pgwarden) as b:
        a.send(parse("q", "SELECT 'from a'") + SYNC)
        b.send(parse("q", "SELECT 'from b'") + SYNC)
        read_until_ready(a)
        read_until_ready(b)
        for conn, expected in ((a, "from a"), (b, "from b"), (a, "from a")):
            conn.send(bind("", "q") + execute() + SYNC)
            answer = read_until_ready(conn)
            assert pgwire.data_row(answer[1][1]) == [expected]


def test_discard_all_forgets_the_clients_statements(pgwarden):
    """DISCARD ALL from the client clears its statements (as on a real
    server), and the shared server-side copies are re-created on demand for
    other clients."""
    with raw(pgwarden) as a, raw(pgwarden) as b:
        for conn in (a, b):
            conn.send(parse("shared", "SELECT 99") + SYNC)
            read_until_ready(conn)
        a.query("DISCARD ALL")
        a.send(bind("", "shared") + execute() + SYNC)
        assert error_of(read_until_ready(a))["C"] == "26000"
        b.send(bind("", "shared") + execute() + SYNC)
        answer = read_until_ready(b)
        assert kinds(answer) == b"2DCZ" and pgwire.data_row(answer[1][1]) == ["99"]


def test_asyncpg_statement_cache_under_pool_pressure(pgwarden):
    """asyncpg's default statement cache (names like __asyncpg_stmt_1__),
    several connections at once over a pool of at most 5 servers, each
    running many distinct and repeated prepared queries."""

    async def worker(n: int) -> int:
        conn = await asyncpg.connect(**pgwarden.connect_kwargs("acme", "analytics"), timeout=10)
        try:
            total = 0
            for i in range(40):
                total += await conn.fetchval("SELECT $1::int + $2::int", i, n)
                total += await conn.fetchval(f"SELECT count(*) FROM borrowers WHERE borrower_id <= {i % 7}")
                async with conn.transaction():
                    total += await conn.fetchval("SELECT $1::int", 1)
            return total
        finally:
            await conn.close()

    async def scenario():
        return await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(8))), 120)

    results = asyncio.run(scenario())
    for n, total in enumerate(results):
        expected = sum(i + n for i in range(40)) + sum(i % 7 for i in range(40)) + 40
        assert total == expected


SLOW_QUERY = "SELECT count(*) FROM generate_series(1, 2000000000)"


def test_query_timeout_cancels_upstream_and_session_survives(pgwarden, pg):
    """With query_timeout = 1 s, a long query is cancelled by pgwarden's own
    CancelRequest (before the server's 3 s backstop), the client gets 57014
    naming the limit, the same session runs the next query, and nothing is
    left running on the server."""
    with psycopg.connect(pgwarden.dsn("acme", "slow"), autocommit=True) as conn:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as caught:
            conn.execute(SLOW_QUERY)
        elapsed = time.monotonic() - started
        assert caught.value.diag.message_primary == "canceling statement due to statement timeout"
        assert "query_timeout" in (caught.value.diag.message_detail or "")
        assert 0.9 <= elapsed < 2.8, elapsed
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with psycopg.connect(pg.dsn(), autocommit=True) as su:
        running = su.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s AND state = 'active'",
                             (SLOW_QUERY,)).fetchone()[0]
        assert running == 0


def test_query_timeout_counts_from_each_statement_start(pgwarden):
    """query_timeout is per statement. pgwarden keeps one timer wait running
    across statements and looks at the current deadline when it fires, so
    this proves a deadline left from an earlier statement never cancels a
    later one (statements of ~0.45 s each run back to back for over twice
    the 1 s limit), and that a long statement right after them is still
    cancelled about 1 s after its own start."""
    with psycopg.connect(pgwarden.dsn("acme", "slow"), autocommit=True) as conn:
        # pg_sleep is refused by the guard: calibrate a counting query instead.
        started = time.monotonic()
        conn.execute("SELECT count(*) FROM generate_series(1, 1000000)")
        per_row = (time.monotonic() - started) / 1_000_000
        rows = max(1000, int(0.45 / per_row))
        sql = f"SELECT count(*) FROM generate_series(1, {rows})"
        began = time.monotonic()
        longest = 0.0
        for _ in range(30):  # bounded; ends once the limit was outlasted twice
            if time.monotonic() - began > 2.2:
                break
            t0 = time.monotonic()
            assert conn.execute(sql).fetchone()[0] == rows
            longest = max(longest, time.monotonic() - t0)
        assert time.monotonic() - began > 2.2 and longest < 0.9, (time.monotonic() - began, longest)
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as caught:
            conn.execute(SLOW_QUERY)
        elapsed = time.monotonic() - started
        assert "query_timeout" in (caught.value.diag.message_detail or "")
        assert 0.9 <= elapsed < 2.8, elapsed


def test_client_cancel_reaches_the_running_statement(pgwarden):
    """psycopg's cancel (a CancelRequest on a new connection, with the key
    pgwarden issued) stops the client's statement upstream; the session
    continues."""
    with psycopg.connect(pgwarden.dsn("acme", "analytics"), autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(psycopg.errors.QueryCanceled) as caught:
                conn.execute(SLOW_QUERY)
        finally:
            timer.cancel()
        assert time.monotonic() - started < 20
        assert "user request" in caught.value.diag.message_primary
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_cancel_with_a_wrong_key_cancels_nothing(pgwarden):
    """A CancelRequest carrying the right pid but a wrong secret is dropped:
    the statement runs to completion."""
    with raw(pgwarden) as conn:
        pid = struct.unpack("!I", conn.backend_key[:4])[0]
        conn.send(message(b"Q", cstr("SELECT count(*) FROM generate_series(1, 3000000)")))
        with pgwire.RawConnection(pgwarden.host, pgwarden.port) as canceller:
            canceller.send(struct.pack("!iiI4s", 16, 80877102, pid, b"\0\0\0\0"))
            canceller.read_until_closed(5)
        rows, status = conn.read_results()
        assert rows == [["3000000"]] and status == b"I"


def test_prepared_statement_cache_is_bounded_per_server(pgwarden):
    """max_prepared_statements = 2 on a one-server pool: six named
    statements used in turn all answer correctly (the evicted ones are closed
    upstream and prepared again), and the server never holds more than two."""
    async def main() -> list[int]:
        conn = await asyncpg.connect(**pgwarden.connect_kwargs("acme", "tiny_cache"))
        try:
            statements = [await conn.prepare(f"SELECT $1::int + {i}") for i in range(6)]
            answers = []
            for round_ in range(3):
                for i, stmt in enumerate(statements):
                    answers.append(await stmt.fetchval(round_ * 10))
                    held = await conn.fetchval("SELECT count(*) FROM pg_prepared_statements")
                    assert held <= 2, held
            return answers
        finally:
            await conn.close()

    answers = asyncio.run(asyncio.wait_for(main(), 60))
    assert answers == [r * 10 + i for r in range(3) for i in range(6)]
