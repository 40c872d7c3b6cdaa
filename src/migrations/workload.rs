//! The workload as composite_index_candidate sees it: the SELECTs of
//! pg_stat_statements (read once, by snapshot/server.rs) parsed with the
//! server's parser, and, where hypopg is installed, the planner's cost of
//! each candidate's statement before and after a hypothetical index.

use std::collections::HashMap;

use super::Query;
use crate::snapshot::Oid;

/// A frequent SELECT that reads one table.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadQuery {
    pub queryid: i64,
    pub calls: i64,
    pub total_ms: f64,
    pub table: Oid,
    /// The normalised text (parameters as `$n`); never reported.
    pub text: String,
    pub query: Query,
}

/// The planner's total cost of a statement without and with the
/// hypothetical index.
#[derive(Clone, Debug, PartialEq)]
pub struct HypoCost {
    pub queryid: i64,
    pub before: f64,
    pub after: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    pub queries: Vec<WorkloadQuery>,
    /// Statements that did not parse as a single-table SELECT.
    pub not_single_table: usize,
    /// Schema of the hypopg extension, when it is installed here.
    pub hypopg: Option<String>,
    /// (table, index columns) -> cost before and after.
    pub costs: HashMap<(Oid, Vec<String>), HypoCost>,
    /// Why a candidate has no cost (keyed like `costs`).
    pub cost_notes: HashMap<(Oid, Vec<String>), String>,
}

/// A value of `values` at `fraction` of the way through (0.0 = first).
pub fn pick(values: &[String], fraction: f64) -> Option<&String> {
    if values.is_empty() {
        return None;
    }
    let i = ((values.len() - 1) as f64 * fraction.clamp(0.0, 1.0)).round() as usize;
    values.get(i)
}

/// Replaces each `$n` (at the byte offsets given) with its literal.
pub fn substitute(text: &str, params: &[(usize, i32, String)]) -> Option<String> {
    let mut sorted: Vec<&(usize, i32, String)> = params.iter().collect();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.0));
    let mut out = text.to_string();
    for (loc, n, lit) in sorted {
        let token = format!("${n}");
        if out.get(*loc..*loc + token.len())? != token {
            return None;
        }
        out.replace_range(*loc..*loc + token.len(), lit);
    }
    Some(out)
}

pub use spi::read_workload;

mod spi {
    use super::*;
    use crate::config::Config;
    use crate::migrations::{parse, ParamRole, RangeOp, StmtKind};
    use crate::snapshot::read::in_subtransaction;
    use crate::snapshot::{Relation, Section, SectionState, Snapshot};
    use pgrx::datum::DatumWithOid;
    use pgrx::spi::SpiClient;

    type R<T> = Result<T, pgrx::spi::SpiError>;

    /// Candidates evaluated with hypopg per report, at most.
    const MAX_HYPO: usize = 20;

