"""The query guard on the data path: what pgwarden refuses never reaches
PostgreSQL (its statement log proves it), refusals carry PostgreSQL's
SQLSTATEs and leave the session usable, a refusal inside a transaction aborts
it as PostgreSQL would, and the per-connection rate limit trips at its
configured count."""

from __future__ import annotations

import re
import time
import uuid

import asyncpg
import psycopg
import pytest

import harness


def connect(pgw: harness.Pgwarden, db: str = "analytics", **kw) -> psycopg.Connection:
    kw.setdefault("autocommit", True)
    return psycopg.connect(pgw.dsn("acme", db), **kw)


def server_log(pg: harness.PostgresCluster) -> str:
    return pg.logfile.read_text(errors="replace")


# Each: (statement with a {tag} placeholder, expected message). The tag makes
# the text unique so the server log can be searched for it.
REFUSED = [
    ("DELETE FROM loans /* {tag} */", "DELETE is not allowed"),
    ("SELECT pg_terminate_backend(pg_backend_pid()) /* {tag} */",
     "function pg_terminate_backend() is not allowed"),
    ("SELECT set_config('default_transaction_read_only', 'off', false) /* {tag} */",
     "set_config() of default_transaction_read_only to 'off' is not allowed"),
    ("BEGIN READ WRITE /* {tag} */", "BEGIN READ WRITE is not allowed"),
    ("COMMIT; DELETE FROM loans /* {tag} */", "DELETE is not allowed"),
    ("WITH gone AS (DELETE FROM payments RETURNING 1) SELECT count(*) FROM gone /* {tag} */",
     "DELETE in a WITH query is not allowed"),
    ("SELECT * FROM loans FOR UPDATE /* {tag} */", "SELECT FOR UPDATE is not allowed"),
    ("SET statement_timeout = 0 /* {tag} */", "SET statement_timeout is not allowed"),
    ("SELECT pg_sleep(1) /* {tag} */", "function pg_sleep() is not allowed"),
]


@pytest.mark.parametrize("template,message", REFUSED)
def test_refused_statement_never_reaches_the_server(pgwarden, pg, template, message):
    """Simple protocol: 42501 with the documented message; the server never
    logged the statement; the session answers its next query."""
    sql = template.format(tag=f"guard-{uuid.uuid4().hex}")
    with connect(pgwarden) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            conn.execute(sql)
        assert caught.value.diag.message_primary == (
            f'pgwarden: {message} (connection "analytics" is read-only)')
        assert conn.execute("SELECT count(*) FROM loans").fetchone() == (2000,)
    assert sql.split("/* ")[1] not in server_log(pg)


def test_refused_parse_never_reaches_the_server(pgwarden, pg):
    """Extended protocol (psycopg binds parameters server-side): the Parse is
    refused, nothing reaches the server, and data is unchanged."""
    tag = f"guard-{uuid.uuid4().hex}"
    with connect(pgwarden) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"DELETE FROM payments WHERE payment_id = %s /* {tag} */", (1,))
        assert conn.execute("SELECT count(*) FROM payments WHERE payment_id = %s",
                            (1,)).fetchone() == (1,)
    assert tag not in server_log(pg)


def test_syntax_error_is_42601_with_position(pgwarden):
    """The parser's own message and cursor position, as PostgreSQL gives."""
    with connect(pgwarden) as conn:
        with pytest.raises(psycopg.errors.SyntaxError) as caught:
            conn.execute("SELECT 1 FROM loans WHERE")
        assert "syntax error at end of input" in caught.value.diag.message_primary
        assert caught.value.diag.statement_position == "26"
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_refusal_inside_a_transaction_aborts_it(pgwarden):
    """After a refusal inside BEGIN, PostgreSQL's rules hold: every statement
    gets 25P02 until ROLLBACK, and ROLLBACK ends the block."""
    with connect(pgwarden) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM loans")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.execute("ROLLBACK")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_refusal_in_extended_batch_inside_transaction(pgwarden):
    """The same through the extended protocol (psycopg's Parse/Bind/Execute)."""
    with connect(pgwarden, autocommit=False) as conn:
        assert conn.execute("SELECT %s::int", (1,)).fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT pg_terminate_backend(%s)", (1,))
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT %s::int", (2,))
        conn.rollback()
        assert conn.execute("SELECT %s::int", (3,)).fetchone() == (3,)
        conn.rollback()


