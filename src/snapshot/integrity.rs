//! Snapshot parts for the constraints, pii and audit checks: domain and enum
//! types, user triggers and rules, identity/serial sequences, the PII
//! registry, and the one place that reads user data: sampling, bounded by
//! `pg_readiness.sample_rows` per table and `pg_readiness.sample_budget_ms`
//! for the whole report.

use std::collections::HashMap;
use std::time::Instant;

use super::Oid;
use crate::pii::{card, detect, national_id};

/// A domain (`d`) or enum (`e`) type columns may use.
#[derive(Clone, Debug)]
pub struct TypeInfo {
    pub kind: char,
    /// A domain with at least one CHECK constraint.
    pub has_check: bool,
}

/// A user trigger (internal RI triggers excluded at read time).
#[derive(Clone, Debug)]
pub struct Trigger {
    pub table: Oid,
    pub name: String,
    /// `pg_trigger.tgtype` bits: 1 row, 2 before, 4 insert, 8 delete, 16 update, 64 instead.
    pub tgtype: i16,
    pub enabled: bool,
}

impl Trigger {
    pub fn is_row(&self) -> bool {
        self.tgtype & 1 != 0
    }
    pub fn is_before(&self) -> bool {
        self.tgtype & 2 != 0
    }
    pub fn is_after(&self) -> bool {
        self.tgtype & (2 | 64) == 0
    }
    pub fn on_insert(&self) -> bool {
        self.tgtype & 4 != 0
    }
    pub fn on_delete(&self) -> bool {
        self.tgtype & 8 != 0
    }
    pub fn on_update(&self) -> bool {
        self.tgtype & 16 != 0
    }
}

/// A rewrite rule other than a view's `_RETURN`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub table: Oid,
    pub name: String,
    /// `ev_type`: 1 select, 2 update, 3 insert, 4 delete.
    pub event: char,
    pub instead: bool,
}

/// A sequence owned by a column (serial) or backing an identity column.
#[derive(Clone, Debug)]
pub struct SequenceUse {
    pub table: Oid,
    pub attnum: i16,
    pub identity: String,
    pub min: i64,
    pub max: i64,
    pub increment: i64,
    /// `None` when never called or not readable by the caller.
    pub last_value: Option<i64>,
    pub readable: bool,
    /// An identity column's sequence (else a serial's).
    pub is_identity: bool,
}

/// A row of `readiness_pii_columns` whose table still exists.
#[derive(Clone, Debug)]
pub struct PiiRegistration {
    pub table: Oid,
    pub column: String,
    pub kind: String,
    pub subject: String,
    pub action: String,
}

/// What sampling found in one column. Holds counts and masked examples only.
#[derive(Clone, Debug, Default)]
pub struct ColumnSample {
    /// The table judged (a partition's findings go to its top parent).
    pub table: Oid,
    pub attnum: i16,
    pub sampled: usize,
    pub card_hits: usize,
    pub card_examples: Vec<String>,
    pub ssn_hits: usize,
    pub email_hits: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub columns: Vec<ColumnSample>,
    /// Tables not sampled, with the reason (privilege, budget, lock).
    pub skipped: Vec<(Oid, String)>,
    /// Set when sampling did not run at all.
    pub disabled: Option<String>,
    pub elapsed_ms: f64,
}

impl Samples {
    pub fn column(&self, table: Oid, attnum: i16) -> Option<&ColumnSample> {
        self.columns.iter().find(|c| c.table == table && c.attnum == attnum)
    }
}

/// Evidence examples per column: a few masked hits, never more.
const MAX_EXAMPLES: usize = 3;

/// Scans one sampled value (text, or jsonb walked value by value) into `acc`.
pub fn scan_value(value: &str, is_json: bool, acc: &mut ColumnSample) {
    acc.sampled += 1;
    let mut visit = |s: &str| {
        let hits = card::find_card_numbers(s);
        if !hits.is_empty() {
            acc.card_hits += 1;
            for h in hits {
                if acc.card_examples.len() < MAX_EXAMPLES && !acc.card_examples.contains(&h.masked) {
                    acc.card_examples.push(h.masked);
                }
            }
        }
        if national_id::find_ssns(s) > 0 || national_id::looks_like_us_ssn(s) {
            acc.ssn_hits += 1;
        }
        if detect::looks_like_email(s) {
            acc.email_hits += 1;
        }
    };
    if is_json {
        match serde_json::from_str::<serde_json::Value>(value) {
            Ok(v) => card::walk_json(&v, &mut visit),
            Err(_) => visit(value),
        }
    } else {
        visit(value);
    }
}

/// Percentage for `TABLESAMPLE SYSTEM` so that about three times `rows`
/// rows are in the sampled blocks (SYSTEM samples whole pages; LIMIT cuts).
pub fn sample_percent(rows: i32, reltuples: f64) -> f64 {
    if reltuples <= 0.0 {
        return 100.0;
    }
    (300.0 * f64::from(rows) / reltuples).clamp(0.0001, 100.0)
}

/// The budget clock of one report's sampling.
pub struct Budget {
    start: Instant,
    limit_ms: f64,
}

impl Budget {
    pub fn new(limit_ms: i32) -> Budget {
        Budget { start: Instant::now(), limit_ms: f64::from(limit_ms.max(0)) }
    }
    pub fn elapsed_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
    pub fn remaining_ms(&self) -> f64 {
        (self.limit_ms - self.elapsed_ms()).max(0.0)
    }
}

/// Registrations by (table, column) for quick lookups.
pub fn registry_index(regs: &[PiiRegistration]) -> HashMap<(Oid, &str), &PiiRegistration> {
    regs.iter().map(|r| ((r.table, r.column.as_str()), r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_keeps_counts_and_masked_examples_only() {
        let mut acc = ColumnSample::default();
        scan_value("customer paid with 4111 1111 1111 1111 yesterday", false, &mut acc);
        scan_value("order ORD-2024-000123, call +1 555 123 4567", false, &mut acc);
        scan_value(r#"{"note": "card 5555555555554444", "ssn": "123-45-6789", "mail": "ada@northwind.example"}"#, true, &mut acc);
        assert_eq!(acc.sampled, 3);
        assert_eq!(acc.card_hits, 2);
        assert_eq!(acc.ssn_hits, 1);
        assert_eq!(acc.email_hits, 1);
        assert_eq!(acc.card_examples.len(), 2);
        for e in &acc.card_examples {
            assert!(!e.contains("4111 1111 1111 1111") && !e.contains("5555555555554444"), "{e}");
            assert!(e.contains('*'));
        }
    }

    #[test]
    fn sample_percent_bounds() {
        assert_eq!(sample_percent(1000, -1.0), 100.0);
        assert_eq!(sample_percent(1000, 1000.0), 100.0);
        assert!((sample_percent(1000, 3_000_000.0) - 0.1).abs() < 1e-9);
        assert_eq!(sample_percent(1, 1e12), 0.0001);
    }
}
