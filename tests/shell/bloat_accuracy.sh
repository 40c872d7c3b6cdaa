#!/usr/bin/env bash
# Accuracy of the catalog bloat estimate (pg_readiness.bloat_method =
# 'estimate', no table data read) against what pgstattuple / pgstatindex
# measure, on tables with known waste. Prints the comparison table and fails
# when any case is off by more than 10 percentage points.
#
# "Waste" is the space a rebuild would reclaim: for a table, free space plus
# dead tuples beyond what its fillfactor reserves (pgstattuple); for a btree,
# leaf space below the index fillfactor (90) plus empty and deleted pages
# (pgstatindex), as a share of the whole relation.
. "$(dirname "$0")/lib.bash"
DB=readiness_bloat
trap 'drop_db $DB' EXIT
q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

q -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_readiness;
CREATE EXTENSION pgstattuple;

-- Narrow rows, 0% / 30% / 60% of them deleted (spread over every page).
CREATE TABLE del_0 (id bigint PRIMARY KEY, payload text NOT NULL);
CREATE TABLE del_30 (id bigint PRIMARY KEY, payload text NOT NULL);
CREATE TABLE del_60 (id bigint PRIMARY KEY, payload text NOT NULL);
-- An index that lives through the mass delete (the leaves stay, mostly empty).
CREATE INDEX del_60_payload ON del_60 (payload);
INSERT INTO del_0 SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
INSERT INTO del_30 SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
INSERT INTO del_60 SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
DELETE FROM del_30 WHERE id % 10 < 3;
DELETE FROM del_60 WHERE id % 10 < 6;

-- TOAST-heavy: 4 kB incompressible documents stored out of line, 30% deleted.
-- The heap holds 18-byte TOAST pointers; the documents must not count as heap bloat.
CREATE TABLE toast_heavy (id bigint PRIMARY KEY, doc text NOT NULL);
ALTER TABLE toast_heavy ALTER COLUMN doc SET STORAGE EXTERNAL;
INSERT INTO toast_heavy
SELECT g, (SELECT string_agg(md5(g::text || '-' || i), '') FROM generate_series(1, 128) i)
  FROM generate_series(1, 5000) g;
DELETE FROM toast_heavy WHERE id % 10 < 3;

-- Many nullable columns, mostly NULL (null bitmap, alignment), 30% deleted.
CREATE TABLE many_nulls (
    id bigint PRIMARY KEY,
    c01 int, c02 int, c03 int, c04 int, c05 int, c06 int, c07 int, c08 int, c09 int, c10 int,
    c11 bigint, c12 bigint, c13 bigint, c14 bigint, c15 bigint,
    c16 smallint, c17 smallint, c18 boolean, c19 boolean, c20 timestamptz,
    c21 text, c22 text, c23 text, c24 numeric, c25 numeric,
    c26 int, c27 int, c28 int, c29 int, c30 int
);
INSERT INTO many_nulls (id, c01, c05, c11, c16, c18, c20, c21, c24, c30)
SELECT g,
       CASE WHEN g % 5 = 0 THEN g END,
       CASE WHEN g % 3 = 0 THEN g END,
       CASE WHEN g % 4 = 0 THEN g END,
       CASE WHEN g % 2 = 0 THEN (g % 1000)::smallint END,
       g % 7 = 0,
       CASE WHEN g % 6 = 0 THEN now() END,
       CASE WHEN g % 8 = 0 THEN 'note ' || g END,
       CASE WHEN g % 9 = 0 THEN g * 1.5 END,
       CASE WHEN g % 10 = 0 THEN g END
  FROM generate_series(1, 150000) g;
DELETE FROM many_nulls WHERE id % 10 >= 7;

-- Dedup-friendly inserts: a low-cardinality index built first, then filled.
CREATE TABLE dedup (id bigint, status int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX dedup_status ON dedup (status);
INSERT INTO dedup (id, status) SELECT g, g % 5 FROM generate_series(1, 300000) g;

-- A low-cardinality index deduplicated at build time.
CREATE TABLE dedup_built (id bigint, kind int NOT NULL);
INSERT INTO dedup_built SELECT g, g % 20 FROM generate_series(1, 300000) g;
CREATE INDEX dedup_built_kind ON dedup_built (kind);
SQL
q -d "$DB" -c "VACUUM ANALYZE" >/dev/null

table="$(q -d "$DB" -F ' | ' <<'SQL'
WITH est AS (
    SELECT object_type, object_name, wasted_pct, note FROM readiness_bloat_estimates()
     WHERE object_name !~ '^public\.readiness_' AND object_name !~ 'gdpr|pii'
), exact AS (
    SELECT 'table' AS object_type, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object_name,
           round((100.0 * greatest(0, s.free_space + s.dead_tuple_len) / nullif(s.table_len, 0))::numeric, 1) AS pct
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL pgstattuple(c.oid::regclass) s
     WHERE n.nspname = 'public' AND c.relkind = 'r'
    UNION ALL
    SELECT 'index', quote_ident(n.nspname) || '.' || quote_ident(c.relname),
           round((100.0 * (s.leaf_pages * greatest(0, 1 - s.avg_leaf_density / 90.0) + s.empty_pages + s.deleted_pages)
                  * 8192 / nullif(s.index_size, 0))::numeric, 1)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
      CROSS JOIN LATERAL pgstatindex(c.oid::regclass) s
     WHERE n.nspname = 'public' AND c.relkind = 'i'
)
SELECT e.object_type, e.object_name, coalesce(e.wasted_pct::text, 'skipped'), x.pct,
       CASE WHEN e.wasted_pct IS NULL THEN '-' ELSE round(abs(e.wasted_pct::numeric - x.pct), 1)::text END,
       coalesce(e.note, '')
  FROM est e JOIN exact x USING (object_type, object_name)
 WHERE e.object_name IN ('public.del_0', 'public.del_30', 'public.del_60', 'public.toast_heavy', 'public.many_nulls',
                         'public.del_0_pkey', 'public.del_60_pkey', 'public.del_60_payload', 'public.dedup_status',
                         'public.dedup_built_kind', 'public.many_nulls_pkey')
 ORDER BY 1 DESC, 2
SQL
)"
echo
echo "bloat estimate (catalog and pg_stats only) vs pgstattuple / pgstatindex, wasted % of the relation"
printf '%-6s | %-24s | %8s | %8s | %6s | %s\n' kind object estimate exact error note
printf -- '-------+--------------------------+----------+----------+--------+-----\n'
bad=0
n=0
while IFS='|' read -r kind obj est exact err note; do
    kind="$(echo $kind)"; obj="$(echo $obj)"; est="$(echo $est)"; exact="$(echo $exact)"; err="$(echo $err)"
    printf '%-6s | %-24s | %8s | %8s | %6s |%s\n' "$kind" "$obj" "$est" "$exact" "$err" "$note"
    n=$((n + 1))
    if [ "$err" = "-" ] || awk -v e="$err" 'BEGIN { exit !(e > 10) }'; then
        bad=$((bad + 1))
    fi
done <<<"$table"
echo
[ "$n" -eq 11 ] || fail "expected 11 cases, got $n"
[ "$bad" -eq 0 ] || fail "$bad case(s) off by more than 10 percentage points (or not estimated)"
echo "bloat accuracy: $n cases, every estimate within 10 percentage points of pgstattuple/pgstatindex"
