//! "Sensitive table", as spec/checks.md defines it: registered in
//! readiness_pii_columns, named like a financial or audit table, or holding
//! personal data (detected by column name or in sampled values). Judged on
//! top-level tables (a partition's data counts for its parent).

use std::collections::HashMap;

use crate::config::Config;
use crate::pii::detect::{self, name_words};
use crate::snapshot::{Oid, Snapshot};

/// Name words that make a table financial or audit data.
pub const FINANCIAL_WORDS: [&str; 14] = [
    "payment", "payments", "transaction", "transactions", "invoice", "invoices", "refund", "refunds", "payout", "payouts", "ledger",
    "ledgers", "audit", "audits",
];

/// Top-level tables that are sensitive, with the reason.
pub fn tables(s: &Snapshot, _c: &Config) -> HashMap<Oid, String> {
    let mut out = HashMap::new();
    for rel in s.top_tables() {
        let reason = if s.pii_registry.iter().any(|r| r.table == rel.oid) {
            Some("registered personal-data".to_string())
        } else if name_words(&rel.name).iter().any(|w| FINANCIAL_WORDS.contains(&w.as_str())) {
            Some("financial or audit".to_string())
        } else if let Some((col, kind)) = rel.columns.iter().find_map(|c| detect::kind_by_name(&c.name, &c.type_name).map(|k| (c, k))) {
            Some(format!("personal-data ({} in {})", kind.as_str(), col.name))
        } else if s.samples.columns.iter().any(|c| c.table == rel.oid && (c.card_hits > 0 || c.ssn_hits > 0 || c.email_hits > 0)) {
            Some("personal-data (found in sampled values)".to_string())
        } else {
            None
        };
        if let Some(r) = reason {
            out.insert(rel.oid, r);
        }
    }
    out
}
