//! The check registry: one list that feeds `readiness_checks`, the report and
//! the README's check table, and the engine that runs it over a snapshot.

pub mod audit;
pub(crate) mod bloat;
pub mod configuration;
pub mod constraints;
pub mod indexes;
pub mod maintenance;
pub mod migrations;
pub mod pii;
pub mod privileges;
pub mod rls;
pub mod sensitive;
pub(crate) mod sqlgen;
pub mod workload;

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::json;

use crate::config::Config;
use crate::model::{fingerprint, Category, CheckError, Finding, Measure, Outcome, Severity, Status};
use crate::snapshot::{Section, SectionState, Snapshot};

pub type RunFn = fn(&Snapshot, &Config) -> Result<Outcome, CheckError>;

pub struct Check {
    pub id: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub title: &'static str,
    /// The precise rule, why it matters, and its source, in a few sentences.
    pub rationale: &'static str,
    pub frameworks: &'static [&'static str],
    /// Snapshot sections the check reads: if one failed, the check is an `error` row.
    pub needs: &'static [Section],
    pub run: RunFn,
}

/// Every check the extension ships, in catalog order.
pub fn registry() -> Vec<&'static Check> {
    let mut v: Vec<&'static Check> = Vec::new();
    v.extend(rls::CHECKS.iter());
    v.extend(privileges::CHECKS.iter());
    v.extend(indexes::CHECKS.iter());
    v.extend(workload::CHECKS.iter());
    v.extend(constraints::CHECKS.iter());
    v.extend(pii::CHECKS.iter());
    v.extend(audit::CHECKS.iter());
    v.extend(maintenance::CHECKS.iter());
    v.extend(configuration::CHECKS.iter());
    v.extend(migrations::CHECKS.iter());
    v
}

pub fn find(id: &str) -> Option<&'static Check> {
    registry().into_iter().find(|c| c.id == id)
}

/// What one run of the checks produced.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    /// Every row, unfiltered and unordered.
    pub findings: Vec<Finding>,
    pub measures: Vec<Measure>,
}

/// Runs every enabled check.
pub fn run_all(snapshot: &Snapshot, config: &Config) -> Evaluation {
    evaluate(&registry(), snapshot, config)
}

pub fn evaluate(checks: &[&'static Check], snapshot: &Snapshot, config: &Config) -> Evaluation {
    let mut out = Evaluation::default();
    for check in checks.iter().filter(|c| config.is_enabled(c.id)) {
        let (rows, measures) = run_one(check, snapshot, config);
        out.findings.extend(rows);
        out.measures.extend(measures);
    }
    out
}

pub fn run_checks(checks: &[&'static Check], snapshot: &Snapshot, config: &Config) -> Vec<Finding> {
    evaluate(checks, snapshot, config).findings
}

fn run_one(check: &'static Check, snapshot: &Snapshot, config: &Config) -> (Vec<Finding>, Vec<Measure>) {
    for section in check.needs {
        match snapshot.section_state(*section) {
            Some(SectionState::Failed { sqlstate, message }) => {
                return (vec![error_row(check, sqlstate, &format!("reading the catalog failed: {message}"))], Vec::new());
            }
            Some(SectionState::Unavailable(reason)) => {
                return (vec![whole_check_row(check, Status::Skipped, reason)], Vec::new());
            }
            None => {}
        }
    }
    // A check is plain Rust over plain data; a panic is a bug in that check
    // and must not take the other checks' results down with it.
    let result = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(feature = "pg_test")]
        fault::check(check.id);
        (check.run)(snapshot, config)
    }));
    let rows = match result {
        Ok(Ok(mut outcome)) => {
            let measures = std::mem::take(&mut outcome.measures);
            return (outcome_rows(check, outcome), measures);
        }
        Ok(Err(CheckError::Skipped(reason))) => vec![whole_check_row(check, Status::Skipped, &reason)],
        Ok(Err(CheckError::Failed { sqlstate, message })) => vec![error_row(check, &sqlstate, &message)],
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "check failed".into());
            vec![error_row(check, "XX000", &message)]
        }
    };
    (rows, Vec::new())
}

fn outcome_rows(check: &'static Check, outcome: Outcome) -> Vec<Finding> {
    let any_fail = outcome.issues.iter().any(|i| i.status == Status::Fail);
    let mut rows: Vec<Finding> = outcome
        .issues
        .into_iter()
        .map(|issue| {
            let object_type = issue.object.as_ref().map(|o| o.kind.clone());
            let object_name = issue.object.as_ref().map(|o| o.identity.clone());
            Finding {
                check_id: check.id,
                category: check.category,
                severity: issue.severity.unwrap_or(check.severity),
                status: issue.status,
                fingerprint: fingerprint(check.id, object_type.as_deref(), object_name.as_deref()),
                object_type,
                object_name,
                detail: issue.detail,
                evidence: issue.evidence,
                lock: issue.remediation.as_ref().and_then(|r| r.lock()),
                statements: issue.remediation.as_ref().map(|r| r.statements().to_vec()).unwrap_or_default(),
                remediation: issue.remediation.map(|r| r.text()),
            }
        })
        .collect();
    if !any_fail {
        rows.push(whole_check_row(check, Status::Pass, &outcome.inspected));
    }
    rows
}

