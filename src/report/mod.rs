//! Findings -> what the SQL functions return. Renderers decide nothing: they
//! filter, order and count the rows the checks produced.

pub mod json;
pub mod markdown;
pub mod metrics;
pub mod script;
pub mod sql;
pub mod waivers;

use std::collections::BTreeMap;

use crate::model::{Category, Finding, Severity, Status};

/// Arguments of `readiness_report()` after validation.
#[derive(Clone, Debug)]
pub struct Filter {
    pub categories: Option<Vec<Category>>,
    pub min_severity: Severity,
}

impl Default for Filter {
    fn default() -> Filter {
        Filter { categories: None, min_severity: Severity::Info }
    }
}

/// Bad argument to a report function: becomes SQLSTATE 22023.
#[derive(Debug, PartialEq, Eq)]
pub struct BadArgument(pub String);

pub fn parse_severity(s: &str) -> Result<Severity, BadArgument> {
    Severity::parse(s).ok_or_else(|| {
        let valid: Vec<&str> = Severity::ALL.iter().map(|v| v.as_str()).collect();
        BadArgument(format!("unknown severity \"{}\"; valid values are: {}", s, valid.join(", ")))
    })
}

pub fn parse_filter(categories: Option<Vec<Option<String>>>, min_severity: &str) -> Result<Filter, BadArgument> {
    let min_severity = parse_severity(min_severity)?;
    let categories = match categories {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for c in list {
                let Some(c) = c else {
                    return Err(BadArgument("categories must not contain NULL".into()));
                };
                match Category::parse(&c) {
                    Some(cat) => out.push(cat),
                    None => {
                        let valid: Vec<&str> = Category::ALL.iter().map(|v| v.as_str()).collect();
                        return Err(BadArgument(format!(
                            "unknown category \"{}\"; valid values are: {}",
                            c,
                            valid.join(", ")
                        )));
                    }
                }
            }
            Some(out)
        }
    };
    Ok(Filter { categories, min_severity })
}

/// Report order: severity (critical first), category, check_id, object_name
/// (NULLs last, as `ORDER BY` would put them), then status for stability.
pub fn sort(rows: &mut [Finding]) {
    rows.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| a.category.as_str().cmp(b.category.as_str()))
            .then_with(|| a.check_id.cmp(b.check_id))
            .then_with(|| match (&a.object_name, &b.object_name) {
                (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.status.as_str().cmp(b.status.as_str()))
    });
}

pub fn apply_filter(rows: Vec<Finding>, f: &Filter) -> Vec<Finding> {
    let mut out: Vec<Finding> = rows
        .into_iter()
        .filter(|r| r.severity.at_least(f.min_severity))
        .filter(|r| f.categories.as_ref().is_none_or(|cs| cs.contains(&r.category)))
        .collect();
    sort(&mut out);
    out
}

/// One check's result, folded from its rows.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub check_id: &'static str,
    pub category: Category,
    /// The check's severity, raised to its worst failing row's.
    pub severity: Severity,
    pub applicable: bool,
    pub passed: bool,
    pub failing_objects: usize,
    pub worst_fail: Option<Severity>,
    /// The check's one status: fail, else error, else waived, else pass,
    /// else skipped (a pass with some skipped objects is a pass, as the
    /// score counts it).
    pub status: Status,
}

const STATUS_PRECEDENCE: [Status; 5] = [Status::Fail, Status::Error, Status::Waived, Status::Pass, Status::Skipped];

fn rank(s: Status) -> usize {
    STATUS_PRECEDENCE.iter().position(|x| *x == s).unwrap_or(STATUS_PRECEDENCE.len())
}

