//! What the linter knows about the live database: only the relations a
//! script names, read by name through `to_regclass` (so the caller's
//! search_path resolves unqualified names exactly as the migration will).

use std::collections::{HashMap, HashSet};

use super::{RelName, TypeSpec};

#[derive(Clone, Debug, Default)]
pub struct ColumnInfo {
    pub name: String,
    pub type_: TypeSpec,
    pub not_null: bool,
}

#[derive(Clone, Debug, Default)]
pub struct IndexInfo {
    pub name: String,
    /// Key columns in order; `(expression)` for an expression.
    pub columns: Vec<String>,
    pub valid: bool,
    pub unique: bool,
    pub partial: bool,
}

#[derive(Clone, Debug, Default)]
pub struct TableInfo {
    /// `schema.name`, quoted by the server.
    pub identity: String,
    pub partitioned: bool,
    pub pages: i64,
    pub columns: Vec<ColumnInfo>,
    pub indexes: Vec<IndexInfo>,
    /// Columns with a validated `CHECK (col IS NOT NULL)`.
    pub not_null_checked: Vec<String>,
    pub rls_enabled: bool,
}

impl TableInfo {
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// An existing index, found by name (DROP INDEX, REINDEX INDEX).
#[derive(Clone, Debug)]
pub struct ExistingIndex {
    pub identity: String,
    pub table: RelName,
    pub table_partitioned: bool,
}

#[derive(Clone, Debug, Default)]
pub struct CatalogView {
    pub tables: HashMap<RelName, TableInfo>,
    pub indexes: HashMap<RelName, ExistingIndex>,
    /// Function names with at least one volatile overload.
    pub volatile_functions: HashSet<String>,
    pub tenant_column: String,
}

impl CatalogView {
    pub fn table(&self, r: &RelName) -> Option<&TableInfo> {
        self.tables.get(r)
    }
}

/// Functions that are volatile in every PostgreSQL release: used when the
/// catalog could not be asked (unit tests start from these too).
pub const KNOWN_VOLATILE: &[&str] =
    &["random", "gen_random_uuid", "uuid_generate_v4", "uuid_generate_v1", "nextval", "clock_timestamp", "timeofday", "txid_current"];

pub use server::read_catalog;

mod server {
    use super::*;
    use crate::migrations::types::from_format_type;
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;
    use pgrx::spi::SpiClient;

    type R<T> = Result<T, pgrx::spi::SpiError>;

    fn regclass_text(r: &RelName) -> String {
        r.sql()
    }

    /// Reads what the linter needs about `tables` and `indexes` (names as the
    /// script wrote them) and the volatility of `functions`.
    pub fn read_catalog(tables: &[RelName], indexes: &[RelName], functions: &[String], tenant_column: &str) -> CatalogView {
        let mut view = CatalogView { tenant_column: tenant_column.to_string(), ..CatalogView::default() };
        view.volatile_functions.extend(KNOWN_VOLATILE.iter().map(|s| s.to_string()));
        let r = crate::snapshot::read::in_subtransaction(|| {
            Spi::connect(|c| -> R<CatalogView> {
                let mut v = view.clone();
                for t in tables {
                    if let Some(info) = table(c, t)? {
                        v.tables.insert(t.clone(), info);
                    }
                }
                for i in indexes {
                    if let Some(info) = index(c, i)? {
                        v.indexes.insert(i.clone(), info);
                    }
                }
                if !functions.is_empty() {
                    let q = "SELECT DISTINCT proname::text FROM pg_proc WHERE provolatile = 'v' AND proname = ANY($1)";
                    for row in c.select(q, None, &[DatumWithOid::from(functions.to_vec())])? {
                        if let Some(n) = row.get::<String>(1)? {
                            v.volatile_functions.insert(n);
                        }
                    }
                }
                Ok(v)
            })
        });
        match r {
            Ok(Ok(v)) => v,
            // A catalog that cannot be read leaves the linter judging the
            // script alone: every table counts as new.
            _ => view,
        }
    }

