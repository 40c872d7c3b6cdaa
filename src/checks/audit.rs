//! audit — who changed what: audit triggers on sensitive tables, immutable
//! audit logs, financial rows that cannot be deleted, pgaudit.

use serde_json::json;

use super::sensitive;
use super::sqlgen::LOCK_SHARE_ROW_EXCLUSIVE;
use super::{n_of, Check};
use crate::config::Config;
use crate::pii::detect::name_words;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::snapshot::{Relation, Section, Snapshot};

pub static CHECKS: [Check; 4] = [
    Check {
        id: "audit_trigger_missing",
        category: Category::Audit,
        severity: Severity::Medium,
        title: "Sensitive table without an audit trigger",
        rationale: "Fails for a sensitive table (registered in readiness_pii_columns, named like payment, transaction, invoice, refund, payout, ledger or audit, or holding detected personal data; audit log tables themselves excluded) unless enabled AFTER ... FOR EACH ROW user triggers cover INSERT, UPDATE and DELETE (internal RI triggers do not count): changes to it leave no trail (PCI DSS 10.2.1, SOC 2 CC7.2).",
        frameworks: &["PCI-DSS 10.2.1", "SOC2 CC7.2", "GDPR Art.30"],
        needs: &[Section::Relations, Section::Triggers, Section::PiiRegistry],
        run: audit_trigger_missing,
    },
    Check {
        id: "audit_log_mutable",
        category: Category::Audit,
        severity: Severity::Medium,
        title: "Audit log that can be changed",
        rationale: "Fails for a table named like an audit log (audit_log, audit_logs, audit_trail, audit_events, or ending in _audit_log(s)) when a role other than its owner, or PUBLIC, holds UPDATE, DELETE or TRUNCATE on it, or when no DO INSTEAD rule on DELETE and no enabled BEFORE DELETE trigger blocks deletes. Logs that can be edited prove nothing (PCI DSS 10.3.2).",
        frameworks: &["PCI-DSS 10.3.2", "SOC2 CC7.2"],
        needs: &[Section::Relations, Section::Grants, Section::Triggers],
        run: audit_log_mutable,
    },
    Check {
        id: "financial_delete_unprotected",
        category: Category::Audit,
        severity: Severity::Medium,
        title: "Financial rows can be deleted",
        rationale: "Fails for a table whose name has the word payment(s), transaction(s) or ledger(s) when no DO INSTEAD rule on DELETE and no enabled BEFORE DELETE trigger blocks deletes (the audits' no_delete_payments rule): financial records must be voided or reversed, never deleted (PCI DSS 10.5.1, SOX 802 retention).",
        frameworks: &["PCI-DSS 10.5.1", "SOC2 CC7.2"],
        needs: &[Section::Relations, Section::Triggers],
        run: financial_delete_unprotected,
    },
    Check {
        id: "pgaudit_not_loaded",
        category: Category::Audit,
        severity: Severity::Low,
        title: "pgaudit not loaded",
        rationale: "Fails when shared_preload_libraries does not list pgaudit: without it PostgreSQL logs no session or object audit trail of reads and DDL (PCI DSS 10.2, CIS PostgreSQL Benchmark 3.2). Skipped for roles that cannot read the setting.",
        frameworks: &["PCI-DSS 10.2", "CIS PostgreSQL Benchmark 3.2"],
        needs: &[Section::ServerLibraries],
        run: pgaudit_not_loaded,
    },
];

fn is_audit_log(rel: &Relation) -> bool {
    let w = name_words(&rel.name);
    let n = w.len();
    n >= 2 && w[n - 2] == "audit" && matches!(w[n - 1].as_str(), "log" | "logs" | "trail" | "trails" | "events" | "event")
}

fn table_obj(rel: &Relation) -> ObjRef {
    ObjRef::new(rel.kind.object_type(), rel.identity.clone())
}

/// A DO INSTEAD rule on DELETE or an enabled BEFORE DELETE trigger.
fn delete_blocked(s: &Snapshot, rel: &Relation) -> bool {
    s.rules.iter().any(|r| r.table == rel.oid && r.event == '4' && r.instead)
        || s.triggers_of(rel.oid).any(|t| t.enabled && t.is_before() && t.on_delete())
}

fn deny_trigger(s: &Snapshot, rel: &Relation, name: &str, events: &str) -> Remediation {
    let schema = s.extension_schema.clone().unwrap_or_else(|| "public".into());
    Remediation::sql(
        format!("CREATE TRIGGER {name} BEFORE {events} ON {} FOR EACH ROW EXECUTE FUNCTION {schema}.readiness_deny_change();", rel.identity),
        LOCK_SHARE_ROW_EXCLUSIVE,
    )
}

