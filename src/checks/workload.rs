//! composite_index_candidate (category indexes): frequent single-table
//! statements of pg_stat_statements whose predicate no index serves as a
//! leading prefix.

use std::collections::HashMap;

use serde_json::json;

use super::{n_of, sqlgen, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Severity};
use crate::snapshot::{Oid, Relation, Section, Snapshot};

pub static CHECKS: [Check; 1] = [Check {
    id: "composite_index_candidate",
    category: Category::Indexes,
    severity: Severity::Medium,
    title: "Frequent multi-column filter without a composite index",
    rationale: "Fails for a table read by pg_stat_statements SELECTs that together run at least pg_readiness.workload_min_calls times and pg_readiness.workload_min_total_ms in total, filter the table alone on two or more columns (equality columns, the tenant column first on a tenant table, then at most one range or ORDER BY column), and no valid non-partial index has those columns as its leading key columns; where hypopg is installed, the planner's cost with a hypothetical index must be lower, else the suggestion is dropped. Statements are parsed with PostgreSQL's own parser; the evidence gives calls, time and the cost before and after (PostgreSQL docs 11.3 Multicolumn Indexes).",
    frameworks: &["PostgreSQL docs 11.3 Multicolumn Indexes", "SOC2 A1.1"],
    needs: &[Section::Relations, Section::Indexes, Section::Workload],
    run: composite_index_candidate,
}];

/// An index the workload asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub table: Oid,
    pub columns: Vec<String>,
    /// The statement with the most total time, used for EXPLAIN.
    pub representative: i64,
    pub queryids: Vec<i64>,
    pub calls: i64,
    pub total_ms: f64,
}

/// The columns one statement wants: equality columns (tenant column first,
/// then in order of appearance), then one range column, else the first
/// ORDER BY column when it is not already an equality column.
pub fn wanted_columns(rel: &Relation, q: &crate::migrations::Query, tenant_column: &str) -> Vec<String> {
    let known = |c: &String| rel.column(c).is_some();
    let mut eq: Vec<String> = q.equality.iter().filter(|c| known(c)).cloned().collect();
    if let Some(i) = eq.iter().position(|c| c == tenant_column) {
        let t = eq.remove(i);
        eq.insert(0, t);
    }
    let last = q
        .range
        .iter()
        .find(|c| known(c) && !eq.contains(c))
        .cloned()
        .or_else(|| q.order_by.first().map(|(c, _)| c.clone()).filter(|c| known(c) && !eq.contains(c)));
    eq.extend(last);
    eq
}

/// Does a valid, non-partial index have `cols` as its leading key columns
/// (the equality columns in any order, the last one in place)?
fn covered(s: &Snapshot, rel: &Relation, cols: &[String], n_eq: usize) -> bool {
    let want: Option<Vec<i16>> = cols.iter().map(|c| rel.column(c).map(|x| x.attnum)).collect();
    let Some(want) = want else { return true };
    s.indexes_of(rel.oid).filter(|i| i.valid && !i.is_partial() && i.am == "btree").any(|i| {
        let keys = i.key_columns();
        if keys.len() < want.len() {
            return false;
        }
        let mut lead: Vec<i16> = keys[..n_eq].to_vec();
        let mut eq: Vec<i16> = want[..n_eq].to_vec();
        lead.sort_unstable();
        eq.sort_unstable();
        lead == eq && keys[n_eq..want.len()] == want[n_eq..]
    })
}

