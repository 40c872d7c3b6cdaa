//! In-server tests of the parser wrapper, lint_migration over realistic knex
//! migrations, a fuzz run that must never raise, and the migrations checks
//! over real tracking tables.

// `cargo pgrx test` calls every test as "tests".<name>(), so the module is `tests`.
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::pg_test_support::*;

    /// `statement:rule` rows of lint_migration.
    fn lint(sql: &str) -> Vec<String> {
        Spi::connect(|c| {
            c.select("SELECT statement || ':' || rule FROM lint_migration($1) ORDER BY statement, rule", None, &[sql.into()])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .collect()
        })
    }

    const TABLES: [&str; 10] =
        ["venues", "events", "ticket_types", "orders", "order_items", "tickets", "refunds", "payouts", "scans", "notes"];

    /// A knex-style baseline: one transaction creating ten tenant tables with
    /// RLS, and 50 indexes on them.
    fn baseline() -> String {
        let mut s = String::from("BEGIN;\nSET lock_timeout = '5s';\nSET statement_timeout = '60s';\n");
        s.push_str("CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);\n");
        for t in TABLES {
            s.push_str(&format!(
                "CREATE TABLE {t} (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  tenant_id uuid NOT NULL REFERENCES tenants (id),\n  code varchar(64) NOT NULL,\n  status text NOT NULL DEFAULT 'new',\n  amount numeric(12,2),\n  created_at timestamptz NOT NULL DEFAULT now()\n);\nALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n"
            ));
            for (i, cols) in ["tenant_id", "tenant_id, created_at", "tenant_id, status", "tenant_id, code", "code"].iter().enumerate() {
                s.push_str(&format!("CREATE INDEX idx_{t}_{i} ON {t} ({cols});\n"));
            }
        }
        s.push_str("COMMIT;\n");
        s
    }

    #[pg_test]
    fn knex_baseline_is_clean_then_later_migrations_on_live_tables_are_flagged() {
        let base = baseline();
        assert_eq!(base.matches("CREATE INDEX").count(), 50);
        assert_eq!(lint(&base), Vec::<String>::new(), "a baseline on new tables takes no lock worth reporting");
        // Apply it (without its own BEGIN/COMMIT: the test runs in a transaction).
        run(&base.replace("BEGIN;\n", "").replace("COMMIT;\n", ""));
        run("INSERT INTO tenants (name) VALUES ('t1')");
        // Over 10 MB, so SET NOT NULL's scan counts (lint::LARGE_TABLE_PAGES).
        run("INSERT INTO orders (tenant_id, code) SELECT (SELECT id FROM tenants), rpad('o' || g, 60, 'x') FROM generate_series(1, 120000) g");
        run("ANALYZE orders");
        let later = "-- 20240315120000_orders_priority.js
CREATE INDEX idx_orders_amount ON orders (amount);
ALTER TABLE orders ADD COLUMN priority int NOT NULL;
ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE orders ALTER COLUMN code TYPE varchar(32);
ALTER TABLE orders ALTER COLUMN code TYPE text;
ALTER TABLE orders ADD CONSTRAINT chk_amount CHECK (amount >= 0);
ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE (code);
ALTER TABLE orders ALTER COLUMN amount SET NOT NULL;
ALTER TABLE orders RENAME COLUMN status TO state;
ALTER TABLE notes DROP COLUMN amount;
DROP INDEX idx_orders_4;
-- readiness:ignore drop_table
DROP TABLE scans;
CREATE TABLE coupons (id serial PRIMARY KEY, tenant_id uuid NOT NULL, discount float8, valid_until timestamp);
DO $$ BEGIN PERFORM 1; END $$;";
        assert_eq!(
            lint(later),
            vec![
                "1:index_not_concurrent",
                "1:lock_timeout_missing",
                "1:statement_timeout_missing",
                "2:add_column_not_null_no_default",
                "3:add_column_volatile_default",
                "4:column_type_rewrite",
                "6:constraint_not_valid_missing",
                "7:unique_without_using_index",
                "8:set_not_null_scan",
                "9:rename_column",
                "10:drop_column",
                "11:drop_index_not_concurrent",
                "13:int_primary_key",
                "13:money_column_float",
                "13:rls_disabled_tenant_table",
                "13:timestamp_without_time_zone",
                "14:do_block_not_analysed",
            ]
        );
        // Near misses written the safe way.
        let safe = "SET lock_timeout = '5s';
SET statement_timeout = '60s';
CREATE INDEX CONCURRENTLY idx_orders_amount ON orders (amount);
ALTER TABLE orders ADD COLUMN priority int NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now();
ALTER TABLE orders ALTER COLUMN code TYPE varchar(128);
ALTER TABLE orders ADD CONSTRAINT chk_amount CHECK (amount >= 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT chk_amount;
CREATE UNIQUE INDEX CONCURRENTLY orders_code_key ON orders (code);
ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE USING INDEX orders_code_key;
ALTER TABLE orders ADD CONSTRAINT chk_amount_nn CHECK (amount IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT chk_amount_nn;
ALTER TABLE orders ALTER COLUMN amount SET NOT NULL;
DROP INDEX CONCURRENTLY idx_orders_4;";
        assert_eq!(lint(safe), Vec::<String>::new());
    }

    #[pg_test]
    fn parser_errors_are_rows_with_statement_and_position() {
        let rows = strings("SELECT statement || '|' || rule || '|' || message FROM lint_migration('SELECT 1;\nCREATE TABEL t (id int);')");
        assert_eq!(rows, vec!["2|syntax_error|syntax error at or near \"TABEL\" (at character 18)"]);
        assert_eq!(lint("BEGIN; CREATE INDEX CONCURRENTLY i ON pg_class (relname); COMMIT;"), vec!["2:concurrently_in_transaction"]);
        assert_eq!(lint(""), Vec::<String>::new());
        assert_eq!(strings("SELECT count(*)::text FROM lint_migration(NULL)"), vec!["0"]);
        // Deep nesting hits the parser's stack check: still one row, no ERROR.
        assert_eq!(strings("SELECT rule FROM lint_migration(repeat('(', 200000))"), vec!["syntax_error"]);
    }

    /// A small LCG (Knuth's MMIX constants): the same sequence on every run.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[pg_test]
    fn fuzz_lint_migration_never_raises() {
        let corpus = [baseline(), "ALTER TABLE t ADD COLUMN c int NOT NULL; DROP INDEX i; DO $$ BEGIN END $$; SELECT $1 FROM x WHERE a = 'it''s' /* c */ -- x\n;".into()];
        let tokens = ["(", ")", ";", "'", "\"", "$$", "$1", "--", "/*", "*/", "CREATE", "INDEX", "ALTER", "TABLE", "é", "\\", "E'\\x", "NOT VALID", "CONCURRENTLY", "BEGIN", "COMMIT", "DO", "\n"];
        let mut rng = Lcg(0x5eed_2024);
        for i in 0..400 {
            let base: Vec<char> = corpus[i % corpus.len()].chars().collect();
            let mut s: String = match i % 4 {
                // Truncated at a random character.
                0 => base[..rng.below(base.len() + 1)].iter().collect(),
                // Random tokens spliced in.
                1 => {
                    let mut v = base.clone();
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(v.len() + 1);
                        let t: Vec<char> = tokens[rng.below(tokens.len())].chars().collect();
                        v.splice(at..at, t);
                    }
                    v.into_iter().collect()
                }
                // A random slice of the script.
                2 => {
                    let a = rng.below(base.len());
                    let b = a + rng.below(base.len() - a + 1);
                    base[a..b].iter().collect()
                }
                // Random printable characters and tokens.
                _ => (0..rng.below(200))
                    .map(|_| if rng.below(3) == 0 { tokens[rng.below(tokens.len())].to_string() } else { char::from(32 + rng.below(95) as u8).to_string() })
                    .collect(),
            };
            s = s.replace('\0', "");
            let n = Spi::get_one_with_args::<i64>("SELECT count(*) FROM lint_migration($1)", &[s.as_str().into()]);
            assert!(n.is_ok(), "iteration {i} raised on {s:?}: {n:?}");
        }
        // The backend is still fine.
        assert_eq!(strings("SELECT 'alive'"), vec!["alive"]);
    }

    #[pg_test]
    fn tracking_checks_on_real_knex_tables_and_privileges() {
        run("CREATE ROLE readiness_m_migrator LOGIN");
        run("CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch int, migration_time timestamptz)");
        run("CREATE TABLE knex_migrations_lock (index serial PRIMARY KEY, is_locked int)");
        run("ALTER TABLE knex_migrations OWNER TO readiness_m_migrator");
        run("ALTER TABLE knex_migrations_lock OWNER TO readiness_m_migrator");
        run("INSERT INTO knex_migrations (name, batch) VALUES ('20240101093000_baseline.js', 1)");
        run("INSERT INTO knex_migrations_lock (is_locked) VALUES (0)");
        assert_eq!(fails("migration_table_missing"), Vec::<String>::new());
        assert_eq!(fails("migration_lock_stuck"), Vec::<String>::new());
        assert_eq!(fails("migration_naming_sequential"), Vec::<String>::new());
        assert_eq!(fails("role_lock_timeout_unset"), vec!["readiness_m_migrator"]);
        run("UPDATE knex_migrations_lock SET is_locked = 1");
        run("INSERT INTO knex_migrations (name, batch) VALUES ('002_fix.js', 2)");
        assert_eq!(fails("migration_lock_stuck"), vec!["public.knex_migrations_lock"]);
        assert_eq!(fails("migration_naming_sequential"), vec!["public.knex_migrations"]);
        run("DO $$ BEGIN EXECUTE format('ALTER ROLE readiness_m_migrator IN DATABASE %I SET lock_timeout = ''5s''', current_database()); END $$");
        assert_eq!(fails("role_lock_timeout_unset"), Vec::<String>::new());
        // Without SELECT on the lock table: skipped with the reason, never an error.
        run("CREATE ROLE readiness_m_auditor NOLOGIN IN ROLE pg_monitor");
        run("GRANT SELECT ON knex_migrations TO readiness_m_auditor");
        run("SET ROLE readiness_m_auditor");
        let st = strings("SELECT status || ': ' || detail FROM readiness_report(ARRAY['migrations']) WHERE check_id = 'migration_lock_stuck' ORDER BY status");
        run("RESET ROLE");
        assert!(st.iter().any(|s| s == "skipped: no SELECT privilege on public.knex_migrations_lock"), "{st:?}");
        assert!(!st.iter().any(|s| s.starts_with("error")), "{st:?}");
    }
}
