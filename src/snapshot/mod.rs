//! The catalog snapshot: everything the checks look at, read once per report
//! (`read.rs`) into plain structs. Checks never query the server themselves.
//!
//! Names are kept twice: raw (`name`) for matching and quoted by the server's
//! own `quote_ident` (`quoted`) for identities and generated SQL, so quoting
//! rules (keywords, case, non-ASCII) are PostgreSQL's, not ours.

pub mod integrity;
pub mod nodetree;
pub mod read;
pub mod server;
mod read_integrity;

use std::collections::{BTreeMap, HashMap, HashSet};

use nodetree::Node;

pub type Oid = u32;

/// Bootstrap superuser (`BOOTSTRAP_SUPERUSERID`).
pub const BOOTSTRAP_SUPERUSER: Oid = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelKind {
    Table,
    PartitionedTable,
    View,
    MatView,
    Foreign,
}

impl RelKind {
    pub fn from_char(c: char) -> Option<RelKind> {
        Some(match c {
            'r' => RelKind::Table,
            'p' => RelKind::PartitionedTable,
            'v' => RelKind::View,
            'm' => RelKind::MatView,
            'f' => RelKind::Foreign,
            _ => return None,
        })
    }

    /// `pg_identify_object()`'s `type` for this relation kind.
    pub fn object_type(self) -> &'static str {
        match self {
            RelKind::Table | RelKind::PartitionedTable => "table",
            RelKind::View => "view",
            RelKind::MatView => "materialized view",
            RelKind::Foreign => "foreign table",
        }
    }

    pub fn is_table(self) -> bool {
        matches!(self, RelKind::Table | RelKind::PartitionedTable)
    }
}

#[derive(Clone, Debug)]
pub struct Column {
    pub attnum: i16,
    pub name: String,
    pub quoted: String,
    pub type_oid: Oid,
    /// `format_type(atttypid, atttypmod)`.
    pub type_name: String,
    pub not_null: bool,
}

#[derive(Clone, Debug)]
pub struct Relation {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    /// `schema.name`, each part through `quote_ident`: `pg_identify_object` identity.
    pub identity: String,
    pub kind: RelKind,
    pub owner: Oid,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub is_partition: bool,
    pub parent: Option<Oid>,
    pub pages: i64,
    pub tuples: f64,
    pub columns: Vec<Column>,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_by_num(&self, attnum: i16) -> Option<&Column> {
        self.columns.iter().find(|c| c.attnum == attnum)
    }

    pub fn column_identity(&self, col: &Column) -> String {
        format!("{}.{}", self.identity, col.quoted)
    }

    /// Estimated size from `relpages` (kept current by VACUUM/ANALYZE) so the
    /// report needs no filesystem call per table.
    pub fn estimated_bytes(&self) -> i64 {
        self.pages.max(0) * 8192
    }
}

#[derive(Clone, Debug)]
pub struct Index {
    pub oid: Oid,
    pub table: Oid,
    pub name: String,
    pub quoted_name: String,
    pub identity: String,
    pub am: String,
    pub unique: bool,
    pub primary: bool,
    pub valid: bool,
    /// The index is a partition of a partitioned index (judged on the parent).
    pub is_partition: bool,
    /// Number of key columns; `keys[nkeys..]` are INCLUDE columns.
    pub nkeys: usize,
    /// `indkey`: attnums, 0 for an expression.
    pub keys: Vec<i16>,
    pub classes: Vec<Oid>,
    pub collations: Vec<Oid>,
    pub options: Vec<i16>,
    /// Every key column uses its type's default operator class.
    pub default_opclasses: bool,
    /// `indexprs` node tree text (compared for equality only).
    pub exprs: Option<String>,
    /// `indpred` node tree text (compared for equality only).
    pub pred: Option<String>,
    /// `pg_get_expr(indpred, indrelid)` for generated SQL.
    pub pred_sql: Option<String>,
    /// contype of a constraint this index backs (`p`, `u`, `x`).
    pub constraint: Option<char>,
    pub scans: Option<i64>,
    pub pages: i64,
}

impl Index {
    pub fn key_columns(&self) -> &[i16] {
        &self.keys[..self.nkeys.min(self.keys.len())]
    }

    pub fn is_partial(&self) -> bool {
        self.pred.is_some()
    }

