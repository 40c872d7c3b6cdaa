//! Table and btree index bloat from the catalog and pg_stats, without reading
//! table data: the size a VACUUM FULL / REINDEX would give, rebuilt from the
//! row count and the on-disk width of each column, compared with the size
//! the relation has.
//!
//! The traps of the usual estimation queries, and what is done here instead:
//! - TOASTed values: `pg_stats.avg_width` is the width ANALYZE saw on disk
//!   (an 18-byte TOAST pointer for an out-of-line value, the compressed size
//!   for an inline one), and only the heap's own pages are compared: TOAST
//!   never counts as heap bloat.
//! - Alignment: each column is placed at its `attalign` boundary in attnum
//!   order; short varlena values (1-byte header, up to 126 bytes of data) are
//!   not aligned, as heap_fill_tuple stores them; the null bitmap is counted
//!   only for the fraction of rows that have a NULL.
//! - Tables without statistics are not guessed: they are skipped with the
//!   reason (never analyzed, or no SELECT privilege hides pg_stats).
//! - Btree deduplication (PostgreSQL 13+): duplicates are stored as posting
//!   lists, so a low-cardinality index is much smaller than one tuple per row.
//!   The expected size uses the number of distinct keys and the posting-list
//!   limit of an index build, so such an index is not reported negative or
//!   falsely bloated.
//!
//! Waste is measured against a rebuilt relation: heap pages packed to the
//! table's fillfactor, btree leaves to the index fillfactor (90 by default).

use crate::snapshot::server::{ColumnStat, PhysColumn};
use crate::snapshot::{Index, Relation, Snapshot};

const BLCKSZ: f64 = 8192.0;
const PAGE_HEADER: f64 = 24.0;
const ITEM_ID: f64 = 4.0;
const HEAP_HEADER: f64 = 23.0;
const MAX_HEAP_TUPLES_PER_PAGE: f64 = 291.0;
const BTREE_SPECIAL: f64 = 16.0;
/// Posting list tuples of an index build are capped at 1/10 of a page
/// minus a line pointer (nbtsort.c).
const BUILD_MAX_POSTING: f64 = 812.0;
const TID: f64 = 6.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// `catalog estimate`, `pgstattuple`, `pgstattuple_approx` or `pgstatindex`.
    pub method: String,
    pub total_bytes: i64,
    pub waste_bytes: i64,
    /// Out-of-line TOAST data of a table (never counted as waste).
    pub toast_bytes: i64,
    /// Btree deduplication was taken into account.
    pub dedup: bool,
    pub note: Option<String>,
}

impl Estimate {
    pub fn pct(&self) -> f64 {
        if self.total_bytes <= 0 {
            0.0
        } else {
            100.0 * self.waste_bytes as f64 / self.total_bytes as f64
        }
    }
}

fn maxalign(x: f64) -> f64 {
    (x / 8.0).ceil() * 8.0
}

fn align_of(c: char) -> f64 {
    match c {
        's' => 2.0,
        'i' => 4.0,
        'd' => 8.0,
        _ => 1.0,
    }
}

/// Expected width of the data area of a tuple holding `cols` (in order),
/// each present with probability 1 - null_frac.
fn data_width(cols: &[(&PhysColumn, ColumnStat)]) -> f64 {
    let mut offset = 0.0_f64;
    for (col, st) in cols {
        let present = (1.0 - st.null_frac).clamp(0.0, 1.0);
        if present == 0.0 {
            continue;
        }
        let width = f64::from(st.avg_width.max(0));
        let align = if col.len == -1 {
            // A short varlena (1-byte header) is stored unaligned.
            if width <= 127.0 && col.storage != 'p' { 1.0 } else { align_of(col.align).max(4.0) }
        } else if col.len > 0 {
            align_of(col.align)
        } else {
            1.0
        };
        let width = if col.len > 0 { f64::from(col.len) } else { width };
        let at = offset.round();
        let pad = (at / align).ceil() * align - at;
        offset += present * (pad + width);
    }
    offset
}

/// Probability that a row has at least one NULL among `cols`.
fn any_null(cols: &[(&PhysColumn, ColumnStat)]) -> f64 {
    1.0 - cols.iter().map(|(_, s)| (1.0 - s.null_frac).clamp(0.0, 1.0)).product::<f64>()
}

