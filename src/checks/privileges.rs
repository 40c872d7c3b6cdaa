//! privileges — what PUBLIC may do, SECURITY DEFINER functions, and views
//! that read row-level-secured tables with their owner's rights.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use super::sqlgen::{LOCK_ACCESS_EXCLUSIVE, LOCK_NONE};
use super::{n_of, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::snapshot::server::{Schema, SecDefFunction};
use crate::snapshot::{Oid, RelKind, Section, Snapshot};

/// `pg_database_owner` (PostgreSQL 14+): owns `public`, stands for the database's owner.
const PG_DATABASE_OWNER: Oid = 6171;

const LEAST_PRIVILEGE: &[&str] = &["PCI-DSS 7.2.1", "SOC2 CC6.3", "CIS PostgreSQL Benchmark 4"];

pub static CHECKS: [Check; 5] = [
    Check {
        id: "public_schema_create",
        category: Category::Privileges,
        severity: Severity::High,
        title: "PUBLIC may create objects in a schema",
        rationale: "Fails for each inspected schema on which PUBLIC holds CREATE: any role can then plant tables, functions or operators that shadow the application's own in other roles' search_path (CVE-2018-1058; PostgreSQL 15 revoked it from public by default).",
        frameworks: &["CVE-2018-1058", "PCI-DSS 7.2.1", "CIS PostgreSQL Benchmark 4.5"],
        needs: &[Section::Schemas],
        run: public_schema_create,
    },
    Check {
        id: "public_table_privileges",
        category: Category::Privileges,
        severity: Severity::High,
        title: "PUBLIC holds privileges on a table or view",
        rationale: "Fails for each table, view, materialized view or foreign table (partitions included) in an inspected schema on which PUBLIC holds any privilege: every role, present and future, gets that access, bypassing the role design (PCI DSS 7.2.1 least privilege).",
        frameworks: LEAST_PRIVILEGE,
        needs: &[Section::Relations, Section::Grants],
        run: public_table_privileges,
    },
    Check {
        id: "security_definer_search_path",
        category: Category::Privileges,
        severity: Severity::High,
        title: "SECURITY DEFINER function with an unsafe search_path",
        rationale: "Fails for a SECURITY DEFINER function or procedure in an inspected schema that has no search_path set with it, whose search_path names a schema that PUBLIC or a non-superuser role other than the function's owner can create objects in (CREATE privilege or ownership), or that does not list pg_temp last (otherwise the caller's temporary schema is searched first for tables). A caller can otherwise make the function run its objects with the owner's rights (PostgreSQL docs, CREATE FUNCTION: Writing SECURITY DEFINER Functions Safely).",
        frameworks: &["PostgreSQL docs CREATE FUNCTION: Writing SECURITY DEFINER Functions Safely", "PCI-DSS 6.2.4", "CIS PostgreSQL Benchmark 4"],
        needs: &[Section::SecurityDefiners, Section::Schemas, Section::Roles],
        run: security_definer_search_path,
    },
    Check {
        id: "security_definer_public_execute",
        category: Category::Privileges,
        severity: Severity::Medium,
        title: "SECURITY DEFINER function executable by PUBLIC",
        rationale: "Fails for a SECURITY DEFINER function or procedure in an inspected schema that PUBLIC may EXECUTE (the default for new functions): every role then runs it with its owner's privileges. Grant EXECUTE only to the roles that need it (PostgreSQL docs, CREATE FUNCTION).",
        frameworks: LEAST_PRIVILEGE,
        needs: &[Section::SecurityDefiners],
        run: security_definer_public_execute,
    },
    Check {
        id: "view_bypasses_rls",
        category: Category::Privileges,
        severity: Severity::High,
        title: "View reads an RLS table with its owner's rights",
        rationale: "Fails for a view without security_invoker (PostgreSQL 15+) that reads, directly or through other views, a table with row-level security enabled: the view checks the policies as its owner (who usually owns the table and bypasses them), not as the caller, so every caller sees every tenant's rows (PostgreSQL docs, CREATE VIEW).",
        frameworks: &["PCI-DSS 7.2.1", "SOC2 CC6.1", "GDPR Art.32"],
        needs: &[Section::Relations, Section::Views],
        run: view_bypasses_rls,
    },
];

fn public_schema_create(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    let mut n = 0;
    for sch in s.ops.schemas.iter().filter(|x| x.inspected) {
        n += 1;
        if !sch.create_grantees.contains(&0) {
            continue;
        }
        issues.push(
            Issue::fail(ObjRef::new("schema", sch.quoted.clone()), "PUBLIC holds CREATE on this schema: any role can create objects in it")
                .evidence(json!({"grantee": "PUBLIC", "privilege": "CREATE"}))
                .fix(Remediation::sql(format!("REVOKE CREATE ON SCHEMA {} FROM PUBLIC;", sch.quoted), LOCK_NONE)),
        );
    }
    Ok(Outcome::new(format!("{}, none with CREATE for PUBLIC", n_of(n, "schema")), issues))
}

fn public_table_privileges(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut by_rel: BTreeMap<Oid, Vec<&str>> = BTreeMap::new();
    for g in s.grants.iter().filter(|g| g.grantee == 0) {
        by_rel.entry(g.table).or_default().push(g.privilege.as_str());
    }
    let mut issues = Vec::new();
    for rel in &s.relations {
        let Some(privs) = by_rel.get(&rel.oid) else { continue };
        let mut privs = privs.clone();
        privs.sort_unstable();
        privs.dedup();
        issues.push(
            Issue::fail(ObjRef::new(rel.kind.object_type(), rel.identity.clone()), format!("PUBLIC holds {} on this {}", privs.join(", "), rel.kind.object_type()))
                .evidence(json!({"grantee": "PUBLIC", "privileges": privs}))
                .fix(
                    Remediation::sql(format!("REVOKE ALL ON TABLE {} FROM PUBLIC;", rel.identity), LOCK_NONE)
                        .note("grant the privileges the application needs to its own roles first"),
                ),
        );
    }
    Ok(Outcome::new(format!("{}, none with privileges for PUBLIC", n_of(s.relations.len(), "relation")), issues))
}

/// `pg_database_owner` stands for the owner of this database.
fn resolve(s: &Snapshot, role: Oid) -> Oid {
    if role == PG_DATABASE_OWNER {
        s.ops.databases.iter().find(|d| d.oid == s.ops.database_oid).map(|d| d.owner).unwrap_or(role)
    } else {
        role
    }
}

/// Roles other than `owner` (and superusers) that can create objects in `sch`.
fn writers(s: &Snapshot, sch: &Schema, owner: Oid) -> Vec<String> {
    let trusted = |r: Oid| r == owner || s.role(r).is_some_and(|role| role.superuser);
    let mut out = Vec::new();
    let sowner = resolve(s, sch.owner);
    if !trusted(sowner) {
        out.push(format!("{} (owner)", s.role_name(sowner)));
    }
    for g in &sch.create_grantees {
        let g = &resolve(s, *g);
        if *g == 0 || !trusted(*g) {
            out.push(s.role_name(*g));
        }
    }
    out.dedup();
    out
}

/// Splits a `search_path` value into unquoted names.
fn path_entries(path: &str) -> Vec<String> {
    path.split(',').map(|p| p.trim().trim_matches('"').to_string()).filter(|p| !p.is_empty()).collect()
}

fn verb(f: &SecDefFunction) -> &'static str {
    if f.kind == "procedure" {
        "PROCEDURE"
    } else {
        "FUNCTION"
    }
}

