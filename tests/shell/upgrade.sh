#!/usr/bin/env bash
# The upgrade path: install the previous version from its archived script,
# keep some user data in it, ALTER EXTENSION pg_readiness UPDATE, and compare
# with a fresh install of the current version: the same member objects, the
# same function signatures and flags, the same columns, views, grants and
# pg_dump configuration; the waivers and the registry rows survive.
. "$(dirname "$0")/lib.bash"
OLD=0.1.0
NEW="$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -1)"
[ "$OLD" != "$NEW" ] || fail "the current version is still $OLD"
extdir="$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/extension"
[ -f "$extdir/pg_readiness--$OLD--$NEW.sql" ] || fail "no upgrade script $OLD--$NEW installed (cargo pgrx install copies sql/pg_readiness--*--*.sql)"
# The previous version's install script is archived in the repository.
cp "$REPO_ROOT/sql/archive/pg_readiness--$OLD.sql" "$extdir/pg_readiness--$OLD.sql"
UP=readiness_upgraded
FRESH=readiness_fresh
trap 'drop_db $UP; drop_db $FRESH; rm -f "$extdir/pg_readiness--$OLD.sql"' EXIT
for db in $UP $FRESH; do q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null; done

q -d "$UP" -c "CREATE EXTENSION pg_readiness VERSION '$OLD'" >/dev/null
[ "$(q -d "$UP" -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_readiness'")" = "$OLD" ] || fail "$OLD did not install"
q -d "$UP" >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY, email text);
SELECT readiness_waive('missing_primary_key', 'public.legacy', 'retired next quarter', '2100-01-01');
INSERT INTO readiness_pii_columns VALUES ('users', 'email', 'email', 'id', 'pseudonymize');
-- The new library runs the old schema until the update: snapshots work.
SELECT readiness_snapshot();
SQL
q -d "$UP" -c "ALTER EXTENSION pg_readiness UPDATE" >/dev/null
[ "$(q -d "$UP" -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_readiness'")" = "$NEW" ] || fail "the update did not reach $NEW"
q -d "$FRESH" -c "CREATE EXTENSION pg_readiness" >/dev/null

# A description of everything the extension owns, independent of OIDs.
describe() {
    q -d "$1" <<'SQL'
WITH ext AS (SELECT oid, extconfig FROM pg_extension WHERE extname = 'pg_readiness')
SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
UNION ALL
SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') -> ' || pg_get_function_result(p.oid)
       || ' ' || p.provolatile::text || p.proisstrict::text || p.proparallel::text || p.prosecdef::text || coalesce(array_to_string(p.proconfig, ','), '')
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e', ext
 WHERE d.refobjid = ext.oid
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text
       || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e', ext
 WHERE d.refobjid = ext.oid
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(co.oid)
  FROM pg_constraint co JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = co.conrelid AND d.deptype = 'e', ext
 WHERE d.refobjid = ext.oid
UNION ALL
SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
  FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e', ext
 WHERE d.refobjid = ext.oid AND c.relkind = 'v'
UNION ALL
SELECT 'acl ' || c.relname || ' ' || coalesce(c.relacl::text, '')
  FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e', ext
 WHERE d.refobjid = ext.oid
UNION ALL
SELECT 'config ' || x::regclass::text FROM ext, unnest(ext.extconfig) x
ORDER BY 1
SQL
}
describe "$UP" >"/tmp/readiness_upgraded.txt"
describe "$FRESH" >"/tmp/readiness_fresh.txt"
if ! diff -u "/tmp/readiness_fresh.txt" "/tmp/readiness_upgraded.txt"; then
    fail "the upgraded extension differs from a fresh install (- fresh, + upgraded)"
fi
objects="$(wc -l <"/tmp/readiness_fresh.txt")"
rm -f /tmp/readiness_upgraded.txt /tmp/readiness_fresh.txt

[ "$(q -d "$UP" -c "SELECT reason FROM readiness_waivers")" = "retired next quarter" ] || fail "the waiver was lost"
[ "$(q -d "$UP" -c "SELECT count(*) FROM readiness_pii_columns")" = 1 ] || fail "the registry row was lost"
[ "$(q -d "$UP" -c "SELECT count(*) > 0 FROM readiness_history")" = t ] || fail "the history was lost"
# The upgraded extension works: the new snapshot writes the new table too.
q -d "$UP" -c "SELECT readiness_snapshot()" >/dev/null
[ "$(q -d "$UP" -c "SELECT count(*) FROM readiness_score_history")" = 1 ] || fail "readiness_snapshot() did not write the score history after the update"
echo "upgrade $OLD -> $NEW: $objects described objects identical to a fresh install; waivers, registry and history kept"
