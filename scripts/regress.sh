#!/usr/bin/env bash
# Golden SQL tests (pg_regress) against the throwaway cluster.
#
#   cargo pgrx install --pg-config /usr/lib/postgresql/15/bin/pg_config
#   scripts/regress.sh [TEST...]
#
# Runs tests/pg_regress/sql/NAME.sql with psql and compares the output with
# tests/pg_regress/expected/NAME.out (or NAME_1.out, ... alternatives). With
# no arguments it runs every test in sorted order, setup.sql first if there
# is one (the `cargo pgrx regress` convention); a tests/pg_regress/schedule
# file, if present, replaces that list. Each run starts from a freshly
# created database ${READINESS_REGRESS_DB:-readiness_regress}.
#
# Why not `cargo pgrx regress` / `cargo pgrx test`: in pgrx 0.18.1 they run
# initdb as the calling user, which PostgreSQL refuses to do as root.
#
# The actual output is copied to tests/pg_regress/results/ (git-ignored); to
# accept a new or changed output:  cp tests/pg_regress/results/NAME.out
# tests/pg_regress/expected/NAME.out
#
# Last line of output:  regress: N passed, M failed
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB="${READINESS_REGRESS_DB:-readiness_regress}"
SRC="$REPO_ROOT/tests/pg_regress"

# Never let the caller's libpq environment redirect psql/pg_regress to
# another server or database.
unset PGDATABASE PGSERVICE PGHOST PGHOSTADDR PGPORT PGUSER

[ -x "$PG_REGRESS" ] || die "$PG_REGRESS not found; run scripts/setup.sh (postgresql-server-dev-15)"

# --- Which tests ----------------------------------------------------------
tests=()
use_schedule=0
if [ "$#" -gt 0 ]; then
    tests=("$@")
elif [ -f "$SRC/schedule" ]; then
    use_schedule=1
    # Test names, for the missing-expected-file check below.
    read -r -a tests <<<"$(sed -n -E 's/^[[:space:]]*test:[[:space:]]*//p' "$SRC/schedule" | tr '\n' ' ')"
else
    while IFS= read -r f; do
        name="$(basename "$f" .sql)"
        if [ "$name" = setup ]; then
            tests=(setup ${tests[@]+"${tests[@]}"})
        else
            tests+=("$name")
        fi
    done < <(find "$SRC/sql" -maxdepth 1 -name '*.sql' -type f 2>/dev/null | LC_ALL=C sort)
fi
if [ "${#tests[@]}" -eq 0 ]; then
    log "no tests in tests/pg_regress/sql"
    echo "regress: 0 passed, 0 failed"
    exit 0
fi

# --- Server and a fresh database --------------------------------------------
bash "$REPO_ROOT/scripts/cluster.sh" start
cluster_reset_system_settings

# pg_regress --use-existing neither drops nor creates --dbname (checked with
# PostgreSQL 15's pg_regress), so do what it would do without the flag:
# a new database from template0 with the same per-database settings.
log "creating fresh database $DB"
cluster_psql -d postgres -q >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS "$DB" WITH (FORCE);
CREATE DATABASE "$DB" TEMPLATE=template0 ENCODING='UTF8';
ALTER DATABASE "$DB" SET lc_messages TO 'C';
ALTER DATABASE "$DB" SET lc_monetary TO 'C';
ALTER DATABASE "$DB" SET lc_numeric TO 'C';
ALTER DATABASE "$DB" SET lc_time TO 'C';
ALTER DATABASE "$DB" SET bytea_output TO 'hex';
ALTER DATABASE "$DB" SET timezone_abbreviations TO 'Default';
SQL

# --- A private copy of the inputs, writable by the server's OS user ---------
# pg_regress runs as `postgres` when we are root; it must read the inputs and
# write results/ and regression.* into the output directory, and the
# checkout (maybe under /root) need not be readable by that user.
work="$(mktemp -d -t pg_readiness_regress.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/out"
cp -R "$SRC/." "$work/in/"
# Golden tests load the shared fixtures through \getenv READINESS_FIXTURES.
cp -R "$REPO_ROOT/tests/fixtures" "$work/in/fixtures"
rm -rf "$work/in/results" "$work/in/regression.diffs" "$work/in/regression.out"
mkdir -p "$work/in/expected"
for t in "${tests[@]}"; do
    if [ ! -f "$work/in/expected/$t.out" ] \
        && ! compgen -G "$work/in/expected/${t}_[0-9].out" >/dev/null; then
        # pg_regress aborts the whole run when an expected file is missing;
        # an empty one makes just this test fail, with its full output as
        # the diff, ready to be reviewed and copied into expected/.
        log "no expected/$t.out: the test will fail; review results/$t.out"
        : >"$work/in/expected/$t.out"
    fi
done
if is_root; then
    chown -R postgres:postgres "$work"
fi

# --- Run ---------------------------------------------------------------------
# Only list the tests on the command line when not using a schedule, or when
# the caller asked for specific ones.
schedule_args=()
extra_tests=()
if [ "$use_schedule" -eq 1 ]; then
    schedule_args=(--schedule="$work/in/schedule")
else
    extra_tests=("${tests[@]}")
fi

set +e
as_pg_user_in "$work" env READINESS_FIXTURES="$work/in/fixtures" "$PG_REGRESS" \
    --use-existing \
    --bindir="$PGBIN" \
    --host="$CLUSTER_SOCKET" \
    --port="$CLUSTER_PORT" \
    --user=postgres \
    --dbname="$DB" \
    --inputdir="$work/in" \
    --outputdir="$work/out" \
    ${schedule_args[@]+"${schedule_args[@]}"} \
    ${extra_tests[@]+"${extra_tests[@]}"} 2>&1 | tee "$work/pg_regress.log"
rc=${PIPESTATUS[0]}
set -e

# PostgreSQL 15 prints one line per test: "test NAME ... ok 12 ms",
# "... FAILED", or "... failed (ignored)" (an `ignore:` line in a schedule,
# which pg_regress itself does not count as a failure).
passed="$(grep -cE '\.\.\. (ok|failed \(ignored\))([[:space:]]|$)' "$work/pg_regress.log" || true)"
failed="$(grep -cE '\.\.\. FAILED' "$work/pg_regress.log" || true)"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # pg_regress could not run the tests at all (exit status 2).
    failed=$(( ${#tests[@]} - passed ))
    [ "$failed" -gt 0 ] || failed=1
fi

# Keep the actual output next to the tests (git-ignored) for inspection.
rm -rf "$SRC/results" "$SRC/regression.diffs" "$SRC/regression.out"
[ ! -d "$work/out/results" ] || cp -R "$work/out/results" "$SRC/results"
[ ! -f "$work/out/regression.out" ] || cp "$work/out/regression.out" "$SRC/regression.out"
[ ! -f "$work/out/regression.diffs" ] || cp "$work/out/regression.diffs" "$SRC/regression.diffs"

if [ "$rc" -ne 0 ]; then
    if [ -s "$work/out/regression.diffs" ]; then
        echo
        echo "=== regression.diffs (first 300 lines; full file: tests/pg_regress/regression.diffs) ==="
        head -n 300 "$work/out/regression.diffs"
        echo "=== end of regression.diffs ==="
        echo "actual outputs: tests/pg_regress/results/"
    fi
    echo "regress: $passed passed, $failed failed"
    exit 1
fi
echo "regress: $passed passed, $failed failed"
