//! pg_readiness: a production-readiness audit of a PostgreSQL database, run
//! inside the database.
//!
//! The pipeline: `snapshot` (catalog reads, once per report) -> `checks`
//! (pure functions over the snapshot) -> `model::Finding` -> `report`
//! (rows, score, summary).

use pgrx::prelude::*;

pub mod checks;
pub mod config;
pub mod guc;
pub mod migrations;
pub mod model;
pub mod pii;
pub mod report;
pub mod snapshot;

::pgrx::pg_module_magic!(name, version);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::init();
}

// Only in `cargo pgrx test` builds: plain `cargo test` has no server.
#[cfg(feature = "pg_test")]
mod pg_test_support;
#[cfg(feature = "pg_test")]
mod pg_tests;
#[cfg(feature = "pg_test")]
mod pg_tests_ops;
#[cfg(feature = "pg_test")]
mod pg_tests_pii;
#[cfg(feature = "pg_test")]
mod pg_tests_migrations;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