fn whole_check_row(check: &'static Check, status: Status, detail: &str) -> Finding {
    Finding {
        check_id: check.id,
        category: check.category,
        severity: check.severity,
        status,
        object_type: Some("check".into()),
        object_name: None,
        detail: detail.to_string(),
        evidence: json!({}),
        remediation: None,
        lock: None,
        statements: Vec::new(),
        fingerprint: fingerprint(check.id, Some("check"), None),
    }
}

fn error_row(check: &'static Check, sqlstate: &str, message: &str) -> Finding {
    let mut f = whole_check_row(check, Status::Error, &format!("the check could not run: {message}"));
    f.evidence = json!({ "sqlstate": sqlstate, "message": message });
    f
}

/// Test-only fault injection: make one check panic, to test that a failing
/// check becomes an `error` row while the others still report.
#[cfg(feature = "pg_test")]
pub mod fault {
    use std::sync::Mutex;
    pub static FAIL_CHECK: Mutex<Option<String>> = Mutex::new(None);
    pub fn check(id: &str) {
        if FAIL_CHECK.lock().unwrap().as_deref() == Some(id) {
            panic!("injected failure in check {id}");
        }
    }
}

/// Bytes as PostgreSQL's pg_size_pretty writes them (10 GB, 512 kB).
pub(crate) fn pretty_bytes(bytes: i64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v.abs() >= 10.0 * 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{} {}", v.round() as i64, units[i])
}

/// Plural helper for `pass` details: `n_of(3, "table")` = "3 tables".
pub(crate) fn n_of(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else if noun.ends_with('x') || noun.ends_with('s') {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Issue, ObjRef};
    use crate::snapshot::build::SnapshotBuilder;
    use std::collections::HashSet;

    fn boom(_: &Snapshot, _: &Config) -> Result<Outcome, CheckError> {
        panic!("synthetic failure")
    }
    fn one_fail(_: &Snapshot, _: &Config) -> Result<Outcome, CheckError> {
        Ok(Outcome::new("1 thing", vec![Issue::fail(ObjRef::new("table", "public.t"), "bad")]))
    }
    fn partial_skip(_: &Snapshot, _: &Config) -> Result<Outcome, CheckError> {
        Ok(Outcome::new("2 things", vec![Issue::skipped(Some(ObjRef::new("table", "public.u")), "no privilege")]))
    }

    static BOOM: Check = Check {
        id: "test_boom",
        category: Category::Rls,
        severity: Severity::High,
        title: "t",
        rationale: "r",
        frameworks: &[],
        needs: &[],
        run: boom,
    };
    static FAILS: Check = Check { id: "test_fails", run: one_fail, ..BOOM };
    static NEEDS_POLICIES: Check = Check { id: "test_needs", run: one_fail, needs: &[Section::Policies], ..BOOM };
    static PARTIAL: Check = Check { id: "test_partial", run: partial_skip, ..BOOM };

    #[test]
    fn a_panicking_check_becomes_an_error_row_and_others_still_report() {
        let snap = SnapshotBuilder::new().build();
        let rows = run_checks(&[&BOOM, &FAILS], &snap, &Config::default());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].check_id, "test_boom");
        assert_eq!(rows[0].status, Status::Error);
        assert_eq!(rows[0].evidence["sqlstate"], "XX000");
        assert_eq!(rows[0].evidence["message"], "synthetic failure");
        assert_eq!(rows[1].status, Status::Fail);
        assert_eq!(rows[1].object_name.as_deref(), Some("public.t"));
    }

    #[test]
    fn failed_section_is_error_unavailable_section_is_skipped() {
        let mut snap = SnapshotBuilder::new().build();
        snap.sections.insert(
            Section::Policies,
            SectionState::Failed { sqlstate: "42501".into(), message: "permission denied".into() },
        );
        let rows = run_checks(&[&NEEDS_POLICIES], &snap, &Config::default());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Error);
        assert_eq!(rows[0].evidence["sqlstate"], "42501");
        snap.sections.insert(Section::Policies, SectionState::Unavailable("not visible".into()));
        let rows = run_checks(&[&NEEDS_POLICIES], &snap, &Config::default());
        assert_eq!(rows[0].status, Status::Skipped);
        assert_eq!(rows[0].detail, "not visible");
    }

    #[test]
    fn partial_skips_still_get_a_pass_row() {
        let snap = SnapshotBuilder::new().build();
        let rows = run_checks(&[&PARTIAL], &snap, &Config::default());
        let statuses: Vec<Status> = rows.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![Status::Skipped, Status::Pass]);
        assert_eq!(rows[1].detail, "2 things");
        assert_eq!(rows[1].object_type.as_deref(), Some("check"));
        assert_eq!(rows[1].object_name, None);
    }

    #[test]
    fn disabled_checks_do_not_run() {
        let snap = SnapshotBuilder::new().build();
        let config = Config { disabled_checks: vec!["test_fails".into()], ..Config::default() };
        assert!(run_checks(&[&FAILS], &snap, &config).is_empty());
    }

    #[test]
    fn registry_ids_are_unique_snake_case_with_rationale_and_frameworks() {
        let mut seen = HashSet::new();
        for c in registry() {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(c.id.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_' || ch.is_ascii_digit()), "{}", c.id);
            assert!(c.rationale.len() > 60, "{} needs a real rationale", c.id);
            assert!(!c.frameworks.is_empty(), "{} cites no framework", c.id);
            assert!(!c.title.is_empty());
        }
    }

    #[test]
    fn every_registered_check_passes_on_an_empty_catalog() {
        let snap = SnapshotBuilder::new().build();
        for row in run_all(&snap, &Config::default()).findings {
            assert!(
                matches!(row.status, Status::Pass | Status::Skipped),
                "{} on an empty catalog gave {:?}: {}",
                row.check_id,
                row.status,
                row.detail
            );
        }
    }

    #[test]
    fn pretty_bytes_matches_pg_size_pretty() {
        assert_eq!(pretty_bytes(10 * 1024 * 1024 * 1024), "10 GB");
        assert_eq!(pretty_bytes(100 * 1024 * 1024 * 1024), "100 GB");
        assert_eq!(pretty_bytes(8192), "8192 bytes");
        assert_eq!(pretty_bytes(20 * 1024 * 1024), "20 MB");
    }

    #[test]
    fn plural() {
        assert_eq!(n_of(1, "table"), "1 table");
        assert_eq!(n_of(2, "policy"), "2 policies");
        assert_eq!(n_of(3, "index"), "3 indexes");
    }
}

