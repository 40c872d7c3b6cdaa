//! rls — row-level security and tenant isolation.

use serde_json::json;

use super::sqlgen::{self, LOCK_ACCESS_EXCLUSIVE, LOCK_NONE};
use super::{n_of, Check};
use crate::config::Config;
use crate::model::{Category, CheckError, Issue, ObjRef, Outcome, Remediation, Severity};
use crate::snapshot::nodetree::{self, Node};
use crate::snapshot::{Policy, Relation, Section, Snapshot, BOOTSTRAP_SUPERUSER};

const ISOLATION: &[&str] = &["PCI-DSS 7.2.1", "SOC2 CC6.1", "GDPR Art.32"];
const POLICY_DOCS: &[&str] = &["PostgreSQL docs 5.8 Row Security Policies", "SOC2 CC6.1"];

pub static CHECKS: [Check; 9] = [
    Check {
        id: "rls_disabled_tenant_table",
        category: Category::Rls,
        severity: Severity::Critical,
        title: "Tenant table without row-level security",
        rationale: "Fails for every table (ordinary or partitioned, judged on the parent) that has the column named by pg_readiness.tenant_column and does not have ROW LEVEL SECURITY enabled. Without RLS, tenant isolation rests on every query remembering its WHERE clause; one missed filter leaks another tenant's data (PCI DSS 7.2: access limited to need to know).",
        frameworks: ISOLATION,
        needs: &[Section::Relations, Section::Policies],
        run: rls_disabled_tenant_table,
    },
    Check {
        id: "rls_not_forced",
        category: Category::Rls,
        severity: Severity::High,
        title: "Tenant table RLS not forced for its owner",
        rationale: "Fails for a tenant table that has RLS enabled but not FORCE ROW LEVEL SECURITY. Table owners bypass every policy unless RLS is forced, and applications commonly connect as the role that owns their tables (PostgreSQL docs 5.8).",
        frameworks: ISOLATION,
        needs: &[Section::Relations],
        run: rls_not_forced,
    },
    Check {
        id: "rls_enabled_no_policy",
        category: Category::Rls,
        severity: Severity::Medium,
        title: "RLS enabled without any policy",
        rationale: "Fails for a table (not a partition) with RLS enabled and no policy at all: PostgreSQL then applies default-deny, so every non-owner query returns no rows and writes fail, which is rarely what was meant (PostgreSQL docs 5.8).",
        frameworks: POLICY_DOCS,
        needs: &[Section::Relations, Section::Policies],
        run: rls_enabled_no_policy,
    },
    Check {
        id: "rls_policy_disabled_table",
        category: Category::Rls,
        severity: Severity::High,
        title: "Policies on a table whose RLS is disabled",
        rationale: "Fails for a table that has policies while ROW LEVEL SECURITY is disabled: the policies exist in the catalog but are never applied, which gives a false sense of isolation (PostgreSQL docs, CREATE POLICY).",
        frameworks: ISOLATION,
        needs: &[Section::Relations, Section::Policies],
        run: rls_policy_disabled_table,
    },
    Check {
        id: "rls_policy_no_tenant_predicate",
        category: Category::Rls,
        severity: Severity::High,
        title: "Permissive policy ignores the tenant column",
        rationale: "On a tenant table, fails for each PERMISSIVE policy whose USING or WITH CHECK expression tree contains no reference to the tenant column of the policy's own row, unless a RESTRICTIVE policy for the same command references the tenant column in all its expressions. Permissive policies are OR-ed together, so one policy without the tenant predicate opens every tenant's rows.",
        frameworks: ISOLATION,
        needs: &[Section::Relations, Section::Policies],
        run: rls_policy_no_tenant_predicate,
    },
    Check {
        id: "rls_policy_always_true",
        category: Category::Rls,
        severity: Severity::High,
        title: "Permissive policy that is always true",
        rationale: "Fails for a PERMISSIVE policy whose USING or WITH CHECK is constant true: after removing casts, the constant true, `=`/`<=`/`>=` between two identical constants (`1 = 1`), an OR with such an arm, an AND of only such arms, or NOT false. Such a policy disables RLS for the roles it applies to (OWASP ASVS V4.1).",
        frameworks: &["OWASP ASVS V4.1.3", "PCI-DSS 7.2.1", "SOC2 CC6.1"],
        needs: &[Section::Relations, Section::Policies],
        run: rls_policy_always_true,
    },
    Check {
        id: "rls_policy_per_row_setting",
        category: Category::Rls,
        severity: Severity::Medium,
        title: "Policy evaluates a setting once per row",
        rationale: "Fails for a policy whose expression calls a STABLE function (current_setting(), auth helpers) outside any sub-select and without row-dependent arguments: the planner evaluates it for every row instead of once per statement. Wrapping the call as (SELECT current_setting(...)) makes it an init-plan (PostgreSQL docs 5.8; the fix is the documented RLS performance pattern).",
        frameworks: &["PostgreSQL docs 5.8 Row Security Policies", "SOC2 A1.1"],
        needs: &[Section::Relations, Section::Policies, Section::Functions],
        run: rls_policy_per_row_setting,
    },
    Check {
        id: "rls_partition_bypass",
        category: Category::Rls,
        severity: Severity::High,
        title: "Partition readable directly, bypassing its parent's RLS",
        rationale: "Fails for a partition whose parent (or an ancestor) has RLS enabled while the partition itself does not, and a role other than the partition's owner (or PUBLIC) holds a privilege on the partition. PostgreSQL applies only the policies of the table named in the query, so querying the partition directly skips the parent's policies.",
        frameworks: ISOLATION,
        needs: &[Section::Relations, Section::Grants],
        run: rls_partition_bypass,
    },
    Check {
        id: "rls_bypass_roles",
        category: Category::Rls,
        severity: Severity::High,
        title: "Login role that bypasses RLS",
        rationale: "Fails for each LOGIN role other than the bootstrap superuser that has SUPERUSER or BYPASSRLS: sessions of that role ignore every policy, so tenant isolation depends on that role never being used by application code (PCI DSS 7.2.2 least privilege).",
        frameworks: &["PCI-DSS 7.2.2", "SOC2 CC6.3", "CIS PostgreSQL Benchmark 4"],
        needs: &[Section::Roles],
        run: rls_bypass_roles,
    },
];