    fn find_table<'a>(snap: &'a Snapshot, q: &Query) -> Option<&'a Relation> {
        let t = q.table.as_ref()?;
        let mut matches = snap.relations.iter().filter(|r| r.kind.is_table() && r.name == t.name);
        match &t.schema {
            Some(s) => matches.find(|r| &r.schema == s),
            None => {
                let all: Vec<&Relation> = matches.collect();
                all.iter().find(|r| r.schema == "public").copied().or_else(|| (all.len() == 1).then(|| all[0]))
            }
        }
    }

    pub fn read_workload(client: &SpiClient, snap: &mut Snapshot, config: &Config) -> R<()> {
        if let Some(state) = snap.sections.get(&Section::Statements).cloned() {
            let reason = match state {
                SectionState::Unavailable(r) => r,
                SectionState::Failed { message, .. } => format!("pg_stat_statements could not be read: {message}"),
            };
            snap.sections.insert(Section::Workload, SectionState::Unavailable(reason));
            return Ok(());
        }
        let mut w = Workload::default();
        for st in &snap.ops.workload_statements {
            let Some(stmt) = parse::parse_one(&st.text) else {
                w.not_single_table += 1;
                continue;
            };
            let StmtKind::Select(query) = stmt.kind else { continue };
            let Some(rel) = find_table(snap, &query) else {
                w.not_single_table += 1;
                continue;
            };
            w.queries.push(WorkloadQuery {
                queryid: st.queryid,
                calls: st.calls,
                total_ms: st.total_ms,
                table: rel.oid,
                text: st.text.clone(),
                query: *query,
            });
        }
        w.hypopg = snap.ops.extensions.iter().find(|e| e.name == "hypopg").map(|e| e.schema.clone());
        snap.workload = w;
        let Some(hypopg) = snap.workload.hypopg.clone() else { return Ok(()) };
        let candidates = crate::checks::workload::candidates(snap, config);
        for cand in candidates.into_iter().take(MAX_HYPO) {
            let key = (cand.table, cand.columns.clone());
            match evaluate(client, snap, &hypopg, &cand) {
                Ok(Ok(cost)) => {
                    snap.workload.costs.insert(key, cost);
                }
                Ok(Err(note)) => {
                    snap.workload.cost_notes.insert(key, note);
                }
                Err(e) => {
                    snap.workload.cost_notes.insert(key, format!("hypopg evaluation failed: {e}"));
                }
            }
        }
        Ok(())
    }

    /// A representative value for `$n`: a typical most-common value for an
    /// equality, a histogram bound near the top (for `>`) or the bottom (for
    /// `<`) so the range is selective, as pg_stats has them.
    fn literal(client: &SpiClient, rel: &Relation, column: &str, role: ParamRole) -> R<Option<String>> {
        let Some(col) = rel.column(column) else { return Ok(None) };
        let q = "SELECT most_common_vals::text::text[], histogram_bounds::text::text[] FROM pg_stats
                  WHERE schemaname = $1 AND tablename = $2 AND attname = $3 ORDER BY inherited DESC LIMIT 1";
        let args = [DatumWithOid::from(rel.schema.as_str()), DatumWithOid::from(rel.name.as_str()), DatumWithOid::from(column)];
        let Some(row) = client.select(q, None, &args)?.into_iter().next() else { return Ok(None) };
        let flat = |v: Option<Vec<Option<String>>>| v.unwrap_or_default().into_iter().flatten().collect::<Vec<String>>();
        let mcv = flat(row.get(1)?);
        let hist = flat(row.get(2)?);
        let value = match role {
            ParamRole::Equality => pick(&mcv, 0.5).or_else(|| pick(&hist, 0.5)),
            ParamRole::Range(RangeOp::Lower) => pick(&hist, 0.9).or_else(|| pick(&mcv, 0.0)),
            ParamRole::Range(RangeOp::Upper) => pick(&hist, 0.1).or_else(|| pick(&mcv, 0.0)),
            ParamRole::Range(RangeOp::Between) => pick(&hist, 0.9),
            _ => None,
        };
        Ok(value.map(|v| format!("{}::{}", crate::checks::sqlgen::literal(v), col.type_name)))
    }

    /// The planner's total cost of `sql`. EXPLAIN is a utility statement,
    /// which read-only SPI (the mode of a STABLE function such as
    /// readiness_report) refuses; it changes nothing, so it is run through
    /// SPI_execute with read_only = false inside the caller's SPI connection.
    fn total_cost(_client: &SpiClient, sql: &str) -> R<Option<f64>> {
        let Ok(q) = std::ffi::CString::new(format!("EXPLAIN (FORMAT JSON) {sql}")) else { return Ok(None) };
        // SAFETY: called inside Spi::connect; an ERROR unwinds to the caller's
        // subtransaction guard. The tuple table is read before any other SPI call.
        let text = unsafe {
            let rc = pgrx::pg_sys::SPI_execute(q.as_ptr(), false, 0);
            let tt = pgrx::pg_sys::SPI_tuptable;
            if rc < 0 || tt.is_null() || (*tt).numvals == 0 {
                return Ok(None);
            }
            let v = pgrx::pg_sys::SPI_getvalue(*(*tt).vals, (*tt).tupdesc, 1);
            if v.is_null() {
                return Ok(None);
            }
            std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned()
        };
        let plan: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        Ok(plan.get(0).and_then(|p| p.get("Plan")?.get("Total Cost")?.as_f64()))
    }

    fn evaluate(
        client: &SpiClient,
        snap: &Snapshot,
        hypopg: &str,
        cand: &crate::checks::workload::Candidate,
    ) -> Result<Result<HypoCost, String>, String> {
        let Some(rel) = snap.relation(cand.table) else { return Ok(Err("table not in the snapshot".into())) };
        let Some(wq) = snap.workload.queries.iter().find(|q| q.queryid == cand.representative) else {
            return Ok(Err("statement not found".into()));
        };
        let r = in_subtransaction(|| -> R<Result<HypoCost, String>> {
            let mut params = Vec::new();
            for p in &wq.query.params {
                let lit = match (&p.column, p.role) {
                    (_, ParamRole::Limit) => Some("100".to_string()),
                    (Some(c), role) => literal(client, rel, c, role)?,
                    (None, _) => None,
                };
                let Some(lit) = lit else {
                    return Ok(Err(format!("no statistics to choose a value for ${} (run ANALYZE)", p.number)));
                };
                params.push((p.location, p.number, lit));
            }
            let Some(sql) = substitute(&wq.text, &params) else { return Ok(Err("parameters could not be placed".into())) };
            let Some(before) = total_cost(client, &sql)? else { return Ok(Err("EXPLAIN gave no cost".into())) };
            // hypopg indexes plain tables: a partitioned table gets one per leaf partition.
            let mut targets: Vec<&Relation> = vec![rel];
            if rel.kind == crate::snapshot::RelKind::PartitionedTable {
                targets = leaves(snap, rel.oid);
            }
            let cols: Vec<String> =
                cand.columns.iter().map(|c| rel.column(c).map(|x| x.quoted.clone()).unwrap_or_else(|| c.clone())).collect();
            for t in targets {
                let ddl = format!("CREATE INDEX ON {} ({})", t.identity, cols.join(", "));
                client.select(&format!("SELECT {hypopg}.hypopg_create_index($1)"), None, &[DatumWithOid::from(ddl.as_str())])?;
            }
            let after = total_cost(client, &sql);
            client.select(&format!("SELECT {hypopg}.hypopg_reset()"), None, &[])?;
            let Some(after) = after? else { return Ok(Err("EXPLAIN gave no cost".into())) };
            Ok(Ok(HypoCost { queryid: wq.queryid, before, after }))
        });
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err((_, msg)) => {
                // The subtransaction rolled back; hypopg's indexes live in
                // backend memory, not in the transaction: reset them too.
                let _ = in_subtransaction(|| client.select(&format!("SELECT {hypopg}.hypopg_reset()"), None, &[]).map(|_| ()));
                Err(msg)
            }
        }
    }

    fn leaves(snap: &Snapshot, parent: Oid) -> Vec<&Relation> {
        let mut out = Vec::new();
        for r in snap.relations.iter().filter(|r| r.parent == Some(parent)) {
            if r.kind == crate::snapshot::RelKind::PartitionedTable {
                out.extend(leaves(snap, r.oid));
            } else {
                out.push(r);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_replaced_at_their_offsets() {
        let text = "SELECT * FROM t WHERE a = $1 AND b > $2 LIMIT $3";
        let got = substitute(text, &[(26, 1, "'x'::text".into()), (37, 2, "'5'::integer".into()), (46, 3, "100".into())]).unwrap();
        assert_eq!(got, "SELECT * FROM t WHERE a = 'x'::text AND b > '5'::integer LIMIT 100");
        // A wrong offset is refused rather than guessed.
        assert_eq!(substitute(text, &[(25, 1, "x".into())]), None);
    }

    #[test]
    fn pick_chooses_by_position() {
        let v: Vec<String> = ["a", "b", "c", "d", "e"].iter().map(|s| s.to_string()).collect();
        assert_eq!(pick(&v, 0.5).unwrap(), "c");
        assert_eq!(pick(&v, 0.9).unwrap(), "e");
        assert_eq!(pick(&[], 0.5), None);
    }
}
