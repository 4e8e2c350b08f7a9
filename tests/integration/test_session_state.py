"""Session state under transaction pooling: every client here shares ONE
upstream server connection, statement after statement, so anything one
client leaves on the server would show up in the other's results. Proves
that settings follow their client (reported ones through ParameterStatus,
SET search_path/extra_float_digits by replay), that state pgwarden cannot
follow (set_config(..., false), cursors WITH HOLD) is reset before another
client runs, that a rolled-back SET is forgotten, and that clean servers get
no extra statement at all."""

from __future__ import annotations

import asyncio

import asyncpg
import psycopg
import pytest

import harness


@pytest.fixture(scope="module")
def single(world):
    """pgwarden whose connection "single" has exactly one server."""
    pg = world.pg
    pg.psql("CREATE SCHEMA IF NOT EXISTS alt;"
            "CREATE TABLE IF NOT EXISTS public.marker (v text);"
            "CREATE TABLE IF NOT EXISTS alt.marker (v text);"
            "TRUNCATE public.marker, alt.marker;"
            "INSERT INTO public.marker VALUES ('public'); INSERT INTO alt.marker VALUES ('alt');"
            "GRANT USAGE ON SCHEMA alt TO analyst;"
            "GRANT SELECT ON public.marker, alt.marker TO analyst", db="analytics")
    daemon = harness.Pgwarden()
    try:
        daemon.add_user("acme")
        daemon.add_connection("acme", "single",
                              pg.url("analytics", "analyst", world.roles["analyst"]),
                              min_size=1, max_size=1)
        yield daemon.start()
    finally:
        daemon.cleanup()


def _connect(daemon: harness.Pgwarden) -> psycopg.Connection:
    return psycopg.connect(daemon.dsn("acme", "single"), autocommit=True)


def _one(conn: psycopg.Connection, sql: str):
    return conn.execute(sql).fetchone()[0]


def test_time_zones_do_not_cross_clients(single):
    """Two asyncpg clients with different TimeZone startup parameters,
    interleaved on one server: each always sees its own zone."""
    async def main() -> None:
        kw = single.connect_kwargs("acme", "single")
        tokyo = await asyncpg.connect(**kw, server_settings={"TimeZone": "Asia/Tokyo"})
        lima = await asyncpg.connect(**kw, server_settings={"TimeZone": "America/Lima"})
        try:
            sql = "SELECT current_setting('TimeZone'), '2024-01-01 00:00+00'::timestamptz::text"
            for _ in range(10):
                assert tuple(await tokyo.fetchrow(sql)) == ("Asia/Tokyo",
                                                            "2024-01-01 09:00:00+09")
                assert tuple(await lima.fetchrow(sql)) == ("America/Lima",
                                                           "2023-12-31 19:00:00-05")
            await lima.execute("SET TimeZone = 'UTC'")
            assert await lima.fetchval("SHOW TimeZone") == "UTC"
            assert await tokyo.fetchval("SHOW TimeZone") == "Asia/Tokyo"
        finally:
            await tokyo.close()
            await lima.close()
    asyncio.run(asyncio.wait_for(main(), 60))


def test_search_path_follows_its_client(single):
    with _connect(single) as a, _connect(single) as b:
        a.execute("SET search_path = alt, public")
        for _ in range(5):
            assert _one(a, "SELECT v FROM marker") == "alt"
            assert _one(b, "SELECT v FROM marker") == "public"
            assert _one(b, "SHOW search_path") == '"$user", public'
        a.execute("RESET search_path")
        assert _one(a, "SELECT v FROM marker") == "public"


def test_simple_protocol_set_follows_too(single):
    """A simple Query SET, as psql sends it (psycopg's execute uses the
    extended protocol; PQexec sends a simple Query)."""
    with _connect(single) as a, _connect(single) as b:
        result = a.pgconn.exec_(b"SET SCHEMA 'alt'")
        assert result.status == psycopg.pq.ExecStatus.COMMAND_OK
        assert _one(b, "SELECT v FROM marker") == "public"
        assert _one(a, "SELECT v FROM marker") == "alt"


def test_extra_float_digits_follows_its_client(single):
    with _connect(single) as a, _connect(single) as b:
        a.execute("SET extra_float_digits = 0")
        sql = "SELECT (0.1::float8 + 0.2::float8)::text"
        assert _one(a, sql) == "0.3"
        assert _one(b, sql) == "0.30000000000000004"
        assert _one(a, sql) == "0.3"


def test_set_config_is_reset_before_another_client(single):
    """asyncpg's type introspection does set_config('jit', 'off', false):
    pgwarden cannot replay it, so it resets the server instead."""
    with _connect(single) as a, _connect(single) as b:
        assert _one(a, "SELECT set_config('jit', 'off', false)") == "off"
        assert _one(b, "SHOW jit") == "on"
        assert _one(b, "SELECT set_config('search_path', 'alt', false)") == "alt"
        assert _one(a, "SELECT v FROM marker") == "public"


def test_cursor_with_hold_does_not_survive_for_others(single):
    with _connect(single) as a, _connect(single) as b:
        a.execute("DECLARE held CURSOR WITH HOLD FOR SELECT v FROM marker")
        with pytest.raises(psycopg.errors.InvalidCursorName):
            b.execute("FETCH held")


def test_rolled_back_set_is_forgotten_and_committed_one_kept(single):
    with _connect(single) as a, _connect(single) as b:
        a.execute("BEGIN")
        a.execute("SET search_path = alt, public")
        assert _one(a, "SELECT v FROM marker") == "alt"
        a.execute("ROLLBACK")
        assert _one(a, "SELECT v FROM marker") == "public"
        assert _one(b, "SELECT v FROM marker") == "public"
        a.execute("BEGIN")
        a.execute("SET search_path = alt, public")
        a.execute("COMMIT")
        assert _one(b, "SELECT v FROM marker") == "public"
        assert _one(a, "SELECT v FROM marker") == "alt"


def test_clean_servers_get_no_extra_statements(single, pg):
    """Clients with the same (default) settings share the server without a
    single SET or RESET from pgwarden: the upstream log shows only theirs."""
    with _connect(single) as a, _connect(single) as b:
        _one(a, "SELECT 1")  # settle anything an earlier test left
        _one(b, "SELECT 1")
        mark = pg.logfile.stat().st_size
        for i in range(10):
            assert _one(a, f"SELECT {i}") == i
            assert _one(b, f"SELECT {i} + 100") == i + 100
        with open(pg.logfile, "rb") as f:
            f.seek(mark)
            log = f.read().decode(errors="replace")
    statements = [line.split("statement: ", 1)[1] for line in log.splitlines()
                  if "statement: " in line]
    # (The extended protocol logs "execute <unnamed>: ...": count those too.)
    statements += [line.split(": ", 2)[-1] for line in log.splitlines()
                   if "execute <unnamed>" in line]
    assert statements, "the upstream log shows no statements: is log_statement on?"
    assert not [s for s in statements if "RESET" in s or s.startswith("SET ")], statements
