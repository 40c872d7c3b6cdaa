//! Migration-tracking tables of the common tools, and the one place their
//! rows are read (lock flags, failed entries, names): within the sampling
//! budget, only where the caller may SELECT, each table in its own
//! subtransaction so a table whose shape differs is skipped with the reason.

use crate::snapshot::Oid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Knex,
    Rails,
    Flyway,
    Liquibase,
    Alembic,
    Django,
    Prisma,
    Diesel,
    Goose,
    Sqlx,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Knex => "knex",
            Tool::Rails => "rails",
            Tool::Flyway => "flyway",
            Tool::Liquibase => "liquibase",
            Tool::Alembic => "alembic",
            Tool::Django => "django",
            Tool::Prisma => "prisma",
            Tool::Diesel => "diesel",
            Tool::Goose => "goose",
            Tool::Sqlx => "sqlx",
        }
    }

    /// Tools whose names carry an ordering prefix the team chooses (knex,
    /// Rails, goose, sqlx, diesel, Prisma). Flyway's V1, V2 and Django's
    /// 0001_ per app are those tools' own conventions; Alembic and
    /// Liquibase use ids.
    pub fn judges_naming(self) -> bool {
        matches!(self, Tool::Knex | Tool::Rails | Tool::Goose | Tool::Sqlx | Tool::Diesel | Tool::Prisma)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    History,
    Lock,
}

/// Which tool's table `name` is, if any.
pub fn recognise(name: &str) -> Option<(Tool, Role)> {
    Some(match name {
        n if n.starts_with("knex_migrations") && n.ends_with("_lock") => (Tool::Knex, Role::Lock),
        n if n.starts_with("knex_migrations") => (Tool::Knex, Role::History),
        "schema_migrations" => (Tool::Rails, Role::History),
        "flyway_schema_history" => (Tool::Flyway, Role::History),
        "databasechangelog" => (Tool::Liquibase, Role::History),
        "databasechangeloglock" => (Tool::Liquibase, Role::Lock),
        "alembic_version" => (Tool::Alembic, Role::History),
        "django_migrations" => (Tool::Django, Role::History),
        "_prisma_migrations" => (Tool::Prisma, Role::History),
        "__diesel_schema_migrations" => (Tool::Diesel, Role::History),
        "goose_db_version" => (Tool::Goose, Role::History),
        "_sqlx_migrations" => (Tool::Sqlx, Role::History),
        _ => return None,
    })
}

/// A recognised tracking table and what its rows say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingTable {
    pub table: Oid,
    pub tool: Tool,
    pub role: Role,
    /// None when the rows were read; otherwise why not.
    pub skipped: Option<String>,
    pub locked: bool,
    /// Failed (or never finished) migrations.
    pub failed: Vec<String>,
    /// Applied migration names, most recent first (at most `MAX_NAMES`).
    pub names: Vec<String>,
}

pub const MAX_NAMES: i64 = 1000;

/// Is a migration name numbered sequentially (`001_init.js`, `V12__x`,
/// `42`) rather than by timestamp (`20240101093000_baseline.js`)? A leading
/// run of 1 to 6 digits is a sequence number; 8 or more is a date or timestamp.
pub fn is_sequential(name: &str) -> bool {
    let digits = name.chars().take_while(|c| c.is_ascii_digit()).count();
    (1..=6).contains(&digits)
}

/// The queries reading one table's rows, `{t}` standing for its quoted name:
/// (names, failed, locked); each returns one text column (locked: one bool).
fn queries(tool: Tool, role: Role, columns: &[String]) -> (Option<String>, Option<String>, Option<String>) {
    let has = |c: &str| columns.iter().any(|x| x == c);
    let lim = MAX_NAMES;
    let (n, f, l): (Option<String>, Option<String>, Option<String>) = match (tool, role) {
        (Tool::Knex, Role::Lock) => (None, None, Some("SELECT coalesce(bool_or(is_locked = 1), false) FROM {t}".into())),
        (Tool::Liquibase, Role::Lock) => (None, None, Some("SELECT coalesce(bool_or(locked), false) FROM {t}".into())),
        (Tool::Knex, _) => (Some(format!("SELECT name::text FROM {{t}} ORDER BY id DESC LIMIT {lim}")), None, None),
        (Tool::Rails, _) => (
            Some(format!("SELECT version::text FROM {{t}} ORDER BY version DESC LIMIT {lim}")),
            // golang-migrate shares the table name and marks a half-applied step `dirty`.
            has("dirty").then(|| "SELECT version::text FROM {t} WHERE dirty".into()),
            None,
        ),
        (Tool::Flyway, _) => (None, Some(format!("SELECT coalesce(version, '') || ' ' || script FROM {{t}} WHERE NOT success LIMIT {lim}")), None),
        (Tool::Liquibase, _) => (None, Some(format!("SELECT id || ' (' || filename || ')' FROM {{t}} WHERE exectype = 'FAILED' LIMIT {lim}")), None),
        (Tool::Prisma, _) => (
            Some(format!("SELECT migration_name FROM {{t}} WHERE finished_at IS NOT NULL ORDER BY started_at DESC LIMIT {lim}")),
            Some(format!("SELECT migration_name FROM {{t}} WHERE finished_at IS NULL AND rolled_back_at IS NULL LIMIT {lim}")),
            None,
        ),
        (Tool::Diesel, _) => (Some(format!("SELECT version::text FROM {{t}} ORDER BY run_on DESC LIMIT {lim}")), None, None),
        (Tool::Goose, _) => (Some(format!("SELECT version_id::text FROM {{t}} WHERE is_applied AND version_id > 0 ORDER BY id DESC LIMIT {lim}")), None, None),
        (Tool::Sqlx, _) => (
            Some(format!("SELECT version::text || '_' || description FROM {{t}} ORDER BY version DESC LIMIT {lim}")),
            Some(format!("SELECT version::text || '_' || description FROM {{t}} WHERE NOT success LIMIT {lim}")),
            None,
        ),
        (Tool::Alembic | Tool::Django, _) => (None, None, None),
    };
    (n, f, l)
}

