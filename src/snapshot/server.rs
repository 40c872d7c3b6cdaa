//! The live server as the maintenance, configuration and privilege checks see
//! it: settings, activity, archiver and replication state, per-database and
//! per-role settings, SECURITY DEFINER functions, schema ACLs, views, table
//! statistics and the physical column data the bloat estimate needs.
//!
//! Each `read_*` function is one section of the snapshot and reads each
//! catalog once (never once per table). Everything here is visible to a
//! `pg_monitor` member; what is not (stored password hashes, settings marked
//! superuser-only for a role without pg_read_all_settings) is recorded as
//! missing, and the checks that need it report `skipped` with the reason.

use std::collections::{HashMap, HashSet};

use super::{Oid, Section, SectionState, Snapshot};

/// One row of `pg_settings`.
#[derive(Clone, Debug, Default)]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub unit: Option<String>,
    /// `pg_settings.source`: default, configuration file, database, user, session, ...
    pub source: String,
    /// `pg_settings.context`: postmaster (restart), sighup (reload), superuser, user, ...
    pub context: String,
    pub boot_val: Option<String>,
}

impl Setting {
    /// The value the server runs with for sessions that set nothing themselves:
    /// a value set by this session, its database or its role does not count.
    pub fn server_value(&self) -> &str {
        match self.source.as_str() {
            "session" | "client" | "database" | "user" | "database user" => self.boot_val.as_deref().unwrap_or(&self.value),
            _ => &self.value,
        }
    }

    /// Whether a change needs a restart or a reload (for remediation notes).
    pub fn takes_effect(&self) -> &'static str {
        match self.context.as_str() {
            "postmaster" | "internal" => "needs a server restart",
            "sighup" => "takes effect on SELECT pg_reload_conf()",
            _ => "takes effect on SELECT pg_reload_conf() for new sessions",
        }
    }
}

