//! Hand-built snapshots for unit tests: a catalog described in a few lines,
//! with no server.

use super::*;

pub struct SnapshotBuilder {
    snap: Snapshot,
    next_oid: Oid,
}

/// Quotes like `quote_ident` for the names tests use (no keyword list).
pub fn quote(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

pub const CURRENT_SETTING: Oid = 2077;
pub const UUID_EQ: Oid = 2972;
pub const INT4_EQ: Oid = 96;

/// `<col attnum> = current_setting('app.current_tenant')::uuid`, unwrapped.
pub fn tree_tenant_eq_setting(attnum: i16) -> String {
    format!("{{OPEXPR :opno 2972 :opfuncid 2956 :opresulttype 16 :args ({{VAR :varno 1 :varattno {attnum} :vartype 2950 :varlevelsup 0}} {{FUNCEXPR :funcid 2953 :funcresulttype 2950 :args ({{FUNCEXPR :funcid 2077 :funcresulttype 25 :args ({{CONST :consttype 25 :constisnull false :constvalue 22 [ 88 0 0 0 97 ]}})}})}}) :location 1}}")
}

/// The same predicate with the call wrapped in `(SELECT ...)`.
pub fn tree_tenant_eq_wrapped(attnum: i16) -> String {
    format!("{{OPEXPR :opno 2972 :args ({{VAR :varno 1 :varattno {attnum} :varlevelsup 0}} {{SUBLINK :subLinkType 4 :subselect {{QUERY :targetList ({{TARGETENTRY :expr {{FUNCEXPR :funcid 2953 :args ({{FUNCEXPR :funcid 2077 :args ({{CONST :consttype 25 :constisnull false :constvalue 5 [ 1 2 3 4 5 ]}})}})}}}})}}}}) :location 1}}")
}

pub fn tree_const_true() -> String {
    "{CONST :consttype 16 :constlen 1 :constbyval true :constisnull false :location 1 :constvalue 1 [ 1 0 0 0 0 0 0 0 ]}".into()
}

/// `owner_id = 42`: a predicate on another column, with no tenant reference.
pub fn tree_column_eq_const(attnum: i16) -> String {
    format!("{{OPEXPR :opno 96 :args ({{VAR :varno 1 :varattno {attnum} :varlevelsup 0}} {{CONST :consttype 23 :constisnull false :constvalue 4 [ 42 0 0 0 0 0 0 0 ]}}) :location 1}}")
}

impl Default for SnapshotBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SnapshotBuilder {
    pub fn new() -> SnapshotBuilder {
        let now = 1_800_000_000.0;
        let mut snap = Snapshot {
            database: "app".into(),
            server_version_num: 150_000,
            now,
            postmaster_start: now - 30.0 * 86_400.0,
            ..Snapshot::default()
        };
        snap.stable_functions.insert(CURRENT_SETTING, "pg_catalog.current_setting".into());
        snap.reflexive_operators.extend([UUID_EQ, INT4_EQ, 98]);
        snap.roles.push(Role {
            oid: BOOTSTRAP_SUPERUSER,
            name: "postgres".into(),
            quoted: "postgres".into(),
            superuser: true,
            bypass_rls: true,
            can_login: true,
        });
        SnapshotBuilder { snap, next_oid: 16_384 }
    }

    fn oid(&mut self) -> Oid {
        self.next_oid += 1;
        self.next_oid
    }

    fn add_relation(&mut self, schema: &str, name: &str, kind: RelKind, cols: &[(&str, &str)]) -> Oid {
        let oid = self.oid();
        let columns = cols
            .iter()
            .enumerate()
            .map(|(i, (n, t))| Column {
                attnum: i as i16 + 1,
                name: n.to_string(),
                quoted: quote(n),
                type_oid: 0,
                type_name: t.to_string(),
                not_null: false,
            })
            .collect();
        self.snap.relations.push(Relation {
            oid,
            schema: schema.into(),
            name: name.into(),
            identity: format!("{}.{}", quote(schema), quote(name)),
            kind,
            owner: BOOTSTRAP_SUPERUSER,
            rls_enabled: false,
            rls_forced: false,
            is_partition: false,
            parent: None,
            pages: 0,
            tuples: 0.0,
            columns,
        });
        oid
    }

    pub fn table(&mut self, name: &str, cols: &[(&str, &str)]) -> Oid {
        self.add_relation("public", name, RelKind::Table, cols)
    }

    pub fn partitioned(&mut self, name: &str, cols: &[(&str, &str)]) -> Oid {
        self.add_relation("public", name, RelKind::PartitionedTable, cols)
    }

    pub fn view(&mut self, name: &str, cols: &[(&str, &str)]) -> Oid {
        self.add_relation("public", name, RelKind::View, cols)
    }

    pub fn partition_of(&mut self, parent: Oid, name: &str) -> Oid {
        let cols: Vec<(String, String)> =
            self.rel(parent).columns.iter().map(|c| (c.name.clone(), c.type_name.clone())).collect();
        let refs: Vec<(&str, &str)> = cols.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let oid = self.add_relation("public", name, RelKind::Table, &refs);
        let r = self.rel_mut(oid);
        r.is_partition = true;
        r.parent = Some(parent);
        oid
    }

    pub fn rel(&self, oid: Oid) -> &Relation {
        self.snap.relations.iter().find(|r| r.oid == oid).expect("relation")
    }

    pub fn rel_mut(&mut self, oid: Oid) -> &mut Relation {
        self.snap.relations.iter_mut().find(|r| r.oid == oid).expect("relation")
    }

    pub fn attnum(&self, table: Oid, col: &str) -> i16 {
        self.rel(table).column(col).unwrap_or_else(|| panic!("no column {col}")).attnum
    }

    pub fn rls(&mut self, table: Oid, enabled: bool, forced: bool) -> &mut Self {
        let r = self.rel_mut(table);
        r.rls_enabled = enabled;
        r.rls_forced = forced;
        self
    }

    pub fn owner(&mut self, table: Oid, role: Oid) -> &mut Self {
        self.rel_mut(table).owner = role;
        self
    }

    pub fn pages(&mut self, table: Oid, pages: i64) -> &mut Self {
        self.rel_mut(table).pages = pages;
        self
    }

    /// A plain btree index on the named columns; returns its oid.
    pub fn index(&mut self, table: Oid, name: &str, cols: &[&str]) -> Oid {
        let keys: Vec<i16> = cols.iter().map(|c| self.attnum(table, c)).collect();
        self.index_keys(table, name, keys)
    }

    pub fn index_keys(&mut self, table: Oid, name: &str, keys: Vec<i16>) -> Oid {
        let oid = self.oid();
        let schema = self.rel(table).schema.clone();
        let n = keys.len();
        self.snap.indexes.push(Index {
            oid,
            table,
            name: name.into(),
            quoted_name: quote(name),
            identity: format!("{}.{}", quote(&schema), quote(name)),
            am: "btree".into(),
            unique: false,
            primary: false,
            valid: true,
            is_partition: false,
            nkeys: n,
            classes: vec![3125; n],
            collations: vec![0; n],
            options: vec![0; n],
            default_opclasses: true,
            keys,
            exprs: None,
            pred: None,
            pred_sql: None,
            constraint: None,
            scans: Some(10),
            pages: 1,
        });
        oid
    }

    pub fn index_mut(&mut self, oid: Oid) -> &mut Index {
        self.snap.indexes.iter_mut().find(|i| i.oid == oid).expect("index")
    }

    pub fn primary_key(&mut self, table: Oid, cols: &[&str]) -> Oid {
        let tname = self.rel(table).name.clone();
        let idx = self.index(table, &format!("{tname}_pkey"), cols);
        {
            let i = self.index_mut(idx);
            i.unique = true;
            i.primary = true;
            i.constraint = Some('p');
        }
        let keys = self.index_mut(idx).keys.clone();
        self.constraint(table, &format!("{tname}_pkey"), 'p', keys, None, vec![]);
        idx
    }

    pub fn constraint(
        &mut self,
        table: Oid,
        name: &str,
        contype: char,
        keys: Vec<i16>,
        ref_table: Option<Oid>,
        ref_keys: Vec<i16>,
    ) -> Oid {
        let oid = self.oid();
        self.snap.constraints.push(Constraint {
            oid,
            name: name.into(),
            quoted: quote(name),
            table,
            contype,
            validated: true,
            keys,
            ref_table,
            ref_keys,
            on_delete: if contype == 'f' { Some('a') } else { None },
            inherited: false,
        });
        oid
    }

    pub fn foreign_key(&mut self, table: Oid, name: &str, cols: &[&str], ref_table: Oid) -> Oid {
        let keys = cols.iter().map(|c| self.attnum(table, c)).collect();
        self.constraint(table, name, 'f', keys, Some(ref_table), vec![1])
    }

    pub fn policy(&mut self, table: Oid, name: &str, using: Option<&str>, with_check: Option<&str>) -> Oid {
        let oid = self.oid();
        self.snap.policies.push(Policy {
            oid,
            name: name.into(),
            quoted: quote(name),
            table,
            cmd: '*',
            permissive: true,
            roles: vec![0],
            using: using.map(|t| nodetree::parse(t).expect("test tree parses")),
            with_check: with_check.map(|t| nodetree::parse(t).expect("test tree parses")),
            using_sql: using.map(|_| "(tenant_id = (current_setting('app.current_tenant'::text))::uuid)".into()),
            with_check_sql: with_check.map(|_| "(tenant_id = (current_setting('app.current_tenant'::text))::uuid)".into()),
        });
        oid
    }

    pub fn policy_mut(&mut self, oid: Oid) -> &mut Policy {
        self.snap.policies.iter_mut().find(|p| p.oid == oid).expect("policy")
    }

    pub fn role(&mut self, name: &str, login: bool, superuser: bool, bypass_rls: bool) -> Oid {
        let oid = self.oid();
        self.snap.roles.push(Role {
            oid,
            name: name.into(),
            quoted: quote(name),
            superuser,
            bypass_rls,
            can_login: login,
        });
        oid
    }

    pub fn grant(&mut self, table: Oid, grantee: Oid, privilege: &str) -> &mut Self {
        self.snap.grants.push(Grant { table, grantee, privilege: privilege.into() });
        self
    }

    pub fn snapshot_mut(&mut self) -> &mut Snapshot {
        &mut self.snap
    }

    pub fn build(&self) -> Snapshot {
        let mut s = self.snap.clone();
        s.index();
        s
    }
}

/// Helpers for the operations snapshot (snapshot/server.rs).
impl SnapshotBuilder {
    /// A healthy PostgreSQL 15 primary as a `pg_monitor` member sees it:
    /// the settings the configuration checks read, and this database.
    pub fn default_settings(&mut self) -> &mut Self {
        for (k, v) in [
            ("shared_preload_libraries", "pg_stat_statements"),
            ("log_min_duration_statement", "1000"),
            ("max_connections", "100"),
            ("superuser_reserved_connections", "3"),
            ("idle_in_transaction_session_timeout", "300000"),
            ("statement_timeout", "0"),
            ("lock_timeout", "0"),
            ("archive_mode", "off"),
            ("ssl", "on"),
            ("password_encryption", "scram-sha-256"),
            ("fsync", "on"),
            ("full_page_writes", "on"),
            ("synchronous_commit", "on"),
            ("data_checksums", "on"),
            ("autovacuum", "on"),
            ("track_counts", "on"),
        ] {
            self.setting(k, v);
        }
        let ops = &mut self.snap.ops;
        ops.database_oid = 5;
        ops.databases = vec![server::Database { oid: 5, name: "app".into(), quoted: "app".into(), xid_age: 1_000, allow_connections: true, owner: BOOTSTRAP_SUPERUSER }];
        self
    }

    /// Sets a server setting (source: configuration file).
    pub fn setting(&mut self, name: &str, value: &str) -> &mut Self {
        let context = match name {
            "max_connections" | "superuser_reserved_connections" | "shared_preload_libraries" | "archive_mode" => "postmaster",
            "data_checksums" => "internal",
            "ssl" | "fsync" | "full_page_writes" | "autovacuum" => "sighup",
            "log_min_duration_statement" | "track_counts" => "superuser",
            _ => "user",
        };
        self.snap.ops.settings.insert(
            name.into(),
            server::Setting {
                name: name.into(),
                value: value.into(),
                unit: None,
                source: "configuration file".into(),
                context: context.into(),
                boot_val: None,
            },
        );
        self
    }

    pub fn extension(&mut self, name: &str, installed: &str, default_version: &str) -> &mut Self {
        self.snap.ops.extensions.push(server::Extension {
            name: name.into(),
            quoted: quote(name),
            schema: "public".into(),
            installed: installed.into(),
            default_version: Some(default_version.into()),
        });
        self
    }

    /// pg_stat_all_tables and relation options of a table.
    pub fn table_stats(&mut self, table: Oid, stats: server::TableStats) -> &mut Self {
        self.snap.ops.table_stats.insert(table, stats);
        self
    }
}