fn stats_for<'a>(s: &'a Snapshot, table: &Relation, cols: impl Iterator<Item = &'a PhysColumn>) -> Result<Vec<(&'a PhysColumn, ColumnStat)>, String> {
    let mut out = Vec::new();
    for c in cols {
        match s.ops.column_stats.get(&(table.oid, c.attnum)) {
            Some(st) => out.push((c, *st)),
            None => {
                return Err(format!(
                    "no pg_stats row for column {} (the table was never analyzed, or this role may not SELECT it): bloat not estimated",
                    c.name
                ))
            }
        }
    }
    Ok(out)
}

fn from_measure(s: &Snapshot, oid: u32) -> Option<Estimate> {
    s.ops.measured.get(&oid).map(|m| Estimate {
        method: m.method.to_string(),
        total_bytes: m.total_bytes,
        waste_bytes: m.waste_bytes,
        toast_bytes: 0,
        dedup: false,
        note: None,
    })
}

fn fallback_note(s: &Snapshot) -> Option<String> {
    s.ops.measure_note.clone()
}

/// Heap bloat of an ordinary table or materialized view.
pub fn table(s: &Snapshot, rel: &Relation) -> Result<Estimate, String> {
    let toast_bytes = s.ops.table_stats.get(&rel.oid).map(|t| t.toast_pages * 8192).unwrap_or(0);
    if let Some(mut m) = from_measure(s, rel.oid) {
        m.toast_bytes = toast_bytes;
        return Ok(m);
    }
    let total = rel.pages.max(0) as f64 * BLCKSZ;
    let done = |expected_pages: f64| Estimate {
        method: "catalog estimate".into(),
        total_bytes: total as i64,
        waste_bytes: (total - expected_pages * BLCKSZ).max(0.0) as i64,
        toast_bytes,
        dedup: false,
        note: fallback_note(s),
    };
    if rel.pages <= 0 {
        return Ok(done(0.0));
    }
    if rel.tuples < 0.0 {
        return Err("the table was never vacuumed or analyzed (reltuples unknown): bloat not estimated".into());
    }
    if rel.tuples == 0.0 {
        return Ok(done(0.0));
    }
    let Some(phys) = s.ops.phys_columns.get(&rel.oid) else {
        return Err("no column layout was read for this table".into());
    };
    let cols = stats_for(s, rel, phys.iter().filter(|c| !c.dropped))?;
    let natts = phys.len() as f64;
    let p_null = any_null(&cols);
    let hoff = (1.0 - p_null) * maxalign(HEAP_HEADER) + p_null * maxalign(HEAP_HEADER + (natts / 8.0).ceil());
    let tuple = maxalign(hoff + data_width(&cols));
    let ff = s.ops.table_stats.get(&rel.oid).and_then(|t| t.fillfactor).unwrap_or(100).clamp(10, 100);
    let reserved = (BLCKSZ * f64::from(100 - ff) / 100.0).floor();
    let per_page = ((BLCKSZ - PAGE_HEADER - reserved) / (tuple + ITEM_ID)).floor().clamp(1.0, MAX_HEAP_TUPLES_PER_PAGE);
    Ok(done((rel.tuples / per_page).ceil()))
}

/// Types whose btree equality is not bitwise (numeric 1.0 = 1.00, float
/// -0 = +0, jsonb): deduplication is disabled for them.
const NO_DEDUP_TYPES: [u32; 4] = [1700, 700, 701, 3802];