fn audit_trigger_missing(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let sensitive = sensitive::tables(s, c);
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables().filter(|r| sensitive.contains_key(&r.oid) && !is_audit_log(r)) {
        n += 1;
        let after_row: Vec<_> = s.triggers_of(rel.oid).filter(|t| t.enabled && t.is_row() && t.is_after()).collect();
        let mut missing = Vec::new();
        if !after_row.iter().any(|t| t.on_insert()) {
            missing.push("INSERT");
        }
        if !after_row.iter().any(|t| t.on_update()) {
            missing.push("UPDATE");
        }
        if !after_row.iter().any(|t| t.on_delete()) {
            missing.push("DELETE");
        }
        if missing.is_empty() {
            continue;
        }
        issues.push(
            Issue::fail(table_obj(rel), format!("{} table without an AFTER row trigger for {}", sensitive[&rel.oid], missing.join(", ")))
                .evidence(json!({"missing_events": missing, "sensitive_because": sensitive[&rel.oid]}))
                .fix(Remediation::Advice(format!(
                    "Record every change in an audit table, e.g.:\nCREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit_logs (table_name, action, old_row, new_row, changed_by, changed_at) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(OLD), to_jsonb(NEW), current_user, now()); RETURN NULL; END $$;\nCREATE TRIGGER audit_changes AFTER INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW EXECUTE FUNCTION audit_row();",
                    rel.identity
                ))),
        );
    }
    Ok(Outcome::new(format!("{}, all with AFTER row audit triggers", n_of(n, "sensitive table")), issues))
}

fn audit_log_mutable(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables().filter(|r| is_audit_log(r)) {
        n += 1;
        let mut writers: Vec<(String, String)> = s
            .grants
            .iter()
            .filter(|g| g.table == rel.oid && g.grantee != rel.owner && matches!(g.privilege.as_str(), "UPDATE" | "DELETE" | "TRUNCATE"))
            .map(|g| (s.role_name(g.grantee), g.privilege.clone()))
            .collect();
        writers.sort();
        writers.dedup();
        let blocked = delete_blocked(s, rel);
        if writers.is_empty() && blocked {
            continue;
        }
        let mut fix = None::<Remediation>;
        let mut grantees: Vec<&str> = writers.iter().map(|(r, _)| r.as_str()).collect();
        grantees.dedup();
        for g in &grantees {
            let r = Remediation::sql(format!("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {g};", rel.identity), "no table lock");
            fix = Some(match fix {
                Some(f) => f.then(r),
                None => r,
            });
        }
        if !blocked {
            let t = deny_trigger(s, rel, "readiness_audit_log_immutable", "UPDATE OR DELETE");
            fix = Some(match fix {
                Some(f) => f.then(t),
                None => t,
            });
        }
        let mut reasons = Vec::new();
        if !writers.is_empty() {
            reasons.push(format!("{} may change or delete its rows", grantees.join(", ")));
        }
        if !blocked {
            reasons.push("nothing blocks DELETE".to_string());
        }
        issues.push(
            Issue::fail(table_obj(rel), format!("audit log is mutable: {}", reasons.join("; ")))
                .evidence(json!({"writers": writers.iter().map(|(r, p)| format!("{r}:{p}")).collect::<Vec<_>>(), "delete_blocked": blocked}))
                .fix(fix.expect("a reason implies a fix")),
        );
    }
    Ok(Outcome::new(format!("{}, all append-only", n_of(n, "audit log table")), issues))
}

fn financial_delete_unprotected(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let financial = ["payment", "payments", "transaction", "transactions", "ledger", "ledgers"];
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables().filter(|r| name_words(&r.name).iter().any(|w| financial.contains(&w.as_str()))) {
        n += 1;
        if delete_blocked(s, rel) {
            continue;
        }
        issues.push(
            Issue::fail(table_obj(rel), "financial table: nothing blocks DELETE")
                .evidence(json!({"rules": 0, "before_delete_triggers": 0}))
                .fix(deny_trigger(s, rel, "readiness_no_delete", "DELETE").note("void or reverse financial rows instead of deleting them")),
        );
    }
    Ok(Outcome::new(format!("{}, all protected against DELETE", n_of(n, "financial table")), issues))
}

