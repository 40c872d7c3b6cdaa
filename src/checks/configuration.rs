//! configuration — the live server: settings, sessions, WAL archiving,
//! durability, extensions.
//!
//! Cluster-wide settings are fixed with `ALTER SYSTEM`, which changes every
//! database of the cluster and needs a reload or a restart: that is written
//! as advice (the statements in comments, with the reload/restart note), so
//! a database's fix script never reconfigures the whole server unreviewed.
//! Database- and role-level fixes (`ALTER DATABASE/ROLE ... SET`, `CREATE
//! EXTENSION`, `ALTER EXTENSION ... UPDATE`) are runnable SQL.

use serde_json::json;

use super::sqlgen::{literal, LOCK_NONE};
use super::{n_of, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::snapshot::server::{parse_bool, Setting};
use crate::snapshot::{Oid, Section, SectionState, Snapshot, BOOTSTRAP_SUPERUSER};

const OPS: &[&str] = &["SOC2 A1.1", "CIS PostgreSQL Benchmark 3"];
const RECOVERY: &[&str] = &["SOC2 A1.2", "ISO 27001 A.8.13", "PCI-DSS 10.5.1"];

pub static CHECKS: [Check; 13] = [
    Check {
        id: "pg_stat_statements_missing",
        category: Category::Configuration,
        severity: Severity::Medium,
        title: "pg_stat_statements not available",
        rationale: "Fails when pg_stat_statements is not in shared_preload_libraries, or is loaded but CREATE EXTENSION pg_stat_statements was not run in this database. Without it there is no record of which statements consume the server's time, and slow_queries_present cannot judge (PostgreSQL docs F.32).",
        frameworks: OPS,
        needs: &[Section::Settings, Section::Extensions],
        run: pg_stat_statements_missing,
    },
    Check {
        id: "slow_query_logging_disabled",
        category: Category::Configuration,
        severity: Severity::Low,
        title: "Slow statements are not logged",
        rationale: "Fails when log_min_duration_statement is -1 for the server and this database sets no other value. Slow statements then leave no trace in the server log for incident analysis (CIS PostgreSQL Benchmark 3.1, PCI DSS 10.2 audit logs).",
        frameworks: &["CIS PostgreSQL Benchmark 3.1", "PCI-DSS 10.2.1", "SOC2 CC7.2"],
        needs: &[Section::Settings, Section::RoleSettings],
        run: slow_query_logging_disabled,
    },
    Check {
        id: "slow_queries_present",
        category: Category::Configuration,
        severity: Severity::Medium,
        title: "Statements with a mean time above one second",
        rationale: "Fails when pg_stat_statements shows statements of this database with a mean execution time above 1 s; the evidence lists the top 5 with their normalized text (literals masked) truncated to 120 characters. Skipped when pg_stat_statements is not available (PostgreSQL docs F.32).",
        frameworks: &["SOC2 A1.1"],
        needs: &[Section::Settings, Section::Extensions, Section::Statements],
        run: slow_queries_present,
    },
    Check {
        id: "connection_utilization_high",
        category: Category::Configuration,
        severity: Severity::High,
        title: "Connections close to max_connections",
        rationale: "Fails when client backends exceed 80% of max_connections minus superuser_reserved_connections (and reserved_connections on PostgreSQL 16+). New connections are refused at the limit; a pooler such as PgBouncer keeps the count low (PostgreSQL docs 20.3.1).",
        frameworks: &["SOC2 A1.1"],
        needs: &[Section::Settings, Section::Activity],
        run: connection_utilization_high,
    },
    Check {
        id: "idle_in_transaction",
        category: Category::Configuration,
        severity: Severity::Medium,
        title: "Sessions idle in transaction",
        rationale: "Fails when a client session has been idle in transaction for more than 5 minutes, or when idle_in_transaction_session_timeout is 0 for this database (server, database and no override). An open transaction holds its locks and stops VACUUM from removing dead rows everywhere (PostgreSQL docs 20.11.1).",
        frameworks: &["SOC2 A1.1", "CIS PostgreSQL Benchmark 3"],
        needs: &[Section::Settings, Section::Activity, Section::RoleSettings],
        run: idle_in_transaction,
    },
    Check {
        id: "timeouts_unset",
        category: Category::Configuration,
        severity: Severity::Medium,
        title: "No statement or lock timeout",
        rationale: "Fails for each LOGIN role other than the bootstrap superuser that owns inspected tables when neither statement_timeout nor lock_timeout is in effect for it in this database (role-in-database, role, database and server settings, most specific first); with no such role, fails for the database when neither is set for it. A statement without a timeout can queue behind a lock and stall every query after it (PostgreSQL docs 20.11.1).",
        frameworks: &["SOC2 A1.1"],
        needs: &[Section::Settings, Section::RoleSettings, Section::Roles, Section::Relations],
        run: timeouts_unset,
    },
    Check {
        id: "wal_archiving_disabled",
        category: Category::Configuration,
        severity: Severity::High,
        title: "No WAL archiving or streaming",
        rationale: "Fails on a primary when archive_mode is off, no WAL sender streams to a replica or backup tool (pg_stat_replication is empty) and no physical replication slot is active: without archived WAL there is no point-in-time recovery (PostgreSQL docs 26.3). Skipped on a standby.",
        frameworks: RECOVERY,
        needs: &[Section::Settings, Section::Replication],
        run: wal_archiving_disabled,
    },
    Check {
        id: "archiver_failing",
        category: Category::Configuration,
        severity: Severity::High,
        title: "WAL archiver failing",
        rationale: "With archive_mode on, fails when pg_stat_archiver shows a failure more recent than the last success, or no success in the last 24 h on a server up for more than 24 h. Failing archiving breaks point-in-time recovery and fills pg_wal until the disk is full (PostgreSQL docs 26.3.1). Skipped on a standby.",
        frameworks: RECOVERY,
        needs: &[Section::Settings, Section::Archiver],
        run: archiver_failing,
    },
    Check {
        id: "ssl_disabled",
        category: Category::Configuration,
        severity: Severity::High,
        title: "SSL is off",
        rationale: "Fails when the ssl setting is off: credentials and data then cross the network in clear text (PCI DSS 4.2.1 strong cryptography in transit, PostgreSQL docs 19.9).",
        frameworks: &["PCI-DSS 4.2.1", "GDPR Art.32", "SOC2 CC6.7"],
        needs: &[Section::Settings],
        run: ssl_disabled,
    },
    Check {
        id: "password_encryption_md5",
        category: Category::Configuration,
        severity: Severity::Medium,
        title: "MD5 password hashing",
        rationale: "Fails when password_encryption is md5, and for each LOGIN role whose stored password is an MD5 hash (readable by superusers only; otherwise that part is skipped). MD5 hashes are replayable and deprecated; SCRAM-SHA-256 is the default since PostgreSQL 14 (PCI DSS 8.3.2, PostgreSQL docs 21.5).",
        frameworks: &["PCI-DSS 8.3.2", "CIS PostgreSQL Benchmark 4.7"],
        needs: &[Section::Settings, Section::Roles],
        run: password_encryption_md5,
    },
    Check {
        id: "durability_off",
        category: Category::Configuration,
        severity: Severity::Critical,
        title: "Durability switched off",
        rationale: "Fails on a primary for each of fsync, full_page_writes and synchronous_commit that is off for the server. fsync or full_page_writes off can corrupt the database on a crash; synchronous_commit off loses recently committed transactions (PostgreSQL docs 20.5.1). Skipped on a standby.",
        frameworks: &["SOC2 A1.2", "PCI-DSS 10.5.1"],
        needs: &[Section::Settings],
        run: durability_off,
    },
    Check {
        id: "data_checksums_off",
        category: Category::Configuration,
        severity: Severity::Low,
        title: "Data checksums disabled",
        rationale: "Fails when the data_checksums setting is off: silent storage corruption then goes undetected until it breaks queries or backups (PostgreSQL docs, pg_checksums and initdb --data-checksums).",
        frameworks: &["SOC2 A1.2", "ISO 27001 A.8.13"],
        needs: &[Section::Settings],
        run: data_checksums_off,
    },
    Check {
        id: "extensions_outdated",
        category: Category::Configuration,
        severity: Severity::Low,
        title: "Extension older than the installed package",
        rationale: "Fails for each extension of this database whose installed version is older than the default_version its installed package offers (pg_available_extensions): the fixes of the newer version are on disk but not applied (PostgreSQL docs, ALTER EXTENSION ... UPDATE).",
        frameworks: &["PCI-DSS 6.3.3", "SOC2 CC7.1"],
        needs: &[Section::Extensions],
        run: extensions_outdated,
    },
];

fn unreadable(name: &str) -> CheckError {
    CheckError::Skipped(format!("the setting {name} is not readable by this role (it needs pg_read_all_settings, e.g. through pg_monitor)"))
}

fn setting<'a>(s: &'a Snapshot, name: &str) -> Result<&'a Setting, CheckError> {
    s.ops.setting(name).ok_or_else(|| unreadable(name))
}

