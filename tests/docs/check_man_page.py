#!/usr/bin/python3
"""Checks docs/pgwarden.1 against the program.

- groff renders it with every warning on (-ww) and says nothing;
- its SYNOPSIS names every subcommand and flag of the usage text in
  daemon/main.cpp;
- its .TH line carries the version of project() in CMakeLists.txt;
- its ENVIRONMENT section names every variable the daemon reads with getenv
  (daemon/, catalog/, conf/), and NOTIFY_SOCKET.
Usage: check_man_page.py [REPO]
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def section(man: str, name: str) -> str:
    m = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH |\Z)", man, re.S | re.M)
    if not m:
        raise SystemExit(f"pgwarden.1 has no .SH {name}")
    # Undo roff's escaped hyphens so names compare as typed.
    return m.group(1).replace("\\-", "-")


def main() -> int:
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    page = repo / "docs/pgwarden.1"
    man = page.read_text()
    problems: list[str] = []

    lint = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                          capture_output=True, text=True, timeout=60)
    if lint.returncode != 0 or lint.stderr.strip():
        problems.append(f"groff -ww: exit {lint.returncode}: {lint.stderr.strip()}")

    version = re.search(r"project\(pgwarden VERSION ([\d.]+)", (repo / "CMakeLists.txt").read_text())
    title = re.search(r"^\.TH .*$", man, re.M)
    if not version or not title or f'"pgwarden {version.group(1)}"' not in title.group(0):
        problems.append(f".TH does not carry the project's version: {title and title.group(0)}")

    main_cpp = (repo / "daemon/main.cpp").read_text()
    usage = re.search(r'kUsage\s*=\s*R"\((.*?)\)"', main_cpp, re.S)
    if not usage:
        raise SystemExit("daemon/main.cpp: no kUsage text")
    words: set[str] = set()
    for line in usage.group(1).splitlines():
        m = re.match(r"^(?:usage:)?\s*pgwarden\s+(.*?)(?:\s{2,}.*)?$", line)
        if m:
            words |= {w for w in m.group(1).split() if re.fullmatch(r"-{0,2}[a-z][a-z-]*", w)}
    # Flags main() accepts that the usage text abbreviates.
    words |= set(re.findall(r'args\[\d\] == "(-[a-z-]+)"', main_cpp))
    synopsis = section(man, "SYNOPSIS")
    for word in sorted(words):
        if not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", synopsis):
            problems.append(f"SYNOPSIS does not name {word}")

    variables = {"NOTIFY_SOCKET"}
    for folder in ("daemon", "catalog", "conf"):
        for source in (repo / folder).rglob("*.cpp"):
            variables |= set(re.findall(r'getenv\("(\w+)"\)', source.read_text()))
    environment = section(man, "ENVIRONMENT")
    for variable in sorted(variables):
        if variable not in environment:
            problems.append(f"ENVIRONMENT does not name {variable}")

    for problem in problems:
        print(f"FAIL: {problem}")
    print(f"checked {len(words)} synopsis words and {len(variables)} environment variables")
    print(f"{0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
