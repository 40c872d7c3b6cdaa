#!/usr/bin/env bash
# Everything runs with the caller's rights (no SECURITY DEFINER): a role with
# no privileges cannot use any extension function to read a table it has no
# SELECT on, nor change waivers, the PII registry, the erasure log or the
# history without the grants the README documents.
. "$(dirname "$0")/lib.bash"
DB=readiness_privs
ROLE=readiness_nobody
cleanup() {
    drop_db "$DB"
    q -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" -c "DROP ROLE IF EXISTS $ROLE" -c "CREATE ROLE $ROLE LOGIN" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_readiness;
CREATE TABLE vault (subject uuid PRIMARY KEY, email text, notes text);
INSERT INTO vault VALUES ('aaaaaaaa-0000-4000-8000-000000000009', 'grace@vault.example', 'card 4111 1111 1111 1111; SSN 219-09-9999');
REVOKE ALL ON vault FROM PUBLIC;
INSERT INTO readiness_pii_columns VALUES ('vault', 'email', 'email', 'subject', 'pseudonymize');
SELECT pg_stat_force_next_flush();
ANALYZE vault;
SQL
before="$(q -d "$DB" -c "SELECT md5(v::text) FROM vault v")"

as_role() { psql -X -v ON_ERROR_STOP=1 -U "$ROLE" -d "$DB" -At -c "$1" 2>&1; }
expect_denied() {
    local what="$1" sql="$2" out
    if out="$(as_role "$sql")"; then fail "$what succeeded for a role without privileges: $out"; fi
    grep -q "permission denied" <<<"$out" || fail "$what failed for another reason: $out"
    echo "denied: $what"
}

# Reading: every output runs, none shows the table's values.
out="$(as_role "SELECT * FROM readiness_report(); SELECT * FROM pii_scan(); SELECT readiness_report_json(); SELECT readiness_report_markdown(); SELECT remediation_script('info'); SELECT * FROM readiness_metrics;")" \
    || fail "a read-only output raised an ERROR: $out"
for raw in "grace@vault.example" "4111 1111 1111 1111" "219-09-9999"; do
    if grep -qF "$raw" <<<"$out"; then fail "a raw value of vault reached a role without SELECT on it: $raw"; fi
done
grep -q "no SELECT privilege on public.vault" <<<"$out" || fail "sampling of vault is not reported as skipped"
echo "read: every output ran, vault's values stayed hidden and its sampling was skipped"

# Writing: each needs the grant the README documents.
expect_denied "readiness_waive()" "SELECT readiness_waive('missing_primary_key', NULL, 'not mine to waive')"
expect_denied "INSERT into readiness_pii_columns" "INSERT INTO readiness_pii_columns VALUES ('vault', 'notes', 'free_text', 'subject', 'redact')"
expect_denied "DELETE from readiness_waivers" "DELETE FROM readiness_waivers"
expect_denied "readiness_snapshot()" "SELECT readiness_snapshot()"
expect_denied "gdpr_erase_user() on a table it may not change" "SELECT gdpr_erase_user('aaaaaaaa-0000-4000-8000-000000000009')"
expect_denied "reading gdpr_deletion_log" "SELECT count(*) FROM gdpr_deletion_log"

after="$(q -d "$DB" -c "SELECT md5(v::text) FROM vault v")"
[ "$before" = "$after" ] || fail "vault changed"
[ "$(q -d "$DB" -c "SELECT count(*) FROM readiness_waivers")" = 0 ] || fail "a waiver was written"
[ "$(q -d "$DB" -c "SELECT count(*) FROM readiness_pii_columns")" = 1 ] || fail "the registry changed"
[ "$(q -d "$DB" -c "SELECT count(*) FROM gdpr_deletion_log")" = 0 ] || fail "an erasure was logged"

# With the documented grants the same role can do each of them.
q -d "$DB" -c "GRANT INSERT, UPDATE ON readiness_waivers TO $ROLE" >/dev/null
as_role "SELECT readiness_waive('missing_primary_key', NULL, 'accepted for the import tables')" >/dev/null || fail "readiness_waive() failed with INSERT, UPDATE on readiness_waivers"
echo "privilege safety: reads leak nothing, writes need the documented grants"
