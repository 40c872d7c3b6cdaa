#!/usr/bin/env bash
# The real prometheus-postgres-exporter, started against the demo database
# with monitoring/prometheus/queries.yaml, scraped over loopback: the
# readiness gauges are there with the values the SQL functions return.
. "$(dirname "$0")/lib.bash"
DB=readiness_exporter
EXPORTER=/usr/bin/prometheus-postgres-exporter
[ -x "$EXPORTER" ] || fail "$EXPORTER missing: scripts/setup.sh installs prometheus-postgres-exporter"
PORT="${READINESS_EXPORTER_PORT:-19187}"
workdir="$(mktemp -d)"
pid=""
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
    rm -rf "$workdir"
    drop_db "$DB"
}
trap cleanup EXIT
fresh_demo_db "$DB"

# The exporter parses DATA_SOURCE_NAME as a URL; a socket directory goes in ?host=.
DATA_SOURCE_NAME="postgresql://$PGUSER@/$DB?host=$PGHOST&port=$PGPORT&sslmode=disable" \
    "$EXPORTER" --web.listen-address="127.0.0.1:$PORT" \
    --extend.query-path="$REPO_ROOT/monitoring/prometheus/queries.yaml" \
    --disable-default-metrics --disable-settings-metrics \
    >"$workdir/exporter.log" 2>&1 &
pid=$!

# Bounded wait for the exporter to answer on loopback.
for _ in $(seq 1 50); do
    if curl -fsS "http://127.0.0.1:$PORT/metrics" -o "$workdir/metrics" 2>/dev/null \
        && grep -q '^pg_readiness_score' "$workdir/metrics"; then
        break
    fi
    sleep 0.2
done
grep -q '^pg_readiness_score' "$workdir/metrics" 2>/dev/null || { cat "$workdir/exporter.log" >&2; fail "no pg_readiness_score in /metrics"; }

# The value of a series by name, ignoring labels (the exporter adds server="...").
metric() { awk -v m="$1" '{ split($1, a, "{") } a[1] == m { print $2; exit }' "$workdir/metrics"; }
same() { python3 -c "import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) < 1e-9 else 1)" "$1" "$2"; }

score_sql="$(q -d "$DB" -c "SELECT score FROM readiness_score()")"
score_prom="$(metric pg_readiness_score)"
[ -n "$score_prom" ] || { cat "$workdir/exporter.log" >&2; fail "pg_readiness_score has no value"; }
same "$score_prom" "$score_sql" || fail "pg_readiness_score $score_prom, readiness_score() $score_sql"
crit_sql="$(q -d "$DB" -c "SELECT critical FROM readiness_score()")"
same "$(metric pg_readiness_critical)" "$crit_sql" || fail "pg_readiness_critical differs"
rls_sql="$(q -d "$DB" -c "SELECT failing_objects FROM readiness_summary() WHERE category = 'rls'")"
rls_prom="$(grep '^pg_readiness_category_failing_objects{' "$workdir/metrics" | grep 'category="rls"' | awk '{print $2}')"
same "$rls_prom" "$rls_sql" || fail "rls failing objects: exporter '$rls_prom', SQL $rls_sql"
grep -q 'pg_readiness_check_failing_objects{.*check_id="fk_missing_index"' "$workdir/metrics" || fail "per-check gauge missing"
echo "exporter: pg_readiness_score=$score_prom critical=$crit_sql rls failing objects=$rls_prom"