/// Every candidate index of the workload, most total time first.
pub fn candidates(s: &Snapshot, c: &Config) -> Vec<Candidate> {
    let mut by_key: HashMap<(Oid, Vec<String>), Candidate> = HashMap::new();
    let mut best: HashMap<(Oid, Vec<String>), f64> = HashMap::new();
    for q in &s.workload.queries {
        let Some(rel) = s.relation(q.table) else { continue };
        let cols = wanted_columns(rel, &q.query, &c.tenant_column);
        if cols.len() < 2 {
            continue;
        }
        let n_eq = cols.iter().filter(|x| q.query.equality.contains(x)).count();
        if covered(s, rel, &cols, n_eq) {
            continue;
        }
        let key = (rel.oid, cols.clone());
        let e = by_key.entry(key.clone()).or_insert(Candidate {
            table: rel.oid,
            columns: cols,
            representative: q.queryid,
            queryids: Vec::new(),
            calls: 0,
            total_ms: 0.0,
        });
        e.queryids.push(q.queryid);
        e.calls += q.calls;
        e.total_ms += q.total_ms;
        let b = best.entry(key).or_insert(f64::MIN);
        if q.total_ms > *b {
            *b = q.total_ms;
            e.representative = q.queryid;
        }
    }
    let mut out: Vec<Candidate> =
        by_key.into_values().filter(|k| k.calls >= c.workload_min_calls && k.total_ms >= c.workload_min_total_ms).collect();
    out.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then(a.columns.cmp(&b.columns)));
    out
}

