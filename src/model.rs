//! The vocabulary of the public contract (severity, status, category) and the
//! one `Finding` type every renderer works from.

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    // Declaration order is the report order: critical first.
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Weights of `readiness_score()` (spec/api.md).
    pub fn weight(self) -> u32 {
        match self {
            Severity::Critical => 8,
            Severity::High => 4,
            Severity::Medium => 2,
            Severity::Low => 1,
            Severity::Info => 0,
        }
    }

    /// True when `self` is as severe as `floor` or more.
    pub fn at_least(self, floor: Severity) -> bool {
        self <= floor
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Waived,
    Skipped,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Waived => "waived",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Rls,
    Privileges,
    Indexes,
    Constraints,
    Pii,
    Audit,
    Maintenance,
    Configuration,
    Migrations,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Rls,
        Category::Privileges,
        Category::Indexes,
        Category::Constraints,
        Category::Pii,
        Category::Audit,
        Category::Maintenance,
        Category::Configuration,
        Category::Migrations,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Rls => "rls",
            Category::Privileges => "privileges",
            Category::Indexes => "indexes",
            Category::Constraints => "constraints",
            Category::Pii => "pii",
            Category::Audit => "audit",
            Category::Maintenance => "maintenance",
            Category::Configuration => "configuration",
            Category::Migrations => "migrations",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Section heading of the audit document.
    pub fn title(self) -> &'static str {
        match self {
            Category::Rls => "Row-level security and tenant isolation",
            Category::Privileges => "Privileges",
            Category::Indexes => "Indexes",
            Category::Constraints => "Data integrity constraints",
            Category::Pii => "Cardholder and personal data",
            Category::Audit => "Audit trail",
            Category::Maintenance => "Bloat, vacuum and growth",
            Category::Configuration => "Server configuration",
            Category::Migrations => "Schema change safety",
        }
    }
}

/// A catalog object as `pg_identify_object()` names it (`type`, `identity`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjRef {
    pub kind: String,
    pub identity: String,
}

impl ObjRef {
    pub fn new(kind: impl Into<String>, identity: impl Into<String>) -> ObjRef {
        ObjRef { kind: kind.into(), identity: identity.into() }
    }
}

/// What a check reports about one object. The engine turns it into a
/// [`Finding`] by adding the check's metadata.
#[derive(Clone, Debug)]
pub struct Issue {
    pub status: Status,
    /// Overrides the check's default severity (e.g. critical above a threshold).
    pub severity: Option<Severity>,
    pub object: Option<ObjRef>,
    pub detail: String,
    pub evidence: Value,
    pub remediation: Option<Remediation>,
}

/// How to fix a finding: runnable SQL statements (with the strongest lock
/// they take, and notes rendered as SQL comments), or advice when the fix
/// cannot be expressed safely in SQL. Advice is rendered as a SQL comment too,
/// so every remediation can be fed to psql as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remediation {
    Sql { notes: Vec<String>, statements: Vec<String>, lock: &'static str },
    Advice(String),
}

/// Table lock strength, weakest first, for combining remediations.
fn lock_rank(lock: &str) -> u8 {
    match lock {
        "ACCESS EXCLUSIVE" => 5,
        "EXCLUSIVE" => 4,
        "SHARE ROW EXCLUSIVE" => 3,
        "SHARE" => 2,
        "SHARE UPDATE EXCLUSIVE" => 1,
        _ => 0,
    }
}

fn commented(text: &str) -> String {
    text.lines().map(|l| format!("-- {l}")).collect::<Vec<_>>().join("\n")
}

impl Remediation {
    /// One statement (ending in `;`) and the strongest table lock it takes.
    pub fn sql(statement: impl Into<String>, lock: &'static str) -> Remediation {
        Remediation::Sql { notes: Vec::new(), statements: vec![statement.into()], lock }
    }

    /// Appends another remediation's statements; the lock is the stronger one.
    pub fn then(self, next: Remediation) -> Remediation {
        match (self, next) {
            (Remediation::Sql { mut notes, mut statements, lock }, Remediation::Sql { notes: n2, statements: s2, lock: l2 }) => {
                notes.extend(n2);
                statements.extend(s2);
                let lock = if lock_rank(l2) > lock_rank(lock) { l2 } else { lock };
                Remediation::Sql { notes, statements, lock }
            }
            (a, _) => a,
        }
    }

    /// A line of explanation, rendered as a comment above the statements.
    pub fn note(mut self, text: impl Into<String>) -> Remediation {
        if let Remediation::Sql { notes, .. } = &mut self {
            notes.push(text.into());
        }
        self
    }

    pub fn text(&self) -> String {
        match self {
            Remediation::Sql { notes, statements, .. } => {
                let mut lines: Vec<String> = notes.iter().map(|n| commented(n)).collect();
                lines.extend(statements.iter().cloned());
                lines.join("\n")
            }
            Remediation::Advice(a) => commented(a),
        }
    }

    pub fn statements(&self) -> &[String] {
        match self {
            Remediation::Sql { statements, .. } => statements,
            Remediation::Advice(_) => &[],
        }
    }

    pub fn lock(&self) -> Option<&'static str> {
        match self {
            Remediation::Sql { lock, .. } => Some(lock),
            Remediation::Advice(_) => None,
        }
    }
}

