# shellcheck shell=bash disable=SC2034
# (SC2034: the variables defined here are used by the scripts that source it.)
# Shared helpers for the scripts in this directory. Source it, don't run it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It only defines variables and functions; it changes no shell options of the
# caller (every script sets `set -euo pipefail` itself).

# Repository root, whatever the caller's working directory is.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Always the versioned pg_config: /usr/bin/pg_config is a Debian wrapper that
# picks "the newest installed version", which is not what we build against.
PG_MAJOR=15
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
PGBIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_REGRESS="/usr/lib/postgresql/${PG_MAJOR}/lib/pgxs/src/test/regress/pg_regress"

# The throwaway cluster used by cluster.sh, regress.sh and demo.sh.
# Layout:  $CLUSTER_DIR/data    PGDATA
#          $CLUSTER_DIR/socket  unix socket directory (private to the cluster)
#          $CLUSTER_DIR/server.log
CLUSTER_DIR="${READINESS_CLUSTER_DIR:-/tmp/pg_readiness_cluster}"
# The socket path ends up in connection strings: make it absolute.
case "$CLUSTER_DIR" in
    /*) ;;
    *) CLUSTER_DIR="$PWD/$CLUSTER_DIR" ;;
esac
CLUSTER_DIR="${CLUSTER_DIR%/}"
CLUSTER_PORT="${READINESS_PORT:-54329}"
CLUSTER_DATA="$CLUSTER_DIR/data"
CLUSTER_SOCKET="$CLUSTER_DIR/socket"
CLUSTER_LOG="$CLUSTER_DIR/server.log"

# Non-interactive everywhere: no pagers, no colours, no apt prompts.
export CI="${CI:-true}"
export NO_COLOR=1
export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive
export PAGER=cat PSQL_PAGER=cat

# rustup installs into ~/.cargo/bin, which non-login shells (CI runners,
# cron, sudo) often do not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
fi

# Name of the running script, used as the log prefix.
SCRIPT_NAME="$(basename "$0" .sh)"

# Progress messages go to stderr so that stdout stays clean for output that
# is meant to be parsed (cluster.sh url, the summary lines, psql results).
log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command with root privileges (apt-get, writing PostgreSQL's dirs).
# sudo is only needed when the caller is not root already.
as_root() {
    if is_root; then
        "$@"
    else
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to run: $*"
        sudo -- "$@"
    fi
}

# The OS user that owns and runs the throwaway cluster. PostgreSQL refuses to
# run as root, so root hands the cluster to `postgres`; anyone else runs it as
# themselves (no sudo needed for day-to-day work).
cluster_os_user() {
    if is_root; then echo postgres; else id -un; fi
}

# Run a command as the cluster's OS user (see cluster_os_user).
# runuser is part of util-linux (always present on Debian) and, unlike sudo,
# needs no sudoers entry and no terminal; sudo is the fallback.
as_pg_user() {
    if ! is_root; then
        "$@"
        return
    fi
    id postgres >/dev/null 2>&1 \
        || die "OS user 'postgres' does not exist; run scripts/setup.sh first"
    if command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        sudo -u postgres -- "$@"
    fi
}

# Same, but from a directory the postgres user can enter: PostgreSQL binaries
# complain ("could not change directory") when started from e.g. /root.
as_pg_user_in() {
    local dir="$1"
    shift
    (cd "$dir" && as_pg_user "$@")
}

# psql against the throwaway cluster, as superuser `postgres`, over the
# private unix socket. -X ignores ~/.psqlrc so that output is reproducible.
cluster_psql() {
    as_pg_user "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -P pager=off \
        -h "$CLUSTER_SOCKET" -p "$CLUSTER_PORT" -U postgres "$@"
}

# The pgrx version pinned in Cargo.toml, e.g. `pgrx = "=0.18.1"` -> 0.18.1.
# Also accepts the table form `pgrx = { version = "=0.18.1", ... }`.
pinned_pgrx_version() {
    local v
    v="$(sed -n -E \
        -e 's/^[[:space:]]*pgrx[[:space:]]*=[[:space:]]*"=?([0-9]+\.[0-9]+\.[0-9]+[^"]*)".*/\1/p' \
        -e 's/^[[:space:]]*pgrx[[:space:]]*=[[:space:]]*\{.*version[[:space:]]*=[[:space:]]*"=?([0-9]+\.[0-9]+\.[0-9]+[^"]*)".*/\1/p' \
        "$REPO_ROOT/Cargo.toml" | head -n 1)"
    [ -n "$v" ] || die "could not find the pgrx version pin (pgrx = \"=X.Y.Z\") in Cargo.toml"
    printf '%s\n' "$v"
}

# `cargo pgrx install` of the dev build into the system PostgreSQL 15.
# A non-root user cannot write into /usr/lib/postgresql and
# /usr/share/postgresql, so pgrx is told to use sudo for the copy.
pgrx_install() {
    local args=(--pg-config "$PG_CONFIG")
    is_root || args+=(--sudo)
    (cd "$REPO_ROOT" && cargo pgrx install "${args[@]}")
}

# Remediation scripts may run ALTER SYSTEM on the throwaway cluster; undo
# that before golden tests and the demo so every run starts from the same
# server configuration (the cluster's own settings live in readiness.conf,
# not in postgresql.auto.conf, so they stay).
cluster_reset_system_settings() {
    cluster_psql -d postgres -q -c "ALTER SYSTEM RESET ALL" -c "SELECT pg_reload_conf()" >/dev/null
    # Let the postmaster and new backends see the reloaded configuration.
    sleep 0.5
}
