#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for golden tests and the demo.
#
#   scripts/cluster.sh start          initdb if needed, then start (no-op if running)
#   scripts/cluster.sh stop           fast shutdown (no-op if stopped)
#   scripts/cluster.sh status         prints "running" or "stopped"
#   scripts/cluster.sh psql [ARGS]    psql as superuser postgres (database postgres
#                                     unless ARGS say otherwise)
#   scripts/cluster.sh url            PGHOST=/PGPORT=/PGUSER= lines, e.g.
#                                     `export $(scripts/cluster.sh url)`
#
# Everything lives under ${READINESS_CLUSTER_DIR:-/tmp/pg_readiness_cluster}
# (data/, socket/, server.log) and the server listens on port
# ${READINESS_PORT:-54329}, on the loopback address and a private socket
# directory only, so it never collides with a system cluster on 5432.
#
# PostgreSQL refuses to run as root: when called as root the cluster is owned
# and run by the `postgres` OS user; otherwise by the caller.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Marks a directory as created by this script, so that "wipe and re-init"
# can never delete a directory somebody pointed READINESS_CLUSTER_DIR at by
# mistake.
MARKER="$CLUSTER_DIR/.pg_readiness_cluster"

usage() {
    echo "usage: $0 {start|stop|status|psql [psql args...]|url}" >&2
    exit 2
}

pg_ctl() {
    as_pg_user_in "$CLUSTER_DIR" "$PGBIN/pg_ctl" -D "$CLUSTER_DATA" "$@"
}

is_running() {
    [ -f "$CLUSTER_DATA/PG_VERSION" ] || return 1
    # pg_ctl status: 0 = running, 3 = not running, 4 = no usable data dir.
    pg_ctl status >/dev/null 2>&1
}

# Does the running server answer? Waits up to $1 seconds (crash recovery
# after an earlier run's crash takes a moment).
is_answering() {
    local tries=$(( ${1:-10} * 5 ))
    local i
    for ((i = 0; i < tries; i++)); do
        if as_pg_user "$PGBIN/pg_isready" -q -h "$CLUSTER_SOCKET" -p "$CLUSTER_PORT" -U postgres >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# Stops the server whatever its state: fast, then immediate, then, for a
# postmaster wedged in shutdown (seen after a crash during crash recovery),
# SIGKILL. The cluster is disposable; its data is recovered or re-created.
force_stop() {
    pg_ctl -w -t 20 -m fast stop >/dev/null 2>&1 && return 0
    pg_ctl -w -t 10 -m immediate stop >/dev/null 2>&1 && return 0
    local pid
    pid="$(head -n 1 "$CLUSTER_DATA/postmaster.pid" 2>/dev/null || true)"
    if [ -n "$pid" ]; then
        log "the server does not stop; killing postmaster $pid"
        kill -9 "$pid" 2>/dev/null || true
        sleep 1
        pkill -9 -f -- "-D $CLUSTER_DATA" 2>/dev/null || true
        rm -f "$CLUSTER_DATA/postmaster.pid"
    fi
}

# Create the cluster directory (private, owned by the cluster's OS user) and
# check that this user can actually reach it: a directory below /root, for
# example, is not traversable by `postgres`.
prepare_dir() {
    case "$CLUSTER_DIR" in
        "" | / | /tmp | /root | /home | "$HOME")
            die "READINESS_CLUSTER_DIR='${CLUSTER_DIR:-/}' is not a dedicated directory" ;;
    esac
    if [ -d "$CLUSTER_DIR" ] && [ ! -e "$MARKER" ] \
        && [ -n "$(ls -A "$CLUSTER_DIR" 2>/dev/null)" ]; then
        die "$CLUSTER_DIR exists, is not empty and was not created by this script; refusing to use it"
    fi
    mkdir -p "$CLUSTER_DIR"
    touch "$MARKER"
    chmod 700 "$CLUSTER_DIR"
    if is_root; then
        # Only walk the tree when something is not owned by postgres yet
        # (first run, or a directory left behind by a root-run tool).
        if [ -n "$(find "$CLUSTER_DIR" ! -user postgres -print -quit)" ]; then
            chown -R postgres:postgres "$CLUSTER_DIR"
        fi
    fi
    as_pg_user test -x "$CLUSTER_DIR" -a -w "$CLUSTER_DIR" \
        || die "OS user '$(cluster_os_user)' cannot enter $CLUSTER_DIR (check the permissions of its parent directories, or set READINESS_CLUSTER_DIR to a path under /tmp)"
    as_pg_user mkdir -p -m 700 "$CLUSTER_SOCKET"

    # Unix socket paths are limited to 107 bytes.
    local sock="$CLUSTER_SOCKET/.s.PGSQL.$CLUSTER_PORT"
    [ "${#sock}" -le 107 ] || die "socket path too long (${#sock} > 107 bytes): $sock; use a shorter READINESS_CLUSTER_DIR"
}

