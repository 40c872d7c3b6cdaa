//! constraints — data integrity: CHECKs on money and quantities, typed
//! statuses, unvalidated constraints, tenant keys, sequences.

use serde_json::json;

use super::sqlgen::{self, LOCK_ACCESS_EXCLUSIVE, LOCK_SHARE_ROW_EXCLUSIVE, LOCK_SHARE_UPDATE_EXCLUSIVE};
use super::{n_of, sensitive, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::pii::detect::{self, name_words};
use crate::snapshot::{Column, Relation, Section, Snapshot};

const INTEGRITY: &[&str] = &["SOC2 PI1.2", "PCI-DSS 6.2.4"];

const MONEY_WORDS: [&str; 11] = ["price", "amount", "total", "subtotal", "cost", "fee", "fees", "balance", "tax", "discount", "charge"];
const QUANTITY_WORDS: [&str; 4] = ["quantity", "qty", "count", "quantities"];
const STATUS_WORDS: [&str; 3] = ["status", "state", "type"];

pub static CHECKS: [Check; 12] = [
    Check {
        id: "money_column_unchecked",
        category: Category::Constraints,
        severity: Severity::Medium,
        title: "Money column without a CHECK constraint",
        rationale: "Fails for a column of a numeric type (numeric, integer types, real, double precision, money) whose name has one of the words price, amount, total, subtotal, cost, fee(s), balance, tax, discount, charge (case-insensitive, words split on non-alphanumerics, so price_note text and discount_code are not money) when no CHECK constraint references it and its type is not a domain with a CHECK. A negative price or amount is then accepted silently.",
        frameworks: INTEGRITY,
        needs: &[Section::Relations, Section::Constraints, Section::Types],
        run: money_column_unchecked,
    },
    Check {
        id: "quantity_column_unchecked",
        category: Category::Constraints,
        severity: Severity::Medium,
        title: "Quantity column without a CHECK constraint",
        rationale: "Fails for an integer column (smallint, integer, bigint) whose name has the word quantity, qty or count when no CHECK constraint references it and its type is not a domain with a CHECK: negative or zero quantities corrupt totals and stock.",
        frameworks: INTEGRITY,
        needs: &[Section::Relations, Section::Constraints, Section::Types],
        run: quantity_column_unchecked,
    },
    Check {
        id: "email_column_unchecked",
        category: Category::Constraints,
        severity: Severity::Low,
        title: "E-mail column without validation",
        rationale: "Fails for a text-like column whose name has the word email (email, contact_email, email_address; not email_verified) when no CHECK constraint references it, its type is not a domain, and it is not part of a foreign key. Unvalidated addresses break notifications and erasure lookups.",
        frameworks: &["SOC2 PI1.2", "GDPR Art.5(1)(d)"],
        needs: &[Section::Relations, Section::Constraints, Section::Types],
        run: email_column_unchecked,
    },
    Check {
        id: "status_column_unconstrained",
        category: Category::Constraints,
        severity: Severity::Low,
        title: "Free-text status column",
        rationale: "Fails for a text or varchar column whose last name word is status, state or type (status, payment_status, ticket_type) when no CHECK references it, its type is not an enum or domain, and no foreign key covers it: any typo becomes a new state the application does not handle.",
        frameworks: INTEGRITY,
        needs: &[Section::Relations, Section::Constraints, Section::Types],
        run: status_column_unconstrained,
    },
    Check {
        id: "money_column_float",
        category: Category::Constraints,
        severity: Severity::High,
        title: "Money stored as floating point",
        rationale: "Fails for a money-named column (the money_column_unchecked words) of type real or double precision: binary floating point cannot represent most decimal amounts, so sums drift by fractions of a cent (PostgreSQL docs 8.1.3; use numeric).",
        frameworks: &["PostgreSQL docs 8.1.3 Floating-Point Types", "SOC2 PI1.2"],
        needs: &[Section::Relations],
        run: money_column_float,
    },
    Check {
        id: "timestamp_without_time_zone",
        category: Category::Constraints,
        severity: Severity::Low,
        title: "timestamp without time zone",
        rationale: "Fails for a column of type timestamp without time zone: values carry no zone, so they change meaning when the server or a client's TimeZone differs (PostgreSQL wiki, Don't Do This: use timestamptz).",
        frameworks: &["PostgreSQL wiki Don't Do This", "SOC2 PI1.2"],
        needs: &[Section::Relations],
        run: timestamp_without_time_zone,
    },
    Check {
        id: "constraint_not_validated",
        category: Category::Constraints,
        severity: Severity::Medium,
        title: "Constraint added NOT VALID and never validated",
        rationale: "Fails for a CHECK or FOREIGN KEY constraint with convalidated = false (constraints inherited by partitions are judged on the parent): existing rows were never checked, so the constraint does not guarantee what it says (PostgreSQL docs: ALTER TABLE, VALIDATE CONSTRAINT).",
        frameworks: INTEGRITY,
        needs: &[Section::Relations, Section::Constraints],
        run: constraint_not_validated,
    },
    Check {
        id: "tenant_column_nullable",
        category: Category::Constraints,
        severity: Severity::High,
        title: "Nullable tenant column",
        rationale: "Fails for a tenant table whose tenant column is not NOT NULL: a row with a NULL tenant matches no tenant policy (or every one, with IS NOT DISTINCT FROM) and falls out of tenant isolation and erasure.",
        frameworks: &["PCI-DSS 7.2.1", "SOC2 CC6.1"],
        needs: &[Section::Relations],
        run: tenant_column_nullable,
    },
    Check {
        id: "tenant_fk_missing",
        category: Category::Constraints,
        severity: Severity::Medium,
        title: "Tenant column without a foreign key",
        rationale: "Fails for a tenant table with no foreign key whose only column is the tenant column: rows can point at tenants that do not exist, and deleting a tenant leaves orphans.",
        frameworks: INTEGRITY,
        needs: &[Section::Relations, Section::Constraints, Section::Indexes],
        run: tenant_fk_missing,
    },
    Check {
        id: "fk_cascade_on_financial",
        category: Category::Constraints,
        severity: Severity::Medium,
        title: "ON DELETE CASCADE from a sensitive table",
        rationale: "Fails for a foreign key with ON DELETE CASCADE on a sensitive table (registered in readiness_pii_columns, named like payment, transaction, invoice, refund, payout, ledger or audit, or holding detected PII): deleting a parent row silently deletes financial or audit records that must be retained (PCI DSS 10.5.1, SOX record retention).",
        frameworks: &["PCI-DSS 10.5.1", "SOC2 CC7.2"],
        needs: &[Section::Relations, Section::Constraints, Section::PiiRegistry],
        run: fk_cascade_on_financial,
    },
    Check {
        id: "sequence_exhaustion",
        category: Category::Constraints,
        severity: Severity::High,
        title: "Identity or serial sequence running out",
        rationale: "Fails for a serial or identity sequence that has used more than 50% of the range its column type allows (critical above 85%), measured from pg_sequence_last_value against the smaller of the sequence's and the column type's maximum. When it runs out every INSERT fails. Sequences the caller may not read are skipped.",
        frameworks: &["SOC2 A1.1", "PostgreSQL docs 9.17 Sequence Manipulation Functions"],
        needs: &[Section::Relations, Section::Sequences],
        run: sequence_exhaustion,
    },
    Check {
        id: "serial_primary_key_enumerable",
        category: Category::Constraints,
        severity: Severity::Info,
        title: "Sequential key on a sensitive table",
        rationale: "Fails for a sensitive table (as fk_cascade_on_financial defines it) whose primary key is a single integer column fed by a sequence or identity: ids that count up let anyone who sees one guess its neighbours (OWASP: insecure direct object references), and leak volumes.",
        frameworks: &["OWASP ASVS V4.2.1", "GDPR Art.25"],
        needs: &[Section::Relations, Section::Constraints, Section::Sequences, Section::PiiRegistry],
        run: serial_primary_key_enumerable,
    },
];

fn named_like(name: &str, list: &[&str]) -> bool {
    name_words(name).iter().any(|w| list.contains(&w.as_str()))
}

fn base_type(t: &str) -> &str {
    t.split('(').next().unwrap_or(t).trim()
}

fn is_integer(t: &str) -> bool {
    matches!(base_type(t), "smallint" | "integer" | "bigint")
}

fn is_float(t: &str) -> bool {
    matches!(base_type(t), "real" | "double precision")
}

fn is_numeric(t: &str) -> bool {
    is_integer(t) || is_float(t) || matches!(base_type(t), "numeric" | "money")
}

fn column_obj(rel: &Relation, col: &Column) -> ObjRef {
    ObjRef::new("table column", rel.column_identity(col))
}

fn checked(s: &Snapshot, rel: &Relation, col: &Column) -> bool {
    s.constraints_of(rel.oid).any(|k| k.contype == 'c' && k.keys.contains(&col.attnum))
        || s.types.get(&col.type_oid).is_some_and(|t| t.kind == 'd' && t.has_check)
}

fn in_foreign_key(s: &Snapshot, rel: &Relation, col: &Column) -> bool {
    s.constraints_of(rel.oid).any(|k| k.contype == 'f' && k.keys.contains(&col.attnum))
}

/// Columns of top-level tables matching `pick`, with the count inspected.
fn columns<'a>(s: &'a Snapshot, pick: impl Fn(&Column) -> bool + 'a) -> impl Iterator<Item = (&'a Relation, &'a Column)> + 'a {
    let pick = std::rc::Rc::new(pick);
    s.top_tables().flat_map(move |r| {
        let pick = pick.clone();
        r.columns.iter().filter(move |c| pick(c)).map(move |c| (r, c))
    })
}

fn nonnegative_check(rel: &Relation, col: &Column, note: Option<&str>) -> Remediation {
    let name = sqlgen::generated_name("chk", &[&rel.name, &col.name, "nonneg"]);
    let fix = sqlgen::add_validated_constraint(rel, &name, &format!("CHECK ({} >= 0)", col.quoted), LOCK_ACCESS_EXCLUSIVE);
    match note {
        Some(n) => fix.note(n),
        None => fix,
    }
}

fn unchecked_columns(
    s: &Snapshot,
    pick: impl Fn(&Column) -> bool + 'static,
    what: &str,
    fix: impl Fn(&Relation, &Column) -> Remediation,
) -> Outcome {
    let mut n = 0;
    let mut issues = Vec::new();
    for (rel, col) in columns(s, pick) {
        n += 1;
        if checked(s, rel, col) {
            continue;
        }
        issues.push(
            Issue::fail(column_obj(rel, col), format!("{what} column of type {} has no CHECK constraint", col.type_name))
                .evidence(json!({"type": col.type_name}))
                .fix(fix(rel, col)),
        );
    }
    Outcome::new(format!("{n} {what} column{}, all with a CHECK", if n == 1 { "" } else { "s" }), issues)
}

fn money_column_unchecked(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    Ok(unchecked_columns(
        s,
        |c| is_numeric(&c.type_name) && named_like(&c.name, &MONEY_WORDS),
        "money",
        |rel, col| {
            let note = named_like(&col.name, &["balance", "discount"])
                .then_some("adjust the bound if negative values are legitimate here (refunds, overdrafts)");
            nonnegative_check(rel, col, note)
        },
    ))
}

fn quantity_column_unchecked(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    Ok(unchecked_columns(
        s,
        |c| is_integer(&c.type_name) && named_like(&c.name, &QUANTITY_WORDS),
        "quantity",
        |rel, col| nonnegative_check(rel, col, None),
    ))
}

fn email_column_unchecked(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for (rel, col) in columns(s, |c| detect::is_text_type(&c.type_name) && detect::kind_by_name(&c.name, &c.type_name) == Some(detect::PiiKind::Email)) {
        n += 1;
        if checked(s, rel, col) || s.types.contains_key(&col.type_oid) || in_foreign_key(s, rel, col) {
            continue;
        }
        let name = sqlgen::generated_name("chk", &[&rel.name, &col.name, "format"]);
        let def = format!("CHECK ({} ~* '^[^@[:space:]]+@[^@[:space:]]+[.][^@[:space:]]+$')", col.quoted);
        issues.push(
            Issue::fail(column_obj(rel, col), "e-mail column accepts any text")
                .evidence(json!({"type": col.type_name}))
                .fix(sqlgen::add_validated_constraint(rel, &name, &def, LOCK_ACCESS_EXCLUSIVE).note("VALIDATE fails while malformed addresses exist: clean them first")),
        );
    }
    Ok(Outcome::new(format!("{}, all validated", n_of(n, "e-mail column")), issues))
}

fn status_column_unconstrained(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    let pick = |c: &Column| {
        matches!(base_type(&c.type_name), "text" | "character varying")
            && name_words(&c.name).last().is_some_and(|w| STATUS_WORDS.contains(&w.as_str()))
    };
    for (rel, col) in columns(s, pick) {
        n += 1;
        if checked(s, rel, col) || s.types.contains_key(&col.type_oid) || in_foreign_key(s, rel, col) {
            continue;
        }
        let name = sqlgen::generated_name("chk", &[&rel.name, &col.name, "values"]);
        issues.push(
            Issue::fail(column_obj(rel, col), format!("{} column accepts any text", col.type_name))
                .evidence(json!({"type": col.type_name}))
                .fix(Remediation::Advice(format!(
                    "List the values the application handles, then: ALTER TABLE {t} ADD CONSTRAINT {name} CHECK ({c} IN ('...')) NOT VALID; ALTER TABLE {t} VALIDATE CONSTRAINT {name}; (or use an enum type or a lookup table with a foreign key).",
                    t = rel.identity,
                    c = col.quoted
                ))),
        );
    }
    Ok(Outcome::new(format!("{}, all constrained", n_of(n, "status-like text column")), issues))
}

fn money_column_float(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for (rel, col) in columns(s, |c| is_numeric(&c.type_name) && named_like(&c.name, &MONEY_WORDS)) {
        n += 1;
        if !is_float(&col.type_name) {
            continue;
        }
        issues.push(
            Issue::fail(column_obj(rel, col), format!("money column stored as {}", col.type_name))
                .evidence(json!({"type": col.type_name}))
                .fix(
                    Remediation::sql(
                        format!("ALTER TABLE {} ALTER COLUMN {} TYPE numeric(12,2);", rel.identity, col.quoted),
                        LOCK_ACCESS_EXCLUSIVE,
                    )
                    .note("rewrites the table and its indexes under ACCESS EXCLUSIVE: run it in a maintenance window; widen numeric(12,2) if amounts need it"),
                ),
        );
    }
    Ok(Outcome::new(format!("{}, none floating point", n_of(n, "money column")), issues))
}

fn timestamp_without_time_zone(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for (rel, col) in columns(s, |c| c.type_name.starts_with("timestamp")) {
        n += 1;
        if !col.type_name.ends_with("without time zone") {
            continue;
        }
        issues.push(
            Issue::fail(column_obj(rel, col), "timestamp without time zone")
                .evidence(json!({"type": col.type_name}))
                .fix(
                    Remediation::sql(
                        format!(
                            "ALTER TABLE {} ALTER COLUMN {} TYPE timestamptz USING {} AT TIME ZONE 'UTC';",
                            rel.identity, col.quoted, col.quoted
                        ),
                        LOCK_ACCESS_EXCLUSIVE,
                    )
                    .note("reads the stored values as UTC and rewrites the table under ACCESS EXCLUSIVE; change 'UTC' if they were written in another zone"),
                ),
        );
    }
    Ok(Outcome::new(format!("{}, all with time zone", n_of(n, "timestamp column")), issues))
}

fn constraint_not_validated(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for k in s.constraints.iter().filter(|k| matches!(k.contype, 'c' | 'f') && !k.inherited) {
        let Some(rel) = s.relation(k.table) else { continue };
        n += 1;
        if k.validated {
            continue;
        }
        let kind = if k.contype == 'f' { "foreign key" } else { "check constraint" };
        issues.push(
            Issue::fail(ObjRef::new("table constraint", format!("{} on {}", k.quoted, rel.identity)), format!("{kind} was added NOT VALID and never validated"))
                .evidence(json!({"kind": kind}))
                .fix(Remediation::sql(format!("ALTER TABLE {} VALIDATE CONSTRAINT {};", rel.identity, k.quoted), LOCK_SHARE_UPDATE_EXCLUSIVE)),
        );
    }
    Ok(Outcome::new(format!("{} and foreign keys, all validated", n_of(n, "check constraint")), issues))
}

fn tenant_column_nullable(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables() {
        let Some(col) = rel.column(&c.tenant_column) else { continue };
        n += 1;
        if col.not_null {
            continue;
        }
        issues.push(
            Issue::fail(column_obj(rel, col), "tenant column allows NULL")
                .evidence(json!({"tenant_column": c.tenant_column}))
                .fix(
                    Remediation::sql(format!("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL;", rel.identity, col.quoted), LOCK_ACCESS_EXCLUSIVE)
                        .note("scans the table under ACCESS EXCLUSIVE; on a large table add CHECK (col IS NOT NULL) NOT VALID and validate it first"),
                ),
        );
    }
    Ok(Outcome::new(format!("{}, all NOT NULL", n_of(n, "tenant column")), issues))
}

fn tenant_fk_missing(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    // The referenced table for the fix: a table named like tenants with a
    // single-column primary key.
    let tenants = s.top_tables().find(|r| matches!(r.name.as_str(), "tenants" | "tenant" | "organizations" | "organisations" | "accounts"));
    let tenant_pk = tenants.and_then(|t| {
        let pk = s.constraints_of(t.oid).find(|k| k.contype == 'p' && k.keys.len() == 1)?;
        Some((t, t.column_by_num(pk.keys[0])?))
    });
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables() {
        let Some(col) = rel.column(&c.tenant_column) else { continue };
        n += 1;
        if s.constraints_of(rel.oid).any(|k| k.contype == 'f' && k.keys == [col.attnum]) {
            continue;
        }
        let fix = match tenant_pk {
            Some((t, pk)) => {
                let name = sqlgen::generated_name("fk", &[&rel.name, &col.name]);
                sqlgen::add_validated_constraint(rel, &name, &format!("FOREIGN KEY ({}) REFERENCES {} ({})", col.quoted, t.identity, pk.quoted), LOCK_SHARE_ROW_EXCLUSIVE)
            }
            None => Remediation::Advice(format!(
                "Add a foreign key from {}.{} to the tenants table: ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES <tenants> (id) NOT VALID; then VALIDATE CONSTRAINT.",
                rel.identity, col.quoted, rel.identity, col.quoted
            )),
        };
        issues.push(
            Issue::fail(column_obj(rel, col), "tenant column has no foreign key to the tenants table")
                .evidence(json!({"tenants_table": tenant_pk.map(|(t, _)| t.identity.clone())}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{}, all with a foreign key", n_of(n, "tenant column")), issues))
}

fn fk_cascade_on_financial(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let sensitive = sensitive::tables(s, c);
    let mut n = 0;
    let mut issues = Vec::new();
    for k in s.constraints.iter().filter(|k| k.contype == 'f' && !k.inherited && sensitive.contains_key(&k.table)) {
        let Some(rel) = s.relation(k.table) else { continue };
        n += 1;
        if k.on_delete != Some('c') {
            continue;
        }
        let target = k.ref_table.and_then(|r| s.relation(r));
        let cols = crate::snapshot::column_list(rel, &k.keys);
        let ref_cols = target.and_then(|t| crate::snapshot::column_list(t, &k.ref_keys));
        let fix = match (target, cols, ref_cols) {
            (Some(t), Some(cols), Some(ref_cols)) => Remediation::sql(
                format!(
                    "ALTER TABLE {} DROP CONSTRAINT {}, ADD CONSTRAINT {} FOREIGN KEY ({cols}) REFERENCES {} ({ref_cols}) ON DELETE RESTRICT NOT VALID;",
                    rel.identity, k.quoted, k.quoted, t.identity
                ),
                LOCK_SHARE_ROW_EXCLUSIVE,
            )
            .then(Remediation::sql(format!("ALTER TABLE {} VALIDATE CONSTRAINT {};", rel.identity, k.quoted), LOCK_SHARE_UPDATE_EXCLUSIVE))
            .note("parents with dependent rows can no longer be deleted: archive or void them instead"),
            _ => Remediation::Advice("Recreate the foreign key with ON DELETE RESTRICT.".into()),
        };
        issues.push(
            Issue::fail(
                ObjRef::new("table constraint", format!("{} on {}", k.quoted, rel.identity)),
                format!("ON DELETE CASCADE on {} table", sensitive[&k.table]),
            )
            .evidence(json!({"references": target.map(|t| t.identity.clone()), "sensitive_because": sensitive[&k.table]}))
            .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{} of sensitive tables, none cascading deletes", n_of(n, "foreign key")), issues))
}

/// Largest value a column type holds (the smaller bound wins over a sequence's).
fn type_max(type_name: &str) -> i64 {
    match base_type(type_name) {
        "smallint" => i64::from(i16::MAX),
        "integer" => i64::from(i32::MAX),
        _ => i64::MAX,
    }
}

fn sequence_exhaustion(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut worst = 0.0f64;
    let mut issues = Vec::new();
    for seq in &s.sequences {
        let Some(rel) = s.relation(seq.table) else { continue };
        let Some(col) = rel.column_by_num(seq.attnum) else { continue };
        let obj = ObjRef::new("sequence", seq.identity.clone());
        if !seq.readable {
            issues.push(Issue::skipped(Some(obj), format!("no SELECT or USAGE privilege on {}: its position is unknown", seq.identity)));
            continue;
        }
        n += 1;
        let Some(last) = seq.last_value else { continue };
        let (used, range) = if seq.increment >= 0 {
            let max = seq.max.min(type_max(&col.type_name));
            ((last - seq.min) as f64, (max - seq.min) as f64)
        } else {
            let min = seq.min.max(-type_max(&col.type_name));
            ((seq.max - last) as f64, (seq.max - min) as f64)
        };
        let pct = if range > 0.0 { 100.0 * used / range } else { 0.0 };
        worst = worst.max(pct);
        if pct <= 50.0 {
            continue;
        }
        let mut fix = Remediation::sql(format!("ALTER TABLE {} ALTER COLUMN {} TYPE bigint;", rel.identity, col.quoted), LOCK_ACCESS_EXCLUSIVE)
            .note("rewrites the table under ACCESS EXCLUSIVE");
        if !seq.is_identity {
            fix = fix.then(Remediation::sql(format!("ALTER SEQUENCE {} AS bigint;", seq.identity), LOCK_ACCESS_EXCLUSIVE));
        }
        let mut issue = Issue::fail(obj, format!("{:.1}% of the range of {} ({}) is used", pct, rel.column_identity(col), col.type_name))
            .evidence(json!({"column": rel.column_identity(col), "last_value": last, "used_percent": (pct * 10.0).round() / 10.0}))
            .fix(fix);
        if pct > 85.0 {
            issue = issue.severity(Severity::Critical);
        }
        issues.push(issue);
    }
    Ok(Outcome::new(format!("{}, none past half of its range", n_of(n, "identity or serial sequence")), issues)
        .measure("readiness_sequence_max_used_percent", json!({}), (worst * 10.0).round() / 10.0))
}

fn serial_primary_key_enumerable(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let sensitive = sensitive::tables(s, c);
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables().filter(|r| sensitive.contains_key(&r.oid)) {
        n += 1;
        let Some(pk) = s.constraints_of(rel.oid).find(|k| k.contype == 'p' && k.keys.len() == 1) else { continue };
        let Some(col) = rel.column_by_num(pk.keys[0]) else { continue };
        let sequential = is_integer(&col.type_name) && s.sequences_of(rel.oid).any(|q| q.attnum == col.attnum);
        if !sequential {
            continue;
        }
        issues.push(
            Issue::fail(ObjRef::new("table", rel.identity.clone()), format!("{} table keyed by sequential {}", sensitive[&rel.oid], col.quoted))
                .evidence(json!({"primary_key": col.name, "type": col.type_name, "sensitive_because": sensitive[&rel.oid]}))
                .fix(Remediation::Advice(format!(
                    "Expose a random identifier instead of {c}: ALTER TABLE {t} ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE; and use it in URLs and APIs.",
                    c = col.quoted,
                    t = rel.identity
                ))),
        );
    }
    Ok(Outcome::new(format!("{}, none keyed by a sequence", n_of(n, "sensitive table")), issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::model::Status;
    use crate::snapshot::build::*;
    use crate::snapshot::integrity::{SequenceUse, TypeInfo};

    #[test]
    fn money_unchecked_hit_and_near_misses() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("order_items", &[("unit_price", "numeric(10,2)"), ("price_note", "text"), ("discount_code", "text"), ("total_amount", "numeric"), ("fee", "integer")]);
        let fee = b.attnum(t, "fee");
        b.constraint(t, "fee_positive", 'c', vec![fee], None, vec![]);
        let rows = run("money_column_unchecked", &b);
        assert_eq!(fails(&rows), vec!["public.order_items.unit_price", "public.order_items.total_amount"]);
        assert_eq!(
            rows[0].remediation.as_deref(),
            Some("ALTER TABLE public.order_items ADD CONSTRAINT chk_order_items_unit_price_nonneg CHECK (unit_price >= 0) NOT VALID;\nALTER TABLE public.order_items VALIDATE CONSTRAINT chk_order_items_unit_price_nonneg;")
        );
        assert_eq!(rows[0].lock, Some("ACCESS EXCLUSIVE"));
    }

    #[test]
    fn a_checked_domain_counts_as_a_check() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("payments", &[("amount", "positive_money")]);
        b.rel_mut(t).columns[0].type_oid = 90_000;
        b.snapshot_mut().types.insert(90_000, TypeInfo { kind: 'd', has_check: true });
        // The domain is not numeric by name, so it is not money at all; make it numeric:
        b.rel_mut(t).columns[0].type_name = "numeric".into();
        assert!(passes(&run("money_column_unchecked", &b)));
    }

    #[test]
    fn quantity_unchecked_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.table("ticket_types", &[("quantity", "integer"), ("ticket_count", "bigint"), ("country", "text"), ("qty_label", "text")]);
        let rows = run("quantity_column_unchecked", &b);
        assert_eq!(fails(&rows), vec!["public.ticket_types.quantity", "public.ticket_types.ticket_count"]);
    }

    #[test]
    fn email_unchecked_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("users", &[("email", "text"), ("email_verified", "boolean"), ("backup_email", "character varying(255)")]);
        let e = b.attnum(t, "backup_email");
        b.constraint(t, "chk_backup", 'c', vec![e], None, vec![]);
        let rows = run("email_column_unchecked", &b);
        assert_eq!(fails(&rows), vec!["public.users.email"]);
        assert!(rows[0].remediation.as_deref().unwrap().contains("CHECK (email ~* '^[^@[:space:]]+@"));
    }

    #[test]
    fn status_unconstrained_hit_and_near_misses() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("orders", &[("status", "text"), ("payment_status", "text"), ("status_note", "text"), ("state", "order_state"), ("ticket_type", "character varying(20)")]);
        let st = b.attnum(t, "payment_status");
        b.constraint(t, "chk_ps", 'c', vec![st], None, vec![]);
        b.rel_mut(t).columns[3].type_oid = 91_000;
        b.snapshot_mut().types.insert(91_000, TypeInfo { kind: 'e', has_check: false });
        let rows = run("status_column_unconstrained", &b);
        assert_eq!(fails(&rows), vec!["public.orders.status", "public.orders.ticket_type"]);
        assert!(rows[0].remediation.as_deref().unwrap().starts_with("-- List the values"));
    }

    #[test]
    fn money_float_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.table("products", &[("price", "double precision"), ("cost", "numeric(10,2)"), ("weight", "real")]);
        let rows = run("money_column_float", &b);
        assert_eq!(fails(&rows), vec!["public.products.price"]);
        assert!(rows[0].remediation.as_deref().unwrap().ends_with("ALTER TABLE public.products ALTER COLUMN price TYPE numeric(12,2);"));
    }

    #[test]
    fn timestamp_without_zone_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.table("events", &[("starts_at", "timestamp without time zone"), ("created_at", "timestamp with time zone"), ("at6", "timestamp(6) without time zone")]);
        let rows = run("timestamp_without_time_zone", &b);
        assert_eq!(fails(&rows), vec!["public.events.starts_at", "public.events.at6"]);
    }

    #[test]
    fn not_validated_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("orders", &[("total", "numeric")]);
        let k = b.constraint(t, "chk_total", 'c', vec![1], None, vec![]);
        b.constraint(t, "chk_other", 'c', vec![1], None, vec![]);
        b.snapshot_mut().constraints.iter_mut().find(|c| c.oid == k).unwrap().validated = false;
        let rows = run("constraint_not_validated", &b);
        assert_eq!(fails(&rows), vec!["chk_total on public.orders"]);
        assert_eq!(rows[0].remediation.as_deref(), Some("ALTER TABLE public.orders VALIDATE CONSTRAINT chk_total;"));
    }

    #[test]
    fn tenant_nullable_and_fk_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let tenants = b.table("tenants", &[("id", "uuid")]);
        b.primary_key(tenants, &["id"]);
        let good = b.table("users", &[("id", "uuid"), ("tenant_id", "uuid")]);
        b.rel_mut(good).columns[1].not_null = true;
        b.foreign_key(good, "fk_users_tenant", &["tenant_id"], tenants);
        let bad = b.table("refunds", &[("id", "uuid"), ("tenant_id", "uuid")]);
        assert_eq!(fails(&run("tenant_column_nullable", &b)), vec!["public.refunds.tenant_id"]);
        let rows = run("tenant_fk_missing", &b);
        assert_eq!(fails(&rows), vec!["public.refunds.tenant_id"]);
        assert!(rows[0].remediation.as_deref().unwrap().starts_with(
            "ALTER TABLE public.refunds ADD CONSTRAINT fk_refunds_tenant_id FOREIGN KEY (tenant_id) REFERENCES public.tenants (id) NOT VALID;"
        ));
        assert_eq!(rows[0].lock, Some("SHARE ROW EXCLUSIVE"));
        let _ = bad;
    }

    #[test]
    fn cascade_on_financial_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let orders = b.table("orders", &[("id", "uuid")]);
        let pay = b.table("payment_transactions", &[("id", "uuid"), ("order_id", "uuid")]);
        let items = b.table("order_items", &[("id", "uuid"), ("order_id", "uuid")]);
        let k = b.foreign_key(pay, "fk_pay_order", &["order_id"], orders);
        let k2 = b.foreign_key(items, "fk_items_order", &["order_id"], orders);
        for id in [k, k2] {
            b.snapshot_mut().constraints.iter_mut().find(|c| c.oid == id).unwrap().on_delete = Some('c');
        }
        let rows = run("fk_cascade_on_financial", &b);
        assert_eq!(fails(&rows), vec!["fk_pay_order on public.payment_transactions"]);
        assert!(rows[0].remediation.as_deref().unwrap().contains("REFERENCES public.orders (id) ON DELETE RESTRICT NOT VALID;"));
    }

    fn seq(table: u32, attnum: i16, last: Option<i64>, readable: bool) -> SequenceUse {
        SequenceUse { table, attnum, identity: "public.t_id_seq".into(), min: 1, max: i64::MAX, increment: 1, last_value: last, readable, is_identity: false }
    }

    #[test]
    fn sequence_exhaustion_levels() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("t", &[("id", "integer")]);
        b.snapshot_mut().sequences.push(seq(t, 1, Some(1_200_000_000), true));
        let rows = run("sequence_exhaustion", &b);
        assert_eq!(fails(&rows), vec!["public.t_id_seq"]);
        assert_eq!(rows[0].severity, Severity::High);
        assert_eq!(rows[0].object_type.as_deref(), Some("sequence"));
        b.snapshot_mut().sequences[0].last_value = Some(2_000_000_000);
        assert_eq!(run("sequence_exhaustion", &b)[0].severity, Severity::Critical);
        // A bigint column has room: the same value is nothing.
        b.rel_mut(t).columns[0].type_name = "bigint".into();
        assert!(passes(&run("sequence_exhaustion", &b)));
        // Unreadable sequences are skipped, not passed silently.
        b.snapshot_mut().sequences[0].readable = false;
        let rows = run("sequence_exhaustion", &b);
        assert_eq!(rows[0].status, Status::Skipped);
    }

    #[test]
    fn serial_key_on_sensitive_table_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let inv = b.table("invoices", &[("id", "integer")]);
        b.primary_key(inv, &["id"]);
        b.snapshot_mut().sequences.push(seq(inv, 1, Some(10), true));
        let venues = b.table("venues", &[("id", "integer")]);
        b.primary_key(venues, &["id"]);
        b.snapshot_mut().sequences.push(seq(venues, 1, Some(10), true));
        let rows = run("serial_primary_key_enumerable", &b);
        assert_eq!(fails(&rows), vec!["public.invoices"]);
    }
}
