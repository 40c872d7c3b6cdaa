//! migrations — the state of the migration tool: is there one, is its lock
//! held, did a migration fail, how are migrations named, and does the role
//! that applies them wait for locks without limit.

use serde_json::json;

use super::sqlgen::LOCK_NONE;
use super::{n_of, Check};
use crate::config::Config;
use crate::migrations::tracking::{is_sequential, Role, TrackingTable};
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::snapshot::{Oid, Relation, Section, Snapshot};

const CHANGE: &[&str] = &["SOC2 CC8.1", "PCI-DSS 6.5.1"];

pub static CHECKS: [Check; 5] = [
    Check {
        id: "migration_table_missing",
        category: Category::Migrations,
        severity: Severity::Info,
        title: "No migration-tracking table",
        rationale: "Fails for a database that has inspected tables when no table of a known migration tool exists in an inspected schema (knex_migrations*, schema_migrations, flyway_schema_history, databasechangelog, alembic_version, django_migrations, _prisma_migrations, __diesel_schema_migrations, goose_db_version, _sqlx_migrations). Schema changes applied by hand leave no record of what ran where (SOC2 CC8.1 change management).",
        frameworks: CHANGE,
        needs: &[Section::Relations],
        run: migration_table_missing,
    },
    Check {
        id: "migration_lock_stuck",
        category: Category::Migrations,
        severity: Severity::High,
        title: "Migration lock held",
        rationale: "Fails for a migration lock table whose lock is taken (knex *_lock.is_locked = 1, Liquibase databasechangeloglock.locked): usually a migration run that crashed, and every later deploy waits on it or fails. Skipped without SELECT privilege on the table.",
        frameworks: CHANGE,
        needs: &[Section::Relations, Section::MigrationState],
        run: migration_lock_stuck,
    },
    Check {
        id: "migration_failed",
        category: Category::Migrations,
        severity: Severity::High,
        title: "Failed migration recorded",
        rationale: "Fails for a tracking table that records a failed or unfinished migration (Flyway success = false, Liquibase exectype FAILED, Prisma finished_at and rolled_back_at both NULL, sqlx success = false, golang-migrate dirty): the schema is in a state no migration describes. Skipped without SELECT privilege on the table.",
        frameworks: CHANGE,
        needs: &[Section::Relations, Section::MigrationState],
        run: migration_failed,
    },
    Check {
        id: "migration_naming_sequential",
        category: Category::Migrations,
        severity: Severity::Low,
        title: "Migrations numbered sequentially",
        rationale: "Fails for a knex, Rails, goose, sqlx, diesel or Prisma tracking table with an applied migration whose name starts with a 1- to 6-digit sequence number (001_init.js) instead of a timestamp (8 or more digits): two branches that each add migration 042 collide, and one of them is silently skipped or applied out of order.",
        frameworks: CHANGE,
        needs: &[Section::Relations, Section::MigrationState],
        run: migration_naming_sequential,
    },
    Check {
        id: "role_lock_timeout_unset",
        category: Category::Migrations,
        severity: Severity::Medium,
        title: "Migration role without lock_timeout",
        rationale: "Fails for the role owning a migration-tracking table (the role that applies migrations) when no lock_timeout is in effect for it in this database (role-in-database, role, database and server settings, most specific first). A migration's ALTER TABLE queued behind a long query blocks every query on that table for as long as it waits (PostgreSQL docs 20.11.1, lock_timeout).",
        frameworks: &["PostgreSQL docs 20.11.1 lock_timeout", "SOC2 A1.1"],
        needs: &[Section::Relations, Section::Roles, Section::Settings, Section::RoleSettings],
        run: role_lock_timeout_unset,
    },
];

fn tracking_tables(s: &Snapshot) -> impl Iterator<Item = &Relation> {
    s.top_tables().filter(|r| crate::migrations::tracking::recognise(&r.name).is_some())
}

fn table_obj(rel: &Relation) -> ObjRef {
    ObjRef::new(rel.kind.object_type(), rel.identity.clone())
}

fn migration_table_missing(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let found: Vec<String> = tracking_tables(s).map(|r| r.identity.clone()).collect();
    let mut issues = Vec::new();
    if s.top_tables().next().is_none() {
        return Ok(Outcome::new("no tables yet: nothing to track", issues));
    }
    if found.is_empty() {
        issues.push(
            Issue::fail(ObjRef::new("database", s.database.clone()), "no migration-tracking table of a known tool in the inspected schemas")
                .fix(Remediation::Advice(
                    "Apply schema changes through a migration tool (knex, Rails, Flyway, Liquibase, Alembic, Django, Prisma, diesel, goose, sqlx) so every change is versioned, reviewed and recorded.".into(),
                )),
        );
    }
    Ok(Outcome::new(format!("migration-tracking tables found: {}", found.join(", ")), issues))
}

/// The state read from each table's rows, with `skipped` rows for the unreadable.
fn with_state<'a>(s: &'a Snapshot, role: Role) -> Vec<(&'a Relation, &'a TrackingTable)> {
    s.migration_tables.iter().filter(|t| t.role == role).filter_map(|t| s.relation(t.table).map(|r| (r, t))).collect()
}

