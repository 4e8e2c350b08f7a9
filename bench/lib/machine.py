"""What the numbers were measured on: CPU, kernel, memory, load, versions."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import harness
from targets import PGBOUNCER_BIN


def _first_line(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() \
        else "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) // 1024} MiB"
    return "unknown"


def _git_revision(repo: Path) -> str:
    head = _first_line(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return head + (" + uncommitted changes in the working tree" if dirty else "")


def describe(pgwarden_bin: Path) -> dict[str, str]:
    """Ordered facts for the report's 'Machine' section."""
    return {
        "CPU": f"{_cpu_model()}, nproc {os.cpu_count()}",
        "memory": _mem_total(),
        "kernel": f"{platform.system()} {platform.release()}",
        "OS": _os_release(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "PostgreSQL": _first_line([str(harness.PG_BINDIR / "postgres"), "--version"]),
        "pgbench": _first_line([str(harness.PG_BINDIR / "pgbench"), "--version"]),
        "PgBouncer": _first_line([str(PGBOUNCER_BIN), "--version"]),
        # The tree's revision now; the build time says how far the binary may lag it.
        "pgwarden": (f"{pgwarden_bin}, built {_mtime(pgwarden_bin)}"
                     f" (source tree now: git {_git_revision(harness.REPO_ROOT)})"),
    }


def _mtime(path: Path) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(path.stat().st_mtime))
    except OSError:
        return "at an unknown time"


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"