/// Folds rows per check. The contract: a check is applicable unless every
/// row it produced is `skipped`; it passes when it has no `fail` row.
pub fn per_check(rows: &[Finding]) -> Vec<CheckResult> {
    let mut by: BTreeMap<&'static str, CheckResult> = BTreeMap::new();
    let mut all_skipped: BTreeMap<&'static str, bool> = BTreeMap::new();
    for r in rows {
        let e = by.entry(r.check_id).or_insert(CheckResult {
            check_id: r.check_id,
            category: r.category,
            severity: r.severity,
            applicable: true,
            passed: true,
            failing_objects: 0,
            worst_fail: None,
            status: r.status,
        });
        if rank(r.status) < rank(e.status) {
            e.status = r.status;
        }
        let skipped = all_skipped.entry(r.check_id).or_insert(true);
        *skipped &= r.status == Status::Skipped;
        if r.status == Status::Fail {
            e.passed = false;
            e.failing_objects += 1;
            e.worst_fail = Some(e.worst_fail.map_or(r.severity, |w| w.min(r.severity)));
            e.severity = e.severity.min(r.severity);
        }
    }
    for (id, skipped) in all_skipped {
        if skipped {
            by.get_mut(id).expect("entry").applicable = false;
        }
    }
    by.into_values().collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// 0.0-10.0 with one decimal.
    pub score: f64,
    pub passed: i32,
    pub applicable: i32,
    /// Percent with one decimal.
    pub pass_rate: f64,
    pub critical: i32,
    pub high: i32,
    pub medium: i32,
    pub low: i32,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `readiness_score()`: severity-weighted share of passing applicable
/// checks, 10.0 only when nothing fails.
pub fn score(rows: &[Finding]) -> Score {
    let checks = per_check(rows);
    let applicable: Vec<&CheckResult> = checks.iter().filter(|c| c.applicable).collect();
    let passed = applicable.iter().filter(|c| c.passed).count();
    let total_w: u32 = applicable.iter().map(|c| c.severity.weight()).sum();
    let passed_w: u32 = applicable.iter().filter(|c| c.passed).map(|c| c.severity.weight()).sum();
    let any_fail = applicable.iter().any(|c| !c.passed);
    let mut score = if total_w == 0 { 10.0 } else { round1(10.0 * f64::from(passed_w) / f64::from(total_w)) };
    if any_fail && score >= 10.0 {
        score = 9.9;
    }
    let count = |s: Severity| applicable.iter().filter(|c| !c.passed && c.severity == s).count() as i32;
    Score {
        score,
        passed: passed as i32,
        applicable: applicable.len() as i32,
        pass_rate: if applicable.is_empty() { 100.0 } else { round1(100.0 * passed as f64 / applicable.len() as f64) },
        critical: count(Severity::Critical),
        high: count(Severity::High),
        medium: count(Severity::Medium),
        low: count(Severity::Low),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CategorySummary {
    pub category: Category,
    pub passed: i32,
    pub applicable: i32,
    pub failing_objects: i32,
    pub worst_severity: Option<Severity>,
}

/// `readiness_summary()`: one row per category, in vocabulary order.
pub fn summary(rows: &[Finding]) -> Vec<CategorySummary> {
    let checks = per_check(rows);
    Category::ALL
        .iter()
        .map(|cat| {
            let mine: Vec<&CheckResult> = checks.iter().filter(|c| c.category == *cat && c.applicable).collect();
            CategorySummary {
                category: *cat,
                passed: mine.iter().filter(|c| c.passed).count() as i32,
                applicable: mine.len() as i32,
                failing_objects: mine.iter().map(|c| c.failing_objects as i32).sum(),
                worst_severity: mine.iter().filter_map(|c| c.worst_fail).min(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fingerprint;
    use serde_json::json;

    fn row(check: &'static str, cat: Category, sev: Severity, status: Status, obj: Option<&str>) -> Finding {
        Finding {
            check_id: check,
            category: cat,
            severity: sev,
            status,
            object_type: obj.map(|_| "table".into()),
            object_name: obj.map(String::from),
            detail: String::new(),
            evidence: json!({}),
            remediation: None,
            lock: None,
            statements: Vec::new(),
            fingerprint: fingerprint(check, None, obj),
        }
    }

    #[test]
    fn bad_arguments_name_the_valid_values() {
        let e = parse_filter(None, "urgent").unwrap_err();
        assert_eq!(e.0, "unknown severity \"urgent\"; valid values are: critical, high, medium, low, info");
        let e = parse_filter(Some(vec![Some("rls".into()), Some("speed".into())]), "info").unwrap_err();
        assert!(e.0.starts_with("unknown category \"speed\"; valid values are: rls, privileges, indexes"));
        assert!(parse_filter(Some(vec![None]), "info").is_err());
        let f = parse_filter(Some(vec![Some("rls".into())]), "high").unwrap();
        assert_eq!(f.categories, Some(vec![Category::Rls]));
        assert_eq!(f.min_severity, Severity::High);
    }

    #[test]
    fn ordering_and_filtering() {
        let rows = vec![
            row("b_check", Category::Indexes, Severity::Low, Status::Fail, Some("public.z")),
            row("a_check", Category::Rls, Severity::Critical, Status::Pass, None),
            row("c_check", Category::Indexes, Severity::High, Status::Fail, Some("public.b")),
            row("c_check", Category::Indexes, Severity::High, Status::Fail, Some("public.a")),
            row("d_check", Category::Indexes, Severity::Critical, Status::Fail, Some("public.a")),
        ];
        let out = apply_filter(rows.clone(), &Filter::default());
        let order: Vec<(&str, Option<&str>)> = out.iter().map(|r| (r.check_id, r.object_name.as_deref())).collect();
        assert_eq!(
            order,
            vec![
                ("d_check", Some("public.a")),
                ("a_check", None),
                ("c_check", Some("public.a")),
                ("c_check", Some("public.b")),
                ("b_check", Some("public.z")),
            ]
        );
        let f = Filter { categories: Some(vec![Category::Indexes]), min_severity: Severity::High };
        let ids: Vec<&str> = apply_filter(rows, &f).iter().map(|r| r.check_id).collect();
        assert_eq!(ids, vec!["d_check", "c_check", "c_check"]);
    }

    #[test]
    fn score_follows_the_contract() {
        let rows = vec![
            row("crit_ok", Category::Rls, Severity::Critical, Status::Pass, None),
            row("high_bad", Category::Rls, Severity::High, Status::Fail, Some("public.t")),
            row("high_bad", Category::Rls, Severity::High, Status::Fail, Some("public.u")),
            row("med_ok", Category::Indexes, Severity::Medium, Status::Pass, None),
            row("low_skipped", Category::Indexes, Severity::Low, Status::Skipped, None),
            row("info_bad", Category::Indexes, Severity::Info, Status::Fail, Some("public.t")),
            row("waived", Category::Indexes, Severity::Low, Status::Waived, Some("public.t")),
        ];
        let s = score(&rows);
        // Applicable: crit_ok, high_bad, med_ok, info_bad, waived (skipped-only excluded).
        assert_eq!(s.applicable, 5);
        assert_eq!(s.passed, 3);
        assert_eq!(s.pass_rate, 60.0);
        // Weights: 8 + 4 + 2 + 0 + 1 = 15; passing 8 + 2 + 1 = 11 -> 7.3.
        assert_eq!(s.score, 7.3);
        assert_eq!((s.critical, s.high, s.medium, s.low), (0, 1, 0, 0));
    }

    #[test]
    fn score_is_ten_only_when_nothing_fails() {
        let ok = vec![row("a", Category::Rls, Severity::High, Status::Pass, None)];
        assert_eq!(score(&ok).score, 10.0);
        let info_fail = vec![
            row("a", Category::Rls, Severity::High, Status::Pass, None),
            row("b", Category::Rls, Severity::Info, Status::Fail, Some("x")),
        ];
        assert_eq!(score(&info_fail).score, 9.9);
        assert_eq!(score(&[]).score, 10.0);
    }

    #[test]
    fn a_finding_above_default_severity_raises_the_check() {
        let rows = vec![
            row("seq", Category::Constraints, Severity::High, Status::Fail, Some("a")),
            row("seq", Category::Constraints, Severity::Critical, Status::Fail, Some("b")),
        ];
        let s = score(&rows);
        assert_eq!((s.critical, s.high), (1, 0));
    }

    #[test]
    fn one_status_per_check() {
        let rows = vec![
            row("partly_skipped", Category::Pii, Severity::High, Status::Skipped, Some("a")),
            row("partly_skipped", Category::Pii, Severity::High, Status::Pass, None),
            row("only_skipped", Category::Pii, Severity::High, Status::Skipped, None),
            row("failing", Category::Pii, Severity::High, Status::Error, Some("a")),
            row("failing", Category::Pii, Severity::High, Status::Fail, Some("b")),
            row("waived", Category::Pii, Severity::High, Status::Waived, Some("a")),
        ];
        let st: Vec<(&str, Status)> = per_check(&rows).iter().map(|c| (c.check_id, c.status)).collect();
        assert_eq!(
            st,
            vec![("failing", Status::Fail), ("only_skipped", Status::Skipped), ("partly_skipped", Status::Pass), ("waived", Status::Waived)]
        );
    }

    #[test]
    fn summary_per_category() {
        let rows = vec![
            row("r1", Category::Rls, Severity::Critical, Status::Fail, Some("a")),
            row("r1", Category::Rls, Severity::Critical, Status::Fail, Some("b")),
            row("r2", Category::Rls, Severity::High, Status::Pass, None),
            row("i1", Category::Indexes, Severity::Low, Status::Skipped, None),
        ];
        let s = summary(&rows);
        assert_eq!(s.len(), 9);
        assert_eq!(s[0], CategorySummary { category: Category::Rls, passed: 1, applicable: 2, failing_objects: 2, worst_severity: Some(Severity::Critical) });
        let idx = s.iter().find(|c| c.category == Category::Indexes).unwrap();
        assert_eq!((idx.passed, idx.applicable, idx.worst_severity), (0, 0, None));
    }
}