/// A client session from `pg_stat_activity`.
#[derive(Clone, Debug)]
pub struct Session {
    pub pid: i32,
    pub database: Option<String>,
    pub user: Option<String>,
    /// NULL when the caller may not see other roles' sessions.
    pub state: Option<String>,
    pub seconds_in_state: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub struct Archiver {
    pub archived_count: i64,
    pub last_archived: Option<f64>,
    pub failed_count: i64,
    pub last_failed: Option<f64>,
    pub last_failed_wal: Option<String>,
}

/// One row of `pg_db_role_setting` that applies in this database.
#[derive(Clone, Debug)]
pub struct RoleSetting {
    /// None = every database.
    pub database: Option<Oid>,
    /// None = every role.
    pub role: Option<Oid>,
    pub settings: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Database {
    pub oid: Oid,
    pub name: String,
    pub quoted: String,
    pub xid_age: i64,
    pub allow_connections: bool,
    /// `datdba`: who `pg_database_owner` stands for in this database.
    pub owner: Oid,
}

#[derive(Clone, Debug)]
pub struct Extension {
    pub name: String,
    pub quoted: String,
    pub schema: String,
    pub installed: String,
    pub default_version: Option<String>,
}

/// A statement of pg_stat_statements whose mean time is above a second. The
/// text is the normalized statement, with any remaining literal masked.
#[derive(Clone, Debug)]
pub struct SlowStatement {
    pub queryid: i64,
    pub calls: i64,
    pub mean_ms: f64,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct SecDefFunction {
    pub oid: Oid,
    /// `pg_identify_object()` type: function or procedure.
    pub kind: String,
    pub identity: String,
    pub schema: Oid,
    pub owner: Oid,
    /// `proconfig`'s search_path, if the function pins one (raw text).
    pub search_path: Option<String>,
    pub public_execute: bool,
}

#[derive(Clone, Debug)]
pub struct Schema {
    pub oid: Oid,
    pub name: String,
    pub quoted: String,
    pub owner: Oid,
    /// Grantees holding CREATE (0 = PUBLIC); the owner is implicit.
    pub create_grantees: Vec<Oid>,
    /// Not excluded by pg_readiness.excluded_schemas.
    pub inspected: bool,
}

#[derive(Clone, Debug, Default)]
pub struct TableStats {
    pub live: i64,
    pub dead: i64,
    pub mod_since_analyze: i64,
    pub last_vacuum: Option<f64>,
    pub last_autovacuum: Option<f64>,
    pub last_analyze: Option<f64>,
    pub last_autoanalyze: Option<f64>,
    pub xid_age: Option<i64>,
    /// `autovacuum_enabled` storage parameter, if set.
    pub autovacuum_enabled: Option<bool>,
    pub fillfactor: Option<i32>,
    pub toast_pages: i64,
    /// The table has a row in pg_stat_all_tables.
    pub has_stats: bool,
}

/// Physical description of one attribute (dropped ones included: they still
/// count in the tuple's null bitmap).
#[derive(Clone, Debug)]
pub struct PhysColumn {
    pub attnum: i16,
    pub name: String,
    pub len: i16,
    /// c, s, i, d
    pub align: char,
    /// p, e, m, x
    pub storage: char,
    pub type_oid: Oid,
    pub dropped: bool,
}

/// `pg_stats` of one column (never the values themselves: only fractions and widths).
#[derive(Clone, Copy, Debug)]
pub struct ColumnStat {
    pub null_frac: f64,
    pub avg_width: i32,
    pub n_distinct: f64,
}

#[derive(Clone, Debug, Default)]
pub struct IndexPhys {
    pub tuples: f64,
    pub fillfactor: Option<i32>,
    pub deduplicate: Option<bool>,
}

/// A measurement by the pgstattuple extension.
#[derive(Clone, Debug)]
pub struct Measured {
    pub method: &'static str,
    pub total_bytes: i64,
    pub waste_bytes: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Ops {
    pub settings: HashMap<String, Setting>,
    pub sessions: Vec<Session>,
    pub archiver: Option<Archiver>,
    pub wal_senders: i64,
    pub active_physical_slots: i64,
    pub database_oid: Oid,
    pub role_settings: Vec<RoleSetting>,
    pub databases: Vec<Database>,
    /// LOGIN roles whose stored password is an MD5 hash.
    pub md5_roles: Vec<Oid>,
    pub extensions: Vec<Extension>,
    pub slow_statements: Vec<SlowStatement>,
    /// Statements pg_stat_statements holds for this database.
    pub statements_seen: i64,
    pub secdef_functions: Vec<SecDefFunction>,
    pub schemas: Vec<Schema>,
    /// View oid -> relations its rules read directly.
    pub view_reads: HashMap<Oid, Vec<Oid>>,
    /// Views with `security_invoker` set (PG15+).
    pub invoker_views: HashSet<Oid>,
    pub table_stats: HashMap<Oid, TableStats>,
    pub phys_columns: HashMap<Oid, Vec<PhysColumn>>,
    /// (table oid, attnum) -> statistics.
    pub column_stats: HashMap<(Oid, i16), ColumnStat>,
    pub index_phys: HashMap<Oid, IndexPhys>,
    /// Relations measured by pgstattuple (bloat_method approx/exact).
    pub measured: HashMap<Oid, Measured>,
    /// Why the requested pgstattuple method was not used for everything.
    pub measure_note: Option<String>,
    /// SELECT statements of pg_stat_statements (normalised text), for the workload checks.
    pub workload_statements: Vec<WorkloadStatement>,
}

/// At most this many SELECT statements are kept for the workload checks.
pub const WORKLOAD_MAX_STATEMENTS: usize = 2000;

/// A SELECT of pg_stat_statements, as normalised by it (`$n` for constants).
#[derive(Clone, Debug)]
pub struct WorkloadStatement {
    pub queryid: i64,
    pub calls: i64,
    pub total_ms: f64,
    pub text: String,
}

impl Ops {
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.get(name)
    }

    pub fn schema(&self, oid: Oid) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.oid == oid)
    }

    pub fn schema_named(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.name == name)
    }
}

/// `on`/`true`/`1`/`yes` the way PostgreSQL's parse_bool reads them.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// `key=value` storage parameters (reloptions, proconfig, setconfig).
pub fn option<'a>(options: &'a [String], key: &str) -> Option<&'a str> {
    options.iter().find_map(|o| o.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

/// Masks what may remain of literals in a statement text: quoted strings
/// and numbers become `?`. pg_stat_statements normalizes constants to `$n`,
/// but utility statements keep their text as written.
pub fn mask_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut prev_ident = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            loop {
                match chars.next() {
                    None => break,
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                    }
                    Some('\'') => break,
                    _ => {}
                }
            }
            out.push('?');
            prev_ident = false;
        } else if c.is_ascii_digit() && !prev_ident {
            while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '.') {
                chars.next();
            }
            out.push('?');
        } else {
            prev_ident = c.is_alphanumeric() || c == '_' || c == '$';
            out.push(c);
        }
    }
    out
}