    pub fn has_expressions(&self) -> bool {
        self.exprs.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct Constraint {
    pub oid: Oid,
    pub name: String,
    pub quoted: String,
    pub table: Oid,
    pub contype: char,
    pub validated: bool,
    pub keys: Vec<i16>,
    pub ref_table: Option<Oid>,
    pub ref_keys: Vec<i16>,
    /// `confdeltype`: a, r, c, n, d.
    pub on_delete: Option<char>,
    /// Inherited from a partitioned parent's constraint (`conparentid <> 0`).
    pub inherited: bool,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub oid: Oid,
    pub name: String,
    pub quoted: String,
    pub table: Oid,
    /// `polcmd`: r, a, w, d or `*`.
    pub cmd: char,
    pub permissive: bool,
    pub roles: Vec<Oid>,
    pub using: Option<Node>,
    pub with_check: Option<Node>,
    pub using_sql: Option<String>,
    pub with_check_sql: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub oid: Oid,
    pub name: String,
    pub quoted: String,
    pub superuser: bool,
    pub bypass_rls: bool,
    pub can_login: bool,
}

/// One privilege on a relation from `aclexplode(relacl)`; grantee 0 is PUBLIC.
#[derive(Clone, Debug)]
pub struct Grant {
    pub table: Oid,
    pub grantee: Oid,
    pub privilege: String,
}

/// A part of the snapshot that is read by one query and may fail on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    Relations,
    Indexes,
    Constraints,
    Policies,
    Roles,
    Grants,
    Functions,
    IndexStats,
    Waivers,
    Types,
    Triggers,
    Sequences,
    PiiRegistry,
    ServerLibraries,
    Samples,
    // Operations (maintenance, configuration, privileges): snapshot/server.rs.
    Settings,
    Activity,
    Archiver,
    Replication,
    RoleSettings,
    Databases,
    Passwords,
    Extensions,
    Statements,
    SecurityDefiners,
    Schemas,
    Views,
    TableStats,
    BloatInputs,
    Measured,
    /// Rows of migration-tracking tables (src/migrations/tracking.rs).
    MigrationState,
    /// pg_stat_statements parsed for the workload checks (src/migrations/workload.rs).
    Workload,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionState {
    /// The section could not be read: its checks report `error` rows.
    Failed { sqlstate: String, message: String },
    /// Not readable here (privileges, missing extension): its checks are `skipped`.
    Unavailable(String),
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub database: String,
    pub server_version_num: i32,
    pub in_recovery: bool,
    /// Seconds since the epoch when the snapshot was taken.
    pub now: f64,
    /// `pg_stat_database.stats_reset` for this database, if ever reset.
    pub stats_reset: Option<f64>,
    pub postmaster_start: f64,
    pub relations: Vec<Relation>,
    pub indexes: Vec<Index>,
    pub constraints: Vec<Constraint>,
    pub policies: Vec<Policy>,
    pub roles: Vec<Role>,
    pub grants: Vec<Grant>,
    /// STABLE functions by oid, with their qualified name (for per-row policy calls).
    pub stable_functions: HashMap<Oid, String>,
    /// Operators named `=`, `<=`, `>=` (reflexive comparisons of constants).
    pub reflexive_operators: HashSet<Oid>,
    /// Unexpired rows of `readiness_waivers`.
    pub waivers: Vec<crate::model::Waiver>,
    /// The extension's schema, quoted, for reading its own tables.
    pub extension_schema: Option<String>,
    /// Domain and enum types by oid.
    pub types: HashMap<Oid, integrity::TypeInfo>,
    pub triggers: Vec<integrity::Trigger>,
    pub rules: Vec<integrity::Rule>,
    pub sequences: Vec<integrity::SequenceUse>,
    pub pii_registry: Vec<integrity::PiiRegistration>,
    /// `shared_preload_libraries`, when the caller may read it.
    pub preload_libraries: Option<String>,
    pub samples: integrity::Samples,
    pub sections: BTreeMap<Section, SectionState>,
    rel_pos: HashMap<Oid, usize>,
    role_pos: HashMap<Oid, usize>,
    /// Positions of each table's rows, so per-table lookups stay linear in
    /// the catalog (built by `index()`).
    by_table: ByTable,
    /// Server state, settings and statistics (snapshot/server.rs).
    pub ops: server::Ops,
    /// Recognised migration-tracking tables and what their rows say.
    pub migration_tables: Vec<crate::migrations::tracking::TrackingTable>,
    /// Frequent single-table statements and their hypothetical-index costs.
    pub workload: crate::migrations::workload::Workload,
}

/// Row positions per table for the vectors checks look up by table, and the
/// vector lengths they were built from: a vector that grew since (a snapshot
/// filled without calling `index()` again) is scanned instead, so a lookup is
/// never stale.
#[derive(Clone, Debug, Default)]
struct ByTable {
    indexes: PerTable,
    constraints: PerTable,
    policies: PerTable,
    triggers: PerTable,
    sequences: PerTable,
}

#[derive(Clone, Debug, Default)]
struct PerTable {
    len: usize,
    pos: HashMap<Oid, Vec<usize>>,
}

impl PerTable {
    fn build(tables: impl Iterator<Item = Oid>) -> PerTable {
        let mut pos: HashMap<Oid, Vec<usize>> = HashMap::new();
        let mut len = 0;
        for (i, t) in tables.enumerate() {
            pos.entry(t).or_default().push(i);
            len = i + 1;
        }
        PerTable { len, pos }
    }

    /// The rows of `items` whose table is `table`, in vector order.
    fn of<'a, T>(&'a self, items: &'a [T], table: Oid, table_of: fn(&T) -> Oid) -> impl Iterator<Item = &'a T> + 'a {
        let fresh = self.len == items.len();
        let positions: &[usize] = if fresh { self.pos.get(&table).map(Vec::as_slice).unwrap_or(&[]) } else { &[] };
        let scan = (!fresh).then(|| items.iter().filter(move |x| table_of(x) == table));
        positions.iter().map(move |&i| &items[i]).chain(scan.into_iter().flatten())
    }
}

impl Snapshot {
    /// Rebuilds the lookup maps; call after filling the vectors.
    pub fn index(&mut self) {
        self.rel_pos = self.relations.iter().enumerate().map(|(i, r)| (r.oid, i)).collect();
        self.role_pos = self.roles.iter().enumerate().map(|(i, r)| (r.oid, i)).collect();
        self.by_table = ByTable {
            indexes: PerTable::build(self.indexes.iter().map(|x| x.table)),
            constraints: PerTable::build(self.constraints.iter().map(|x| x.table)),
            policies: PerTable::build(self.policies.iter().map(|x| x.table)),
            triggers: PerTable::build(self.triggers.iter().map(|x| x.table)),
            sequences: PerTable::build(self.sequences.iter().map(|x| x.table)),
        };
    }

