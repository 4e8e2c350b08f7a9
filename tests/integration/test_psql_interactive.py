"""psql's interactive features through pgwarden (issue 5, the client matrix):
describe commands (\\d, \\dt, \\d+, \\l ...), \\copy ... to, \\timing,
\\conninfo and a script with a transaction, each compared with the same psql
command run straight against PostgreSQL, plus more psql sessions at once than
pgwarden has server connections.

psql is driven non-interactively (-c, -f, standard input): the meta-commands
send the same catalog queries either way (`psql -E` shows them), and those
queries pass pgwarden's query guard like any other statement.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness

POOL_MAX = 5  # the fixture's [pool] max_size
CLIENTS = 8   # psql sessions at once: more than POOL_MAX


@dataclass
class Endpoint:
    """Where psql connects: pgwarden, or PostgreSQL itself as the upstream role."""
    host: str
    port: int
    user: str
    password: str
    db: str = "analytics"


@pytest.fixture(scope="module")
def via(pgwarden) -> Endpoint:
    return Endpoint(pgwarden.host, pgwarden.port, "acme", pgwarden.users["acme"])


@pytest.fixture(scope="module")
def direct(world) -> Endpoint:
    """The role pgwarden logs in as upstream, straight to PostgreSQL."""
    return Endpoint(world.pg.host, world.pg.port, "analyst", world.roles["analyst"])


def psql_argv(ep: Endpoint, *args: str) -> list[str]:
    return [str(harness.PG_BINDIR / "psql"), "-X", "-P", "pager=off",
            "-h", ep.host, "-p", str(ep.port), "-U", ep.user, "-d", ep.db, *args]


def psql_env(ep: Endpoint) -> dict[str, str]:
    return harness.clean_env(PGPASSWORD=ep.password, PGCONNECT_TIMEOUT="10")


def psql(ep: Endpoint, *args: str, stdin: str | None = None,
         timeout: float = 60) -> harness.PsqlResult:
    """psql with the given arguments (e.g. -c ..., -f FILE), standard input
    from `stdin` (or none); output as the user sees it."""
    p = subprocess.run(psql_argv(ep, *args), env=psql_env(ep), input=stdin,
                       stdin=None if stdin is not None else subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    return harness.PsqlResult(p.returncode, p.stdout, p.stderr)


def same_as_direct(via: Endpoint, direct: Endpoint, *args: str, **kw) -> harness.PsqlResult:
    """Runs psql against both; asserts both succeed and print the same
    standard output and the same messages (e.g. "Did not find any
    relations."). Returns the pgwarden run."""
    through = psql(via, *args, **kw)
    straight = psql(direct, *args, **kw)
    assert straight.ok, f"direct run failed: {straight.stderr}"
    assert through.ok, f"through pgwarden: exit {through.returncode}: {through.stderr}"
    assert through.stderr == straight.stderr
    assert through.stdout == straight.stdout
    return through


# --------------------------------------------------------------------------
# Describe commands


DESCRIBE = ["\\d loans", "\\d+ loans", "\\dt", "\\dt+", "\\d+", "\\l", "\\l+", "\\dn",
            "\\di", "\\df", "\\dv", "\\dT", "\\du", "\\dp", "\\dx", "\\d payments_loan_id_idx"]


@pytest.mark.parametrize("command", DESCRIBE)
def test_describe_command_matches_direct(via, direct, command):
    """The describe command's catalog queries pass the guard and psql prints
    exactly what it prints against PostgreSQL (same tables, columns, indexes,
    constraints, comments, sizes, owners)."""
    out = same_as_direct(via, direct, "-c", command)
    assert (out.stdout + out.stderr).strip(), f"{command} printed nothing"


def test_describe_loans_shows_its_structure(via):
    """What a user reads in `\\d loans` through pgwarden: the columns with
    types, both indexes, the check constraints and the foreign keys either way."""
    out = psql(via, "-c", "\\d loans")
    assert out.ok, out.stderr
    for line in ['Table "public.loans"', "principal     | numeric(12,2)",
                 '"loans_pkey" PRIMARY KEY, btree (loan_id)',
                 '"loans_borrower_id_idx" btree (borrower_id)',
                 '"loans_principal_check" CHECK (principal > 0::numeric)',
                 "FOREIGN KEY (borrower_id) REFERENCES borrowers(borrower_id)",
                 'TABLE "payments" CONSTRAINT "payments_loan_id_fkey"']:
        assert line in out.stdout, out.stdout


def echoed_queries(stdout: str) -> list[str]:
    """The queries `psql -E` prints before running them."""
    return re.findall(r"\*{9} QUERY \*{10}\n(.*?)\n\*{26}\n", stdout, re.S)


def test_describe_queries_reach_the_server_unchanged(via, pg):
    """Every catalog query psql sends for `\\d loans` (as `psql -E` echoes
    it) is executed by PostgreSQL with exactly that text: pgwarden relays
    psql's queries; it does not answer or rewrite them."""
    mark = pg.logfile.stat().st_size
    out = psql(via, "-E", "-c", "\\d loans")
    assert out.ok, out.stderr
    # The server log indents a statement's continuation lines with a tab.
    queries = [q.replace("\n", "\n\t") for q in echoed_queries(out.stdout)]
    assert len(queries) >= 5, out.stdout  # table, columns, indexes, checks, foreign keys...

    def logged() -> str | bool:
        with open(pg.logfile, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        return all(f"statement: {q}" in text for q in queries) and text

    try:
        harness.wait_until(logged, 10, "psql's queries in the server log")
    except TimeoutError:
        with open(pg.logfile, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        missing = [q for q in queries if f"statement: {q}" not in text]
        pytest.fail(f"{len(missing)} of psql's queries never reached PostgreSQL verbatim:\n"
                    + "\n---\n".join(missing))


# --------------------------------------------------------------------------
# \copy ... to


COPY_CASES = {
    # COPY (SELECT ...) TO STDOUT, CSV with a header
    "query-csv": "\\copy (SELECT p.*, l.status FROM payments p JOIN loans l USING (loan_id)"
                 " ORDER BY payment_id) to '{file}' with (format csv, header)",
    # COPY table TO STDOUT, text format
    "table-text": "\\copy loans to '{file}'",
    # COPY table TO STDOUT, binary format (every byte must survive the relay)
    "table-binary": "\\copy borrowers to '{file}' with (format binary)",
    # a column list and a delimiter
    "columns": "\\copy payments (payment_id, amount) to '{file}' with (delimiter '|')",
}


@pytest.mark.parametrize("case", COPY_CASES)
def test_copy_to_file_matches_direct(via, direct, tmp_path, case):
    """`\\copy ... to 'file'` (COPY ... TO STDOUT relayed by pgwarden) writes
    a file byte for byte identical to the one written straight from
    PostgreSQL, and psql reports the same row count."""
    files = {}
    outputs = {}
    for name, ep in (("via", via), ("direct", direct)):
        files[name] = tmp_path / f"{name}.out"
        r = psql(ep, "-c", COPY_CASES[case].format(file=files[name]))
        assert r.ok and not r.stderr, f"{name}: {r.stderr}"
        outputs[name] = r.stdout.strip()
    assert re.fullmatch(r"COPY \d+", outputs["via"]), outputs["via"]
    assert outputs["via"] == outputs["direct"]
    via_bytes, direct_bytes = files["via"].read_bytes(), files["direct"].read_bytes()
    assert len(via_bytes) > 1000
    assert via_bytes == direct_bytes


def test_copy_row_counts(via, tmp_path):
    """The copied files hold every row of the analytics tables."""
    target = tmp_path / "payments.csv"
    r = psql(via, "-c", f"\\copy (SELECT * FROM payments ORDER BY payment_id) to '{target}'"
                        " with (format csv, header)")
    assert r.ok, r.stderr
    assert r.stdout.strip() == "COPY 8000"
    lines = target.read_text().splitlines()
    assert lines[0] == "payment_id,loan_id,paid_on,amount"
    assert len(lines) == 8001


def test_copy_from_is_refused_and_the_session_goes_on(via, tmp_path):
    """`\\copy loans from` is refused by the guard (the connection is
    read-only) and the same psql session keeps working; nothing is loaded."""
    source = tmp_path / "loans.txt"
    source.write_text("999999\t1\t100.00\t0.0500\t12\tactive\t2024-01-01\n")
    r = psql(via, "-v", "ON_ERROR_STOP=0", "-A", "-t",
             stdin=f"\\copy loans from '{source}'\nSELECT count(*) FROM loans;\n")
    assert "pgwarden: COPY FROM is not allowed" in r.stderr, r.stderr
    assert r.stdout.strip() == "2000"


# --------------------------------------------------------------------------
# \timing, \conninfo


def test_timing_prints_a_time_for_every_statement(via, direct):
    """With `\\timing on`, psql prints one "Time: ... ms" line per statement
    through pgwarden, and the results between them are PostgreSQL's."""
    statements = ["SELECT count(*) FROM loans", "SELECT max(amount) FROM payments",
                  "SELECT country, count(*) FROM borrowers GROUP BY 1 ORDER BY 1"]
    args = ["-c", "\\timing on"]
    for s in statements:
        args += ["-c", s]
    runs = {}
    for name, ep in (("via", via), ("direct", direct)):
        r = psql(ep, *args)
        assert r.ok and not r.stderr, f"{name}: {r.stderr}"
        runs[name] = r.stdout
    times = re.findall(r"^Time: (\d+\.\d+) ms$", runs["via"], re.M)
    assert runs["via"].startswith("Timing is on.\n")
    assert len(times) == len(statements), runs["via"]
    assert all(float(t) < 60_000 for t in times)
    without_times = {k: re.sub(r"^Time: .*\n", "", v, flags=re.M) for k, v in runs.items()}
    assert without_times["via"] == without_times["direct"]


def test_conninfo_names_pgwarden(via, pgwarden):
    """`\\conninfo` shows what the user connected to: pgwarden's address and
    the connection's name as database, the pgwarden user."""
    r = psql(via, "-c", "\\conninfo")
    assert r.ok, r.stderr
    assert r.stdout.strip() == (
        f'You are connected to database "analytics" as user "acme" on host "{pgwarden.host}"'
        f' at port "{pgwarden.port}".')


# --------------------------------------------------------------------------
# Scripts


SCRIPT = r"""
\set ON_ERROR_STOP on
SELECT count(*) AS borrowers FROM borrowers;
SELECT max(loan_id) AS max_loan FROM loans \gset
\echo max loan :max_loan
BEGIN;
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT pg_backend_pid() AS tx_pid \gset
SELECT current_setting('TimeZone') AS tz_in_transaction;
DECLARE recent CURSOR FOR
  SELECT loan_id, principal FROM loans ORDER BY originated_on DESC, loan_id LIMIT 5;
FETCH 2 FROM recent;
FETCH 3 FROM recent;
CLOSE recent;
SELECT pg_backend_pid() = :tx_pid AS same_server,
       count(*) AS early_payments FROM payments WHERE loan_id <= :max_loan / 10;
COMMIT;
SELECT current_setting('TimeZone') AS tz_after_commit;
BEGIN;
SELECT sum(amount) AS paid FROM payments WHERE paid_on < date '2022-01-01';
ROLLBACK;
\if :{?tx_pid}
\echo transaction done
\endif
SELECT status, count(*) FROM loans GROUP BY status ORDER BY status;
"""


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_script_with_a_transaction_matches_direct(via, direct, tmp_path, how):
    """A psql script (-f FILE or standard input) with \\gset, \\if, a
    transaction holding a SET LOCAL and a cursor, and a rolled-back block
    prints through pgwarden exactly what it prints against PostgreSQL; inside
    the transaction every statement ran on one server connection, and the
    SET LOCAL did not outlive it."""
    if how == "file":
        script = tmp_path / "script.sql"
        script.write_text(SCRIPT)
        out = same_as_direct(via, direct, "-f", str(script)).stdout
    else:
        out = same_as_direct(via, direct, stdin=SCRIPT).stdout
    assert "max loan 2000" in out
    assert " Asia/Tokyo" in out and " Etc/UTC" in out
    assert re.search(r"same_server \| early_payments *\n-+\+-+\n t +\| +\d+", out), out
    assert "transaction done" in out


def test_script_error_stops_at_the_failing_statement(via, direct, tmp_path):
    """With ON_ERROR_STOP, a script stops at its first error through pgwarden
    as it does direct: same output before it, same exit code (3), the
    statements after it never run."""
    script = tmp_path / "failing.sql"
    script.write_text("\\set ON_ERROR_STOP on\nSELECT 1 AS before;\n"
                      "SELECT 1 / (count(*) - count(*)) FROM loans;\nSELECT 'after' AS never;\n")
    runs = {name: psql(ep, "-f", str(script)) for name, ep in (("via", via), ("direct", direct))}
    assert runs["direct"].returncode == 3
    assert runs["via"].returncode == 3, runs["via"].stderr
    assert runs["via"].stdout == runs["direct"].stdout
    assert "never" not in runs["via"].stdout
    assert "ERROR:  division by zero" in runs["via"].stderr


# --------------------------------------------------------------------------
# Many psql sessions at once


def session_script(client: int, copy_target: Path) -> str:
    """\\d, \\copy and three transactions reporting their server's pid as
    "server N" lines (the only lines that differ from a direct run)."""
    tx = "\n".join(
        f"BEGIN;\nSELECT pg_backend_pid() AS pid \\gset\n\\echo server :pid\n"
        f"SELECT count(*) AS loans_{k} FROM loans WHERE borrower_id % {CLIENTS} = {client};\n"
        f"SELECT pg_backend_pid() = :pid AS same_server_{k};\nCOMMIT;"
        for k in range(3))
    return (f"\\set ON_ERROR_STOP on\n\\d loans\n\\dt\n"
            f"\\copy (SELECT * FROM loans WHERE borrower_id % {CLIENTS} = {client}"
            f" ORDER BY loan_id) to '{copy_target}' with (format csv)\n{tx}\n")


def run_sessions(ep: Endpoint, scripts: list[Path], timeout: float = 120) -> list[harness.PsqlResult]:
    """Starts one `psql -f script` per script at the same time; waits for all
    of them, up to `timeout` in total."""
    procs = [subprocess.Popen(psql_argv(ep, "-f", str(script)), env=psql_env(ep),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for script in scripts]
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
            results.append(harness.PsqlResult(proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


def test_more_psql_sessions_than_servers(via, direct, tmp_path):
    """Eight psql sessions at once through a pool of at most five server
    connections, each describing tables, copying its share of loans out and
    running three transactions: every session prints what the same script
    prints direct, every copied file equals the direct one, every transaction
    stayed on one server, and all of them together used at most five server
    connections (so sessions shared servers between their transactions)."""
    runs = {}
    for name, ep in (("via", via), ("direct", direct)):
        scripts = []
        for i in range(CLIENTS):
            scripts.append(tmp_path / f"{name}-{i}.sql")
            scripts[-1].write_text(session_script(i, tmp_path / f"{name}-{i}.csv"))
        runs[name] = run_sessions(ep, scripts)
    pids = set()
    for i, (v, d) in enumerate(zip(runs["via"], runs["direct"])):
        assert d.ok, f"direct session {i}: {d.stderr}"
        assert v.ok and not v.stderr, f"session {i} through pgwarden: {v.returncode} {v.stderr}"
        servers = re.findall(r"^server (\d+)$", v.stdout, re.M)
        assert len(servers) == 3, v.stdout
        pids.update(servers)
        strip = lambda text: re.sub(r"^server \d+\n", "", text, flags=re.M)  # noqa: E731
        assert strip(v.stdout) == strip(d.stdout), f"session {i}"
        assert v.stdout.count("\n t\n") == 3, v.stdout  # same_server_k = t
        via_copy = (tmp_path / f"via-{i}.csv").read_bytes()
        assert via_copy and via_copy == (tmp_path / f"direct-{i}.csv").read_bytes(), f"session {i}"
    assert 1 <= len(pids) <= POOL_MAX, pids