wipe_data() {
    log "removing old cluster in $CLUSTER_DATA"
    rm -rf -- "$CLUSTER_DATA"
}

init_cluster() {
    log "initdb $CLUSTER_DATA (PostgreSQL $PG_MAJOR, port $CLUSTER_PORT)"
    # Trust auth is fine here: the server is only reachable through the
    # private socket directory and 127.0.0.1, and is thrown away after use.
    local common=(-D "$CLUSTER_DATA" -A trust -U postgres --encoding=UTF8)
    local out
    if ! out="$(as_pg_user_in "$CLUSTER_DIR" "$PGBIN/initdb" "${common[@]}" --locale=C.UTF-8 2>&1)"; then
        # C.UTF-8 is always present on Debian 12, but not on every system.
        rm -rf -- "$CLUSTER_DATA"
        if ! out="$(as_pg_user_in "$CLUSTER_DIR" "$PGBIN/initdb" "${common[@]}" --no-locale 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "initdb failed"
        fi
    fi
}

# Settings live in their own file, rewritten on every start so that a change
# of READINESS_PORT or READINESS_CLUSTER_DIR is picked up, and included from
# postgresql.conf. Durability settings (fsync, synchronous_commit,
# full_page_writes) are deliberately left at their defaults: the extension
# audits them, so the cluster must look like a sane production server.
write_config() {
    local conf="$CLUSTER_DATA/readiness.conf"
    as_pg_user tee "$conf" >/dev/null <<EOF
# Written by scripts/cluster.sh on every start; edits will be overwritten.
listen_addresses = '127.0.0.1'
port = $CLUSTER_PORT
unix_socket_directories = '$CLUSTER_SOCKET'
shared_preload_libraries = 'pg_stat_statements'
logging_collector = off
EOF
    if ! grep -q "^include_if_exists = 'readiness.conf'" "$CLUSTER_DATA/postgresql.conf"; then
        printf "\ninclude_if_exists = 'readiness.conf'\n" \
            | as_pg_user tee -a "$CLUSTER_DATA/postgresql.conf" >/dev/null
    fi
}

start_server() {
    pg_ctl -w -t 60 -l "$CLUSTER_LOG" start >/dev/null 2>&1
}

cmd_start() {
    [ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found; run scripts/setup.sh first"
    prepare_dir
    if is_running; then
        is_answering 15 && return 0
        # Running but not answering: left over from a crashed or interrupted
        # run. Stop it, then start as usual (recovering or re-creating it).
        log "the running server does not answer; restarting it"
        force_stop
    fi

    local fresh=0
    if [ -f "$CLUSTER_DATA/PG_VERSION" ] \
        && [ "$(cat "$CLUSTER_DATA/PG_VERSION")" != "$PG_MAJOR" ]; then
        wipe_data
    fi
    if [ ! -f "$CLUSTER_DATA/PG_VERSION" ]; then
        # A half-written data directory (interrupted initdb) makes initdb
        # refuse to run, so start from nothing.
        rm -rf -- "$CLUSTER_DATA"
        init_cluster
        fresh=1
    fi
    write_config

    log "starting PostgreSQL on 127.0.0.1:$CLUSTER_PORT and $CLUSTER_SOCKET (log: $CLUSTER_LOG)"
    if ! start_server; then
        if [ "$fresh" -eq 1 ]; then
            tail -n 30 "$CLUSTER_LOG" >&2 || true
            die "PostgreSQL failed to start (is port $CLUSTER_PORT already in use?)"
        fi
        # A cluster left over from an earlier run with another setup (other
        # settings, a crashed server, an extension that no longer loads):
        # it is disposable, so start over once.
        log "existing cluster failed to start; re-initialising it"
        tail -n 10 "$CLUSTER_LOG" >&2 || true
        pg_ctl -m immediate stop >/dev/null 2>&1 || true
        wipe_data
        init_cluster
        write_config
        if ! start_server; then
            tail -n 30 "$CLUSTER_LOG" >&2 || true
            die "PostgreSQL failed to start (is port $CLUSTER_PORT already in use?)"
        fi
    fi
}

cmd_stop() {
    if is_running; then
        log "stopping PostgreSQL in $CLUSTER_DATA"
        force_stop
    fi
}

cmd_status() {
    if is_running; then echo running; else echo stopped; fi
}

cmd_url() {
    printf 'PGHOST=%s\nPGPORT=%s\nPGUSER=postgres\n' "$CLUSTER_SOCKET" "$CLUSTER_PORT"
}

[ "$#" -ge 1 ] || usage
cmd="$1"
shift
case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    psql) cluster_psql "$@" ;;
    url) cmd_url ;;
    *) usage ;;
esac
