#!/usr/bin/env bash
# Waivers and history are extension configuration tables: pg_dump keeps their
# rows and a restore brings them back, still applied.
. "$(dirname "$0")/lib.bash"
SRC=readiness_dump_src
DST=readiness_dump_dst
trap 'drop_db $SRC; drop_db $DST; rm -f /tmp/readiness_dump.sql' EXIT
fresh_demo_db "$SRC"
q -d "$SRC" -c "SELECT readiness_waive('missing_primary_key', 'public.notification_history', 'append-only log, key added in the next release', '2100-01-01')" >/dev/null
q -d "$SRC" -c "SELECT readiness_snapshot()" >/dev/null

pg_dump -d "$SRC" -f /tmp/readiness_dump.sql
q -d postgres -c "DROP DATABASE IF EXISTS $DST" -c "CREATE DATABASE $DST"
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -f /tmp/readiness_dump.sql >/dev/null

reason="$(q -d "$DST" -c "SELECT reason FROM readiness_waivers WHERE check_id = 'missing_primary_key'")"
[ "$reason" = "append-only log, key added in the next release" ] || fail "waiver lost in dump/restore: '$reason'"
status="$(q -d "$DST" -c "SELECT status FROM readiness_report() WHERE check_id = 'missing_primary_key' AND object_name = 'public.notification_history'")"
[ "$status" = waived ] || fail "restored waiver not applied: $status"
hist="$(q -d "$DST" -c "SELECT count(*) > 0 FROM readiness_history")"
[ "$hist" = t ] || fail "history lost in dump/restore"
echo "waivers and history survive pg_dump/restore"
