"""The three things pgbench is pointed at: PostgreSQL itself, PgBouncer and
pgwarden, all on loopback, all started and stopped here.

PostgreSQL and pgwarden come from tests/integration/harness.py; PgBouncer is
started the same way (setpriv as the postgres user, which it insists on, and
dying with us through PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import harness

PGBOUNCER_BIN = Path(os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer"))

ROLE = "bencher"  # the PostgreSQL role, and the user name clients log in as everywhere
DB = "bench"      # the database name clients ask for everywhere


@dataclass
class Target:
    """Where pgbench connects; pid is the proxy's (None for direct)."""
    name: str
    host: str
    port: int
    user: str
    db: str
    password: str
    proxy: "Pgbouncer | harness.Pgwarden | None" = None

    @property
    def pid(self) -> int | None:
        if self.proxy is None or self.proxy.proc is None:
            return None
        return self.proxy.proc.pid

    def crashed(self) -> str | None:
        """None while the proxy runs (or there is none); else how it ended."""
        if self.proxy is None:
            return None
        if self.proxy.proc is None:
            return "not running"
        code = self.proxy.proc.poll()
        return None if code is None else f"exited with code {code}"


def start_postgres(scale: int, max_connections: int) -> tuple[harness.PostgresCluster, str]:
    """A throwaway cluster with database bench (pgbench -i -s scale) owned by
    role bencher; returns the cluster and bencher's password."""
    pg = harness.PostgresCluster(settings={"max_connections": str(max_connections),
                                           "shared_buffers": "256MB"})
    pg.start()
    try:
        password = pg.create_role(ROLE)
        pg.load_pgbench(DB, ROLE, password, scale=scale)  # pgbench -i vacuums too
    except BaseException:
        pg.stop()
        raise
    return pg, password


def direct_target(pg: harness.PostgresCluster, password: str) -> Target:
    return Target("direct", pg.host, pg.port, ROLE, DB, password)


class Pgbouncer:
    """PgBouncer in transaction mode in front of pg, in its own temp folder.

    Clients authenticate with SCRAM against the role's own verifier (copied
    from pg_authid into the userlist); PgBouncer logs in upstream with the
    password from [databases].
    """

    def __init__(self, pg: harness.PostgresCluster, password: str, pool_size: int,
                 max_client_conn: int) -> None:
        self.pg = pg
        self.password = password
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.dir = Path(tempfile.mkdtemp(prefix="pgwarden-bench-pgbouncer-"))
        self.host = harness.LOOPBACK
        self.port = 0
        self.proc: subprocess.Popen | None = None
        harness._live.add(self)  # stopped at exit like the harness's own processes

    @property
    def logfile(self) -> Path:
        return self.dir / "pgbouncer.log"

    def _write_config(self) -> Path:
        verifier = self.pg.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{ROLE}'")
        userlist = self.dir / "userlist.txt"
        userlist.write_text(f'"{ROLE}" "{verifier}"\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{DB} = host={self.pg.host} port={self.pg.port} dbname={DB}"
            f" user={ROLE} password={self.password}\n"
            "\n[pgbouncer]\n"
            f"listen_addr = {self.host}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {userlist}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            f"min_pool_size = {self.pool_size}\n"
            "reserve_pool_size = 0\n"
            f"max_client_conn = {self.max_client_conn}\n"
            # Logging every login would cost it CPU pgwarden (log level warn) does not spend.
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            "ignore_startup_parameters = extra_float_digits\n")
        for path in (self.dir, userlist, ini):
            harness._chown_postgres(path)
        os.chmod(userlist, 0o600)
        return ini

    def start(self, timeout: float = 30) -> "Pgbouncer":
        self.port = self.port or harness.free_port()  # a restart keeps the port
        ini = self._write_config()
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(
                harness._as_postgres([PGBOUNCER_BIN, ini], pdeathsig="TERM"), cwd=self.dir,
                env=harness.clean_env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

        def ready() -> bool:
            return self.proc.poll() is not None or harness.port_accepts(self.host, self.port)

        try:
            harness.wait_until(ready, timeout, f"pgbouncer on port {self.port}")
        except TimeoutError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            code, self.proc = self.proc.returncode, None
            raise RuntimeError(f"pgbouncer exited with {code}:\n{harness._tail(self.logfile)}")
        return self

    def restart(self) -> "Pgbouncer":
        self.stop()
        return self.start()

    def stop(self, timeout: float = 20) -> None:
        """SIGINT (PgBouncer's shutdown), SIGKILL after timeout."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        harness._live.discard(self)
        shutil.rmtree(self.dir, ignore_errors=True)


def start_pgbouncer(pg: harness.PostgresCluster, password: str, pool_size: int,
                    max_client_conn: int) -> Target:
    bouncer = Pgbouncer(pg, password, pool_size, max_client_conn)
    try:
        bouncer.start()
    except BaseException:
        bouncer.cleanup()
        raise
    return Target("pgbouncer", bouncer.host, bouncer.port, ROLE, DB, password, bouncer)


def start_pgwarden(pg: harness.PostgresCluster, password: str, pool_size: int,
                   max_client_connections: int, workers: int,
                   binary: Path | None = None, audit: str | None = None) -> Target:
    """pgwarden with one user (bencher, same password as upstream) owning one
    connection record (bench -> bencher@bench), pool min = max = pool_size;
    audit None keeps the daemon's default audit trail."""
    warden = harness.Pgwarden(binary)
    try:
        warden.workers = workers
        warden.log_level = "warn"
        warden.audit = audit
        warden.server_settings["max_client_connections"] = max_client_connections
        warden.pool = {"min_size": pool_size, "max_size": pool_size, "acquire_timeout": 120}
        warden.add_user(ROLE, password)
        warden.add_connection(ROLE, DB, pg.url(DB, ROLE, password))
        warden.start()
    except BaseException:
        warden.cleanup()
        raise
    return Target("pgwarden", warden.host, warden.port, ROLE, DB, password, warden)


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # comm may hold spaces; state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid: int) -> int:
    """VmRSS from /proc/<pid>/status, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