fn setting_obj(name: &str) -> ObjRef {
    ObjRef::new("setting", name)
}

fn is_on(v: &str) -> bool {
    parse_bool(v).unwrap_or(true)
}

/// A time setting is 0 (disabled): "0", "0ms", "0s".
pub(crate) fn is_zero(v: &str) -> bool {
    let digits: String = v.trim().chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-').collect();
    digits.parse::<f64>().map(|x| x == 0.0).unwrap_or(false)
}

/// `ALTER SYSTEM SET` for a cluster-wide setting. Reloadable settings with
/// no manual prerequisite are runnable SQL followed by `pg_reload_conf()`;
/// settings that need a restart, or steps only a person can do first (certs,
/// an archiver), are advice carrying the same statements.
fn alter_system(setting: &Setting, value: &str, extra: &str) -> Remediation {
    let alter = format!("ALTER SYSTEM SET {} = {};", setting.name, literal(value));
    let needs_restart = matches!(setting.context.as_str(), "postmaster" | "internal");
    if !needs_restart && extra.is_empty() {
        return Remediation::sql(alter, LOCK_NONE)
            .then(Remediation::sql(crate::report::script::RELOAD, LOCK_NONE))
            .note(format!("server-wide: changes {} for every database on this server; {}", setting.name, setting.takes_effect()));
    }
    let reload = if needs_restart { "" } else { "\nSELECT pg_reload_conf();" };
    Remediation::Advice(format!(
        "Cluster-wide setting ({}): review, then run as a superuser:\n{alter}{reload}{}",
        setting.takes_effect(),
        if extra.is_empty() { String::new() } else { format!("\n{extra}") }
    ))
}

