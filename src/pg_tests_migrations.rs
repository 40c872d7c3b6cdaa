//! In-server tests of the parser wrapper, lint_migration and the migrations checks.

#[pgrx::pg_schema]
mod tests_migrations {}