/// The README's check table, generated from the registry so the two cannot
/// drift apart (`readme_check_table_is_current` enforces it).
pub fn markdown_table() -> String {
    let mut s = String::from("| check_id | category | severity | fails when | frameworks |\n|---|---|---|---|---|\n");
    for c in registry() {
        let rule = c.rationale.split(". ").next().unwrap_or(c.rationale).trim_end_matches('.');
        s.push_str(&format!(
            "| `{}` | {} | {} | {}. | {} |\n",
            c.id,
            c.category.as_str(),
            c.severity.as_str(),
            rule.replace('|', "\\|"),
            c.frameworks.join(", ")
        ));
    }
    s
}

/// Helpers for the category test modules: run one registered check over a
/// hand-built snapshot and read the outcome.
#[cfg(test)]
pub(crate) mod testkit {
    use super::*;
    use crate::snapshot::build::SnapshotBuilder;

    pub fn run_with(id: &str, b: &SnapshotBuilder, c: &Config) -> Vec<Finding> {
        let check = find(id).unwrap_or_else(|| panic!("no check {id}"));
        run_checks(&[check], &b.build(), c)
    }

    pub fn run(id: &str, b: &SnapshotBuilder) -> Vec<Finding> {
        run_with(id, b, &Config::default())
    }

    /// Object names of the `fail` rows.
    pub fn fails(rows: &[Finding]) -> Vec<String> {
        rows.iter().filter(|r| r.status == Status::Fail).map(|r| r.object_name.clone().unwrap_or_default()).collect()
    }

    /// Exactly one row, and it is `pass`.
    pub fn passes(rows: &[Finding]) -> bool {
        rows.len() == 1 && rows[0].status == Status::Pass
    }
}

#[cfg(test)]
mod readme_tests {
    const BEGIN: &str = "<!-- checks:begin (generated from the registry: READINESS_BLESS=1 cargo test --lib readme) -->\n";
    const END: &str = "<!-- checks:end -->";

    #[test]
    fn readme_check_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let start = readme.find(BEGIN).expect("README has the checks:begin marker") + BEGIN.len();
        let end = readme.find(END).expect("README has the checks:end marker");
        let table = super::markdown_table();
        if std::env::var_os("READINESS_BLESS").is_some() {
            let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
            std::fs::write(path, updated).expect("write README.md");
            return;
        }
        assert_eq!(
            &readme[start..end],
            table,
            "the README's check table is out of date: run READINESS_BLESS=1 cargo test --lib readme"
        );
    }
}