fn composite_index_candidate(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let all = candidates(s, c);
    let mut issues = Vec::new();
    let mut reported: Vec<Oid> = Vec::new();
    let mut dropped = 0;
    for cand in &all {
        // One finding per table (the object is the table): its heaviest candidate.
        if reported.contains(&cand.table) {
            continue;
        }
        let Some(rel) = s.relation(cand.table) else { continue };
        let key = (cand.table, cand.columns.clone());
        let mut evidence = json!({
            "columns": cand.columns,
            "calls": cand.calls,
            "total_exec_ms": (cand.total_ms * 10.0).round() / 10.0,
            "queryids": cand.queryids,
        });
        match (&s.workload.hypopg, s.workload.costs.get(&key)) {
            (Some(_), Some(cost)) => {
                if cost.after >= cost.before {
                    dropped += 1;
                    continue;
                }
                evidence["hypopg"] = json!({
                    "cost_before": (cost.before * 100.0).round() / 100.0,
                    "cost_after": (cost.after * 100.0).round() / 100.0,
                    "queryid": cost.queryid,
                    "parameters": "typical values from pg_stats (most_common_vals, histogram_bounds)",
                });
            }
            (Some(_), None) => {
                evidence["hypopg"] = json!({"note": s.workload.cost_notes.get(&key).cloned().unwrap_or_else(|| "not evaluated".into())});
            }
            (None, _) => {
                evidence["hypopg"] = json!({"note": "not installed in this database: CREATE EXTENSION hypopg to get the planner's cost before and after"});
            }
        }
        let quoted: Vec<String> = cand.columns.iter().map(|n| rel.column(n).map(|x| x.quoted.clone()).unwrap_or_else(|| n.clone())).collect();
        reported.push(cand.table);
        issues.push(
            Issue::fail(
                ObjRef::new(rel.kind.object_type(), rel.identity.clone()),
                format!(
                    "{} run {} times ({:.0} ms in total) filtering on ({}) and no index has these leading columns",
                    n_of(cand.queryids.len(), "statement"),
                    cand.calls,
                    cand.total_ms,
                    cand.columns.join(", ")
                ),
            )
            .evidence(evidence)
            .fix(sqlgen::create_index(rel, None, &quoted.join(", "), None, None)),
        );
    }
    let mut inspected = format!(
        "{} of pg_stat_statements above the thresholds ({} calls, {} ms), each served by an index",
        n_of(s.workload.queries.len(), "single-table SELECT"),
        c.workload_min_calls,
        c.workload_min_total_ms
    );
    if dropped > 0 {
        inspected.push_str(&format!("; {dropped} candidate(s) dropped because hypopg showed no lower cost"));
    }
    Ok(Outcome::new(inspected, issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{fails, passes, run, run_with};
    use crate::migrations::workload::{HypoCost, WorkloadQuery};
    use crate::migrations::Query;
    use crate::snapshot::build::SnapshotBuilder;

    fn payments(b: &mut SnapshotBuilder) -> Oid {
        let t = b.table(
            "payment_transactions",
            &[("id", "uuid"), ("tenant_id", "uuid"), ("status", "text"), ("created_at", "timestamp with time zone")],
        );
        b.index(t, "idx_pt_tenant_created", &["tenant_id", "created_at"]);
        t
    }

    /// `WHERE status = $1 AND tenant_id = $2 AND created_at > $3 ORDER BY created_at DESC`.
    fn seed_query(b: &mut SnapshotBuilder, t: Oid, calls: i64, total_ms: f64) {
        let query = Query {
            table: Some(crate::migrations::RelName::new(None, "payment_transactions")),
            equality: vec!["status".into(), "tenant_id".into()],
            range: vec!["created_at".into()],
            order_by: vec![("created_at".into(), true)],
            ..Query::default()
        };
        b.snapshot_mut().workload.queries.push(WorkloadQuery { queryid: 7, calls, total_ms, table: t, text: String::new(), query });
    }

    #[test]
    fn tenant_first_then_equality_then_range() {
        let mut b = SnapshotBuilder::new();
        let t = payments(&mut b);
        seed_query(&mut b, t, 500, 4000.0);
        let rows = run("composite_index_candidate", &b);
        assert_eq!(fails(&rows), vec!["public.payment_transactions"]);
        assert_eq!(rows[0].statements, vec!["CREATE INDEX CONCURRENTLY ON public.payment_transactions (tenant_id, status, created_at);"]);
        assert_eq!(rows[0].evidence["columns"], json!(["tenant_id", "status", "created_at"]));
        assert!(rows[0].evidence["hypopg"]["note"].as_str().unwrap().contains("not installed"));
    }

    #[test]
    fn near_misses_thresholds_and_an_existing_index_in_any_equality_order() {
        let mut b = SnapshotBuilder::new();
        let t = payments(&mut b);
        seed_query(&mut b, t, 50, 4000.0);
        assert!(passes(&run("composite_index_candidate", &b)), "too few calls");
        let c = Config { workload_min_calls: 10, ..Config::default() };
        assert_eq!(fails(&run_with("composite_index_candidate", &b, &c)), vec!["public.payment_transactions"]);
        b.index(t, "idx_pt_status_tenant_created", &["status", "tenant_id", "created_at"]);
        assert!(passes(&run_with("composite_index_candidate", &b, &c)), "covered with equality columns swapped");
    }

    #[test]
    fn an_index_with_the_range_column_elsewhere_does_not_cover() {
        let mut b = SnapshotBuilder::new();
        let t = payments(&mut b);
        b.index(t, "idx_pt_created_tenant_status", &["created_at", "tenant_id", "status"]);
        seed_query(&mut b, t, 500, 4000.0);
        assert_eq!(fails(&run("composite_index_candidate", &b)), vec!["public.payment_transactions"]);
    }

    #[test]
    fn hypopg_costs_in_the_evidence_and_no_gain_drops_the_suggestion() {
        let mut b = SnapshotBuilder::new();
        let t = payments(&mut b);
        seed_query(&mut b, t, 500, 4000.0);
        let key = (t, vec!["tenant_id".to_string(), "status".into(), "created_at".into()]);
        let w = &mut b.snapshot_mut().workload;
        w.hypopg = Some("public".into());
        w.costs.insert(key.clone(), HypoCost { queryid: 7, before: 1234.5, after: 12.25 });
        let rows = run("composite_index_candidate", &b);
        assert_eq!(rows[0].evidence["hypopg"]["cost_before"], json!(1234.5));
        assert_eq!(rows[0].evidence["hypopg"]["cost_after"], json!(12.25));
        b.snapshot_mut().workload.costs.insert(key, HypoCost { queryid: 7, before: 100.0, after: 100.0 });
        let rows = run("composite_index_candidate", &b);
        assert!(passes(&rows));
        assert!(rows[0].detail.contains("1 candidate(s) dropped"));
    }

    #[test]
    fn a_single_column_filter_is_not_a_composite_candidate() {
        let mut b = SnapshotBuilder::new();
        let t = payments(&mut b);
        let query = Query { equality: vec!["status".into()], ..Query::default() };
        b.snapshot_mut().workload.queries.push(WorkloadQuery { queryid: 1, calls: 1000, total_ms: 9000.0, table: t, text: String::new(), query });
        assert!(passes(&run("composite_index_candidate", &b)));
    }
}
