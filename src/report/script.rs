//! The remediation script: every SQL fix of the failing findings, in report
//! order, each statement once, each preceded by a comment naming the check,
//! the object and the lock it takes.

use crate::model::{Finding, Severity, Status};

/// The lock wait a fix may spend before giving up rather than queueing the
/// application behind it (an ALTER TABLE waiting for a lock blocks every
/// query that arrives after it).
pub const LOCK_TIMEOUT: &str = "5s";

/// Reloads the configuration after an `ALTER SYSTEM`. It is the one
/// statement the script repeats: each `ALTER SYSTEM` fix takes effect on its
/// own, whatever order the findings come in.
pub const RELOAD: &str = "SELECT pg_reload_conf();";

/// One statement of the script; `check_id` is `None` for the preamble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub check_id: Option<&'static str>,
    pub object_name: Option<String>,
    pub lock: Option<&'static str>,
    pub statement: String,
}

/// The statements to run, deduplicated, for failing findings at or above
/// `min_severity`, with the `SET lock_timeout` preamble first.
pub fn steps(rows: &[Finding], min_severity: Severity) -> Vec<Step> {
    let mut out = vec![Step {
        check_id: None,
        object_name: None,
        lock: None,
        statement: format!("SET lock_timeout = '{LOCK_TIMEOUT}';"),
    }];
    for f in rows.iter().filter(|f| f.status == Status::Fail && f.severity.at_least(min_severity)) {
        for stmt in &f.statements {
            if stmt != RELOAD && out.iter().any(|s| &s.statement == stmt) {
                continue;
            }
            out.push(Step { check_id: Some(f.check_id), object_name: f.object_name.clone(), lock: f.lock, statement: stmt.clone() });
        }
    }
    out
}

/// The script as one text, for psql (`psql -f`), outside a transaction block.
pub fn render(rows: &[Finding], min_severity: Severity, database: &str) -> String {
    let fixable: Vec<&Finding> =
        rows.iter().filter(|f| f.status == Status::Fail && f.severity.at_least(min_severity)).collect();
    let with_sql = fixable.iter().filter(|f| !f.statements.is_empty()).count();
    let mut s = String::new();
    s.push_str(&format!(
        "-- pg_readiness remediation script for database {}\n-- {} failing findings at severity {} or above, {} with a SQL fix.\n",
        database.replace('\n', " "),
        fixable.len(),
        min_severity.as_str(),
        with_sql
    ));
    s.push_str("-- Run it with psql outside a transaction block: CREATE/DROP INDEX CONCURRENTLY cannot run inside one.\n");
    s.push_str(&format!("SET lock_timeout = '{LOCK_TIMEOUT}';\n"));
    let mut emitted: Vec<&str> = Vec::new();
    for f in &fixable {
        let object = f.object_name.as_deref().unwrap_or("-");
        let header = format!("\n-- [{}] {}: {}", f.severity.as_str(), f.check_id, object.replace('\n', " "));
        if f.statements.is_empty() {
            // Advice only: shown for completeness, nothing to run.
            s.push_str(&header);
            s.push_str(" (no SQL fix)\n");
            s.push_str(f.remediation.as_deref().unwrap_or("-- see the report"));
            s.push('\n');
            continue;
        }
        let new: Vec<&String> = f.statements.iter().filter(|st| st.as_str() == RELOAD || !emitted.contains(&st.as_str())).collect();
        let new = if new.iter().all(|st| st.as_str() == RELOAD) { Vec::new() } else { new };
        s.push_str(&header);
        if new.is_empty() {
            s.push_str(" (fixed by a statement above)\n");
            continue;
        }
        s.push_str(&format!("\n-- takes {}\n", f.lock.unwrap_or("no table lock")));
        // Notes of the remediation (comment lines) precede its statements.
        if let Some(text) = &f.remediation {
            for line in text.lines().filter(|l| l.starts_with("-- ")) {
                s.push_str(line);
                s.push('\n');
            }
        }
        for st in new {
            s.push_str(st);
            s.push('\n');
            emitted.push(st.as_str());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fingerprint, Category};
    use serde_json::json;

    fn fail(check: &'static str, sev: Severity, obj: &str, stmts: &[&str], lock: Option<&'static str>) -> Finding {
        Finding {
            check_id: check,
            category: Category::Indexes,
            severity: sev,
            status: Status::Fail,
            object_type: Some("table".into()),
            object_name: Some(obj.into()),
            detail: String::new(),
            evidence: json!({}),
            remediation: Some(if stmts.is_empty() { "-- do it by hand".into() } else { stmts.join("\n") }),
            lock,
            statements: stmts.iter().map(|s| s.to_string()).collect(),
            fingerprint: fingerprint(check, None, Some(obj)),
        }
    }

    #[test]
    fn the_reload_is_repeated_after_each_alter_system() {
        let rows = vec![
            fail("a", Severity::Low, "x", &["ALTER SYSTEM SET a = '1';", RELOAD], Some("no table lock")),
            fail("b", Severity::Low, "y", &["ALTER SYSTEM SET b = '1';", RELOAD], Some("no table lock")),
        ];
        let st: Vec<String> = steps(&rows, Severity::Low).into_iter().map(|s| s.statement).collect();
        assert_eq!(st[1..], ["ALTER SYSTEM SET a = '1';", RELOAD, "ALTER SYSTEM SET b = '1';", RELOAD]);
        let script = render(&rows, Severity::Low, "app");
        assert_eq!(script.matches(RELOAD).count(), 2);
    }

    #[test]
    fn dedupes_filters_and_names_locks() {
        let idx = "CREATE INDEX CONCURRENTLY ON public.refunds (tenant_id);";
        let rows = vec![
            fail("fk_missing_index", Severity::High, "fk on public.refunds", &[idx], Some("SHARE UPDATE EXCLUSIVE")),
            fail("tenant_index_missing", Severity::Medium, "public.refunds", &[idx], Some("SHARE UPDATE EXCLUSIVE")),
            fail("missing_primary_key", Severity::High, "public.t", &[], None),
            fail("redundant_index", Severity::Low, "public.i", &["DROP INDEX CONCURRENTLY public.i;"], Some("SHARE UPDATE EXCLUSIVE")),
        ];
        let st = steps(&rows, Severity::Medium);
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].statement, "SET lock_timeout = '5s';");
        assert_eq!(st[1].statement, idx);
        assert_eq!(st[1].check_id, Some("fk_missing_index"));

        let script = render(&rows, Severity::Medium, "app");
        assert!(script.starts_with("-- pg_readiness remediation script for database app\n"));
        assert_eq!(script.matches(idx).count(), 1);
        assert!(script.contains("-- [high] fk_missing_index: fk on public.refunds\n-- takes SHARE UPDATE EXCLUSIVE\nCREATE INDEX CONCURRENTLY"));
        assert!(script.contains("-- [medium] tenant_index_missing: public.refunds (fixed by a statement above)"));
        assert!(script.contains("-- [high] missing_primary_key: public.t (no SQL fix)\n-- do it by hand"));
        assert!(!script.contains("DROP INDEX CONCURRENTLY public.i;"), "low is below medium");
        let set_pos = script.find("SET lock_timeout").unwrap();
        assert!(set_pos < script.find("CREATE INDEX").unwrap());
    }
}
