#!/usr/bin/env bash
# The five-minute tour: build and install pg_readiness, start a throwaway
# PostgreSQL 15, load a small database with typical production-readiness
# problems (tests/fixtures/demo.sql) and print what the extension finds.
#
#   scripts/demo.sh
#
# Re-running it is safe: the demo database is dropped and recreated, the
# cluster is reused. The first run takes several minutes (tool installation
# and a cold Rust build); later runs take seconds.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=readiness_demo
FIXTURE="$REPO_ROOT/tests/fixtures/demo.sql"

# Check before the long steps, so a missing file fails in a second.
[ -f "$FIXTURE" ] \
    || die "tests/fixtures/demo.sql is missing: it creates the extension and the demo schema; nothing to demo without it"

exec </dev/null   # nothing below may wait for keyboard input

bash "$REPO_ROOT/scripts/setup.sh"

log "building and installing the extension (dev profile) into PostgreSQL $PG_MAJOR"
pgrx_install

bash "$REPO_ROOT/scripts/cluster.sh" start
cluster_reset_system_settings

log "creating a fresh database $DB"
cluster_psql -d postgres -q >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS "$DB" WITH (FORCE);
CREATE DATABASE "$DB";
SQL

log "loading tests/fixtures/demo.sql"
# psql runs as the cluster's OS user; give it the file by path when that user
# can read it (error messages then name the file and \ir works), else on
# stdin (e.g. a checkout under /root).
if as_pg_user test -r "$FIXTURE"; then
    fixture_args=(-f "$FIXTURE")
else
    fixture_args=(-f -)
fi
cluster_psql -d "$DB" -q "${fixture_args[@]}" <"$FIXTURE" >/dev/null \
    || die "loading tests/fixtures/demo.sql failed (psql error above)"

show() {
    printf '\n=== %s\n' "$1"
    cluster_psql -d "$DB" -c "$1"
}

show "SELECT * FROM readiness_score();"
show "SELECT * FROM readiness_summary();"
show "SELECT check_id, severity, status, object_type, object_name, detail FROM readiness_report();"

cat <<EOF

The demo cluster is still running. Explore it with:

    scripts/cluster.sh psql -d $DB

or with plain psql:

    psql -h $CLUSTER_SOCKET -p $CLUSTER_PORT -U postgres $DB

Stop it with:

    scripts/cluster.sh stop
EOF
