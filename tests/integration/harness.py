"""Throwaway PostgreSQL clusters and pgwarden daemons for the integration tests
and scripts/demo.

Plain Python (no pytest here), run with Debian's /usr/bin/python3. Every wait is
a poll against a deadline; every process we start is stopped in stop(), and
also dies with this Python process (PR_SET_PDEATHSIG) if we are killed before
stop() runs.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SQL_DIR = HERE / "sql"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
LOOPBACK = "127.0.0.1"
PG_OS_USER = "postgres"  # initdb and postgres refuse to run as root


def pgwarden_bin() -> Path:
    """The daemon under test: $PGWARDEN_BIN, else build/pgwarden in the repo."""
    return Path(os.environ.get("PGWARDEN_BIN", REPO_ROOT / "build" / "pgwarden")).resolve()


# --------------------------------------------------------------------------
# Small utilities


T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Polls predicate until it returns something truthy; TimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def new_password() -> str:
    """Random, URL-safe and shell-safe, long enough to be unique in a log."""
    return "pw" + secrets.token_hex(16)


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without PG* variables (a stray PGHOST must not redirect us)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.pop("ENCRYPTION_KEY", None)
    env.update(extra)
    return env


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> Callable[[], None]:
    def preexec() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    return preexec


def _as_postgres(argv: Sequence[str], pdeathsig: str | None = None) -> list[str]:
    """argv run as the postgres OS user when we are root (initdb and postgres
    refuse root); as ourselves otherwise."""
    cmd = ["setpriv"]
    if os.geteuid() == 0:
        cmd += [f"--reuid={PG_OS_USER}", f"--regid={PG_OS_USER}", "--init-groups"]
    if pdeathsig:
        cmd.append(f"--pdeathsig={pdeathsig}")
    return cmd + ["--", *map(str, argv)]


def _chown_postgres(path: Path) -> None:
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(PG_OS_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# Safety net: anything still running when the interpreter exits is stopped.
_live: set = set()


@atexit.register
def _stop_leftovers() -> None:
    for thing in list(_live):
        try:
            getattr(thing, "cleanup", thing.stop)()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


# --------------------------------------------------------------------------
# PostgreSQL


@dataclass
class PsqlResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_psql(host: str, port: int, user: str, db: str, password: str | None,
             sql: str | None = None, file: Path | None = None,
             variables: Mapping[str, str] | None = None, timeout: float = 120,
             tuples_only: bool = True, unaligned: bool = True,
             extra_env: Mapping[str, str] | None = None) -> PsqlResult:
    """psql -X (-A) (-t) -v ON_ERROR_STOP=1 -c SQL (or -f FILE), over TCP."""
    argv = [str(PG_BINDIR / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", host, "-p", str(port), "-U", user, "-d", db]
    if unaligned:
        argv.append("-A")
    if tuples_only:
        argv.append("-t")
    for k, v in (variables or {}).items():
        argv += ["-v", f"{k}={v}"]
    if sql is not None:
        argv += ["-c", sql]
    if file is not None:
        argv += ["-f", str(file)]
    env = clean_env(PGCONNECT_TIMEOUT="10", **(extra_env or {}))
    if password is not None:
        env["PGPASSWORD"] = password
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return PsqlResult(p.returncode, p.stdout.rstrip("\n"), p.stderr.strip())


class PostgresCluster:
    """A PostgreSQL 15 cluster in a temp folder on a free loopback port.

    initdb with a random superuser password and scram-sha-256 everywhere; the
    postmaster is our child (setpriv as postgres), stopped with
    `pg_ctl stop -m immediate`.
    """

    def __init__(self, superuser: str = "postgres",
                 settings: Mapping[str, str] | None = None) -> None:
        self.superuser = superuser
        self.extra_settings = dict(settings or {})  # postgres -c overrides
        self.superuser_password = new_password()
        self.host = LOOPBACK
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    # paths
    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def sockets(self) -> Path:
        return self.dir / "sockets"

    @property
    def logfile(self) -> Path:
        return self.dir / "postgres.log"

    def start(self, timeout: float = 90) -> "PostgresCluster":
        self.dir = Path(tempfile.mkdtemp(prefix="pgwarden-pg-"))
        _live.add(self)
        try:
            _chown_postgres(self.dir)
            self.sockets.mkdir()
            _chown_postgres(self.sockets)
            self._initdb(timeout)
            # A port picked by binding 0 can be taken before postgres binds it;
            # try a few before giving up.
            for attempt in range(3):
                self.port = free_port()
                if self._start_postmaster(timeout):
                    return self
            raise RuntimeError(f"postgres did not start:\n{_tail(self.logfile)}")
        except BaseException:
            self.stop()
            raise

    def _initdb(self, timeout: float) -> None:
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        os.chmod(pwfile, 0o600)
        _chown_postgres(pwfile)
        p = subprocess.run(
            _as_postgres([PG_BINDIR / "initdb", "-D", self.data, "-U", self.superuser,
                          f"--pwfile={pwfile}", "--auth-local=scram-sha-256",
                          "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
                          "--no-sync"]),
            cwd=self.dir, env=clean_env(), capture_output=True, text=True, timeout=timeout)
        pwfile.unlink()
        if p.returncode != 0:
            raise RuntimeError(f"initdb failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")

    def _start_postmaster(self, timeout: float) -> bool:
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.sockets),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] %q%u@%d ",
            **self.extra_settings,
        }
        argv = [PG_BINDIR / "postgres", "-D", self.data]
        for k, v in settings.items():
            argv += ["-c", f"{k}={v}"]
        with open(self.logfile, "ab") as log:
            # SIGQUIT on our death = immediate shutdown, no orphaned postmaster.
            self.proc = subprocess.Popen(
                _as_postgres(argv, pdeathsig="QUIT"), cwd=self.dir, env=clean_env(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

        def ready() -> bool:
            if self.proc.poll() is not None:
                return True  # exited: reported below
            return run_psql(self.host, self.port, self.superuser, "postgres",
                            self.superuser_password, "SELECT 1", timeout=15).ok

        wait_until(ready, timeout, f"postgres on port {self.port}", interval=0.1)
        if self.proc.poll() is not None:
            self.proc = None
            return False
        return True

    def stop(self) -> None:
        """pg_ctl stop -m immediate, reap the postmaster, remove the folder."""
        _live.discard(self)
        if self.proc is not None:
            if self.proc.poll() is None:
                subprocess.run(
                    _as_postgres([PG_BINDIR / "pg_ctl", "-D", self.data, "stop",
                                  "-m", "immediate", "-w", "-t", "30"]),
                    cwd=self.dir, env=clean_env(), capture_output=True, timeout=60)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # access
    def psql(self, sql: str, db: str = "postgres", user: str | None = None,
             password: str | None = None, check: bool = True, **kw) -> str | PsqlResult:
        """Runs SQL directly on PostgreSQL (superuser by default).

        check=True returns stdout and raises on failure; check=False returns the
        PsqlResult.
        """
        if user is None:
            user, password = self.superuser, self.superuser_password
        r = run_psql(self.host, self.port, user, db, password, sql, **kw)
        if check:
            if not r.ok:
                raise RuntimeError(f"psql failed ({r.returncode}) on {db} as {user}: {r.stderr}")
            return r.stdout
        return r

    def psql_file(self, path: Path, db: str, user: str | None = None,
                  password: str | None = None) -> str:
        if user is None:
            user, password = self.superuser, self.superuser_password
        r = run_psql(self.host, self.port, user, db, password, file=path, timeout=300)
        if not r.ok:
            raise RuntimeError(f"loading {path} into {db} failed: {r.stderr}")
        return r.stdout

    def dsn(self, db: str = "postgres", user: str | None = None,
            password: str | None = None) -> str:
        if user is None:
            user, password = self.superuser, self.superuser_password
        return f"host={self.host} port={self.port} user={user} password={password} dbname={db}"

    def url(self, db: str, user: str, password: str, port: int | None = None) -> str:
        """A libpq URI as stored (encrypted) in a pgwarden connection record."""
        return f"postgresql://{user}:{password}@{self.host}:{port or self.port}/{db}"

    def create_role(self, name: str, password: str | None = None) -> str:
        password = password or new_password()
        self.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        return password

    def create_database(self, name: str, owner: str) -> None:
        self.psql(f"CREATE DATABASE {name} OWNER {owner}")
        # Only the owner (and roles granted explicitly) may connect.
        self.psql(f"REVOKE CONNECT, TEMPORARY ON DATABASE {name} FROM PUBLIC")

    def load_analytics(self, db: str = "analytics", reader: str = "analyst",
                       reader_password: str | None = None) -> str:
        """Database db with sql/analytics.sql and a SELECT-only role; returns its password."""
        reader_password = self.create_role(reader, reader_password)
        self.create_database(db, self.superuser)
        self.psql_file(SQL_DIR / "analytics.sql", db)
        self.psql(f"GRANT CONNECT ON DATABASE {db} TO {reader}")
        self.psql(f"GRANT USAGE ON SCHEMA public TO {reader};"
                  f" GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}", db=db)
        return reader_password

    def load_pgbench(self, db: str, owner: str, owner_password: str, scale: int = 1) -> None:
        self.create_database(db, owner)
        env = clean_env(PGPASSWORD=owner_password)
        p = subprocess.run([str(PG_BINDIR / "pgbench"), "-i", "-q", "-s", str(scale),
                            "-h", self.host, "-p", str(self.port), "-U", owner, db],
                           env=env, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"pgbench -i failed: {p.stderr}")


# --------------------------------------------------------------------------
# pgwarden


def toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Connection:
    """One [[connections]] record: owner user, name clients use, libpq URI."""
    user: str
    name: str
    url: str
    settings: dict = field(default_factory=dict)  # per-connection overrides, e.g. query_timeout


class Pgwarden:
    """One pgwarden daemon with a generated config, in its own temp folder.

    Attributes tests use: host, port, users ({name: password}), connections,
    encryption_key, config_path, log (the daemon's stderr so far).
    """

    def __init__(self, binary: Path | None = None, workdir: Path | None = None) -> None:
        self.binary = Path(binary) if binary else pgwarden_bin()
        if not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(f"pgwarden binary not found or not executable: {self.binary}")
        self._own_dir = workdir is None
        self.dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="pgwarden-it-"))
        self.host = LOOPBACK
        self.port = 0
        self.encryption_key = self.keygen()
        self.users: dict[str, str] = {}
        self.connections: list[Connection] = []
        self.pool: dict[str, int | float] = {"min_size": 2, "max_size": 5, "acquire_timeout": 10}
        # Unlimited by default so load tests are not throttled; tests of the
        # rate limit set it per connection.
        self.limits: dict[str, int | float] = {"queries_per_minute": 0}
        # Two unless PGWARDEN_WORKERS says otherwise (one ctest entry runs a
        # file with one worker: a different executor for sessions).
        self.workers = int(os.environ.get("PGWARDEN_WORKERS", "2"))
        self.extra_env: dict[str, str] = {}  # e.g. NOTIFY_SOCKET
        # More [server] keys. shutdown_grace is short so that a test leaving a
        # transaction open cannot stall teardown.
        self.server_settings: dict[str, int | float] = {"shutdown_grace": 5}
        self.log_level = "info"
        self.audit: str | None = None  # [log] audit; None = the daemon's default
        # More TOML tables appended to the config, e.g. "[server.tls]\nmode = ...".
        self.extra_toml = ""
        self.config_path = self.dir / "pgwarden.toml"
        self.logfile = self.dir / "pgwarden.log"
        self.proc: subprocess.Popen | None = None
        _live.add(self)

    # helper subcommands
    def run_helper(self, *args: str, stdin: str = "", env: Mapping[str, str] | None = None,
                   timeout: float = 30) -> str:
        p = subprocess.run([str(self.binary), *args], input=stdin, capture_output=True,
                           text=True, env=dict(env) if env is not None else clean_env(),
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"pgwarden {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p.stdout.strip()

    def keygen(self) -> str:
        return self.run_helper("keygen")

    def encrypt(self, secret: str) -> str:
        return self.run_helper("encrypt", stdin=secret,
                               env=clean_env(ENCRYPTION_KEY=self.encryption_key))

    def verifier(self, password: str) -> str:
        return self.run_helper("verifier", stdin=password)

    # configuration
    def add_user(self, name: str, password: str | None = None) -> str:
        self.users[name] = password or new_password()
        return self.users[name]

    def add_connection(self, user: str, name: str, url: str, **settings) -> None:
        self.connections.append(Connection(user, name, url, settings))

    def render_config(self, port: int | None = None) -> str:
        """The TOML for the current users and connections (verifiers and
        tokens made with this binary)."""
        port = port or self.port
        pool = "\n".join(f"{k} = {v}" for k, v in self.pool.items())
        server = "".join(f"{k} = {v}\n" for k, v in self.server_settings.items())
        out = [f"[server]\nlisten = [{toml_str(f'{self.host}:{port}')}]\nworkers = {self.workers}\n"
               + server,
               f"[pool]\n{pool}\n",
               "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in self.limits.items()),
               f"[log]\nlevel = {toml_str(self.log_level)}\n"
               + (f"audit = {toml_str(self.audit)}\n" if self.audit else ""),
               # The embedded catalog lives in this daemon's own folder.
               f"[catalog]\npath = {toml_str(str(self.dir / 'catalog.db'))}\n"]
        for name, password in self.users.items():
            out.append(f"[[users]]\nname = {toml_str(name)}\n"
                       f"password = {toml_str(self.verifier(password))}\n")
        for c in self.connections:
            out.append(f"[[connections]]\nuser = {toml_str(c.user)}\nname = {toml_str(c.name)}\n"
                       f"connection_string_encrypted = {toml_str(self.encrypt(c.url))}\n"
                       + "".join(f"{k} = {v}\n" for k, v in c.settings.items()))
        if self.extra_toml:
            out.append(self.extra_toml)
        return "\n".join(out)

    def write_config(self) -> Path:
        if not self.port:
            self.port = free_port()
        self.config_path.write_text(self.render_config())
        return self.config_path

    # process
    def start(self, timeout: float = 30) -> "Pgwarden":
        if not self.config_path.exists():
            self.write_config()
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "--config", str(self.config_path)], cwd=self.dir,
                env=clean_env(ENCRYPTION_KEY=self.encryption_key, **self.extra_env),
                stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent(signal.SIGTERM))

        def ready() -> bool:
            return self.proc.poll() is not None or port_accepts(self.host, self.port)

        try:
            wait_until(ready, timeout, f"pgwarden listening on {self.host}:{self.port}")
        except TimeoutError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            code = self.proc.returncode
            self.proc = None
            raise RuntimeError(f"pgwarden exited with {code} during start-up:\n{_tail(self.logfile)}")
        return self

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after timeout; returns the exit code (None if not running)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                with open(self.logfile, "a") as log:
                    log.write(f"[harness] pgwarden ignored SIGTERM for {timeout}s; killed\n")
        return proc.returncode

    def restart(self, timeout: float = 30) -> "Pgwarden":
        self.stop()
        return self.start(timeout)

    def cleanup(self) -> None:
        """Stop the daemon and remove its folder (when we created it)."""
        self.stop()
        _live.discard(self)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # log
    @property
    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """An offset into the log; log_since(mark) is what was logged after it."""
        try:
            return self.logfile.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, mark: int) -> str:
        with open(self.logfile, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 10, since: int = 0) -> str:
        return wait_until(lambda: needle in self.log_since(since) and self.log_since(since),
                          timeout, f"{needle!r} in the pgwarden log")

    def secrets(self) -> list[str]:
        """Every plain-text secret in the config: the key, client passwords and
        upstream passwords."""
        out = [self.encryption_key, *self.users.values()]
        for c in self.connections:
            userinfo = c.url.split("://", 1)[1].split("@", 1)[0]
            if ":" in userinfo:
                out.append(userinfo.split(":", 1)[1])
        return [s for s in out if s]

    # clients
    def dsn(self, user: str, db: str, password: str | None = None, **extra: str) -> str:
        """libpq keyword DSN; password defaults to the user's configured one."""
        if password is None:
            password = self.users.get(user, "")
        parts = {"host": self.host, "port": str(self.port), "user": user, "dbname": db,
                 "password": password, "connect_timeout": "10", **extra}
        return " ".join(f"{k}={_dsn_quote(v)}" for k, v in parts.items())

    def url(self, user: str, db: str, password: str | None = None) -> str:
        if password is None:
            password = self.users.get(user, "")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{db}"

    def connect_kwargs(self, user: str, db: str, password: str | None = None) -> dict:
        """Keyword arguments for asyncpg.connect()."""
        if password is None:
            password = self.users.get(user, "")
        return {"host": self.host, "port": self.port, "user": user, "database": db,
                "password": password}

    def psql(self, sql: str, user: str, db: str, password: str | None = None,
             **kw) -> PsqlResult:
        """psql through pgwarden; never raises on SQL errors (check .ok/.stderr)."""
        if password is None:
            password = self.users.get(user, "")
        return run_psql(self.host, self.port, user, db, password, sql, **kw)

    def console_rows(self, command: str, user: str) -> list[dict[str, str]]:
        """Rows of an admin console command (SHOW ...) run by `user`, read
        from psql's unaligned output; fails the test if psql fails."""
        r = self.psql(command, user, "pgwarden", tuples_only=False)
        assert r.ok, r.stderr
        lines = r.stdout.splitlines()
        header = lines[0].split("|")
        return [dict(zip(header, line.split("|"))) for line in lines[1:-1]]


def _dsn_quote(v: str) -> str:
    if v and all(c not in v for c in " '\\"):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def processes_in(folder: Path) -> list[int]:
    """PIDs whose command line mentions folder (to prove nothing was left behind)."""
    needle = str(folder).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def all_alive(pids: Iterable[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive
