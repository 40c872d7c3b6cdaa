//! Reads the catalog snapshot through read-only SPI: one query per catalog,
//! never one per table. Each section runs in its own subtransaction, so a
//! section that fails (a revoked privilege, a broken view) becomes `error`
//! rows for the checks that need it instead of aborting the report.
//!
//! Every query reads `pg_catalog` directly (the `information_schema` views
//! grow quadratically with the catalog) and takes only ACCESS SHARE locks
//! on catalogs, so it runs on a hot standby and never blocks the application.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;

use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiHeapTupleData};
use pgrx::datum::DatumWithOid;

use super::*;
use crate::config::Config;

/// An error caught while reading: SQLSTATE and message.
pub type Caught = (String, String);

pub fn sqlstate_string(code: PgSqlErrorCode) -> String {
    let mut v = code as i32;
    let mut s = String::with_capacity(5);
    for _ in 0..5 {
        s.push(char::from(((v & 0x3F) as u8) + b'0'));
        v >>= 6;
    }
    s
}

fn describe(e: pg_sys::panic::CaughtError) -> Caught {
    match e {
        pg_sys::panic::CaughtError::PostgresError(r)
        | pg_sys::panic::CaughtError::ErrorReport(r)
        | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => {
            (sqlstate_string(r.sql_error_code()), r.message().to_string())
        }
    }
}

/// Runs `f` inside an internal subtransaction (as PL/pgSQL's EXCEPTION blocks
/// and PL/Python do): on any ERROR the subtransaction is rolled back, the
/// error is returned, and the outer transaction carries on.
pub fn in_subtransaction<T>(f: impl FnOnce() -> T) -> Result<T, Caught> {
    subtransaction(f, true)
}

/// Like `in_subtransaction`, but the subtransaction is rolled back even when
/// `f` succeeds: for read-only work whose result is plain Rust data, so that
/// the locks it took (ACCESS SHARE on a sampled table) are released at once
/// instead of being held until the report's transaction ends, where they
/// would make a concurrent ALTER TABLE wait for the rest of the report.
pub fn in_discarded_subtransaction<T>(f: impl FnOnce() -> T) -> Result<T, Caught> {
    subtransaction(f, false)
}

