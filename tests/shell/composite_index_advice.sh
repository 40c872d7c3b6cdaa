#!/usr/bin/env bash
# composite_index_candidate end to end: pg_stat_statements and hypopg in the
# database, the seed's payment query run as a real workload (separate
# statements, so pg_stat_statements counts each call), then the report must
# suggest (tenant_id, status, created_at) with the planner's cost before and
# after a hypothetical index, leave no hypothetical index behind, and pass
# once the suggested index exists.
. "$(dirname "$0")/lib.bash"
DB=readiness_workload
[ -n "${KEEP_DB:-}" ] || trap "drop_db $DB" EXIT
q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

q -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_readiness;
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION hypopg;
CREATE TABLE tenants (id uuid PRIMARY KEY);
CREATE TABLE payment_transactions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    amount     numeric(12, 2) NOT NULL,
    status     text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The seed's index: tenant first, then time, but not the status.
CREATE INDEX idx_payment_transactions_tenant_created ON payment_transactions (tenant_id, created_at);
INSERT INTO tenants SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid FROM generate_series(1, 20) g;
INSERT INTO payment_transactions (tenant_id, amount, status, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad((1 + g % 20)::text, 12, '0'))::uuid,
       (g % 500) + 0.99,
       CASE WHEN g % 10 < 7 THEN 'captured' WHEN g % 10 = 7 THEN 'pending' WHEN g % 10 = 8 THEN 'failed' ELSE 'refunded' END,
       timestamptz '2024-01-01 00:00+00' + (g % 730) * interval '1 day' + (g % 86400) * interval '1 second'
  FROM generate_series(1, 200000) g;
ANALYZE;
SELECT pg_stat_statements_reset();
SQL

# The workload: 150 calls with different tenants, as an application sends them.
for i in $(seq 1 150); do
    t=$(printf '00000000-0000-4000-8000-%012d' $((1 + i % 20)))
    echo "SELECT id, amount FROM payment_transactions WHERE tenant_id = '$t' AND status = 'pending' AND created_at > '2025-10-01' ORDER BY created_at DESC LIMIT 50;"
done | q -d "$DB" >/dev/null

report() {
    q -d "$DB" -F '|' <<'SQL'
SET pg_readiness.workload_min_calls = 100;
SET pg_readiness.workload_min_total_ms = 0;
SELECT status, coalesce(remediation, ''), coalesce(evidence->'hypopg'->>'cost_before', ''), coalesce(evidence->'hypopg'->>'cost_after', ''),
       evidence->>'columns'
  FROM readiness_report(ARRAY['indexes']) WHERE check_id = 'composite_index_candidate';
SELECT 'hypothetical=' || count(*) FROM hypopg_list_indexes;
SQL
}

out=$(report)
echo "$out"
row=$(echo "$out" | grep '^fail|') || fail "no composite_index_candidate finding"
IFS='|' read -r _ remediation before after columns <<<"$row"
[ "$remediation" = "CREATE INDEX CONCURRENTLY ON public.payment_transactions (tenant_id, status, created_at);" ] \
    || fail "unexpected remediation: $remediation"
[ "$columns" = '["tenant_id", "status", "created_at"]' ] || fail "unexpected columns: $columns"
[ -n "$before" ] && [ -n "$after" ] || fail "no hypopg costs in the evidence"
awk -v b="$before" -v a="$after" 'BEGIN { exit !(a < b) }' || fail "the hypothetical index does not lower the cost ($before -> $after)"
echo "$out" | grep -qx 'hypothetical=0' || fail "hypothetical indexes left behind"

# Near miss: with the suggested index in place, the check passes.
q -d "$DB" -c "CREATE INDEX ON payment_transactions (tenant_id, status, created_at)" >/dev/null
out=$(report)
echo "$out" | grep -q '^pass|' || fail "still failing with the index in place: $out"
echo "composite_index_advice: ok (cost $before -> $after)"