/// Empties what a failed section had read (a failed section leaves no partial data).
pub fn clear(snap: &mut Snapshot, which: Section) {
    let o = &mut snap.ops;
    match which {
        Section::Settings => o.settings.clear(),
        Section::Activity => o.sessions.clear(),
        Section::Archiver => o.archiver = None,
        Section::Replication => {
            o.wal_senders = 0;
            o.active_physical_slots = 0;
        }
        Section::RoleSettings => o.role_settings.clear(),
        Section::Databases => o.databases.clear(),
        Section::Passwords => o.md5_roles.clear(),
        Section::Extensions => o.extensions.clear(),
        Section::Statements => {
            o.slow_statements.clear();
            o.workload_statements.clear();
        }
        Section::SecurityDefiners => o.secdef_functions.clear(),
        Section::Schemas => o.schemas.clear(),
        Section::Views => {
            o.view_reads.clear();
            o.invoker_views.clear();
        }
        Section::TableStats => o.table_stats.clear(),
        Section::BloatInputs => {
            o.phys_columns.clear();
            o.column_stats.clear();
            o.index_phys.clear();
        }
        Section::Measured => o.measured.clear(),
        _ => {}
    }
}

/// Marks a section as not readable here: its checks report `skipped`.
pub fn unavailable(snap: &mut Snapshot, which: Section, reason: impl Into<String>) {
    snap.sections.insert(which, SectionState::Unavailable(reason.into()));
}

pub use spi::*;

mod spi {
    use super::*;
    use crate::config::Config;
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;
    use pgrx::spi::{SpiClient, SpiError, SpiHeapTupleData};

    type R<T> = Result<T, SpiError>;

    fn get<T: IntoDatum + FromDatum>(row: &SpiHeapTupleData, i: usize) -> R<Option<T>> {
        row.get::<T>(i)
    }

    fn req<T: IntoDatum + FromDatum + Default>(row: &SpiHeapTupleData, i: usize) -> R<T> {
        Ok(row.get::<T>(i)?.unwrap_or_default())
    }

    fn oid(row: &SpiHeapTupleData, i: usize) -> R<Oid> {
        Ok(u32::try_from(req::<i64>(row, i)?).unwrap_or(0))
    }

    fn texts(v: Option<Vec<Option<String>>>) -> Vec<String> {
        v.unwrap_or_default().into_iter().flatten().collect()
    }

    fn first_char(s: &str) -> char {
        s.chars().next().unwrap_or(' ')
    }

    pub fn read_settings(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        // pg_settings hides superuser-only settings from roles without
        // pg_read_all_settings: they are simply absent, and checks needing
        // them report skipped.
        let q = "SELECT name::text, setting, unit, source, context, boot_val FROM pg_settings";
        for row in client.select(q, None, &[])? {
            let s = Setting {
                name: req(&row, 1)?,
                value: req(&row, 2)?,
                unit: get(&row, 3)?,
                source: req(&row, 4)?,
                context: req(&row, 5)?,
                boot_val: get(&row, 6)?,
            };
            snap.ops.settings.insert(s.name.clone(), s);
        }
        Ok(())
    }

    pub fn read_activity(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let q = "SELECT pid, usename::text, state, extract(epoch FROM now() - state_change)::float8, datname::text
                   FROM pg_stat_activity WHERE backend_type = 'client backend'";
        for row in client.select(q, None, &[])? {
            snap.ops.sessions.push(Session {
                pid: req(&row, 1)?,
                user: get(&row, 2)?,
                state: get(&row, 3)?,
                seconds_in_state: get(&row, 4)?,
                database: get(&row, 5)?,
            });
        }
        Ok(())
    }

    pub fn read_archiver(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let q = "SELECT archived_count, extract(epoch FROM last_archived_time)::float8, failed_count,
                        extract(epoch FROM last_failed_time)::float8, last_failed_wal
                   FROM pg_stat_archiver";
        if let Some(row) = client.select(q, None, &[])?.into_iter().next() {
            snap.ops.archiver = Some(Archiver {
                archived_count: req(&row, 1)?,
                last_archived: get(&row, 2)?,
                failed_count: req(&row, 3)?,
                last_failed: get(&row, 4)?,
                last_failed_wal: get(&row, 5)?,
            });
        }
        Ok(())
    }

    pub fn read_replication(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let q = "SELECT (SELECT count(*) FROM pg_stat_replication),
                        (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'physical' AND active)";
        if let Some(row) = client.select(q, None, &[])?.into_iter().next() {
            snap.ops.wal_senders = req(&row, 1)?;
            snap.ops.active_physical_slots = req(&row, 2)?;
        }
        Ok(())
    }

