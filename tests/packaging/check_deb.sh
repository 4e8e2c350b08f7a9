#!/usr/bin/env bash
# Builds the .deb with cpack from a configured and built tree, then checks it
# as a user of the package would see it, without installing anything on this
# machine: the control fields (Depends computed by dpkg-shlibdeps, the
# conffile, the maintainer scripts), and, unpacked with dpkg -x into a temp
# folder, that the binary runs (--version), that the shipped config passes
# --check-config, and that the units, snippets, man page and docs are there.
# Usage: check_deb.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { printf 'FAIL: %b\n' "$*" >&2; exit 1; }

# -B keeps cpack's staging and output out of the build tree.
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack -G DEB"; }
shopt -s nullglob
debs=("$work"/out/pgwarden_*.deb)
[ ${#debs[@]} -eq 1 ] || { cat "$work/cpack.log" >&2; fail "expected one pgwarden_*.deb, got ${#debs[@]}"; }
deb=${debs[0]}
echo "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"

info=$(dpkg-deb -I "$deb")
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = pgwarden ] || fail "Package is '$(field Package)'"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
[ "$(field Section)" = database ] || fail "Section is '$(field Section)'"
[ -n "$(field Description)" ] || fail "no Description"
depends=$(field Depends)
echo "Depends: $depends"
# The shared libraries pgwarden links, as dpkg-shlibdeps names their packages.
# libpg_query is linked as a shared library (Debian ships libpg_query.so
# next to the .a): libpg-query<version>.
packages=$(sed 's/ *([^)]*)//g; s/ *| */\n/g; s/, */\n/g' <<<"$depends")
for lib in libc6 libstdc++6 libssl3 libpq5 libsqlite3-0 libsystemd0 libpg-query \
  libboost-json libspdlog; do
  # A package name that starts with the library's (libpg-query1504.0).
  awk -v p="$lib" 'index($0, p) == 1 { found = 1 } END { exit !found }' <<<"$packages" ||
    fail "Depends lacks $lib: $depends"
done
for script in postinst prerm postrm conffiles; do
  grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$script( |$)" <<<"$info" ||
    fail "control member $script missing:\n$info"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/pgwarden/pgwarden.toml ||
  fail "/etc/pgwarden/pgwarden.toml is not a conffile"
for script in postinst prerm postrm; do
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$script" >"$work/$script"
  sh -n "$work/$script" || fail "$script is not valid sh"
done

root="$work/root"
dpkg -x "$deb" "$root"
for f in usr/bin/pgwarden etc/pgwarden/pgwarden.toml \
  usr/lib/systemd/system/pgwarden.service usr/lib/sysusers.d/pgwarden.conf \
  usr/lib/tmpfiles.d/pgwarden.conf usr/share/man/man1/pgwarden.1.gz \
  usr/share/doc/pgwarden/README.md; do
  [ -e "$root/$f" ] || fail "/$f is not in the package"
done
# Nothing outside /usr and /etc (no /usr/local, no build paths).
stray=$(cd "$root" && find . -type f ! -path './usr/*' ! -path './etc/*')
[ -z "$stray" ] || fail "files outside /usr and /etc: $stray"
[ ! -e "$root/usr/local" ] || fail "/usr/local in the package"

# The maintainer scripts against the unpacked tree (dpkg --root's DPKG_ROOT):
# systemd-sysusers/-tmpfiles --root create the user and the state folder in
# it, and nothing on this machine.
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
  DPKG_ROOT=$root sh "$work/postinst" configure || fail "postinst configure failed"
  grep -q '^pgwarden:' "$root/etc/passwd" || fail "postinst made no pgwarden user"
  [ "$(stat -c %a "$root/var/lib/pgwarden")" = 750 ] || fail "postinst made no /var/lib/pgwarden 0750"
  [ "$(stat -c %u "$root/var/lib/pgwarden")" = "$(awk -F: '$1 == "pgwarden" { print $3 }' "$root/etc/passwd")" ] ||
    fail "/var/lib/pgwarden is not owned by pgwarden"
else
  echo "no systemd-sysusers/systemd-tmpfiles: postinst checked for syntax only"
fi
DPKG_ROOT=$root sh "$work/prerm" remove || fail "prerm remove failed"
DPKG_ROOT=$root sh "$work/postrm" purge || fail "postrm purge failed"

version=$("$root/usr/bin/pgwarden" --version)
expected=$(field Version)
echo "--version: $version (package version $expected)"
[ "$version" = "pgwarden ${expected%-*}" ] || fail "--version says '$version', package is $expected"
# --check-config needs no ENCRYPTION_KEY; the example config must pass as shipped.
"$root/usr/bin/pgwarden" --check-config "$root/etc/pgwarden/pgwarden.toml" ||
  fail "the shipped config does not pass --check-config"
# The unit starts the binary from the path the package puts it at.
grep -q '^ExecStart=/usr/bin/pgwarden --config /etc/pgwarden/pgwarden.toml$' \
  "$root/usr/lib/systemd/system/pgwarden.service" || fail "ExecStart does not match the layout"
gzip -t "$root/usr/share/man/man1/pgwarden.1.gz" || fail "the man page is not gzip"
zcat "$root/usr/share/man/man1/pgwarden.1.gz" | grep -q '^\.TH PGWARDEN 1' || fail "man page has no .TH"
echo "1 passed, 0 failed"
