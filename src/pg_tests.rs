//! In-server tests (`cargo pgrx test`): SQL behaviour end to end.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn report_runs_on_an_empty_database() {
        let n = Spi::get_one::<i64>("SELECT count(*) FROM readiness_report() WHERE status = 'fail'").unwrap();
        assert_eq!(n, Some(0));
    }
}