    pub fn read_role_settings(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let q = "SELECT s.setdatabase::int8, s.setrole::int8, s.setconfig, d.oid::int8
                   FROM pg_database d LEFT JOIN pg_db_role_setting s ON s.setdatabase IN (0, d.oid)
                  WHERE d.datname = current_database()";
        for row in client.select(q, None, &[])? {
            snap.ops.database_oid = oid(&row, 4)?;
            let Some(db) = get::<i64>(&row, 1)? else { continue };
            let role: i64 = req(&row, 2)?;
            let settings = texts(get(&row, 3)?)
                .into_iter()
                .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect();
            snap.ops.role_settings.push(RoleSetting {
                database: (db != 0).then(|| db as Oid),
                role: (role != 0).then(|| role as Oid),
                settings,
            });
        }
        Ok(())
    }

    pub fn read_databases(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let q = "SELECT oid::int8, datname::text, quote_ident(datname), age(datfrozenxid)::int8, datallowconn, datdba::int8 FROM pg_database";
        for row in client.select(q, None, &[])? {
            snap.ops.databases.push(Database {
                oid: oid(&row, 1)?,
                name: req(&row, 2)?,
                quoted: req(&row, 3)?,
                xid_age: req(&row, 4)?,
                allow_connections: req(&row, 5)?,
                owner: oid(&row, 6)?,
            });
        }
        Ok(())
    }

    /// Stored password hashes: superusers only. Anyone else gets `skipped`.
    pub fn read_passwords(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let allowed = client
            .select("SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')", None, &[])?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        if !allowed {
            unavailable(snap, Section::Passwords, "stored password hashes (pg_authid) are readable only by superusers");
            return Ok(());
        }
        let q = "SELECT oid::int8 FROM pg_authid WHERE rolcanlogin AND rolpassword LIKE 'md5%'";
        for row in client.select(q, None, &[])? {
            snap.ops.md5_roles.push(oid(&row, 1)?);
        }
        Ok(())
    }

    pub fn read_extensions(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let q = "SELECT e.extname::text, quote_ident(e.extname), quote_ident(n.nspname), e.extversion, a.default_version
                   FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                   LEFT JOIN pg_available_extensions a ON a.name = e.extname";
        for row in client.select(q, None, &[])? {
            snap.ops.extensions.push(Extension {
                name: req(&row, 1)?,
                quoted: req(&row, 2)?,
                schema: req(&row, 3)?,
                installed: req(&row, 4)?,
                default_version: get(&row, 5)?,
            });
        }
        Ok(())
    }

    /// Needs `read_extensions` and `read_settings` first.
    pub fn read_statements(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let Some(ext) = snap.ops.extensions.iter().find(|e| e.name == "pg_stat_statements") else {
            unavailable(snap, Section::Statements, "the pg_stat_statements extension is not created in this database");
            return Ok(());
        };
        let loaded = snap
            .ops
            .setting("shared_preload_libraries")
            .is_some_and(|s| s.value.split(',').any(|l| l.trim().trim_matches('"') == "pg_stat_statements"));
        if !loaded {
            unavailable(snap, Section::Statements, "pg_stat_statements is not in shared_preload_libraries (or that setting is not readable)");
            return Ok(());
        }
        let view = format!("{}.pg_stat_statements", ext.schema);
        let q = format!(
            "SELECT count(*) OVER (), queryid, calls, mean_exec_time, left(query, 300), mean_exec_time > 1000,
                    total_exec_time, CASE WHEN query ~* '^\\s*select\\s' THEN left(query, 10000) END
               FROM {view}
              WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              ORDER BY mean_exec_time DESC"
        );
        for (i, row) in client.select(q.as_str(), None, &[])?.into_iter().enumerate() {
            snap.ops.statements_seen = req(&row, 1)?;
            // SELECTs for the workload checks (composite_index_candidate),
            // unmasked: they are normalised, and parsed, never reported as text.
            if let Some(text) = get::<String>(&row, 8)? {
                if snap.ops.workload_statements.len() < WORKLOAD_MAX_STATEMENTS {
                    snap.ops.workload_statements.push(WorkloadStatement {
                        queryid: req(&row, 2)?,
                        calls: req(&row, 3)?,
                        total_ms: req(&row, 7)?,
                        text,
                    });
                }
            }
            let slow: bool = req(&row, 6)?;
            if !slow || i >= 5 {
                continue;
            }
            let text: String = req(&row, 5)?;
            let mut text = mask_literals(&text);
            if text.chars().count() > 120 {
                text = text.chars().take(117).collect::<String>() + "...";
            }
            snap.ops.slow_statements.push(SlowStatement {
                queryid: req(&row, 2)?,
                calls: req(&row, 3)?,
                mean_ms: req(&row, 4)?,
                text,
            });
        }
        Ok(())
    }