fn pgaudit_not_loaded(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let Some(libs) = &s.preload_libraries else {
        return Err(CheckError::Skipped("shared_preload_libraries is not visible to this role".into()));
    };
    let loaded = libs.split(',').any(|l| l.trim().trim_matches('"') == "pgaudit");
    if loaded {
        return Ok(Outcome::new("pgaudit is in shared_preload_libraries", vec![]));
    }
    let wanted = if libs.trim().is_empty() { "pgaudit".to_string() } else { format!("{}, pgaudit", libs.trim()) };
    Ok(Outcome::new(
        "",
        vec![Issue::fail(ObjRef::new("setting", "shared_preload_libraries"), format!("pgaudit is not loaded (shared_preload_libraries = '{libs}')"))
            .evidence(json!({"shared_preload_libraries": libs}))
            .fix(Remediation::Advice(format!(
                "Install pgaudit (Debian: postgresql-15-pgaudit), then ALTER SYSTEM SET shared_preload_libraries = '{wanted}'; restart the server, CREATE EXTENSION pgaudit; and set pgaudit.log (e.g. 'ddl, role, write')."
            )))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::model::Status;
    use crate::snapshot::build::*;
    use crate::snapshot::integrity::{Rule, Trigger};

    fn trigger(table: u32, name: &str, tgtype: i16) -> Trigger {
        Trigger { table, name: name.into(), tgtype, enabled: true }
    }

    #[test]
    fn audit_trigger_missing_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let pay = b.table("payment_transactions", &[("id", "uuid")]);
        let inv = b.table("invoices", &[("id", "uuid")]);
        b.table("venues", &[("id", "uuid"), ("name", "text")]);
        b.table("audit_logs", &[("id", "uuid")]);
        // AFTER ROW INSERT OR UPDATE OR DELETE = 1 | 4 | 8 | 16.
        b.snapshot_mut().triggers.push(trigger(inv, "audit", 1 | 4 | 8 | 16));
        b.snapshot_mut().triggers.push(trigger(pay, "audit_ins", 1 | 4));
        let rows = run("audit_trigger_missing", &b);
        assert_eq!(fails(&rows), vec!["public.payment_transactions"]);
        assert_eq!(rows[0].evidence["missing_events"], json!(["UPDATE", "DELETE"]));
        assert!(rows[0].remediation.as_deref().unwrap().starts_with("-- Record every change"));
    }

    #[test]
    fn audit_log_mutable_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.snapshot_mut().extension_schema = Some("public".into());
        let app = b.role("app", true, false, false);
        let open = b.table("audit_logs", &[("id", "uuid")]);
        let closed = b.table("billing_audit_log", &[("id", "uuid")]);
        b.table("audit_settings", &[("id", "uuid")]); // not a log
        b.grant(open, app, "DELETE").grant(open, app, "SELECT").grant(closed, app, "SELECT");
        b.snapshot_mut().rules.push(Rule { table: closed, name: "no_delete".into(), event: '4', instead: true });
        let rows = run("audit_log_mutable", &b);
        assert_eq!(fails(&rows), vec!["public.audit_logs"]);
        let fix = rows[0].remediation.as_deref().unwrap();
        assert!(fix.contains("REVOKE UPDATE, DELETE, TRUNCATE ON public.audit_logs FROM app;"), "{fix}");
        assert!(fix.contains("CREATE TRIGGER readiness_audit_log_immutable BEFORE UPDATE OR DELETE ON public.audit_logs FOR EACH ROW EXECUTE FUNCTION public.readiness_deny_change();"));
    }

    #[test]
    fn financial_delete_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.snapshot_mut().extension_schema = Some("ext".into());
        b.table("payments", &[("id", "uuid")]);
        let ledger = b.table("ledger_entries", &[("id", "uuid")]);
        b.table("transactional_emails", &[("id", "uuid")]); // 'transactional' is not 'transaction'
        // BEFORE ROW DELETE = 1 | 2 | 8.
        b.snapshot_mut().triggers.push(trigger(ledger, "no_delete", 1 | 2 | 8));
        let rows = run("financial_delete_unprotected", &b);
        assert_eq!(fails(&rows), vec!["public.payments"]);
        assert!(rows[0].remediation.as_deref().unwrap().ends_with(
            "CREATE TRIGGER readiness_no_delete BEFORE DELETE ON public.payments FOR EACH ROW EXECUTE FUNCTION ext.readiness_deny_change();"
        ));
    }

    #[test]
    fn pgaudit_hit_near_miss_and_skip() {
        let mut b = SnapshotBuilder::new();
        b.snapshot_mut().preload_libraries = Some("pg_stat_statements".into());
        let rows = run("pgaudit_not_loaded", &b);
        assert_eq!(fails(&rows), vec!["shared_preload_libraries"]);
        assert_eq!(rows[0].object_type.as_deref(), Some("setting"));
        assert!(rows[0].remediation.as_deref().unwrap().contains("'pg_stat_statements, pgaudit'"));
        b.snapshot_mut().preload_libraries = Some("pg_stat_statements,pgaudit".into());
        assert!(passes(&run("pgaudit_not_loaded", &b)));
        b.snapshot_mut().preload_libraries = None;
        assert_eq!(run("pgaudit_not_loaded", &b)[0].status, Status::Skipped);
    }
}
