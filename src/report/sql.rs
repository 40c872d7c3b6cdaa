//! The SQL boundary: argument validation, typed errors turned into ereport
//! with a real SQLSTATE, and the report functions and views.

use std::collections::BTreeMap;

use pgrx::datum::{DatumWithOid, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{AnyNumeric, JsonB};

use super::{apply_filter, json, markdown, metrics, parse_filter, parse_severity, per_check, score, script, summary, waivers, BadArgument};
use crate::checks;
use crate::model::{Finding, Measure, Status};

fn bad_argument(e: BadArgument) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, e.0);
}

/// One report run: every row (waivers applied) and what the checks measured.
pub struct Run {
    pub findings: Vec<Finding>,
    pub measures: Vec<Measure>,
    pub database: String,
    pub extension_schema: Option<String>,
}

/// Runs every enabled check over a fresh snapshot and applies the waivers.
pub fn run() -> Run {
    let config = crate::guc::current_config();
    let snapshot = crate::snapshot::read::read_snapshot(&config);
    let mut eval = checks::run_all(&snapshot, &config);
    waivers::apply(&mut eval.findings, &snapshot.waivers);
    Run {
        findings: eval.findings,
        measures: eval.measures,
        database: snapshot.database.clone(),
        extension_schema: snapshot.extension_schema.clone(),
    }
}

pub fn collect() -> Vec<Finding> {
    run().findings
}

