#!/usr/bin/python3
"""Checks the README's "Configuration reference" against what pgwarden reads.

Three sources must agree:
  - the loader: the key lists of conf/config.cpp (its allow_only calls and
    the kPoolKeys / kLimitKeys arrays) are what pgwarden accepts;
  - the example: conf/pgwarden.example.toml, parsed with tomllib, plus its
    commented-out "# key = value" lines (optional keys shown but not set);
  - the README: one "### `[table]`" heading per table under
    "## Configuration reference", each with a Markdown table whose first
    column is the `key`, and whose third column is its default.

It fails when the README documents a key the loader does not accept, when a
key of the example or of the loader is not documented, when the example holds
a key the loader rejects, or when a default the README gives as a TOML value
differs from the value the example sets. Usage: check_config_reference.py [REPO]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# Array-of-tables entries: the README documents their keys, not defaults.
ENTRY_TABLES = {"users", "connections"}
# A [[connections]] entry may also carry any [pool] or [limits] key.
INHERITED = {"connections": ("pool", "limits")}


def loader_keys(source: str) -> dict[str, set[str]]:
    """Table -> accepted keys, from conf/config.cpp."""
    arrays = {name: set(re.findall(r'"(\w+)"', body))
              for name, body in re.findall(r"constexpr std::array<[^>]*>\s+(k\w+)\s*=\s*\{(.*?)\};",
                                           source, re.S)}
    call = re.compile(r'allow_only\(\s*\*?\w+\s*,\s*(?:"([\w.]*)"|(\w+))\s*,\s*\{([^}]*)\}'
                      r'((?:\s*,\s*k\w+)*)\s*\)', re.S)
    tables: dict[str, set[str]] = {}
    for m in call.finditer(source):
        table = m.group(1)
        if table is None:  # a computed path: the entry loader it is called from names it
            function = re.findall(r"void load_(\w+)\(", source[:m.start()])[-1]
            table = {"user": "users", "connection": "connections"}[function]
        keys = set(re.findall(r'"(\w+)"', m.group(3)))
        for name in re.findall(r"k\w+", m.group(4)):
            keys |= arrays[name]
        tables.setdefault(table, set()).update(keys)
    if not tables:
        raise SystemExit("no allow_only calls found in conf/config.cpp")
    root = tables.pop("")
    # A key that is itself a table ([server] tls) is documented as that table.
    for table in list(tables):
        tables[table] -= {k for k in tables[table] if f"{table}.{k}" in tables}
    missing = root - {t.split(".")[0] for t in tables}
    if missing:
        raise SystemExit(f"config.cpp: top-level tables without an allow_only call: {missing}")
    return tables


def example_keys(text: str) -> tuple[dict[str, set[str]], dict[str, dict]]:
    """Table -> keys (set or commented out), and table -> the values set."""
    data = tomllib.loads(text)
    keys: dict[str, set[str]] = {}
    values: dict[str, dict] = {}

    def visit(table: dict, name: str) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                visit(value, f"{name}.{key}" if name else key)
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for entry in value:
                    visit(entry, key)
            elif name:
                keys.setdefault(name, set()).add(key)
                if name not in ENTRY_TABLES:
                    values.setdefault(name, {})[key] = value

    visit(data, "")
    table = ""
    for line in text.splitlines():
        header = re.match(r"^\[\[?\s*([\w.]+)\s*\]\]?\s*(#.*)?$", line)
        if header:
            table = header.group(1)
            keys.setdefault(table, set())
            continue
        # "# key = value" where "key = value" is valid TOML: an optional key
        # shown with an example value (prose such as "# 0 = never" is not).
        commented = re.match(r"^#\s*([A-Za-z_][\w-]*)\s*=", line)
        if commented and table:
            try:
                tomllib.loads(line.lstrip("#").strip())
            except tomllib.TOMLDecodeError:
                continue
            keys[table].add(commented.group(1))
    return keys, values


def readme_keys(text: str) -> tuple[dict[str, set[str]], dict[str, dict[str, str]]]:
    """Table -> documented keys, and table -> key -> default cell."""
    section = re.search(r"^## Configuration reference\n(.*?)(?=^## )", text + "\n## ", re.S | re.M)
    if not section:
        raise SystemExit('README.md has no "## Configuration reference" section')
    keys: dict[str, set[str]] = {}
    defaults: dict[str, dict[str, str]] = {}
    table = None
    for line in section.group(1).splitlines():
        heading = re.match(r"^###\s+`\[\[?([\w.]+)\]\]?`", line)
        if heading:
            table = heading.group(1)
            keys.setdefault(table, set())
            continue
        row = re.match(r"^\|\s*`(\w+)`\s*\|", line)
        if row and table:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if row.group(1) in keys[table]:
                raise SystemExit(f"README: [{table}] {row.group(1)} is documented twice")
            keys[table].add(row.group(1))
            defaults.setdefault(table, {})[row.group(1)] = cells[2] if len(cells) > 2 else ""
    if not keys:
        raise SystemExit("README: the configuration reference documents no table")
    return keys, defaults


def main() -> int:
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    loader = loader_keys((repo / "conf/config.cpp").read_text())
    example, example_values = example_keys((repo / "conf/pgwarden.example.toml").read_text())
    documented, defaults = readme_keys((repo / "README.md").read_text())

    def documented_in(table: str, key: str) -> bool:
        if key in documented.get(table, set()):
            return True
        return any(key in documented.get(parent, set()) and key in loader.get(parent, set())
                   for parent in INHERITED.get(table, ()))

    problems: list[str] = []
    notes: list[str] = []
    for table in sorted(set(loader) | set(example) | set(documented)):
        for key in sorted(documented.get(table, set()) - loader.get(table, set())):
            problems.append(f"README documents [{table}] {key}, which the loader does not accept")
        for key in sorted(example.get(table, set())):
            if key not in loader.get(table, set()):
                problems.append(f"the example config has [{table}] {key}, which the loader rejects")
            if not documented_in(table, key):
                problems.append(f"[{table}] {key} (in the example config) is not documented in README")
        for key in sorted(loader.get(table, set())):
            if not documented_in(table, key):
                problems.append(f"[{table}] {key} (accepted by the loader) is not documented in README")
            elif key not in example.get(table, set()) and table not in INHERITED:
                notes.append(f"[{table}] {key} is accepted and documented but not in the example")
        if table in loader and table not in documented:
            problems.append(f"README has no ### `[{table}]` heading")
        for key, cell in defaults.get(table, {}).items():
            literal = re.fullmatch(r"`([^`]*)`", cell)
            if not literal or key not in example_values.get(table, {}):
                continue
            try:
                value = tomllib.loads(f"v = {literal.group(1)}")["v"]
            except tomllib.TOMLDecodeError:
                continue  # prose in backticks, not a value
            if value != example_values[table][key]:
                problems.append(f"README gives [{table}] {key} the default {literal.group(1)}, "
                                f"the example config {example_values[table][key]!r}")

    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"FAIL: {problem}")
    total = sum(len(v) for v in documented.values())
    print(f"{total} documented keys in {len(documented)} tables checked against "
          f"{sum(len(v) for v in loader.values())} loader keys")
    print(f"{0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
