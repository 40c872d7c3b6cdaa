//! maintenance — bloat, vacuum, statistics, wraparound and growth.

use serde_json::json;

use super::bloat;
use super::sqlgen::{LOCK_SHARE_UPDATE_EXCLUSIVE};
use super::{n_of, pretty_bytes, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::snapshot::server::TableStats;
use crate::snapshot::{RelKind, Relation, Section, Snapshot};

const VACUUM_DOCS: &[&str] = &["PostgreSQL docs 25.1 Routine Vacuuming", "SOC2 A1.1"];

/// Waste below this is not worth a rebuild, whatever the percentage.
const MIN_WASTE_BYTES: i64 = 10 * 1024 * 1024;
const WRAPAROUND_HORIZON: f64 = 2_147_483_648.0;
const DAY: f64 = 86_400.0;

pub static CHECKS: [Check; 7] = [
    Check {
        id: "table_bloat",
        category: Category::Maintenance,
        severity: Severity::Medium,
        title: "Table bloat",
        rationale: "Fails for a table (or materialized view, partitions included) whose estimated reclaimable space exceeds 30% of its heap and 10 MB. The estimate rebuilds the packed size from reltuples and pg_stats widths (alignment, null bitmap and fillfactor included; TOAST pages never counted as heap bloat); with pg_readiness.bloat_method = approx or exact it is measured by pgstattuple within the sampling budget, and the evidence names the method. Tables without statistics are skipped with the reason (PostgreSQL docs 25.1.2).",
        frameworks: VACUUM_DOCS,
        needs: &[Section::Relations, Section::TableStats, Section::BloatInputs, Section::Measured],
        run: table_bloat,
    },
    Check {
        id: "index_bloat",
        category: Category::Maintenance,
        severity: Severity::Low,
        title: "Btree index bloat",
        rationale: "Fails for a valid btree index whose estimated reclaimable space exceeds 40% of its size and 10 MB, measured against a REINDEX at the index's fillfactor (btree deduplication of PostgreSQL 13+ taken into account, so low-cardinality indexes are not reported falsely). Expression indexes and indexes without column statistics are skipped with the reason; with bloat_method approx or exact pgstatindex measures it (PostgreSQL docs, REINDEX).",
        frameworks: VACUUM_DOCS,
        needs: &[Section::Relations, Section::Indexes, Section::BloatInputs, Section::Measured],
        run: index_bloat,
    },
    Check {
        id: "dead_tuples_high",
        category: Category::Maintenance,
        severity: Severity::Medium,
        title: "Dead tuples piling up",
        rationale: "Fails for a table whose n_dead_tup exceeds 20% of n_live_tup and 10 000 rows while neither VACUUM nor autovacuum has processed it in the last 24 h: dead rows slow every scan and turn into bloat (PostgreSQL docs 25.1.6, autovacuum_vacuum_scale_factor 0.2). Skipped on a standby, whose statistics do not count them.",
        frameworks: VACUUM_DOCS,
        needs: &[Section::Relations, Section::TableStats],
        run: dead_tuples_high,
    },
    Check {
        id: "xid_wraparound_risk",
        category: Category::Maintenance,
        severity: Severity::High,
        title: "Transaction ID wraparound approaching",
        rationale: "Fails for a database, or an inspected table (with its TOAST table), whose frozen transaction ID age exceeds 50% of the 2^31 wraparound horizon, critical above 75%. Near the horizon PostgreSQL stops accepting writes until a VACUUM FREEZE completes (PostgreSQL docs 25.1.5).",
        frameworks: &["PostgreSQL docs 25.1.5 Preventing Transaction ID Wraparound Failures", "SOC2 A1.1"],
        needs: &[Section::Databases, Section::TableStats],
        run: xid_wraparound_risk,
    },
    Check {
        id: "stale_statistics",
        category: Category::Maintenance,
        severity: Severity::Low,
        title: "Planner statistics missing or stale",
        rationale: "Fails for a table or materialized view with rows (reltuples or n_live_tup above 0) that has never been analyzed, or whose rows changed since the last analyze (n_mod_since_analyze) exceed 20% of n_live_tup and 50 rows (autovacuum_analyze_threshold). The planner then works from wrong row counts (PostgreSQL docs 25.1.3). Skipped on a standby.",
        frameworks: VACUUM_DOCS,
        needs: &[Section::Relations, Section::TableStats],
        run: stale_statistics,
    },
    Check {
        id: "large_table_unpartitioned",
        category: Category::Maintenance,
        severity: Severity::Low,
        title: "Large append-heavy table not partitioned",
        rationale: "Fails for an ordinary table (not a partition) larger than pg_readiness.large_table_bytes (heap plus TOAST) that has a timestamp or date column named created_at, inserted_at, occurred_at, logged_at, recorded_at, event_time, timestamp or ts. Range partitioning by that column makes retention a DROP instead of a bulk DELETE and keeps vacuum and indexes per partition small (PostgreSQL docs 5.11).",
        frameworks: &["PostgreSQL docs 5.11 Table Partitioning", "SOC2 A1.1"],
        needs: &[Section::Relations, Section::TableStats],
        run: large_table_unpartitioned,
    },
    Check {
        id: "autovacuum_disabled",
        category: Category::Maintenance,
        severity: Severity::High,
        title: "Autovacuum disabled",
        rationale: "Fails when autovacuum or track_counts is off for the server, and for each table with the storage parameter autovacuum_enabled = false. Without autovacuum dead rows accumulate, statistics go stale and anti-wraparound freezing depends on manual work (PostgreSQL docs 25.1.6).",
        frameworks: VACUUM_DOCS,
        needs: &[Section::Relations, Section::TableStats, Section::Settings],
        run: autovacuum_disabled,
    },
];

fn obj(rel: &Relation) -> ObjRef {
    ObjRef::new(rel.kind.object_type(), rel.identity.clone())
}

/// Relations with their own storage: ordinary tables (partitions included)
/// and materialized views.
fn stored(s: &Snapshot) -> impl Iterator<Item = &Relation> {
    s.relations.iter().filter(|r| matches!(r.kind, RelKind::Table | RelKind::MatView))
}

fn bloat_evidence(e: &bloat::Estimate) -> serde_json::Value {
    let mut v = json!({
        "method": e.method,
        "total_bytes": e.total_bytes,
        "wasted_bytes": e.waste_bytes,
        "wasted_pct": (e.pct() * 10.0).round() / 10.0,
    });
    if e.toast_bytes > 0 {
        v["toast_bytes_not_counted"] = json!(e.toast_bytes);
    }
    if e.dedup {
        v["btree_deduplication"] = json!(true);
    }
    if let Some(n) = &e.note {
        v["note"] = json!(n);
    }
    v
}

fn table_bloat(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    let mut judged = 0;
    let mut total_waste = 0i64;
    for rel in stored(s) {
        if rel.estimated_bytes() < MIN_WASTE_BYTES {
            continue;
        }
        judged += 1;
        let e = match bloat::table(s, rel) {
            Ok(e) => e,
            Err(reason) => {
                issues.push(Issue::skipped(Some(obj(rel)), reason));
                continue;
            }
        };
        total_waste += e.waste_bytes;
        if e.pct() <= 30.0 || e.waste_bytes <= MIN_WASTE_BYTES {
            continue;
        }
        issues.push(
            Issue::fail(obj(rel), format!("about {} of {} ({:.0}%) is reclaimable ({})", pretty_bytes(e.waste_bytes), pretty_bytes(e.total_bytes), e.pct(), e.method))
                .evidence(bloat_evidence(&e))
                .fix(Remediation::Advice(format!(
                    "Rewrite the table online with pg_repack (pg_repack --table={t}), or in a maintenance window: VACUUM (FULL, ANALYZE) {t}; (ACCESS EXCLUSIVE for the whole rewrite). Then find what produced the dead rows (bulk deletes, long transactions) so it does not come back.",
                    t = rel.identity
                ))),
        );
    }
    Ok(Outcome::new(format!("{} of 10 MB or more, none with more than 30% reclaimable", n_of(judged, "table")), issues)
        .measure("readiness_estimated_bloat_bytes", json!({"kind": "table"}), total_waste as f64))
}

fn index_bloat(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    let mut judged = 0;
    let mut total_waste = 0i64;
    for idx in s.indexes.iter().filter(|i| i.am == "btree" && i.valid) {
        if idx.pages.max(0) * 8192 < MIN_WASTE_BYTES {
            continue;
        }
        judged += 1;
        let o = ObjRef::new("index", idx.identity.clone());
        let e = match bloat::index(s, idx) {
            Ok(e) => e,
            Err(reason) => {
                issues.push(Issue::skipped(Some(o), reason));
                continue;
            }
        };
        total_waste += e.waste_bytes;
        if e.pct() <= 40.0 || e.waste_bytes <= MIN_WASTE_BYTES {
            continue;
        }
        issues.push(
            Issue::fail(o, format!("about {} of {} ({:.0}%) is reclaimable ({})", pretty_bytes(e.waste_bytes), pretty_bytes(e.total_bytes), e.pct(), e.method))
                .evidence(bloat_evidence(&e))
                .fix(
                    Remediation::sql(format!("REINDEX INDEX CONCURRENTLY {};", idx.identity), LOCK_SHARE_UPDATE_EXCLUSIVE)
                        .note("rebuilds the index without blocking writes; cannot run inside a transaction block"),
                ),
        );
    }
    Ok(Outcome::new(format!("{} of 10 MB or more, none with more than 40% reclaimable", n_of(judged, "btree index")), issues)
        .measure("readiness_estimated_bloat_bytes", json!({"kind": "index"}), total_waste as f64))
}

fn last_vacuum(t: &TableStats) -> Option<f64> {
    match (t.last_vacuum, t.last_autovacuum) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn standby_skip(s: &Snapshot) -> Result<(), CheckError> {
    if s.in_recovery {
        return Err(CheckError::Skipped("this server is a hot standby: its table statistics do not track vacuum; judge this on the primary".into()));
    }
    Ok(())
}

fn hours(s: &Snapshot, t: Option<f64>) -> serde_json::Value {
    t.map(|t| json!(((s.now - t) / 360.0).round() / 10.0)).unwrap_or(json!(null))
}

fn dead_tuples_high(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    standby_skip(s)?;
    let mut issues = Vec::new();
    let mut n = 0;
    for rel in stored(s) {
        let Some(t) = s.ops.table_stats.get(&rel.oid).filter(|t| t.has_stats) else { continue };
        n += 1;
        let recent = last_vacuum(t).is_some_and(|v| s.now - v < DAY);
        if t.dead as f64 <= 0.2 * t.live as f64 || t.dead <= 10_000 || recent {
            continue;
        }
        issues.push(
            Issue::fail(obj(rel), format!("{} dead rows for {} live, not vacuumed in the last 24 h", t.dead, t.live))
                .evidence(json!({"n_dead_tup": t.dead, "n_live_tup": t.live, "hours_since_vacuum": hours(s, last_vacuum(t))}))
                .fix(Remediation::sql(format!("VACUUM (ANALYZE) {};", rel.identity), LOCK_SHARE_UPDATE_EXCLUSIVE)),
        );
    }
    Ok(Outcome::new(format!("{}, none with dead rows above 20% left unvacuumed for 24 h", n_of(n, "table")), issues))
}

fn xid_wraparound_risk(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    let severity = |age: f64| if age > 0.75 * WRAPAROUND_HORIZON { Some(Severity::Critical) } else if age > 0.5 * WRAPAROUND_HORIZON { Some(Severity::High) } else { None };
    let pct = |age: f64| (1000.0 * age / WRAPAROUND_HORIZON).round() / 10.0;
    let mut max_age = 0i64;
    for db in &s.ops.databases {
        max_age = max_age.max(db.xid_age);
        let Some(sev) = severity(db.xid_age as f64) else { continue };
        issues.push(
            Issue::fail(ObjRef::new("database", db.name.clone()), format!("datfrozenxid age {} is {}% of the wraparound horizon", db.xid_age, pct(db.xid_age as f64)))
                .severity(sev)
                .evidence(json!({"xid_age": db.xid_age, "pct_of_horizon": pct(db.xid_age as f64), "allows_connections": db.allow_connections}))
                .fix(Remediation::Advice(format!(
                    "Freeze the oldest tables of database {} first (VACUUM (FREEZE, VERBOSE) on the tables with the largest age(relfrozenxid)), or run vacuumdb --all --freeze off-peak; look for long-running transactions, abandoned replication slots and prepared transactions holding the horizon back.",
                    db.quoted
                ))),
        );
    }
    let mut n = 0;
    for rel in stored(s) {
        let Some(age) = s.ops.table_stats.get(&rel.oid).and_then(|t| t.xid_age) else { continue };
        n += 1;
        let Some(sev) = severity(age as f64) else { continue };
        issues.push(
            Issue::fail(obj(rel), format!("relfrozenxid age {age} is {}% of the wraparound horizon", pct(age as f64)))
                .severity(sev)
                .evidence(json!({"xid_age": age, "pct_of_horizon": pct(age as f64)}))
                .fix(Remediation::sql(format!("VACUUM (FREEZE, ANALYZE) {};", rel.identity), LOCK_SHARE_UPDATE_EXCLUSIVE)),
        );
    }
    Ok(Outcome::new(
        format!("every database of the server and {} of this one, all below 50% of the wraparound horizon", n_of(n, "table")),
        issues,
    )
    .measure("readiness_max_xid_age", json!({"database": s.database}), max_age as f64))
}

fn stale_statistics(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    standby_skip(s)?;
    let mut issues = Vec::new();
    let mut n = 0;
    for rel in stored(s) {
        let Some(t) = s.ops.table_stats.get(&rel.oid).filter(|t| t.has_stats) else { continue };
        if rel.tuples <= 0.0 && t.live <= 0 {
            continue;
        }
        n += 1;
        let never = t.last_analyze.is_none() && t.last_autoanalyze.is_none();
        let changed = t.mod_since_analyze as f64 > 0.2 * t.live as f64 && t.mod_since_analyze > 50;
        if !never && !changed {
            continue;
        }
        let detail = if never {
            "has rows and was never analyzed".to_string()
        } else {
            format!("{} rows changed since the last analyze ({} live)", t.mod_since_analyze, t.live)
        };
        issues.push(
            Issue::fail(obj(rel), detail)
                .evidence(json!({"n_live_tup": t.live, "reltuples": rel.tuples, "n_mod_since_analyze": t.mod_since_analyze, "never_analyzed": never}))
                .fix(Remediation::sql(format!("ANALYZE {};", rel.identity), LOCK_SHARE_UPDATE_EXCLUSIVE)),
        );
    }
    Ok(Outcome::new(format!("{} with rows, all analyzed and less than 20% changed since", n_of(n, "table")), issues))
}

const TIME_COLUMNS: [&str; 9] = ["created_at", "inserted_at", "occurred_at", "logged_at", "recorded_at", "event_time", "timestamp", "ts", "created"];

fn large_table_unpartitioned(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    let mut n = 0;
    for rel in s.top_tables().filter(|r| r.kind == RelKind::Table) {
        let Some(col) = rel
            .columns
            .iter()
            .find(|col| TIME_COLUMNS.contains(&col.name.as_str()) && (col.type_name.starts_with("timestamp") || col.type_name == "date"))
        else {
            continue;
        };
        n += 1;
        let toast = s.ops.table_stats.get(&rel.oid).map(|t| t.toast_pages * 8192).unwrap_or(0);
        let size = rel.estimated_bytes() + toast;
        if size <= c.large_table_bytes {
            continue;
        }
        issues.push(
            Issue::fail(obj(rel), format!("{} and not partitioned; {} marks it append-heavy", pretty_bytes(size), col.quoted))
                .evidence(json!({"bytes": size, "large_table_bytes": c.large_table_bytes, "time_column": col.name}))
                .fix(Remediation::Advice(format!(
                    "Create a table PARTITION BY RANGE ({}) with the same columns, attach or migrate the data in batches (pg_partman helps with retention), and switch the application over; detaching old partitions then replaces bulk DELETEs.",
                    col.quoted
                ))),
        );
    }
    Ok(Outcome::new(
        format!("{} with a creation timestamp, none larger than {} unpartitioned", n_of(n, "table"), pretty_bytes(c.large_table_bytes)),
        issues,
    ))
}

fn autovacuum_disabled(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    for name in ["autovacuum", "track_counts"] {
        match s.ops.setting(name) {
            Some(st) if crate::snapshot::server::parse_bool(st.server_value()) == Some(false) => {
                let reload = if name == "autovacuum" { "takes effect on SELECT pg_reload_conf()" } else { "takes effect on SELECT pg_reload_conf() for new sessions" };
                issues.push(
                    Issue::fail(ObjRef::new("setting", name), format!("{name} is off for the server: autovacuum does not run"))
                        .evidence(json!({"setting": name, "value": st.value}))
                        .fix(Remediation::Advice(format!(
                            "Cluster-wide setting ({reload}): review, then run as a superuser:\nALTER SYSTEM SET {name} = 'on';\nSELECT pg_reload_conf();"
                        ))),
                );
            }
            Some(_) => {}
            None => issues.push(Issue::skipped(Some(ObjRef::new("setting", name)), format!("the setting {name} is not readable by this role"))),
        }
    }
    let mut n = 0;
    for rel in stored(s) {
        let Some(t) = s.ops.table_stats.get(&rel.oid) else { continue };
        n += 1;
        if t.autovacuum_enabled != Some(false) {
            continue;
        }
        issues.push(
            Issue::fail(obj(rel), "autovacuum_enabled = false: autovacuum skips this table (except to prevent wraparound)")
                .evidence(json!({"autovacuum_enabled": false}))
                .fix(Remediation::sql(format!("ALTER TABLE {} RESET (autovacuum_enabled);", rel.identity), LOCK_SHARE_UPDATE_EXCLUSIVE)),
        );
    }
    Ok(Outcome::new(format!("autovacuum and track_counts are on; {}, none opting out", n_of(n, "table")), issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::snapshot::build::*;
    use crate::snapshot::server::{ColumnStat, Database, IndexPhys, PhysColumn};

    fn statuses(rows: &[crate::model::Finding]) -> Vec<&'static str> {
        rows.iter().map(|r| r.status.as_str()).collect()
    }

    fn col(attnum: i16, name: &str, len: i16, align: char) -> PhysColumn {
        PhysColumn { attnum, name: name.into(), len, align, storage: if len == -1 { 'x' } else { 'p' }, type_oid: 20, dropped: false }
    }

    /// (id int8, payload text 33 bytes) with `rows` rows in `pages` pages: 107 rows fill a page.
    fn sized(b: &mut SnapshotBuilder, name: &str, rows: f64, pages: i64) -> u32 {
        let t = b.table(name, &[("id", "bigint"), ("payload", "text")]);
        b.pages(t, pages);
        b.rel_mut(t).tuples = rows;
        let ops = &mut b.snapshot_mut().ops;
        ops.phys_columns.insert(t, vec![col(1, "id", 8, 'd'), col(2, "payload", -1, 'i')]);
        ops.column_stats.insert((t, 1), ColumnStat { null_frac: 0.0, avg_width: 8, n_distinct: -1.0 });
        ops.column_stats.insert((t, 2), ColumnStat { null_frac: 0.0, avg_width: 33, n_distinct: -1.0 });
        t
    }

    #[test]
    fn table_bloat_hit_near_miss_small_and_unanalyzed() {
        let mut b = SnapshotBuilder::new();
        // 20 000 pages (156 MB), rows for 12 000 pages: 40% waste.
        sized(&mut b, "bloated", 107.0 * 12_000.0, 20_000);
        // 25% waste: near miss.
        sized(&mut b, "some_waste", 107.0 * 15_000.0, 20_000);
        // 90% waste but 1 MB: too small to matter.
        sized(&mut b, "tiny", 107.0 * 12.0, 128);
        let unknown = sized(&mut b, "never_analyzed", -1.0, 20_000);
        let rows = run("table_bloat", &b);
        assert_eq!(fails(&rows), vec!["public.bloated"]);
        let hit = rows.iter().find(|r| r.status.as_str() == "fail").unwrap();
        assert_eq!(hit.evidence["method"], "catalog estimate");
        assert!((hit.evidence["wasted_pct"].as_f64().unwrap() - 40.0).abs() < 1.0, "{}", hit.evidence);
        assert!(hit.statements.is_empty(), "a rewrite is advice, not part of the fix script");
        let skipped: Vec<_> = rows.iter().filter(|r| r.status.as_str() == "skipped").collect();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].object_name.as_deref(), Some("public.never_analyzed"));
        let _ = unknown;
    }

    #[test]
    fn table_bloat_uses_pgstattuple_when_measured() {
        let mut b = SnapshotBuilder::new();
        let t = sized(&mut b, "measured", 107.0 * 20_000.0, 20_000);
        b.snapshot_mut().ops.measured.insert(t, crate::snapshot::server::Measured { method: "pgstattuple", total_bytes: 20_000 * 8192, waste_bytes: 10_000 * 8192 });
        let rows = run("table_bloat", &b);
        assert_eq!(fails(&rows), vec!["public.measured"]);
        assert_eq!(rows[0].evidence["method"], "pgstattuple");
    }

    #[test]
    fn index_bloat_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = sized(&mut b, "t", 400_000.0, 20_000);
        let i = b.index(t, "t_id", &["id"]);
        b.index_mut(i).pages = 2740; // built for 1M rows, 60% deleted since
        b.snapshot_mut().ops.index_phys.insert(i, IndexPhys { tuples: 400_000.0, ..Default::default() });
        let rows = run("index_bloat", &b);
        assert_eq!(fails(&rows), vec!["public.t_id"]);
        assert_eq!(rows[0].statements, vec!["REINDEX INDEX CONCURRENTLY public.t_id;"]);
        b.snapshot_mut().ops.index_phys.insert(i, IndexPhys { tuples: 800_000.0, ..Default::default() });
        assert!(passes(&run("index_bloat", &b)), "20% waste is a near miss");
    }

    #[test]
    fn dead_tuples_hit_near_misses() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("events", &[("id", "bigint")]);
        let now = b.snapshot_mut().now;
        b.table_stats(t, TableStats { has_stats: true, live: 100_000, dead: 30_000, last_autovacuum: Some(now - 2.0 * DAY), ..Default::default() });
        let rows = run("dead_tuples_high", &b);
        assert_eq!(fails(&rows), vec!["public.events"]);
        assert_eq!(rows[0].statements, vec!["VACUUM (ANALYZE) public.events;"]);
        b.table_stats(t, TableStats { has_stats: true, live: 100_000, dead: 30_000, last_autovacuum: Some(now - 3600.0), ..Default::default() });
        assert!(passes(&run("dead_tuples_high", &b)), "vacuumed an hour ago");
        b.table_stats(t, TableStats { has_stats: true, live: 40_000, dead: 9_000, ..Default::default() });
        assert!(passes(&run("dead_tuples_high", &b)), "under 10 000 dead rows");
        b.snapshot_mut().in_recovery = true;
        assert_eq!(statuses(&run("dead_tuples_high", &b)), vec!["skipped"]);
    }

    #[test]
    fn xid_wraparound_high_critical_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = b.table("ledger", &[("id", "bigint")]);
        b.table_stats(t, TableStats { xid_age: Some(1_700_000_000), ..Default::default() });
        b.snapshot_mut().ops.databases = vec![
            Database { oid: 5, name: "app".into(), quoted: "app".into(), xid_age: 1_200_000_000, allow_connections: true, owner: crate::snapshot::BOOTSTRAP_SUPERUSER },
            Database { oid: 6, name: "other".into(), quoted: "other".into(), xid_age: 1_000_000_000, allow_connections: true, owner: crate::snapshot::BOOTSTRAP_SUPERUSER },
        ];
        let rows = run("xid_wraparound_risk", &b);
        assert_eq!(fails(&rows), vec!["app", "public.ledger"]);
        assert_eq!(rows[0].severity, Severity::High);
        assert_eq!(rows[1].severity, Severity::Critical);
        assert_eq!(rows[1].statements, vec!["VACUUM (FREEZE, ANALYZE) public.ledger;"]);
    }

    #[test]
    fn stale_statistics_never_analyzed_changed_and_fresh() {
        let mut b = SnapshotBuilder::new();
        let never = b.table("never", &[("id", "bigint")]);
        b.table_stats(never, TableStats { has_stats: true, live: 10, ..Default::default() });
        let changed = b.table("changed", &[("id", "bigint")]);
        b.table_stats(changed, TableStats { has_stats: true, live: 1000, mod_since_analyze: 300, last_autoanalyze: Some(1.0), ..Default::default() });
        let fresh = b.table("fresh", &[("id", "bigint")]);
        b.table_stats(fresh, TableStats { has_stats: true, live: 1000, mod_since_analyze: 150, last_analyze: Some(1.0), ..Default::default() });
        let empty = b.table("empty", &[("id", "bigint")]);
        b.table_stats(empty, TableStats { has_stats: true, ..Default::default() });
        let rows = run("stale_statistics", &b);
        assert_eq!(fails(&rows), vec!["public.never", "public.changed"]);
        assert_eq!(rows[0].statements, vec!["ANALYZE public.never;"]);
    }

    #[test]
    fn large_table_unpartitioned_hit_and_near_misses() {
        let mut b = SnapshotBuilder::new();
        let big = b.table("events", &[("id", "bigint"), ("created_at", "timestamp with time zone")]);
        b.pages(big, 2_000_000); // 15 GB
        let other = b.table("blobs", &[("id", "bigint"), ("updated_at", "timestamp with time zone")]);
        b.pages(other, 2_000_000);
        let small = b.table("audit", &[("id", "bigint"), ("created_at", "timestamp with time zone")]);
        b.pages(small, 1000);
        let rows = run("large_table_unpartitioned", &b);
        assert_eq!(fails(&rows), vec!["public.events"]);
        let c = Config { large_table_bytes: 1024 * 1024, ..Config::default() };
        assert_eq!(fails(&run_with("large_table_unpartitioned", &b, &c)), vec!["public.events", "public.audit"]);
    }

    #[test]
    fn autovacuum_disabled_globally_and_per_table() {
        let mut b = SnapshotBuilder::new();
        b.default_settings();
        let t = b.table("queue", &[("id", "bigint")]);
        b.table_stats(t, TableStats { autovacuum_enabled: Some(false), ..Default::default() });
        let u = b.table("ok", &[("id", "bigint")]);
        b.table_stats(u, TableStats { autovacuum_enabled: Some(true), ..Default::default() });
        let rows = run("autovacuum_disabled", &b);
        assert_eq!(fails(&rows), vec!["public.queue"]);
        assert_eq!(rows[0].statements, vec!["ALTER TABLE public.queue RESET (autovacuum_enabled);"]);
        b.setting("autovacuum", "off");
        assert_eq!(fails(&run("autovacuum_disabled", &b)), vec!["autovacuum", "public.queue"]);
        b.table_stats(t, TableStats::default());
        b.setting("autovacuum", "on");
        assert!(passes(&run("autovacuum_disabled", &b)));
    }
}
