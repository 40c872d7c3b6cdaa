#!/usr/bin/env bash
# Grafana often points at a replica: the report must run on a hot standby
# and agree with the primary, except for checks that need a primary, which
# say so as `skipped` rows. The replica is a streaming copy of the throwaway
# cluster (pg_basebackup -R on loopback), on a private port and socket.
. "$(dirname "$0")/lib.bash"
. "$REPO_ROOT/scripts/lib.sh"
DB=readiness_standby
REPLICA_DIR="$(mktemp -d /tmp/pg_readiness_replica.XXXXXX)"
REPLICA_PORT="${READINESS_REPLICA_PORT:-54349}"
cleanup() {
    as_pg_user "$PGBIN/pg_ctl" -D "$REPLICA_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$REPLICA_DIR"
    drop_db "$DB"
}
trap cleanup EXIT
fresh_demo_db "$DB"
q -d "$DB" -c "CHECKPOINT" >/dev/null

mkdir -p "$REPLICA_DIR/socket"
if is_root; then chown -R postgres:postgres "$REPLICA_DIR"; fi
chmod 700 "$REPLICA_DIR"
as_pg_user "$PGBIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$REPLICA_DIR/data" -R -X stream --checkpoint=fast
cat >>"$REPLICA_DIR/data/postgresql.auto.conf" <<CONF
port = $REPLICA_PORT
unix_socket_directories = '$REPLICA_DIR/socket'
listen_addresses = ''
hot_standby = on
CONF
as_pg_user "$PGBIN/pg_ctl" -D "$REPLICA_DIR/data" -l "$REPLICA_DIR/replica.log" -w -t 60 start >/dev/null

rq() { psql -X -q -v ON_ERROR_STOP=1 -At -h "$REPLICA_DIR/socket" -p "$REPLICA_PORT" -U postgres "$@"; }
[ "$(rq -d "$DB" -c "SELECT pg_is_in_recovery()")" = t ] || fail "the replica is not in recovery"
# Wait (bounded) until the replica has replayed everything the primary wrote.
target="$(q -d "$DB" -c "SELECT pg_current_wal_lsn()")"
for _ in $(seq 1 100); do
    [ "$(rq -d "$DB" -c "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")" = t ] && break
    sleep 0.1
done
[ "$(rq -d "$DB" -c "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")" = t ] || fail "the replica did not catch up"

rows='SELECT check_id, coalesce(object_name, $$-$$), status FROM readiness_report() ORDER BY 1, 2, 3'
q -d "$DB" -F '|' -c "$rows" >"$REPLICA_DIR/primary.txt"
rq -d "$DB" -F '|' -c "$rows" >"$REPLICA_DIR/replica.txt" || fail "the report raised an ERROR on the standby"
errors="$(rq -d "$DB" -c "SELECT count(*) FROM readiness_report() WHERE status = 'error'")"
if [ "$errors" != 0 ]; then
    rq -d "$DB" -c "SELECT check_id || ': ' || evidence::text FROM readiness_report() WHERE status = 'error'" >&2
    fail "$errors error rows on the standby"
fi

# Every difference must be a check the standby cannot judge, saying why.
diff "$REPLICA_DIR/primary.txt" "$REPLICA_DIR/replica.txt" >"$REPLICA_DIR/diff.txt" || true
differing="$(grep -E '^[<>]' "$REPLICA_DIR/diff.txt" | sed -E 's/^[<>] //' | cut -d'|' -f1 | sort -u || true)"
for check in $differing; do
    detail="$(rq -d "$DB" -c "SELECT string_agg(DISTINCT status || ': ' || detail, '; ') FROM readiness_report() WHERE check_id = '$check'")"
    case "$detail" in
        skipped:*standby*|skipped:*primary*) echo "standby skips $check: ${detail#skipped: }" ;;
        *) cat "$REPLICA_DIR/diff.txt" >&2; fail "$check differs on the standby without saying it needs a primary: $detail" ;;
    esac
done
same="$(wc -l <"$REPLICA_DIR/replica.txt")"
fails_standby="$(grep -c '|fail$' "$REPLICA_DIR/replica.txt" || true)"
fails_primary="$(grep -c '|fail$' "$REPLICA_DIR/primary.txt" || true)"
[ "$fails_standby" -gt 0 ] || fail "no findings on the standby"
echo "hot standby: $same rows; $fails_standby fail rows on the standby, $fails_primary on the primary; the differences are checks that need a primary"