pub use spi::read_tracking;

mod spi {
    use super::*;
    use crate::config::Config;
    use crate::snapshot::read::in_subtransaction;
    use crate::snapshot::Snapshot;
    use pgrx::datum::DatumWithOid;
    use pgrx::spi::SpiClient;

    type R<T> = Result<T, pgrx::spi::SpiError>;

    /// Reads every recognised tracking table of the snapshot's relations.
    pub fn read_tracking(client: &SpiClient, snap: &mut Snapshot, config: &Config) -> R<()> {
        let start = std::time::Instant::now();
        let budget = std::time::Duration::from_millis(config.sample_budget_ms.max(0) as u64);
        let mut out = Vec::new();
        for rel in snap.relations.iter().filter(|r| r.kind.is_table() && !r.is_partition) {
            let Some((tool, role)) = recognise(&rel.name) else { continue };
            let mut t = TrackingTable { table: rel.oid, tool, role, skipped: None, locked: false, failed: Vec::new(), names: Vec::new() };
            let (names_q, failed_q, locked_q) = queries(tool, role, &rel.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
            if names_q.is_none() && failed_q.is_none() && locked_q.is_none() {
                out.push(t);
                continue;
            }
            let may = client
                .select("SELECT has_table_privilege($1::oid, 'SELECT')", None, &[DatumWithOid::from(i64::from(rel.oid))])?
                .first()
                .get_one::<bool>()?
                .unwrap_or(false);
            if !may {
                t.skipped = Some(format!("no SELECT privilege on {}", rel.identity));
                out.push(t);
                continue;
            }
            if start.elapsed() >= budget {
                t.skipped = Some(format!("pg_readiness.sample_budget_ms ({} ms) ran out before {} was read", config.sample_budget_ms, rel.identity));
                out.push(t);
                continue;
            }
            let ident = rel.identity.clone();
            let read = in_subtransaction(|| -> R<()> {
                if let Some(q) = &locked_q {
                    t.locked = client.select(q.replace("{t}", &ident).as_str(), None, &[])?.first().get_one::<bool>()?.unwrap_or(false);
                }
                for (q, into) in [(&names_q, &mut t.names), (&failed_q, &mut t.failed)] {
                    let Some(q) = q else { continue };
                    for row in client.select(q.replace("{t}", &ident).as_str(), None, &[])? {
                        if let Some(v) = row.get::<String>(1)? {
                            into.push(v);
                        }
                    }
                }
                Ok(())
            });
            match read {
                Ok(Ok(())) => {}
                Ok(Err(e)) => t.skipped = Some(format!("reading {} failed: {e}", rel.identity)),
                Err((_, msg)) => t.skipped = Some(format!("reading {} failed: {msg}", rel.identity)),
            }
            if t.skipped.is_some() {
                t.locked = false;
                t.names.clear();
                t.failed.clear();
            }
            out.push(t);
        }
        snap.migration_tables = out;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_common_tools() {
        assert_eq!(recognise("knex_migrations"), Some((Tool::Knex, Role::History)));
        assert_eq!(recognise("knex_migrations_lock"), Some((Tool::Knex, Role::Lock)));
        assert_eq!(recognise("knex_migrations_billing_lock"), Some((Tool::Knex, Role::Lock)));
        assert_eq!(recognise("databasechangeloglock"), Some((Tool::Liquibase, Role::Lock)));
        assert_eq!(recognise("_sqlx_migrations"), Some((Tool::Sqlx, Role::History)));
        assert_eq!(recognise("migrations"), None);
        assert_eq!(recognise("schema_migrations_backup"), None);
    }

    #[test]
    fn sequential_versus_timestamp_names() {
        assert!(is_sequential("001_init.js"));
        assert!(is_sequential("42"));
        assert!(!is_sequential("20240101093000_baseline.js"));
        assert!(!is_sequential("init.js"));
        assert!(!is_sequential("20240101"));
    }

    #[test]
    fn golang_migrate_dirty_flag_is_read_when_the_column_exists() {
        assert!(queries(Tool::Rails, Role::History, &["version".into(), "dirty".into()]).1.is_some());
        assert!(queries(Tool::Rails, Role::History, &["version".into()]).1.is_none());
    }
}
