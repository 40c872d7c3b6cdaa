-- Deterministic synthetic multi-tenant catalog for bench/scale_bench.sh.
--
--   psql -v tables=10000 -f bench/scale_catalog.sql   (into an empty database)
--
-- Schema `app`, tables app.t00001 .. app.tNNNNN, each with:
--   id uuid primary key, tenant_id uuid not null, 1-2 foreign keys (uuid
--   columns to earlier tables), plain columns up to 4-8 columns in all;
--   1-3 indexes (the primary key, a tenant index on 2/3 of the tables, an
--   index leading with the first FK column on 1/3: the other FKs are
--   unindexed, as in real catalogs);
--   row level security on every second table, with a tenant policy (half of
--   them calling current_setting() per row, half wrapped in a sub-SELECT);
-- plus a view over every 10th table, a SECURITY DEFINER function per 20
-- tables (every second one without a pinned search_path) and SELECT grants
-- to a role on every 5th table. Empty tables: only the catalog matters.
--
-- Everything is derived from the table number, so two runs build the same
-- catalog. Objects are created in batches of 250 tables, one transaction
-- each, to stay well inside max_locks_per_transaction.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scale_bench_app') THEN
        CREATE ROLE scale_bench_app NOLOGIN;
    END IF;
END
$$;

CREATE SCHEMA app;

CREATE PROCEDURE pg_temp.scale_bench_make(lo int, hi int)
LANGUAGE plpgsql AS $proc$
DECLARE
    t text;
    nfk int;
    nplain int;
    cols text;
    plain_types text[] := ARRAY['text', 'integer', 'timestamptz', 'jsonb', 'numeric(12,2)', 'boolean'];
    plain_names text[] := ARRAY['name', 'quantity', 'created_at', 'attributes', 'amount', 'active'];
    ref1 int;
    ref2 int;
    k int;
BEGIN
    FOR i IN lo..hi LOOP
        t := format('t%s', lpad(i::text, 5, '0'));
        nfk := 1 + (i % 2);
        -- 4..8 columns: id, tenant_id, the FK columns, then plain ones.
        nplain := greatest(4 + (i % 5) - 2 - nfk, 0);
        ref1 := greatest(i - 1, 1);
        ref2 := 1 + ((i * 7919) % greatest(i - 1, 1));
        cols := 'id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL';
        cols := cols || format(', parent_id uuid REFERENCES app.%I (id)', format('t%s', lpad(ref1::text, 5, '0')));
        IF nfk = 2 THEN
            cols := cols || format(', other_id uuid REFERENCES app.%I (id) ON DELETE CASCADE', format('t%s', lpad(ref2::text, 5, '0')));
        END IF;
        FOR k IN 1..nplain LOOP
            cols := cols || format(', %I %s', plain_names[1 + (i + k) % 6], plain_types[1 + (i + k) % 6]);
        END LOOP;
        EXECUTE format('CREATE TABLE app.%I (%s)', t, cols);
        IF i % 3 <> 0 THEN
            EXECUTE format('CREATE INDEX %I ON app.%I (tenant_id)', t || '_tenant_idx', t);
        END IF;
        IF i % 3 = 1 THEN
            EXECUTE format('CREATE INDEX %I ON app.%I (parent_id, tenant_id)', t || '_parent_idx', t);
        END IF;
        IF i % 2 = 0 THEN
            EXECUTE format('ALTER TABLE app.%I ENABLE ROW LEVEL SECURITY', t);
            IF i % 4 = 0 THEN
                EXECUTE format($p$CREATE POLICY tenant_isolation ON app.%I
                                 USING (tenant_id = (SELECT current_setting('app.current_tenant')::uuid))$p$, t);
            ELSE
                EXECUTE format($p$CREATE POLICY tenant_isolation ON app.%I
                                 USING (tenant_id = current_setting('app.current_tenant')::uuid)$p$, t);
            END IF;
        END IF;
        IF i % 10 = 0 THEN
            EXECUTE format('CREATE VIEW app.%I AS SELECT c.id, c.tenant_id, p.id AS parent FROM app.%I c JOIN app.%I p ON p.id = c.parent_id',
                           format('v%s', lpad(i::text, 5, '0')), t, format('t%s', lpad(ref1::text, 5, '0')));
        END IF;
        IF i % 20 = 0 THEN
            EXECUTE format('CREATE FUNCTION app.%I(p_tenant uuid) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER %s AS %L',
                           format('f%s', lpad(i::text, 5, '0')),
                           CASE WHEN i % 40 = 0 THEN 'SET search_path = pg_catalog, app' ELSE '' END,
                           format('SELECT count(*) FROM app.%I WHERE tenant_id = p_tenant', t));
        END IF;
        IF i % 5 = 0 THEN
            EXECUTE format('GRANT SELECT, INSERT ON app.%I TO scale_bench_app', t);
        END IF;
        IF i % 250 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
$proc$;

CALL pg_temp.scale_bench_make(1, :tables);
ANALYZE;