/// Bloat of a btree index.
pub fn index(s: &Snapshot, idx: &Index) -> Result<Estimate, String> {
    if let Some(m) = from_measure(s, idx.oid) {
        return Ok(m);
    }
    let total = idx.pages.max(0) as f64 * BLCKSZ;
    let Some(phys) = s.ops.index_phys.get(&idx.oid) else {
        return Err("no statistics were read for this index".into());
    };
    let done = |expected_pages: f64, dedup: bool| Estimate {
        method: "catalog estimate".into(),
        total_bytes: total as i64,
        waste_bytes: (total - expected_pages * BLCKSZ).max(0.0) as i64,
        toast_bytes: 0,
        dedup,
        note: fallback_note(s),
    };
    if idx.pages <= 1 {
        return Ok(done(idx.pages as f64, false));
    }
    if phys.tuples < 0.0 {
        return Err("the index was never vacuumed or analyzed (reltuples unknown): bloat not estimated".into());
    }
    if idx.has_expressions() {
        return Err("an expression index: the width of its keys is not in pg_stats for the table: bloat not estimated".into());
    }
    let Some(table) = s.relation(idx.table) else {
        return Err("the index's table is not inspected".into());
    };
    let Some(table_cols) = s.ops.phys_columns.get(&table.oid) else {
        return Err("no column layout was read for the index's table".into());
    };
    let mut key_cols = Vec::new();
    for k in &idx.keys {
        match table_cols.iter().find(|c| c.attnum == *k) {
            Some(c) => key_cols.push(c),
            None => return Err("a key column of the index was not found".into()),
        }
    }
    let cols = stats_for(s, table, key_cols.iter().copied())?;
    let tuples = phys.tuples;
    let hoff = if any_null(&cols) > 0.0 { maxalign(8.0 + 4.0) } else { 8.0 };
    let keysize = maxalign(hoff + data_width(&cols));
    let ff = phys.fillfactor.unwrap_or(90).clamp(10, 100);
    let leaf_space = BLCKSZ - PAGE_HEADER - BTREE_SPECIAL - (BLCKSZ * f64::from(100 - ff) / 100.0).floor();
    let dedup = s.server_version_num >= 130_000
        && phys.deduplicate != Some(false)
        && !idx.unique
        && idx.nkeys == idx.keys.len()
        && key_cols.iter().all(|c| !NO_DEDUP_TYPES.contains(&c.type_oid));
    let distinct = cols
        .iter()
        .map(|(_, st)| if st.n_distinct >= 0.0 { st.n_distinct.max(1.0) } else { (-st.n_distinct * tuples).max(1.0) })
        .product::<f64>()
        .min(tuples.max(1.0));
    let dups = tuples / distinct;
    let mut used_dedup = false;
    let leaf_pages = if dedup && dups >= 2.0 {
        used_dedup = true;
        let cap = ((BUILD_MAX_POSTING - keysize) / TID).floor().max(2.0);
        let full = (dups / cap).floor();
        let rest = dups - full * cap;
        let mut per_key = full * (maxalign(keysize + TID * cap) + ITEM_ID);
        if rest >= 2.0 {
            per_key += maxalign(keysize + TID * rest) + ITEM_ID;
        } else if rest > 0.0 {
            per_key += rest * (keysize + ITEM_ID);
        }
        ((distinct * per_key) / (leaf_space - keysize - ITEM_ID)).ceil()
    } else {
        // One page's high key takes a slot.
        let per_page = ((leaf_space / (keysize + ITEM_ID)).floor() - 1.0).max(1.0);
        (tuples / per_page).ceil()
    };
    // Internal levels: pivot tuples at the non-leaf fillfactor of 70.
    let fanout = (((BLCKSZ - PAGE_HEADER - BTREE_SPECIAL) * 0.70) / (keysize + ITEM_ID)).floor().max(2.0);
    let mut pages = leaf_pages.max(1.0);
    let mut level = leaf_pages;
    while level > 1.0 {
        level = (level / fanout).ceil();
        pages += level;
    }
    Ok(done(pages + 1.0, used_dedup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::build::SnapshotBuilder;
    use crate::snapshot::server::IndexPhys;

    fn col(attnum: i16, name: &str, len: i16, align: char, type_oid: u32) -> PhysColumn {
        PhysColumn { attnum, name: name.into(), len, align, storage: if len == -1 { 'x' } else { 'p' }, type_oid, dropped: false }
    }

    /// A table (id int8, payload text of `width` bytes on disk) with `rows` rows in `pages` pages.
    fn table(b: &mut SnapshotBuilder, rows: f64, pages: i64, width: i32) -> u32 {
        let t = b.table("t", &[("id", "bigint"), ("payload", "text")]);
        b.pages(t, pages);
        b.rel_mut(t).tuples = rows;
        let ops = &mut b.snapshot_mut().ops;
        ops.phys_columns.insert(t, vec![col(1, "id", 8, 'd', 20), col(2, "payload", -1, 'i', 25)]);
        ops.column_stats.insert((t, 1), ColumnStat { null_frac: 0.0, avg_width: 8, n_distinct: -1.0 });
        ops.column_stats.insert((t, 2), ColumnStat { null_frac: 0.0, avg_width: width, n_distinct: -1.0 });
        t
    }

    #[test]
    fn a_packed_table_has_no_waste_and_deleted_rows_do() {
        // (int8, 33-byte text): 24 + 8 + 33 = 65 -> 72 bytes + 4 => 107 rows a page.
        let mut b = SnapshotBuilder::new();
        let t = table(&mut b, 107_000.0, 1000, 33);
        let s = b.build();
        let e = super::table(&s, s.relation(t).unwrap()).unwrap();
        assert_eq!(e.waste_bytes, 0, "{e:?}");
        let mut b = SnapshotBuilder::new();
        let t = table(&mut b, 107_000.0 * 0.4, 1000, 33);
        let s = b.build();
        let e = super::table(&s, s.relation(t).unwrap()).unwrap();
        assert!((e.pct() - 60.0).abs() < 1.0, "{e:?}");
        assert_eq!(e.method, "catalog estimate");
    }

    #[test]
    fn toast_is_not_heap_bloat() {
        // Out-of-line values: avg_width is the 18-byte TOAST pointer.
        let mut b = SnapshotBuilder::new();
        // (int8, 18-byte pointer): 24 + 8 + 18 -> 56 + 4 bytes, 136 rows a page, 736 pages.
        let t = table(&mut b, 100_000.0, 740, 18);
        b.snapshot_mut().ops.table_stats.insert(t, crate::snapshot::server::TableStats { toast_pages: 50_000, ..Default::default() });
        let s = b.build();
        let e = super::table(&s, s.relation(t).unwrap()).unwrap();
        assert!(e.pct() < 1.0, "{e:?}");
        assert_eq!(e.toast_bytes, 50_000 * 8192);
    }

    #[test]
    fn alignment_and_null_bitmap() {
        let bool_then_int8 = [
            (&col(1, "flag", 1, 'c', 16), ColumnStat { null_frac: 0.0, avg_width: 1, n_distinct: 2.0 }),
            (&col(2, "n", 8, 'd', 20), ColumnStat { null_frac: 0.0, avg_width: 8, n_distinct: -1.0 }),
        ];
        assert_eq!(data_width(&bool_then_int8), 16.0);
        let nullable = [(&col(1, "a", 4, 'i', 23), ColumnStat { null_frac: 0.5, avg_width: 4, n_distinct: -1.0 })];
        assert_eq!(any_null(&nullable), 0.5);
        assert_eq!(data_width(&nullable), 2.0);
    }

    #[test]
    fn missing_statistics_are_a_reason_not_a_guess() {
        let mut b = SnapshotBuilder::new();
        let t = table(&mut b, 1000.0, 10, 33);
        b.snapshot_mut().ops.column_stats.remove(&(t, 2));
        let s = b.build();
        let e = super::table(&s, s.relation(t).unwrap()).unwrap_err();
        assert!(e.contains("no pg_stats row for column payload"), "{e}");
        let mut b = SnapshotBuilder::new();
        let t = table(&mut b, -1.0, 10, 33);
        let s = b.build();
        assert!(super::table(&s, s.relation(t).unwrap()).unwrap_err().contains("never vacuumed or analyzed"));
    }

    #[test]
    fn dedup_makes_low_cardinality_indexes_small_not_negative() {
        let mut b = SnapshotBuilder::new();
        let t = table(&mut b, 1_000_000.0, 10_000, 33);
        let i = b.index(t, "t_id", &["id"]);
        b.snapshot_mut().ops.column_stats.insert((t, 1), ColumnStat { null_frac: 0.0, avg_width: 8, n_distinct: 10.0 });
        // A deduplicated index of 1M rows over 10 values: ~6 bytes per row.
        b.index_mut(i).pages = 800;
        b.snapshot_mut().ops.index_phys.insert(i, IndexPhys { tuples: 1_000_000.0, ..Default::default() });
        let s = b.build();
        let e = super::index(&s, &s.indexes[0]).unwrap();
        assert!(e.dedup);
        assert!(e.pct() < 10.0, "{e:?}");
        // Without deduplication the same index would need ~2700 pages: not "bloated", not negative.
        let mut b2 = SnapshotBuilder::new();
        let t = table(&mut b2, 1_000_000.0, 10_000, 33);
        let i = b2.index(t, "t_id", &["id"]);
        b2.index_mut(i).pages = 2740;
        b2.snapshot_mut().ops.index_phys.insert(i, IndexPhys { tuples: 1_000_000.0, ..Default::default() });
        let s = b2.build();
        let e = super::index(&s, &s.indexes[0]).unwrap();
        assert!(!e.dedup);
        assert!(e.pct() < 5.0, "{e:?}");
        // After deleting 60% of the rows the leaves stay: ~60% waste.
        let mut b3 = SnapshotBuilder::new();
        let t = table(&mut b3, 400_000.0, 10_000, 33);
        let i = b3.index(t, "t_id", &["id"]);
        b3.index_mut(i).pages = 2740;
        b3.snapshot_mut().ops.index_phys.insert(i, IndexPhys { tuples: 400_000.0, ..Default::default() });
        let s = b3.build();
        let e = super::index(&s, &s.indexes[0]).unwrap();
        assert!((e.pct() - 60.0).abs() < 3.0, "{e:?}");
    }
}