impl Issue {
    pub fn fail(object: ObjRef, detail: impl Into<String>) -> Issue {
        Issue {
            status: Status::Fail,
            severity: None,
            object: Some(object),
            detail: detail.into(),
            evidence: Value::Object(Default::default()),
            remediation: None,
        }
    }

    pub fn skipped(object: Option<ObjRef>, reason: impl Into<String>) -> Issue {
        Issue {
            status: Status::Skipped,
            severity: None,
            object,
            detail: reason.into(),
            evidence: Value::Object(Default::default()),
            remediation: None,
        }
    }

    pub fn evidence(mut self, evidence: Value) -> Issue {
        self.evidence = evidence;
        self
    }

    pub fn fix(mut self, remediation: Remediation) -> Issue {
        self.remediation = Some(remediation);
        self
    }

    pub fn severity(mut self, severity: Severity) -> Issue {
        self.severity = Some(severity);
        self
    }
}

/// What one check run produced: the issues, and a sentence saying what was
/// inspected (it becomes the `detail` of the `pass` row).
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub inspected: String,
    pub issues: Vec<Issue>,
    /// Numeric gauges the check measured on the way (for `readiness_metrics`).
    pub measures: Vec<Measure>,
}

impl Outcome {
    pub fn new(inspected: impl Into<String>, issues: Vec<Issue>) -> Outcome {
        Outcome { inspected: inspected.into(), issues, measures: Vec::new() }
    }

    pub fn measure(mut self, metric: &'static str, labels: Value, value: f64) -> Outcome {
        self.measures.push(Measure { metric, labels, value });
        self
    }
}

/// A row of `readiness_waivers` that has not expired.
#[derive(Clone, Debug, PartialEq)]
pub struct Waiver {
    pub check_id: String,
    /// `None` waives the whole check.
    pub object_name: Option<String>,
    pub reason: String,
    pub created_by: String,
    /// `expires_at` as text, for the evidence.
    pub expires_at: Option<String>,
}

impl Waiver {
    pub fn covers(&self, f: &Finding) -> bool {
        self.check_id == f.check_id && (self.object_name.is_none() || self.object_name == f.object_name)
    }
}

/// One gauge of `readiness_metrics`: a metric name, labels and a value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measure {
    pub metric: &'static str,
    pub labels: Value,
    pub value: f64,
}

/// Why a check produced no outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The check cannot judge here (missing privilege, extension, statistics).
    Skipped(String),
    /// The check itself failed; becomes an `error` row.
    Failed { sqlstate: String, message: String },
}

/// One row of `readiness_report()`.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub check_id: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub status: Status,
    pub object_type: Option<String>,
    pub object_name: Option<String>,
    pub detail: String,
    pub evidence: Value,
    pub remediation: Option<String>,
    /// The strongest lock the remediation SQL takes (for the fix script).
    #[serde(skip)]
    pub lock: Option<&'static str>,
    /// The remediation's runnable statements, one per entry (empty for advice).
    #[serde(skip)]
    pub statements: Vec<String>,
    pub fingerprint: String,
}

/// Stable 64-bit FNV-1a over check id and object identity, as 16 hex digits.
/// Stable across platforms and releases, so dashboards and waivers can key on it.
pub fn fingerprint(check_id: &str, object_type: Option<&str>, object_name: Option<&str>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(check_id.as_bytes());
    feed(&[0]);
    feed(object_type.unwrap_or("").as_bytes());
    feed(&[0]);
    feed(object_name.unwrap_or("").as_bytes());
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_and_parse() {
        assert!(Severity::Critical < Severity::Info);
        assert!(Severity::High.at_least(Severity::Medium));
        assert!(!Severity::Low.at_least(Severity::Medium));
        assert_eq!(Severity::parse("medium"), Some(Severity::Medium));
        assert_eq!(Severity::parse("MEDIUM"), None);
        assert_eq!(Category::parse("indexes"), Some(Category::Indexes));
        assert_eq!(Category::parse("index"), None);
    }

    #[test]
    fn fingerprint_is_stable_and_distinguishes_objects() {
        let a = fingerprint("fk_missing_index", Some("table constraint"), Some("fk on public.t"));
        assert_eq!(a, fingerprint("fk_missing_index", Some("table constraint"), Some("fk on public.t")));
        assert_eq!(a.len(), 16);
        assert_ne!(a, fingerprint("fk_missing_index", Some("table constraint"), Some("fk on public.u")));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(fingerprint("ab", Some("c"), None), fingerprint("a", Some("bc"), None));
        // Known value pins the algorithm: changing it would break stored waivers.
        assert_eq!(fingerprint("x", None, None), "be5ffa197ecee51f");
    }

    #[test]
    fn remediation_text_statements_and_lock() {
        let r = Remediation::sql("CREATE INDEX CONCURRENTLY ON t (a);", "SHARE UPDATE EXCLUSIVE")
            .then(Remediation::sql("DROP INDEX idx;", "ACCESS EXCLUSIVE"))
            .note("two steps");
        assert_eq!(r.text(), "-- two steps\nCREATE INDEX CONCURRENTLY ON t (a);\nDROP INDEX idx;");
        assert_eq!(r.statements().len(), 2);
        assert_eq!(r.lock(), Some("ACCESS EXCLUSIVE"));
        let a = Remediation::Advice("Add a key.\nThen re-check.".into());
        assert_eq!(a.text(), "-- Add a key.\n-- Then re-check.");
        assert!(a.statements().is_empty());
        assert_eq!(a.lock(), None);
    }
}
