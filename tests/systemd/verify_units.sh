#!/usr/bin/env bash
# Proves the shipped unit is valid for systemd (systemd-analyze verify) and
# keeps its hardening: the offline security exposure must stay "OK" (< 2.0).
# Usage: verify_units.sh PGWARDEN_BINARY
set -euo pipefail
binary=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify checks that ExecStart exists: point it at the binary under test.
sed "s|/usr/bin/pgwarden|$binary|" "$here/systemd/pgwarden.service" > "$work/pgwarden.service"
systemd-analyze verify --man=no "$work/pgwarden.service"
report=$(systemd-analyze security --offline=true "$work/pgwarden.service" 2>&1)
score=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for pgwarden.service: \([0-9.]*\).*/\1/p')
echo "exposure level: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s < 2.0) }' || {
  echo "exposure level $score is not below 2.0:" >&2
  printf '%s\n' "$report" >&2
  exit 1
}
echo "1 passed, 0 failed"
