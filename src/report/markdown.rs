//! `readiness_report_markdown()`: the audit document, in the shape of the
//! hand-written audits it replaces: headline, severity summary, one section
//! per category with its (passed/applicable) count, positive findings, and a
//! remediation plan ordered by severity.

use std::fmt::Write;

use super::{per_check, score};
use crate::checks;
use crate::model::{Category, Finding, Severity, Status};

/// Facts about the audited database for the document's header.
pub struct Header<'a> {
    pub database: &'a str,
    pub date: &'a str,
    pub server_version: &'a str,
    pub extension_version: &'a str,
}

/// Text for a table cell: no newlines, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

/// An inline code span that survives backticks in names.
fn code(s: &str) -> String {
    let s = cell(s);
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

fn title_of(check_id: &str) -> &'static str {
    checks::find(check_id).map(|c| c.title).unwrap_or("")
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ PASS",
        Status::Fail => "❌ FAIL",
        Status::Waived => "⚠️ WAIVED",
        Status::Skipped => "⏭️ SKIPPED",
        Status::Error => "⛔ ERROR",
    }
}

fn capitalised(s: Severity) -> String {
    let mut c = s.as_str().chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Renders the document from the report's rows (ordered as the report is).
pub fn render(rows: &[Finding], h: &Header) -> String {
    let s = score(rows);
    let checks = per_check(rows);
    let mut out = String::new();
    let _ = writeln!(out, "# Database Readiness Audit — {}\n", cell(h.database));
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Database | {} |", code(h.database));
    let _ = writeln!(out, "| Date | {} |", h.date);
    let _ = writeln!(out, "| PostgreSQL | {} |", cell(h.server_version));
    let _ = writeln!(out, "| Audited by | pg_readiness {} |", h.extension_version);
    let _ = writeln!(out, "| Pass rate | **{:.0}% ({}/{} applicable checks)** |", s.pass_rate, s.passed, s.applicable);
    let _ = writeln!(out, "| Readiness score | **{:.1}/10** |\n", s.score);

    let _ = writeln!(out, "## Summary by severity\n");
    let _ = writeln!(out, "| Severity | Failing checks | Checks |\n|---|---|---|");
    for sev in Severity::ALL {
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| c.applicable && !c.passed && c.severity == sev)
            .map(|c| code(c.check_id))
            .collect();
        let list = if failing.is_empty() { "—".to_string() } else { failing.join(", ") };
        let _ = writeln!(out, "| {} | {} | {} |", capitalised(sev), failing.len(), list);
    }
    out.push('\n');

    for cat in Category::ALL {
        let mine: Vec<_> = checks.iter().filter(|c| c.category == cat).collect();
        if mine.is_empty() {
            continue;
        }
        let passed = mine.iter().filter(|c| c.applicable && c.passed).count();
        let applicable = mine.iter().filter(|c| c.applicable).count();
        let _ = writeln!(out, "## {} ({}/{})\n", cat.title(), passed, applicable);
        let _ = writeln!(out, "| Check | Status | Evidence |\n|---|---|---|");
        for c in &mine {
            let own: Vec<&Finding> = rows.iter().filter(|r| r.check_id == c.check_id).collect();
            let status = c.status;
            let evidence: Vec<String> = own
                .iter()
                .filter(|r| r.status == status)
                .map(|r| match &r.object_name {
                    Some(o) => format!("{}: {}", code(o), cell(&r.detail)),
                    None => cell(&r.detail),
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} |",
                cell(title_of(c.check_id)),
                code(c.check_id),
                status_label(status),
                evidence.join("<br>")
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Positive findings\n");
    let positives: Vec<&Finding> = rows.iter().filter(|r| r.status == Status::Pass).collect();
    if positives.is_empty() {
        let _ = writeln!(out, "None yet.");
    }
    for r in positives {
        let _ = writeln!(out, "- ✅ **{}** ({}): {}", cell(title_of(r.check_id)), code(r.check_id), cell(&r.detail));
    }
    out.push('\n');

    let _ = writeln!(out, "## Remediation priority\n");
    let failing: Vec<&Finding> = rows.iter().filter(|r| r.status == Status::Fail).collect();
    if failing.is_empty() {
        let _ = writeln!(out, "Nothing to fix.");
    }
    for sev in Severity::ALL {
        let at: Vec<&&Finding> = failing.iter().filter(|r| r.severity == sev).collect();
        if at.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {}\n", capitalised(sev));
        for (i, r) in at.iter().enumerate() {
            let obj = r.object_name.as_deref().map(code).unwrap_or_default();
            let _ = writeln!(out, "{}. **{}** {} — {}", i + 1, r.check_id, obj, cell(&r.detail));
            match &r.remediation {
                Some(sql) if !r.statements.is_empty() => {
                    let _ = writeln!(out, "\n   ```sql");
                    for line in sql.lines() {
                        let _ = writeln!(out, "   {line}");
                    }
                    let _ = writeln!(out, "   ```\n");
                }
                Some(advice) => {
                    let text: Vec<&str> = advice.lines().map(|l| l.trim_start_matches("-- ")).collect();
                    let _ = writeln!(out, "\n   {}\n", text.join(" "));
                }
                None => out.push('\n'),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::run_checks;
    use crate::config::Config;
    use crate::snapshot::build::SnapshotBuilder;

    #[test]
    fn audit_document_sections_and_counts() {
        let mut b = SnapshotBuilder::new();
        b.table("Orders|x", &[("id", "uuid"), ("tenant_id", "uuid")]);
        // Every category has checks now: leave one out to see it left out.
        let all: Vec<_> = checks::registry().into_iter().filter(|c| c.category != crate::model::Category::Migrations).collect();
        let mut rows = run_checks(&all, &b.build(), &Config::default());
        super::super::sort(&mut rows);
        let doc = render(&rows, &Header { database: "app", date: "2026-11-23", server_version: "15.18", extension_version: "0.1.0" });
        assert!(doc.starts_with("# Database Readiness Audit — app\n"));
        let s = score(&rows);
        assert!(doc.contains(&format!("| Pass rate | **{:.0}% ({}/{} applicable checks)** |", s.pass_rate, s.passed, s.applicable)));
        assert!(doc.contains(&format!("| Readiness score | **{:.1}/10** |", s.score)));
        assert!(doc.contains("| Critical | 1 | `rls_disabled_tenant_table` |"));
        assert!(doc.contains("## Row-level security and tenant isolation (8/9)"));
        assert!(doc.contains("## Indexes ("));
        assert!(!doc.contains("## Schema change safety"), "categories with no check run are left out");
        // Names with pipes stay inside their cell.
        assert!(doc.contains(r#"`public."Orders\|x"`"#), "{doc}");
        assert!(doc.contains("## Positive findings\n\n- ✅ **"));
        let plan = &doc[doc.find("## Remediation priority").unwrap()..];
        let crit = plan.find("### Critical").unwrap();
        let high = plan.find("### High").unwrap();
        assert!(crit < high);
        assert!(plan.contains("   ```sql\n   ALTER TABLE public.\"Orders|x\" ENABLE ROW LEVEL SECURITY;"));
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("plain"), "`plain`");
    }
}
