"""One pgbench -S run against one target: throughput from pgbench's summary,
latency from its per-transaction log (-l), the proxy's CPU from /proc."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import harness
from targets import Target, proc_cpu_seconds

PGBENCH = harness.PG_BINDIR / "pgbench"

# PgBouncer keeps no prepared statements across transactions in transaction
# mode (1.21 added that), so -M prepared through it fails by design.
EXPECTED_FAILURES = {("pgbouncer", "prepared")}


@dataclass
class RunResult:
    target: str
    mode: str
    clients: int
    repeat: int
    status: str = "ok"            # ok | failed | expected-failure
    tps: float | None = None
    transactions: int | None = None
    seconds: float | None = None  # wall time of the pgbench process
    lat_mean_ms: float | None = None
    lat_p99_ms: float | None = None
    lat_samples: int = 0
    proxy_cpu_s: float | None = None  # utime+stime delta of the proxy over the run
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def cpu_s_per_1k(self) -> float | None:
        """Proxy CPU seconds per 1,000 transactions (= ms of CPU per transaction)."""
        if self.proxy_cpu_s is None or not self.transactions:
            return None
        return self.proxy_cpu_s / self.transactions * 1000

    @property
    def cpu_pct(self) -> float | None:
        """Proxy CPU as a percentage of one core over the run."""
        if self.proxy_cpu_s is None or not self.seconds:
            return None
        return 100 * self.proxy_cpu_s / self.seconds


def _first_error(text: str) -> str:
    """The line a human needs: the first server error or pgbench error."""
    for needle in ("ERROR:", "FATAL:", "error:", "aborted", "timeout"):
        for line in text.splitlines():
            if needle in line:
                # From the server's severity on: pgbench's threads may have
                # interleaved their "pgbench: error:" prefixes before it.
                start = line.index(needle) if needle.isupper() else 0
                return " ".join(line[start:].split())[:300]
    lines = [line for line in text.splitlines() if line.strip()]
    return " ".join(lines[-1].split())[:300] if lines else ""


def _read_latencies(logdir: Path) -> list[int]:
    """Latency in µs of every logged transaction (third field of each -l line;
    failed transactions, logged with a word there, are skipped)."""
    out: list[int] = []
    for path in logdir.glob("tx.*"):
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[2].isdigit():
                    out.append(int(fields[2]))
    return out


def run(target: Target, mode: str, clients: int, seconds: int, repeat: int,
        jobs: int, sampling_rate: float) -> RunResult:
    result = RunResult(target.name, mode, clients, repeat)
    logdir = Path(tempfile.mkdtemp(prefix="pgwarden-bench-log-"))
    argv = [str(PGBENCH), "-n", "-S", "-M", mode, "-c", str(clients), "-j", str(jobs),
            "-T", str(seconds), "-l", f"--log-prefix={logdir}/tx",
            f"--sampling-rate={sampling_rate}",
            "-h", target.host, "-p", str(target.port), "-U", target.user, target.db]
    env = harness.clean_env(PGPASSWORD=target.password, PGCONNECT_TIMEOUT="10")
    pid = target.pid
    try:
        cpu_before = proc_cpu_seconds(pid) if pid else None
        started = time.monotonic()
        # -T bounds the run; the extra minute covers 200 logins and a wedged proxy.
        try:
            p = subprocess.run(argv, env=env, capture_output=True, text=True,
                               timeout=seconds + 60, stdin=subprocess.DEVNULL,
                               preexec_fn=harness._die_with_parent(15))
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
                else (e.stdout or "")
            result.status = "failed"
            result.error = f"pgbench did not finish within {seconds + 60}s; {_first_error(out)}"
            return result
        result.seconds = time.monotonic() - started
        if pid:
            try:
                result.proxy_cpu_s = proc_cpu_seconds(pid) - cpu_before
            except OSError:
                pass  # the proxy died: reported below

        m = re.search(r"^tps = ([0-9.]+)", p.stdout, re.M)
        result.tps = float(m.group(1)) if m else None
        m = re.search(r"^number of transactions actually processed: (\d+)", p.stdout, re.M)
        result.transactions = int(m.group(1)) if m else None
        m = re.search(r"^number of failed transactions: (\d+)", p.stdout, re.M)
        failed_tx = int(m.group(1)) if m else 0

        lats = sorted(_read_latencies(logdir))
        if lats:
            result.lat_samples = len(lats)
            result.lat_mean_ms = sum(lats) / len(lats) / 1000
            result.lat_p99_ms = lats[min(len(lats) - 1, int(0.99 * len(lats)))] / 1000

        crash = target.crashed()
        # pgbench only logs a failed PREPARE and carries on: the statement may
        # then run anyway on a server connection another client prepared it
        # on. Any server error makes the run a failure.
        server_error = any(e in p.stderr for e in ("ERROR:", "FATAL:"))
        if (p.returncode != 0 or result.tps is None or not result.transactions or failed_tx
                or server_error):
            result.status = ("expected-failure" if (target.name, mode) in EXPECTED_FAILURES
                             else "failed")
            result.error = _first_error(p.stderr + "\n" + p.stdout) or f"pgbench exit {p.returncode}"
        if crash:
            result.status = "failed"
            last = harness._tail(target.proxy.logfile, 1).strip()
            result.error = (f"{target.name} {crash} (last log line: {last[:200] or 'none'});"
                            f" then {result.error or 'no pgbench error'}")
        return result
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
