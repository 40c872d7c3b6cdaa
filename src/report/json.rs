//! `readiness_report_json()`: the report as one JSON document.

use serde_json::{json, Value};

use super::{score, summary};
use crate::model::Finding;

/// Builds the document from already filtered and ordered rows; score and
/// summary are computed over the same rows, so they agree with `findings`.
pub fn document(rows: &[Finding], database: &str, generated_at: &str, version: &str) -> Value {
    let s = score(rows);
    let summary: Vec<Value> = summary(rows)
        .into_iter()
        .map(|c| {
            json!({
                "category": c.category,
                "passed": c.passed,
                "applicable": c.applicable,
                "failing_objects": c.failing_objects,
                "worst_severity": c.worst_severity,
            })
        })
        .collect();
    json!({
        "database": database,
        "generated_at": generated_at,
        "extension_version": version,
        "score": {
            "score": s.score,
            "passed": s.passed,
            "applicable": s.applicable,
            "pass_rate": s.pass_rate,
            "critical": s.critical,
            "high": s.high,
            "medium": s.medium,
            "low": s.low,
        },
        "summary": summary,
        "findings": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fingerprint, Category, Severity, Status};

    #[test]
    fn document_shape() {
        let rows = vec![Finding {
            check_id: "missing_primary_key",
            category: Category::Indexes,
            severity: Severity::High,
            status: Status::Fail,
            object_type: Some("table".into()),
            object_name: Some("public.t".into()),
            detail: "table has no primary key".into(),
            evidence: json!({}),
            remediation: Some("-- add one".into()),
            lock: None,
            statements: vec![],
            fingerprint: fingerprint("missing_primary_key", Some("table"), Some("public.t")),
        }];
        let d = document(&rows, "app", "2026-11-23T10:00:00Z", "0.1.0");
        assert_eq!(d["database"], "app");
        assert_eq!(d["score"]["applicable"], 1);
        assert_eq!(d["score"]["high"], 1);
        assert_eq!(d["findings"][0]["check_id"], "missing_primary_key");
        assert_eq!(d["findings"][0]["status"], "fail");
        assert_eq!(d["findings"][0]["severity"], "high");
        assert_eq!(d["findings"][0]["category"], "indexes");
        assert_eq!(d["findings"][0]["object_name"], "public.t");
        assert_eq!(d["findings"][0]["fingerprint"].as_str().unwrap().len(), 16);
        assert!(d["findings"][0].get("statements").is_none());
        assert_eq!(d["summary"].as_array().unwrap().len(), 9);
    }
}
