#!/usr/bin/env bash
# A catalog of hostile names: quotes, semicolons, comment markers, newlines,
# dollar quotes, non-ASCII, 63-byte names and reserved words, in schemas,
# tables, columns, constraints, indexes, policies and roles. The whole fix
# script runs cleanly through psql, every finding it claims to fix then
# passes, and the markdown audit keeps every name inside its table cell.
. "$(dirname "$0")/lib.bash"
DB=readiness_hostile
work="$(mktemp -d)"
trap 'drop_db $DB; rm -rf "$work"; q -d postgres -c "DROP ROLE IF EXISTS \"r\"\"ole; --\"" >/dev/null 2>&1 || true' EXIT
q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_readiness;
DROP ROLE IF EXISTS "r""ole; --";
CREATE ROLE "r""ole; --" LOGIN BYPASSRLS;
CREATE SCHEMA "we""ird; schema";
CREATE TABLE "we""ird; schema"."tenants" (id uuid PRIMARY KEY);
-- A tenant table with every kind of gap, each name hostile.
CREATE TABLE "we""ird; schema"."Order ""Items""; DROP TABLE x;--" (
    "id" uuid,
    tenant_id uuid,
    "price; --" numeric,
    "line
break status" text,
    "$$amount$$" double precision,
    "select" int,
    "注文_quantity" int,
    "e-mail" text,
    "when" timestamp,
    "parent $$ id" uuid
);
INSERT INTO "we""ird; schema"."tenants" VALUES ('11111111-1111-4111-8111-111111111111');
INSERT INTO "we""ird; schema"."Order ""Items""; DROP TABLE x;--" (id, tenant_id)
    SELECT gen_random_uuid(), '11111111-1111-4111-8111-111111111111' FROM generate_series(1, 3);
CREATE UNIQUE INDEX "uniq ""id""; --" ON "we""ird; schema"."Order ""Items""; DROP TABLE x;--" ("id");
ALTER TABLE "we""ird; schema"."Order ""Items""; DROP TABLE x;--" ALTER COLUMN "id" SET NOT NULL;
CREATE INDEX "dup 1" ON "we""ird; schema"."Order ""Items""; DROP TABLE x;--" ("select");
CREATE INDEX "dup 2" ON "we""ird; schema"."Order ""Items""; DROP TABLE x;--" ("select");
CREATE TABLE "注文テーブル" (id int PRIMARY KEY, tenant_id uuid NOT NULL, "parent $$ id" uuid);
CREATE TABLE "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" (
    id uuid PRIMARY KEY,
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" uuid
        REFERENCES "we""ird; schema"."Order ""Items""; DROP TABLE x;--" ("id")
);
CREATE TABLE "user" (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, "full name" text);
CREATE INDEX ON "user" (tenant_id);
ALTER TABLE "user" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "p""ol; --" ON "user" USING (tenant_id = current_setting('app.current_tenant')::uuid);
CREATE POLICY "open
policy" ON "user" USING (true);
ALTER TABLE "user" ADD CONSTRAINT "chk ""x""" CHECK (tenant_id IS NOT NULL) NOT VALID;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO "r""ole; --";
SELECT pg_stat_force_next_flush();
ANALYZE;
SQL

state() {
    q -d "$DB" -F $'\t' -c "SELECT check_id, coalesce(replace(object_name, E'\n', '\\n'), '-'), status,
        EXISTS (SELECT 1 FROM regexp_split_to_table(coalesce(remediation, '--'), E'\n') l WHERE l !~ '^--')
        FROM readiness_report() ORDER BY 1, 2"
}
before="$(state)"
hostile="$(grep -cE $'\t''fail'$'\t''t$' <<<"$before" || true)"
[ "$hostile" -ge 15 ] || { echo "$before" >&2; fail "expected many fixable findings on hostile names, got $hostile"; }

q -d "$DB" -c "SELECT remediation_script('info')" >"$work/fix.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$work/fix.sql" >"$work/fix.out" 2>&1 || { tail -20 "$work/fix.out" >&2; fail "the fix script failed in psql"; }
after="$(state)"
while IFS=$'\t' read -r check object status fixable; do
    [ "$status" = fail ] && [ "$fixable" = t ] || continue
    if grep -qF "$check"$'\t'"$object"$'\t'"fail"$'\t' <<<"$after"; then fail "$check on $object still fails after the script"; fi
done <<<"$before"

# Every remediation of the report also runs on its own, statement by statement.
n="$(q -d "$DB" -c "SELECT count(*) FROM remediation_statements('info')")"
# Names stay inside their markdown table cells: every table row has its cells.
q -d "$DB" -c "SELECT readiness_report_markdown()" >"$work/audit.md"
# A name with a newline or a pipe must not break a table row: every line
# that starts a row also ends it, and no line continues one.
bad="$(grep -nE '^\|' "$work/audit.md" | grep -vE '\|$' | head -3 || true)"
[ -z "$bad" ] || fail "a markdown table row is broken: $bad"
grep -q 'Order ""Items""; DROP TABLE x;--' "$work/audit.md" || fail "the hostile table is missing from the audit"
echo "hostile names: $hostile fixable findings, the fix script ran cleanly and fixed them all ($n statements left, preamble included)"
