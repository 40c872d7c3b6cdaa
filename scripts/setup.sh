#!/usr/bin/env bash
# Install everything needed to build, test and demo pg_readiness on Debian 12:
# system packages, cargo-pgrx at the version pinned in Cargo.toml, and the
# pgrx configuration for the system PostgreSQL 15.
#
# Idempotent and cheap when everything is present (no apt-get update, no
# network), so other scripts call it unconditionally. Prints one line per
# action it takes. Works as root, or as a user with sudo for the apt step.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

actions=0

# Long-running steps write their output here; it is only shown on failure,
# to keep the normal output to one line per action.
step_log="$(mktemp -t pg_readiness_setup.XXXXXX)"
trap 'rm -f "$step_log"' EXIT

run_quietly() {
    if ! "$@" >"$step_log" 2>&1; then
        tail -n 40 "$step_log" >&2
        die "failed: $*"
    fi
}

# --- 1. System packages ------------------------------------------------------
# clang/libclang-dev: bindgen (pgrx-pg-sys) needs libclang.
# postgresql-server-dev-15: the server headers pgrx compiles against, and
#   pg_regress (lib/pgxs/src/test/regress/pg_regress).
# postgresql-contrib: pg_stat_statements, preloaded by the throwaway cluster.
#   (On Debian 12 "postgresql-contrib-15" is only a virtual package provided
#   by postgresql-15, so dpkg-query never reports it as installed.)
# postgresql-15-hypopg: hypothetical indexes, used by the demo and tests.
# sudo: `cargo pgrx test --runas` shells out to sudo, even as root.
# prometheus-postgres-exporter, curl, python3: the exporter and Grafana
#   dashboard tests run the real exporter and parse the dashboard JSON.
packages=(
    clang libclang-dev
    postgresql-15 postgresql-contrib postgresql-server-dev-15 postgresql-15-hypopg
    sudo pkg-config build-essential libssl-dev
    prometheus-postgres-exporter curl python3 python3-pip
)
missing=()
for pkg in "${packages[@]}"; do
    # dpkg-query exits 0 for known-but-removed packages too, so compare the
    # status text rather than trusting the exit code.
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing apt packages: ${missing[*]}"
    # Only refresh the package lists when something is actually missing:
    # apt-get update needs the network and takes several seconds.
    run_quietly as_root apt-get update
    run_quietly as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
    actions=$((actions + 1))
fi
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found after installing packages"

# --- 2. cargo-pgrx, exactly the version the pgrx crate is pinned to ---------
# cargo-pgrx and the pgrx crate must match; a mismatch fails at build time
# with confusing schema-generation errors.
command -v cargo >/dev/null 2>&1 \
    || die "cargo not found: install Rust with rustup (https://rustup.rs) first"
want="$(pinned_pgrx_version)"

have_pgrx() {
    # `cargo pgrx --version` prints e.g. "cargo-pgrx 0.18.1".
    local out
    out="$(cargo pgrx --version 2>/dev/null || true)"
    [ "${out##* }" = "$want" ]
}

if ! have_pgrx; then
    # A parallel run (another checkout, a CI job) may be installing it right
    # now: serialise on a lock and re-check, instead of compiling it twice.
    lock="${CARGO_HOME:-$HOME/.cargo}/.pg_readiness-cargo-pgrx.lock"
    mkdir -p "$(dirname "$lock")"
    exec 9>"$lock"
    flock 9
    if ! have_pgrx; then
        log "installing cargo-pgrx $want (cargo install, takes ~5 minutes on 2 cores)"
        run_quietly cargo install cargo-pgrx --version "$want" --locked
        have_pgrx || die "cargo-pgrx $want installed but 'cargo pgrx --version' disagrees"
        actions=$((actions + 1))
    fi
    flock -u 9
    exec 9>&-
fi

# --- 3. pgrx configuration for the system PostgreSQL 15 ----------------------
# Point pgrx at the distribution's PostgreSQL rather than letting it download
# and compile its own. As root it prints "Skipping initdb as current user is
# root user", which is expected: the clusters are created by the scripts.
pgrx_config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if ! grep -Eq '^[[:space:]]*pg15[[:space:]]*=' "$pgrx_config" 2>/dev/null; then
    log "running cargo pgrx init --pg15 $PG_CONFIG"
    run_quietly cargo pgrx init --pg15 "$PG_CONFIG"
    actions=$((actions + 1))
fi

# --- 4. pgspot, the extension script checker the tests run -----------------
# From PyPI, with whatever python3/pip the machine has; skipped when present.
if ! command -v pgspot >/dev/null 2>&1; then
    log "installing pgspot (pip)"
    if command -v pip3 >/dev/null 2>&1; then pip=pip3; else pip="python3 -m pip"; fi
    # Debian's own pip refuses to install into the system Python unless told
    # to (PEP 668): try the plain install first, then that.
    export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
    if ! $pip install --quiet pgspot >"$step_log" 2>&1; then
        run_quietly $pip install --quiet --break-system-packages pgspot
    fi
    actions=$((actions + 1))
fi

if [ "$actions" -eq 0 ]; then
    log "everything already installed"
fi
