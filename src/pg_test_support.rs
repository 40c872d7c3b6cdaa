//! Helpers shared by the in-server test modules: run SQL, read a column of
//! strings, read one check's rows, and capture an error's SQLSTATE.

use pgrx::prelude::*;

/// The first column of every row, NULL as `<NULL>`.
pub fn strings(q: &str) -> Vec<String> {
    Spi::connect(|c| {
        c.select(q, None, &[])
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap_or_else(|| "<NULL>".into()))
            .collect()
    })
}

pub fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Object names of the `fail` rows of one check.
pub fn fails(check: &str) -> Vec<String> {
    strings(&format!(
        "SELECT object_name FROM readiness_report() WHERE check_id = '{check}' AND status = 'fail' ORDER BY object_name"
    ))
}

/// Statuses of every row of one check, sorted.
pub fn statuses(check: &str) -> Vec<String> {
    strings(&format!("SELECT status FROM readiness_report() WHERE check_id = '{check}' ORDER BY status"))
}

/// Remediations of the `fail` rows of one check.
pub fn remediations(check: &str) -> Vec<String> {
    strings(&format!(
        "SELECT remediation FROM readiness_report() WHERE check_id = '{check}' AND status = 'fail' ORDER BY object_name"
    ))
}

/// SQLSTATE and message of the error `sql` raises, or "none". Runs it in a
/// PL/pgSQL exception block, so the test's transaction stays usable.
pub fn error_of(sql: &str) -> String {
    run("CREATE OR REPLACE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN EXECUTE q; RETURN 'none';
         EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$");
    Spi::get_one_with_args::<String>("SELECT pg_temp.error_of($1)", &[sql.into()]).unwrap().unwrap()
}