fn security_definer_search_path(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    for f in &s.ops.secdef_functions {
        let owner_name = s.role(f.owner).map(|r| r.name.clone()).unwrap_or_default();
        let mut problems = Vec::new();
        let mut unsafe_schemas = Vec::new();
        let mut keep: Vec<String> = Vec::new();
        match &f.search_path {
            None => problems.push("no search_path is set with the function".to_string()),
            Some(path) => {
                let entries = path_entries(path);
                if entries.last().map(String::as_str) != Some("pg_temp") {
                    problems.push("pg_temp is not listed last, so the caller's temporary tables are searched first".into());
                }
                for e in &entries {
                    let name = if e == "$user" { owner_name.as_str() } else { e.as_str() };
                    if name == "pg_temp" || name == "pg_catalog" {
                        continue;
                    }
                    let Some(sch) = s.ops.schema_named(name) else { continue };
                    let w = writers(s, sch, f.owner);
                    if w.is_empty() {
                        if !keep.contains(&sch.quoted) {
                            keep.push(sch.quoted.clone());
                        }
                    } else {
                        unsafe_schemas.push(json!({"schema": sch.name, "writable_by": w}));
                    }
                }
                if !unsafe_schemas.is_empty() {
                    problems.push(format!("its search_path includes {} writable by other roles", n_of(unsafe_schemas.len(), "schema")));
                }
            }
        }
        if problems.is_empty() {
            continue;
        }
        if f.search_path.is_none() {
            if let Some(own) = s.ops.schema(f.schema).filter(|sch| writers(s, sch, f.owner).is_empty()) {
                keep.push(own.quoted.clone());
            }
        }
        let mut path = vec!["pg_catalog".to_string()];
        path.extend(keep);
        path.push("pg_temp".into());
        issues.push(
            Issue::fail(ObjRef::new(f.kind.clone(), f.identity.clone()), problems.join("; "))
                .evidence(json!({"search_path": f.search_path, "unsafe_schemas": unsafe_schemas, "owner": s.role_name(f.owner)}))
                .fix(
                    Remediation::sql(format!("ALTER {} {} SET search_path = {};", verb(f), f.identity, path.join(", ")), LOCK_NONE)
                        .note("objects in any other schema must then be schema-qualified in the function body"),
                ),
        );
    }
    Ok(Outcome::new(format!("{}, each with a safe search_path ending in pg_temp", n_of(s.ops.secdef_functions.len(), "SECURITY DEFINER function")), issues))
}