fn standby_skip(s: &Snapshot) -> Result<(), CheckError> {
    if s.in_recovery {
        return Err(CheckError::Skipped("this server is a hot standby: judge this on the primary".into()));
    }
    Ok(())
}

/// The value of a setting in this database for `role` (None: any role that
/// sets nothing itself): role in this database, role, database, server.
pub(crate) fn effective(s: &Snapshot, name: &str, role: Option<Oid>) -> Option<(String, &'static str)> {
    let db = Some(s.ops.database_oid);
    let find = |d: Option<Oid>, r: Option<Oid>| {
        s.ops
            .role_settings
            .iter()
            .filter(|rs| rs.database == d && rs.role == r)
            .find_map(|rs| rs.settings.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    };
    if role.is_some() {
        if let Some(v) = find(db, role) {
            return Some((v, "role in database"));
        }
        if let Some(v) = find(None, role) {
            return Some((v, "role"));
        }
    }
    if let Some(v) = find(db, None) {
        return Some((v, "database"));
    }
    s.ops.setting(name).map(|st| (st.server_value().to_string(), "server"))
}

fn pg_stat_statements_missing(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let libs = setting(s, "shared_preload_libraries")?;
    let loaded = libs.value.split(',').any(|l| l.trim().trim_matches('"') == "pg_stat_statements");
    let created = s.ops.extensions.iter().any(|e| e.name == "pg_stat_statements");
    let mut issues = Vec::new();
    if !loaded {
        issues.push(
            Issue::fail(setting_obj("shared_preload_libraries"), "pg_stat_statements is not in shared_preload_libraries")
                .evidence(json!({"shared_preload_libraries": libs.value, "extension_created": created}))
                .fix(Remediation::Advice(format!(
                    "Add pg_stat_statements to shared_preload_libraries (needs a server restart), then CREATE EXTENSION pg_stat_statements; in this database:\nALTER SYSTEM SET shared_preload_libraries = {};",
                    literal(&if libs.value.trim().is_empty() { "pg_stat_statements".to_string() } else { format!("{}, pg_stat_statements", libs.value) })
                ))),
        );
    } else if !created {
        issues.push(
            Issue::fail(ObjRef::new("database", s.database.clone()), "pg_stat_statements is loaded but not created in this database")
                .evidence(json!({"shared_preload_libraries": libs.value, "extension_created": false}))
                .fix(Remediation::sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;", LOCK_NONE)),
        );
    }
    Ok(Outcome::new("pg_stat_statements is loaded and created in this database", issues))
}

fn slow_query_logging_disabled(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let st = setting(s, "log_min_duration_statement")?;
    let (value, level) = effective(s, "log_min_duration_statement", None).unwrap_or_else(|| (st.value.clone(), "server"));
    let mut issues = Vec::new();
    if value.trim() == "-1" {
        issues.push(
            Issue::fail(setting_obj("log_min_duration_statement"), "log_min_duration_statement is -1: no statement is logged for its duration")
                .evidence(json!({"value": value, "level": level}))
                .fix(alter_system(st, "1s", "")),
        );
    }
    Ok(Outcome::new(format!("log_min_duration_statement is {value} ({level})"), issues))
}

fn slow_queries_present(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let top: Vec<_> = s
        .ops
        .slow_statements
        .iter()
        .map(|q| json!({"queryid": q.queryid, "calls": q.calls, "mean_ms": (q.mean_ms * 10.0).round() / 10.0, "query": q.text}))
        .collect();
    let mut issues = Vec::new();
    if !top.is_empty() {
        issues.push(
            Issue::fail(
                ObjRef::new("database", s.database.clone()),
                format!("{} with a mean execution time above 1 s", n_of(top.len(), "statement")),
            )
            .evidence(json!({"top": top}))
            .fix(Remediation::Advice(
                "EXPLAIN (ANALYZE, BUFFERS) each statement with representative parameters; add the missing index or rewrite it. SELECT pg_stat_statements_reset() after the fix to measure again.".into(),
            )),
        );
    }
    Ok(Outcome::new(format!("{} in pg_stat_statements, none with a mean above 1 s", n_of(s.ops.statements_seen as usize, "statement")), issues)
        .measure("readiness_slow_statements", json!({"database": s.database}), top.len() as f64))
}

fn int_setting(s: &Snapshot, name: &str) -> Result<i64, CheckError> {
    setting(s, name)?.value.trim().parse::<i64>().map_err(|_| CheckError::Skipped(format!("the setting {name} is not a number")))
}

fn connection_utilization_high(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let max = int_setting(s, "max_connections")?;
    let reserved = int_setting(s, "superuser_reserved_connections")? + s.ops.setting("reserved_connections").and_then(|v| v.value.parse::<i64>().ok()).unwrap_or(0);
    let usable = (max - reserved).max(1);
    let used = s.ops.sessions.len() as i64;
    let ratio = used as f64 / usable as f64;
    let mut issues = Vec::new();
    if ratio > 0.8 {
        issues.push(
            Issue::fail(setting_obj("max_connections"), format!("{used} of {usable} usable connections in use ({:.0}%)", ratio * 100.0))
                .evidence(json!({"used": used, "max_connections": max, "reserved": reserved, "usable": usable, "utilization": (ratio * 1000.0).round() / 1000.0}))
                .fix(Remediation::Advice(
                    "Put a connection pooler (PgBouncer in transaction mode) in front of the application and size its pool well below max_connections; raising max_connections costs memory per connection and needs a restart.".into(),
                )),
        );
    }
    // The pass detail names the limit, not the live count, so it reads the
    // same from one run to the next; the count is in readiness_metrics.
    Ok(Outcome::new(format!("connections in use below 80% of the {usable} usable"), issues)
        .measure("readiness_connection_utilization", json!({}), ratio))
}

fn idle_in_transaction(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let st = setting(s, "idle_in_transaction_session_timeout")?;
    let (value, level) = effective(s, "idle_in_transaction_session_timeout", None).unwrap_or_else(|| (st.value.clone(), "server"));
    let mut issues = Vec::new();
    if is_zero(&value) {
        issues.push(
            Issue::fail(setting_obj("idle_in_transaction_session_timeout"), "idle_in_transaction_session_timeout is 0: an abandoned transaction stays open forever")
                .evidence(json!({"value": value, "level": level}))
                .fix(
                    Remediation::sql(format!("ALTER DATABASE {} SET idle_in_transaction_session_timeout = '5min';", quote_db(s)), LOCK_NONE)
                        .note("applies to new sessions of this database"),
                ),
        );
    }
    let idle: Vec<_> = s
        .ops
        .sessions
        .iter()
        .filter(|x| x.state.as_deref().is_some_and(|st| st.starts_with("idle in transaction")) && x.seconds_in_state.unwrap_or(0.0) > 300.0)
        .collect();
    let hidden = s.ops.sessions.iter().filter(|x| x.state.is_none()).count();
    if !idle.is_empty() {
        let list: Vec<_> = idle
            .iter()
            .map(|x| json!({"pid": x.pid, "user": x.user, "database": x.database, "idle_seconds": x.seconds_in_state.unwrap_or(0.0).round()}))
            .collect();
        issues.push(
            Issue::fail(ObjRef::new("database", s.database.clone()), format!("{} idle in transaction for more than 5 minutes", n_of(idle.len(), "session")))
                .evidence(json!({"sessions": list, "sessions_not_visible": hidden}))
                .fix(Remediation::Advice(
                    "Find the application code that leaves transactions open; end these sessions with SELECT pg_terminate_backend(pid) if they are abandoned.".into(),
                )),
        );
    }
    let visible = s.ops.sessions.len() - hidden;
    let mut inspected = format!("idle_in_transaction_session_timeout is {value} ({level}); {} visible, none idle in transaction for 5 minutes", n_of(visible, "session"));
    if hidden > 0 {
        inspected.push_str(&format!(" ({hidden} of other roles not visible without pg_read_all_stats)"));
    }
    Ok(Outcome::new(inspected, issues))
}

/// This database's name, quoted by the server (hand-quoted only if the
/// database list could not be read).
pub(crate) fn quote_db(s: &Snapshot) -> String {
    s.ops
        .databases
        .iter()
        .find(|d| d.oid == s.ops.database_oid)
        .map(|d| d.quoted.clone())
        .unwrap_or_else(|| format!("\"{}\"", s.database.replace('"', "\"\"")))
}

fn timeouts_unset(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    setting(s, "statement_timeout")?;
    setting(s, "lock_timeout")?;
    let mut owners: Vec<Oid> = s.relations.iter().filter(|r| r.kind.is_table()).map(|r| r.owner).collect();
    owners.sort_unstable();
    owners.dedup();
    let roles: Vec<_> = owners
        .into_iter()
        .filter(|o| *o != BOOTSTRAP_SUPERUSER)
        .filter_map(|o| s.role(o))
        .filter(|r| r.can_login)
        .collect();
    let both = |role: Option<Oid>| {
        let st = effective(s, "statement_timeout", role).unwrap_or(("0".into(), "server"));
        let lt = effective(s, "lock_timeout", role).unwrap_or(("0".into(), "server"));
        (st, lt)
    };
    let mut issues = Vec::new();
    if roles.is_empty() {
        let (st, lt) = both(None);
        if is_zero(&st.0) && is_zero(&lt.0) {
            let db = quote_db(s);
            issues.push(
                Issue::fail(ObjRef::new("database", s.database.clone()), "neither statement_timeout nor lock_timeout is set for this database")
                    .evidence(json!({"statement_timeout": st.0, "lock_timeout": lt.0}))
                    .fix(
                        Remediation::sql(format!("ALTER DATABASE {db} SET lock_timeout = '5s';"), LOCK_NONE)
                            .then(Remediation::sql(format!("ALTER DATABASE {db} SET statement_timeout = '60s';"), LOCK_NONE))
                            .note("applies to new sessions; set longer values for maintenance roles with ALTER ROLE ... SET"),
                    ),
            );
        }
        return Ok(Outcome::new("no LOGIN role other than the bootstrap superuser owns tables; this database has a timeout", issues));
    }
    let db = quote_db(s);
    for r in &roles {
        let (st, lt) = both(Some(r.oid));
        if !(is_zero(&st.0) && is_zero(&lt.0)) {
            continue;
        }
        issues.push(
            Issue::fail(ObjRef::new("role", r.quoted.clone()), format!("LOGIN role owning tables runs with neither statement_timeout nor lock_timeout in {}", s.database))
                .evidence(json!({"statement_timeout": st.0, "statement_timeout_level": st.1, "lock_timeout": lt.0, "lock_timeout_level": lt.1}))
                .fix(
                    Remediation::sql(format!("ALTER ROLE {} IN DATABASE {db} SET lock_timeout = '5s';", r.quoted), LOCK_NONE)
                        .then(Remediation::sql(format!("ALTER ROLE {} IN DATABASE {db} SET statement_timeout = '60s';", r.quoted), LOCK_NONE))
                        .note("applies to the role's new sessions in this database"),
                ),
        );
    }
    Ok(Outcome::new(format!("{} owning tables, each with a statement or lock timeout", n_of(roles.len(), "LOGIN role")), issues))
}

fn wal_archiving_disabled(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    standby_skip(s)?;
    let mode = setting(s, "archive_mode")?;
    let streaming = s.ops.wal_senders + s.ops.active_physical_slots;
    let mut issues = Vec::new();
    if mode.value == "off" && streaming == 0 {
        issues.push(
            Issue::fail(setting_obj("archive_mode"), "archive_mode is off and nothing streams WAL: no point-in-time recovery")
                .evidence(json!({"archive_mode": mode.value, "wal_senders": s.ops.wal_senders, "active_physical_slots": s.ops.active_physical_slots}))
                .fix(alter_system(
                    mode,
                    "on",
                    "Also set archive_command (or archive_library) to a tested archiver such as pgBackRest or WAL-G, or stream WAL with pg_receivewal / a replica.",
                )),
        );
    }
    Ok(Outcome::new(format!("archive_mode is {}; {} streaming WAL", mode.value, n_of(streaming as usize, "WAL receiver")), issues))
}

fn archiver_failing(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    standby_skip(s)?;
    let mode = setting(s, "archive_mode")?;
    if mode.value == "off" {
        return Ok(Outcome::new("archive_mode is off: nothing to archive (see wal_archiving_disabled)", vec![]));
    }
    let Some(a) = &s.ops.archiver else {
        return Err(CheckError::Skipped("pg_stat_archiver returned no row".into()));
    };
    let day = 86_400.0;
    let failing = a.failed_count > 0 && a.last_failed.is_some_and(|f| a.last_archived.is_none_or(|ok| f > ok));
    let stale = s.now - s.postmaster_start > day && a.last_archived.is_none_or(|ok| s.now - ok > day);
    let mut issues = Vec::new();
    if failing || stale {
        let detail = if failing {
            "the last archive attempt failed after the last success".to_string()
        } else {
            "no WAL segment archived successfully in the last 24 h".to_string()
        };
        issues.push(
            Issue::fail(setting_obj("archive_mode"), detail)
                .evidence(json!({
                    "archived_count": a.archived_count,
                    "failed_count": a.failed_count,
                    "last_failed_wal": a.last_failed_wal,
                    "hours_since_last_success": a.last_archived.map(|t| ((s.now - t) / 360.0).round() / 10.0),
                    "hours_since_last_failure": a.last_failed.map(|t| ((s.now - t) / 360.0).round() / 10.0),
                }))
                .fix(Remediation::Advice(
                    "Read the archiver's errors in the server log, fix archive_command (permissions, space, credentials), and check that pg_wal is not filling up.".into(),
                )),
        );
    }
    Ok(Outcome::new(format!("archiver: {} archived, {} failed, last attempt succeeded", a.archived_count, a.failed_count), issues))
}

fn ssl_disabled(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let st = setting(s, "ssl")?;
    let mut issues = Vec::new();
    if !is_on(&st.value) {
        issues.push(
            Issue::fail(setting_obj("ssl"), "ssl is off: connections are not encrypted")
                .evidence(json!({"ssl": st.value}))
                .fix(alter_system(st, "on", "Install ssl_cert_file / ssl_key_file first, and require SSL with hostssl lines in pg_hba.conf.")),
        );
    }
    Ok(Outcome::new("ssl is on", issues))
}

fn password_encryption_md5(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let st = setting(s, "password_encryption")?;
    let mut issues = Vec::new();
    if st.value == "md5" {
        issues.push(
            Issue::fail(setting_obj("password_encryption"), "password_encryption is md5: new passwords are stored as MD5 hashes")
                .evidence(json!({"password_encryption": st.value}))
                .fix(alter_system(st, "scram-sha-256", "Then reset the passwords of the LOGIN roles, and use scram-sha-256 in pg_hba.conf.")),
        );
    }
    let mut roles_note = String::new();
    match s.section_state(Section::Passwords) {
        Some(SectionState::Unavailable(reason)) => {
            issues.push(Issue::skipped(Some(ObjRef::new("setting", "password_encryption")), format!("roles' stored hashes not checked: {reason}")));
        }
        Some(SectionState::Failed { sqlstate, message }) => {
            return Err(CheckError::Failed { sqlstate: sqlstate.clone(), message: message.clone() });
        }
        None => {
            for oid in &s.ops.md5_roles {
                let Some(r) = s.role(*oid) else { continue };
                issues.push(
                    Issue::fail(ObjRef::new("role", r.quoted.clone()), "the role's password is stored as an MD5 hash")
                        .evidence(json!({"hash": "md5"}))
                        .fix(Remediation::Advice(format!(
                            "With password_encryption = 'scram-sha-256', set the password again (\\password {} in psql, so it never appears in logs).",
                            r.quoted
                        ))),
                );
            }
            roles_note = "; no LOGIN role has an MD5 password".into();
        }
    }
    Ok(Outcome::new(format!("password_encryption is {}{roles_note}", st.value), issues))
}

fn durability_off(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    standby_skip(s)?;
    let mut issues = Vec::new();
    for name in ["fsync", "full_page_writes", "synchronous_commit"] {
        let st = setting(s, name)?;
        let value = st.server_value();
        if !is_on(value) || (name == "synchronous_commit" && value == "off") {
            issues.push(
                Issue::fail(setting_obj(name), format!("{name} is off on a primary"))
                    .evidence(json!({"setting": name, "value": value}))
                    .fix(alter_system(st, "on", "")),
            );
        }
    }
    Ok(Outcome::new("fsync, full_page_writes and synchronous_commit are on", issues))
}

fn data_checksums_off(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let st = setting(s, "data_checksums")?;
    let mut issues = Vec::new();
    if !is_on(&st.value) {
        issues.push(
            Issue::fail(setting_obj("data_checksums"), "data checksums are disabled: storage corruption goes undetected")
                .evidence(json!({"data_checksums": st.value}))
                .fix(Remediation::Advice(
                    "Enable them with pg_checksums --enable on the stopped cluster (or initdb --data-checksums and a dump/restore or logical replication to the new cluster).".into(),
                )),
        );
    }
    Ok(Outcome::new("data checksums are enabled", issues))
}

/// Compares dotted versions numerically ("1.10" > "1.9"); None when either
/// is not made of numbers.
fn older(installed: &str, default: &str) -> Option<bool> {
    let parse = |v: &str| v.split('.').map(|p| p.parse::<u64>().ok()).collect::<Option<Vec<u64>>>();
    Some(parse(installed)? < parse(default)?)
}

fn extensions_outdated(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    for e in &s.ops.extensions {
        let Some(default) = &e.default_version else { continue };
        let outdated = older(&e.installed, default).unwrap_or(e.installed != *default);
        if !outdated {
            continue;
        }
        issues.push(
            Issue::fail(ObjRef::new("extension", e.quoted.clone()), format!("version {} is installed; {} is available", e.installed, default))
                .evidence(json!({"installed": e.installed, "default_version": default}))
                .fix(
                    Remediation::sql(format!("ALTER EXTENSION {} UPDATE;", e.quoted), LOCK_NONE)
                        .note("runs the extension's upgrade scripts, which may lock the extension's own objects briefly"),
                ),
        );
    }
    Ok(Outcome::new(format!("{}, all at their default version", n_of(s.ops.extensions.len(), "extension")), issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::snapshot::build::*;
    use crate::snapshot::server::{Archiver, Extension, RoleSetting, Session};

    fn server() -> SnapshotBuilder {
        let mut b = SnapshotBuilder::new();
        b.default_settings();
        b
    }

    fn statuses(rows: &[crate::model::Finding]) -> Vec<&'static str> {
        rows.iter().map(|r| r.status.as_str()).collect()
    }

    #[test]
    fn settings_not_readable_are_skipped() {
        let b = SnapshotBuilder::new();
        for id in ["ssl_disabled", "durability_off", "data_checksums_off", "pg_stat_statements_missing", "connection_utilization_high"] {
            let rows = run(id, &b);
            assert_eq!(statuses(&rows), vec!["skipped"], "{id}");
            assert!(rows[0].detail.contains("pg_read_all_settings"), "{id}: {}", rows[0].detail);
        }
    }

    #[test]
    fn pg_stat_statements_not_loaded_not_created_and_ok() {
        let mut b = server();
        b.setting("shared_preload_libraries", "pgaudit");
        let rows = run("pg_stat_statements_missing", &b);
        assert_eq!(fails(&rows), vec!["shared_preload_libraries"]);
        assert!(rows[0].statements.is_empty(), "a restart is needed: advice only");
        assert!(rows[0].remediation.as_deref().unwrap().contains("pgaudit, pg_stat_statements"));
        b.setting("shared_preload_libraries", "pg_stat_statements");
        let rows = run("pg_stat_statements_missing", &b);
        assert_eq!(fails(&rows), vec!["app"]);
        assert_eq!(rows[0].statements, vec!["CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"]);
        b.extension("pg_stat_statements", "1.10", "1.10");
        assert!(passes(&run("pg_stat_statements_missing", &b)));
    }

    #[test]
    fn slow_query_logging_hit_and_database_override() {
        let mut b = server();
        b.setting("log_min_duration_statement", "-1");
        let rows = run("slow_query_logging_disabled", &b);
        assert_eq!(fails(&rows), vec!["log_min_duration_statement"]);
        let text = rows[0].remediation.clone().unwrap();
        // Reloadable and with no prerequisite: runnable, followed by the reload.
        assert!(text.ends_with("\nALTER SYSTEM SET log_min_duration_statement = '1s';\nSELECT pg_reload_conf();"), "{text}");
        assert!(text.starts_with("-- server-wide: changes log_min_duration_statement for every database"), "{text}");
        let db = b.snapshot_mut().ops.database_oid;
        b.snapshot_mut().ops.role_settings.push(RoleSetting { database: Some(db), role: None, settings: vec![("log_min_duration_statement".into(), "500".into())] });
        assert!(passes(&run("slow_query_logging_disabled", &b)));
    }

    #[test]
    fn slow_queries_present_hit_and_near_miss() {
        let mut b = server();
        b.snapshot_mut().ops.statements_seen = 3;
        assert!(passes(&run("slow_queries_present", &b)));
        b.snapshot_mut().ops.slow_statements.push(crate::snapshot::server::SlowStatement { queryid: 7, calls: 12, mean_ms: 2500.0, text: "SELECT * FROM orders WHERE status = $1".into() });
        let rows = run("slow_queries_present", &b);
        assert_eq!(fails(&rows), vec!["app"]);
        assert_eq!(rows[0].evidence["top"][0]["mean_ms"], 2500.0);
        b.snapshot_mut().sections.insert(Section::Statements, SectionState::Unavailable("not created".into()));
        assert_eq!(statuses(&run("slow_queries_present", &b)), vec!["skipped"]);
    }

    #[test]
    fn connection_utilization_above_80_percent() {
        let mut b = server();
        b.setting("max_connections", "20");
        b.setting("superuser_reserved_connections", "3");
        let sessions = |n: usize| (0..n).map(|i| Session { pid: i as i32, database: None, user: None, state: Some("idle".into()), seconds_in_state: Some(1.0) }).collect::<Vec<_>>();
        b.snapshot_mut().ops.sessions = sessions(13);
        assert!(passes(&run("connection_utilization_high", &b)), "13/17 = 76%");
        b.snapshot_mut().ops.sessions = sessions(14);
        let rows = run("connection_utilization_high", &b);
        assert_eq!(fails(&rows), vec!["max_connections"]);
        assert_eq!(rows[0].evidence["usable"], 17);
    }

    #[test]
    fn idle_in_transaction_sessions_and_timeout() {
        let mut b = server();
        b.setting("idle_in_transaction_session_timeout", "0");
        let rows = run("idle_in_transaction", &b);
        assert_eq!(fails(&rows), vec!["idle_in_transaction_session_timeout"]);
        assert_eq!(rows[0].statements, vec!["ALTER DATABASE app SET idle_in_transaction_session_timeout = '5min';"]);
        b.setting("idle_in_transaction_session_timeout", "300000");
        let idle = |secs: f64| Session { pid: 42, database: Some("app".into()), user: Some("app".into()), state: Some("idle in transaction".into()), seconds_in_state: Some(secs) };
        b.snapshot_mut().ops.sessions = vec![idle(299.0)];
        assert!(passes(&run("idle_in_transaction", &b)));
        b.snapshot_mut().ops.sessions = vec![idle(900.0)];
        let rows = run("idle_in_transaction", &b);
        assert_eq!(fails(&rows), vec!["app"]);
        assert_eq!(rows[0].evidence["sessions"][0]["pid"], 42);
    }

    #[test]
    fn timeouts_unset_per_owner_role_with_overrides() {
        let mut b = server();
        let app = b.role("app_owner", true, false, false);
        let t = b.table("orders", &[("id", "uuid")]);
        b.owner(t, app);
        let rows = run("timeouts_unset", &b);
        assert_eq!(fails(&rows), vec!["app_owner"]);
        assert_eq!(
            rows[0].statements,
            vec!["ALTER ROLE app_owner IN DATABASE app SET lock_timeout = '5s';", "ALTER ROLE app_owner IN DATABASE app SET statement_timeout = '60s';"]
        );
        // A database-level lock_timeout covers the role.
        let db = b.snapshot_mut().ops.database_oid;
        b.snapshot_mut().ops.role_settings.push(RoleSetting { database: Some(db), role: None, settings: vec![("lock_timeout".into(), "5s".into())] });
        assert!(passes(&run("timeouts_unset", &b)));
        // ...unless the role sets it back to 0.
        b.snapshot_mut().ops.role_settings.push(RoleSetting { database: None, role: Some(app), settings: vec![("lock_timeout".into(), "0".into())] });
        assert_eq!(fails(&run("timeouts_unset", &b)), vec!["app_owner"]);
    }

    #[test]
    fn timeouts_unset_on_the_database_when_only_the_superuser_owns_tables() {
        let mut b = server();
        b.table("orders", &[("id", "uuid")]);
        let rows = run("timeouts_unset", &b);
        assert_eq!(fails(&rows), vec!["app"]);
        b.setting("statement_timeout", "30s");
        assert!(passes(&run("timeouts_unset", &b)));
    }

    #[test]
    fn wal_archiving_and_streaming() {
        let mut b = server();
        let rows = run("wal_archiving_disabled", &b);
        assert_eq!(fails(&rows), vec!["archive_mode"]);
        assert!(rows[0].remediation.as_deref().unwrap().contains("needs a server restart"));
        b.snapshot_mut().ops.wal_senders = 1;
        assert!(passes(&run("wal_archiving_disabled", &b)), "a replica streams WAL");
        b.snapshot_mut().ops.wal_senders = 0;
        b.setting("archive_mode", "on");
        assert!(passes(&run("wal_archiving_disabled", &b)));
        b.snapshot_mut().in_recovery = true;
        assert_eq!(statuses(&run("wal_archiving_disabled", &b)), vec!["skipped"]);
    }

    #[test]
    fn archiver_failing_recent_failure_stale_success_and_healthy() {
        let mut b = server();
        b.setting("archive_mode", "on");
        let now = b.snapshot_mut().now;
        b.snapshot_mut().ops.archiver = Some(Archiver { archived_count: 10, last_archived: Some(now - 600.0), failed_count: 3, last_failed: Some(now - 60.0), last_failed_wal: Some("000000010000000000000042".into()) });
        let rows = run("archiver_failing", &b);
        assert_eq!(fails(&rows), vec!["archive_mode"]);
        assert!(rows[0].detail.contains("failed after the last success"));
        b.snapshot_mut().ops.archiver = Some(Archiver { archived_count: 10, last_archived: Some(now - 60.0), failed_count: 3, last_failed: Some(now - 600.0), last_failed_wal: None });
        assert!(passes(&run("archiver_failing", &b)), "recovered after the failure");
        b.snapshot_mut().ops.archiver = Some(Archiver { archived_count: 10, last_archived: Some(now - 2.0 * 86_400.0), failed_count: 0, last_failed: None, last_failed_wal: None });
        assert!(run("archiver_failing", &b)[0].detail.contains("24 h"));
        b.setting("archive_mode", "off");
        assert!(passes(&run("archiver_failing", &b)));
    }

    #[test]
    fn ssl_off_and_on() {
        let mut b = server();
        b.setting("ssl", "off");
        let rows = run("ssl_disabled", &b);
        assert_eq!(fails(&rows), vec!["ssl"]);
        assert!(rows[0].remediation.as_deref().unwrap().contains("takes effect on SELECT pg_reload_conf()"));
        b.setting("ssl", "on");
        assert!(passes(&run("ssl_disabled", &b)));
    }

    #[test]
    fn md5_setting_roles_and_unreadable_hashes() {
        let mut b = server();
        b.setting("password_encryption", "md5");
        let legacy = b.role("legacy_app", true, false, false);
        b.snapshot_mut().ops.md5_roles = vec![legacy];
        let rows = run("password_encryption_md5", &b);
        assert_eq!(fails(&rows), vec!["password_encryption", "legacy_app"]);
        b.setting("password_encryption", "scram-sha-256");
        b.snapshot_mut().ops.md5_roles.clear();
        assert!(passes(&run("password_encryption_md5", &b)));
        b.snapshot_mut().sections.insert(Section::Passwords, SectionState::Unavailable("superusers only".into()));
        assert_eq!(statuses(&run("password_encryption_md5", &b)), vec!["skipped", "pass"]);
    }

    #[test]
    fn durability_off_on_primary_only() {
        let mut b = server();
        b.setting("fsync", "off");
        b.setting("synchronous_commit", "off");
        assert_eq!(fails(&run("durability_off", &b)), vec!["fsync", "synchronous_commit"]);
        b.setting("fsync", "on");
        b.setting("synchronous_commit", "local");
        assert!(passes(&run("durability_off", &b)));
        b.setting("fsync", "off");
        b.snapshot_mut().in_recovery = true;
        assert_eq!(statuses(&run("durability_off", &b)), vec!["skipped"]);
    }

    #[test]
    fn data_checksums_hit_and_near_miss() {
        let mut b = server();
        b.setting("data_checksums", "off");
        assert_eq!(fails(&run("data_checksums_off", &b)), vec!["data_checksums"]);
        b.setting("data_checksums", "on");
        assert!(passes(&run("data_checksums_off", &b)));
    }

    #[test]
    fn extensions_outdated_compares_versions_numerically() {
        let mut b = server();
        b.extension("pg_stat_statements", "1.9", "1.10");
        b.extension("pgcrypto", "1.3", "1.3");
        let rows = run("extensions_outdated", &b);
        assert_eq!(fails(&rows), vec!["pg_stat_statements"]);
        assert_eq!(rows[0].statements, vec!["ALTER EXTENSION pg_stat_statements UPDATE;"]);
        assert_eq!(older("1.10", "1.9"), Some(false));
        b.snapshot_mut().ops.extensions = vec![Extension { name: "x".into(), quoted: "x".into(), schema: "public".into(), installed: "2.0".into(), default_version: Some("2.0".into()) }];
        assert!(passes(&run("extensions_outdated", &b)));
    }

    #[test]
    fn zero_durations() {
        assert!(is_zero("0"));
        assert!(is_zero("0ms"));
        assert!(!is_zero("30s"));
        assert!(!is_zero("5000"));
    }
}
