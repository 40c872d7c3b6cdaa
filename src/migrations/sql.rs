//! `lint_migration(sql text)`: parse with PostgreSQL's own parser, read the
//! catalog for the relations the script names, apply the rules. Never
//! raises on any input: a script that does not parse is one `syntax_error` row.

use pgrx::prelude::*;

use super::{catalog, lint, parse};

/// Rows of `lint_migration`, computed without the SQL wrapper (for tests).
pub fn lint_rows(sql: &str) -> Vec<lint::LintRow> {
    let config = crate::guc::current_config();
    let parsed = parse::parse_script(sql);
    let view = match &parsed {
        super::Parsed::Statements(stmts) => {
            let (tables, indexes, functions) = lint::names_needed(stmts);
            catalog::read_catalog(&tables, &indexes, &functions, &config.tenant_column)
        }
        super::Parsed::SyntaxError { .. } => catalog::CatalogView::default(),
    };
    lint::lint(&parsed, &view, &config)
}

/// Lints a migration script against the live catalog: one row per finding.
#[pg_extern(volatile, parallel_unsafe)]
fn lint_migration(
    sql: Option<String>,
) -> TableIterator<
    'static,
    (
        name!(statement, i32),
        name!(rule, String),
        name!(severity, String),
        name!(message, String),
        name!(suggestion, String),
    ),
> {
    let rows = lint_rows(sql.as_deref().unwrap_or(""));
    TableIterator::new(rows.into_iter().map(|r| {
        (i32::try_from(r.statement).unwrap_or(i32::MAX), r.rule.to_string(), r.severity.as_str().to_string(), r.message, r.suggestion)
    }))
}
