//! The settings a report runs with, as plain data. `guc.rs` fills it from the
//! `pg_readiness.*` GUCs; unit tests build it by hand.

/// Schemas that are never inspected, whatever `pg_readiness.excluded_schemas` says.
pub const ALWAYS_EXCLUDED: [&str; 3] = ["pg_catalog", "information_schema", "pg_toast"];

#[derive(Clone, Debug)]
pub struct Config {
    pub tenant_column: String,
    /// The user's list; `ALWAYS_EXCLUDED` and temporary schemas are added by the snapshot.
    pub excluded_schemas: Vec<String>,
    pub sample_rows: i32,
    pub sample_budget_ms: i32,
    pub large_table_bytes: i64,
    pub disabled_checks: Vec<String>,
    /// Setting name the RLS policy templates read the current tenant from.
    pub tenant_setting: String,
    /// `pg_readiness.bloat_method`: estimate, approx or exact.
    pub bloat_method: String,
    /// `pg_readiness.workload_min_calls`: calls a statement shape needs before
    /// composite_index_candidate considers it.
    pub workload_min_calls: i64,
    /// `pg_readiness.workload_min_total_ms`: total execution time it needs.
    pub workload_min_total_ms: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tenant_column: "tenant_id".into(),
            excluded_schemas: Vec::new(),
            sample_rows: 1000,
            sample_budget_ms: 10_000,
            large_table_bytes: 10 * 1024 * 1024 * 1024,
            disabled_checks: Vec::new(),
            tenant_setting: "app.current_tenant".into(),
            bloat_method: "estimate".into(),
            workload_min_calls: 100,
            workload_min_total_ms: 1000.0,
        }
    }
}

impl Config {
    pub fn all_excluded_schemas(&self) -> Vec<String> {
        let mut v: Vec<String> = ALWAYS_EXCLUDED.iter().map(|s| s.to_string()).collect();
        for s in &self.excluded_schemas {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
        v
    }

    pub fn is_enabled(&self, check_id: &str) -> bool {
        !self.disabled_checks.iter().any(|c| c == check_id)
    }
}

/// Splits a comma-separated list of identifiers the way PostgreSQL's
/// `SplitIdentifierString` does: unquoted names are folded to lower case,
/// double-quoted names keep their case and may contain commas and `""`.
/// Returns `Err` with a message for malformed input (used by the GUC check hook).
pub fn split_identifier_list(input: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i == chars.len() {
        return Ok(out);
    }
    loop {
        skip_ws(&mut i);
        let mut name = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            loop {
                if i >= chars.len() {
                    return Err("unterminated quoted identifier".into());
                }
                if chars[i] == '"' {
                    if i + 1 < chars.len() && chars[i + 1] == '"' {
                        name.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                name.push(chars[i]);
                i += 1;
            }
            if name.is_empty() {
                return Err("zero-length quoted identifier".into());
            }
        } else {
            while i < chars.len() && chars[i] != ',' && !chars[i].is_whitespace() {
                if chars[i] == '"' {
                    return Err(format!("unexpected quote in identifier at position {}", i + 1));
                }
                name.push(chars[i]);
                i += 1;
            }
            if name.is_empty() {
                return Err("empty name in list".into());
            }
            name = name.to_lowercase();
        }
        if name.len() > 63 {
            return Err(format!("identifier longer than 63 bytes: {name}"));
        }
        out.push(name);
        skip_ws(&mut i);
        if i == chars.len() {
            return Ok(out);
        }
        if chars[i] != ',' {
            return Err(format!("expected a comma at position {}", i + 1));
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_lists() {
        assert_eq!(split_identifier_list("").unwrap(), Vec::<String>::new());
        assert_eq!(split_identifier_list("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_identifier_list("Audit, staging").unwrap(), vec!["audit", "staging"]);
        assert_eq!(split_identifier_list(r#""My Schema","a""b""#).unwrap(), vec!["My Schema", "a\"b"]);
        assert!(split_identifier_list("a,,b").is_err());
        assert!(split_identifier_list("a b").is_err());
        assert!(split_identifier_list("\"open").is_err());
        assert!(split_identifier_list("a,").is_err());
        assert!(split_identifier_list(&"x".repeat(64)).is_err());
    }

    #[test]
    fn excluded_schemas_always_include_system_ones() {
        let c = Config { excluded_schemas: vec!["audit".into(), "pg_catalog".into()], ..Config::default() };
        assert_eq!(c.all_excluded_schemas(), vec!["pg_catalog", "information_schema", "pg_toast", "audit"]);
    }
}