def test_allowed_queries_match_direct_results(pgwarden, pg):
    """Analytics queries the agent writes (joins, CTEs, window functions,
    EXPLAIN) return through pgwarden exactly what PostgreSQL returns."""
    queries = [
        "SELECT b.country, count(*), round(sum(l.principal), 2) FROM loans l"
        " JOIN borrowers b USING (borrower_id) GROUP BY 1 ORDER BY 1",
        "WITH big AS (SELECT loan_id FROM payments WHERE amount > 500) "
        "SELECT count(DISTINCT loan_id) FROM big",
        "SELECT loan_id, rank() OVER (ORDER BY principal DESC) FROM loans ORDER BY 2, 1 LIMIT 5",
        "SELECT extract(year FROM originated_on)::int, count(*) FROM loans GROUP BY 1 ORDER BY 1",
    ]
    with connect(pgwarden) as via, psycopg.connect(pg.dsn("analytics"), autocommit=True) as direct:
        for q in queries:
            assert via.execute(q).fetchall() == direct.execute(q).fetchall(), q
        plan = via.execute("EXPLAIN SELECT * FROM loans WHERE loan_id = 1").fetchall()
        assert any("Index Scan" in row[0] for row in plan)


def test_asyncpg_agent_session_works_under_the_guard(pgwarden):
    """asyncpg's own traffic (type introspection with set_config('jit'...),
    prepared statements, its reset on pool release) passes the guard."""

    async def scenario():
        pool = await asyncpg.create_pool(**pgwarden.connect_kwargs("acme", "analytics"),
                                         min_size=2, max_size=3, timeout=10)
        try:
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT country, count(*) AS n FROM borrowers GROUP BY country ORDER BY 1")
                assert sum(r["n"] for r in rows) == 500
                # A composite / array type triggers asyncpg's introspection.
                value = await conn.fetchval("SELECT ARRAY[(1, 'x')::record]::text")
                assert value
                with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                    await conn.execute("TRUNCATE loans")
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT count(*) FROM loans") == 2000
        finally:
            await asyncio_wait(pool.close(), 30)

    import asyncio

    async def asyncio_wait(coro, timeout):
        return await asyncio.wait_for(coro, timeout)

    asyncio.run(scenario())


def test_rate_limit_trips_at_its_count_and_recovers(pgwarden):
    """Connection "limited" allows a burst of 3 at 600/minute: the 4th
    statement in a row gets 53400 saying when to retry; nothing else breaks,
    and once a token is back (0.1 s) statements run again."""
    with connect(pgwarden, "limited") as conn:
        results = []
        for _ in range(4):
            try:
                conn.execute("SELECT 1")
                results.append("ok")
            except psycopg.errors.ConfigurationLimitExceeded as e:
                results.append(e.diag.message_primary)
        assert results[:3] == ["ok"] * 3
        assert results[3].startswith('pgwarden: connection "limited" is limited to 600 queries per minute; retry in ')
        # An empty query runs no statement and costs nothing.
        conn.execute("")
        harness.wait_until(lambda: _runs(conn), 5, "a rate-limit token to come back")


def _runs(conn: psycopg.Connection) -> bool:
    try:
        return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.errors.ConfigurationLimitExceeded:
        return False


def test_result_cap_stops_the_statement_and_says_so(pgwarden):
    """Connection "capped" allows 100 rows: a bigger result is not silently
    truncated but ends with 54000 telling the agent to add a LIMIT; a huge
    generator is cancelled upstream instead of being read to the end; smaller
    results and the session are unaffected."""
    with connect(pgwarden, "capped") as conn:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as caught:
            conn.execute("SELECT * FROM loans").fetchall()
        assert caught.value.diag.message_primary == (
            'pgwarden: the result is larger than connection "capped" allows (max_result_rows = 100)')
        assert "LIMIT" in caught.value.diag.message_hint
        assert len(conn.execute("SELECT * FROM loans ORDER BY loan_id LIMIT 100").fetchall()) == 100
        started = time.monotonic()
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            # In the select list the set streams (in FROM it would be materialised first).
            conn.execute("SELECT generate_series(1, 200000000) AS g").fetchall()
        assert time.monotonic() - started < 15
        assert conn.execute("SELECT count(*) FROM loans").fetchone() == (2000,)


def test_result_byte_cap(pgwarden):
    """The byte cap works the same way for few but wide rows."""
    with connect(pgwarden, "capped") as conn:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as caught:
            conn.execute("SELECT repeat('x', 100000) FROM generate_series(1, 5)").fetchall()
        assert "max_result_bytes = 200000" in caught.value.diag.message_primary
        assert conn.execute("SELECT 1").fetchone() == (1,)


def _audit_lines(pgw: harness.Pgwarden, since: int, decided_after: float) -> list[dict]:
    """Audit lines written after log offset `since` about decisions taken
    after `decided_after` (time.time()): lines are written in batches, up to
    20 ms late, so an earlier test's last lines may follow the mark."""
    import json
    lines = []
    for line in pgw.log_since(since).splitlines():
        if line.startswith("{") and '"event":"guard"' in line:
            parsed = json.loads(line)
            if parsed["ts"] >= decided_after:
                lines.append(parsed)
    return lines