fn table_obj(rel: &Relation) -> ObjRef {
    ObjRef::new(rel.kind.object_type(), rel.identity.clone())
}

fn policy_obj(p: &Policy, rel: &Relation) -> ObjRef {
    ObjRef::new("policy", format!("{} on {}", p.quoted, rel.identity))
}

fn tenant_tables<'a>(s: &'a Snapshot, c: &'a Config) -> impl Iterator<Item = &'a Relation> {
    s.top_tables().filter(move |r| s.is_tenant_table(r, &c.tenant_column))
}

fn rls_disabled_tenant_table(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in tenant_tables(s, c) {
        n += 1;
        if rel.rls_enabled {
            continue;
        }
        let tenant = rel.column(&c.tenant_column).expect("tenant table has the column");
        let has_policies = s.policies_of(rel.oid).next().is_some();
        let mut fix = Remediation::sql(format!("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;", rel.identity), LOCK_ACCESS_EXCLUSIVE)
            .then(Remediation::sql(format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", rel.identity), LOCK_ACCESS_EXCLUSIVE));
        if !has_policies {
            fix = fix.then(Remediation::sql(sqlgen::tenant_policy(rel, tenant, c), LOCK_ACCESS_EXCLUSIVE));
        }
        issues.push(
            Issue::fail(
                table_obj(rel),
                format!("tenant table (has {}) does not have row-level security enabled", tenant.quoted),
            )
            .evidence(json!({"tenant_column": c.tenant_column, "rls_enabled": false, "has_policies": has_policies}))
            .fix(fix),
        );
    }
    Ok(Outcome::new(
        format!("{} with {}, all with RLS enabled", n_of(n, "table"), c.tenant_column),
        issues,
    ))
}

fn rls_not_forced(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in tenant_tables(s, c).filter(|r| r.rls_enabled) {
        n += 1;
        if rel.rls_forced {
            continue;
        }
        issues.push(
            Issue::fail(table_obj(rel), format!("RLS is enabled but not forced: the owner {} bypasses every policy", s.role_name(rel.owner)))
                .evidence(json!({"owner": s.role_name(rel.owner), "rls_forced": false}))
                .fix(Remediation::sql(format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", rel.identity), LOCK_ACCESS_EXCLUSIVE)),
        );
    }
    Ok(Outcome::new(format!("{} with RLS enabled, all forced", n_of(n, "tenant table")), issues))
}

fn rls_enabled_no_policy(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.top_tables().filter(|r| r.rls_enabled) {
        n += 1;
        if s.policies_of(rel.oid).next().is_some() {
            continue;
        }
        let fix = match rel.column(&c.tenant_column) {
            Some(tenant) => Remediation::sql(sqlgen::tenant_policy(rel, tenant, c), LOCK_ACCESS_EXCLUSIVE),
            None => Remediation::Advice(format!(
                "Create the policies this table needs (CREATE POLICY ... ON {t} ...), or disable RLS if default-deny is not intended: ALTER TABLE {t} DISABLE ROW LEVEL SECURITY;",
                t = rel.identity
            )),
        };
        issues.push(
            Issue::fail(table_obj(rel), "RLS is enabled but the table has no policy: non-owners see no rows")
                .evidence(json!({"policies": 0}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{} with RLS enabled, all with at least one policy", n_of(n, "table")), issues))
}

fn rls_policy_disabled_table(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.relations.iter().filter(|r| r.kind.is_table()) {
        let count = s.policies_of(rel.oid).count();
        if count == 0 {
            continue;
        }
        n += 1;
        if rel.rls_enabled {
            continue;
        }
        let names: Vec<&str> = s.policies_of(rel.oid).map(|p| p.quoted.as_str()).collect();
        issues.push(
            Issue::fail(table_obj(rel), format!("{} defined but RLS is disabled, so none is applied", n_of(count, "policy")))
                .evidence(json!({"policies": names}))
                .fix(
                    Remediation::sql(format!("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;", rel.identity), LOCK_ACCESS_EXCLUSIVE)
                        .note("the policies start applying to every non-owner query"),
                ),
        );
    }
    Ok(Outcome::new(format!("{} with policies, all with RLS enabled", n_of(n, "table")), issues))
}

/// Expressions of a policy as (clause, tree, deparsed SQL). An expression whose
/// tree could not be read has `None` as tree.
fn expressions(p: &Policy) -> Vec<(&'static str, Option<&Node>, &str)> {
    let mut v = Vec::new();
    if let Some(sql) = &p.using_sql {
        v.push(("USING", p.using.as_ref(), sql.as_str()));
    }
    if let Some(sql) = &p.with_check_sql {
        v.push(("WITH CHECK", p.with_check.as_ref(), sql.as_str()));
    }
    v
}

fn unreadable(p: &Policy, rel: &Relation) -> Option<Issue> {
    expressions(p).iter().any(|(_, tree, _)| tree.is_none()).then(|| {
        Issue::skipped(Some(policy_obj(p, rel)), "the policy's expression tree could not be analysed")
    })
}

fn covers_command(restrictive: &Policy, cmd: char) -> bool {
    restrictive.cmd == '*' || restrictive.cmd == cmd
}

fn rls_policy_no_tenant_predicate(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in tenant_tables(s, c) {
        let tenant = rel.column(&c.tenant_column).expect("tenant column");
        let refs = |p: &Policy| expressions(p).iter().all(|(_, t, _)| t.is_some_and(|t| nodetree::references_column(t, tenant.attnum)));
        for p in s.policies_of(rel.oid).filter(|p| p.permissive) {
            n += 1;
            if let Some(skip) = unreadable(p, rel) {
                issues.push(skip);
                continue;
            }
            if refs(p) {
                continue;
            }
            let guarded = s
                .policies_of(rel.oid)
                .any(|r| !r.permissive && covers_command(r, p.cmd) && !expressions(r).is_empty() && refs(r));
            if guarded {
                continue;
            }
            let pred = sqlgen::tenant_predicate(tenant, c);
            let clauses: Vec<String> = expressions(p)
                .into_iter()
                .map(|(clause, tree, sql)| {
                    if tree.is_some_and(|t| nodetree::references_column(t, tenant.attnum)) {
                        format!("{clause} ({sql})")
                    } else {
                        format!("{clause} ({pred} AND {sql})")
                    }
                })
                .collect();
            let fix = if clauses.is_empty() {
                Remediation::Advice("Add a USING / WITH CHECK expression on the tenant column to this policy.".into())
            } else {
                Remediation::sql(format!("ALTER POLICY {} ON {} {};", p.quoted, rel.identity, clauses.join(" ")), LOCK_ACCESS_EXCLUSIVE)
            };
            let missing: Vec<&str> = expressions(p)
                .into_iter()
                .filter(|(_, t, _)| !t.is_some_and(|t| nodetree::references_column(t, tenant.attnum)))
                .map(|(clause, _, _)| clause)
                .collect();
            issues.push(
                Issue::fail(
                    policy_obj(p, rel),
                    format!("permissive policy's {} does not reference {}", missing.join(" and "), tenant.quoted),
                )
                .evidence(json!({"tenant_column": c.tenant_column, "clauses_without_tenant": missing, "command": cmd_name(p.cmd)}))
                .fix(fix),
            );
        }
    }
    Ok(Outcome::new(
        format!("{} on tenant tables, all referencing {}", n_of(n, "permissive policy"), c.tenant_column),
        issues,
    ))
}

fn cmd_name(cmd: char) -> &'static str {
    match cmd {
        'r' => "SELECT",
        'a' => "INSERT",
        'w' => "UPDATE",
        'd' => "DELETE",
        _ => "ALL",
    }
}

fn rls_policy_always_true(s: &Snapshot, c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for p in s.policies.iter().filter(|p| p.permissive) {
        let Some(rel) = s.relation(p.table) else { continue };
        n += 1;
        let constant: Vec<&str> = expressions(p)
            .into_iter()
            .filter(|(_, t, _)| t.is_some_and(|t| nodetree::is_constant_true(t, &s.reflexive_operators)))
            .map(|(clause, _, _)| clause)
            .collect();
        if constant.is_empty() {
            continue;
        }
        let fix = match rel.column(&c.tenant_column) {
            Some(tenant) => {
                let pred = sqlgen::tenant_predicate(tenant, c);
                let clauses: Vec<String> = constant.iter().map(|cl| format!("{cl} ({pred})")).collect();
                Remediation::sql(format!("ALTER POLICY {} ON {} {};", p.quoted, rel.identity, clauses.join(" ")), LOCK_ACCESS_EXCLUSIVE)
            }
            None => Remediation::Advice(format!(
                "Replace the constant with the predicate this policy should enforce (ALTER POLICY {} ON {} USING (...)), or drop the policy.",
                p.quoted, rel.identity
            )),
        };
        issues.push(
            Issue::fail(policy_obj(p, rel), format!("permissive policy's {} is always true", constant.join(" and ")))
                .evidence(json!({"constant_clauses": constant, "command": cmd_name(p.cmd)}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{}, none constant true", n_of(n, "permissive policy")), issues))
}

fn rls_policy_per_row_setting(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for p in &s.policies {
        let Some(rel) = s.relation(p.table) else { continue };
        n += 1;
        let mut funcs: Vec<u32> = Vec::new();
        let mut rewritten = Vec::new();
        let mut rewritable = true;
        for (clause, tree, sql) in expressions(p) {
            let Some(tree) = tree else { continue };
            let calls = nodetree::per_row_stable_calls(tree, &s.stable_functions);
            if calls.is_empty() {
                rewritten.push(format!("{clause} ({sql})"));
                continue;
            }
            let mut text = sql.to_string();
            for f in &calls {
                if !funcs.contains(f) {
                    funcs.push(*f);
                }
                let qualified = s.stable_functions.get(f).cloned().unwrap_or_default();
                let bare = qualified.rsplit('.').next().unwrap_or_default().to_string();
                match nodetree::wrap_calls(&text, &bare).or_else(|| nodetree::wrap_calls(&text, &qualified)) {
                    Some(t) => text = t,
                    None => rewritable = false,
                }
            }
            rewritten.push(format!("{clause} ({text})"));
        }
        if funcs.is_empty() {
            continue;
        }
        let names: Vec<String> = funcs.iter().filter_map(|f| s.stable_functions.get(f).cloned()).collect();
        let fix = if rewritable {
            Remediation::sql(format!("ALTER POLICY {} ON {} {};", p.quoted, rel.identity, rewritten.join(" ")), LOCK_ACCESS_EXCLUSIVE)
        } else {
            Remediation::Advice(format!(
                "Wrap each call of {} in a scalar sub-select, e.g. (SELECT current_setting('app.current_tenant', true))::uuid, with ALTER POLICY {} ON {}.",
                names.join(", "),
                p.quoted,
                rel.identity
            ))
        };
        issues.push(
            Issue::fail(policy_obj(p, rel), format!("calls {} once per row instead of once per statement", names.join(", ")))
                .evidence(json!({"functions": names}))
                .fix(fix),
        );
    }
    Ok(Outcome::new(format!("{}, none calling a stable function per row", n_of(n, "policy")), issues))
}

fn rls_protected_ancestor<'a>(s: &'a Snapshot, rel: &Relation) -> Option<&'a Relation> {
    let mut cur = rel.parent;
    let mut hops = 0;
    while let Some(oid) = cur {
        let parent = s.relation(oid)?;
        if parent.rls_enabled {
            return Some(parent);
        }
        cur = parent.parent;
        hops += 1;
        if hops > 64 {
            break;
        }
    }
    None
}

fn rls_partition_bypass(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let mut n = 0;
    let mut issues = Vec::new();
    for rel in s.relations.iter().filter(|r| r.is_partition && !r.rls_enabled) {
        let Some(parent) = rls_protected_ancestor(s, rel) else { continue };
        n += 1;
        let mut holders: Vec<String> = s
            .grants
            .iter()
            .filter(|g| g.table == rel.oid && g.grantee != rel.owner)
            .map(|g| format!("{}:{}", s.role_name(g.grantee), g.privilege))
            .collect();
        if holders.is_empty() {
            continue;
        }
        holders.sort();
        holders.dedup();
        issues.push(
            Issue::fail(
                table_obj(rel),
                format!("partition of RLS-protected {} has RLS disabled and grants to other roles", parent.identity),
            )
            .evidence(json!({"parent": parent.identity, "grants": holders}))
            .fix(
                Remediation::sql(format!("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;", rel.identity), LOCK_ACCESS_EXCLUSIVE).note(format!(
                    "with no policy of its own, direct queries on the partition return no rows; queries through {} are unaffected",
                    parent.identity
                )),
            ),
        );
    }
    Ok(Outcome::new(
        format!("{} of RLS-protected tables, none directly readable without RLS", n_of(n, "partition")),
        issues,
    ))
}

fn rls_bypass_roles(s: &Snapshot, _c: &Config) -> Result<Outcome, CheckError> {
    let logins: Vec<_> = s.roles.iter().filter(|r| r.can_login && r.oid != BOOTSTRAP_SUPERUSER).collect();
    let mut issues = Vec::new();
    for r in &logins {
        if !(r.superuser || r.bypass_rls) {
            continue;
        }
        let mut attrs = Vec::new();
        if r.superuser {
            attrs.push("SUPERUSER");
        }
        if r.bypass_rls {
            attrs.push("BYPASSRLS");
        }
        issues.push(
            Issue::fail(ObjRef::new("role", r.quoted.clone()), format!("login role has {}", attrs.join(" and ")))
                .evidence(json!({"attributes": attrs}))
                .fix(Remediation::sql(format!("ALTER ROLE {} NOSUPERUSER NOBYPASSRLS;", r.quoted), LOCK_NONE)),
        );
    }
    Ok(Outcome::new(
        format!("{} besides the bootstrap superuser, none with SUPERUSER or BYPASSRLS", n_of(logins.len(), "login role")),
        issues,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::model::Status;
    use crate::snapshot::build::*;

    fn tenant_table(b: &mut SnapshotBuilder, name: &str) -> u32 {
        b.table(name, &[("id", "uuid"), ("tenant_id", "uuid"), ("owner_id", "integer")])
    }

    #[test]
    fn disabled_tenant_table_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let orders = tenant_table(&mut b, "orders");
        let events = tenant_table(&mut b, "events");
        b.rls(events, true, true);
        b.table("countries", &[("code", "text")]); // no tenant column: not judged
        let rows = run("rls_disabled_tenant_table", &b);
        assert_eq!(fails(&rows), vec!["public.orders"]);
        let fix = rows[0].remediation.as_deref().unwrap();
        assert!(fix.contains("ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;"));
        assert!(fix.contains("ALTER TABLE public.orders FORCE ROW LEVEL SECURITY;"));
        assert!(fix.contains(
            "CREATE POLICY tenant_isolation ON public.orders USING (tenant_id = (SELECT current_setting('app.current_tenant', true))::uuid)"
        ));
        assert_eq!(rows[0].severity, Severity::Critical);
        assert_eq!(rows[0].object_type.as_deref(), Some("table"));
        b.rls(orders, true, false);
        let rows = run("rls_disabled_tenant_table", &b);
        assert!(passes(&rows));
        assert_eq!(rows[0].detail, "2 tables with tenant_id, all with RLS enabled");
    }

    #[test]
    fn disabled_tenant_table_keeps_existing_policies() {
        let mut b = SnapshotBuilder::new();
        let t = tenant_table(&mut b, "orders");
        b.policy(t, "p", Some(&tree_tenant_eq_wrapped(2)), None);
        let rows = run("rls_disabled_tenant_table", &b);
        assert!(!rows[0].remediation.as_deref().unwrap().contains("CREATE POLICY"));
    }

    #[test]
    fn partitions_are_judged_through_their_parent() {
        let mut b = SnapshotBuilder::new();
        let parent = b.partitioned("payments", &[("id", "uuid"), ("tenant_id", "uuid")]);
        b.partition_of(parent, "payments_2026");
        let rows = run("rls_disabled_tenant_table", &b);
        assert_eq!(fails(&rows), vec!["public.payments"]);
    }

    #[test]
    fn not_forced_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let a = tenant_table(&mut b, "a");
        let f = tenant_table(&mut b, "f");
        let off = tenant_table(&mut b, "off");
        b.rls(a, true, false).rls(f, true, true).rls(off, false, false);
        let rows = run("rls_not_forced", &b);
        assert_eq!(fails(&rows), vec!["public.a"]);
        assert_eq!(rows[0].remediation.as_deref(), Some("ALTER TABLE public.a FORCE ROW LEVEL SECURITY;"));
    }

    #[test]
    fn enabled_no_policy_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let bare = tenant_table(&mut b, "bare");
        let ok = tenant_table(&mut b, "ok");
        let plain = b.table("settings", &[("k", "text")]);
        b.rls(bare, true, true).rls(ok, true, true).rls(plain, true, false);
        b.policy(ok, "p", Some(&tree_tenant_eq_wrapped(2)), None);
        let rows = run("rls_enabled_no_policy", &b);
        assert_eq!(fails(&rows), vec!["public.bare", "public.settings"]);
        assert!(rows[0].remediation.as_deref().unwrap().starts_with("CREATE POLICY tenant_isolation ON public.bare"));
        assert!(rows[1].remediation.as_deref().unwrap().starts_with("-- Create the policies"));
        assert_eq!(rows[1].lock, None);
    }

    #[test]
    fn policy_disabled_table_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let off = tenant_table(&mut b, "off");
        let on = tenant_table(&mut b, "on_t");
        b.rls(on, true, true);
        b.policy(off, "p1", Some(&tree_tenant_eq_wrapped(2)), None);
        b.policy(on, "p2", Some(&tree_tenant_eq_wrapped(2)), None);
        let rows = run("rls_policy_disabled_table", &b);
        assert_eq!(fails(&rows), vec!["public.off"]);
        assert!(rows[0].remediation.as_deref().unwrap().ends_with("ALTER TABLE public.off ENABLE ROW LEVEL SECURITY;"));
    }

    #[test]
    fn no_tenant_predicate_hit_near_miss_and_restrictive_guard() {
        let mut b = SnapshotBuilder::new();
        let t = tenant_table(&mut b, "orders");
        b.rls(t, true, true);
        b.policy(t, "good", Some(&tree_tenant_eq_wrapped(2)), None);
        b.policy(t, "owner_only", Some(&tree_column_eq_const(3)), None);
        let rows = run("rls_policy_no_tenant_predicate", &b);
        assert_eq!(fails(&rows), vec!["owner_only on public.orders"]);
        assert_eq!(rows[0].object_type.as_deref(), Some("policy"));
        let fix = rows[0].remediation.as_deref().unwrap();
        assert!(fix.starts_with("ALTER POLICY owner_only ON public.orders USING (tenant_id = (SELECT current_setting('app.current_tenant', true))::uuid AND "), "{fix}");
        // A restrictive tenant policy for all commands makes the permissive one safe.
        let r = b.policy(t, "tenant_guard", Some(&tree_tenant_eq_wrapped(2)), None);
        b.policy_mut(r).permissive = false;
        assert!(passes(&run("rls_policy_no_tenant_predicate", &b)));
        // ... but not when the restrictive policy only covers DELETE.
        b.policy_mut(r).cmd = 'd';
        assert_eq!(fails(&run("rls_policy_no_tenant_predicate", &b)), vec!["owner_only on public.orders"]);
    }

    #[test]
    fn no_tenant_predicate_checks_with_check_too() {
        let mut b = SnapshotBuilder::new();
        let t = tenant_table(&mut b, "orders");
        b.rls(t, true, true);
        b.policy(t, "half", Some(&tree_tenant_eq_wrapped(2)), Some(&tree_column_eq_const(3)));
        let rows = run("rls_policy_no_tenant_predicate", &b);
        assert_eq!(fails(&rows), vec!["half on public.orders"]);
        assert_eq!(rows[0].evidence["clauses_without_tenant"], json!(["WITH CHECK"]));
    }

    #[test]
    fn unreadable_policy_is_skipped_not_passed() {
        let mut b = SnapshotBuilder::new();
        let t = tenant_table(&mut b, "orders");
        let p = b.policy(t, "odd", Some(&tree_tenant_eq_wrapped(2)), None);
        b.policy_mut(p).using = None;
        let rows = run("rls_policy_no_tenant_predicate", &b);
        assert_eq!(rows[0].status, Status::Skipped);
        assert_eq!(rows[0].object_name.as_deref(), Some("odd on public.orders"));
    }

    #[test]
    fn always_true_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = tenant_table(&mut b, "orders");
        b.policy(t, "open", Some(&tree_const_true()), None);
        b.policy(t, "fine", Some(&tree_tenant_eq_wrapped(2)), None);
        let r = b.policy(t, "restrictive_true", Some(&tree_const_true()), None);
        b.policy_mut(r).permissive = false;
        let rows = run("rls_policy_always_true", &b);
        assert_eq!(fails(&rows), vec!["open on public.orders"]);
        assert_eq!(
            rows[0].remediation.as_deref(),
            Some("ALTER POLICY open ON public.orders USING (tenant_id = (SELECT current_setting('app.current_tenant', true))::uuid);")
        );
    }

    #[test]
    fn per_row_setting_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        let t = tenant_table(&mut b, "orders");
        b.policy(t, "slow", Some(&tree_tenant_eq_setting(2)), None);
        b.policy(t, "fast", Some(&tree_tenant_eq_wrapped(2)), None);
        let rows = run("rls_policy_per_row_setting", &b);
        assert_eq!(fails(&rows), vec!["slow on public.orders"]);
        assert_eq!(
            rows[0].remediation.as_deref(),
            Some("ALTER POLICY slow ON public.orders USING ((tenant_id = ((SELECT current_setting('app.current_tenant'::text)))::uuid));")
        );
        assert_eq!(rows[0].evidence["functions"], json!(["pg_catalog.current_setting"]));
    }

    #[test]
    fn partition_bypass_hit_and_near_misses() {
        let mut b = SnapshotBuilder::new();
        let app = b.role("app_user", true, false, false);
        let parent = b.partitioned("payments", &[("id", "uuid"), ("tenant_id", "uuid")]);
        b.rls(parent, true, true);
        let p1 = b.partition_of(parent, "payments_2025");
        let p2 = b.partition_of(parent, "payments_2026");
        let p3 = b.partition_of(parent, "payments_2027");
        b.grant(p1, app, "SELECT");
        b.grant(p2, BOOTSTRAP_SUPERUSER, "SELECT"); // owner's own grant: not a bypass
        b.grant(p3, app, "SELECT").rls(p3, true, false); // partition has RLS: fine
        let rows = run("rls_partition_bypass", &b);
        assert_eq!(fails(&rows), vec!["public.payments_2025"]);
        assert_eq!(rows[0].evidence["grants"], json!(["app_user:SELECT"]));
        // Parent without RLS: nothing to bypass.
        b.rls(parent, false, false);
        assert!(passes(&run("rls_partition_bypass", &b)));
    }

    #[test]
    fn bypass_roles_hit_and_near_miss() {
        let mut b = SnapshotBuilder::new();
        b.role("admin", true, false, true);
        b.role("etl", false, true, false); // NOLOGIN: not a session role
        b.role("app", true, false, false);
        let rows = run("rls_bypass_roles", &b);
        assert_eq!(fails(&rows), vec!["admin"]);
        assert_eq!(rows[0].remediation.as_deref(), Some("ALTER ROLE admin NOSUPERUSER NOBYPASSRLS;"));
    }

    #[test]
    fn hostile_names_are_quoted_in_identity_and_sql() {
        let mut b = SnapshotBuilder::new();
        b.table("Order \"Items\"; DROP TABLE x;--", &[("tenant_id", "uuid")]);
        let rows = run("rls_disabled_tenant_table", &b);
        assert_eq!(fails(&rows), vec![r#"public."Order ""Items""; DROP TABLE x;--""#]);
        assert!(rows[0]
            .remediation
            .as_deref()
            .unwrap()
            .starts_with(r#"ALTER TABLE public."Order ""Items""; DROP TABLE x;--" ENABLE ROW LEVEL SECURITY;"#));
    }
}
