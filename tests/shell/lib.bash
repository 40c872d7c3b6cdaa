# Shared by the tests/shell/*.sh end-to-end tests (sourced, not run).
# scripts/test.sh starts the throwaway cluster and exports PGHOST/PGPORT/PGUSER.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${PGHOST:?run through scripts/test.sh (PGHOST unset)}"
: "${PGPORT:?}"
export PGUSER="${PGUSER:-postgres}"

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A fresh database holding the demo fixture.
fresh_demo_db() {
    local db="$1"
    q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\""
    q -d "$db" -f "$REPO_ROOT/tests/fixtures/demo.sql" >/dev/null
}

drop_db() {
    q -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || true
}
