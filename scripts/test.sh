#!/usr/bin/env bash
# Every test layer, in order, stopping at the first layer that fails:
#
#   setup    scripts/setup.sh (tools and packages)
#   unit     cargo test --lib (plain Rust tests, no server)
#   pg_test  cargo pgrx test pg15 (#[pg_test] functions, inside a server)
#   regress  cargo pgrx install + scripts/regress.sh (golden SQL files)
#   shell    each executable tests/shell/*.sh, in sorted order
#
# Ends with a per-layer summary and a last line "all: N passed, M failed".
# Exit status 0 only when every layer passed. Non-interactive (CI-safe).
# Honours CARGO_TARGET_DIR; READINESS_PGTEST_DIR sets where the pg_test
# server keeps its data (default /tmp/pg_readiness_pgtest).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
exec </dev/null   # no test may wait for keyboard input

logdir="$(mktemp -d -t pg_readiness_test.XXXXXX)"
# The throwaway cluster (used by regress and shell tests) is stopped however
# this script ends.
cleanup() {
    bash "$REPO_ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
    rm -rf "$logdir"
}
trap cleanup EXIT

# Summary rows and totals.
summary=()
total_passed=0
total_failed=0

# Add a summary row; $3/$4 are the parsed pass/fail counts ("" if none).
record() {
    local layer="$1" result="$2" passed="${3:-}" failed="${4:-}"
    if [ -n "$passed" ]; then
        summary+=("$(printf '%-8s %-6s %s passed, %s failed' "$layer" "$result" "$passed" "$failed")")
        total_passed=$((total_passed + passed))
        total_failed=$((total_failed + failed))
    else
        summary+=("$(printf '%-8s %s' "$layer" "$result")")
    fi
}

print_summary() {
    echo
    echo "==== test summary ===="
    local row
    for row in ${summary[@]+"${summary[@]}"}; do
        echo "$row"
    done
    echo "all: $total_passed passed, $total_failed failed"
}

# A layer failed: a layer that failed before reporting any failing test
# (compile error, server did not start) still counts as one failure, so the
# last line never says "0 failed" for a failed run.
fail_layer() {
    local layer="$1" passed="${2:-0}" failed="${3:-0}"
    [ "$failed" -gt 0 ] || failed=1
    record "$layer" FAILED "$passed" "$failed"
    print_summary
    exit 1
}

# Run a command with its output shown and saved to $logdir/<layer>.log;
# sets $rc.
run_logged() {
    local layer="$1"
    shift
    printf '\n==== %s: %s\n' "$layer" "$*"
    set +e
    "$@" 2>&1 | tee "$logdir/$layer.log"
    rc=${PIPESTATUS[0]}
    set -e
}

# Sum the "test result: ok. N passed; M failed; ..." lines cargo test prints
# once per test binary. Sets $passed and $failed.
parse_cargo() {
    local log="$1"
    passed="$(sed -n -E 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1/p' "$log" \
        | awk '{ s += $1 } END { print s + 0 }')"
    failed="$(sed -n -E 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\2/p' "$log" \
        | awk '{ s += $1 } END { print s + 0 }')"
}

# --- setup ------------------------------------------------------------------
run_logged setup bash scripts/setup.sh
[ "$rc" -eq 0 ] || fail_layer setup
record setup ok

# --- unit: plain Rust tests, no PostgreSQL involved ---------------------------
# The default feature is pg15, so no feature flags are needed.
run_logged unit cargo test --lib
parse_cargo "$logdir/unit.log"
[ "$rc" -eq 0 ] || fail_layer unit "$passed" "$failed"
record unit ok "$passed" "$failed"

# --- pg_test: #[pg_test] functions inside a temporary server -----------------
# pgrx starts its own server (not the throwaway cluster). As root, the server
# must run as `postgres` in a directory that user can write; pgrx installs
# the pg_test build of the extension with sudo.
pgtest_args=(pg15)
if is_root; then
    pgtest_dir="${READINESS_PGTEST_DIR:-/tmp/pg_readiness_pgtest}"
    mkdir -p "$pgtest_dir"
    chown postgres:postgres "$pgtest_dir"
    pgtest_args+=(--runas postgres --pgdata "$pgtest_dir")
fi
run_logged pg_test cargo pgrx test "${pgtest_args[@]}"
parse_cargo "$logdir/pg_test.log"
[ "$rc" -eq 0 ] || fail_layer pg_test "$passed" "$failed"
record pg_test ok "$passed" "$failed"

# --- regress: golden SQL files against the installed dev build ---------------
# Reinstall the normal build: the pg_test layer left its test build installed.
run_logged install pgrx_install
[ "$rc" -eq 0 ] || fail_layer install
run_logged regress bash scripts/regress.sh
counts="$(sed -n -E 's/^regress: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$logdir/regress.log" | tail -n 1)"
passed="${counts% *}"
failed="${counts#* }"
[ -n "$counts" ] || { passed=0; failed=0; }
[ "$rc" -eq 0 ] || fail_layer regress "$passed" "$failed"
record regress ok "$passed" "$failed"

# --- shell: end-to-end scripts -------------------------------------------------
# Each executable tests/shell/*.sh runs from the repository root with the
# throwaway cluster started and PGHOST/PGPORT/PGUSER pointing at it. All of
# them run (so one report shows every failure); the layer fails if any did.
shell_tests=()
while IFS= read -r f; do
    if [ -x "$f" ]; then shell_tests+=("$f"); fi
done < <(find tests/shell -maxdepth 1 -name '*.sh' -type f 2>/dev/null | LC_ALL=C sort)

if [ "${#shell_tests[@]}" -eq 0 ]; then
    record shell "ok" 0 0
else
    bash scripts/cluster.sh start
    passed=0
    failed=0
    for t in "${shell_tests[@]}"; do
        name="$(basename "$t" .sh)"
        run_logged "shell-$name" env \
            PGHOST="$CLUSTER_SOCKET" PGPORT="$CLUSTER_PORT" PGUSER=postgres \
            "$t"
        if [ "$rc" -eq 0 ]; then
            echo "shell: $name ok"
            passed=$((passed + 1))
        else
            echo "shell: $name FAILED (exit $rc)"
            failed=$((failed + 1))
        fi
    done
    [ "$failed" -eq 0 ] || fail_layer shell "$passed" "$failed"
    record shell ok "$passed" "$failed"
fi

print_summary