fn skipped(rel: &Relation, t: &TrackingTable) -> Option<Issue> {
    t.skipped.as_ref().map(|why| Issue::skipped(Some(table_obj(rel)), why.clone()))
}

fn migration_lock_stuck(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let tables = with_state(s, Role::Lock);
    let mut issues = Vec::new();
    for (rel, t) in &tables {
        if let Some(i) = skipped(rel, t) {
            issues.push(i);
            continue;
        }
        if !t.locked {
            continue;
        }
        let release = match t.tool {
            crate::migrations::tracking::Tool::Liquibase => format!("UPDATE {} SET locked = false, lockgranted = NULL, lockedby = NULL;", rel.identity),
            _ => format!("UPDATE {} SET is_locked = 0;", rel.identity),
        };
        issues.push(
            Issue::fail(table_obj(rel), format!("the {} migration lock is held", t.tool.as_str()))
                .evidence(json!({"tool": t.tool.as_str(), "locked": true}))
                .fix(Remediation::Advice(format!(
                    "Make sure no migration is running (check the deploy jobs and pg_stat_activity), then release the lock:\n{release}"
                ))),
        );
    }
    Ok(Outcome::new(format!("{}, none held", n_of(tables.len(), "migration lock table")), issues))
}

fn migration_failed(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let tables = with_state(s, Role::History);
    let mut issues = Vec::new();
    for (rel, t) in &tables {
        if let Some(i) = skipped(rel, t) {
            issues.push(i);
            continue;
        }
        if t.failed.is_empty() {
            continue;
        }
        issues.push(
            Issue::fail(table_obj(rel), format!("{} records {}", t.tool.as_str(), n_of(t.failed.len(), "failed migration")))
                .evidence(json!({"tool": t.tool.as_str(), "failed": t.failed.iter().take(5).collect::<Vec<_>>(), "count": t.failed.len()}))
                .fix(Remediation::Advice(
                    "Find out what the failed migration changed, repair the schema by hand or roll it back, then mark it resolved with the tool (flyway repair, prisma migrate resolve, liquibase rollback, migrate force).".into(),
                )),
        );
    }
    Ok(Outcome::new(format!("{}, none with a failed migration", n_of(tables.len(), "migration history table")), issues))
}

fn migration_naming_sequential(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let tables: Vec<_> = with_state(s, Role::History).into_iter().filter(|(_, t)| t.tool.judges_naming()).collect();
    let mut issues = Vec::new();
    for (rel, t) in &tables {
        if let Some(i) = skipped(rel, t) {
            issues.push(i);
            continue;
        }
        let seq: Vec<&String> = t.names.iter().filter(|n| is_sequential(n)).collect();
        if seq.is_empty() {
            continue;
        }
        issues.push(
            Issue::fail(table_obj(rel), format!("{} of {} applied migrations use sequential numbers ({})", seq.len(), t.names.len(), seq[0]))
                .evidence(json!({"tool": t.tool.as_str(), "sequential": seq.iter().take(5).collect::<Vec<_>>(), "count": seq.len(), "names_read": t.names.len()}))
                .fix(Remediation::Advice(format!(
                    "Name new migrations with a timestamp prefix (YYYYMMDDHHMMSS_, the {} default); applied migrations keep their names.",
                    t.tool.as_str()
                ))),
        );
    }
    Ok(Outcome::new(format!("{}, all named by timestamp", n_of(tables.len(), "migration history table")), issues))
}