fn subtransaction<T>(f: impl FnOnce() -> T, keep: bool) -> Result<T, Caught> {
    // SAFETY: the classic internal-subtransaction protocol; we restore the
    // caller's memory context and resource owner on both paths.
    let (old_cxt, old_owner) = unsafe {
        let cxt = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(cxt);
        (cxt, owner)
    };
    let f = AssertUnwindSafe(f);
    let result = PgTryBuilder::new(move || {
        let f = f;
        Ok((f.0)())
    })
        .catch_others(|e| Err(describe(e)))
        .execute();
    unsafe {
        if result.is_ok() && keep {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(old_cxt);
        pg_sys::CurrentResourceOwner = old_owner;
    }
    result
}

pub(super) type ReadResult<T> = Result<T, pgrx::spi::SpiError>;

pub(super) fn get<T: IntoDatum + FromDatum>(row: &SpiHeapTupleData, i: usize) -> ReadResult<Option<T>> {
    row.get::<T>(i)
}

pub(super) fn req<T: IntoDatum + FromDatum + Default>(row: &SpiHeapTupleData, i: usize) -> ReadResult<T> {
    Ok(row.get::<T>(i)?.unwrap_or_default())
}

pub(super) fn oid(row: &SpiHeapTupleData, i: usize) -> ReadResult<Oid> {
    Ok(u32::try_from(req::<i64>(row, i)?).unwrap_or(0))
}

pub(super) fn first_char(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

fn oids(v: Option<Vec<Option<i64>>>) -> Vec<Oid> {
    v.unwrap_or_default().into_iter().map(|x| x.and_then(|x| u32::try_from(x).ok()).unwrap_or(0)).collect()
}

fn int2s(v: Option<Vec<Option<i16>>>) -> Vec<i16> {
    v.unwrap_or_default().into_iter().map(|x| x.unwrap_or(0)).collect()
}

/// Test-only fault injection: make one section raise a real ERROR.
#[cfg(feature = "pg_test")]
pub mod fault {
    use std::sync::Mutex;
    pub static FAIL_SECTION: Mutex<Option<String>> = Mutex::new(None);
    pub fn check(section: &str) {
        if FAIL_SECTION.lock().unwrap().as_deref() == Some(section) {
            pgrx::error!("injected failure reading section {section}");
        }
    }
}

struct Reader<'a, 'conn> {
    client: &'a SpiClient<'conn>,
    excluded: Vec<String>,
}

const REL_FILTER: &str = "c.relkind IN ('r','p','v','m','f')
      AND n.nspname <> ALL($1) AND n.nspname !~ '^pg_(toast_)?temp_'
      AND c.oid NOT IN (SELECT d.objid FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e')";

impl Reader<'_, '_> {
    fn args(&self) -> [DatumWithOid<'static>; 1] {
        [DatumWithOid::from(self.excluded.clone())]
    }

    fn relations(&self, snap: &mut Snapshot) -> ReadResult<()> {
        let q = format!(
            "SELECT c.oid::int8, n.nspname::text, c.relname::text,
                    quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                    c.relkind::text, c.relowner::int8, c.relrowsecurity, c.relforcerowsecurity,
                    c.relispartition, i.inhparent::int8, c.relpages::int8, c.reltuples::float8
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
              WHERE {REL_FILTER}"
        );
        let mut rels = Vec::new();
        for row in self.client.select(q.as_str(), None, &self.args())? {
            let kind: String = req(&row, 5)?;
            let Some(kind) = RelKind::from_char(first_char(&kind)) else { continue };
            rels.push(Relation {
                oid: oid(&row, 1)?,
                schema: req(&row, 2)?,
                name: req(&row, 3)?,
                identity: req(&row, 4)?,
                kind,
                owner: oid(&row, 6)?,
                rls_enabled: req(&row, 7)?,
                rls_forced: req(&row, 8)?,
                is_partition: req(&row, 9)?,
                parent: get::<i64>(&row, 10)?.and_then(|p| u32::try_from(p).ok()),
                pages: req(&row, 11)?,
                tuples: req(&row, 12)?,
                columns: Vec::new(),
            });
        }
        let pos: HashMap<Oid, usize> = rels.iter().enumerate().map(|(i, r)| (r.oid, i)).collect();
        let q = format!(
            "SELECT a.attrelid::int8, a.attnum, a.attname::text, quote_ident(a.attname),
                    a.atttypid::int8, format_type(a.atttypid, a.atttypmod), a.attnotnull
               FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE a.attnum > 0 AND NOT a.attisdropped AND {REL_FILTER}
              ORDER BY a.attrelid, a.attnum"
        );
        for row in self.client.select(q.as_str(), None, &self.args())? {
            let Some(&i) = pos.get(&oid(&row, 1)?) else { continue };
            rels[i].columns.push(Column {
                attnum: req(&row, 2)?,
                name: req(&row, 3)?,
                quoted: req(&row, 4)?,
                type_oid: oid(&row, 5)?,
                type_name: req(&row, 6)?,
                not_null: req(&row, 7)?,
            });
        }
        snap.relations = rels;
        Ok(())
    }

    fn indexes(&self, snap: &mut Snapshot, rels: &HashSet<Oid>) -> ReadResult<()> {
        let defaults: HashSet<Oid> = {
            let mut s = HashSet::new();
            for row in self.client.select("SELECT oid::int8 FROM pg_opclass WHERE opcdefault", None, &[])? {
                s.insert(oid(&row, 1)?);
            }
            s
        };
        // Constraint-backed indexes by one hash join, never a per-index lookup
        // (pg_constraint has no index on conindid).
        let q = "SELECT x.indexrelid::int8, x.indrelid::int8, ic.relname::text, quote_ident(ic.relname),
                        quote_ident(n.nspname) || '.' || quote_ident(ic.relname), am.amname::text,
                        x.indisunique, x.indisprimary, x.indisvalid, ic.relispartition, x.indnkeyatts::int4,
                        x.indkey::int2[], x.indclass::oid[]::int8[], x.indcollation::oid[]::int8[], x.indoption::int2[],
                        x.indexprs::text, x.indpred::text,
                        CASE WHEN x.indpred IS NOT NULL THEN pg_get_expr(x.indpred, x.indrelid) END,
                        con.contype, ic.relpages::int8
                   FROM pg_index x
                   JOIN pg_class ic ON ic.oid = x.indexrelid
                   JOIN pg_namespace n ON n.oid = ic.relnamespace
                   JOIN pg_am am ON am.oid = ic.relam
                   LEFT JOIN (SELECT conindid, min(contype::text) AS contype FROM pg_constraint
                               WHERE contype IN ('p','u','x') GROUP BY conindid) con
                          ON con.conindid = x.indexrelid
                  WHERE n.nspname <> ALL($1)";
        let mut out = Vec::new();
        for row in self.client.select(q, None, &self.args())? {
            let table = oid(&row, 2)?;
            if !rels.contains(&table) {
                continue;
            }
            let classes = oids(get(&row, 13)?);
            let nkeys = usize::try_from(req::<i32>(&row, 11)?).unwrap_or(0);
            out.push(Index {
                oid: oid(&row, 1)?,
                table,
                name: req(&row, 3)?,
                quoted_name: req(&row, 4)?,
                identity: req(&row, 5)?,
                am: req(&row, 6)?,
                unique: req(&row, 7)?,
                primary: req(&row, 8)?,
                valid: req(&row, 9)?,
                is_partition: req(&row, 10)?,
                nkeys,
                keys: int2s(get(&row, 12)?),
                default_opclasses: classes.iter().take(nkeys).all(|c| defaults.contains(c)),
                classes,
                collations: oids(get(&row, 14)?),
                options: int2s(get(&row, 15)?),
                exprs: get(&row, 16)?,
                pred: get(&row, 17)?,
                pred_sql: get(&row, 18)?,
                constraint: get::<String>(&row, 19)?.map(|s| first_char(&s)),
                scans: None,
                pages: req(&row, 20)?,
            });
        }
        snap.indexes = out;
        Ok(())
    }

    fn index_stats(&self, snap: &mut Snapshot) -> ReadResult<()> {
        let mut scans = HashMap::new();
        for row in self.client.select("SELECT indexrelid::int8, idx_scan FROM pg_stat_all_indexes", None, &[])? {
            scans.insert(oid(&row, 1)?, req::<i64>(&row, 2)?);
        }
        for idx in &mut snap.indexes {
            idx.scans = scans.get(&idx.oid).copied();
        }
        let q = "SELECT extract(epoch FROM stats_reset)::float8 FROM pg_stat_database WHERE datname = current_database()";
        snap.stats_reset = match self.client.select(q, None, &[])?.first().get_one::<f64>() {
            Ok(v) => v,
            Err(_) => None,
        };
        Ok(())
    }

    fn constraints(&self, snap: &mut Snapshot, rels: &HashSet<Oid>) -> ReadResult<()> {
        let q = "SELECT con.oid::int8, con.conname::text, quote_ident(con.conname), con.conrelid::int8,
                        con.contype::text, con.convalidated, con.conkey, con.confrelid::int8, con.confkey,
                        CASE WHEN con.contype = 'f' THEN con.confdeltype::text END, con.conparentid <> 0
                   FROM pg_constraint con
                  WHERE con.conrelid <> 0 AND con.contype IN ('f','c','p','u','x')";
        let mut out = Vec::new();
        for row in self.client.select(q, None, &[])? {
            let table = oid(&row, 4)?;
            if !rels.contains(&table) {
                continue;
            }
            let ref_table = oid(&row, 8)?;
            out.push(Constraint {
                oid: oid(&row, 1)?,
                name: req(&row, 2)?,
                quoted: req(&row, 3)?,
                table,
                contype: first_char(&req::<String>(&row, 5)?),
                validated: req(&row, 6)?,
                keys: int2s(get(&row, 7)?),
                ref_table: (ref_table != 0).then_some(ref_table),
                ref_keys: int2s(get(&row, 9)?),
                on_delete: get::<String>(&row, 10)?.map(|s| first_char(&s)),
                inherited: req(&row, 11)?,
            });
        }
        snap.constraints = out;
        Ok(())
    }

    fn policies(&self, snap: &mut Snapshot, rels: &HashSet<Oid>) -> ReadResult<()> {
        let q = "SELECT p.oid::int8, p.polname::text, quote_ident(p.polname), p.polrelid::int8, p.polcmd::text,
                        p.polpermissive, p.polroles::int8[], p.polqual::text, p.polwithcheck::text,
                        pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
                   FROM pg_policy p";
        let mut out = Vec::new();
        for row in self.client.select(q, None, &[])? {
            let table = oid(&row, 4)?;
            if !rels.contains(&table) {
                continue;
            }
            let using_tree: Option<String> = get(&row, 8)?;
            let check_tree: Option<String> = get(&row, 9)?;
            out.push(Policy {
                oid: oid(&row, 1)?,
                name: req(&row, 2)?,
                quoted: req(&row, 3)?,
                table,
                cmd: first_char(&req::<String>(&row, 5)?),
                permissive: req(&row, 6)?,
                roles: oids(get(&row, 7)?),
                using: using_tree.as_deref().and_then(nodetree::parse),
                with_check: check_tree.as_deref().and_then(nodetree::parse),
                using_sql: get(&row, 10)?,
                with_check_sql: get(&row, 11)?,
            });
        }
        snap.policies = out;
        Ok(())
    }

    fn roles(&self, snap: &mut Snapshot) -> ReadResult<()> {
        let q = "SELECT oid::int8, rolname::text, quote_ident(rolname), rolsuper, rolbypassrls, rolcanlogin FROM pg_roles";
        let mut out = Vec::new();
        for row in self.client.select(q, None, &[])? {
            out.push(Role {
                oid: oid(&row, 1)?,
                name: req(&row, 2)?,
                quoted: req(&row, 3)?,
                superuser: req(&row, 4)?,
                bypass_rls: req(&row, 5)?,
                can_login: req(&row, 6)?,
            });
        }
        snap.roles = out;
        Ok(())
    }

    fn grants(&self, snap: &mut Snapshot, rels: &HashSet<Oid>) -> ReadResult<()> {
        let q = "SELECT c.oid::int8, a.grantee::int8, a.privilege_type::text
                   FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
                  WHERE c.relacl IS NOT NULL AND c.relkind IN ('r','p','v','m','f')";
        let mut out = Vec::new();
        for row in self.client.select(q, None, &[])? {
            let table = oid(&row, 1)?;
            if rels.contains(&table) {
                out.push(Grant { table, grantee: oid(&row, 2)?, privilege: req(&row, 3)? });
            }
        }
        snap.grants = out;
        Ok(())
    }

    fn functions(&self, snap: &mut Snapshot) -> ReadResult<()> {
        let q = "SELECT p.oid::int8, quote_ident(n.nspname) || '.' || quote_ident(p.proname)
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE p.provolatile = 's'";
        for row in self.client.select(q, None, &[])? {
            snap.stable_functions.insert(oid(&row, 1)?, req(&row, 2)?);
        }
        for row in self.client.select("SELECT oid::int8 FROM pg_operator WHERE oprname IN ('=', '<=', '>=')", None, &[])? {
            snap.reflexive_operators.insert(oid(&row, 1)?);
        }
        Ok(())
    }

    fn waivers(&self, snap: &mut Snapshot) -> ReadResult<()> {
        let Some(schema) = snap.extension_schema.clone() else { return Ok(()) };
        let q = format!(
            "SELECT check_id, object_name, reason, created_by::text, expires_at::text
               FROM {schema}.readiness_waivers
              WHERE expires_at IS NULL OR expires_at > now()"
        );
        let mut out = Vec::new();
        for row in self.client.select(q.as_str(), None, &[])? {
            out.push(crate::model::Waiver {
                check_id: req(&row, 1)?,
                object_name: get(&row, 2)?,
                reason: req(&row, 3)?,
                created_by: req(&row, 4)?,
                expires_at: get(&row, 5)?,
            });
        }
        snap.waivers = out;
        Ok(())
    }

    fn server(&self, snap: &mut Snapshot) -> ReadResult<()> {
        let q = "SELECT current_database()::text, current_setting('server_version_num')::int4, pg_is_in_recovery(),
                        extract(epoch FROM now())::float8, extract(epoch FROM pg_postmaster_start_time())::float8,
                        (SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                          WHERE e.extname = 'pg_readiness')";
        if let Some(row) = self.client.select(q, None, &[])?.into_iter().next() {
            snap.database = req(&row, 1)?;
            snap.server_version_num = req(&row, 2)?;
            snap.in_recovery = req(&row, 3)?;
            snap.now = req(&row, 4)?;
            snap.postmaster_start = req(&row, 5)?;
            snap.extension_schema = get(&row, 6)?;
        }
        Ok(())
    }
}

/// Runs one section: in a subtransaction, with SPI errors and ERRORs both
/// recorded as the section's failure. A failed section leaves no partial data.
fn section(snap: &mut Snapshot, which: Section, f: impl FnOnce(&mut Snapshot) -> ReadResult<()>) {
    let result = in_subtransaction(|| {
        #[cfg(feature = "pg_test")]
        fault::check(&format!("{which:?}"));
        f(snap)
    });
    let failure = match result {
        Ok(Ok(())) => return,
        Ok(Err(e)) => SectionState::Failed { sqlstate: "XX000".into(), message: e.to_string() },
        Err((sqlstate, message)) => SectionState::Failed { sqlstate, message },
    };
    match which {
        Section::Relations => snap.relations.clear(),
        Section::Indexes => snap.indexes.clear(),
        Section::IndexStats => snap.indexes.iter_mut().for_each(|i| i.scans = None),
        Section::Constraints => snap.constraints.clear(),
        Section::Policies => snap.policies.clear(),
        Section::Roles => snap.roles.clear(),
        Section::Grants => snap.grants.clear(),
        Section::Functions => {
            snap.stable_functions.clear();
            snap.reflexive_operators.clear();
        }
        Section::Waivers => snap.waivers.clear(),
        Section::Types => snap.types.clear(),
        Section::Triggers => {
            snap.triggers.clear();
            snap.rules.clear();
        }
        Section::Sequences => snap.sequences.clear(),
        Section::PiiRegistry => snap.pii_registry.clear(),
        Section::ServerLibraries => snap.preload_libraries = None,
        Section::Samples => snap.samples = Default::default(),
        Section::Settings
        | Section::Activity
        | Section::Archiver
        | Section::Replication
        | Section::RoleSettings
        | Section::Databases
        | Section::Passwords
        | Section::Extensions
        | Section::Statements
        | Section::SecurityDefiners
        | Section::Schemas
        | Section::Views
        | Section::TableStats
        | Section::BloatInputs
        | Section::Measured => server::clear(snap, which),
        Section::MigrationState => snap.migration_tables.clear(),
        Section::Workload => snap.workload = Default::default(),
    }
    snap.sections.insert(which, failure);
}

/// Reads the whole snapshot. Never raises for a failing section.
pub fn read_snapshot(config: &Config) -> Snapshot {
    let excluded = config.all_excluded_schemas();
    Spi::connect(|client| {
        let r = Reader { client, excluded };
        let mut snap = Snapshot::default();
        // The server facts are needed by everything; failing here is a real error.
        if let Err(e) = r.server(&mut snap) {
            pgrx::error!("pg_readiness could not read server information: {e}");
        }
        section(&mut snap, Section::Relations, |s| r.relations(s));
        let rels: HashSet<Oid> = snap.relations.iter().map(|r| r.oid).collect();
        section(&mut snap, Section::Indexes, |s| r.indexes(s, &rels));
        if !snap.sections.contains_key(&Section::Indexes) {
            section(&mut snap, Section::IndexStats, |s| r.index_stats(s));
        }
        section(&mut snap, Section::Constraints, |s| r.constraints(s, &rels));
        section(&mut snap, Section::Policies, |s| r.policies(s, &rels));
        section(&mut snap, Section::Roles, |s| r.roles(s));
        section(&mut snap, Section::Grants, |s| r.grants(s, &rels));
        section(&mut snap, Section::Functions, |s| r.functions(s));
        // A waiver table that cannot be read leaves findings failing: the
        // conservative answer.
        section(&mut snap, Section::Waivers, |s| r.waivers(s));
        // The integrity sections look relations up by oid.
        snap.index();
        section(&mut snap, Section::Types, |s| super::read_integrity::types(client, s));
        section(&mut snap, Section::Triggers, |s| super::read_integrity::triggers(client, s));
        section(&mut snap, Section::Sequences, |s| super::read_integrity::sequences(client, s));
        section(&mut snap, Section::PiiRegistry, |s| super::read_integrity::pii_registry(client, s));
        section(&mut snap, Section::ServerLibraries, |s| super::read_integrity::preload_libraries(client, s));
        // Sampling last: it needs the relations, the registry, and what is
        // left of nothing else; a failure here only skips value-based checks.
        section(&mut snap, Section::Samples, |s| super::read_integrity::samples(client, s, config));
        // Operations: server state, settings, statistics, privileges.
        let excluded = config.all_excluded_schemas();
        section(&mut snap, Section::Settings, |s| server::read_settings(client, s));
        section(&mut snap, Section::Activity, |s| server::read_activity(client, s));
        section(&mut snap, Section::Archiver, |s| server::read_archiver(client, s));
        section(&mut snap, Section::Replication, |s| server::read_replication(client, s));
        section(&mut snap, Section::RoleSettings, |s| server::read_role_settings(client, s));
        section(&mut snap, Section::Databases, |s| server::read_databases(client, s));
        section(&mut snap, Section::Passwords, |s| server::read_passwords(client, s));
        section(&mut snap, Section::Extensions, |s| server::read_extensions(client, s));
        section(&mut snap, Section::Statements, |s| server::read_statements(client, s));
        section(&mut snap, Section::SecurityDefiners, |s| server::read_security_definers(client, s, &excluded));
        section(&mut snap, Section::Schemas, |s| server::read_schemas(client, s, &excluded));
        section(&mut snap, Section::Views, |s| server::read_views(client, s));
        section(&mut snap, Section::TableStats, |s| server::read_table_stats(client, s));
        section(&mut snap, Section::BloatInputs, |s| server::read_bloat_inputs(client, s, &excluded));
        section(&mut snap, Section::Measured, |s| server::read_measured(client, s, config));
        section(&mut snap, Section::MigrationState, |s| crate::migrations::tracking::read_tracking(client, s, config));
        section(&mut snap, Section::Workload, |s| crate::migrations::workload::read_workload(client, s, config));
        // Again, now that every vector is filled: the checks' per-table lookups.
        snap.index();
        snap
    })
}
