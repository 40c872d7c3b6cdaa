//! Waivers: an accepted risk turns a `fail` into `waived` until it expires.

use serde_json::{json, Value};

use crate::model::{Finding, Status, Waiver};

/// Marks every failing finding a waiver covers as `waived`, and records the
/// waiver in its evidence. An object-specific waiver wins over a whole-check one.
pub fn apply(findings: &mut [Finding], waivers: &[Waiver]) {
    for f in findings.iter_mut().filter(|f| f.status == Status::Fail) {
        let specific = waivers.iter().find(|w| w.object_name.is_some() && w.covers(f));
        let Some(w) = specific.or_else(|| waivers.iter().find(|w| w.covers(f))) else { continue };
        f.status = Status::Waived;
        let record = json!({"reason": w.reason, "created_by": w.created_by, "expires_at": w.expires_at, "scope": if w.object_name.is_some() { "object" } else { "check" }});
        match &mut f.evidence {
            Value::Object(map) => {
                map.insert("waiver".into(), record);
            }
            other => *other = json!({"waiver": record, "evidence": other.clone()}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fingerprint, Category, Severity};

    fn fail(check: &'static str, obj: &str) -> Finding {
        Finding {
            check_id: check,
            category: Category::Indexes,
            severity: Severity::High,
            status: Status::Fail,
            object_type: Some("table".into()),
            object_name: Some(obj.into()),
            detail: String::new(),
            evidence: json!({"k": 1}),
            remediation: None,
            lock: None,
            statements: vec![],
            fingerprint: fingerprint(check, None, Some(obj)),
        }
    }

    fn waiver(check: &str, obj: Option<&str>, reason: &str) -> Waiver {
        Waiver { check_id: check.into(), object_name: obj.map(String::from), reason: reason.into(), created_by: "dba".into(), expires_at: None }
    }

    #[test]
    fn object_and_check_waivers() {
        let mut rows = vec![fail("a", "public.t"), fail("a", "public.u"), fail("b", "public.t")];
        apply(&mut rows, &[waiver("a", Some("public.t"), "legacy table, retired in Q3"), waiver("b", None, "not relevant")]);
        assert_eq!(rows[0].status, Status::Waived);
        assert_eq!(rows[0].evidence["waiver"]["reason"], "legacy table, retired in Q3");
        assert_eq!(rows[0].evidence["waiver"]["scope"], "object");
        assert_eq!(rows[0].evidence["k"], 1);
        assert_eq!(rows[1].status, Status::Fail, "a waiver for public.t does not cover public.u");
        assert_eq!(rows[2].status, Status::Waived);
        assert_eq!(rows[2].evidence["waiver"]["scope"], "check");
    }
}
