//! pii — cardholder and personal data: by column name, and in values sampled
//! within the budget. Evidence holds counts and masked examples only.

use std::collections::HashMap;

use serde_json::json;

use super::sqlgen::{self, LOCK_ACCESS_EXCLUSIVE, LOCK_NONE};
use super::{n_of, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::pii::detect::{self, PiiKind};
use crate::snapshot::integrity::ColumnSample;
use crate::snapshot::{Column, Oid, Relation, Section, Snapshot};

const CARD: &[&str] = &["PCI-DSS 3.3.1", "PCI-DSS 3.5.1", "GDPR Art.32"];

pub static CHECKS: [Check; 5] = [
    Check {
        id: "card_column_name",
        category: Category::Pii,
        severity: Severity::Critical,
        title: "Column named like card data",
        rationale: "Fails for a column whose name says card number, PAN, CVV/CVC or card expiry (card_number, cc_num, pan, cvv, cvc2, credit_card, card_expiry, ...; words split on non-alphanumerics; card_last4, card_brand and card_type are allowed). Storing the PAN in clear, or the CVV at all after authorisation, is forbidden by PCI DSS 3.3.1 and 3.5.1.",
        frameworks: CARD,
        needs: &[Section::Relations],
        run: card_column_name,
    },
    Check {
        id: "card_data_detected",
        category: Category::Pii,
        severity: Severity::Critical,
        title: "Card numbers found in sampled values",
        rationale: "Fails for a text, varchar, char, json or jsonb column (jsonb walked value by value) whose sampled values contain a 13-19 digit number, single spaces or dashes allowed between groups, that passes the Luhn check and starts with a plausible issuer prefix; order and phone numbers fail Luhn or prefix. At most pg_readiness.sample_rows rows per table are read with TABLESAMPLE and LIMIT, within pg_readiness.sample_budget_ms for the whole report; tables not reached are skipped with the reason (PCI DSS 3.5.1, 12.5.2 data discovery).",
        frameworks: &["PCI-DSS 3.5.1", "PCI-DSS 12.5.2", "GDPR Art.32"],
        needs: &[Section::Relations, Section::Samples],
        run: card_data_detected,
    },
    Check {
        id: "pii_unregistered",
        category: Category::Pii,
        severity: Severity::Medium,
        title: "Personal data not registered for erasure",
        rationale: "Fails for a column detected as personal data by name (email, phone, person names, address, birth date, national id, IP address, card) or by sampled values (e-mail addresses, card numbers, SSNs) that is not in readiness_pii_columns: gdpr_erase_user() would leave it in place (GDPR Art.17 right to erasure, Art.30 records of processing).",
        frameworks: &["GDPR Art.17", "GDPR Art.30"],
        needs: &[Section::Relations, Section::PiiRegistry],
        run: pii_unregistered,
    },
    Check {
        id: "pii_table_without_rls",
        category: Category::Pii,
        severity: Severity::High,
        title: "Personal data readable without row-level security",
        rationale: "Fails for a table holding personal data (registered, or detected by name or sampled values) that has RLS disabled while a role other than its owner, or PUBLIC, holds SELECT on it: every such role reads every data subject's rows (GDPR Art.25 data protection by design, Art.32).",
        frameworks: &["GDPR Art.25", "GDPR Art.32", "SOC2 CC6.1"],
        needs: &[Section::Relations, Section::Grants, Section::PiiRegistry],
        run: pii_table_without_rls,
    },
    Check {
        id: "pii_plaintext_national_id",
        category: Category::Pii,
        severity: Severity::High,
        title: "National identifiers stored in plain text",
        rationale: "Fails for a text or json column whose sampled values contain US Social Security numbers: AAA-GG-SSSS in free text, or a whole value of nine digits, with area not 000, 666 or 900-999, group not 00 and serial not 0000. Such identifiers enable identity theft and must be encrypted or tokenised (GDPR Art.32, NIST SP 800-122).",
        frameworks: &["GDPR Art.32", "NIST SP 800-122"],
        needs: &[Section::Relations, Section::Samples],
        run: pii_plaintext_national_id,
    },
];

fn column_obj(rel: &Relation, col: &Column) -> ObjRef {
    ObjRef::new("table column", rel.column_identity(col))
}

/// Value-based checks need sampling: off, the whole check is skipped; tables
/// sampling did not reach become skipped rows.
fn sampled_or_skip(s: &Snapshot) -> Result<Vec<Issue>, CheckError> {
    if let Some(reason) = &s.samples.disabled {
        return Err(CheckError::Skipped(reason.clone()));
    }
    let mut skipped: Vec<Issue> = Vec::new();
    let mut seen: Vec<Oid> = Vec::new();
    for (table, reason) in &s.samples.skipped {
        if seen.contains(table) {
            continue;
        }
        seen.push(*table);
        let obj = s.relation(*table).map(|r| ObjRef::new(r.kind.object_type(), r.identity.clone()));
        skipped.push(Issue::skipped(obj, reason.clone()));
    }
    Ok(skipped)
}

fn sampled_columns<'a>(s: &'a Snapshot) -> impl Iterator<Item = (&'a Relation, &'a Column, &'a ColumnSample)> + 'a {
    s.samples.columns.iter().filter_map(|c| {
        let rel = s.relation(c.table)?;
        Some((rel, rel.column_by_num(c.attnum)?, c))
    })
}

fn card_column_name(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables() {
        for col in &rel.columns {
            n += 1;
            if !detect::is_card_column_name(&col.name) {
                continue;
            }
            issues.push(
                Issue::fail(column_obj(rel, col), "column named like card data (PAN, CVV or expiry)")
                    .evidence(json!({"type": col.type_name}))
                    .fix(Remediation::Advice(format!(
                        "Do not store card data: replace it with the payment processor's token, then ALTER TABLE {} DROP COLUMN {}; a CVV may never be stored after authorisation. If a PAN must be kept, encrypt it outside the database and keep only the last four digits in clear.",
                        rel.identity, col.quoted
                    ))),
            );
        }
    }
    Ok(Outcome::new(format!("{} of {}, none named like card data", n_of(n, "column"), n_of(s.top_tables().count(), "table")), issues))
}

fn card_data_detected(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = sampled_or_skip(s)?;
    let mut columns = 0;
    let mut rows = 0;
    for (rel, col, sample) in sampled_columns(s) {
        columns += 1;
        rows = rows.max(sample.sampled);
        if sample.card_hits == 0 {
            continue;
        }
        issues.push(
            Issue::fail(column_obj(rel, col), format!("{} of {} sampled values contain card numbers", sample.card_hits, sample.sampled))
                .evidence(json!({"sample_hits": sample.card_hits, "sampled": sample.sampled, "masked_examples": sample.card_examples}))
                .fix(Remediation::Advice(format!(
                    "Find and purge the card numbers in {}: replace them with the processor's token or mask_card(), then stop the writer that stores them (PCI DSS 3.5.1).",
                    rel.column_identity(col)
                ))),
        );
    }
    Ok(Outcome::new(format!("{} sampled (up to {rows} rows per table), no card numbers", n_of(columns, "text or json column")), issues))
}

/// What a column looks like: the kind and whether by name, value or both.
fn detected(s: &Snapshot) -> Vec<(&Relation, &Column, PiiKind, &'static str, usize, usize)> {
    let samples: HashMap<(Oid, i16), &ColumnSample> = s.samples.columns.iter().map(|c| ((c.table, c.attnum), c)).collect();
    let mut out = Vec::new();
    for rel in s.top_tables() {
        for col in &rel.columns {
            let by_name = detect::kind_by_name(&col.name, &col.type_name);
            let sample = samples.get(&(rel.oid, col.attnum));
            let by_value = sample.and_then(|v| {
                if v.card_hits > 0 {
                    Some((PiiKind::Card, v.card_hits))
                } else if v.ssn_hits > 0 {
                    Some((PiiKind::NationalId, v.ssn_hits))
                } else if v.email_hits > 0 && v.email_hits * 2 >= v.sampled {
                    // Mostly addresses: an e-mail column, not a comment that mentions one.
                    Some((PiiKind::Email, v.email_hits))
                } else {
                    None
                }
            });
            let sampled = sample.map(|v| v.sampled).unwrap_or(0);
            match (by_name, by_value) {
                (Some(k), Some((_, hits))) => out.push((rel, col, k, "name+value", hits, sampled)),
                (Some(k), None) => out.push((rel, col, k, "name", 0, sampled)),
                (None, Some((k, hits))) => out.push((rel, col, k, "value", hits, sampled)),
                (None, None) => {}
            }
        }
    }
    out
}

/// Rows of `pii_scan()`: every detected or registered column.
pub fn scan_rows(s: &Snapshot) -> Vec<(String, String, String, String, i32, i32, bool)> {
    let mut rows = Vec::new();
    let registered = |rel: &Relation, col: &Column| s.pii_registry.iter().any(|r| r.table == rel.oid && r.column == col.name);
    for (rel, col, kind, basis, hits, sampled) in detected(s) {
        let confidence = match basis {
            "name+value" => "high",
            "value" if kind == PiiKind::Card || hits >= 3 => "high",
            "value" => "medium",
            _ if kind == PiiKind::Card || kind == PiiKind::Email => "medium",
            _ => "low",
        };
        rows.push((rel.column_identity(col), kind.as_str().into(), basis.into(), confidence.into(), hits as i32, sampled as i32, registered(rel, col)));
    }
    for reg in &s.pii_registry {
        let Some(rel) = s.relation(reg.table) else { continue };
        let Some(col) = rel.column(&reg.column) else { continue };
        let identity = rel.column_identity(col);
        if rows.iter().any(|r| r.0 == identity) {
            continue;
        }
        rows.push((identity, reg.kind.clone(), "registry".into(), "high".into(), 0, 0, true));
    }
    rows.sort();
    rows
}

/// The column that identifies the data subject of a table, if one is evident.
fn subject_column<'a>(rel: &'a Relation) -> Option<&'a Column> {
    ["user_id", "customer_id", "subject_id", "person_id", "member_id", "account_id"]
        .iter()
        .find_map(|n| rel.column(n))
        .or_else(|| {
            matches!(rel.name.as_str(), "users" | "customers" | "people" | "persons" | "members" | "profiles" | "accounts")
                .then(|| rel.column("id"))
                .flatten()
        })
        .filter(|c| c.type_name == "uuid")
}

