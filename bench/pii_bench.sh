#!/usr/bin/env bash
# Benchmark of the PII helpers against the SQL they replace (not a test: it
# prints timings and ratios and always leaves the verdict to the reader).
#
#   bash bench/pii_bench.sh
#
# 1. builds the extension with the `bench-ext` profile (release
#    optimisations, thin LTO; see Cargo.toml) through `cargo pgrx package`,
#    and loads mask_email() and luhn_valid() from a private copy of that
#    library. It does not `cargo pgrx install`: that replaces the library every
#    other build and test on this machine uses, a server with the old file
#    loaded crashes when it is overwritten, and an install by anyone else
#    during the run would time their build instead of this one.
# 2. starts a throwaway PostgreSQL 15 cluster of its own through
#    scripts/cluster.sh (READINESS_CLUSTER_DIR defaults to
#    /tmp/pg_readiness_bench, READINESS_PORT to 54339, so a test run using the
#    usual cluster neither disturbs nor stops it) and stops it at the end,
# 3. runs bench/pii_bench.sql in a fresh database `pii_bench`: 1 000 000 rows,
#    then mask_email() against the seed audit's CONCAT/SUBSTRING expression
#    and luhn_valid() against a PL/pgSQL Luhn behind a regex prefilter, each
#    pair alternately, median of 5 rounds after a warm-up.
#
# Set PII_BENCH_SKIP_BUILD=1 to reuse the last bench-ext build.
set -euo pipefail
export READINESS_CLUSTER_DIR="${READINESS_CLUSTER_DIR:-/tmp/pg_readiness_bench}"
export READINESS_PORT="${READINESS_PORT:-54339}"
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

cd "$REPO_ROOT"
exec </dev/null

pkg="$REPO_ROOT/target/bench-ext/pii_bench_package"
if [ "${PII_BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building with the bench-ext profile"
    cargo pgrx package --profile bench-ext --pg-config "$PG_CONFIG" --out-dir "$pkg" >&2
fi
built="$pkg$("$PG_CONFIG" --pkglibdir)/pg_readiness.so"
[ -f "$built" ] || die "$built not found; run without PII_BENCH_SKIP_BUILD"

started=0
if [ "$(bash scripts/cluster.sh status)" != running ]; then
    bash scripts/cluster.sh start
    started=1
fi
# A private copy the server's OS user can read, under a name no install uses;
# renamed into place, so a server that still maps the old file keeps it.
library="$CLUSTER_DIR/pg_readiness_bench.so"
cp "$built" "$library.new"
chmod 644 "$library.new"
if is_root; then chown postgres:postgres "$library.new"; fi
mv -f "$library.new" "$library"
stop_cluster() {
    if [ "$started" -eq 1 ]; then
        bash "$REPO_ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
    fi
}
trap stop_cluster EXIT

cluster_psql -d postgres -q -c "DROP DATABASE IF EXISTS pii_bench WITH (FORCE)" -c "CREATE DATABASE pii_bench"

echo "pii_bench: $(date -u +%Y-%m-%d), $(nproc) cores, $("$PGBIN/postgres" --version), 1000000 rows"
log "loading 1000000 rows and timing (a few minutes)"
# The script reaches psql on stdin: the repository need not be readable by
# the cluster's OS user.
cluster_psql -d pii_bench -q -At -v library="$library" <"$REPO_ROOT/bench/pii_bench.sql"
cluster_psql -d postgres -q -c "DROP DATABASE IF EXISTS pii_bench WITH (FORCE)"
