//! indexes — foreign keys, tenant access paths, duplicates, validity, usage.

use std::collections::HashMap;

use serde_json::json;

use super::sqlgen::{self, LOCK_ACCESS_EXCLUSIVE, LOCK_SHARE, LOCK_SHARE_UPDATE_EXCLUSIVE};
use super::{n_of, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::snapshot::{column_list, Index, Oid, RelKind, Relation, Section, Snapshot};

const PERF: &[&str] = &["PostgreSQL docs 11 Indexes", "SOC2 A1.1"];

/// Index usage statistics must cover at least this long before an index with
/// no scans is called unused (a weekly job may be its only user).
const UNUSED_MIN_STATS_AGE_SECS: f64 = 7.0 * 86_400.0;

pub static CHECKS: [Check; 9] = [
    Check {
        id: "fk_missing_index",
        category: Category::Indexes,
        severity: Severity::High,
        title: "Foreign key without a supporting index",
        rationale: "Fails for a foreign key (multi-column keys included; keys inherited by partitions are judged on the parent) when no valid, non-partial index on the referencing table has the key's columns as its leading columns, in any order among them. An index that merely contains the columns elsewhere does not count. Without it every DELETE or key UPDATE on the referenced table scans the referencing table under lock (PostgreSQL docs 5.4.5).",
        frameworks: &["PostgreSQL docs 5.4.5 Foreign Keys", "SOC2 A1.1"],
        needs: &[Section::Relations, Section::Indexes, Section::Constraints],
        run: fk_missing_index,
    },
    Check {
        id: "tenant_index_missing",
        category: Category::Indexes,
        severity: Severity::Medium,
        title: "Tenant table without an index on the tenant column",
        rationale: "Fails for a tenant table (judged on the parent for partitioned tables) with no valid, non-partial index whose first column is the tenant column. Judged on the schema, not on row counts, because readiness audits run on empty staging databases too; every tenant-scoped query and RLS policy filters on that column.",
        frameworks: PERF,
        needs: &[Section::Relations, Section::Indexes],
        run: tenant_index_missing,
    },
    Check {
        id: "tenant_index_not_leading",
        category: Category::Indexes,
        severity: Severity::Low,
        title: "Tenant table index that does not start with the tenant column",
        rationale: "Fails for a valid, non-unique btree index on a tenant table whose first key column is not the tenant column, unless its leading columns are exactly a foreign key's columns (referential actions look rows up without the tenant). Tenant-scoped queries then cannot use the index as a composite (tenant_id, ...) path; the remediation builds the composite index and drops the old one.",
        frameworks: PERF,
        needs: &[Section::Relations, Section::Indexes, Section::Constraints],
        run: tenant_index_not_leading,
    },
    Check {
        id: "duplicate_index",
        category: Category::Indexes,
        severity: Severity::Medium,
        title: "Duplicate index",
        rationale: "Fails for each extra index when two or more valid indexes on one table have the same access method, key and INCLUDE columns, expressions, predicate, operator classes, collations, sort options and uniqueness. The one backing a constraint (else the oldest) is kept. Each duplicate costs write amplification and memory for no read benefit.",
        frameworks: PERF,
        needs: &[Section::Relations, Section::Indexes],
        run: duplicate_index,
    },
    Check {
        id: "redundant_index",
        category: Category::Indexes,
        severity: Severity::Low,
        title: "Index made redundant by a longer one",
        rationale: "Fails for a valid, non-unique btree index that backs no constraint, has no expressions and no INCLUDE columns, when its key columns (with the same operator classes, collations and sort options) are a strict leading prefix of another valid btree index on the same table with the same predicate. The longer index serves every query the shorter one does.",
        frameworks: PERF,
        needs: &[Section::Relations, Section::Indexes],
        run: redundant_index,
    },
    Check {
        id: "invalid_index",
        category: Category::Indexes,
        severity: Severity::High,
        title: "Invalid index",
        rationale: "Fails for an index with pg_index.indisvalid = false, typically left by a failed CREATE INDEX CONCURRENTLY: it is maintained on every write but never used by queries, and a unique one still rejects rows (PostgreSQL docs, CREATE INDEX: Building Indexes Concurrently).",
        frameworks: &["PostgreSQL docs CREATE INDEX CONCURRENTLY", "SOC2 A1.1"],
        needs: &[Section::Relations, Section::Indexes],
        run: invalid_index,
    },
    Check {
        id: "unused_index",
        category: Category::Indexes,
        severity: Severity::Low,
        title: "Unused index",
        rationale: "Fails for a valid, non-unique index that backs no constraint and shows idx_scan = 0, when the statistics cover at least 7 days (since pg_stat_database.stats_reset, or since server start when never reset). Skipped with the statistics' age when they are younger, and on a standby (its counters see only standby queries).",
        frameworks: PERF,
        needs: &[Section::Relations, Section::Indexes, Section::IndexStats],
        run: unused_index,
    },
    Check {
        id: "missing_primary_key",
        category: Category::Indexes,
        severity: Severity::High,
        title: "Table without a primary key",
        rationale: "Fails for a table (partitioned tables judged on the parent) with no PRIMARY KEY constraint. Rows cannot be addressed reliably, logical replication cannot replicate UPDATE/DELETE with the default replica identity, and ORMs misbehave (PostgreSQL docs 5.4.4, 31.1).",
        frameworks: &["PostgreSQL docs 5.4.4 Primary Keys", "PostgreSQL docs 31.1 Publication", "SOC2 PI1.2"],
        needs: &[Section::Relations, Section::Indexes, Section::Constraints],
        run: missing_primary_key,
    },
    Check {
        id: "jsonb_without_gin",
        category: Category::Indexes,
        severity: Severity::Info,
        title: "jsonb column on a large table without a GIN index",
        rationale: "Fails for a jsonb column of a table larger than pg_readiness.large_table_bytes (estimated from relpages; a partitioned table counts its partitions) when no GIN index on the table covers the column. Containment and key-existence queries on it then scan the whole table (PostgreSQL docs 8.14.4).",
        frameworks: &["PostgreSQL docs 8.14.4 jsonb Indexing"],
        needs: &[Section::Relations, Section::Indexes],
        run: jsonb_without_gin,
    },
];

fn index_obj(i: &Index) -> ObjRef {
    ObjRef::new("index", i.identity.clone())
}

fn table_obj(rel: &Relation) -> ObjRef {
    ObjRef::new(rel.kind.object_type(), rel.identity.clone())
}

fn column_names(rel: &Relation, attnums: &[i16]) -> Vec<String> {
    attnums.iter().map(|a| rel.column_by_num(*a).map(|c| c.name.clone()).unwrap_or_else(|| "(expression)".into())).collect()
}

/// Do the first `cols.len()` key columns of `idx` equal `cols` as a set?
fn leads_with(idx: &Index, cols: &[i16]) -> bool {
    let keys = idx.key_columns();
    if cols.is_empty() || keys.len() < cols.len() {
        return false;
    }
    let mut lead: Vec<i16> = keys[..cols.len()].to_vec();
    let mut want: Vec<i16> = cols.to_vec();
    lead.sort_unstable();
    want.sort_unstable();
    lead == want && !lead.contains(&0)
}


fn fk_missing_index(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for fk in s.constraints.iter().filter(|c| c.contype == 'f' && !c.inherited) {
        let Some(rel) = s.relation(fk.table) else { continue };
        n += 1;
        let covered = s.indexes_of(rel.oid).any(|i| i.valid && !i.is_partial() && leads_with(i, &fk.keys));
        if covered {
            continue;
        }
        let Some(cols) = column_list(rel, &fk.keys) else { continue };
        let referenced = fk.ref_table.and_then(|r| s.relation(r)).map(|r| r.identity.clone());
        issues.push(
            Issue::fail(
                ObjRef::new("table constraint", format!("{} on {}", fk.quoted, rel.identity)),
                format!("no index on {} leads with the foreign key's columns ({cols})", rel.identity),
            )
            .evidence(json!({"columns": column_names(rel, &fk.keys), "references": referenced}))
            .fix(sqlgen::create_index(rel, None, &cols, None, None)),
        );
    }
    Ok(Outcome::new(format!("{}, all with an index leading with their columns", n_of(n, "foreign key")), issues))
}

fn tenant_index_missing(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables() {
        let Some(tenant) = rel.column(&c.tenant_column) else { continue };
        n += 1;
        let ok = s
            .indexes_of(rel.oid)
            .any(|i| i.valid && !i.is_partial() && i.key_columns().first() == Some(&tenant.attnum));
        if ok {
            continue;
        }
        issues.push(
            Issue::fail(table_obj(rel), format!("no valid index starts with {}", tenant.quoted))
                .evidence(json!({"tenant_column": c.tenant_column, "indexes": s.indexes_of(rel.oid).count()}))
                .fix(sqlgen::create_index(rel, None, &tenant.quoted, None, None)),
        );
    }
    Ok(Outcome::new(format!("{}, all with an index leading with {}", n_of(n, "tenant table"), c.tenant_column), issues))
}

fn tenant_index_not_leading(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables() {
        let Some(tenant) = rel.column(&c.tenant_column) else { continue };
        let fks: Vec<&[i16]> =
            s.constraints_of(rel.oid).filter(|k| k.contype == 'f').map(|k| k.keys.as_slice()).collect();
        for idx in s.indexes_of(rel.oid).filter(|i| i.valid && !i.unique && i.am == "btree" && !i.is_partition) {
            n += 1;
            if idx.key_columns().first() == Some(&tenant.attnum) {
                continue;
            }
            if fks.iter().any(|k| idx.key_columns().len() == k.len() && leads_with(idx, k)) {
                continue;
            }
            let plain = !idx.has_expressions() && idx.options.iter().all(|o| *o == 0) && idx.default_opclasses;
            let keys: Vec<i16> = idx.key_columns().iter().copied().filter(|a| *a != tenant.attnum).collect();
            let fix = match (plain, column_list(rel, &keys)) {
                (true, Some(cols)) => {
                    let include = column_list(rel, &idx.keys[idx.nkeys.min(idx.keys.len())..]).filter(|i| !i.is_empty());
                    let columns = format!("{}, {cols}", tenant.quoted);
                    let create = sqlgen::create_index(rel, None, &columns, include.as_deref(), idx.pred_sql.as_deref());
                    let drop = sqlgen::drop_index(idx, rel.kind == RelKind::PartitionedTable);
                    create.then(drop)
                }
                _ => Remediation::Advice(format!(
                    "Rebuild {} with {} as its first column (keep its expressions, operator classes and sort order), then drop the old index.",
                    idx.identity, tenant.quoted
                )),
            };
            issues.push(
                Issue::fail(index_obj(idx), format!("index on tenant table does not start with {}", tenant.quoted))
                    .evidence(json!({"table": rel.identity, "columns": column_names(rel, idx.key_columns())}))
                    .fix(fix),
            );
        }
    }
    Ok(Outcome::new(
        format!("{} on tenant tables, all leading with {} or serving a foreign key", n_of(n, "non-unique btree index"), c.tenant_column),
        issues,
    ))
}

type Signature<'a> = (&'a str, &'a [i16], usize, &'a [Oid], &'a [Oid], &'a [i16], Option<&'a str>, Option<&'a str>, bool);

