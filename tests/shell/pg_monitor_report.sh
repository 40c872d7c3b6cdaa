#!/usr/bin/env bash
# The report does not need superuser: a LOGIN role that is only a member of
# pg_monitor runs every output on the demo database with no ERROR and no
# `error` row. What it may not read (other roles' password hashes, table data
# it has no SELECT on) is `skipped` with the reason.
. "$(dirname "$0")/lib.bash"
DB=readiness_monitor
ROLE=readiness_monitor_only
trap 'drop_db $DB; q -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true' EXIT
fresh_demo_db "$DB"
q -d postgres -c "DROP ROLE IF EXISTS $ROLE" -c "CREATE ROLE $ROLE LOGIN IN ROLE pg_monitor" >/dev/null

out="$(psql -X -v ON_ERROR_STOP=1 -U "$ROLE" -d "$DB" -At <<'SQL' 2>&1
SELECT 'rows:' || count(*) FROM readiness_report();
SELECT 'errors:' || count(*) FROM readiness_report() WHERE status = 'error';
SELECT 'fail:' || count(*) FROM readiness_report() WHERE status = 'fail';
SELECT 'skipped:' || check_id || ':' || coalesce(object_name, '-') FROM readiness_report() WHERE status = 'skipped' ORDER BY 1;
SELECT 'score:' || applicable FROM readiness_score();
SELECT 'json:' || jsonb_array_length(readiness_report_json()->'findings');
SELECT 'markdown:' || (length(readiness_report_markdown()) > 0);
SELECT 'metrics:' || count(*) FROM readiness_metrics;
SELECT 'checks:' || count(*) FROM readiness_checks;
SELECT 'scan:' || count(*) FROM pii_scan();
SQL
)" || { echo "$out"; fail "the report raised an ERROR for a pg_monitor-only role"; }
echo "$out"
grep -q '^errors:0$' <<<"$out" || fail "error rows for a pg_monitor-only role"
grep -q '^fail:[1-9]' <<<"$out" || fail "no failing findings: the report saw nothing"
# The critical demo findings are visible without superuser.
rows="$(psql -X -U "$ROLE" -d "$DB" -At -c "SELECT check_id || ':' || object_name FROM readiness_report(NULL, 'critical') WHERE status = 'fail' ORDER BY 1")"
grep -q '^rls_disabled_tenant_table:public.orders$' <<<"$rows" || fail "rls_disabled_tenant_table not reported"
grep -q '^card_column_name:public.saved_cards.card_number$' <<<"$rows" || fail "card_column_name not reported"
# Tables it has no SELECT on are skipped for sampling, not errors.
grep -q '^skipped:card_data_detected:public.orders$' <<<"$out" || fail "sampling of an unreadable table is not reported as skipped"
echo "pg_monitor-only report: complete, no ERROR"
