#!/usr/bin/env bash
# Catalog-scale benchmark of readiness_report() (not a test: it prints
# timings, ratios and the targets' verdicts, and leaves the decision to the
# reader).
#
#   bash bench/scale_bench.sh
#
# 1. builds the extension optimised (`cargo pgrx package` with the
#    `bench-ext` profile of Cargo.toml when it exists, else release) and
#    puts it in a private PostgreSQL 15 tree under $SCALE_BENCH_DIR/pg: the
#    system's binaries, libraries and share files with this build of
#    pg_readiness in place of the installed one. Test runs install other
#    builds into the system directories at any time; the private tree keeps
#    them out of the figures, and the benchmark out of their way,
# 2. runs its own throwaway cluster from that tree (SCALE_BENCH_DIR defaults
#    to /tmp/pg_readiness_scale, SCALE_BENCH_PORT to 54349; a private socket
#    directory only, no TCP) and stops it at the end,
# 3. for each size (SCALE_BENCH_SIZES, default "1000 5000 10000") builds a
#    database scale_<N> with bench/scale_catalog.sql: a deterministic
#    multi-tenant catalog of N tables (uuid keys, tenant_id, 4-8 columns,
#    1-2 FKs and 1-3 indexes per table, RLS and a policy on half of them,
#    views, SECURITY DEFINER functions, grants). A database built by the same
#    generator is reused (SCALE_BENCH_REBUILD=1 rebuilds it),
# 4. in one fresh connection per size, with value sampling off
#    (pg_readiness.sample_rows = 0): one warm-up, then 5 rounds alternating
#    `SELECT * FROM readiness_report()` and the floor query (every FK joined
#    to its table's indexes, the least any unindexed-FK lint must do), each
#    timed by psql end to end; then the backend's peak memory (VmHWM of its
#    /proc/<pid>/status),
# 5. prints one line per size (medians, their ratio, peak memory), the growth
#    from the smallest to the largest size, and the targets at the largest
#    size: report within 5x the floor, under 1 GB peak memory, growth from
#    1 000 to 10 000 tables at most 12x.
#
# Set SCALE_BENCH_SKIP_BUILD=1 to reuse the last build. Building the
# 10 000-table catalog takes about a minute the first time.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

cd "$REPO_ROOT"
exec </dev/null

read -r -a sizes <<<"${SCALE_BENCH_SIZES:-1000 5000 10000}"
rounds=5
dir="${SCALE_BENCH_DIR:-/tmp/pg_readiness_scale}"
dir="${dir%/}"
port="${SCALE_BENCH_PORT:-54349}"
case "$dir" in
    /tmp/?* | /var/tmp/?*) ;;
    *) die "SCALE_BENCH_DIR must be a dedicated directory under /tmp or /var/tmp" ;;
esac
pkg="$dir/pkg"
tree="$dir/pg"
data="$dir/data"
socket="$dir/socket"
sys_lib="$("$PG_CONFIG" --pkglibdir)"
sys_share="$("$PG_CONFIG" --sharedir)"
# PostgreSQL finds its libraries and share files relative to its binary
# (bin/../lib and bin/../../../../share/postgresql/15 in the Debian layout).
tree_bin="$tree/lib/postgresql/$PG_MAJOR/bin"
tree_lib="$tree/lib/postgresql/$PG_MAJOR/lib"
tree_share="$tree/share/postgresql/$PG_MAJOR"

mkdir -p "$dir"
if [ "${SCALE_BENCH_SKIP_BUILD:-0}" != 1 ] || [ ! -d "$pkg" ]; then
    args=()
    if grep -q '^\[profile\.bench-ext\]' Cargo.toml; then
        args=(--profile bench-ext)
    fi
    log "building (cargo pgrx package ${args[*]:-release})"
    rm -rf "$pkg"
    cargo pgrx package ${args[@]+"${args[@]}"} --pg-config "$PG_CONFIG" --out-dir "$pkg" >&2
