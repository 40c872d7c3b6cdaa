#!/usr/bin/env bash
# The extension's install and upgrade scripts pass pgspot (PyPI) with no
# error and no warning: every object the hand-written SQL names is
# schema-qualified (@extschema@, pg_catalog), so a hostile search_path
# during CREATE or ALTER EXTENSION cannot redirect it.
. "$(dirname "$0")/lib.bash"
command -v pgspot >/dev/null || fail "pgspot missing: scripts/setup.sh installs it"
extdir="$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/extension"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -1)"
scripts=("$extdir/pg_readiness--$version.sql" "$REPO_ROOT"/sql/pg_readiness--*--*.sql "$REPO_ROOT/sql/archive/pg_readiness--0.1.0.sql")
n=0
for f in "${scripts[@]}"; do
    [ -f "$f" ] || continue
    out="$(pgspot "$f" 2>&1)"
    summary="$(tail -1 <<<"$out")"
    echo "$(basename "$f"): $summary"
    grep -q "Errors: 0 Warnings: 0 Unknown: 0" <<<"$summary" || { echo "$out" >&2; fail "pgspot found problems in $(basename "$f")"; }
    n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "expected the install script and at least one other script, checked $n"
# SECURITY DEFINER objects: none.
secdef="$(grep -ci 'security definer' "$extdir/pg_readiness--$version.sql" || true)"
[ "$secdef" = 0 ] || fail "the install script declares SECURITY DEFINER objects"
echo "pgspot: $n scripts clean; no SECURITY DEFINER object"
