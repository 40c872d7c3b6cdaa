//! In-server tests of the erasure machinery: `gdpr_erase_user()` over real
//! tables (hostile names included), its errors, and that a failure leaves
//! every table as it was.

// `cargo pgrx test` calls every test as "tests".<name>(), so the module is `tests`.
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::pg_test_support::{error_of, run, strings};

    const ADA: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const ALAN: &str = "aaaaaaaa-0000-4000-8000-000000000002";
    const ORDERS: &str = r#""Order ""Items""; x""#;
    const SHIP_TO: &str = r#""Ship ""To""; DROP TABLE app_users; --""#;

    fn one(q: &str) -> String {
        Spi::get_one::<String>(q).unwrap_or_else(|e| panic!("{q}: {e}")).unwrap_or_else(|| "<NULL>".into())
    }

    /// Two users with personal data in three tables, one of them with a
    /// hostile name and a hostile column, and the registry covering them.
    fn fixture() {
        run("CREATE TABLE app_users (
                 id uuid PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, phone varchar(40),
                 card text, nickname text, birth_year int, created_at timestamptz NOT NULL DEFAULT '2026-01-01')");
        run(&format!(
            "CREATE TABLE {ORDERS} (id int PRIMARY KEY, \"Owner Id\" uuid NOT NULL REFERENCES app_users, notes text, {SHIP_TO} text)"
        ));
        run("CREATE TABLE sessions (id int PRIMARY KEY, user_id uuid NOT NULL REFERENCES app_users, ip text)");
        run(&format!(
            "INSERT INTO app_users (id, email, full_name, phone, card, nickname, birth_year) VALUES
               ('{ADA}', 'ada@northwind.example', 'Ada Lovelace', '+1 555 123 4567', '4111 1111 1111 1111', 'ada', 1815),
               ('{ALAN}', 'alan@harbor.example', 'Alan Turing', '+44 20 7946 0958', '5555-5555-5555-4444', 'alan', 1912)"
        ));
        run(&format!(
            "INSERT INTO {ORDERS} VALUES
               (1, '{ADA}', 'leave at the door, call 555 123 4567', '12 Analytical Row'),
               (2, '{ADA}', NULL, '12 Analytical Row'),
               (3, '{ALAN}', 'gift wrap', '1 Bletchley Park')"
        ));
        run(&format!("INSERT INTO sessions VALUES (1, '{ADA}', '10.0.0.1'), (2, '{ADA}', '10.0.0.2'), (3, '{ALAN}', '10.0.0.3')"));
        run(&format!(
            "INSERT INTO readiness_pii_columns (table_name, column_name, pii_kind, subject_column, erase_action) VALUES
               ('app_users', 'email', 'email', 'id', 'pseudonymize'),
               ('app_users', 'full_name', 'name', 'id', 'redact'),
               ('app_users', 'phone', 'phone', 'id', 'mask'),
               ('app_users', 'card', 'card', 'id', 'mask'),
               ('app_users', 'nickname', 'name', 'id', 'null'),
               ('{ORDERS}', 'notes', 'free_text', 'Owner Id', 'redact'),
               ('{ORDERS}', 'Ship \"To\"; DROP TABLE app_users; --', 'address', 'Owner Id', 'mask'),
               ('sessions', 'ip', 'ip_address', 'user_id', 'delete_row')"
        ));
    }

    /// Every row of the fixture's tables of one subject, as md5 of its text form.
    fn rows_of(subject: &str) -> Vec<String> {
        strings(&format!(
            "SELECT 'app_users ' || md5(t::text) FROM app_users t WHERE id = '{subject}'
             UNION ALL SELECT 'orders ' || id || ' ' || md5(t::text) FROM {ORDERS} t WHERE \"Owner Id\" = '{subject}'
             UNION ALL SELECT 'sessions ' || id || ' ' || md5(t::text) FROM sessions t WHERE user_id = '{subject}'
             ORDER BY 1"
        ))
    }

    fn log_rows() -> i64 {
        Spi::get_one::<i64>("SELECT count(*) FROM gdpr_deletion_log").unwrap().unwrap()
    }

    fn erase(subject: &str) -> pgrx::JsonB {
        Spi::get_one::<pgrx::JsonB>(&format!("SELECT gdpr_erase_user('{subject}')")).unwrap().unwrap()
    }

    #[pg_test]
    fn erasing_one_user_changes_exactly_the_registered_columns() {
        fixture();
        let alan_before = rows_of(ALAN);
        let summary = erase(ADA).0;

        let ada = strings(&format!(
            "SELECT concat_ws(' | ', email, full_name, phone, card, coalesce(nickname, '<NULL>'), birth_year, created_at::date)
               FROM app_users WHERE id = '{ADA}'"
        ));
        assert_eq!(
            ada,
            [format!("deleted_{ADA}@deleted.local | DELETED | +* *** *** **67 | 4111 11** **** 1111 | <NULL> | 1815 | 2026-01-01")]
        );
        let orders = strings(&format!("SELECT concat_ws(' | ', id, coalesce(notes, '<NULL>'), {SHIP_TO}) FROM {ORDERS} ORDER BY id"));
        assert_eq!(orders, ["1 | DELETED | DELETED", "2 | <NULL> | DELETED", "3 | gift wrap | 1 Bletchley Park"]);
        assert_eq!(strings("SELECT user_id::text FROM sessions"), [ALAN]);
        assert_eq!(rows_of(ALAN), alan_before, "the other user's rows are byte-identical");

        assert_eq!(summary["subject_id"], ADA);
        assert_eq!(summary["rows_affected"], 5);
        assert_eq!(summary["erased_by"], one("SELECT current_user::text"));
        assert_eq!(summary["tables"]["public.app_users"]["rows"], 1);
        assert_eq!(summary["tables"]["public.app_users"]["columns"]["email"], "pseudonymize");
        assert_eq!(summary["tables"]["public.app_users"]["columns"]["nickname"], "null");
        let orders_key = format!("public.{ORDERS}");
        assert_eq!(summary["tables"][&orders_key]["rows"], 2);
        assert_eq!(summary["tables"][&orders_key]["columns"]["Ship \"To\"; DROP TABLE app_users; --"], "mask");
        assert_eq!(summary["tables"]["public.sessions"]["rows"], 2);
        assert_eq!(summary["tables"]["public.sessions"]["columns"]["ip"], "delete_row");

        // The log row holds the same summary.
        let logged = one(&format!(
            "SELECT jsonb_build_object('subject_id', subject_id, 'erased_at', erased_at, 'erased_by', erased_by,
                                       'tables', tables, 'rows_affected', rows_affected)::text
               FROM gdpr_deletion_log WHERE subject_id = '{ADA}'"
        ));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&logged).unwrap(), summary);
    }

    #[pg_test]
    fn a_second_erasure_changes_nothing_and_is_logged() {
        fixture();
        erase(ADA);
        let ada_after_first = rows_of(ADA);
        let alan = rows_of(ALAN);
        let second = erase(ADA).0;
        assert_eq!(second["rows_affected"], 0);
        for (_, t) in second["tables"].as_object().unwrap() {
            assert_eq!(t["rows"], 0, "{second}");
        }
        assert_eq!(rows_of(ADA), ada_after_first);
        assert_eq!(rows_of(ALAN), alan);
        assert_eq!(log_rows(), 2);
        // New data of an erased subject is erased by the next call, nothing else.
        run(&format!("INSERT INTO {ORDERS} VALUES (4, '{ADA}', 'new note', 'new address')"));
        assert_eq!(erase(ADA).0["rows_affected"], 1);
        assert_eq!(rows_of(ADA).len(), ada_after_first.len() + 1);
    }

    /// Runs `call`, expects the error `expected` (prefix), and checks that no
    /// row of either user changed and nothing was logged.
    fn fails_before_any_change(call: &str, expected: &str) {
        let (ada, alan) = (rows_of(ADA), rows_of(ALAN));
        let e = error_of(call);
        assert!(e.starts_with(expected), "{e}");
        assert_eq!(rows_of(ADA), ada, "{expected}");
        assert_eq!(rows_of(ALAN), alan, "{expected}");
        assert_eq!(log_rows(), 0, "{expected}");
    }

    fn erase_ada() -> String {
        format!("SELECT gdpr_erase_user('{ADA}')")
    }

    #[pg_test]
    fn an_empty_registry_is_an_error() {
        fixture();
        run("DELETE FROM readiness_pii_columns");
        fails_before_any_change(&erase_ada(), "55000: gdpr_erase_user: the registry is empty");
        assert!(error_of(&erase_ada()).contains("register the personal data columns in readiness_pii_columns"));
    }

    #[pg_test]
    fn a_null_subject_is_an_error() {
        fixture();
        fails_before_any_change("SELECT gdpr_erase_user(NULL)", "22004: gdpr_erase_user: the subject must not be NULL");
    }

    #[pg_test]
    fn a_dropped_table_is_an_error() {
        fixture();
        run("CREATE TABLE gone (user_id uuid, email text)");
        run("INSERT INTO readiness_pii_columns VALUES ('gone', 'email', 'email', 'user_id', 'redact')");
        run("DROP TABLE gone");
        fails_before_any_change(&erase_ada(), "42P01: gdpr_erase_user: readiness_pii_columns names a table that no longer exists");
    }

    #[pg_test]
    fn a_missing_column_is_an_error() {
        fixture();
        run("ALTER TABLE app_users DROP COLUMN nickname");
        fails_before_any_change(
            &erase_ada(),
            "42703: gdpr_erase_user: readiness_pii_columns names column \"nickname\" of public.app_users, which does not exist",
        );
    }

    #[pg_test]
    fn a_missing_subject_column_is_an_error() {
        fixture();
        run("UPDATE readiness_pii_columns SET subject_column = 'account_id' WHERE table_name = 'sessions'::regclass");
        fails_before_any_change(&erase_ada(), "42703: gdpr_erase_user: readiness_pii_columns names subject column \"account_id\" of public.sessions");
    }

    #[pg_test]
    fn an_action_that_does_not_fit_the_column_is_an_error() {
        fixture();
        run("INSERT INTO readiness_pii_columns VALUES ('app_users', 'birth_year', 'birth_date', 'id', 'redact')");
        fails_before_any_change(&erase_ada(), "42804: gdpr_erase_user: column \"birth_year\" of public.app_users: redact writes text");
        run("UPDATE readiness_pii_columns SET erase_action = 'mask' WHERE column_name = 'birth_year'");
        fails_before_any_change(&erase_ada(), "42804");
        run("UPDATE readiness_pii_columns SET erase_action = 'null' WHERE column_name = 'birth_year'");
        run("UPDATE readiness_pii_columns SET erase_action = 'null' WHERE column_name = 'email'");
        fails_before_any_change(&erase_ada(), "42804: gdpr_erase_user: column \"email\" of public.app_users: null cannot be applied to a NOT NULL column");
        run("UPDATE readiness_pii_columns SET erase_action = 'pseudonymize' WHERE column_name = 'email'");
        run("ALTER TABLE app_users ALTER COLUMN full_name TYPE varchar(12)");
        run("UPDATE readiness_pii_columns SET erase_action = 'pseudonymize' WHERE column_name = 'full_name'");
        fails_before_any_change(&erase_ada(), "42804: gdpr_erase_user: column \"full_name\" of public.app_users: pseudonymize writes 44 characters");
    }

    #[pg_test]
    fn missing_privileges_are_an_error_before_any_change() {
        fixture();
        run("CREATE ROLE readiness_t_clerk NOLOGIN");
        run(&format!("GRANT SELECT ON app_users, {ORDERS}, sessions TO readiness_t_clerk"));
        run(&format!("GRANT UPDATE ON app_users, {ORDERS} TO readiness_t_clerk"));
        run("SET LOCAL ROLE readiness_t_clerk");
        let e = error_of(&erase_ada());
        run("RESET ROLE");
        assert_eq!(e, "42501: gdpr_erase_user: permission denied: DELETE on public.sessions");
        run("GRANT DELETE ON sessions TO readiness_t_clerk");
        run("SET LOCAL ROLE readiness_t_clerk");
        let e = error_of(&erase_ada());
        run("RESET ROLE");
        assert!(e.starts_with("42501: gdpr_erase_user: permission denied: INSERT on"), "{e}");
        assert_eq!(log_rows(), 0);
        assert_eq!(one(&format!("SELECT full_name FROM app_users WHERE id = '{ADA}'")), "Ada Lovelace");
    }

    #[pg_test]
    fn a_failure_half_way_leaves_every_table_unchanged() {
        fixture();
        // Statements run in table name order: the quoted "Order ..." table
        // comes before app_users, whose CHECK rejects the pseudonym. The
        // sequence, which rollbacks do not reset, proves the first table was
        // really updated before the failure. error_of runs the call in a
        // PL/pgSQL EXCEPTION block: its subtransaction rolls back as the
        // caller's transaction would.
        run("CREATE SEQUENCE touched");
        run("CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('touched'); RETURN NEW; END $$");
        run(&format!("CREATE TRIGGER count_touch AFTER UPDATE ON {ORDERS} FOR EACH ROW EXECUTE FUNCTION count_touch()"));
        run("ALTER TABLE app_users ADD CONSTRAINT no_placeholder_emails CHECK (email NOT LIKE '%@deleted.local')");
        let (ada, alan) = (rows_of(ADA), rows_of(ALAN));
        let e = error_of(&erase_ada());
        assert!(e.starts_with("23514: new row for relation \"app_users\" violates check constraint \"no_placeholder_emails\""), "{e}");
        assert_eq!(one("SELECT last_value::text FROM touched"), "2", "both of Ada's orders were updated before the failure");
        assert_eq!(rows_of(ADA), ada);
        assert_eq!(rows_of(ALAN), alan);
        assert_eq!(log_rows(), 0);
        assert_eq!(strings("SELECT notes FROM \"Order \"\"Items\"\"; x\" WHERE id = 1"), ["leave at the door, call 555 123 4567"]);
    }

    #[pg_test]
    fn pii_mask_masks_once() {
        assert_eq!(one("SELECT pii_mask('phone', '+1 555 123 4567')"), "+* *** *** **67");
        assert_eq!(one("SELECT pii_mask('phone', pii_mask('phone', '+1 555 123 4567'))"), "+* *** *** **67");
        assert_eq!(one("SELECT pii_mask('card', pii_mask('card', '4111 1111 1111 1111'))"), "4111 11** **** 1111");
        assert_eq!(one("SELECT pii_mask('email', pii_mask('email', '@x.com'))"), "***@***.com");
        assert_eq!(one("SELECT pii_mask('address', '12 Analytical Row')"), "DELETED");
        assert_eq!(one("SELECT pii_mask('email', NULL)"), "<NULL>");
        assert!(error_of("SELECT pii_mask('shoe_size', '44')").starts_with("22023: unknown pii_kind \"shoe_size\""));
    }
}