fn pii_unregistered(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let schema = s.extension_schema.clone().unwrap_or_else(|| "public".into());
    let mut n = 0;
    let mut issues = Vec::new();
    for (rel, col, kind, basis, hits, sampled) in detected(s) {
        n += 1;
        if s.pii_registry.iter().any(|r| r.table == rel.oid && r.column == col.name) {
            continue;
        }
        let mut action = kind.default_erase_action();
        if action == "null" && col.not_null {
            action = if detect::is_text_type(&col.type_name) { "redact" } else { "delete_row" };
        }
        if matches!(action, "redact" | "pseudonymize") && !detect::is_text_type(&col.type_name) {
            action = if col.not_null { "delete_row" } else { "null" };
        }
        let fix = match subject_column(rel) {
            Some(subject) => Remediation::sql(
                format!(
                    "INSERT INTO {schema}.readiness_pii_columns (table_name, column_name, pii_kind, subject_column, erase_action) VALUES ({}::regclass, {}, '{}', {}, '{action}') ON CONFLICT DO NOTHING;",
                    sqlgen::literal(&rel.identity),
                    sqlgen::literal(&col.name),
                    kind.as_str(),
                    sqlgen::literal(&subject.name)
                ),
                LOCK_NONE,
            )
            .note("review the erase action before relying on gdpr_erase_user()"),
            None => Remediation::Advice(format!(
                "Register {} in {schema}.readiness_pii_columns with the column that identifies its data subject (a uuid), so gdpr_erase_user() covers it.",
                rel.column_identity(col)
            )),
        };
        issues.push(
            Issue::fail(column_obj(rel, col), format!("{} data (by {basis}) is not registered for erasure", kind.as_str()))
                .evidence(json!({"pii_kind": kind.as_str(), "basis": basis, "sample_hits": hits, "sampled": sampled}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{}, all registered in readiness_pii_columns", n_of(n, "personal-data column")), issues))
}

fn pii_table_without_rls(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut holding: Vec<Oid> = detected(s).iter().map(|d| d.0.oid).collect();
    holding.extend(s.pii_registry.iter().map(|r| r.table));
    holding.sort_unstable();
    holding.dedup();
    let mut n = 0;
    let mut issues = Vec::new();
    for oid in holding {
        let Some(rel) = s.relation(oid) else { continue };
        n += 1;
        if rel.rls_enabled {
            continue;
        }
        let mut readers: Vec<String> = s
            .grants
            .iter()
            .filter(|g| g.table == rel.oid && g.grantee != rel.owner && g.privilege == "SELECT")
            .map(|g| s.role_name(g.grantee))
            .collect();
        if readers.is_empty() {
            continue;
        }
        readers.sort();
        readers.dedup();
        let fix = match rel.column(&c.tenant_column) {
            Some(tenant) => {
                let fix = Remediation::sql(format!("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;", rel.identity), LOCK_ACCESS_EXCLUSIVE)
                    .then(Remediation::sql(format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", rel.identity), LOCK_ACCESS_EXCLUSIVE));
                if s.policies_of(rel.oid).next().is_some() {
                    fix
                } else {
                    fix.then(Remediation::sql(sqlgen::tenant_policy(rel, tenant, c), LOCK_ACCESS_EXCLUSIVE))
                }
            }
            None => Remediation::Advice(format!(
                "Create policies that limit each role to the rows it needs (CREATE POLICY ... ON {t} ...), then ALTER TABLE {t} ENABLE ROW LEVEL SECURITY; or revoke SELECT from {}.",
                readers.join(", "),
                t = rel.identity
            )),
        };
        issues.push(
            Issue::fail(ObjRef::new(rel.kind.object_type(), rel.identity.clone()), "holds personal data, RLS disabled, readable by other roles")
                .evidence(json!({"readers": readers}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{} holding personal data, none readable by others without RLS", n_of(n, "table")), issues))
}

fn pii_plaintext_national_id(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = sampled_or_skip(s)?;
    let mut columns = 0;
    for (rel, col, sample) in sampled_columns(s) {
        columns += 1;
        if sample.ssn_hits == 0 {
            continue;
        }
        issues.push(
            Issue::fail(column_obj(rel, col), format!("{} of {} sampled values look like US SSNs", sample.ssn_hits, sample.sampled))
                .evidence(json!({"sample_hits": sample.ssn_hits, "sampled": sample.sampled}))
                .fix(Remediation::Advice(format!(
                    "Encrypt or tokenise the identifiers in {} (keep at most the last four digits in clear) and register the column in readiness_pii_columns.",
                    rel.column_identity(col)
                ))),
        );
    }
    Ok(Outcome::new(format!("{} sampled, no national identifiers", n_of(columns, "text or json column")), issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::model::Status;
    use crate::snapshot::build::*;
    use crate::snapshot::integrity::PiiRegistration;

    fn sample(table: Oid, attnum: i16, sampled: usize, cards: usize, ssns: usize, emails: usize) -> ColumnSample {
        ColumnSample {
            table,
            attnum,
            sampled,
            card_hits: cards,
            card_examples: if cards > 0 { vec!["4111 11** **** 1111".into()] } else { vec![] },
            ssn_hits: ssns,
            email_hits: emails,
        }
    }

    #[test]
    fn card_column_name_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.table("payments", &[("card_number", "text"), ("card_last4", "text"), ("cvv", "text"), ("card_brand", "text")]);
        let rows = run("card_column_name", &b);
        assert_eq!(fails(&rows), vec!["public.payments.card_number", "public.payments.cvv"]);
        assert_eq!(rows[0].severity, Severity::Critical);
    }

    #[test]
    fn card_data_detected_hit_near_miss_and_skips() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("orders", &[("notes", "text"), ("reference", "text")]);
        let u = b.table("secret", &[("memo", "text")]);
        b.snapshot_mut().samples.columns = vec![sample(t, 1, 40, 2, 0, 0), sample(t, 2, 40, 0, 0, 0)];
        b.snapshot_mut().samples.skipped = vec![(u, "no SELECT privilege on public.secret: its values were not sampled".into())];
        let rows = run("card_data_detected", &b);
        assert_eq!(fails(&rows), vec!["public.orders.notes"]);
        let f = rows.iter().find(|r| r.status == Status::Fail).unwrap();
        assert_eq!(f.evidence["masked_examples"][0], "4111 11** **** 1111");
        assert_eq!(f.evidence["sample_hits"], 2);
        let skipped = rows.iter().find(|r| r.status == Status::Skipped).unwrap();
        assert_eq!(skipped.object_name.as_deref(), Some("public.secret"));
        b.snapshot_mut().samples.disabled = Some("value sampling is off (pg_readiness.sample_rows = 0)".into());
        let rows = run("card_data_detected", &b);
        assert_eq!((rows.len(), rows[0].status), (1, Status::Skipped));
    }

    #[test]
    fn unregistered_by_name_and_value_with_registration_sql() {
        let mut b = SnapshotBuilder::new();
        let users = b.table("users", &[("id", "uuid"), ("email", "text"), ("full_name", "text"), ("bio", "text")]);
        let notes = b.table("support_notes", &[("id", "uuid"), ("body", "text")]);
        b.snapshot_mut().extension_schema = Some("public".into());
        b.snapshot_mut().samples.columns = vec![sample(notes, 2, 10, 0, 3, 0), sample(users, 4, 10, 0, 0, 1)];
        b.snapshot_mut().pii_registry.push(PiiRegistration {
            table: users,
            column: "full_name".into(),
            kind: "name".into(),
            subject: "id".into(),
            action: "redact".into(),
        });
        let rows = run("pii_unregistered", &b);
        assert_eq!(fails(&rows), vec!["public.users.email", "public.support_notes.body"]);
        assert!(rows[0].remediation.as_deref().unwrap().contains(
            "INSERT INTO public.readiness_pii_columns (table_name, column_name, pii_kind, subject_column, erase_action) VALUES ('public.users'::regclass, 'email', 'email', 'id', 'pseudonymize') ON CONFLICT DO NOTHING;"
        ));
        assert_eq!(rows[1].evidence["basis"], "value");
        assert!(rows[1].remediation.as_deref().unwrap().starts_with("-- Register"), "no evident subject column");
    }

    #[test]
    fn scan_rows_mark_registration_and_basis() {
        let mut b = SnapshotBuilder::new();
        let users = b.table("users", &[("id", "uuid"), ("email", "text")]);
        b.snapshot_mut().samples.columns = vec![sample(users, 2, 10, 0, 0, 10)];
        b.snapshot_mut().pii_registry.push(PiiRegistration { table: users, column: "email".into(), kind: "email".into(), subject: "id".into(), action: "pseudonymize".into() });
        let rows = scan_rows(&b.build());
        assert_eq!(rows, vec![("public.users.email".into(), "email".into(), "name+value".into(), "high".into(), 10, 10, true)]);
    }

    #[test]
    fn pii_table_without_rls_hit_and_near_misses() {
        let mut b = SnapshotBuilder::new();
        let app = b.role("app", true, false, false);
        let open = b.table("customers", &[("id", "uuid"), ("email", "text")]);
        let private = b.table("contacts", &[("id", "uuid"), ("phone", "text")]);
        let guarded = b.table("people", &[("id", "uuid"), ("email", "text"), ("tenant_id", "uuid")]);
        b.grant(open, app, "SELECT").grant(guarded, 0, "SELECT").rls(guarded, true, true);
        let _ = private; // no grant to other roles: only its owner reads it
        let rows = run("pii_table_without_rls", &b);
        assert_eq!(fails(&rows), vec!["public.customers"]);
        assert_eq!(rows[0].evidence["readers"], json!(["app"]));
    }

    #[test]
    fn national_id_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("applicants", &[("notes", "text"), ("ref", "text")]);
        b.snapshot_mut().samples.columns = vec![sample(t, 1, 20, 0, 4, 0), sample(t, 2, 20, 0, 0, 0)];
        let rows = run("pii_plaintext_national_id", &b);
        assert_eq!(fails(&rows), vec!["public.applicants.notes"]);
        assert_eq!(rows[0].evidence, json!({"sample_hits": 4, "sampled": 20}));
    }
}
