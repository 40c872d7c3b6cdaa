#!/usr/bin/env bash
# No output of the extension reveals the raw personal data in the demo
# database: every report column, the JSON and markdown documents, the fix
# script, metrics, history, pii_scan(), the assert_ready() error with its
# DETAIL, every NOTICE, and the server log written meanwhile are searched for
# the raw test card number, SSN, e-mail addresses and phone number.
. "$(dirname "$0")/lib.bash"
DB=readiness_leak
out="$(mktemp)"
trap 'drop_db $DB; rm -f "$out"' EXIT
fresh_demo_db "$DB"

log="$(ls /tmp/pg_readiness_cluster/server.log 2>/dev/null || true)"
log_offset=0
[ -z "$log" ] || log_offset="$(stat -c %s "$log")"

psql -X -d "$DB" >"$out" 2>&1 <<'SQL' || true
SET client_min_messages = debug1;
\pset format unaligned
SELECT * FROM readiness_report();
SELECT * FROM pii_scan();
SELECT readiness_report_json();
SELECT readiness_report_markdown();
SELECT remediation_script('info');
SELECT * FROM remediation_statements('info');
SELECT * FROM readiness_metrics;
SELECT readiness_snapshot();
SELECT * FROM readiness_history;
SELECT * FROM readiness_score();
SELECT * FROM readiness_summary();
\set VERBOSITY verbose
SELECT assert_ready('info');
SELECT * FROM readiness_report(ARRAY['pii'], 'nonsense');
SQL

grep -q "card_data_detected" "$out" || fail "the report did not run (no card_data_detected row)"
grep -q "4111 11\*\* \*\*\*\* 1111" "$out" || fail "the masked example is missing: the test would prove nothing"
raw=("4111 1111 1111 1111" "4111111111111111" "1111 1111 1111" "219-09-9999" "219099999"
     "ada@northwind.example" "alan@harbor.example" "+47 555 01 23" "555 01 23")
for r in "${raw[@]}"; do
    if grep -qF -- "$r" "$out"; then
        grep -nF -- "$r" "$out" | head -3 >&2
        fail "raw value '$r' appears in the extension's output"
    fi
done
if [ -n "$log" ]; then
    tail -c +"$((log_offset + 1))" "$log" >"$out.log"
    for r in "${raw[@]}"; do
        if grep -qF -- "$r" "$out.log"; then fail "raw value '$r' appears in the server log"; fi
    done
    rm -f "$out.log"
fi
echo "no raw card number, SSN, e-mail or phone in $(wc -l <"$out") lines of output"
