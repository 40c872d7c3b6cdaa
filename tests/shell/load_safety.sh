#!/usr/bin/env bash
# Safe under load: with pgbench running a steady write workload (TPC-B like,
# over loopback TCP) and readiness_report() running in a loop in the same
# database,
#   - the report's backend never waits on a lock, and no backend ever waits
#     on a lock the report's backend holds (pg_stat_activity and
#     pg_blocking_pids sampled every 0.2 s; one such sample fails the test),
#   - a concurrent ALTER TABLE ... ADD COLUMN with lock_timeout = 2s on a
#     table the report reads succeeds,
#   - and the TPS without and with the report loop are printed with the loss
#     in percent (a figure, not asserted: this machine is shared and noisy).
# Bounded: about 40 s (LOAD_SAFETY_SECONDS per pgbench run, four runs).
. "$(dirname "$0")/lib.bash"
DB=readiness_load
SECS="${LOAD_SAFETY_SECONDS:-7}"
APP=readiness_load_report
work="$(mktemp -d -t readiness_load.XXXXXX)"
bg=()
cleanup() {
    local p
    for p in ${bg[@]+"${bg[@]}"}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    drop_db "$DB"
    rm -rf "$work"
}
trap cleanup EXIT

command -v pgbench >/dev/null || fail "pgbench not found (postgresql-contrib)"
q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
pgbench -i -q -s 2 -h 127.0.0.1 -p "$PGPORT" "$DB" >"$work/init.log" 2>&1 || { cat "$work/init.log"; fail "pgbench -i"; }
q -d "$DB" -c "CREATE EXTENSION pg_readiness"
report_ms="$(q -d "$DB" -c "SELECT count(*) FROM readiness_report()" -c "\\timing on" -c "SELECT count(*) FROM readiness_report()" \
    | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')"
echo "one report in $DB: $report_ms ms"
# Inside a transaction that goes on after the report, the report holds no
# lock on any table of the application (value sampling included).
held="$(q -d "$DB" -c "BEGIN" -c "SELECT count(*) FROM readiness_report()" -c "
    SELECT coalesce(string_agg(format('%s on %s', l.mode, c.oid::regclass), ', '), '')
      FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
     WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relname LIKE 'pgbench%'" -c "COMMIT" | tail -n 1)"
[ -z "$held" ] || fail "after readiness_report() its transaction still holds: $held"

# pgbench on loopback TCP, 4 clients; prints the TPS.
bench() {
    pgbench -n -c 4 -j 2 -T "$SECS" -h 127.0.0.1 -p "$PGPORT" "$DB" >"$work/pgbench.$1.log" 2>&1 \
        || { cat "$work/pgbench.$1.log" >&2; fail "pgbench run $1"; }
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.$1.log" | head -n 1
}

# The report in a loop, in one session the sampler recognises by its
# application_name, with default settings (value sampling on), every
# LOAD_SAFETY_INTERVAL seconds (default 1: a dashboard refreshing every
# second; 0.01 runs it back to back, which on 2 cores takes one of them).
echo "SELECT count(*) FROM readiness_report() \\watch ${LOAD_SAFETY_INTERVAL:-1}" >"$work/report.sql"
# Every 0.2 s: the report's backends, and any lock wait involving them.
cat >"$work/sampler.sql" <<SQL
SELECT 'sample|' || (SELECT count(*) FROM pg_stat_activity WHERE application_name = '$APP' AND state = 'active') || '|'
    || concat_ws('; ',
         (SELECT string_agg(format('report pid %s waits for a %s lock', pid, wait_event), '; ')
            FROM pg_stat_activity WHERE application_name = '$APP' AND wait_event_type = 'Lock'),
         (SELECT string_agg(format('pid %s (%s) waits for a %s lock held by report pid %s', w.pid, left(w.query, 60), w.wait_event, r.pid), '; ')
            FROM pg_stat_activity w JOIN pg_stat_activity r ON r.application_name = '$APP'
           WHERE w.wait_event_type = 'Lock' AND r.pid = ANY (pg_blocking_pids(w.pid))),
         (SELECT string_agg(format('report pid %s has an ungranted %s lock', l.pid, l.mode), '; ')
            FROM pg_locks l JOIN pg_stat_activity r ON r.pid = l.pid
           WHERE r.application_name = '$APP' AND NOT l.granted)) \\watch 0.2
SQL

round_tps=()
for round in 1 2; do
    base="$(bench "base$round")"
    PGAPPNAME=$APP psql -X -At -d "$DB" -f "$work/report.sql" >"$work/report.$round.log" 2>&1 &
    report_pid=$!
    PGAPPNAME=readiness_load_sampler psql -X -At -d "$DB" -f "$work/sampler.sql" >"$work/sampler.$round.log" 2>&1 &
    sampler_pid=$!
    bg=("$report_pid" "$sampler_pid")
    sleep 0.5
    bench "report$round" >"$work/tps.$round" &
    bench_pid=$!
    # Mid-run, schema changes on the table pgbench updates most and the
    # report reads (and samples): each must get its lock within 2 s.
    sleep $((SECS / 2))
    for i in 1 2 3; do
        start=$(date +%s%N)
        out="$(q -d "$DB" -c "SET lock_timeout = '2s'" -c "ALTER TABLE pgbench_accounts ADD COLUMN load_safety_${round}_$i int" 2>&1)" \
            || fail "ALTER TABLE ... ADD COLUMN did not get its lock within 2 s while the report ran: $out"
        echo "round $round: ALTER TABLE pgbench_accounts ADD COLUMN took $((($(date +%s%N) - start) / 1000000)) ms"
        sleep 0.3
    done
    wait "$bench_pid" || fail "pgbench with the report loop"
    with="$(cat "$work/tps.$round")"
    kill "$report_pid" "$sampler_pid" 2>/dev/null || true
    wait "$report_pid" "$sampler_pid" 2>/dev/null || true
    bg=()
    [ -n "$base" ] && [ -n "$with" ] || fail "no TPS figure from pgbench (see $work)"
    reports="$(grep -cE '^[0-9]+$' "$work/report.$round.log" || true)"
    echo "round $round: tps without the report $base, with the report loop $with ($reports reports)"
    round_tps+=("$base $with")
    [ "$reports" -ge 1 ] || { cat "$work/report.$round.log"; fail "the report loop completed no report"; }
done

samples="$(cat "$work"/sampler.*.log | grep -c '^sample|' || true)"
active="$(cat "$work"/sampler.*.log | grep -cE '^sample\|[1-9]' || true)"
problems="$(cat "$work"/sampler.*.log | grep '^sample|' | cut -d'|' -f3- | grep -v '^$' || true)"
echo "lock samples: $samples, with the report running: $active"
[ "$samples" -ge 10 ] || { cat "$work"/sampler.*.log; fail "too few lock samples"; }
[ "$active" -ge 1 ] || fail "no sample caught the report running: the test proves nothing"
[ -z "$problems" ] || fail "lock waits involving the report: $(sort -u <<<"$problems" | head -n 5)"

printf '%s\n' "${round_tps[@]}" | awk -v iv="${LOAD_SAFETY_INTERVAL:-1}" '{ b += $1; w += $2 } END {
    printf "TPS (mean of %d runs of each): without the report %.0f, with the report every %ss %.0f, loss %.1f%%\n", NR, b / NR, iv, w / NR, (b - w) * 100 / b }'
echo "load_safety: ok"