fi
built_lib="$(find "$pkg" -name pg_readiness.so | head -n 1)"
built_control="$(find "$pkg" -name pg_readiness.control | head -n 1)"
[ -f "$built_lib" ] && [ -f "$built_control" ] || die "no package in $pkg; run without SCALE_BENCH_SKIP_BUILD"

# The private tree: copies of the binaries (they locate the rest from their
# own path; through a symlink they would find the system's), links to
# everything else, and this build of the extension.
rm -rf "$tree"
mkdir -p "$tree_bin" "$tree_lib" "$tree_share/extension"
cp "$PGBIN/postgres" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$tree_bin/"
for f in "$sys_lib"/*; do
    [ "$(basename "$f")" = pg_readiness.so ] || ln -s "$f" "$tree_lib/"
done
cp "$built_lib" "$tree_lib/pg_readiness.so"
for f in "$sys_share"/*; do
    [ "$(basename "$f")" = extension ] || ln -s "$f" "$tree_share/"
done
for f in "$sys_share"/extension/*; do
    case "$(basename "$f")" in pg_readiness*) ;; *) ln -s "$f" "$tree_share/extension/" ;; esac
done
cp "$(dirname "$built_control")"/pg_readiness* "$tree_share/extension/"
chmod -R a+rX "$tree"

# The cluster, run by the cluster's OS user (see scripts/lib.sh) from the tree.
if is_root; then
    chown "$(cluster_os_user)" "$dir"
fi
as_pg_user mkdir -p -m 700 "$socket"
pg_ctl() { as_pg_user_in "$dir" "$tree_bin/pg_ctl" -D "$data" "$@"; }
if [ ! -f "$data/PG_VERSION" ]; then
    log "initdb $data"
    as_pg_user_in "$dir" "$tree_bin/initdb" -D "$data" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
printf '%s\n' "# Written by bench/scale_bench.sh on every start." \
    "listen_addresses = ''" "port = $port" "unix_socket_directories = '$socket'" \
    "shared_preload_libraries = 'pg_stat_statements'" "logging_collector = off" \
    | as_pg_user tee "$data/scale_bench.conf" >/dev/null
if ! grep -q "^include_if_exists = 'scale_bench.conf'" "$data/postgresql.conf"; then
    printf "\ninclude_if_exists = 'scale_bench.conf'\n" | as_pg_user tee -a "$data/postgresql.conf" >/dev/null
fi
if pg_ctl status >/dev/null 2>&1; then
    # Left running by an interrupted run: it may hold another build.
    pg_ctl -w -m fast stop >/dev/null
fi
if ! pg_ctl -w -t 60 -l "$dir/server.log" start >/dev/null; then
    tail -n 20 "$dir/server.log" >&2
    die "the benchmark cluster did not start"
fi
stop_cluster() { pg_ctl -w -m fast stop >/dev/null 2>&1 || true; }
trap stop_cluster EXIT

# Every psql below talks to the benchmark cluster.
cluster_psql() {
    as_pg_user "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -P pager=off -h "$socket" -p "$port" -U postgres "$@"
}

# The floor: one query joining every foreign key to its table's indexes
# (covered = the FK columns are an index's leading columns).
floor_query="SELECT c.conrelid::regclass AS table_name, c.conname, i.indexrelid::regclass AS index_name
  FROM pg_constraint c
  LEFT JOIN pg_index i ON i.indrelid = c.conrelid
       AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey
 WHERE c.contype = 'f';"

generator_sum="$(md5sum <bench/scale_catalog.sql | cut -c1-32)"

# Creates scale_<N> unless a database built by this generator exists.
prepare_database() {
    local n="$1" db="scale_$1" have
    have="$(cluster_psql -d postgres -At -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$db'")"
    if [ "${SCALE_BENCH_REBUILD:-0}" = 1 ] || [ "$have" != "scale_bench $generator_sum" ]; then
        log "building $db ($n tables)"
        cluster_psql -d postgres -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
        cluster_psql -d "$db" -q -v tables="$n" <bench/scale_catalog.sql >/dev/null
        cluster_psql -d postgres -q -c "COMMENT ON DATABASE $db IS 'scale_bench $generator_sum'"
    fi
    # Always the installed build's SQL.
    cluster_psql -d "$db" -q -c "SET client_min_messages = warning" \
        -c "DROP EXTENSION IF EXISTS pg_readiness CASCADE" -c "CREATE EXTENSION pg_readiness"
}

# One connection: warm-up, rounds, then the peak memory of its backend.
# Prints "report <ms>", "floor <ms>", "vmhwm_kb <kB>" and "findings <n>" lines.
measure() {
    local db="$1"
    {
        echo "SET pg_readiness.sample_rows = 0;"
        echo "SELECT pg_backend_pid() AS bench_pid \\gset"
        echo "\\setenv SCALE_BENCH_PID :bench_pid"
        echo "\\o /dev/null"
        echo "\\timing on"
        echo "\\echo warmup"
        echo "SELECT * FROM readiness_report();"
        echo "$floor_query"
        for _ in $(seq "$rounds"); do
            echo "\\echo report"
            echo "SELECT * FROM readiness_report();"
            echo "\\echo floor"
            echo "$floor_query"
        done
        echo "\\timing off"
        echo "\\o"
        # Read by the shell psql starts, as the OS user that runs the backend.
        echo "\\! sed -n 's/^VmHWM:[[:space:]]*\\([0-9]*\\) kB/vmhwm_kb \\1/p' /proc/\$SCALE_BENCH_PID/status"
        echo "SELECT 'findings ' || count(*) FROM readiness_report();"
    } | cluster_psql -d "$db" -At \
        | awk '/^(report|floor|warmup)$/ { what = $1; next }
               /^Time: / { if (what == "report" || what == "floor") print what, $2; what = ""; next }
               /^(vmhwm_kb|findings) / { print }'
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "scale_bench: $(date -u +%Y-%m-%d), $(nproc) cores, $("$PGBIN/postgres" --version), sampling off, median of $rounds after a warm-up"
printf '%8s %9s %11s %10s %7s %13s\n' tables findings report_ms floor_ms ratio peak_backend
declare -A report_ms floor_ms peak_kb
for n in "${sizes[@]}"; do
    prepare_database "$n"
    out="$(measure "scale_$n")"
    report_ms[$n]="$(awk '$1 == "report" { print $2 }' <<<"$out" | median)"
    floor_ms[$n]="$(awk '$1 == "floor" { print $2 }' <<<"$out" | median)"
    peak_kb[$n]="$(awk '$1 == "vmhwm_kb" { print $2 }' <<<"$out")"
    findings="$(awk '$1 == "findings" { print $2 }' <<<"$out")"
    [ -n "${report_ms[$n]}" ] && [ -n "${floor_ms[$n]}" ] && [ -n "${peak_kb[$n]}" ] \
        || die "could not measure scale_$n: $out"
    awk -v n="$n" -v f="$findings" -v r="${report_ms[$n]}" -v fl="${floor_ms[$n]}" -v p="${peak_kb[$n]}" \
        'BEGIN { printf "%8d %9d %11.1f %10.1f %6.1fx %10.0f MB\n", n, f, r, fl, r / fl, p / 1024 }'
done


first="${sizes[0]}"
last="${sizes[${#sizes[@]} - 1]}"
awk -v a="$first" -v b="$last" -v r1="${report_ms[$first]}" -v r2="${report_ms[$last]}" \
    -v f1="${floor_ms[$first]}" -v f2="${floor_ms[$last]}" -v p="${peak_kb[$last]}" 'BEGIN {
    growth = r2 / r1; ratio = r2 / f2; mb = p / 1024
    printf "growth %d -> %d tables: report %.1fx, floor %.1fx\n", a, b, growth, f2 / f1
    printf "targets at %d tables: report/floor %.1fx (<= 5x: %s), peak backend memory %.0f MB (< 1024 MB: %s), growth %.1fx (<= 12x: %s)\n",
        b, ratio, ratio <= 5 ? "met" : "MISSED", mb, mb < 1024 ? "met" : "MISSED", growth, growth <= 12 ? "met" : "MISSED"
}'
