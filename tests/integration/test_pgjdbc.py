"""pgjdbc (Debian's libpostgresql-jdbc-java) through pgwarden (issue 5, the
client matrix): a PreparedStatement run past prepareThreshold, so pgjdbc
switches to a named server-side statement (S_1), from more threads, each
with its own connection, than pgwarden has server connections; isValid();
a transaction with setAutoCommit(false)/commit(); DatabaseMetaData, whose
catalog queries pass pgwarden's query guard like any other statement.

java/PgwardenJdbcCheck.java runs the same work against pgwarden and straight
against PostgreSQL (as the role pgwarden logs in as) and prints JSON; every
test here compares the two. Backend pids are the only output that may differ.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import harness

JAVA_SOURCE = Path(__file__).resolve().parent / "java" / "PgwardenJdbcCheck.java"
PGJDBC_JAR = Path("/usr/share/java/postgresql.jar")  # libpostgresql-jdbc-java
POOL_MAX = 5            # the fixture's [pool] max_size
THREADS = 8             # JDBC connections at once: more than POOL_MAX
ROUNDS = 20
PREPARE_THRESHOLD = 5   # pgjdbc's default, set explicitly in the URL
UNNAMED_RUNS = PREPARE_THRESHOLD - 1  # executions before pgjdbc names the statement


@pytest.fixture(scope="session")
def jdbc_check(tmp_path_factory) -> Path:
    """PgwardenJdbcCheck compiled against Debian's pgjdbc into a temp folder."""
    for tool in ("javac", "java"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not on PATH (scripts/install-deps installs default-jdk-headless)")
    if not PGJDBC_JAR.exists():
        pytest.fail(f"{PGJDBC_JAR} is missing (scripts/install-deps installs libpostgresql-jdbc-java)")
    classes = tmp_path_factory.mktemp("jdbc-classes")
    p = subprocess.run(["javac", "-d", str(classes), "-cp", str(PGJDBC_JAR), str(JAVA_SOURCE)],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180)
    assert p.returncode == 0, f"javac failed:\n{p.stderr}"
    return classes


def run_check(classes: Path, host: str, port: int, user: str, password: str, tag: str) -> dict:
    url = (f"jdbc:postgresql://{host}:{port}/analytics?prepareThreshold={PREPARE_THRESHOLD}"
           "&connectTimeout=10&socketTimeout=60&loginTimeout=10")
    p = subprocess.run(["java", "-cp", f"{classes}:{PGJDBC_JAR}", "PgwardenJdbcCheck",
                        url, user, str(THREADS), str(ROUNDS), tag],
                       env=harness.clean_env(CHECK_PASSWORD=password), capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=200)
    assert p.returncode == 0, f"PgwardenJdbcCheck against {host}:{port} as {user}:\n{p.stderr}"
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def runs(jdbc_check, pgwarden, world) -> dict:
    """The check once through pgwarden and once direct, each with its own tag."""
    pg = world.pg
    tags = {"via": "v" + uuid.uuid4().hex[:12], "direct": "d" + uuid.uuid4().hex[:12]}
    return {
        "via": run_check(jdbc_check, pgwarden.host, pgwarden.port, "acme",
                         pgwarden.users["acme"], tags["via"]),
        "direct": run_check(jdbc_check, pg.host, pg.port, "analyst", world.roles["analyst"],
                            tags["direct"]),
        "tags": tags,
    }


def executions(pg: harness.PostgresCluster, tag: str) -> dict[str, int]:
    """How often the server executed the tagged statement: named ones under
    "named", unnamed ones under "<unnamed>"."""
    counts = {"named": 0, "<unnamed>": 0}
    for m in re.finditer(r"LOG:  execute (\S+): [^\n]*pgjdbc-check " + tag + r" ",
                         pg.logfile.read_text(errors="replace")):
        counts["<unnamed>" if m.group(1) == "<unnamed>" else "named"] += 1
    return counts


def test_prepared_statement_past_threshold_matches_direct(runs):
    """Eight connections each run one PreparedStatement 20 times, all
    threads round by round together: every result equals PostgreSQL's, and
    pgjdbc reports the statement as server-prepared once past the threshold."""
    for t, (v, d) in enumerate(zip(runs["via"]["threads"], runs["direct"]["threads"])):
        assert v["sums"] == d["sums"], f"thread {t}"
        assert v["rows"] == d["rows"], f"thread {t}"
        assert v["serverPrepared"][-1] is True, f"thread {t}: {v['serverPrepared']}"
        assert v["serverPrepared"] == d["serverPrepared"], f"thread {t}"


def test_named_statements_move_between_servers(runs, pg):
    """PostgreSQL executed the statement as pgjdbc asked: the first four
    runs per connection unnamed, then as a named statement, as often through
    pgwarden as direct. The connections' named executions landed on several
    server connections, at most the pool's five, so pgwarden prepared the
    statement on servers that never saw pgjdbc's Parse."""
    expected = {"named": THREADS * (ROUNDS - UNNAMED_RUNS), "<unnamed>": THREADS * UNNAMED_RUNS}
    for run in ("direct", "via"):
        counts = harness.wait_until(
            lambda: (c := executions(pg, runs["tags"][run])) and sum(c.values()) >= THREADS * ROUNDS and c,
            10, f"the {run} run's executions in the server log")
        assert counts == expected, run
    pids = runs["via"]["pids"]
    assert 1 <= len({p for thread in pids for p in thread}) <= POOL_MAX, pids
    moved = [t for t, thread in enumerate(pids) if len(set(thread[UNNAMED_RUNS:])) > 1]
    assert moved, f"no connection's named statement ever ran on a second server: {pids}"


def test_is_valid(runs):
    """Connection.isValid(5) (pgjdbc's empty query) is true through pgwarden
    on a new connection, after a refused statement, and on the metadata connection."""
    for t, v in enumerate(runs["via"]["threads"]):
        assert v["validAtStart"] is True and v["validAtEnd"] is True, f"thread {t}"
    assert runs["via"]["metadata"]["valid"] is True


def test_transaction_with_autocommit_off(runs):
    """setAutoCommit(false), three queries, commit(): all three ran on one
    server connection and counted what they count direct."""
    for t, (v, d) in enumerate(zip(runs["via"]["threads"], runs["direct"]["threads"])):
        assert v["transactionOnOneServer"] is True, f"thread {t}"
        assert v["transactionCount"] == d["transactionCount"], f"thread {t}"


def test_refused_write_leaves_the_connection_usable(runs):
    """executeUpdate("DELETE ...") fails with SQLState 42501 (the guard;
    direct, the SELECT-only role's permission error) and the connection
    answers its next query."""
    for t, (v, d) in enumerate(zip(runs["via"]["threads"], runs["direct"]["threads"])):
        assert d["deleteState"] == "42501"
        assert v["deleteState"] == "42501", f"thread {t}"
        assert v["borrowersAfterRefusal"] == d["borrowersAfterRefusal"] == 500, f"thread {t}"


METADATA_CALLS = ["getTables", "getColumns", "getPrimaryKeys", "getImportedKeys",
                  "getExportedKeys", "getBestRowIdentifier", "getTablePrivileges",
                  "getIndexInfo", "getSchemas", "product"]


@pytest.mark.parametrize("call", METADATA_CALLS)
def test_database_metadata_matches_direct(runs, call):
    """DatabaseMetaData's call returns through pgwarden exactly the rows it
    returns direct (an error appears as "ERROR <SQLState>: <message>")."""
    direct = runs["direct"]["metadata"][call]
    assert not str(direct).startswith("ERROR"), direct
    assert direct, f"{call} returned nothing direct"
    assert runs["via"]["metadata"][call] == direct