fn text_of(query: &str) -> String {
    Spi::get_one::<String>(query).ok().flatten().unwrap_or_default()
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

extension_sql_file!("../../sql/bootstrap.sql", name = "bootstrap_tables", bootstrap);
extension_sql_file!("../../sql/pii.sql", name = "pii_tables", requires = ["bootstrap_tables"]);
extension_sql_file!("../../sql/score_history.sql", name = "score_history", requires = ["bootstrap_tables"]);

extension_sql!(
    r#"
CREATE VIEW @extschema@.readiness_checks AS
    SELECT check_id, category, severity, title, rationale, frameworks, enabled
      FROM @extschema@.readiness_checks_catalog();
COMMENT ON VIEW @extschema@.readiness_checks IS 'Every check pg_readiness ships: id, category, default severity, rule and the frameworks it serves.';
-- Readable by every role that may run the report (views do not inherit the
-- PUBLIC EXECUTE their functions have).
GRANT SELECT ON @extschema@.readiness_checks TO PUBLIC;
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

/// The report as one JSON document: database, time, version, score and
/// summary (over the same filtered rows) and the findings.
#[pg_extern(stable)]
fn readiness_report_json(
    categories: default!(Option<Vec<Option<String>>>, "NULL"),
    min_severity: default!(String, "'info'"),
) -> JsonB {
    let filter = parse_filter(categories, &min_severity).unwrap_or_else(|e| bad_argument(e));
    let r = run();
    let rows = apply_filter(r.findings, &filter);
    let generated_at = text_of("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    JsonB(json::document(&rows, &r.database, &generated_at, env!("CARGO_PKG_VERSION")))
}

/// The audit document in Markdown.
#[pg_extern(stable)]
fn readiness_report_markdown() -> String {
    let r = run();
    let mut rows = r.findings;
    super::sort(&mut rows);
    let date = text_of("SELECT to_char(now(), 'YYYY-MM-DD')");
    let version = text_of("SELECT current_setting('server_version')");
    markdown::render(
        &rows,
        &markdown::Header { database: &r.database, date: &date, server_version: &version, extension_version: env!("CARGO_PKG_VERSION") },
    )
}

/// The validation step of a deploy pipeline: raises P0001 listing the checks
/// that fail at or above `min_severity`; returns normally otherwise.
#[pg_extern(stable)]
fn assert_ready(min_severity: default!(String, "'high'")) {
    let min = parse_severity(&min_severity).unwrap_or_else(|e| bad_argument(e));
    let mut rows = collect();
    super::sort(&mut rows);
    let mut failing: BTreeMap<(crate::model::Severity, &str), Vec<String>> = BTreeMap::new();
    for f in rows.iter().filter(|f| f.status == Status::Fail && f.severity.at_least(min)) {
        failing.entry((f.severity, f.check_id)).or_default().push(f.object_name.clone().unwrap_or_else(|| "-".into()));
    }
    let mut checks: Vec<&str> = failing.keys().map(|(_, id)| *id).collect();
    checks.dedup();
    if checks.is_empty() {
        return;
    }
    let detail: Vec<String> = failing
        .iter()
        .map(|((sev, id), objects)| {
            let shown: Vec<&str> = objects.iter().take(10).map(|s| s.as_str()).collect();
            let more = if objects.len() > 10 { format!(" and {} more", objects.len() - 10) } else { String::new() };
            format!("{id} ({}): {}{more}", sev.as_str(), shown.join(", "))
        })
        .collect();
    let n = checks.len();
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_RAISE_EXCEPTION,
        format!("pg_readiness: {n} check{} fail at severity {} or above", if n == 1 { "" } else { "s" }, min.as_str()),
        "assert_ready",
    )
    .set_detail(detail.join("\n"))
    .set_hint(format!("SELECT * FROM readiness_report(NULL, '{}') WHERE status = 'fail'; remediation_script('{}') has the fixes.", min.as_str(), min.as_str()))
    .report(PgLogLevel::ERROR);
}

/// Records an accepted risk. NULL `object_name` waives the whole check.
#[pg_extern(volatile)]
fn readiness_waive(
    check_id: Option<String>,
    object_name: Option<String>,
    reason: Option<String>,
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
) {
    let invalid = |m: String| -> ! { bad_argument(BadArgument(m)) };
    let check_id = check_id.unwrap_or_default();
    if checks::find(&check_id).is_none() {
        invalid(format!("unknown check_id \"{check_id}\"; the valid ids are in the readiness_checks view"));
    }
    let reason = reason.unwrap_or_default();
    if reason.trim().is_empty() {
        invalid("a waiver needs a reason: say why the risk is accepted".into());
    }
    if let Some(ts) = expires_at {
        let past = Spi::get_one_with_args::<bool>("SELECT $1 <= now()", &[DatumWithOid::from(ts)]).ok().flatten();
        if past == Some(true) {
            invalid("expires_at is in the past: a waiver must expire in the future, or never (NULL)".into());
        }
    }
    let schema = run_schema();
    let q = format!(
        "INSERT INTO {schema}.readiness_waivers (check_id, object_name, reason, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (check_id, coalesce(object_name, ''))
         DO UPDATE SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at,
                       created_by = current_user, created_at = now()"
    );
    let args = [
        DatumWithOid::from(check_id),
        object_name.map(DatumWithOid::from).unwrap_or_else(DatumWithOid::null::<String>),
        DatumWithOid::from(reason),
        expires_at.map(DatumWithOid::from).unwrap_or_else(DatumWithOid::null::<TimestampWithTimeZone>),
    ];
    Spi::connect_mut(|c| c.update(q.as_str(), None, &args).map(|_| ())).unwrap_or_else(|e| pgrx::error!("recording the waiver failed: {e}"));
}

/// The extension's schema, quoted.
fn run_schema() -> String {
    Spi::get_one::<String>(
        "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_readiness'",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| pgrx::error!("pg_readiness is not installed in this database"))
}

/// Numeric gauges (backs the view `readiness_metrics`).
#[pg_extern(stable)]
fn readiness_metrics_rows() -> TableIterator<'static, (name!(metric, String), name!(labels, JsonB), name!(value, f64))> {
    let r = run();
    let gauges = metrics::gauges(&r.findings, &r.measures);
    TableIterator::new(gauges.into_iter().map(|(m, l, v)| (m, JsonB(l), v)))
}

extension_sql!(
    r#"
CREATE VIEW @extschema@.readiness_metrics AS
    SELECT metric, labels, value FROM @extschema@.readiness_metrics_rows();
COMMENT ON VIEW @extschema@.readiness_metrics IS 'Numeric gauges of the current report for Grafana and Prometheus exporters.';
GRANT SELECT ON @extschema@.readiness_metrics TO PUBLIC;
"#,
    name = "readiness_metrics_view",
    requires = [readiness_metrics_rows]
);

/// Appends the current per-check results to `readiness_history` (and the
/// headline to `readiness_score_history`); returns the number of
/// `readiness_history` rows written. Meant to be scheduled (pg_cron).
#[pg_extern(volatile)]
fn readiness_snapshot() -> i32 {
    let r = run();
    let schema = r.extension_schema.clone().unwrap_or_else(run_schema);
    let mut ids = Vec::new();
    let mut cats = Vec::new();
    let mut sevs = Vec::new();
    let mut statuses = Vec::new();
    let mut counts = Vec::new();
    for c in per_check(&r.findings) {
        ids.push(c.check_id.to_string());
        cats.push(c.category.as_str().to_string());
        sevs.push(c.severity.as_str().to_string());
        statuses.push(c.status.as_str().to_string());
        counts.push(c.failing_objects as i32);
    }
    let n = ids.len() as i32;
    let q = format!(
        "INSERT INTO {schema}.readiness_history (taken_at, check_id, category, severity, status, failing_objects)
         SELECT now(), * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[])"
    );
    let args = [
        DatumWithOid::from(ids),
        DatumWithOid::from(cats),
        DatumWithOid::from(sevs),
        DatumWithOid::from(statuses),
        DatumWithOid::from(counts),
    ];
    let sc = score(&r.findings);
    let headline = format!(
        "INSERT INTO {schema}.readiness_score_history (taken_at, score, passed, applicable, pass_rate, critical, high, medium, low)
         VALUES (now(), $1::numeric, $2, $3, $4::numeric, $5, $6, $7, $8)"
    );
    let headline_args = [
        DatumWithOid::from(format!("{:.1}", sc.score)),
        DatumWithOid::from(sc.passed),
        DatumWithOid::from(sc.applicable),
        DatumWithOid::from(format!("{:.1}", sc.pass_rate)),
        DatumWithOid::from(sc.critical),
        DatumWithOid::from(sc.high),
        DatumWithOid::from(sc.medium),
        DatumWithOid::from(sc.low),
    ];
    // Between installing a new library and ALTER EXTENSION ... UPDATE, the
    // previous version's schema (without the score history) runs with this
    // code: keep taking snapshots there.
    let has_headline_table = Spi::get_one_with_args::<bool>(
        "SELECT to_regclass($1) IS NOT NULL",
        &[DatumWithOid::from(format!("{schema}.readiness_score_history"))],
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    Spi::connect_mut(|c| {
        c.update(q.as_str(), None, &args)?;
        if has_headline_table {
            c.update(headline.as_str(), None, &headline_args)?;
        }
        Ok::<(), pgrx::spi::SpiError>(())
    })
    .unwrap_or_else(|e| pgrx::error!("writing the snapshot failed: {e}"));
    n
}

/// Personal data found by column name, type and sampled values; evidence
/// never holds a raw value, only counts.
#[pg_extern(stable)]
fn pii_scan() -> TableIterator<
    'static,
    (
        name!(object_name, String),
        name!(pii_kind, String),
        name!(basis, String),
        name!(confidence, String),
        name!(sample_hits, i32),
        name!(sampled, i32),
        name!(registered, bool),
    ),
> {
    let config = crate::guc::current_config();
    let snapshot = crate::snapshot::read::read_snapshot(&config);
    TableIterator::new(crate::checks::pii::scan_rows(&snapshot))
}
