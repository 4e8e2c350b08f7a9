"""The agent's driver, asyncpg (Debian's python3-asyncpg), through a pool of
two servers shared by more clients than that: COPY out, cancellation by
timeout, LISTEN refused, type introspection; results compared with direct
PostgreSQL."""

from __future__ import annotations

import asyncio
import io

import asyncpg
import pytest

import harness


@pytest.fixture(scope="module")
def small(world):
    daemon = harness.Pgwarden()
    try:
        daemon.add_user("acme")
        daemon.add_connection("acme", "analytics",
                              world.pg.url("analytics", "analyst", world.roles["analyst"]),
                              min_size=1, max_size=2)
        yield daemon.start()
    finally:
        daemon.cleanup()


def _direct(world) -> dict:
    pg = world.pg
    return {"host": "127.0.0.1", "port": pg.port, "user": "analyst", "database": "analytics",
            "password": world.roles["analyst"]}


def _run(coro, timeout: float = 90):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_copy_from_query_matches_direct(small, world):
    sql = "SELECT loan_id, principal, status FROM loans WHERE loan_id <= $1 ORDER BY loan_id"

    async def copy(kw: dict) -> bytes:
        conn = await asyncpg.connect(**kw)
        try:
            out = io.BytesIO()
            await conn.copy_from_query(sql, 500, output=out, format="csv")
            return out.getvalue()
        finally:
            await conn.close()

    async def main() -> tuple[bytes, list[bytes]]:
        direct = await copy(_direct(world))
        via = await asyncio.gather(*(copy(small.connect_kwargs("acme", "analytics"))
                                     for _ in range(6)))
        return direct, via

    direct, via = _run(main())
    assert direct.count(b"\n") == 500
    assert all(v == direct for v in via)


# Minutes of work (pg_sleep is refused: it holds a pooled server doing nothing).
SLOW = "SELECT count(*) FROM generate_series(1, 3000000000)"


def test_timeout_cancels_upstream_and_connection_goes_on(small, world):
    """asyncpg's timeout= sends a CancelRequest: the statement stops on the
    server (not just in the client) and the same connection keeps working."""
    async def main() -> None:
        conn = await asyncpg.connect(**small.connect_kwargs("acme", "analytics"))
        try:
            with pytest.raises(asyncio.TimeoutError):
                await conn.fetchval(SLOW, timeout=0.5)
            assert await conn.fetchval("SELECT count(*) FROM loans") > 0
            watcher = await asyncpg.connect(**_direct(world))
            try:
                running = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'",
                    SLOW)
                assert running == 0
            finally:
                await watcher.close()
        finally:
            await conn.close()
    _run(main())


def test_listen_is_refused_and_session_survives(small):
    async def main() -> None:
        conn = await asyncpg.connect(**small.connect_kwargs("acme", "analytics"))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.add_listener("events", lambda *a: None)
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    _run(main())


def test_many_clients_prepared_and_introspected_types_match_direct(small, world):
    """Eight asyncpg connections (default statement cache) on two servers:
    named statements, arrays, numerics, json and an enum-free composite need
    type introspection; every answer equals direct PostgreSQL's."""
    queries = [
        ("SELECT loan_id, principal, status FROM loans WHERE loan_id = $1", (7,)),
        ("SELECT array_agg(loan_id ORDER BY loan_id) FROM loans WHERE loan_id < $1", (20,)),
        ("SELECT json_build_object('n', count(*)) FROM loans WHERE principal > $1", (1000,)),
        ("SELECT (loan_id, principal)::record FROM loans WHERE loan_id = $1", (3,)),
        ("SELECT status, sum(principal)::numeric(20,2) FROM loans GROUP BY 1 ORDER BY 1", ()),
    ]

    async def answers(kw: dict, rounds: int) -> list:
        conn = await asyncpg.connect(**kw)
        try:
            out = []
            for _ in range(rounds):
                for sql, args in queries:
                    stmt = await conn.prepare(sql)
                    out.append([tuple(r) for r in await stmt.fetch(*args)])
            return out
        finally:
            await conn.close()

    async def main():
        direct = await answers(_direct(world), 1)
        via = await asyncio.gather(*(answers(small.connect_kwargs("acme", "analytics"), 3)
                                     for _ in range(8)))
        return direct, via

    direct, via = _run(main())
    for result in via:
        assert result == direct * 3
