//! Type names: the parser writes `int`, `integer` and `int4` all as
//! `pg_catalog.int4`, but `timestamptz` or `text` as written; `format_type()`
//! prints `integer` and `timestamp with time zone`. Both sides are mapped to
//! one canonical name here so a script's types can be compared with the
//! catalog's.

use super::TypeSpec;

/// The canonical (internal) name of a type name or alias, lower-cased.
pub fn canonical(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("pg_catalog.").unwrap_or(&n).to_string();
    match n.as_str() {
        "int" | "integer" | "int4" => "int4",
        "smallint" | "int2" => "int2",
        "bigint" | "int8" => "int8",
        "serial" | "serial4" => "serial",
        "bigserial" | "serial8" => "bigserial",
        "smallserial" | "serial2" => "smallserial",
        "real" | "float4" => "float4",
        "double precision" | "float8" | "float" => "float8",
        "numeric" | "decimal" => "numeric",
        "character varying" | "varchar" => "varchar",
        "character" | "char" | "bpchar" => "bpchar",
        "boolean" | "bool" => "bool",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "time" | "time without time zone" => "time",
        "timetz" | "time with time zone" => "timetz",
        "bit varying" | "varbit" => "varbit",
        other => return other.to_string(),
    }
    .to_string()
}

/// `format_type()` spelling of a canonical type.
pub fn display(t: &TypeSpec) -> String {
    let base = match t.name.as_str() {
        "int4" => "integer",
        "int2" => "smallint",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "varchar" => "character varying",
        "bpchar" => "character",
        "bool" => "boolean",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "time" => "time without time zone",
        "timetz" => "time with time zone",
        "varbit" => "bit varying",
        other => other,
    };
    let mods = if t.mods.is_empty() {
        String::new()
    } else {
        format!("({})", t.mods.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","))
    };
    // format_type puts the precision of timestamp types inside the name.
    let s = match (t.name.as_str(), mods.is_empty()) {
        ("timestamp", false) => format!("timestamp{mods} without time zone"),
        ("timestamptz", false) => format!("timestamp{mods} with time zone"),
        _ => format!("{base}{mods}"),
    };
    if t.array {
        format!("{s}[]")
    } else {
        s
    }
}

/// Parses a `format_type()` string back into a canonical type.
pub fn from_format_type(s: &str) -> TypeSpec {
    let mut s = s.trim().to_string();
    let array = s.ends_with("[]");
    if array {
        s.truncate(s.len() - 2);
    }
    let (name, mods) = match (s.find('('), s.find(')')) {
        (Some(a), Some(b)) if b > a => {
            let mods: Vec<i64> = s[a + 1..b].split(',').filter_map(|m| m.trim().parse().ok()).collect();
            let name = format!("{}{}", &s[..a], &s[b + 1..]);
            (name, mods)
        }
        _ => (s.clone(), Vec::new()),
    };
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    TypeSpec { name: canonical(&name), mods, array }
}

pub fn is_integer(t: &TypeSpec) -> bool {
    !t.array && matches!(t.name.as_str(), "int2" | "int4" | "int8" | "serial" | "bigserial" | "smallserial")
}

/// 32 bits or fewer: runs out at 2^31 ids.
pub fn is_small_integer(t: &TypeSpec) -> bool {
    !t.array && matches!(t.name.as_str(), "int2" | "int4" | "serial" | "smallserial")
}

pub fn is_float(t: &TypeSpec) -> bool {
    !t.array && matches!(t.name.as_str(), "float4" | "float8")
}

/// Does `ALTER COLUMN ... TYPE to` on a column of type `from` avoid a table
/// rewrite? Only the binary-coercible changes PostgreSQL documents as
/// rewrite-free (ALTER TABLE, Notes): widening or removing a varchar limit,
/// varchar <-> text, raising a numeric precision with the same scale,
/// removing a numeric constraint, widening varbit, cidr -> inet, and no
/// change at all. Everything else rewrites the table and its indexes.
pub fn change_is_rewrite_free(from: &TypeSpec, to: &TypeSpec, using: bool) -> bool {
    if using || from.array != to.array {
        return false;
    }
    let (f, t) = (from.name.as_str(), to.name.as_str());
    if f == t && from.mods == to.mods {
        return true;
    }
    match (f, t) {
        ("varchar", "varchar") | ("varbit", "varbit") => match (from.mods.first(), to.mods.first()) {
            (_, None) => true,
            (Some(a), Some(b)) => b >= a,
            (None, Some(_)) => false,
        },
        ("varchar", "text") | ("text", "varchar") => to.mods.is_empty() || t == "text",
        ("bpchar", "text") | ("bpchar", "varchar") => false,
        ("numeric", "numeric") => match (from.mods.as_slice(), to.mods.as_slice()) {
            (_, []) => true,
            ([p1, s1], [p2, s2]) => s1 == s2 && p2 >= p1,
            ([p1], [p2]) => p2 >= p1,
            ([p1], [p2, 0]) => p2 >= p1,
            ([p1, 0], [p2]) => p2 >= p1,
            _ => false,
        },
        ("cidr", "inet") => true,
        _ => false,
    }
}

/// Reserved key words that `quote_ident` always quotes (the common ones a
/// migration might use as a name).
pub fn is_reserved(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check",
        "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time",
        "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
        "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into",
        "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or",
        "order", "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric",
        "table", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where",
        "window", "with",
    ];
    RESERVED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, mods: &[i64]) -> TypeSpec {
        TypeSpec::new(name, mods)
    }

    #[test]
    fn canonical_names_and_format_type_round_trip() {
        assert_eq!(canonical("pg_catalog.int4"), "int4");
        assert_eq!(canonical("INTEGER"), "int4");
        assert_eq!(canonical("timestamp with time zone"), "timestamptz");
        for s in ["character varying(255)", "numeric(12,2)", "timestamp without time zone", "integer", "text", "uuid[]", "double precision"] {
            assert_eq!(display(&from_format_type(s)), s);
        }
        assert_eq!(from_format_type("timestamp(3) with time zone"), TypeSpec { name: "timestamptz".into(), mods: vec![3], array: false });
    }

    #[test]
    fn rewrite_free_type_changes() {
        assert!(change_is_rewrite_free(&t("varchar", &[100]), &t("varchar", &[255]), false));
        assert!(change_is_rewrite_free(&t("varchar", &[100]), &t("text", &[]), false));
        assert!(change_is_rewrite_free(&t("varchar", &[100]), &t("varchar", &[]), false));
        assert!(change_is_rewrite_free(&t("numeric", &[10, 2]), &t("numeric", &[12, 2]), false));
        assert!(change_is_rewrite_free(&t("cidr", &[]), &t("inet", &[]), false));
        // Near misses: shrinking, changing scale, int widening, a USING clause.
        assert!(!change_is_rewrite_free(&t("varchar", &[255]), &t("varchar", &[100]), false));
        assert!(!change_is_rewrite_free(&t("numeric", &[10, 2]), &t("numeric", &[12, 4]), false));
        assert!(!change_is_rewrite_free(&t("int4", &[]), &t("int8", &[]), false));
        assert!(!change_is_rewrite_free(&t("varchar", &[10]), &t("varchar", &[20]), true));
        assert!(!change_is_rewrite_free(&t("timestamp", &[]), &t("timestamptz", &[]), false));
    }
}