fn signature(i: &Index) -> Signature<'_> {
    (
        i.am.as_str(),
        i.keys.as_slice(),
        i.nkeys,
        i.classes.as_slice(),
        i.collations.as_slice(),
        i.options.as_slice(),
        i.exprs.as_deref(),
        i.pred.as_deref(),
        i.unique,
    )
}

fn duplicate_index(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut groups: HashMap<(Oid, Signature<'_>), Vec<&Index>> = HashMap::new();
    let candidates: Vec<&Index> = s.indexes.iter().filter(|i| i.valid && !i.is_partition).collect();
    for i in &candidates {
        groups.entry((i.table, signature(i))).or_default().push(i);
    }
    let mut issues = Vec::new();
    let mut keys: Vec<_> = groups.keys().cloned().collect();
    keys.sort_by_key(|k| (k.0, groups[k][0].oid));
    for k in keys {
        let mut group = groups[&k].clone();
        if group.len() < 2 {
            continue;
        }
        // Keep the index that backs a constraint, else the oldest.
        group.sort_by_key(|i| (i.constraint.is_none(), !i.primary, i.oid));
        let keep = group[0];
        let Some(rel) = s.relation(keep.table) else { continue };
        for dup in &group[1..] {
            let fix = if dup.constraint.is_some() {
                Remediation::Advice(format!(
                    "{} backs a constraint that duplicates the one on {}: drop one of the constraints.",
                    dup.identity, keep.identity
                ))
            } else {
                sqlgen::drop_index(dup, rel.kind == RelKind::PartitionedTable)
            };
            issues.push(
                Issue::fail(index_obj(dup), format!("duplicates {} on {}", keep.identity, rel.identity))
                    .evidence(json!({"duplicate_of": keep.identity, "table": rel.identity, "columns": column_names(rel, dup.key_columns())}))
                    .fix(fix),
            );
        }
    }
    Ok(Outcome::new(format!("{}, no two identical", n_of(candidates.len(), "valid index")), issues))
}

fn redundant_index(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let btrees: Vec<&Index> = s.indexes.iter().filter(|i| i.valid && !i.is_partition && i.am == "btree").collect();
    let mut by_table: HashMap<Oid, Vec<&Index>> = HashMap::new();
    for i in &btrees {
        by_table.entry(i.table).or_default().push(i);
    }
    let mut issues = Vec::new();
    for a in &btrees {
        if a.unique || a.constraint.is_some() || a.has_expressions() || a.keys.len() != a.nkeys {
            continue;
        }
        let na = a.nkeys;
        let covering = by_table[&a.table].iter().find(|b| {
            b.oid != a.oid
                && !b.has_expressions()
                && b.nkeys > na
                && b.pred == a.pred
                && b.keys[..na] == a.keys[..na]
                && b.classes.get(..na) == a.classes.get(..na)
                && b.collations.get(..na) == a.collations.get(..na)
                && b.options.get(..na) == a.options.get(..na)
        });
        let Some(b) = covering else { continue };
        let Some(rel) = s.relation(a.table) else { continue };
        issues.push(
            Issue::fail(index_obj(a), format!("its columns are a leading prefix of {}", b.identity))
                .evidence(json!({"covered_by": b.identity, "table": rel.identity, "columns": column_names(rel, a.key_columns())}))
                .fix(sqlgen::drop_index(a, rel.kind == RelKind::PartitionedTable)),
        );
    }
    Ok(Outcome::new(format!("{}, none a prefix of another", n_of(btrees.len(), "btree index")), issues))
}

fn invalid_index(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    for idx in s.indexes.iter().filter(|i| !i.valid) {
        let Some(rel) = s.relation(idx.table) else { continue };
        let fix = if rel.kind == RelKind::PartitionedTable {
            Remediation::sql(format!("REINDEX INDEX {};", idx.identity), LOCK_SHARE)
        } else {
            Remediation::sql(format!("REINDEX INDEX CONCURRENTLY {};", idx.identity), LOCK_SHARE_UPDATE_EXCLUSIVE)
                .note(format!("or DROP INDEX CONCURRENTLY {} if it is not needed", idx.identity))
        };
        issues.push(
            Issue::fail(index_obj(idx), format!("index on {} is invalid (a failed or running CREATE INDEX CONCURRENTLY)", rel.identity))
                .evidence(json!({"table": rel.identity, "unique": idx.unique}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{}, all valid", n_of(s.indexes.len(), "index")), issues))
}

fn unused_index(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    if s.in_recovery {
        return Err(CheckError::Skipped(
            "this server is a standby: its index statistics only count queries run on it; run the check on the primary".into(),
        ));
    }
    let since = s.stats_reset.unwrap_or(s.postmaster_start);
    let age = s.now - since;
    let age_days = (age / 86_400.0 * 10.0).round() / 10.0;
    if age < UNUSED_MIN_STATS_AGE_SECS {
        let span = if age < 86_400.0 { "less than a day".to_string() } else { format!("{age_days} days") };
        return Err(CheckError::Skipped(format!(
            "index usage statistics cover {span} (since the last statistics reset or server start); at least 7 days are needed to call an index unused"
        )));
    }
    let mut n = 0;
    let mut issues = Vec::new();
    for idx in s.indexes.iter().filter(|i| i.valid && !i.unique && i.constraint.is_none() && !i.is_partition) {
        let Some(scans) = idx.scans else { continue };
        let Some(rel) = s.relation(idx.table) else { continue };
        n += 1;
        if scans > 0 {
            continue;
        }
        issues.push(
            Issue::fail(index_obj(idx), format!("no scan in the {age_days} days the statistics cover"))
                .evidence(json!({"idx_scan": 0, "stats_age_days": age_days, "index_bytes": idx.pages * 8192, "table": rel.identity}))
                .fix(sqlgen::drop_index(idx, rel.kind == RelKind::PartitionedTable)),
        );
    }
    Ok(Outcome::new(format!("{} over {age_days} days of statistics, all scanned", n_of(n, "droppable index")), issues))
}

fn missing_primary_key(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables() {
        n += 1;
        if s.constraints_of(rel.oid).any(|k| k.contype == 'p') {
            continue;
        }
        let candidate = s.indexes_of(rel.oid).find(|i| {
            i.unique
                && i.valid
                && i.am == "btree"
                && !i.is_partial()
                && !i.has_expressions()
                && i.keys.len() == i.nkeys
                && i.options.iter().all(|o| *o == 0)
                && i.default_opclasses
                && i.key_columns().iter().all(|a| rel.column_by_num(*a).is_some_and(|c| c.not_null))
        });
        let fix = match candidate {
            Some(i) if rel.kind == RelKind::Table => Remediation::sql(
                format!("ALTER TABLE {} ADD PRIMARY KEY USING INDEX {};", rel.identity, i.quoted_name),
                LOCK_ACCESS_EXCLUSIVE,
            ),
            _ => Remediation::Advice(format!(
                "Add a primary key, e.g. ALTER TABLE {} ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY; (rewrites the table), or promote an existing unique NOT NULL key.",
                rel.identity
            )),
        };
        issues.push(
            Issue::fail(table_obj(rel), "table has no primary key")
                .evidence(json!({"unique_not_null_candidate": candidate.map(|i| i.identity.clone())}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{}, all with a primary key", n_of(n, "table")), issues))
}

/// Table size in bytes; a partitioned table counts all its partitions.
fn table_sizes(s: &Snapshot) -> HashMap<Oid, i64> {
    let mut sizes: HashMap<Oid, i64> = s.relations.iter().map(|r| (r.oid, r.estimated_bytes())).collect();
    for r in s.relations.iter().filter(|r| r.is_partition) {
        let bytes = r.estimated_bytes();
        let mut cur = r.parent;
        let mut hops = 0;
        while let (Some(p), true) = (cur, hops < 64) {
            *sizes.entry(p).or_default() += bytes;
            cur = s.relation(p).and_then(|x| x.parent);
            hops += 1;
        }
    }
    sizes
}

fn jsonb_without_gin(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let sizes = table_sizes(s);
    let mut n = 0;
    let mut large = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables() {
        let bytes = sizes.get(&rel.oid).copied().unwrap_or(0);
        if bytes <= c.large_table_bytes {
            continue;
        }
        large += 1;
        for col in rel.columns.iter().filter(|c| c.type_name == "jsonb") {
            n += 1;
            let covered = s.indexes_of(rel.oid).any(|i| i.am == "gin" && i.valid && i.key_columns().contains(&col.attnum));
            if covered {
                continue;
            }
            issues.push(
                Issue::fail(
                    ObjRef::new("table column", rel.column_identity(col)),
                    format!("jsonb column of a {} table has no GIN index", super::pretty_bytes(bytes)),
                )
                .evidence(json!({"table_bytes_estimate": bytes, "large_table_bytes": c.large_table_bytes}))
                .fix(sqlgen::create_index(rel, Some("gin"), &col.quoted, None, None)),
            );
        }
    }
    Ok(Outcome::new(
        format!(
            "{} larger than pg_readiness.large_table_bytes ({}), with {}, all GIN-indexed",
            n_of(large, "table"),
            super::pretty_bytes(c.large_table_bytes),
            n_of(n, "jsonb column")
        ),
        issues,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::model::Status;
    use crate::snapshot::build::*;

    fn orders(b: &mut SnapshotBuilder) -> (Oid, Oid) {
        let users = b.table("users", &[("id", "uuid"), ("tenant_id", "uuid")]);
        let orders = b.table(
            "orders",
            &[("id", "uuid"), ("tenant_id", "uuid"), ("user_id", "uuid"), ("event_id", "uuid"), ("status", "text")],
        );
        (users, orders)
    }

    #[test]
    fn fk_missing_index_hit_near_miss_and_non_leading_trap() {
        let mut b = SnapshotBuilder::new();
        let (users, orders) = orders(&mut b);
        b.foreign_key(orders, "fk_orders_user", &["user_id"], users);
        // The column exists in an index, but not as its leading column: no cover.
        b.index(orders, "idx_orders_tenant_user", &["tenant_id", "user_id"]);
        let rows = run("fk_missing_index", &b);
        assert_eq!(fails(&rows), vec!["fk_orders_user on public.orders"]);
        assert_eq!(rows[0].object_type.as_deref(), Some("table constraint"));
        assert_eq!(rows[0].remediation.as_deref(), Some("CREATE INDEX CONCURRENTLY ON public.orders (user_id);"));
        assert_eq!(rows[0].lock, Some("SHARE UPDATE EXCLUSIVE"));
        b.index(orders, "idx_orders_user", &["user_id", "status"]);
        assert!(passes(&run("fk_missing_index", &b)));
    }

    #[test]
    fn fk_multi_column_any_order_and_partial_or_invalid_do_not_count() {
        let mut b = SnapshotBuilder::new();
        let (users, orders) = orders(&mut b);
        b.foreign_key(orders, "fk_multi", &["tenant_id", "user_id"], users);
        let partial = b.index(orders, "idx_partial", &["user_id", "tenant_id"]);
        b.index_mut(partial).pred = Some("{NULLTEST}".into());
        let invalid = b.index(orders, "idx_invalid", &["tenant_id", "user_id"]);
        b.index_mut(invalid).valid = false;
        let rows = run("fk_missing_index", &b);
        assert_eq!(fails(&rows), vec!["fk_multi on public.orders"]);
        assert_eq!(rows[0].remediation.as_deref(), Some("CREATE INDEX CONCURRENTLY ON public.orders (tenant_id, user_id);"));
        // Reversed order among the key columns still covers.
        b.index(orders, "idx_rev", &["user_id", "tenant_id", "status"]);
        assert!(passes(&run("fk_missing_index", &b)));
    }

    #[test]
    fn fk_on_partitioned_parent_uses_non_concurrent_build() {
        let mut b = SnapshotBuilder::new();
        let users = b.table("users", &[("id", "uuid")]);
        let pay = b.partitioned("payments", &[("id", "uuid"), ("user_id", "uuid")]);
        let part = b.partition_of(pay, "payments_2026");
        b.foreign_key(pay, "fk_pay_user", &["user_id"], users);
        let inherited = b.foreign_key(part, "fk_pay_user", &["user_id"], users);
        b.snapshot_mut().constraints.iter_mut().find(|k| k.oid == inherited).unwrap().inherited = true;
        let rows = run("fk_missing_index", &b);
        assert_eq!(fails(&rows), vec!["fk_pay_user on public.payments"]);
        assert!(rows[0].remediation.as_deref().unwrap().ends_with("CREATE INDEX ON public.payments (user_id);"));
        assert_eq!(rows[0].lock, Some("SHARE"));
    }

    #[test]
    fn tenant_index_missing_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let (users, orders) = orders(&mut b);
        b.index(orders, "idx_orders_tenant_status", &["tenant_id", "status"]);
        let partial = b.index(users, "idx_users_tenant_partial", &["tenant_id"]);
        b.index_mut(partial).pred = Some("{X}".into());
        let rows = run("tenant_index_missing", &b);
        assert_eq!(fails(&rows), vec!["public.users"]);
        assert_eq!(rows[0].remediation.as_deref(), Some("CREATE INDEX CONCURRENTLY ON public.users (tenant_id);"));
    }

    #[test]
    fn tenant_index_not_leading_hit_near_misses() {
        let mut b = SnapshotBuilder::new();
        let (users, orders) = orders(&mut b);
        b.foreign_key(orders, "fk_orders_user", &["user_id"], users);
        b.index(orders, "idx_orders_user", &["user_id"]); // serves the FK: exempt
        b.index(orders, "idx_orders_tenant", &["tenant_id", "status"]); // leads with tenant
        let u = b.index(orders, "idx_orders_status_u", &["status"]);
        b.index_mut(u).unique = true; // unique: exempt
        b.index(orders, "idx_orders_status", &["status", "event_id"]);
        let rows = run("tenant_index_not_leading", &b);
        assert_eq!(fails(&rows), vec!["public.idx_orders_status"]);
        assert_eq!(
            rows[0].remediation.as_deref(),
            Some("CREATE INDEX CONCURRENTLY ON public.orders (tenant_id, status, event_id);\nDROP INDEX CONCURRENTLY public.idx_orders_status;")
        );
    }

    #[test]
    fn tenant_index_not_leading_keeps_include_and_predicate() {
        let mut b = SnapshotBuilder::new();
        let (_, orders) = orders(&mut b);
        let i = b.index(orders, "idx_status_incl", &["status", "event_id"]);
        {
            let ix = b.index_mut(i);
            ix.nkeys = 1;
            ix.pred = Some("{X}".into());
            ix.pred_sql = Some("(status <> 'done'::text)".into());
        }
        let rows = run("tenant_index_not_leading", &b);
        assert_eq!(
            rows[0].remediation.as_deref(),
            Some("CREATE INDEX CONCURRENTLY ON public.orders (tenant_id, status) INCLUDE (event_id) WHERE (status <> 'done'::text);\nDROP INDEX CONCURRENTLY public.idx_status_incl;")
        );
    }

    #[test]
    fn duplicate_index_hit_keeps_constraint_index() {
        let mut b = SnapshotBuilder::new();
        let (_, orders) = orders(&mut b);
        b.primary_key(orders, &["id"]);
        let dup = b.index(orders, "idx_orders_id", &["id"]);
        b.index_mut(dup).unique = true;
        b.index(orders, "idx_a", &["status"]);
        b.index(orders, "idx_b", &["status"]);
        let other = b.index(orders, "idx_c", &["status"]);
        b.index_mut(other).pred = Some("{X}".into()); // different predicate: not a duplicate
        let rows = run("duplicate_index", &b);
        assert_eq!(fails(&rows), vec!["public.idx_orders_id", "public.idx_b"]);
        assert_eq!(rows[0].evidence["duplicate_of"], "public.orders_pkey");
        assert_eq!(rows[1].evidence["duplicate_of"], "public.idx_a");
        assert_eq!(rows[1].remediation.as_deref(), Some("DROP INDEX CONCURRENTLY public.idx_b;"));
    }

    #[test]
    fn duplicate_index_near_miss_uniqueness_and_opclass() {
        let mut b = SnapshotBuilder::new();
        let (_, orders) = orders(&mut b);
        b.index(orders, "idx_a", &["status"]);
        let u = b.index(orders, "idx_u", &["status"]);
        b.index_mut(u).unique = true;
        let p = b.index(orders, "idx_pattern", &["status"]);
        b.index_mut(p).classes = vec![10_043];
        assert!(passes(&run("duplicate_index", &b)));
    }

    #[test]
    fn redundant_index_hit_and_near_misses() {
        let mut b = SnapshotBuilder::new();
        let (_, orders) = orders(&mut b);
        b.index(orders, "idx_status", &["status"]);
        b.index(orders, "idx_status_event", &["status", "event_id"]);
        b.index(orders, "idx_event", &["event_id"]); // not a prefix of anything
        let u = b.index(orders, "idx_status_u", &["status"]);
        b.index_mut(u).unique = true; // unique: kept
        let rows = run("redundant_index", &b);
        assert_eq!(fails(&rows), vec!["public.idx_status"]);
        assert_eq!(rows[0].evidence["covered_by"], "public.idx_status_event");
    }

    #[test]
    fn redundant_index_needs_same_predicate() {
        let mut b = SnapshotBuilder::new();
        let (_, orders) = orders(&mut b);
        b.index(orders, "idx_status", &["status"]);
        let p = b.index(orders, "idx_status_event_partial", &["status", "event_id"]);
        b.index_mut(p).pred = Some("{X}".into());
        assert!(passes(&run("redundant_index", &b)));
    }

    #[test]
    fn invalid_index_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let (_, orders) = orders(&mut b);
        b.index(orders, "idx_ok", &["status"]);
        let bad = b.index(orders, "idx_bad", &["event_id"]);
        b.index_mut(bad).valid = false;
        let rows = run("invalid_index", &b);
        assert_eq!(fails(&rows), vec!["public.idx_bad"]);
        assert!(rows[0].remediation.as_deref().unwrap().ends_with("REINDEX INDEX CONCURRENTLY public.idx_bad;"));
    }

    #[test]
    fn unused_index_needs_a_week_of_statistics() {
        let mut b = SnapshotBuilder::new();
        let (_, orders) = orders(&mut b);
        b.primary_key(orders, &["id"]);
        let idle = b.index(orders, "idx_idle", &["status"]);
        b.index_mut(idle).scans = Some(0);
        b.index(orders, "idx_busy", &["event_id"]);
        // Primary keys with no scans are never "unused".
        b.index_mut(b.build().indexes[0].oid).scans = Some(0);
        let rows = run("unused_index", &b);
        assert_eq!(fails(&rows), vec!["public.idx_idle"]);
        assert_eq!(rows[0].evidence["stats_age_days"], 30.0);
        // Statistics reset two days ago: cannot judge yet.
        let now = b.build().now;
        b.snapshot_mut().stats_reset = Some(now - 2.0 * 86_400.0);
        let rows = run("unused_index", &b);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Skipped);
        assert!(rows[0].detail.contains("2 days"), "{}", rows[0].detail);
        b.snapshot_mut().stats_reset = None;
        b.snapshot_mut().in_recovery = true;
        assert_eq!(run("unused_index", &b)[0].status, Status::Skipped);
    }

    #[test]
    fn missing_primary_key_hit_with_promotable_index_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("notification_history", &[("id", "uuid"), ("body", "text")]);
        let u = b.index(t, "notification_history_id_key", &["id"]);
        b.index_mut(u).unique = true;
        b.rel_mut(t).columns[0].not_null = true;
        let (_, orders) = orders(&mut b);
        b.primary_key(orders, &["id"]);
        let rows = run("missing_primary_key", &b);
        assert_eq!(fails(&rows), vec!["public.notification_history", "public.users"]);
        assert_eq!(
            rows[0].remediation.as_deref(),
            Some("ALTER TABLE public.notification_history ADD PRIMARY KEY USING INDEX notification_history_id_key;")
        );
        assert!(rows[1].remediation.as_deref().unwrap().starts_with("-- Add a primary key"));
    }

    #[test]
    fn missing_primary_key_skips_partitions_and_views() {
        let mut b = SnapshotBuilder::new();
        let p = b.partitioned("events", &[("id", "uuid")]);
        b.primary_key(p, &["id"]);
        b.partition_of(p, "events_2026");
        b.view("v", &[("id", "uuid")]);
        assert!(passes(&run("missing_primary_key", &b)));
    }

    #[test]
    fn jsonb_without_gin_only_on_large_tables() {
        let mut b = SnapshotBuilder::new();
        let big = b.table("events_log", &[("id", "uuid"), ("payload", "jsonb"), ("meta", "jsonb")]);
        let small = b.table("small", &[("payload", "jsonb")]);
        b.pages(big, 2_000).pages(small, 10);
        let i = b.index(big, "idx_meta", &["meta"]);
        b.index_mut(i).am = "gin".into();
        let c = Config { large_table_bytes: 1024 * 1024, ..Config::default() };
        let rows = run_with("jsonb_without_gin", &b, &c);
        assert_eq!(fails(&rows), vec!["public.events_log.payload"]);
        assert_eq!(rows[0].object_type.as_deref(), Some("table column"));
        assert_eq!(rows[0].remediation.as_deref(), Some("CREATE INDEX CONCURRENTLY ON public.events_log USING gin (payload);"));
        assert!(passes(&run("jsonb_without_gin", &b)));
    }
}
