"""Fixtures for pgwarden's integration tests: one throwaway PostgreSQL 15 and
one pgwarden daemon per pytest session (each ctest entry is its own session).

The world they build:

  PostgreSQL (superuser password random, scram everywhere)
    analytics     sql/analytics.sql, role analyst (SELECT only)
    bench         pgbench -i -s 1, owned by role bencher
    tenant_a_db   owned by tenant_a, table secrets_a
    tenant_b_db   owned by tenant_b, table secrets_b

  pgwarden users and their connection records (user / name -> upstream)
    acme      / analytics    -> analyst@analytics
    acme      / bench        -> bencher@bench
    acme      / slow         -> analyst@analytics, query_timeout = 1 s
    acme      / limited      -> analyst@analytics, 600 queries/minute, burst 3
    acme      / capped       -> analyst@analytics, at most 100 rows / 200 kB per result
    acme      / tiny_cache   -> analyst@analytics, one server keeping 2 prepared statements
    acme      / unreachable  -> analyst@<a closed port>/analytics
    acme      / badpass      -> analyst with a wrong password
    tenant_a  / tenant_a_db  -> tenant_a@tenant_a_db
    tenant_a  / reports      -> tenant_a@tenant_a_db
    tenant_b  / tenant_b_db  -> tenant_b@tenant_b_db
    tenant_b  / reports      -> tenant_b@tenant_b_db
"""

from __future__ import annotations

import secrets
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


@dataclass
class World:
    pg: harness.PostgresCluster
    roles: dict[str, str] = field(default_factory=dict)  # upstream role -> password
    tenant_secrets: dict[str, str] = field(default_factory=dict)  # table -> secret value
    closed_port: int = 0
    wrong_upstream_password: str = ""


def _create_tenant(pg: harness.PostgresCluster, world: World, tenant: str) -> None:
    role, db, table = f"tenant_{tenant}", f"tenant_{tenant}_db", f"secrets_{tenant}"
    world.roles[role] = pg.create_role(role)
    pg.create_database(db, role)
    secret = f"{tenant}-secret-{secrets.token_hex(8)}"
    world.tenant_secrets[table] = secret
    pg.psql(f"CREATE TABLE {table} (id integer PRIMARY KEY, secret text NOT NULL);"
            f" INSERT INTO {table} VALUES (1, '{secret}')",
            db=db, user=role, password=world.roles[role])


@pytest.fixture(scope="session")
def world():
    """PostgreSQL 15 in a temp folder with the roles and databases above. It
    logs every statement it receives, so tests can prove what never reached it."""
    pg = harness.PostgresCluster(settings={"log_statement": "all"})
    pg.start()
    try:
        w = World(pg=pg)
        w.roles["analyst"] = pg.load_analytics("analytics", "analyst")
        w.roles["bencher"] = pg.create_role("bencher")
        pg.load_pgbench("bench", "bencher", w.roles["bencher"])
        _create_tenant(pg, w, "a")
        _create_tenant(pg, w, "b")
        w.closed_port = harness.free_port()
        w.wrong_upstream_password = harness.new_password()
        yield w
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def pg(world) -> harness.PostgresCluster:
    return world.pg


@pytest.fixture(scope="session")
def pgwarden(world):
    """A running pgwarden (binary from $PGWARDEN_BIN, default build/pgwarden)
    with the users and connection records above; pool min 2 / max 5,
    acquire_timeout 10 s, two workers."""
    pg = world.pg
    daemon = harness.Pgwarden()
    try:
        for user in ("acme", "tenant_a", "tenant_b"):
            daemon.add_user(user)
        r = world.roles
        daemon.add_connection("acme", "analytics", pg.url("analytics", "analyst", r["analyst"]))
        daemon.add_connection("acme", "bench", pg.url("bench", "bencher", r["bencher"]))
        daemon.add_connection("acme", "slow", pg.url("analytics", "analyst", r["analyst"]),
                              query_timeout=1)
        daemon.add_connection("acme", "limited", pg.url("analytics", "analyst", r["analyst"]),
                              queries_per_minute=600, burst=3)
        daemon.add_connection("acme", "capped", pg.url("analytics", "analyst", r["analyst"]),
                              max_result_rows=100, max_result_bytes=200000)
        daemon.add_connection("acme", "tiny_cache", pg.url("analytics", "analyst", r["analyst"]),
                              min_size=1, max_size=1, max_prepared_statements=2)
        daemon.add_connection("acme", "unreachable",
                              pg.url("analytics", "analyst", r["analyst"], port=world.closed_port))
        daemon.add_connection("acme", "badpass",
                              pg.url("analytics", "analyst", world.wrong_upstream_password))
        for t in ("a", "b"):
            url = pg.url(f"tenant_{t}_db", f"tenant_{t}", r[f"tenant_{t}"])
            daemon.add_connection(f"tenant_{t}", f"tenant_{t}_db", url)
            daemon.add_connection(f"tenant_{t}", "reports", url)
        daemon.write_config()
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


TEST_DEADLINE = 240  # seconds; longer than any single test needs


@pytest.fixture(autouse=True)
def test_deadline():
    """Every test ends within TEST_DEADLINE: a client call that pgwarden never
    answers raises TimeoutError in that test, instead of hanging the session
    until ctest kills it and the remaining results are lost."""
    def expire(signum, frame):
        raise TimeoutError(f"test still running after {TEST_DEADLINE}s: a hung client call?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, TEST_DEADLINE)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def pgwarden_survives(request):
    """A test using the shared daemon errors if the daemon died during it
    (exit code and log tail in the report); the next test gets a restarted
    daemon, so one crash does not turn every later test into "connection refused"."""
    if "pgwarden" not in request.fixturenames:
        yield
        return
    daemon: harness.Pgwarden = request.getfixturevalue("pgwarden")
    if not daemon.running:
        with open(daemon.logfile, "a") as log:
            log.write("[harness] restarting pgwarden, which died in an earlier test\n")
        daemon.start()
    mark = daemon.log_mark()
    yield
    if daemon.proc is not None and daemon.proc.poll() is not None:
        code = daemon.proc.returncode
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        pytest.fail(f"pgwarden died during this test ({how}); its log meanwhile:\n"
                    + daemon.log_since(mark)[-4000:], pytrace=False)


@pytest.fixture
def scratch_pgwarden(world):
    """A second, not yet started pgwarden with one user (acme) and one
    connection (analytics), for tests that start daemons themselves."""
    pg = world.pg
    daemon = harness.Pgwarden()
    try:
        daemon.add_user("acme")
        daemon.add_connection("acme", "analytics",
                              pg.url("analytics", "analyst", world.roles["analyst"]))
        daemon.port = harness.free_port()
        yield daemon
    finally:
        daemon.cleanup()