fn role_lock_timeout_unset(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    if s.ops.setting("lock_timeout").is_none() {
        return Err(CheckError::Skipped("the lock_timeout setting is not readable".into()));
    }
    let mut owners: Vec<Oid> = tracking_tables(s).map(|r| r.owner).collect();
    owners.sort_unstable();
    owners.dedup();
    let db = super::configuration::quote_db(s);
    let mut issues = Vec::new();
    for o in &owners {
        let Some(role) = s.role(*o) else { continue };
        let (value, level) = super::configuration::effective(s, "lock_timeout", Some(*o)).unwrap_or(("0".into(), "server"));
        if !super::configuration::is_zero(&value) {
            continue;
        }
        issues.push(
            Issue::fail(ObjRef::new("role", role.quoted.clone()), format!("{} owns the migration tables and runs with no lock_timeout in {}", role.quoted, s.database))
                .evidence(json!({"lock_timeout": value, "level": level}))
                .fix(
                    Remediation::sql(format!("ALTER ROLE {} IN DATABASE {db} SET lock_timeout = '5s';", role.quoted), LOCK_NONE)
                        .note("applies to the role's new sessions in this database; a migration that times out can simply be retried"),
                ),
        );
    }
    Ok(Outcome::new(format!("{} owning migration tables, each with a lock_timeout", n_of(owners.len(), "role")), issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::{fails, passes, run};
    use crate::migrations::tracking::Tool;
    use crate::model::Status;
    use crate::snapshot::build::SnapshotBuilder;
    use crate::snapshot::server::RoleSetting;

    fn knex(b: &mut SnapshotBuilder) -> (Oid, Oid) {
        let h = b.table("knex_migrations", &[("id", "integer"), ("name", "character varying(255)")]);
        let l = b.table("knex_migrations_lock", &[("index", "integer"), ("is_locked", "integer")]);
        (h, l)
    }

    fn state(table: Oid, tool: Tool, role: Role) -> TrackingTable {
        TrackingTable { table, tool, role, skipped: None, locked: false, failed: Vec::new(), names: Vec::new() }
    }

    #[test]
    fn migration_table_missing_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.table("migrations", &[("id", "integer")]);
        assert_eq!(fails(&run("migration_table_missing", &b)), vec!["app"]);
        b.table("flyway_schema_history", &[("installed_rank", "integer")]);
        assert!(passes(&run("migration_table_missing", &b)));
    }

    #[test]
    fn migration_lock_stuck_hit_near_miss_and_skip() {
        let mut b = SnapshotBuilder::new();
        let (_, l) = knex(&mut b);
        let mut t = state(l, Tool::Knex, Role::Lock);
        b.snapshot_mut().migration_tables = vec![t.clone()];
        assert!(passes(&run("migration_lock_stuck", &b)));
        t.locked = true;
        b.snapshot_mut().migration_tables = vec![t.clone()];
        let rows = run("migration_lock_stuck", &b);
        assert_eq!(fails(&rows), vec!["public.knex_migrations_lock"]);
        assert!(rows[0].remediation.as_deref().unwrap().contains("UPDATE public.knex_migrations_lock SET is_locked = 0;"));
        assert!(rows[0].statements.is_empty(), "releasing a lock is advice, never run blindly");
        t.skipped = Some("no SELECT privilege on public.knex_migrations_lock".into());
        t.locked = false;
        b.snapshot_mut().migration_tables = vec![t];
        let rows = run("migration_lock_stuck", &b);
        assert_eq!(rows[0].status, Status::Skipped);
        assert_eq!(rows[0].detail, "no SELECT privilege on public.knex_migrations_lock");
    }

    #[test]
    fn migration_failed_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let f = b.table("flyway_schema_history", &[("installed_rank", "integer")]);
        let mut t = state(f, Tool::Flyway, Role::History);
        b.snapshot_mut().migration_tables = vec![t.clone()];
        assert!(passes(&run("migration_failed", &b)));
        t.failed = vec!["3 V3__add_index.sql".into()];
        b.snapshot_mut().migration_tables = vec![t];
        let rows = run("migration_failed", &b);
        assert_eq!(fails(&rows), vec!["public.flyway_schema_history"]);
        assert_eq!(rows[0].evidence["failed"], json!(["3 V3__add_index.sql"]));
    }

    #[test]
    fn migration_naming_sequential_hit_and_near_misses() {
        let mut b = SnapshotBuilder::new();
        let (h, _) = knex(&mut b);
        let mut t = state(h, Tool::Knex, Role::History);
        t.names = vec!["20240315120000_add_refunds.js".into(), "20240101093000_baseline.js".into()];
        b.snapshot_mut().migration_tables = vec![t.clone()];
        assert!(passes(&run("migration_naming_sequential", &b)));
        t.names.push("001_init.js".into());
        b.snapshot_mut().migration_tables = vec![t.clone()];
        let rows = run("migration_naming_sequential", &b);
        assert_eq!(fails(&rows), vec!["public.knex_migrations"]);
        assert_eq!(rows[0].evidence["sequential"], json!(["001_init.js"]));
        // Flyway's V1, V2 is that tool's own convention.
        t.tool = Tool::Flyway;
        b.snapshot_mut().migration_tables = vec![t];
        assert!(passes(&run("migration_naming_sequential", &b)));
    }

    #[test]
    fn role_lock_timeout_unset_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.default_settings();
        let migrator = b.role("migrator", true, false, false);
        let (h, l) = knex(&mut b);
        b.owner(h, migrator).owner(l, migrator);
        let rows = run("role_lock_timeout_unset", &b);
        assert_eq!(fails(&rows), vec!["migrator"]);
        assert_eq!(rows[0].statements, vec!["ALTER ROLE migrator IN DATABASE app SET lock_timeout = '5s';"]);
        // A statement_timeout alone does not help a queued lock.
        b.snapshot_mut().ops.role_settings.push(RoleSetting { database: None, role: Some(migrator), settings: vec![("statement_timeout".into(), "60s".into())] });
        assert_eq!(fails(&run("role_lock_timeout_unset", &b)), vec!["migrator"]);
        let db = b.snapshot_mut().ops.database_oid;
        b.snapshot_mut().ops.role_settings.push(RoleSetting { database: Some(db), role: Some(migrator), settings: vec![("lock_timeout".into(), "5s".into())] });
        assert!(passes(&run("role_lock_timeout_unset", &b)));
    }
}
