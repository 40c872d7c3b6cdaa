//! In-server tests of the maintenance, configuration and privileges checks:
//! real roles, grants, functions, views and settings a test transaction can
//! change (ALTER DATABASE/ROLE ... SET are transactional), and the report as
//! a pg_monitor member without superuser.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::pg_test_support::*;

    /// `ALTER DATABASE <this database> <rest>`.
    fn alter_database(rest: &str) {
        let rest = rest.replace('\'', "''");
        run(&format!("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I {rest}', current_database()); END $$"));
    }

    #[pg_test]
    fn public_schema_and_table_privileges_with_real_grants() {
        run("CREATE ROLE readiness_o_app NOLOGIN");
        run("CREATE SCHEMA open_area");
        run("GRANT CREATE ON SCHEMA open_area TO PUBLIC");
        run("CREATE SCHEMA app_area");
        run("GRANT CREATE ON SCHEMA app_area TO readiness_o_app");
        run("CREATE TABLE app_area.shared (id int PRIMARY KEY)");
        run("CREATE TABLE app_area.private (id int PRIMARY KEY)");
        run("GRANT SELECT, UPDATE ON app_area.shared TO PUBLIC");
        run("GRANT SELECT ON app_area.private TO readiness_o_app");
        assert_eq!(fails("public_schema_create"), vec!["open_area"]);
        assert_eq!(fails("public_table_privileges"), vec!["app_area.shared"]);
        for f in remediations("public_schema_create").iter().chain(remediations("public_table_privileges").iter()) {
            run(f);
        }
        assert_eq!(statuses("public_schema_create"), vec!["pass"]);
        assert_eq!(statuses("public_table_privileges"), vec!["pass"]);
    }

    #[pg_test]
    fn security_definer_functions_search_path_and_execute() {
        run("CREATE ROLE readiness_o_dev NOLOGIN");
        run("CREATE SCHEMA scratch");
        run("GRANT CREATE ON SCHEMA scratch TO readiness_o_dev");
        run("CREATE FUNCTION public.no_path() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'");
        run("CREATE FUNCTION public.writable_path(a uuid) RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = scratch, pg_temp AS 'SELECT 1'");
        run("CREATE FUNCTION public.pinned() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'SELECT 1'");
        run("REVOKE EXECUTE ON FUNCTION public.pinned() FROM PUBLIC");
        run("CREATE FUNCTION public.invoker() RETURNS int LANGUAGE sql AS 'SELECT 1'");
        run("CREATE PROCEDURE public.proc_no_path() LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'");
        assert_eq!(fails("security_definer_search_path"), vec!["public.no_path()", "public.proc_no_path()", "public.writable_path(pg_catalog.uuid)"]);
        assert_eq!(fails("security_definer_public_execute"), vec!["public.no_path()", "public.proc_no_path()", "public.writable_path(pg_catalog.uuid)"]);
        let fixes = remediations("security_definer_search_path");
        assert!(fixes[1].contains("ALTER PROCEDURE public.proc_no_path() SET search_path = pg_catalog, public, pg_temp;"), "{}", fixes[1]);
        for f in fixes.iter().chain(remediations("security_definer_public_execute").iter()) {
            run(f);
        }
        assert_eq!(statuses("security_definer_search_path"), vec!["pass"]);
        assert_eq!(statuses("security_definer_public_execute"), vec!["pass"]);
        let path = Spi::get_one::<Vec<Option<String>>>("SELECT proconfig FROM pg_proc WHERE proname = 'writable_path'").unwrap().unwrap();
        assert_eq!(path, vec![Some("search_path=pg_catalog, pg_temp".to_string())]);
    }

    #[pg_test]
    fn views_over_rls_tables_need_security_invoker() {
        run("CREATE TABLE orders_rls (id int PRIMARY KEY, tenant_id uuid NOT NULL)");
        run("ALTER TABLE orders_rls ENABLE ROW LEVEL SECURITY");
        run("CREATE TABLE venues_plain (id int PRIMARY KEY)");
        run("CREATE VIEW order_ids AS SELECT id FROM orders_rls");
        run("CREATE VIEW order_ids_again AS SELECT id FROM order_ids");
        run("CREATE VIEW safe_orders WITH (security_invoker = true) AS SELECT id FROM orders_rls");
        run("CREATE VIEW venue_ids AS SELECT id FROM venues_plain");
        assert_eq!(fails("view_bypasses_rls"), vec!["public.order_ids", "public.order_ids_again"]);
        for f in remediations("view_bypasses_rls") {
            run(&f);
        }
        assert_eq!(statuses("view_bypasses_rls"), vec!["pass"]);
    }

    #[pg_test]
    fn timeouts_for_table_owning_login_roles() {
        run("CREATE ROLE readiness_o_owner LOGIN");
        run("CREATE TABLE owned (id int PRIMARY KEY)");
        run("ALTER TABLE owned OWNER TO readiness_o_owner");
        assert_eq!(fails("timeouts_unset"), vec!["readiness_o_owner"]);
        run("ALTER ROLE readiness_o_owner SET lock_timeout = '5s'");
        assert_eq!(statuses("timeouts_unset"), vec!["pass"]);
        run("ALTER ROLE readiness_o_owner RESET lock_timeout");
        // The generated fix (ALTER ROLE ... IN DATABASE ...) makes it pass.
        for f in remediations("timeouts_unset") {
            run(&f);
        }
        assert_eq!(statuses("timeouts_unset"), vec!["pass"]);
    }

    #[pg_test]
    fn database_level_settings_are_seen() {
        // The pgrx test server runs with the defaults: no idle timeout, no slow log.
        assert_eq!(fails("idle_in_transaction"), vec!["idle_in_transaction_session_timeout"]);
        assert_eq!(fails("slow_query_logging_disabled"), vec!["log_min_duration_statement"]);
        for f in remediations("idle_in_transaction") {
            run(&f);
        }
        alter_database("SET log_min_duration_statement = '2s'");
        assert_eq!(statuses("idle_in_transaction"), vec!["pass"]);
        assert_eq!(statuses("slow_query_logging_disabled"), vec!["pass"]);
        // A session-level value is not the server's configuration.
        run("SET LOCAL statement_timeout = '10s'");
        let detail = strings("SELECT detail FROM readiness_report() WHERE check_id = 'slow_query_logging_disabled'");
        assert_eq!(detail, vec!["log_min_duration_statement is 2s (database)"]);
    }

    #[pg_test]
    fn connection_and_server_checks_read_the_live_server() {
        assert_eq!(statuses("connection_utilization_high"), vec!["pass"]);
        let v = Spi::get_one::<f64>("SELECT value FROM readiness_metrics WHERE metric = 'readiness_connection_utilization'").unwrap().unwrap();
        assert!(v > 0.0 && v < 0.8, "{v}");
        // The test server: no archiving, no checksums by default, fsync on.
        assert_eq!(fails("wal_archiving_disabled"), vec!["archive_mode"]);
        assert_eq!(statuses("durability_off"), vec!["pass"]);
        assert_eq!(statuses("extensions_outdated"), vec!["pass"]);
        // Superuser here: stored password hashes are readable, none is md5.
        assert_eq!(statuses("password_encryption_md5"), vec!["pass"]);
    }

    #[pg_test]
    fn maintenance_checks_on_real_tables() {
        run("CREATE TABLE queue (id int PRIMARY KEY) WITH (autovacuum_enabled = false)");
        run("CREATE TABLE normal (id int PRIMARY KEY)");
        assert_eq!(fails("autovacuum_disabled"), vec!["public.queue"]);
        for f in remediations("autovacuum_disabled") {
            run(&f);
        }
        assert_eq!(statuses("autovacuum_disabled"), vec!["pass"]);
        assert_eq!(statuses("xid_wraparound_risk"), vec!["pass"]);
        let age = Spi::get_one::<f64>("SELECT value FROM readiness_metrics WHERE metric = 'readiness_max_xid_age'").unwrap().unwrap();
        assert!(age > 0.0);
        for check in ["table_bloat", "index_bloat", "dead_tuples_high", "stale_statistics", "large_table_unpartitioned"] {
            assert_eq!(statuses(check), vec!["pass"], "{check}");
        }
    }

    #[pg_test]
    fn bloat_estimates_and_the_pgstattuple_methods() {
        assert!(error_of("SET pg_readiness.bloat_method = 'guess'").starts_with("22023"));
        run("CREATE TABLE wide (id bigint PRIMARY KEY, payload text)");
        run("INSERT INTO wide SELECT g, md5(g::text) FROM generate_series(1, 20000) g");
        run("ANALYZE wide");
        let q = "SELECT method || ' ' || coalesce(wasted_pct::text, 'null') FROM readiness_bloat_estimates() WHERE object_name = 'public.wide'";
        let est = strings(q);
        assert_eq!(est.len(), 1);
        assert!(est[0].starts_with("catalog estimate "), "{est:?}");
        let pct: f64 = est[0].rsplit(' ').next().unwrap().parse().unwrap();
        assert!(pct < 5.0, "a freshly loaded table: {pct}");
        // exact without the extension: the estimate, and a note that says why.
        run("SET LOCAL pg_readiness.bloat_method = 'exact'");
        let note = strings("SELECT note FROM readiness_bloat_estimates() WHERE object_name = 'public.wide'");
        assert!(note[0].contains("pgstattuple extension is not created"), "{note:?}");
        run("CREATE EXTENSION pgstattuple");
        assert_eq!(strings("SELECT method FROM readiness_bloat_estimates() WHERE object_name IN ('public.wide', 'public.wide_pkey') ORDER BY 1"), vec!["pgstatindex", "pgstattuple"]);
        run("SET LOCAL pg_readiness.bloat_method = 'approx'");
        assert_eq!(strings("SELECT method FROM readiness_bloat_estimates() WHERE object_name = 'public.wide'"), vec!["pgstattuple_approx"]);
        // A zero budget measures nothing and says so.
        run("SET LOCAL pg_readiness.sample_budget_ms = 0");
        let row = strings("SELECT method || ': ' || note FROM readiness_bloat_estimates() WHERE object_name = 'public.wide'");
        assert!(row[0].starts_with("catalog estimate: pg_readiness.sample_budget_ms (0 ms) ran out"), "{row:?}");
    }

    #[pg_test]
    fn a_pg_monitor_member_gets_a_report_without_errors() {
        run("CREATE TABLE tenant_data (id int PRIMARY KEY, tenant_id uuid NOT NULL, secret text)");
        run("INSERT INTO tenant_data SELECT g, gen_random_uuid(), 'x' FROM generate_series(1, 100) g");
        run("ANALYZE tenant_data");
        run("CREATE ROLE readiness_o_monitor LOGIN IN ROLE pg_monitor");
        run("SET LOCAL ROLE readiness_o_monitor");
        let errors = strings("SELECT check_id || ': ' || detail FROM readiness_report() WHERE status = 'error'");
        assert!(errors.is_empty(), "{errors:?}");
        // pg_monitor reads every setting; stored password hashes stay superuser-only.
        assert_eq!(statuses("ssl_disabled"), vec!["fail"]);
        assert_eq!(statuses("password_encryption_md5"), vec!["pass", "skipped"]);
        // Without SELECT on the table, its column statistics are hidden: no estimate, a reason.
        let note = strings("SELECT coalesce(note, '') FROM readiness_bloat_estimates() WHERE object_name = 'public.tenant_data'");
        assert!(note[0].contains("no pg_stats row for column"), "{note:?}");
    }
}
