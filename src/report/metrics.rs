//! `readiness_metrics`: numeric gauges for Grafana and Prometheus exporters.

use serde_json::{json, Value};

use super::{per_check, score, summary};
use crate::model::{Finding, Measure, Severity};

/// The gauges for one report: headline, failing checks per severity and per
/// category, per-check failing objects, then what the checks measured.
pub fn gauges(rows: &[Finding], measures: &[Measure]) -> Vec<(String, Value, f64)> {
    let s = score(rows);
    let mut out: Vec<(String, Value, f64)> = vec![
        ("readiness_score".into(), json!({}), s.score),
        ("readiness_pass_rate".into(), json!({}), s.pass_rate),
        ("readiness_checks_passed".into(), json!({}), f64::from(s.passed)),
        ("readiness_checks_applicable".into(), json!({}), f64::from(s.applicable)),
    ];
    let checks = per_check(rows);
    for sev in Severity::ALL {
        let n = checks.iter().filter(|c| c.applicable && !c.passed && c.severity == sev).count();
        out.push(("readiness_failing_checks".into(), json!({"severity": sev}), n as f64));
    }
    for c in summary(rows) {
        out.push((
            "readiness_category_failing_checks".into(),
            json!({"category": c.category}),
            f64::from(c.applicable - c.passed),
        ));
        out.push(("readiness_category_failing_objects".into(), json!({"category": c.category}), f64::from(c.failing_objects)));
    }
    for c in &checks {
        out.push((
            "readiness_check_failing_objects".into(),
            json!({"check_id": c.check_id, "category": c.category, "severity": c.severity}),
            c.failing_objects as f64,
        ));
    }
    for m in measures {
        out.push((m.metric.to_string(), m.labels.clone(), m.value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::run_all;
    use crate::config::Config;
    use crate::snapshot::build::SnapshotBuilder;

    #[test]
    fn gauges_agree_with_the_score() {
        let mut b = SnapshotBuilder::new();
        b.table("t", &[("id", "uuid"), ("tenant_id", "uuid")]);
        let eval = run_all(&b.build(), &Config::default());
        let g = gauges(&eval.findings, &eval.measures);
        let get = |name: &str, labels: Value| g.iter().find(|(n, l, _)| n == name && *l == labels).map(|x| x.2);
        let s = score(&eval.findings);
        assert_eq!(get("readiness_score", json!({})), Some(s.score));
        assert_eq!(get("readiness_failing_checks", json!({"severity": "critical"})), Some(1.0));
        assert_eq!(get("readiness_category_failing_objects", json!({"category": "rls"})), Some(1.0));
        assert_eq!(
            get("readiness_check_failing_objects", json!({"check_id": "rls_disabled_tenant_table", "category": "rls", "severity": "critical"})),
            Some(1.0)
        );
        assert!(g.iter().all(|(n, _, _)| n.starts_with("readiness_")));
    }
}