fn security_definer_public_execute(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    for f in s.ops.secdef_functions.iter().filter(|f| f.public_execute) {
        issues.push(
            Issue::fail(ObjRef::new(f.kind.clone(), f.identity.clone()), format!("PUBLIC may execute this SECURITY DEFINER {}", f.kind))
                .evidence(json!({"grantee": "PUBLIC", "privilege": "EXECUTE", "owner": s.role_name(f.owner)}))
                .fix(
                    Remediation::sql(format!("REVOKE EXECUTE ON {} {} FROM PUBLIC;", verb(f), f.identity), LOCK_NONE)
                        .note("then GRANT EXECUTE to the roles that need it"),
                ),
        );
    }
    Ok(Outcome::new(format!("{}, none executable by PUBLIC", n_of(s.ops.secdef_functions.len(), "SECURITY DEFINER function")), issues))
}

fn view_bypasses_rls(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut issues = Vec::new();
    let mut n = 0;
    for v in s.relations.iter().filter(|r| r.kind == RelKind::View) {
        n += 1;
        if s.ops.invoker_views.contains(&v.oid) {
            continue;
        }
        // Walk through views to the tables they read.
        let mut seen: HashSet<Oid> = HashSet::new();
        let mut stack: Vec<Oid> = s.ops.view_reads.get(&v.oid).cloned().unwrap_or_default();
        let mut rls_tables = Vec::new();
        while let Some(o) = stack.pop() {
            if !seen.insert(o) {
                continue;
            }
            let Some(rel) = s.relation(o) else { continue };
            if rel.kind == RelKind::View {
                stack.extend(s.ops.view_reads.get(&o).cloned().unwrap_or_default());
            } else if rel.kind.is_table() && rel.rls_enabled {
                rls_tables.push(rel.identity.clone());
            }
        }
        if rls_tables.is_empty() {
            continue;
        }
        rls_tables.sort();
        let fix = if s.server_version_num >= 150_000 {
            Remediation::sql(format!("ALTER VIEW {} SET (security_invoker = true);", v.identity), LOCK_ACCESS_EXCLUSIVE)
                .note("callers then need privileges on the tables themselves and see only the rows their own policies allow")
        } else {
            Remediation::Advice(format!(
                "Before PostgreSQL 15 views always run as their owner: make {} owned by a role that is subject to the policies (not the tables' owner, no BYPASSRLS), or replace it with a function.",
                v.identity
            ))
        };
        issues.push(
            Issue::fail(ObjRef::new("view", v.identity.clone()), format!("reads {} with row-level security as the view's owner {}", rls_tables.join(", "), s.role_name(v.owner)))
                .evidence(json!({"rls_tables": rls_tables, "view_owner": s.role_name(v.owner), "security_invoker": false}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{}, none reading an RLS table with its owner's rights", n_of(n, "view")), issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::snapshot::build::*;
    use crate::snapshot::server::{Database, SecDefFunction};
    use crate::snapshot::BOOTSTRAP_SUPERUSER;

    fn schema(b: &mut SnapshotBuilder, oid: Oid, name: &str, owner: Oid, create: Vec<Oid>) {
        b.snapshot_mut().ops.schemas.push(Schema { oid, name: name.into(), quoted: quote(name), owner, create_grantees: create, inspected: true });
    }

    fn secdef(b: &mut SnapshotBuilder, identity: &str, owner: Oid, path: Option<&str>, public: bool) {
        let oid = 90_000 + b.snapshot_mut().ops.secdef_functions.len() as Oid;
        b.snapshot_mut().ops.secdef_functions.push(SecDefFunction {
            oid,
            kind: "function".into(),
            identity: identity.into(),
            schema: 2200,
            owner,
            search_path: path.map(str::to_string),
            public_execute: public,
        });
    }

    fn base() -> SnapshotBuilder {
        let mut b = SnapshotBuilder::new();
        b.snapshot_mut().ops.database_oid = 5;
        b.snapshot_mut().ops.databases = vec![Database { oid: 5, name: "app".into(), quoted: "app".into(), xid_age: 1, allow_connections: true, owner: BOOTSTRAP_SUPERUSER }];
        schema(&mut b, 11, "pg_catalog", BOOTSTRAP_SUPERUSER, vec![]);
        schema(&mut b, 2200, "public", PG_DATABASE_OWNER, vec![PG_DATABASE_OWNER]);
        b
    }

    #[test]
    fn public_schema_create_hit_and_near_miss() {
        let mut b = base();
        let app = b.role("app", true, false, false);
        schema(&mut b, 3000, "shared", BOOTSTRAP_SUPERUSER, vec![0]);
        schema(&mut b, 3001, "app_only", BOOTSTRAP_SUPERUSER, vec![app]);
        let rows = run("public_schema_create", &b);
        assert_eq!(fails(&rows), vec!["shared"]);
        assert_eq!(rows[0].statements, vec!["REVOKE CREATE ON SCHEMA shared FROM PUBLIC;"]);
    }

    #[test]
    fn public_table_privileges_hit_and_near_miss() {
        let mut b = base();
        let app = b.role("app", true, false, false);
        let t = b.table("orders", &[("id", "uuid")]);
        let u = b.table("users", &[("id", "uuid")]);
        b.grant(t, 0, "SELECT").grant(t, 0, "INSERT").grant(u, app, "SELECT");
        let rows = run("public_table_privileges", &b);
        assert_eq!(fails(&rows), vec!["public.orders"]);
        assert_eq!(rows[0].detail, "PUBLIC holds INSERT, SELECT on this table");
        assert_eq!(rows[0].statements, vec!["REVOKE ALL ON TABLE public.orders FROM PUBLIC;"]);
    }

    #[test]
    fn security_definer_search_path_cases() {
        let mut b = base();
        let app = b.role("app", true, false, false);
        schema(&mut b, 3000, "scratch", BOOTSTRAP_SUPERUSER, vec![app]);
        secdef(&mut b, "public.no_path()", BOOTSTRAP_SUPERUSER, None, false);
        secdef(&mut b, "public.writable(uuid)", BOOTSTRAP_SUPERUSER, Some("scratch, pg_temp"), false);
        secdef(&mut b, "public.temp_first()", BOOTSTRAP_SUPERUSER, Some("pg_catalog, public"), false);
        secdef(&mut b, "public.pinned()", BOOTSTRAP_SUPERUSER, Some("pg_catalog, public, pg_temp"), false);
        // Owned by the function's owner through pg_database_owner: safe.
        secdef(&mut b, "public.own_schema()", BOOTSTRAP_SUPERUSER, Some("public, pg_temp"), false);
        let rows = run("security_definer_search_path", &b);
        assert_eq!(fails(&rows), vec!["public.no_path()", "public.writable(uuid)", "public.temp_first()"]);
        assert_eq!(rows[0].statements, vec!["ALTER FUNCTION public.no_path() SET search_path = pg_catalog, public, pg_temp;"]);
        assert_eq!(rows[1].statements, vec!["ALTER FUNCTION public.writable(uuid) SET search_path = pg_catalog, pg_temp;"]);
        assert_eq!(rows[1].evidence["unsafe_schemas"][0]["writable_by"][0], "app");
        assert!(rows[2].detail.contains("pg_temp is not listed last"), "{}", rows[2].detail);
    }

    #[test]
    fn security_definer_owned_by_app_with_superuser_schema_is_fine_but_not_the_reverse() {
        let mut b = base();
        let app = b.role("app", true, false, false);
        schema(&mut b, 3000, "app_schema", app, vec![]);
        secdef(&mut b, "public.as_postgres()", BOOTSTRAP_SUPERUSER, Some("app_schema, pg_temp"), false);
        secdef(&mut b, "public.as_app()", app, Some("app_schema, pg_temp"), false);
        let rows = run("security_definer_search_path", &b);
        assert_eq!(fails(&rows), vec!["public.as_postgres()"]);
        assert_eq!(rows[0].evidence["unsafe_schemas"][0]["writable_by"][0], "app (owner)");
    }

    #[test]
    fn security_definer_public_execute_hit_and_near_miss() {
        let mut b = base();
        secdef(&mut b, "public.open()", BOOTSTRAP_SUPERUSER, Some("pg_catalog, pg_temp"), true);
        secdef(&mut b, "public.closed()", BOOTSTRAP_SUPERUSER, Some("pg_catalog, pg_temp"), false);
        let rows = run("security_definer_public_execute", &b);
        assert_eq!(fails(&rows), vec!["public.open()"]);
        assert_eq!(rows[0].statements, vec!["REVOKE EXECUTE ON FUNCTION public.open() FROM PUBLIC;"]);
    }

    #[test]
    fn view_bypasses_rls_direct_nested_and_invoker() {
        let mut b = base();
        let t = b.table("orders", &[("id", "uuid"), ("tenant_id", "uuid")]);
        b.rls(t, true, true);
        let plain = b.table("venues", &[("id", "uuid")]);
        let direct = b.view("order_totals", &[("id", "uuid")]);
        let nested = b.view("order_report", &[("id", "uuid")]);
        let safe = b.view("my_orders", &[("id", "uuid")]);
        let other = b.view("venue_list", &[("id", "uuid")]);
        let ops = &mut b.snapshot_mut().ops;
        ops.view_reads.insert(direct, vec![t]);
        ops.view_reads.insert(nested, vec![direct]);
        ops.view_reads.insert(safe, vec![t]);
        ops.view_reads.insert(other, vec![plain]);
        ops.invoker_views.insert(safe);
        let rows = run("view_bypasses_rls", &b);
        assert_eq!(fails(&rows), vec!["public.order_totals", "public.order_report"]);
        assert_eq!(rows[0].statements, vec!["ALTER VIEW public.order_totals SET (security_invoker = true);"]);
        b.snapshot_mut().server_version_num = 140_000;
        assert!(run("view_bypasses_rls", &b)[0].statements.is_empty());
    }
}
