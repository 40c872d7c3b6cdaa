//! In-server tests (`cargo pgrx test`): SQL behaviour end to end, through the
//! real catalog, real policy node trees and real errors.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::pg_test_support::*;

    /// Disables the checks that judge the server rather than this database
    /// (the test server has no SSL, archiving or pgaudit), for tests that
    /// count failing checks.
    fn server_checks_off() {
        run("SELECT set_config('pg_readiness.disabled_checks', string_agg(check_id, ','), true)
               FROM readiness_checks WHERE category = 'configuration' OR check_id = 'pgaudit_not_loaded'");
    }

    fn tenant_table(name: &str) {
        run(&format!("CREATE TABLE {name} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, owner_id int, status text)"));
        run(&format!("CREATE INDEX ON {name} (tenant_id)"));
    }

    const WRAPPED: &str = "tenant_id = (SELECT current_setting('app.current_tenant', true))::uuid";

    #[pg_test]
    fn report_runs_on_an_empty_database() {
        // Nothing in an empty database fails; server-wide settings and roles
        // of the test server (no pgaudit, no ssl) are not the database's.
        let n = Spi::get_one::<i64>(
            "SELECT count(*) FROM readiness_report() WHERE status = 'fail' AND object_type NOT IN ('setting', 'role', 'database')",
        )
        .unwrap();
        assert_eq!(n, Some(0));
        // One pass (or skipped) row per shipped check, each saying what it inspected.
        let checks = Spi::get_one::<i64>("SELECT count(*) FROM readiness_checks").unwrap().unwrap();
        let rows = Spi::get_one::<i64>("SELECT count(*) FROM readiness_report()").unwrap().unwrap();
        assert_eq!(rows, checks);
        let bad = strings("SELECT check_id FROM readiness_report() WHERE status = 'pass' AND (object_type <> 'check' OR object_name IS NOT NULL OR detail = '')");
        assert!(bad.is_empty(), "{bad:?}");
    }

    #[pg_test]
    fn bad_arguments_raise_22023_naming_valid_values() {
        let e = error_of("SELECT * FROM readiness_report(ARRAY['rls','speed'])");
        assert!(e.starts_with("22023: unknown category \"speed\"; valid values are: rls, privileges, indexes"), "{e}");
        let e = error_of("SELECT * FROM readiness_report(NULL, 'urgent')");
        assert_eq!(e, "22023: unknown severity \"urgent\"; valid values are: critical, high, medium, low, info");
        let e = error_of("SELECT remediation_script('HIGH')");
        assert!(e.starts_with("22023: unknown severity \"HIGH\""), "{e}");
        assert_eq!(error_of("SELECT * FROM readiness_report(ARRAY['rls'], 'high')"), "none");
    }

    #[pg_test]
    fn bad_settings_are_rejected_by_postgres() {
        run("SELECT count(*) FROM readiness_checks"); // loads the library, defining the settings
        let e = error_of("SET pg_readiness.excluded_schemas = '\"unterminated'");
        assert!(e.starts_with("22023: invalid value for parameter \"pg_readiness.excluded_schemas\""), "{e}");
        let e = error_of("SET pg_readiness.sample_rows = -1");
        assert!(e.starts_with("22023"), "{e}");
        let e = error_of("SET pg_readiness.disabled_checks = 'no_such_check'");
        assert!(e.starts_with("22023"), "{e}");
        let e = error_of("SET pg_readiness.tenant_column = ''");
        assert!(e.starts_with("22023"), "{e}");
        assert_eq!(error_of("SET pg_readiness.excluded_schemas = 'audit, \"Staging Area\"'"), "none");
        assert_eq!(error_of("SET pg_readiness.large_table_bytes = '1GB'"), "none");
    }

    #[pg_test]
    fn rls_checks_hit_and_near_miss_on_real_policies() {
        run("CREATE ROLE readiness_t_app NOLOGIN");
        tenant_table("t_open");
        tenant_table("t_good");
        run("ALTER TABLE t_good ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY");
        run(&format!("CREATE POLICY tenant_isolation ON t_good USING ({WRAPPED})"));
        tenant_table("t_unforced");
        run("ALTER TABLE t_unforced ENABLE ROW LEVEL SECURITY");
        run(&format!("CREATE POLICY p ON t_unforced USING ({WRAPPED})"));
        tenant_table("t_nopolicy");
        run("ALTER TABLE t_nopolicy ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY");
        tenant_table("t_policy_off");
        run(&format!("CREATE POLICY p ON t_policy_off USING ({WRAPPED})"));
        tenant_table("t_policies");
        run("ALTER TABLE t_policies ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY");
        run(&format!("CREATE POLICY wrapped ON t_policies USING ({WRAPPED})"));
        run("CREATE POLICY per_row ON t_policies USING (tenant_id = current_setting('app.current_tenant')::uuid)");
        run("CREATE POLICY owner_only ON t_policies USING (owner_id = 42)");
        run("CREATE POLICY always ON t_policies USING (1 = 1)");
        run("CREATE POLICY restrictive_true ON t_policies AS RESTRICTIVE USING (true)");

        assert_eq!(fails("rls_disabled_tenant_table"), vec!["public.t_open", "public.t_policy_off"]);
        assert_eq!(fails("rls_not_forced"), vec!["public.t_unforced"]);
        assert_eq!(fails("rls_enabled_no_policy"), vec!["public.t_nopolicy"]);
        assert_eq!(fails("rls_policy_disabled_table"), vec!["public.t_policy_off"]);
        assert_eq!(fails("rls_policy_no_tenant_predicate"), vec!["always on public.t_policies", "owner_only on public.t_policies"]);
        assert_eq!(fails("rls_policy_always_true"), vec!["always on public.t_policies"]);
        // The wrapped policies (deparsed as "( SELECT ... AS current_setting)") are not flagged.
        assert_eq!(fails("rls_policy_per_row_setting"), vec!["per_row on public.t_policies"]);

        // The remediation SQL runs as it is and turns the findings into passes.
        let fixes = strings(
            "SELECT remediation FROM readiness_report(ARRAY['rls']) WHERE status = 'fail'
              AND check_id IN ('rls_disabled_tenant_table','rls_not_forced','rls_enabled_no_policy','rls_policy_per_row_setting','rls_policy_always_true')",
        );
        for f in &fixes {
            run(f);
        }
        for check in ["rls_disabled_tenant_table", "rls_not_forced", "rls_enabled_no_policy", "rls_policy_per_row_setting", "rls_policy_always_true"] {
            assert_eq!(statuses(check), vec!["pass"], "{check} after its remediation");
        }
        let per_row_fixed = Spi::get_one::<String>(
            "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'per_row'",
        )
        .unwrap()
        .unwrap();
        assert!(per_row_fixed.contains("SELECT current_setting"), "{per_row_fixed}");
    }

    #[pg_test]
    fn partitions_are_judged_through_the_parent_and_bypass_is_found() {
        run("CREATE ROLE readiness_t_reader NOLOGIN");
        run("CREATE TABLE pay (id uuid, tenant_id uuid NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)");
        run("CREATE TABLE pay_2026 PARTITION OF pay FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')");
        run("CREATE TABLE pay_2027 PARTITION OF pay FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')");
        run("CREATE INDEX ON pay (tenant_id, created_at)");
        assert_eq!(fails("rls_disabled_tenant_table"), vec!["public.pay"]);
        assert!(fails("missing_primary_key").is_empty());
        assert!(fails("tenant_index_missing").is_empty());
        run("ALTER TABLE pay ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY");
        run(&format!("CREATE POLICY tenant_isolation ON pay USING ({WRAPPED})"));
        assert!(fails("rls_partition_bypass").is_empty(), "no grant on the partitions yet");
        run("GRANT SELECT ON pay_2026 TO readiness_t_reader");
        assert_eq!(fails("rls_partition_bypass"), vec!["public.pay_2026"]);
        let fix = strings("SELECT remediation FROM readiness_report() WHERE check_id = 'rls_partition_bypass' AND status = 'fail'");
        run(&fix[0]);
        assert_eq!(statuses("rls_partition_bypass"), vec!["pass"]);
        // A partition with RLS and no policy of its own is the fix, not a finding.
        assert!(fails("rls_enabled_no_policy").is_empty());
    }

    #[pg_test]
    fn bypass_roles_hit_and_near_miss() {
        run("CREATE ROLE readiness_t_admin LOGIN BYPASSRLS");
        run("CREATE ROLE readiness_t_etl NOLOGIN BYPASSRLS");
        run("CREATE ROLE readiness_t_plain LOGIN");
        let hits = fails("rls_bypass_roles");
        assert!(hits.contains(&"readiness_t_admin".to_string()), "{hits:?}");
        assert!(!hits.iter().any(|h| h == "readiness_t_etl" || h == "readiness_t_plain" || h == "postgres"), "{hits:?}");
    }

    #[pg_test]
    fn index_checks_hit_and_near_miss_on_real_indexes() {
        // The unique (tenant_id, id) key is parent's tenant index (a separate
        // (tenant_id) index would be a redundant prefix of it).
        run("CREATE TABLE parent (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, UNIQUE (tenant_id, id))");
        run("CREATE TABLE child (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, parent_id uuid, other_id uuid, status text, doc jsonb,
               CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id),
               CONSTRAINT fk_child_multi FOREIGN KEY (tenant_id, other_id) REFERENCES parent (tenant_id, id))");
        run("CREATE INDEX idx_child_tenant_parent ON child (tenant_id, parent_id)"); // parent_id not leading
        run("CREATE INDEX idx_child_multi ON child (other_id, tenant_id)"); // covers the multi-column key, any order
        run("CREATE INDEX idx_child_status ON child (status)");
        run("CREATE INDEX idx_child_status_other ON child (status, other_id)");
        run("CREATE INDEX idx_child_status_other_dup ON child (status, other_id)");
        run("CREATE INDEX idx_child_partial_status ON child (status) WHERE status <> 'done'");
        run("CREATE TABLE nokey (a int, b text)");
        run("CREATE TABLE promotable (id int NOT NULL, tenant_id uuid)");
        run("CREATE UNIQUE INDEX promotable_id_key ON promotable (id)");
        run("CREATE INDEX ON promotable (tenant_id)");
        run("CREATE INDEX idx_broken ON nokey (a)");
        run("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_broken'::regclass");

        assert_eq!(fails("fk_missing_index"), vec!["fk_child_parent on public.child"]);
        assert!(fails("tenant_index_missing").is_empty());
        assert_eq!(
            fails("tenant_index_not_leading"),
            vec!["public.idx_child_partial_status", "public.idx_child_status", "public.idx_child_status_other", "public.idx_child_status_other_dup"]
        );
        assert_eq!(fails("duplicate_index"), vec!["public.idx_child_status_other_dup"]);
        assert_eq!(fails("redundant_index"), vec!["public.idx_child_status"]);
        assert_eq!(fails("invalid_index"), vec!["public.idx_broken"]);
        assert_eq!(fails("missing_primary_key"), vec!["public.nokey", "public.promotable"]);
        // Statistics of a fresh test server are younger than a week.
        assert_eq!(statuses("unused_index"), vec!["skipped"]);
        assert_eq!(statuses("jsonb_without_gin"), vec!["pass"]);
        run("SET LOCAL pg_readiness.large_table_bytes = 0");
        run("UPDATE pg_class SET relpages = 10 WHERE oid = 'child'::regclass");
        assert_eq!(fails("jsonb_without_gin"), vec!["public.child.doc"]);

        let fix = strings("SELECT remediation FROM readiness_report() WHERE check_id = 'missing_primary_key' AND object_name = 'public.promotable'");
        assert_eq!(fix, vec!["ALTER TABLE public.promotable ADD PRIMARY KEY USING INDEX promotable_id_key;"]);
        run(&fix[0]);
        assert_eq!(fails("missing_primary_key"), vec!["public.nokey"]);
        let fix = strings("SELECT remediation FROM readiness_report() WHERE check_id = 'tenant_index_not_leading' AND object_name = 'public.idx_child_partial_status'");
        assert_eq!(
            fix,
            vec!["CREATE INDEX CONCURRENTLY ON public.child (tenant_id, status) WHERE (status <> 'done'::text);\nDROP INDEX CONCURRENTLY public.idx_child_partial_status;"]
        );
    }

    #[pg_test]
    fn hostile_names_are_quoted_in_identity_and_remediation() {
        run(r#"CREATE SCHEMA "Sales Team""#);
        run(r#"CREATE TABLE "Sales Team"."Order ""Items""; DROP TABLE x;--" (id int PRIMARY KEY, tenant_id uuid NOT NULL, "Ünïcødé col" int)"#);
        run(r#"CREATE INDEX ON "Sales Team"."Order ""Items""; DROP TABLE x;--" (tenant_id)"#);
        run(r#"CREATE TABLE "注文" (id int PRIMARY KEY, tenant_id uuid NOT NULL)"#);
        run(r#"CREATE INDEX ON "注文" (tenant_id)"#);
        let hits = fails("rls_disabled_tenant_table");
        assert_eq!(hits, vec![r#""Sales Team"."Order ""Items""; DROP TABLE x;--""#, r#"public."注文""#]);
        // Identities agree with pg_identify_object.
        let ident = Spi::get_one::<String>(
            r#"SELECT identity FROM pg_identify_object('pg_class'::regclass, '"Sales Team"."Order ""Items""; DROP TABLE x;--"'::regclass, 0)"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(ident, hits[0]);
        for fix in strings("SELECT remediation FROM readiness_report() WHERE check_id = 'rls_disabled_tenant_table' AND status = 'fail'") {
            for stmt in fix.split(";\n") {
                run(stmt);
            }
        }
        assert_eq!(statuses("rls_disabled_tenant_table"), vec!["pass"]);
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM pg_policy WHERE polname = 'tenant_isolation'").unwrap(), Some(2));
    }

    #[pg_test]
    fn excluded_schemas_are_not_inspected() {
        run("CREATE SCHEMA scratch");
        run("CREATE TABLE scratch.t (a int)");
        assert_eq!(fails("missing_primary_key"), vec!["scratch.t"]);
        run("SET LOCAL pg_readiness.excluded_schemas = 'scratch'");
        assert!(fails("missing_primary_key").is_empty());
    }

    #[pg_test]
    fn tenant_column_setting_changes_what_a_tenant_table_is() {
        run("CREATE TABLE acct (id int PRIMARY KEY, account_id int NOT NULL)");
        run("CREATE INDEX ON acct (account_id)");
        assert!(fails("rls_disabled_tenant_table").is_empty());
        run("SET LOCAL pg_readiness.tenant_column = 'account_id'");
        assert_eq!(fails("rls_disabled_tenant_table"), vec!["public.acct"]);
        let fix = strings("SELECT remediation FROM readiness_report() WHERE check_id = 'rls_disabled_tenant_table'");
        assert!(fix[0].contains("account_id = (SELECT current_setting('app.current_tenant', true))::integer"), "{}", fix[0]);
    }

    #[pg_test]
    fn a_failing_check_is_an_error_row_and_the_others_still_report() {
        run("CREATE TABLE nokey (a int)");
        *crate::checks::fault::FAIL_CHECK.lock().unwrap() = Some("rls_not_forced".into());
        let rows = strings("SELECT check_id || ':' || status || ':' || (evidence->>'sqlstate') FROM readiness_report() WHERE status = 'error'");
        *crate::checks::fault::FAIL_CHECK.lock().unwrap() = None;
        assert_eq!(rows, vec!["rls_not_forced:error:XX000"]);
        assert_eq!(fails("missing_primary_key"), vec!["public.nokey"]);
    }

    #[pg_test]
    fn a_failing_catalog_read_is_error_rows_for_its_checks_only() {
        run("CREATE TABLE nokey (a int)");
        *crate::snapshot::read::fault::FAIL_SECTION.lock().unwrap() = Some("Policies".into());
        let errors = strings("SELECT check_id FROM readiness_report() WHERE status = 'error' ORDER BY check_id");
        let evidence = strings("SELECT evidence->>'message' FROM readiness_report() WHERE check_id = 'rls_enabled_no_policy'");
        let pk = fails("missing_primary_key");
        *crate::snapshot::read::fault::FAIL_SECTION.lock().unwrap() = None;
        assert_eq!(
            errors,
            vec![
                "rls_disabled_tenant_table",
                "rls_enabled_no_policy",
                "rls_policy_always_true",
                "rls_policy_disabled_table",
                "rls_policy_no_tenant_predicate",
                "rls_policy_per_row_setting"
            ]
        );
        assert!(evidence[0].contains("injected failure reading section Policies"), "{evidence:?}");
        // The transaction is still usable and the other checks ran.
        assert_eq!(pk, vec!["public.nokey"]);
    }

    #[pg_test]
    fn a_pg_monitor_member_gets_a_full_report() {
        run("CREATE ROLE readiness_t_monitor NOLOGIN IN ROLE pg_monitor");
        run("CREATE TABLE secret (id int PRIMARY KEY, tenant_id uuid NOT NULL)");
        run("CREATE INDEX ON secret (tenant_id)");
        run("REVOKE ALL ON secret FROM PUBLIC");
        run("SET LOCAL ROLE readiness_t_monitor");
        let hits = fails("rls_disabled_tenant_table");
        let errors = strings("SELECT check_id FROM readiness_report() WHERE status = 'error'");
        let score = Spi::get_one::<i32>("SELECT applicable FROM readiness_score()").unwrap();
        run("RESET ROLE");
        assert_eq!(hits, vec!["public.secret"]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(score.unwrap() > 0);
    }

    #[pg_test]
    fn score_and_summary_agree_with_the_report() {
        server_checks_off();
        run("CREATE TABLE nokey (a int)");
        tenant_table("t_open");
        let failing_checks = Spi::get_one::<i64>("SELECT count(DISTINCT check_id) FROM readiness_report() WHERE status = 'fail'").unwrap().unwrap();
        let applicable = Spi::get_one::<i64>(
            "SELECT count(*) FROM (SELECT check_id FROM readiness_report() GROUP BY check_id HAVING bool_or(status <> 'skipped')) s",
        )
        .unwrap()
        .unwrap();
        let (passed, appl, crit) = Spi::get_three::<i32, i32, i32>("SELECT passed, applicable, critical FROM readiness_score()").unwrap();
        let high = Spi::get_one::<i32>("SELECT high FROM readiness_score()").unwrap();
        assert_eq!(i64::from(appl.unwrap()), applicable);
        assert_eq!(i64::from(passed.unwrap()), applicable - failing_checks);
        assert_eq!(crit, Some(1)); // rls_disabled_tenant_table
        assert_eq!(high, Some(1)); // missing_primary_key
        let score = Spi::get_one::<String>("SELECT score::text FROM readiness_score()").unwrap().unwrap();
        assert!(score.parse::<f64>().unwrap() < 10.0 && score.contains('.'), "{score}");
        let summed = Spi::get_one::<i64>("SELECT sum(failing_objects) FROM readiness_summary()").unwrap().unwrap();
        let fail_rows = Spi::get_one::<i64>("SELECT count(*) FROM readiness_report() WHERE status = 'fail'").unwrap().unwrap();
        assert_eq!(summed, fail_rows);
        let rls = strings("SELECT passed || '/' || applicable || ' ' || worst_severity FROM readiness_summary() WHERE category = 'rls'");
        assert_eq!(rls, vec!["8/9 critical"]);
    }

    #[pg_test]
    fn report_filters_and_orders() {
        server_checks_off();
        run("CREATE TABLE nokey (a int)");
        tenant_table("t_open");
        let sev = strings("SELECT DISTINCT severity FROM readiness_report(NULL, 'high')");
        assert!(sev.iter().all(|s| s == "critical" || s == "high"), "{sev:?}");
        let cats = strings("SELECT DISTINCT category FROM readiness_report(ARRAY['indexes'])");
        assert_eq!(cats, vec!["indexes"]);
        // Severity first, then category: pii's critical pass row precedes rls's.
        let first = strings("SELECT check_id || ':' || status FROM readiness_report() LIMIT 2");
        assert_eq!(first, vec!["card_column_name:pass", "card_data_detected:pass"]);
        let first_fail = strings("SELECT check_id FROM readiness_report() WHERE status = 'fail' LIMIT 1");
        assert_eq!(first_fail, vec!["rls_disabled_tenant_table"]);
        let fp = strings("SELECT fingerprint FROM readiness_report() WHERE check_id = 'missing_primary_key' AND status = 'fail'");
        assert_eq!(fp.len(), 1);
        assert_eq!(fp[0].len(), 16);
        assert_eq!(fp, strings("SELECT fingerprint FROM readiness_report() WHERE check_id = 'missing_primary_key' AND status = 'fail'"));
    }

    #[pg_test]
    fn disabled_checks_do_not_run_and_show_in_the_catalog() {
        run("CREATE TABLE nokey (a int)");
        run("SET LOCAL pg_readiness.disabled_checks = 'missing_primary_key'");
        assert!(statuses("missing_primary_key").is_empty());
        let enabled = Spi::get_one::<bool>("SELECT enabled FROM readiness_checks WHERE check_id = 'missing_primary_key'").unwrap();
        assert_eq!(enabled, Some(false));
    }

    #[pg_test]
    fn remediation_script_is_deduplicated_and_names_locks() {
        tenant_table("t_open");
        run("CREATE TABLE refs (id int PRIMARY KEY, tenant_id uuid NOT NULL)");
        run("ALTER TABLE refs ADD CONSTRAINT fk_refs_t FOREIGN KEY (tenant_id) REFERENCES t_open (id)");
        let script = Spi::get_one::<String>("SELECT remediation_script('low')").unwrap().unwrap();
        assert!(script.contains("SET lock_timeout = '5s';"));
        assert_eq!(script.matches("CREATE INDEX CONCURRENTLY ON public.refs (tenant_id);").count(), 1, "{script}");
        assert!(script.contains("-- [high] fk_missing_index: fk_refs_t on public.refs\n-- takes SHARE UPDATE EXCLUSIVE\n"), "{script}");
        assert!(script.contains("-- [medium] tenant_index_missing: public.refs (fixed by a statement above)"), "{script}");
        let first = strings("SELECT statement FROM remediation_statements('low') ORDER BY ordinal LIMIT 1");
        assert_eq!(first, vec!["SET lock_timeout = '5s';"]);
    }

    #[pg_test]
    fn waivers_turn_fail_into_waived_until_they_expire() {
        server_checks_off();
        run("CREATE TABLE legacy (a int)");
        run("CREATE TABLE other (a int)");
        run("SELECT readiness_waive('missing_primary_key', 'public.legacy', 'append-only import table, dropped in Q3')");
        let rows = strings("SELECT object_name || ':' || status FROM readiness_report() WHERE check_id = 'missing_primary_key' ORDER BY 1");
        assert_eq!(rows, vec!["public.legacy:waived", "public.other:fail"]);
        let why = strings("SELECT evidence->'waiver'->>'reason' FROM readiness_report() WHERE status = 'waived'");
        assert_eq!(why, vec!["append-only import table, dropped in Q3"]);
        // Waiving again updates the reason instead of adding a row.
        run("SELECT readiness_waive('missing_primary_key', 'public.legacy', 'still needed', now() + interval '30 days')");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM readiness_waivers").unwrap(), Some(1));
        // A whole-check waiver covers every object; once waived, the check passes in the score.
        run("SELECT readiness_waive('missing_primary_key', NULL, 'we accept tables without keys here')");
        assert_eq!(statuses("missing_primary_key"), vec!["waived", "waived"]);
        let high = Spi::get_one::<i32>("SELECT high FROM readiness_score()").unwrap();
        assert_eq!(high, Some(0));
        // Expired waivers no longer apply.
        run("UPDATE readiness_waivers SET expires_at = now() - interval '1 day'");
        assert_eq!(fails("missing_primary_key"), vec!["public.legacy", "public.other"]);
    }

    #[pg_test]
    fn bad_waivers_are_errors_and_change_nothing() {
        let e = error_of("SELECT readiness_waive('missing_primary_key', 'public.t', '   ')");
        assert_eq!(e, "22023: a waiver needs a reason: say why the risk is accepted");
        let e = error_of("SELECT readiness_waive('no_such_check', NULL, 'because')");
        assert!(e.starts_with("22023: unknown check_id \"no_such_check\""), "{e}");
        let e = error_of("SELECT readiness_waive('missing_primary_key', NULL, 'because', now() - interval '1 hour')");
        assert!(e.starts_with("22023: expires_at is in the past"), "{e}");
        let e = error_of("SELECT readiness_waive(NULL, NULL, 'because')");
        assert!(e.starts_with("22023: unknown check_id"), "{e}");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM readiness_waivers").unwrap(), Some(0));
        let dumped = strings(
            "SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'pg_readiness' ORDER BY 1",
        );
        assert_eq!(
            dumped,
            vec!["gdpr_deletion_log", "readiness_history", "readiness_pii_columns", "readiness_score_history", "readiness_waivers"],
            "user data kept by pg_dump"
        );
    }

    #[pg_test]
    fn assert_ready_raises_p0001_listing_failing_checks() {
        server_checks_off();
        run("CREATE TABLE nokey (a int)");
        tenant_table("t_open");
        let e = error_of("SELECT assert_ready('high')");
        assert_eq!(e, "P0001: pg_readiness: 2 checks fail at severity high or above");
        run("CREATE OR REPLACE FUNCTION pg_temp.detail_of(q text) RETURNS text LANGUAGE plpgsql AS $$
             DECLARE d text; BEGIN EXECUTE q; RETURN 'none';
             EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL; RETURN d; END $$");
        let detail = Spi::get_one::<String>("SELECT pg_temp.detail_of('SELECT assert_ready(''high'')')").unwrap().unwrap();
        assert_eq!(detail, "rls_disabled_tenant_table (critical): public.t_open\nmissing_primary_key (high): public.nokey");
        assert_eq!(error_of("SELECT assert_ready('critical')"), "P0001: pg_readiness: 1 check fail at severity critical or above");
        run("SELECT readiness_waive('rls_disabled_tenant_table', NULL, 'tenant isolation lands next sprint')");
        assert_eq!(error_of("SELECT assert_ready('critical')"), "none");
        assert!(error_of("SELECT assert_ready('severe')").starts_with("22023"));
    }

    #[pg_test]
    fn json_report_agrees_with_the_rows() {
        run("CREATE TABLE nokey (a int)");
        tenant_table("t_open");
        let doc = Spi::get_one::<pgrx::JsonB>("SELECT readiness_report_json()").unwrap().unwrap().0;
        let rows = Spi::get_one::<i64>("SELECT count(*) FROM readiness_report()").unwrap().unwrap();
        assert_eq!(doc["findings"].as_array().unwrap().len() as i64, rows);
        let first_fail = doc["findings"].as_array().unwrap().iter().find(|f| f["status"] == "fail").unwrap();
        assert_eq!(first_fail["check_id"], "rls_disabled_tenant_table");
        assert_eq!(first_fail["object_name"], "public.t_open");
        let high = Spi::get_one::<i32>("SELECT high FROM readiness_score()").unwrap().unwrap();
        assert_eq!(doc["score"]["high"], high);
        assert_eq!(doc["extension_version"], env!("CARGO_PKG_VERSION"));
        assert!(doc["generated_at"].as_str().unwrap().ends_with('Z'));
        let filtered = Spi::get_one::<pgrx::JsonB>("SELECT readiness_report_json(ARRAY['indexes'], 'high')").unwrap().unwrap().0;
        let ids: Vec<&str> = filtered["findings"].as_array().unwrap().iter().map(|f| f["check_id"].as_str().unwrap()).collect();
        assert!(ids.contains(&"missing_primary_key") && !ids.contains(&"rls_disabled_tenant_table"), "{ids:?}");
        assert!(error_of("SELECT readiness_report_json(ARRAY['x'])").starts_with("22023"));
    }

    #[pg_test]
    fn markdown_metrics_and_snapshot_agree_with_the_report() {
        server_checks_off();
        run("CREATE TABLE nokey (a int)");
        let md = Spi::get_one::<String>("SELECT readiness_report_markdown()").unwrap().unwrap();
        let (passed, applicable) = Spi::get_two::<i32, i32>("SELECT passed, applicable FROM readiness_score()").unwrap();
        assert!(md.starts_with("# Database Readiness Audit — "), "{md}");
        assert!(md.contains(&format!("applicable checks)** |")));
        assert!(md.contains(&format!("({}/{} applicable checks)", passed.unwrap(), applicable.unwrap())), "{md}");
        assert!(md.contains("| Missing primary key") || md.contains("| Table without a primary key (`missing_primary_key`) | ❌ FAIL | `public.nokey`"), "{md}");
        assert!(md.contains("### High\n\n1. **missing_primary_key** `public.nokey`"), "{md}");

        let score = Spi::get_one::<f64>("SELECT value FROM readiness_metrics WHERE metric = 'readiness_score'").unwrap().unwrap();
        let expected = Spi::get_one::<f64>("SELECT score::float8 FROM readiness_score()").unwrap().unwrap();
        assert_eq!(score, expected);
        let high = Spi::get_one::<f64>("SELECT value FROM readiness_metrics WHERE metric = 'readiness_failing_checks' AND labels->>'severity' = 'high'").unwrap();
        assert_eq!(high, Some(1.0));

        let n = Spi::get_one::<i32>("SELECT readiness_snapshot()").unwrap().unwrap();
        let checks = Spi::get_one::<i64>("SELECT count(*) FROM readiness_checks WHERE enabled").unwrap().unwrap();
        assert_eq!(i64::from(n), checks);
        let hist = strings("SELECT status || ':' || failing_objects FROM readiness_history WHERE check_id = 'missing_primary_key'");
        assert_eq!(hist, vec!["fail:1"]);
        let skipped = strings("SELECT status FROM readiness_history WHERE check_id = 'unused_index'");
        assert_eq!(skipped, vec!["skipped"]);
        let headline = strings("SELECT score::text || ':' || applicable FROM readiness_score_history");
        let expected = strings("SELECT score::text || ':' || applicable FROM readiness_score()");
        assert_eq!(headline, expected);
    }

    #[pg_test]
    fn pii_helpers_are_immutable_strict_parallel_safe_and_null_safe() {
        assert_eq!(Spi::get_one::<String>("SELECT mask_email('john.doe@example.com')").unwrap().as_deref(), Some("jo***@***.com"));
        assert_eq!(Spi::get_one::<String>("SELECT mask_card('4111 1111 1111 1111')").unwrap().as_deref(), Some("4111 11** **** 1111"));
        assert_eq!(Spi::get_one::<bool>("SELECT luhn_valid('4111-1111-1111-1111')").unwrap(), Some(true));
        for f in ["mask_email", "mask_phone", "mask_card", "luhn_valid"] {
            let is_null = Spi::get_one::<bool>(&format!("SELECT {f}(NULL) IS NULL")).unwrap();
            assert_eq!(is_null, Some(true), "{f}(NULL)");
            let flags = Spi::get_one::<String>(&format!(
                "SELECT provolatile::text || proisstrict::text || proparallel::text FROM pg_proc WHERE proname = '{f}'"
            ))
            .unwrap();
            assert_eq!(flags.as_deref(), Some("itrues"), "{f} must be IMMUTABLE STRICT PARALLEL SAFE");
        }
    }

    #[pg_test]
    fn constraint_checks_on_real_tables() {
        run("CREATE TABLE tenants (id uuid PRIMARY KEY)");
        run("CREATE TABLE items (id uuid PRIMARY KEY, tenant_id uuid REFERENCES tenants (id),
               unit_price numeric(10,2), price_note text, discount_code text, fee numeric CHECK (fee >= 0),
               quantity int, weight real, list_price double precision, status text, kind_type text CHECK (kind_type IN ('a','b')),
               email text, created timestamp, created_at timestamptz)");
        run("CREATE INDEX ON items (tenant_id)");
        run("CREATE TABLE other (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, qty int)");
        run("CREATE INDEX ON other (tenant_id)");
        run("ALTER TABLE other ADD CONSTRAINT chk_qty CHECK (qty > 0) NOT VALID");
        assert_eq!(fails("money_column_unchecked"), vec!["public.items.list_price", "public.items.unit_price"]);
        assert_eq!(fails("money_column_float"), vec!["public.items.list_price"]);
        assert_eq!(fails("quantity_column_unchecked"), vec!["public.items.quantity"]);
        assert_eq!(fails("status_column_unconstrained"), vec!["public.items.status"]);
        assert_eq!(fails("email_column_unchecked"), vec!["public.items.email"]);
        assert_eq!(fails("timestamp_without_time_zone"), vec!["public.items.created"]);
        assert_eq!(fails("constraint_not_validated"), vec!["chk_qty on public.other"]);
        assert_eq!(fails("tenant_column_nullable"), vec!["public.items.tenant_id"]);
        assert_eq!(fails("tenant_fk_missing"), vec!["public.other.tenant_id"]);
        // Every SQL remediation of these checks runs and fixes its finding.
        let ids = "'money_column_unchecked','quantity_column_unchecked','email_column_unchecked','money_column_float',
                   'timestamp_without_time_zone','constraint_not_validated','tenant_column_nullable','tenant_fk_missing'";
        for fix in strings(&format!("SELECT remediation FROM readiness_report(ARRAY['constraints']) WHERE status = 'fail' AND check_id IN ({ids})")) {
            run(&fix);
        }
        let left = strings(&format!("SELECT check_id FROM readiness_report(ARRAY['constraints']) WHERE status = 'fail' AND check_id IN ({ids})"));
        assert!(left.is_empty(), "{left:?}");
    }

    #[pg_test]
    fn sequence_and_cascade_checks_on_real_objects() {
        run("CREATE TABLE orders (id uuid PRIMARY KEY)");
        run("CREATE TABLE payment_transactions (id serial PRIMARY KEY, order_id uuid REFERENCES orders (id) ON DELETE CASCADE)");
        run("CREATE INDEX ON payment_transactions (order_id)");
        run("CREATE TABLE notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id uuid REFERENCES orders (id) ON DELETE CASCADE)");
        run("CREATE INDEX ON notes (order_id)");
        assert_eq!(fails("fk_cascade_on_financial"), vec!["payment_transactions_order_id_fkey on public.payment_transactions"]);
        assert_eq!(fails("serial_primary_key_enumerable"), vec!["public.payment_transactions"]);
        assert!(fails("sequence_exhaustion").is_empty());
        run("SELECT setval('payment_transactions_id_seq', 1900000000)");
        let rows = strings("SELECT object_name || ':' || severity FROM readiness_report() WHERE check_id = 'sequence_exhaustion' AND status = 'fail'");
        assert_eq!(rows, vec!["public.payment_transactions_id_seq:critical"]);
        run("SELECT setval(pg_get_serial_sequence('notes', 'id'), 1200000000)");
        let rows = strings("SELECT object_name || ':' || severity FROM readiness_report() WHERE check_id = 'sequence_exhaustion' AND status = 'fail' ORDER BY 1");
        assert_eq!(rows, vec!["public.notes_id_seq:high", "public.payment_transactions_id_seq:critical"]);
        for fix in strings("SELECT remediation FROM readiness_report() WHERE check_id IN ('sequence_exhaustion', 'fk_cascade_on_financial') AND status = 'fail'") {
            run(&fix);
        }
        assert_eq!(statuses("sequence_exhaustion"), vec!["pass"]);
        assert_eq!(statuses("fk_cascade_on_financial"), vec!["pass"]);
    }

    #[pg_test]
    fn card_and_ssn_values_are_found_by_sampling_and_only_masked() {
        run("CREATE TABLE orders (id int PRIMARY KEY, notes text, meta jsonb, ref text)");
        run(r#"INSERT INTO orders SELECT g, CASE WHEN g = 7 THEN 'paid by card 4111 1111 1111 1111, thanks' ELSE 'order ORD-2024-' || g END,
                 CASE WHEN g = 9 THEN '{"customer": {"ssn": "123-45-6789", "card": "5555-5555-5555-4444"}}'::jsonb ELSE '{}'::jsonb END,
                 '+1 555 123 45' || lpad(g::text, 2, '0') FROM generate_series(1, 40) g"#);
        run("ANALYZE orders");
        assert_eq!(fails("card_data_detected"), vec!["public.orders.meta", "public.orders.notes"]);
        assert_eq!(fails("pii_plaintext_national_id"), vec!["public.orders.meta"]);
        let ev = strings("SELECT evidence::text FROM readiness_report() WHERE check_id = 'card_data_detected' AND object_name = 'public.orders.notes'");
        assert_eq!(ev, vec![r#"{"sampled": 40, "sample_hits": 1, "masked_examples": ["4111 11** **** 1111"]}"#]);
        let scan = strings("SELECT object_name || ':' || pii_kind || ':' || basis || ':' || registered FROM pii_scan() ORDER BY 1");
        assert_eq!(scan, vec!["public.orders.meta:card:value:false", "public.orders.notes:card:value:false"]);
        // Sampling off: the value-based checks say so instead of passing.
        run("SET LOCAL pg_readiness.sample_rows = 0");
        assert_eq!(statuses("card_data_detected"), vec!["skipped"]);
    }

    #[pg_test]
    fn sampling_skips_what_it_may_not_read_or_has_no_budget_for() {
        run("CREATE TABLE visible (id int PRIMARY KEY, notes text)");
        run("CREATE TABLE hidden (id int PRIMARY KEY, notes text)");
        run("INSERT INTO hidden VALUES (1, '4111111111111111')");
        run("CREATE ROLE readiness_t_reader NOLOGIN");
        run("GRANT SELECT ON visible TO readiness_t_reader");
        run("SET LOCAL ROLE readiness_t_reader");
        let rows = strings("SELECT status || ':' || coalesce(object_name, '-') || ':' || detail FROM readiness_report() WHERE check_id = 'card_data_detected' ORDER BY 1");
        run("RESET ROLE");
        assert_eq!(
            rows,
            vec!["pass:-:1 text or json column sampled (up to 0 rows per table), no card numbers", "skipped:public.hidden:no SELECT privilege on public.hidden: its values were not sampled"]
        );
        run("SET LOCAL pg_readiness.sample_budget_ms = 0");
        let rows = strings("SELECT status || ':' || coalesce(object_name, '-') FROM readiness_report() WHERE check_id = 'card_data_detected' ORDER BY 1");
        assert_eq!(rows, vec!["pass:-", "skipped:public.hidden", "skipped:public.visible"]);
    }

    #[pg_test]
    fn pii_and_audit_checks_on_real_tables() {
        run("CREATE ROLE readiness_t_app NOLOGIN");
        run("CREATE TABLE customers (id uuid PRIMARY KEY, email text, full_name text, card_number text, card_last4 text)");
        run("GRANT SELECT ON customers TO readiness_t_app");
        run("CREATE TABLE audit_logs (id bigint PRIMARY KEY, action text)");
        run("GRANT SELECT, DELETE ON audit_logs TO readiness_t_app");
        run("CREATE TABLE payments (id uuid PRIMARY KEY)");
        assert_eq!(fails("card_column_name"), vec!["public.customers.card_number"]);
        assert_eq!(fails("pii_unregistered"), vec!["public.customers.card_number", "public.customers.email", "public.customers.full_name"]);
        assert_eq!(fails("pii_table_without_rls"), vec!["public.customers"]);
        assert_eq!(fails("audit_trigger_missing"), vec!["public.customers", "public.payments"]);
        assert_eq!(fails("audit_log_mutable"), vec!["public.audit_logs"]);
        assert_eq!(fails("financial_delete_unprotected"), vec!["public.payments"]);
        // The registration, revoke and deny-trigger remediations run and fix.
        for fix in strings("SELECT remediation FROM readiness_report() WHERE status = 'fail' AND check_id IN ('pii_unregistered', 'audit_log_mutable', 'financial_delete_unprotected')") {
            run(&fix);
        }
        assert_eq!(statuses("pii_unregistered"), vec!["pass"]);
        assert_eq!(statuses("audit_log_mutable"), vec!["pass"]);
        assert_eq!(statuses("financial_delete_unprotected"), vec!["pass"]);
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM readiness_pii_columns WHERE table_name = 'customers'::regclass").unwrap(), Some(3));
        run("INSERT INTO payments VALUES (gen_random_uuid())");
        let e = error_of("DELETE FROM payments");
        assert!(e.starts_with("42501: DELETE on public.payments is not allowed"), "{e}");
        let scan = strings("SELECT object_name || ':' || registered FROM pii_scan() WHERE object_name LIKE 'public.customers.%' ORDER BY 1");
        assert_eq!(scan, vec!["public.customers.card_number:true", "public.customers.email:true", "public.customers.full_name:true"]);
    }
}
