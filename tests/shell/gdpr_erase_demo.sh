#!/usr/bin/env bash
# gdpr_erase_user() over the demo database: erasing one of its two users
# changes that user's registered columns as the registry says and nothing
# else; a second call changes nothing; the registry survives pg_dump.
. "$(dirname "$0")/lib.bash"
DB=readiness_gdpr_demo
DST=readiness_gdpr_demo_restored
ADA=aaaaaaaa-0000-4000-8000-000000000001
ALAN=aaaaaaaa-0000-4000-8000-000000000002
trap 'drop_db $DB; drop_db $DST' EXIT
fresh_demo_db "$DB"

user_row() { q -d "$DB" -c "SELECT md5(u::text) FROM users u WHERE id = '$1'"; }
# Every other table's data, byte for byte (without comments and the random
# key of pg_dump's \restrict lines).
other_data() { pg_dump -d "$DB" --data-only -T users -T gdpr_deletion_log | grep -v -e '^--' -e '^\\restrict' -e '^\\unrestrict'; }

alan_before="$(user_row "$ALAN")"
others_before="$(other_data | md5sum)"
# Ada's unregistered columns.
ada_rest() { q -d "$DB" -c "SELECT md5((to_jsonb(u) - 'email' - 'full_name')::text) FROM users u WHERE id = '$ADA'"; }
ada_rest_before="$(ada_rest)"

rows="$(q -d "$DB" -c "SELECT gdpr_erase_user('$ADA')->>'rows_affected'")"
[ "$rows" = 1 ] || fail "first erasure affected $rows rows, expected 1"
ada="$(q -d "$DB" -c "SELECT email || ' | ' || full_name FROM users WHERE id = '$ADA'")"
[ "$ada" = "deleted_$ADA@deleted.local | DELETED" ] || fail "erased user reads: $ada"
[ "$(ada_rest)" = "$ada_rest_before" ] || fail "an unregistered column of the erased user changed"
[ "$(user_row "$ALAN")" = "$alan_before" ] || fail "the other user's row changed"
[ "$(other_data | md5sum)" = "$others_before" ] || fail "a table outside the registry changed"

rows="$(q -d "$DB" -c "SELECT gdpr_erase_user('$ADA')->>'rows_affected'")"
[ "$rows" = 0 ] || fail "second erasure affected $rows rows, expected 0"
logged="$(q -d "$DB" -c "SELECT string_agg(rows_affected::text || ' ' || (tables->'public.users'->'columns'->>'email'), ',' ORDER BY rows_affected DESC) FROM gdpr_deletion_log WHERE subject_id = '$ADA'")"
[ "$logged" = "1 pseudonymize,0 pseudonymize" ] || fail "deletion log reads: $logged"

q -d postgres -c "DROP DATABASE IF EXISTS $DST" -c "CREATE DATABASE $DST"
pg_dump -d "$DB" | psql -X -q -v ON_ERROR_STOP=1 -d "$DST" >/dev/null
registry="$(q -d "$DST" -c "SELECT string_agg(column_name || ':' || erase_action, ',' ORDER BY column_name) FROM readiness_pii_columns")"
[ "$registry" = "email:pseudonymize,full_name:redact" ] || fail "registry after dump/restore: $registry"
[ "$(q -d "$DST" -c "SELECT count(*) FROM gdpr_deletion_log")" = 2 ] || fail "deletion log lost in dump/restore"
echo "gdpr_erase_user erases the demo user as registered, idempotently; registry and log survive pg_dump"