    pub fn relation(&self, oid: Oid) -> Option<&Relation> {
        self.rel_pos.get(&oid).map(|&i| &self.relations[i])
    }

    pub fn role(&self, oid: Oid) -> Option<&Role> {
        self.role_pos.get(&oid).map(|&i| &self.roles[i])
    }

    pub fn role_name(&self, oid: Oid) -> String {
        if oid == 0 {
            return "PUBLIC".into();
        }
        self.role(oid).map(|r| r.quoted.clone()).unwrap_or_else(|| format!("role {oid}"))
    }

    /// Tables judged on their own: ordinary and partitioned tables that are not
    /// partitions (a partition is judged through its parent).
    pub fn top_tables(&self) -> impl Iterator<Item = &Relation> {
        self.relations.iter().filter(|r| r.kind.is_table() && !r.is_partition)
    }

    pub fn is_tenant_table(&self, rel: &Relation, tenant_column: &str) -> bool {
        rel.kind.is_table() && rel.column(tenant_column).is_some()
    }

    pub fn indexes_of(&self, table: Oid) -> impl Iterator<Item = &Index> {
        self.by_table.indexes.of(&self.indexes, table, |x| x.table)
    }

    pub fn policies_of(&self, table: Oid) -> impl Iterator<Item = &Policy> {
        self.by_table.policies.of(&self.policies, table, |x| x.table)
    }

    /// Constraints on `table` (`conrelid`), in snapshot order.
    pub fn constraints_of(&self, table: Oid) -> impl Iterator<Item = &Constraint> {
        self.by_table.constraints.of(&self.constraints, table, |x| x.table)
    }

    pub fn triggers_of(&self, table: Oid) -> impl Iterator<Item = &integrity::Trigger> {
        self.by_table.triggers.of(&self.triggers, table, |x| x.table)
    }

    pub fn sequences_of(&self, table: Oid) -> impl Iterator<Item = &integrity::SequenceUse> {
        self.by_table.sequences.of(&self.sequences, table, |x| x.table)
    }

    pub fn section_state(&self, section: Section) -> Option<&SectionState> {
        self.sections.get(&section)
    }
}

/// Joins quoted column names for SQL column lists.
pub fn column_list<'a>(rel: &'a Relation, attnums: &[i16]) -> Option<String> {
    let mut parts = Vec::with_capacity(attnums.len());
    for a in attnums {
        parts.push(rel.column_by_num(*a)?.quoted.as_str());
    }
    Some(parts.join(", "))
}

#[cfg(test)]
pub mod build;