def test_audit_trail_has_one_line_per_decision(pgwarden):
    """Each decision leaves one JSON line: who, which connection, from where,
    the decision, the reason and SQLSTATE of a refusal, the statement's
    pg_query fingerprint (equal for the same query shape), and rows and
    duration of an allowed statement; never the query text (log_query_text is
    off) and never a parameter value."""
    secret_value = f"needle-{uuid.uuid4().hex}"
    mark = pgwarden.log_mark()
    started = time.time()
    with connect(pgwarden) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM loans WHERE loan_id = 1")
        conn.execute("SELECT loan_id FROM loans WHERE loan_id <= 3 ORDER BY 1").fetchall()
        conn.execute("SELECT loan_id FROM loans WHERE loan_id <= 5 ORDER BY 1").fetchall()
        conn.execute("SELECT %s::text", (secret_value,)).fetchall()
    lines = harness.wait_until(lambda: len(_audit_lines(pgwarden, mark, started)) >= 4 and
                               _audit_lines(pgwarden, mark, started), 10, "four audit lines")
    denied = [l for l in lines if l["decision"] == "deny"]
    allowed = [l for l in lines if l["decision"] == "allow"]
    assert len(denied) == 1 and len(allowed) == 3
    d = denied[0]
    assert (d["user"], d["connection"], d["client"], d["sqlstate"]) == (
        "acme", "analytics", "127.0.0.1", "42501")
    assert d["reason"] == "DELETE is not allowed" and len(d["fingerprint"]) == 16
    assert [a["rows"] for a in allowed] == [3, 5, 1]
    assert all(a["duration_ms"] >= 0 for a in allowed)
    # Literals do not change the shape: the two SELECTs share a fingerprint.
    assert allowed[0]["fingerprint"] == allowed[1]["fingerprint"]
    text = pgwarden.log_since(mark)
    assert "DELETE FROM loans" not in text and secret_value not in text


def test_oversized_query_text_is_54000_and_session_survives(pgwarden):
    """Statement text over [limits] max_query_size (1 MiB) is refused with
    54000 and the same session keeps working; nothing is sent upstream."""
    big = "SELECT 1 /* " + "x" * (1 << 20) + " */"
    with connect(pgwarden) as conn:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            conn.execute(big)
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_customer_functions_follow_their_volatility(world):
    """A customer function the upstream catalog marks STABLE is allowed once
    pgwarden has read the catalog (off the event loop); a VOLATILE one stays
    refused with a hint naming allow_functions, unless the connection lists
    it there."""
    pg = world.pg
    pg.psql("CREATE OR REPLACE FUNCTION public.loan_total() RETURNS numeric STABLE"
            " LANGUAGE sql AS 'SELECT sum(principal) FROM loans';"
            " CREATE OR REPLACE FUNCTION public.touch_loans() RETURNS bigint VOLATILE"
            " LANGUAGE sql AS 'SELECT count(*) FROM loans';"
            " CREATE OR REPLACE FUNCTION public.listed_fn() RETURNS int VOLATILE"
            " LANGUAGE sql AS 'SELECT 7';"
            " GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO analyst", db="analytics")
    daemon = harness.Pgwarden()
    try:
        daemon.add_user("acme")
        daemon.add_connection("acme", "analytics",
                              pg.url("analytics", "analyst", world.roles["analyst"]),
                              allow_functions='["listed_fn"]')
        daemon.start()
        daemon.wait_for_log("read-only customer function name(s) allowed")
        with connect(daemon) as conn:
            total = conn.execute("SELECT loan_total()").fetchone()[0]
            assert total == conn.execute("SELECT sum(principal) FROM loans").fetchone()[0]
            assert conn.execute("SELECT listed_fn()").fetchone() == (7,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                conn.execute("SELECT touch_loans()")
            assert "customer function touch_loans() is not known to be read-only" in \
                caught.value.diag.message_primary
            assert "allow_functions" in caught.value.diag.message_hint
    finally:
        daemon.cleanup()


def test_session_log_lines_name_client_user_and_connection(pgwarden):
    """Every log line about a session says which client, user and connection
    (issue 6: structured logs with the tenant on every line)."""
    mark = pgwarden.log_mark()
    r = pgwarden.psql("DELETE FROM loans", "acme", "analytics")
    assert not r.ok
    text = pgwarden.wait_for_log("refused on", since=mark)
    line = next(l for l in text.splitlines() if "refused on" in l)
    assert re.search(r'client=\d+ user="acme" db="analytics" addr=127\.0\.0\.1: refused on', line), \
        line
