//! The SQL boundary: argument validation, typed errors turned into ereport
//! with a real SQLSTATE, and the report functions and views.

use pgrx::prelude::*;
use pgrx::{AnyNumeric, JsonB};

use super::{apply_filter, parse_filter, parse_severity, score, script, summary, BadArgument};
use crate::checks;
use crate::model::Finding;

fn bad_argument(e: BadArgument) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, e.0);
}

/// Runs every enabled check over a fresh snapshot.
pub fn collect() -> Vec<Finding> {
    let config = crate::guc::current_config();
    let snapshot = crate::snapshot::read::read_snapshot(&config);
    checks::run_all(&snapshot, &config).findings
}

fn numeric(x: f64) -> AnyNumeric {
    AnyNumeric::try_from(format!("{x:.1}").as_str()).unwrap_or_else(|_| AnyNumeric::from(0))
}


/// One row per failing (or waived, skipped, errored) object of every check,
/// plus one `pass` row per check that found nothing.
#[pg_extern(stable)]
fn readiness_report(
    categories: default!(Option<Vec<Option<String>>>, "NULL"),
    min_severity: default!(String, "'info'"),
) -> TableIterator<
    'static,
    (
        name!(check_id, String),
        name!(category, String),
        name!(severity, String),
        name!(status, String),
        name!(object_type, Option<String>),
        name!(object_name, Option<String>),
        name!(detail, String),
        name!(evidence, JsonB),
        name!(remediation, Option<String>),
        name!(fingerprint, String),
    ),
> {
    let filter = parse_filter(categories, &min_severity).unwrap_or_else(|e| bad_argument(e));
    let rows = apply_filter(collect(), &filter);
    TableIterator::new(rows.into_iter().map(|f| {
        (
            f.check_id.to_string(),
            f.category.as_str().to_string(),
            f.severity.as_str().to_string(),
            f.status.as_str().to_string(),
            f.object_type,
            f.object_name,
            f.detail,
            JsonB(f.evidence),
            f.remediation,
            f.fingerprint,
        )
    }))
}

/// The catalog of every check the extension ships (backs the view `readiness_checks`).
#[pg_extern(stable)]
fn readiness_checks_catalog() -> TableIterator<
    'static,
    (
        name!(check_id, String),
        name!(category, String),
        name!(severity, String),
        name!(title, String),
        name!(rationale, String),
        name!(frameworks, Vec<String>),
        name!(enabled, bool),
    ),
> {
    let config = crate::guc::current_config();
    TableIterator::new(checks::registry().into_iter().map(move |c| {
        (
            c.id.to_string(),
            c.category.as_str().to_string(),
            c.severity.as_str().to_string(),
            c.title.to_string(),
            c.rationale.to_string(),
            c.frameworks.iter().map(|s| s.to_string()).collect(),
            config.is_enabled(c.id),
        )
    }))
}

extension_sql!(
    r#"
CREATE VIEW readiness_checks AS
    SELECT check_id, category, severity, title, rationale, frameworks, enabled
      FROM readiness_checks_catalog();
COMMENT ON VIEW readiness_checks IS 'Every check pg_readiness ships: id, category, default severity, rule and the frameworks it serves.';
"#,
    name = "readiness_checks_view",
    requires = [readiness_checks_catalog]
);

/// The headline: "7.5/10", "89% (42/47 applicable checks)".
#[pg_extern(stable)]
fn readiness_score() -> TableIterator<
    'static,
    (
        name!(score, AnyNumeric),
        name!(passed, i32),
        name!(applicable, i32),
        name!(pass_rate, AnyNumeric),
        name!(critical, i32),
        name!(high, i32),
        name!(medium, i32),
        name!(low, i32),
    ),
> {
    let s = score(&collect());
    TableIterator::once((numeric(s.score), s.passed, s.applicable, numeric(s.pass_rate), s.critical, s.high, s.medium, s.low))
}

/// One row per category: the "(2/4)" of an audit's section headings.
#[pg_extern(stable)]
fn readiness_summary() -> TableIterator<
    'static,
    (
        name!(category, String),
        name!(passed, i32),
        name!(applicable, i32),
        name!(failing_objects, i32),
        name!(worst_severity, Option<String>),
    ),
> {
    let rows = summary(&collect());
    TableIterator::new(rows.into_iter().map(|c| {
        (
            c.category.as_str().to_string(),
            c.passed,
            c.applicable,
            c.failing_objects,
            c.worst_severity.map(|s| s.as_str().to_string()),
        )
    }))
}

/// One SQL script fixing every failing finding at or above `min_severity`
/// that has a SQL fix. Run it with psql, outside a transaction block.
#[pg_extern(stable)]
fn remediation_script(min_severity: default!(String, "'medium'")) -> String {
    let min = parse_severity(&min_severity).unwrap_or_else(|e| bad_argument(e));
    let mut rows = collect();
    super::sort(&mut rows);
    let database = Spi::get_one::<String>("SELECT quote_ident(current_database())").ok().flatten().unwrap_or_default();
    script::render(&rows, min, &database)
}

/// The statements of `remediation_script()`, one per row in order, for
/// psql's `\gexec` (each row runs on its own, as CONCURRENTLY requires).
#[pg_extern(stable)]
fn remediation_statements(
    min_severity: default!(String, "'medium'"),
) -> TableIterator<
    'static,
    (
        name!(ordinal, i32),
        name!(check_id, Option<String>),
        name!(object_name, Option<String>),
        name!(lock, Option<String>),
        name!(statement, String),
    ),
> {
    let min = parse_severity(&min_severity).unwrap_or_else(|e| bad_argument(e));
    let mut rows = collect();
    super::sort(&mut rows);
    let steps = script::steps(&rows, min);
    TableIterator::new(steps.into_iter().enumerate().map(|(i, s)| {
        (i as i32 + 1, s.check_id.map(String::from), s.object_name, s.lock.map(String::from), s.statement)
    }))
}