    pub fn read_security_definers(client: &SpiClient, snap: &mut Snapshot, excluded: &[String]) -> R<()> {
        let q = "SELECT p.oid::int8, o.type, o.identity, p.pronamespace::int8, p.proowner::int8, p.proconfig,
                        p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                                                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
                   FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace
                   CROSS JOIN LATERAL pg_identify_object('pg_proc'::regclass, p.oid, 0) o
                  WHERE p.prosecdef AND n.nspname <> ALL($1) AND n.nspname !~ '^pg_(toast_)?temp_'
                    AND p.oid NOT IN (SELECT d.objid FROM pg_depend d
                                      WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e')";
        let args = [DatumWithOid::from(excluded.to_vec())];
        for row in client.select(q, None, &args)? {
            let config = texts(get(&row, 6)?);
            snap.ops.secdef_functions.push(SecDefFunction {
                oid: oid(&row, 1)?,
                kind: req(&row, 2)?,
                identity: req(&row, 3)?,
                schema: oid(&row, 4)?,
                owner: oid(&row, 5)?,
                search_path: option(&config, "search_path").map(str::to_string),
                public_execute: req(&row, 7)?,
            });
        }
        Ok(())
    }

    pub fn read_schemas(client: &SpiClient, snap: &mut Snapshot, excluded: &[String]) -> R<()> {
        let q = "SELECT n.oid::int8, n.nspname::text, quote_ident(n.nspname), n.nspowner::int8,
                        ARRAY(SELECT a.grantee::int8 FROM aclexplode(n.nspacl) a WHERE a.privilege_type = 'CREATE'),
                        n.nspname <> ALL($1) AND n.nspname !~ '^pg_(toast_)?temp_' AND n.nspname !~ '^pg_toast'
                   FROM pg_namespace n";
        let args = [DatumWithOid::from(excluded.to_vec())];
        for row in client.select(q, None, &args)? {
            let grantees: Option<Vec<Option<i64>>> = get(&row, 5)?;
            snap.ops.schemas.push(Schema {
                oid: oid(&row, 1)?,
                name: req(&row, 2)?,
                quoted: req(&row, 3)?,
                owner: oid(&row, 4)?,
                create_grantees: grantees.unwrap_or_default().into_iter().flatten().map(|g| g as Oid).collect(),
                inspected: req(&row, 6)?,
            });
        }
        Ok(())
    }

    pub fn read_views(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let views: HashSet<Oid> =
            snap.relations.iter().filter(|r| r.kind == super::super::RelKind::View).map(|r| r.oid).collect();
        let q = "SELECT oid::int8, reloptions FROM pg_class WHERE relkind = 'v' AND reloptions IS NOT NULL";
        for row in client.select(q, None, &[])? {
            let o = oid(&row, 1)?;
            let opts = texts(get(&row, 2)?);
            if option(&opts, "security_invoker").and_then(parse_bool) == Some(true) {
                snap.ops.invoker_views.insert(o);
            }
        }
        // Which relations each view's rule reads (whole-relation and column
        // dependencies alike): one hash join over pg_depend, not a lookup per view.
        let q = "SELECT DISTINCT r.ev_class::int8, d.refobjid::int8
                   FROM pg_depend d
                   JOIN pg_rewrite r ON r.oid = d.objid
                  WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
                    AND d.refobjid <> r.ev_class AND d.deptype = 'n'";
        for row in client.select(q, None, &[])? {
            let v = oid(&row, 1)?;
            if views.contains(&v) {
                snap.ops.view_reads.entry(v).or_default().push(oid(&row, 2)?);
            }
        }
        Ok(())
    }

    pub fn read_table_stats(client: &SpiClient, snap: &mut Snapshot) -> R<()> {
        let rels: HashSet<Oid> = snap.relations.iter().map(|r| r.oid).collect();
        let q = "SELECT c.oid::int8, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
                        extract(epoch FROM s.last_vacuum)::float8, extract(epoch FROM s.last_autovacuum)::float8,
                        extract(epoch FROM s.last_analyze)::float8, extract(epoch FROM s.last_autoanalyze)::float8,
                        CASE WHEN c.relkind IN ('r','m') THEN greatest(age(c.relfrozenxid), age(t.relfrozenxid))::int8 END,
                        c.reloptions, coalesce(t.relpages, 0)::int8, s.relid IS NOT NULL
                   FROM pg_class c
                   LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
                   LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
                  WHERE c.relkind IN ('r','m','p')";
        for row in client.select(q, None, &[])? {
            let o = oid(&row, 1)?;
            if !rels.contains(&o) {
                continue;
            }
            let opts = texts(get(&row, 10)?);
            snap.ops.table_stats.insert(
                o,
                TableStats {
                    live: req(&row, 2)?,
                    dead: req(&row, 3)?,
                    mod_since_analyze: req(&row, 4)?,
                    last_vacuum: get(&row, 5)?,
                    last_autovacuum: get(&row, 6)?,
                    last_analyze: get(&row, 7)?,
                    last_autoanalyze: get(&row, 8)?,
                    xid_age: get(&row, 9)?,
                    autovacuum_enabled: option(&opts, "autovacuum_enabled").and_then(parse_bool),
                    fillfactor: option(&opts, "fillfactor").and_then(|v| v.parse().ok()),
                    toast_pages: req(&row, 11)?,
                    has_stats: req(&row, 12)?,
                },
            );
        }
        Ok(())
    }

    pub fn read_bloat_inputs(client: &SpiClient, snap: &mut Snapshot, excluded: &[String]) -> R<()> {
        let rels: HashMap<(String, String), Oid> = snap
            .relations
            .iter()
            .filter(|r| r.kind == super::super::RelKind::Table || r.kind == super::super::RelKind::MatView)
            .map(|r| ((r.schema.clone(), r.name.clone()), r.oid))
            .collect();
        let oids: HashSet<Oid> = rels.values().copied().collect();
        let q = "SELECT a.attrelid::int8, a.attnum, a.attname::text, a.attlen, a.attalign::text, a.attstorage::text,
                        a.atttypid::int8, a.attisdropped
                   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                  WHERE a.attnum > 0 AND c.relkind IN ('r','m')
                  ORDER BY a.attrelid, a.attnum";
        for row in client.select(q, None, &[])? {
            let o = oid(&row, 1)?;
            if !oids.contains(&o) {
                continue;
            }
            snap.ops.phys_columns.entry(o).or_default().push(PhysColumn {
                attnum: req(&row, 2)?,
                name: req(&row, 3)?,
                len: req(&row, 4)?,
                align: first_char(&req::<String>(&row, 5)?),
                storage: first_char(&req::<String>(&row, 6)?),
                type_oid: oid(&row, 7)?,
                dropped: req(&row, 8)?,
            });
        }
        // pg_stats shows only columns the caller may SELECT: the others have
        // no statistics here, and their tables are skipped with that reason.
        let q = "SELECT schemaname::text, tablename::text, attname::text, null_frac::float8, avg_width, n_distinct::float8
                   FROM pg_stats WHERE NOT inherited AND schemaname <> ALL($1)";
        let args = [DatumWithOid::from(excluded.to_vec())];
        let mut attnums: HashMap<(Oid, String), i16> = HashMap::new();
        for (o, cols) in &snap.ops.phys_columns {
            for c in cols.iter().filter(|c| !c.dropped) {
                attnums.insert((*o, c.name.clone()), c.attnum);
            }
        }
        for row in client.select(q, None, &args)? {
            let key = (req::<String>(&row, 1)?, req::<String>(&row, 2)?);
            let Some(&o) = rels.get(&key) else { continue };
            let Some(&attnum) = attnums.get(&(o, req::<String>(&row, 3)?)) else { continue };
            snap.ops.column_stats.insert(
                (o, attnum),
                ColumnStat { null_frac: req(&row, 4)?, avg_width: req(&row, 5)?, n_distinct: req(&row, 6)? },
            );
        }
        let idx: HashSet<Oid> = snap.indexes.iter().map(|i| i.oid).collect();
        let q = "SELECT oid::int8, reltuples::float8, reloptions FROM pg_class WHERE relkind = 'i'";
        for row in client.select(q, None, &[])? {
            let o = oid(&row, 1)?;
            if !idx.contains(&o) {
                continue;
            }
            let opts = texts(get(&row, 3)?);
            snap.ops.index_phys.insert(
                o,
                IndexPhys {
                    tuples: req(&row, 2)?,
                    fillfactor: option(&opts, "fillfactor").and_then(|v| v.parse().ok()),
                    deduplicate: option(&opts, "deduplicate_items").and_then(parse_bool),
                },
            );
        }
        Ok(())
    }

    /// pg_readiness.bloat_method = approx | exact: measure with pgstattuple,
    /// largest relations first, within pg_readiness.sample_budget_ms. What the
    /// budget does not reach keeps the catalog estimate (the evidence says so).
    pub fn read_measured(client: &SpiClient, snap: &mut Snapshot, config: &Config) -> R<()> {
        if config.bloat_method == "estimate" {
            return Ok(());
        }
        let Some(ext) = snap.ops.extensions.iter().find(|e| e.name == "pgstattuple") else {
            snap.ops.measure_note = Some(format!(
                "bloat_method is {} but the pgstattuple extension is not created in this database: catalog estimate used",
                config.bloat_method
            ));
            return Ok(());
        };
        let schema = ext.schema.clone();
        let approx = config.bloat_method == "approx";
        let fn_sig = if approx { format!("{schema}.pgstattuple_approx(regclass)") } else { format!("{schema}.pgstattuple(regclass)") };
        let may = client
            .select(
                "SELECT has_function_privilege($1, 'EXECUTE') AND has_function_privilege($2, 'EXECUTE')",
                None,
                &[DatumWithOid::from(fn_sig.as_str()), DatumWithOid::from(format!("{schema}.pgstatindex(regclass)").as_str())],
            )?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        if !may {
            snap.ops.measure_note = Some(format!(
                "bloat_method is {} but this role may not execute pgstattuple (grant pg_stat_scan_tables): catalog estimate used",
                config.bloat_method
            ));
            return Ok(());
        }
        let mut targets: Vec<(Oid, i64, bool, i32)> = snap
            .relations
            .iter()
            .filter(|r| r.kind == super::super::RelKind::Table || r.kind == super::super::RelKind::MatView)
            .map(|r| {
                let ff = snap.ops.table_stats.get(&r.oid).and_then(|t| t.fillfactor).unwrap_or(100);
                (r.oid, r.pages, false, ff)
            })
            .collect();
        targets.extend(snap.indexes.iter().filter(|i| i.am == "btree" && i.valid).map(|i| {
            let ff = snap.ops.index_phys.get(&i.oid).and_then(|p| p.fillfactor).unwrap_or(90);
            (i.oid, i.pages, true, ff)
        }));
        targets.sort_by(|a, b| b.1.cmp(&a.1));
        let table_q = if approx {
            format!("SELECT table_len::int8, (approx_free_space + dead_tuple_len)::int8 FROM {schema}.pgstattuple_approx($1::oid::regclass)")
        } else {
            format!("SELECT table_len::int8, (free_space + dead_tuple_len)::int8 FROM {schema}.pgstattuple($1::oid::regclass)")
        };
        let index_q = format!(
            "SELECT index_size::int8, leaf_pages::int8, (empty_pages + deleted_pages)::int8, avg_leaf_density::float8
               FROM {schema}.pgstatindex($1::oid::regclass)"
        );
        let start = std::time::Instant::now();
        let budget = std::time::Duration::from_millis(config.sample_budget_ms.max(0) as u64);
        let mut left = 0;
        for (o, _, is_index, ff) in targets {
            if start.elapsed() >= budget {
                left += 1;
                continue;
            }
            let arg = [DatumWithOid::from(i64::from(o))];
            let measured = super::super::read::in_subtransaction(|| -> R<Option<Measured>> {
                if is_index {
                    let Some(row) = client.select(index_q.as_str(), None, &arg)?.into_iter().next() else { return Ok(None) };
                    let size: i64 = req(&row, 1)?;
                    let leaf: i64 = req(&row, 2)?;
                    let empty: i64 = req(&row, 3)?;
                    let density: f64 = req(&row, 4)?;
                    Ok(Some(Measured { method: "pgstatindex", total_bytes: size, waste_bytes: index_waste(leaf, empty, density, ff) }))
                } else {
                    let Some(row) = client.select(table_q.as_str(), None, &arg)?.into_iter().next() else { return Ok(None) };
                    let len: i64 = req(&row, 1)?;
                    let free: i64 = req(&row, 2)?;
                    Ok(Some(Measured {
                        method: if approx { "pgstattuple_approx" } else { "pgstattuple" },
                        total_bytes: len,
                        waste_bytes: table_waste(len, free, ff),
                    }))
                }
            });
            if let Ok(Ok(Some(m))) = measured {
                snap.ops.measured.insert(o, m);
            }
        }
        if left > 0 {
            snap.ops.measure_note = Some(format!(
                "pg_readiness.sample_budget_ms ({} ms) ran out: {left} relations keep the catalog estimate",
                config.sample_budget_ms
            ));
        }
        Ok(())
    }
}

/// Reclaimable bytes of a heap measured by pgstattuple: free space plus dead
/// tuples, minus the free space the fillfactor reserves on purpose.
pub fn table_waste(table_len: i64, free_plus_dead: i64, fillfactor: i32) -> i64 {
    let reserved = table_len as f64 * f64::from(100 - fillfactor.clamp(10, 100)) / 100.0;
    (free_plus_dead as f64 - reserved).max(0.0) as i64
}

/// Reclaimable bytes of a btree measured by pgstatindex: leaf pages filled
/// below the fillfactor a rebuild would give, plus empty and deleted pages.
pub fn index_waste(leaf_pages: i64, empty_or_deleted: i64, avg_leaf_density: f64, fillfactor: i32) -> i64 {
    let ff = f64::from(fillfactor.clamp(10, 100));
    let density = if avg_leaf_density.is_nan() { ff } else { avg_leaf_density };
    let unused = (1.0 - density / ff).max(0.0);
    ((leaf_pages as f64 * unused + empty_or_deleted as f64) * 8192.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_masked() {
        assert_eq!(mask_literals("SELECT * FROM t WHERE email = 'a@b.c' AND n = 42"), "SELECT * FROM t WHERE email = ? AND n = ?");
        assert_eq!(mask_literals("SELECT $1, col2 FROM t2 WHERE x = 'it''s'"), "SELECT $1, col2 FROM t2 WHERE x = ?");
        assert_eq!(mask_literals("VACUUM t"), "VACUUM t");
    }

    #[test]
    fn options_and_bools() {
        let o = vec!["fillfactor=70".to_string(), "security_invoker=on".to_string()];
        assert_eq!(option(&o, "fillfactor"), Some("70"));
        assert_eq!(option(&o, "security_invoker").and_then(parse_bool), Some(true));
        assert_eq!(option(&o, "autovacuum_enabled"), None);
        assert_eq!(parse_bool("OFF"), Some(false));
    }

    #[test]
    fn measured_waste_respects_fillfactor() {
        assert_eq!(table_waste(100_000, 5_000, 100), 5_000);
        assert_eq!(table_waste(100_000, 25_000, 80), 5_000);
        assert_eq!(table_waste(100_000, 10_000, 80), 0);
        assert_eq!(index_waste(10, 0, 90.0, 90), 0);
        assert_eq!(index_waste(10, 1, 45.0, 90), 6 * 8192);
    }

    #[test]
    fn server_value_ignores_session_level_settings() {
        let s = Setting { name: "statement_timeout".into(), value: "5000".into(), source: "session".into(), boot_val: Some("0".into()), ..Setting::default() };
        assert_eq!(s.server_value(), "0");
        let s = Setting { source: "configuration file".into(), ..s };
        assert_eq!(s.server_value(), "5000");
    }
}

/// The bloat estimate of every table and btree index of at least one page,
/// as the maintenance checks see it: for dashboards, for choosing what to
/// repack, and for the accuracy test against pgstattuple. Tables without
/// statistics have NULL waste and the reason in `note`.
#[pgrx::pg_extern(stable)]
fn readiness_bloat_estimates() -> pgrx::iter::TableIterator<
    'static,
    (
        pgrx::name!(object_type, String),
        pgrx::name!(object_name, String),
        pgrx::name!(method, String),
        pgrx::name!(total_bytes, i64),
        pgrx::name!(wasted_bytes, Option<i64>),
        pgrx::name!(wasted_pct, Option<f64>),
        pgrx::name!(note, Option<String>),
    ),
> {
    use crate::checks::bloat;
    let config = crate::guc::current_config();
    let snap = super::read::read_snapshot(&config);
    let mut rows = Vec::new();
    let round = |x: f64| (x * 10.0).round() / 10.0;
    for rel in snap.relations.iter().filter(|r| matches!(r.kind, super::RelKind::Table | super::RelKind::MatView) && r.pages > 0) {
        let kind = rel.kind.object_type().to_string();
        match bloat::table(&snap, rel) {
            Ok(e) => rows.push((kind, rel.identity.clone(), e.method.clone(), e.total_bytes, Some(e.waste_bytes), Some(round(e.pct())), e.note.clone())),
            Err(reason) => rows.push((kind, rel.identity.clone(), "catalog estimate".into(), rel.estimated_bytes(), None, None, Some(reason))),
        }
    }
    for idx in snap.indexes.iter().filter(|i| i.am == "btree" && i.valid && i.pages > 0) {
        match bloat::index(&snap, idx) {
            Ok(e) => {
                let note = match (e.dedup, e.note.clone()) {
                    (true, Some(n)) => Some(format!("btree deduplication assumed; {n}")),
                    (true, None) => Some("btree deduplication assumed".into()),
                    (false, n) => n,
                };
                rows.push(("index".into(), idx.identity.clone(), e.method.clone(), e.total_bytes, Some(e.waste_bytes), Some(round(e.pct())), note))
            }
            Err(reason) => rows.push(("index".into(), idx.identity.clone(), "catalog estimate".into(), idx.pages * 8192, None, None, Some(reason))),
        }
    }
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    pgrx::iter::TableIterator::new(rows)
}
