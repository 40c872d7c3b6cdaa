//! Remediation SQL fragments shared by the checks. Identifiers come from the
//! snapshot already quoted by the server's `quote_ident`; values are written
//! as SQL literals here. No name is ever spliced in unquoted.

use crate::config::Config;
use crate::model::Remediation;
use crate::snapshot::{Column, Index, RelKind, Relation};

pub const LOCK_SHARE_UPDATE_EXCLUSIVE: &str = "SHARE UPDATE EXCLUSIVE";
pub const LOCK_SHARE: &str = "SHARE";
pub const LOCK_SHARE_ROW_EXCLUSIVE: &str = "SHARE ROW EXCLUSIVE";
pub const LOCK_ACCESS_EXCLUSIVE: &str = "ACCESS EXCLUSIVE";
pub const LOCK_NONE: &str = "no table lock";

/// A string as a SQL literal (standard_conforming_strings is on since 9.1;
/// `E''` is used only when a backslash would otherwise be ambiguous).
pub fn literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// `CREATE INDEX` on `columns_sql`: CONCURRENTLY where PostgreSQL allows it
/// (not on a partitioned table, where it builds on every partition under SHARE).
pub fn create_index(
    rel: &Relation,
    using: Option<&str>,
    columns_sql: &str,
    include_sql: Option<&str>,
    predicate: Option<&str>,
) -> Remediation {
    let method = using.map(|m| format!(" USING {m}")).unwrap_or_default();
    let include = include_sql.map(|i| format!(" INCLUDE ({i})")).unwrap_or_default();
    let pred = predicate.map(|p| format!(" WHERE {p}")).unwrap_or_default();
    if rel.kind == RelKind::PartitionedTable {
        Remediation::sql(format!("CREATE INDEX ON {}{method} ({columns_sql}){include}{pred};", rel.identity), LOCK_SHARE)
            .note("CONCURRENTLY is not supported on a partitioned table: this locks every partition against writes while it builds")
    } else {
        Remediation::sql(
            format!("CREATE INDEX CONCURRENTLY ON {}{method} ({columns_sql}){include}{pred};", rel.identity),
            LOCK_SHARE_UPDATE_EXCLUSIVE,
        )
    }
}

/// `DROP INDEX`, CONCURRENTLY unless the index is a partitioned index.
pub fn drop_index(index: &Index, partitioned_parent: bool) -> Remediation {
    if partitioned_parent {
        Remediation::sql(format!("DROP INDEX {};", index.identity), LOCK_ACCESS_EXCLUSIVE)
    } else {
        Remediation::sql(format!("DROP INDEX CONCURRENTLY {};", index.identity), LOCK_SHARE_UPDATE_EXCLUSIVE)
    }
}

/// A name for a generated constraint or trigger: `prefix_table_column`,
/// folded to `[a-z0-9_]` and cut to 63 bytes, so it never needs quoting
/// (the prefixes are not keywords).
pub fn generated_name(prefix: &str, parts: &[&str]) -> String {
    let mut s = String::from(prefix);
    for p in parts {
        s.push('_');
        s.extend(p.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }));
    }
    s.truncate(63);
    s
}

/// `ADD CONSTRAINT ... NOT VALID` then `VALIDATE CONSTRAINT`: the brief lock
/// first, the long scan under SHARE UPDATE EXCLUSIVE.
pub fn add_validated_constraint(rel: &Relation, name: &str, definition: &str, add_lock: &'static str) -> Remediation {
    Remediation::sql(format!("ALTER TABLE {} ADD CONSTRAINT {name} {definition} NOT VALID;", rel.identity), add_lock)
        .then(Remediation::sql(format!("ALTER TABLE {} VALIDATE CONSTRAINT {name};", rel.identity), LOCK_SHARE_UPDATE_EXCLUSIVE))
}

/// The tenant predicate RLS policies should use: the setting read once per
/// statement through a scalar sub-select, cast to the column's type.
pub fn tenant_predicate(tenant: &Column, config: &Config) -> String {
    format!(
        "{} = (SELECT current_setting({}, true))::{}",
        tenant.quoted,
        literal(&config.tenant_setting),
        tenant.type_name
    )
}

pub fn tenant_policy(rel: &Relation, tenant: &Column, config: &Config) -> String {
    let pred = tenant_predicate(tenant, config);
    format!("CREATE POLICY tenant_isolation ON {} USING ({pred}) WITH CHECK ({pred});", rel.identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_need_no_quoting() {
        assert_eq!(generated_name("chk", &["Order \"Items\"", "Price"]), "chk_order__items__price");
        assert_eq!(generated_name("chk", &["注文", "x"]), "chk____x");
        assert_eq!(generated_name("chk", &[&"a".repeat(80)]).len(), 63);
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("app.current_tenant"), "'app.current_tenant'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\b"), r"E'a\\b'");
    }
}