    fn table(c: &SpiClient, t: &RelName) -> R<Option<TableInfo>> {
        let q = "SELECT c.oid::int8, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind = 'p',
                        c.relpages::int8, c.relrowsecurity
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')";
        let Some(row) = c.select(q, None, &[DatumWithOid::from(regclass_text(t).as_str())])?.into_iter().next() else {
            return Ok(None);
        };
        let oid: i64 = row.get(1)?.unwrap_or_default();
        let mut info = TableInfo {
            identity: row.get(2)?.unwrap_or_default(),
            partitioned: row.get(3)?.unwrap_or_default(),
            pages: row.get(4)?.unwrap_or_default(),
            rls_enabled: row.get(5)?.unwrap_or_default(),
            ..TableInfo::default()
        };
        // A partitioned table has no pages of its own: its size is its partitions'.
        if info.partitioned {
            let q = "SELECT coalesce(sum(c.relpages), 0)::int8 FROM pg_partition_tree($1::oid::regclass) p
                       JOIN pg_class c ON c.oid = p.relid WHERE p.isleaf";
            info.pages = c.select(q, None, &[DatumWithOid::from(oid)])?.first().get_one::<i64>()?.unwrap_or(0);
        }
        let arg = [DatumWithOid::from(oid)];
        let q = "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
                  WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum";
        for row in c.select(q, None, &arg)? {
            info.columns.push(ColumnInfo {
                name: row.get(1)?.unwrap_or_default(),
                type_: from_format_type(&row.get::<String>(2)?.unwrap_or_default()),
                not_null: row.get(3)?.unwrap_or_default(),
            });
        }
        let q = "SELECT ic.relname::text, x.indisvalid, x.indisunique, x.indpred IS NOT NULL,
                        ARRAY(SELECT coalesce(a.attname::text, '(expression)')
                                FROM unnest(x.indkey[0:x.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord)
                                LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum > 0
                               ORDER BY k.ord)
                   FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid WHERE x.indrelid = $1::oid";
        for row in c.select(q, None, &arg)? {
            info.indexes.push(IndexInfo {
                name: row.get(1)?.unwrap_or_default(),
                valid: row.get(2)?.unwrap_or_default(),
                unique: row.get(3)?.unwrap_or_default(),
                partial: row.get(4)?.unwrap_or_default(),
                columns: row.get::<Vec<Option<String>>>(5)?.unwrap_or_default().into_iter().flatten().collect(),
            });
        }
        // Validated CHECK (col IS NOT NULL): let SET NOT NULL skip its scan.
        let q = "SELECT a.attname::text FROM pg_constraint k
                   JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                  WHERE k.conrelid = $1::oid AND k.contype = 'c' AND k.convalidated AND cardinality(k.conkey) = 1
                    AND pg_get_constraintdef(k.oid) = 'CHECK ((' || quote_ident(a.attname) || ' IS NOT NULL))'";
        for row in c.select(q, None, &arg)? {
            if let Some(n) = row.get::<String>(1)? {
                info.not_null_checked.push(n);
            }
        }
        Ok(Some(info))
    }

    fn index(c: &SpiClient, i: &RelName) -> R<Option<ExistingIndex>> {
        let q = "SELECT quote_ident(n.nspname) || '.' || quote_ident(ic.relname), tn.nspname::text, t.relname::text, t.relkind = 'p'
                   FROM pg_class ic JOIN pg_namespace n ON n.oid = ic.relnamespace
                   JOIN pg_index x ON x.indexrelid = ic.oid
                   JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
                  WHERE ic.oid = to_regclass($1)";
        let Some(row) = c.select(q, None, &[DatumWithOid::from(regclass_text(i).as_str())])?.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(ExistingIndex {
            identity: row.get(1)?.unwrap_or_default(),
            table: RelName { schema: row.get(2)?, name: row.get::<String>(3)?.unwrap_or_default() },
            table_partitioned: row.get(4)?.unwrap_or_default(),
        }))
    }
}
