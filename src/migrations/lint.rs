//! The migration linter's rules: plain Rust over the parsed statements and
//! a small view of the live catalog. Each rule has a stable id, a severity,
//! a message and a concrete suggestion (the rewritten statement where one
//! can be written).

use std::collections::{HashMap, HashSet};


use super::catalog::{CatalogView, TableInfo};
use super::types::{change_is_rewrite_free, is_small_integer};
use super::*;
use crate::config::Config;
use crate::model::{Severity, Status};
use crate::snapshot::{Column, RelKind, Relation, Snapshot, BOOTSTRAP_SUPERUSER};

/// Tables at least this big (relpages, 8 kB each: 10 MB) make a full scan
/// under ACCESS EXCLUSIVE noticeable: SET NOT NULL without a validated CHECK
/// scans the whole table while every query on it waits.
pub const LARGE_TABLE_PAGES: i64 = 1280;

/// One row of `lint_migration()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LintRow {
    pub statement: usize,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub suggestion: String,
}

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub rule: &'static str,
}

/// Every rule `lint_migration` applies (the README lists them from here).
pub const RULES: &[Rule] = &[
    Rule { id: "syntax_error", severity: Severity::High, rule: "the script does not parse; the row gives the parser's message and position" },
    Rule { id: "index_not_concurrent", severity: Severity::High, rule: "CREATE INDEX without CONCURRENTLY on a table that exists (not one created earlier in the script): blocks writes for the whole build" },
    Rule { id: "drop_index_not_concurrent", severity: Severity::Medium, rule: "DROP INDEX without CONCURRENTLY on an existing index of a non-partitioned table" },
    Rule { id: "reindex_not_concurrent", severity: Severity::Medium, rule: "REINDEX INDEX/TABLE without CONCURRENTLY on an existing relation" },
    Rule { id: "concurrently_in_transaction", severity: Severity::High, rule: "a CONCURRENTLY statement inside an explicit BEGIN ... COMMIT block, which fails at run time" },
    Rule { id: "constraint_not_valid_missing", severity: Severity::High, rule: "ADD CONSTRAINT ... FOREIGN KEY or CHECK without NOT VALID on an existing table: validates every row under lock" },
    Rule { id: "unique_without_using_index", severity: Severity::High, rule: "ADD PRIMARY KEY or UNIQUE without USING INDEX on an existing table: builds the index under ACCESS EXCLUSIVE" },
    Rule { id: "column_type_rewrite", severity: Severity::High, rule: "ALTER COLUMN ... TYPE that rewrites an existing table (anything but the binary-coercible changes: longer or no varchar limit, varchar to text, higher numeric precision)" },
    Rule { id: "add_column_volatile_default", severity: Severity::High, rule: "ADD COLUMN on an existing table with a volatile default (random(), gen_random_uuid(), clock_timestamp(), a sequence), an identity or a stored generated column: rewrites the table" },
    Rule { id: "add_column_not_null_no_default", severity: Severity::High, rule: "ADD COLUMN ... NOT NULL without a default on an existing table: fails as soon as the table has a row" },
    Rule { id: "set_not_null_scan", severity: Severity::Medium, rule: "SET NOT NULL on an existing table of 10 MB or more with no validated CHECK (col IS NOT NULL): scans the table under ACCESS EXCLUSIVE" },
    Rule { id: "lock_timeout_missing", severity: Severity::High, rule: "no SET lock_timeout before the first statement that takes an ACCESS EXCLUSIVE or SHARE-level lock on an existing table: a queued lock blocks every query behind it" },
    Rule { id: "statement_timeout_missing", severity: Severity::Low, rule: "no SET statement_timeout before the first statement that locks an existing table" },
    Rule { id: "drop_table", severity: Severity::High, rule: "DROP TABLE of an existing table: running application code that still reads it breaks" },
    Rule { id: "drop_column", severity: Severity::High, rule: "DROP COLUMN of an existing column: running application code that still reads it breaks" },
    Rule { id: "rename_table", severity: Severity::High, rule: "RENAME of an existing table: running application code breaks until it is deployed with the new name" },
    Rule { id: "rename_column", severity: Severity::High, rule: "RENAME COLUMN of an existing column: running application code breaks until it is deployed with the new name" },
    Rule { id: "timestamp_without_time_zone", severity: Severity::Medium, rule: "a new column of type timestamp without time zone (the catalog check of the same name)" },
    Rule { id: "int_primary_key", severity: Severity::Medium, rule: "a new primary key on a 32-bit (or smaller) integer or serial column: runs out at 2^31 rows" },
    Rule { id: "money_column_float", severity: Severity::High, rule: "a new money-named column of type real or double precision (the catalog check of the same name)" },
    Rule { id: "rls_disabled_tenant_table", severity: Severity::Critical, rule: "a new tenant table that the script does not put under row-level security (the catalog check of the same name)" },
    Rule { id: "do_block_not_analysed", severity: Severity::Info, rule: "a DO block: PL/pgSQL is not analysed, review it by hand" },
];

fn severity_of(rule: &str) -> Severity {
    RULES.iter().find(|r| r.id == rule).map(|r| r.severity).unwrap_or(Severity::Info)
}

/// The relations, indexes and functions a script names: what to read from the catalog.
pub fn names_needed(stmts: &[Stmt]) -> (Vec<RelName>, Vec<RelName>, Vec<String>) {
    let mut tables = Vec::new();
    let mut indexes = Vec::new();
    let mut functions = Vec::new();
    let add_fns = |c: &ColumnSpec, functions: &mut Vec<String>| {
        if let Some(d) = &c.default {
            functions.extend(d.functions.iter().cloned());
        }
    };
    for s in stmts {
        match &s.kind {
            StmtKind::CreateTable { rel, columns, partition_of, .. } => {
                tables.push(rel.clone());
                tables.extend(partition_of.iter().cloned());
                columns.iter().for_each(|c| add_fns(c, &mut functions));
            }
            StmtKind::CreateIndex { rel, .. } => tables.push(rel.clone()),
            StmtKind::DropIndex { names, .. } => indexes.extend(names.iter().cloned()),
            StmtKind::DropTable { names, .. } => tables.extend(names.iter().cloned()),
            StmtKind::Reindex { target, rel: Some(rel), .. } => match target {
                ReindexTarget::Index => indexes.push(rel.clone()),
                _ => tables.push(rel.clone()),
            },
            StmtKind::AlterTable { rel, cmds, .. } => {
                tables.push(rel.clone());
                for c in cmds {
                    if let AlterCmd::AddColumn(col) = c {
                        add_fns(col, &mut functions);
                    }
                }
            }
            StmtKind::RenameTable { rel, .. } | StmtKind::RenameColumn { rel, .. } => tables.push(rel.clone()),
            _ => {}
        }
    }
    tables.sort();
    tables.dedup();
    indexes.sort();
    indexes.dedup();
    functions.sort();
    functions.dedup();
    (tables, indexes, functions)
}

/// Lints a parsed script against the catalog view.
pub fn lint(parsed: &Parsed, cat: &CatalogView, config: &Config) -> Vec<LintRow> {
    match parsed {
        Parsed::SyntaxError { statement, message, position } => vec![LintRow {
            statement: *statement,
            rule: "syntax_error",
            severity: Severity::High,
            message: match position {
                Some(p) => format!("{message} (at character {p})"),
                None => message.clone(),
            },
            suggestion: "Fix the statement: PostgreSQL's parser stops at the first error, so nothing after it was checked.".into(),
        }],
        Parsed::Statements(stmts) => Linter::new(cat, config).run(stmts),
    }
}

struct Linter<'a> {
    cat: &'a CatalogView,
    config: &'a Config,
    created: HashSet<String>,
    in_tx: bool,
    lock_timeout: bool,
    statement_timeout: bool,
    lock_rules_reported: bool,
    /// Constraint name -> (table, column) of `CHECK (col IS NOT NULL)` added in the script.
    not_null_checks: HashMap<String, (String, String)>,
    validated_not_null: HashSet<(String, String)>,
    rls_enabled: HashSet<String>,
    rows: Vec<LintRow>,
}

fn key(r: &RelName) -> String {
    r.name.clone()
}

impl<'a> Linter<'a> {
    fn new(cat: &'a CatalogView, config: &'a Config) -> Linter<'a> {
        Linter {
            cat,
            config,
            created: HashSet::new(),
            in_tx: false,
            lock_timeout: false,
            statement_timeout: false,
            lock_rules_reported: false,
            not_null_checks: HashMap::new(),
            validated_not_null: HashSet::new(),
            rls_enabled: HashSet::new(),
            rows: Vec::new(),
        }
    }

    /// The live table, unless the script created a table of that name first.
    fn existing(&self, r: &RelName) -> Option<&'a TableInfo> {
        if self.created.contains(&key(r)) {
            return None;
        }
        self.cat.table(r)
    }

    fn push(&mut self, s: &Stmt, rule: &'static str, message: String, suggestion: String) {
        if s.ignores.iter().any(|i| i == rule || i == "all") {
            return;
        }
        self.rows.push(LintRow { statement: s.number, rule, severity: severity_of(rule), message, suggestion });
    }

    fn run(mut self, stmts: &[Stmt]) -> Vec<LintRow> {
        for s in stmts {
            self.statement(s);
        }
        self.definitions(stmts);
        self.rows.sort_by_key(|r| r.statement);
        self.rows
    }

    /// Does `s` take an ACCESS EXCLUSIVE or SHARE-level lock on an existing table?
    fn locks_existing(&self, s: &Stmt) -> bool {
        match &s.kind {
            StmtKind::CreateIndex { rel, concurrently, .. } => !concurrently && self.existing(rel).is_some(),
            StmtKind::AlterTable { rel, cmds, .. } => {
                self.existing(rel).is_some() && cmds.iter().any(|c| !matches!(c, AlterCmd::ValidateConstraint { .. }))
            }
            StmtKind::DropTable { names, .. } => names.iter().any(|n| self.existing(n).is_some()),
            StmtKind::DropIndex { names, concurrently, .. } => !concurrently && names.iter().any(|n| self.cat.indexes.contains_key(n)),
            StmtKind::Reindex { rel: Some(rel), concurrently, target, .. } => {
                !concurrently
                    && match target {
                        ReindexTarget::Index => self.cat.indexes.contains_key(rel),
                        _ => self.existing(rel).is_some(),
                    }
            }
            StmtKind::RenameTable { rel, .. } | StmtKind::RenameColumn { rel, .. } => self.existing(rel).is_some(),
            _ => false,
        }
    }

    fn statement(&mut self, s: &Stmt) {
        if !self.lock_rules_reported && self.locks_existing(s) {
            self.lock_rules_reported = true;
            if !self.lock_timeout {
                self.push(
                    s,
                    "lock_timeout_missing",
                    "this statement locks an existing table and no SET lock_timeout comes before it: while it waits for the lock, every query on the table queues behind it".into(),
                    format!("SET lock_timeout = '5s';\n{};\n-- retry the migration if it times out", s.text),
                );
            }
            if !self.statement_timeout {
                self.push(
                    s,
                    "statement_timeout_missing",
                    "no SET statement_timeout before the first statement that locks an existing table: a slow step holds its lock without limit".into(),
                    "SET statement_timeout = '60s';  -- before the first DDL; raise it (or SET it to 0) only around CREATE INDEX CONCURRENTLY".into(),
                );
            }
        }
        match &s.kind {
            StmtKind::Transaction(TxKind::Begin) => self.in_tx = true,
            StmtKind::Transaction(TxKind::Commit | TxKind::Rollback) => self.in_tx = false,
            StmtKind::Set { name, value, .. } => {
                let set = value.as_deref().is_some_and(|v| !crate::checks::configuration::is_zero(v));
                match name.as_str() {
                    "lock_timeout" => self.lock_timeout = set,
                    "statement_timeout" => self.statement_timeout = set,
                    _ => {}
                }
            }
            StmtKind::CreateTable { rel, .. } => {
                self.created.insert(key(rel));
            }
            StmtKind::CreateIndex { rel, concurrently, .. } => self.create_index(s, rel, *concurrently),
            StmtKind::DropIndex { names, concurrently, if_exists } => self.drop_index(s, names, *concurrently, *if_exists),
            StmtKind::Reindex { target, rel, concurrently } => {
                if *concurrently {
                    self.in_transaction(s, "REINDEX ... CONCURRENTLY");
                } else if let Some(rel) = rel {
                    let (exists, word) = match target {
                        ReindexTarget::Index => (self.cat.indexes.contains_key(rel), "INDEX"),
                        ReindexTarget::Table => (self.existing(rel).is_some(), "TABLE"),
                        ReindexTarget::Other => (false, ""),
                    };
                    if exists {
                        self.push(
                            s,
                            "reindex_not_concurrent",
                            format!("REINDEX {word} {} blocks writes (and reads through the index) while it rebuilds", rel.sql()),
                            format!("REINDEX {word} CONCURRENTLY {};  -- outside a transaction block", rel.sql()),
                        );
                    }
                }
            }
            StmtKind::DropTable { names, .. } => {
                for n in names {
                    if let Some(t) = self.existing(n) {
                        self.push(
                            s,
                            "drop_table",
                            format!("drops {}, which exists: application code still deployed that reads it fails", t.identity),
                            "Deploy application code that no longer uses the table first; drop it in a later migration (expand/contract). Keep a backup or rename it to a *_deprecated name for a release before dropping.".into(),
                        );
                    }
                }
            }
            StmtKind::RenameTable { rel, new_name } => {
                if let Some(t) = self.existing(rel) {
                    self.push(
                        s,
                        "rename_table",
                        format!("renames {}, which exists: application code still deployed that uses the old name fails", t.identity),
                        format!(
                            "Expand/contract instead: ALTER TABLE {} RENAME TO {}; CREATE VIEW {} AS SELECT * FROM {}; then drop the view once no code uses the old name.",
                            rel.sql(),
                            quote_ident(new_name),
                            rel.sql(),
                            quote_ident(new_name)
                        ),
                    );
                }
            }
            StmtKind::RenameColumn { rel, column, new_name } => {
                if let Some(t) = self.existing(rel) {
                    if t.column(column).is_some() {
                        self.push(
                            s,
                            "rename_column",
                            format!("renames column {} of {}, which exists: application code still deployed that uses it fails", quote_ident(column), t.identity),
                            format!(
                                "Expand/contract instead: ALTER TABLE {} ADD COLUMN {} ...; write both columns from the application, backfill, switch reads, then drop {}.",
                                rel.sql(),
                                quote_ident(new_name),
                                quote_ident(column)
                            ),
                        );
                    }
                }
            }
            StmtKind::AlterTable { rel, cmds, .. } => self.alter_table(s, rel, cmds),
            StmtKind::Do => self.push(
                s,
                "do_block_not_analysed",
                "DO block: the PL/pgSQL inside is not analysed".into(),
                "Review the block by hand, or write its statements as plain SQL so they can be linted.".into(),
            ),
            _ => {}
        }
    }

    fn in_transaction(&mut self, s: &Stmt, what: &str) {
        if self.in_tx {
            self.push(
                s,
                "concurrently_in_transaction",
                format!("{what} cannot run inside a transaction block (BEGIN ... COMMIT): the migration fails here"),
                "Run it outside the transaction: COMMIT before it and BEGIN again after it, or put it in a migration of its own that runs without a transaction (knex: export const config = { transaction: false }).".into(),
            );
        }
    }

    fn create_index(&mut self, s: &Stmt, rel: &RelName, concurrently: bool) {
        if concurrently {
            self.in_transaction(s, "CREATE INDEX CONCURRENTLY");
            return;
        }
        let Some(t) = self.existing(rel) else { return };
        if t.partitioned {
            self.push(
                s,
                "index_not_concurrent",
                format!("CREATE INDEX on partitioned table {} locks every partition against writes while it builds (CONCURRENTLY is not supported on a partitioned table)", t.identity),
                format!(
                    "Build it partition by partition: {} (ON ONLY the parent: an invalid index, no build); then for each partition CREATE INDEX CONCURRENTLY ... ON <partition> (...); ALTER INDEX <parent index> ATTACH PARTITION <partition index>;",
                    insert_after_word(&s.text, "on", "ONLY").unwrap_or_else(|| s.text.clone())
                ),
            );
            return;
        }
        let rewritten = insert_after_word(&s.text, "index", "CONCURRENTLY").unwrap_or_else(|| s.text.clone());
        self.push(
            s,
            "index_not_concurrent",
            format!("CREATE INDEX on existing table {} ({}) blocks every write to it for the whole build", t.identity, crate::checks::pretty_bytes(t.pages * 8192)),
            format!("{rewritten};  -- outside a transaction block"),
        );
    }

    fn drop_index(&mut self, s: &Stmt, names: &[RelName], concurrently: bool, if_exists: bool) {
        if concurrently {
            self.in_transaction(s, "DROP INDEX CONCURRENTLY");
            return;
        }
        let found: Vec<&RelName> =
            names.iter().filter(|n| self.cat.indexes.get(*n).is_some_and(|i| !i.table_partitioned)).collect();
        if found.is_empty() {
            return;
        }
        let ie = if if_exists { "IF EXISTS " } else { "" };
        let rewritten: Vec<String> = found.iter().map(|n| format!("DROP INDEX CONCURRENTLY {ie}{};", n.sql())).collect();
        let which: Vec<String> = found.iter().map(|n| self.cat.indexes[*n].identity.clone()).collect();
        self.push(
            s,
            "drop_index_not_concurrent",
            format!("DROP INDEX {} takes ACCESS EXCLUSIVE on its table: every query on it waits", which.join(", ")),
            format!("{}  -- one index per statement, outside a transaction block", rewritten.join("\n")),
        );
    }

    fn alter_table(&mut self, s: &Stmt, rel: &RelName, cmds: &[AlterCmd]) {
        for c in cmds {
            match c {
                AlterCmd::EnableRls => {
                    self.rls_enabled.insert(key(rel));
                }
                AlterCmd::AddConstraint(k) if k.kind == ConstraintKind::Check && k.is_not_null_check => {
                    if let (Some(name), Some(col)) = (&k.name, &k.check_column) {
                        self.not_null_checks.insert(name.clone(), (key(rel), col.clone()));
                    }
                }
                AlterCmd::ValidateConstraint { name } => {
                    if let Some(v) = self.not_null_checks.get(name).cloned() {
                        self.validated_not_null.insert(v);
                    }
                }
                _ => {}
            }
        }
        let Some(t) = self.existing(rel) else { return };
        let single = cmds.len() == 1;
        for c in cmds {
            match c {
                AlterCmd::AddConstraint(k) => self.add_constraint(s, rel, t, k, single),
                AlterCmd::AlterType { column, type_, using } => {
                    let Some(col) = t.column(column) else { continue };
                    if change_is_rewrite_free(&col.type_, type_, *using) {
                        continue;
                    }
                    self.push(
                        s,
                        "column_type_rewrite",
                        format!(
                            "changing {}.{} from {} to {} rewrites the table and its indexes under ACCESS EXCLUSIVE ({})",
                            t.identity,
                            quote_ident(column),
                            col.type_.display(),
                            type_.display(),
                            crate::checks::pretty_bytes(t.pages * 8192)
                        ),
                        format!(
                            "Add a new column instead: ALTER TABLE {r} ADD COLUMN {n} {ty}; backfill it in batches (UPDATE ... WHERE id BETWEEN ...), keep it in sync with a trigger, switch the application to it, then drop {c}.",
                            r = rel.sql(),
                            n = quote_ident(&format!("{column}_new")),
                            ty = type_.display(),
                            c = quote_ident(column)
                        ),
                    );
                }
                AlterCmd::AddColumn(col) => self.add_column(s, rel, t, col),
                AlterCmd::SetNotNull { column } => {
                    let checked = t.not_null_checked.contains(column) || self.validated_not_null.contains(&(key(rel), column.clone()));
                    if t.pages < LARGE_TABLE_PAGES || checked || t.column(column).is_some_and(|c| c.not_null) {
                        continue;
                    }
                    let r = rel.sql();
                    let c = quote_ident(column);
                    let k = crate::checks::sqlgen::generated_name("chk", &[&rel.name, column, "not_null"]);
                    self.push(
                        s,
                        "set_not_null_scan",
                        format!("SET NOT NULL on {}.{c} scans all of {} under ACCESS EXCLUSIVE", t.identity, crate::checks::pretty_bytes(t.pages * 8192)),
                        format!(
                            "ALTER TABLE {r} ADD CONSTRAINT {k} CHECK ({c} IS NOT NULL) NOT VALID;\nALTER TABLE {r} VALIDATE CONSTRAINT {k};\nALTER TABLE {r} ALTER COLUMN {c} SET NOT NULL;  -- uses the validated CHECK, no scan\nALTER TABLE {r} DROP CONSTRAINT {k};"
                        ),
                    );
                }
                AlterCmd::DropColumn { name, .. } => {
                    if t.column(name).is_some() {
                        self.push(
                            s,
                            "drop_column",
                            format!("drops column {} of {}, which exists: application code still deployed that reads it fails", quote_ident(name), t.identity),
                            "Deploy application code that no longer reads or writes the column first (and drop it from ORM models), then drop it in a later migration.".into(),
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn add_constraint(&mut self, s: &Stmt, rel: &RelName, t: &TableInfo, k: &ConstraintSpec, single: bool) {
        let r = rel.sql();
        match k.kind {
            ConstraintKind::ForeignKey | ConstraintKind::Check if !k.not_valid => {
                let (what, suffix) = if k.kind == ConstraintKind::ForeignKey { ("FOREIGN KEY", "fkey") } else { ("CHECK", "check") };
                let name = k.name.clone().unwrap_or_else(|| {
                    let cols = if k.kind == ConstraintKind::ForeignKey { k.columns.clone() } else { k.check_column.iter().cloned().collect() };
                    let mut parts: Vec<&str> = vec![&rel.name];
                    parts.extend(cols.iter().map(String::as_str));
                    parts.push(suffix);
                    parts.join("_").chars().take(63).collect()
                });
                let add = if single {
                    let text = if k.name.is_some() {
                        s.text.clone()
                    } else {
                        insert_after_word(&s.text, "add", &format!("CONSTRAINT {}", quote_ident(&name))).unwrap_or_else(|| s.text.clone())
                    };
                    format!("{text} NOT VALID;")
                } else {
                    format!("ALTER TABLE {r} ADD CONSTRAINT {} {what} (...) NOT VALID;", quote_ident(&name))
                };
                let lock = if k.kind == ConstraintKind::ForeignKey {
                    "SHARE ROW EXCLUSIVE on both tables"
                } else {
                    "ACCESS EXCLUSIVE"
                };
                self.push(
                    s,
                    "constraint_not_valid_missing",
                    format!("adding a {what} constraint to existing table {} checks every row while holding {lock}", t.identity),
                    format!("{add}\nALTER TABLE {r} VALIDATE CONSTRAINT {};  -- scans under SHARE UPDATE EXCLUSIVE: reads and writes go on", quote_ident(&name)),
                );
            }
            ConstraintKind::PrimaryKey | ConstraintKind::Unique if k.using_index.is_none() => {
                let pk = k.kind == ConstraintKind::PrimaryKey;
                let name = k.name.clone().unwrap_or_else(|| {
                    if pk {
                        format!("{}_pkey", rel.name)
                    } else {
                        format!("{}_{}_key", rel.name, k.columns.join("_"))
                    }
                });
                let n = quote_ident(&name);
                let cols: Vec<String> = k.columns.iter().map(|c| quote_ident(c)).collect();
                self.push(
                    s,
                    "unique_without_using_index",
                    format!(
                        "ADD {} on existing table {} builds its index under ACCESS EXCLUSIVE ({})",
                        if pk { "PRIMARY KEY" } else { "UNIQUE" },
                        t.identity,
                        crate::checks::pretty_bytes(t.pages * 8192)
                    ),
                    format!(
                        "CREATE UNIQUE INDEX CONCURRENTLY {n} ON {r} ({});  -- outside a transaction block\nALTER TABLE {r} ADD CONSTRAINT {n} {} USING INDEX {n};",
                        cols.join(", "),
                        if pk { "PRIMARY KEY" } else { "UNIQUE" }
                    ),
                );
            }
            _ => {}
        }
    }

    fn add_column(&mut self, s: &Stmt, rel: &RelName, t: &TableInfo, col: &ColumnSpec) {
        let r = rel.sql();
        let c = quote_ident(&col.name);
        let ty = col.type_.as_ref().map(|t| t.display()).unwrap_or_else(|| "<type>".into());
        let volatile_default = col.default.as_ref().is_some_and(|d| {
            d.volatile_construct || d.functions.iter().any(|f| self.cat.volatile_functions.contains(f))
        });
        let serial = col.type_.as_ref().is_some_and(|t| matches!(t.name.as_str(), "serial" | "bigserial" | "smallserial"));
        if volatile_default || col.identity || col.generated || serial {
            let why = if col.generated {
                "a stored generated column"
            } else if col.identity || serial {
                "an identity/serial column (a sequence default)"
            } else {
                "a volatile default"
            };
            self.push(
                s,
                "add_column_volatile_default",
                format!("adding {c} to existing table {} with {why} rewrites the whole table under ACCESS EXCLUSIVE ({})", t.identity, crate::checks::pretty_bytes(t.pages * 8192)),
                format!("ALTER TABLE {r} ADD COLUMN {c} {ty};\nALTER TABLE {r} ALTER COLUMN {c} SET DEFAULT ...;  -- applies to new rows only, no rewrite\n-- then backfill existing rows in batches"),
            );
            return;
        }
        if col.not_null && col.default.is_none() && !col.primary_key {
            self.push(
                s,
                "add_column_not_null_no_default",
                format!("adding NOT NULL column {c} without a default to existing table {} fails as soon as the table has a row", t.identity),
                format!("ALTER TABLE {r} ADD COLUMN {c} {ty} NOT NULL DEFAULT <constant>;  -- a constant default is stored once, no rewrite (PostgreSQL 11+)\n-- or add it nullable, backfill, then CHECK ({c} IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL"),
            );
        }
    }

    /// Rules on new definitions: the catalog checks' own rules, run over the
    /// tables and columns the script defines, plus 32-bit primary keys.
    fn definitions(&mut self, stmts: &[Stmt]) {
        // (statement, relation name, columns) of every definition.
        let mut defs: Vec<(&Stmt, &RelName, Vec<&ColumnSpec>, bool)> = Vec::new();
        for s in stmts {
            match &s.kind {
                StmtKind::CreateTable { rel, columns, partition_of: None, .. } => defs.push((s, rel, columns.iter().collect(), true)),
                StmtKind::AlterTable { rel, cmds, .. } => {
                    let cols: Vec<&ColumnSpec> =
                        cmds.iter().filter_map(|c| if let AlterCmd::AddColumn(c) = c { Some(c) } else { None }).collect();
                    if !cols.is_empty() {
                        defs.push((s, rel, cols, false));
                    }
                }
                _ => {}
            }
        }
        for (i, (s, rel, cols, is_table)) in defs.iter().enumerate() {
            // Primary keys on 32-bit integers.
            let pk_cols: Vec<&String> = match &s.kind {
                StmtKind::CreateTable { constraints, .. } => constraints
                    .iter()
                    .filter(|k| k.kind == ConstraintKind::PrimaryKey)
                    .flat_map(|k| k.columns.iter())
                    .collect(),
                _ => Vec::new(),
            };
            let pk: Vec<&ColumnSpec> = cols.iter().copied().filter(|c| c.primary_key || pk_cols.contains(&&c.name)).collect();
            if pk.len() == 1 && pk[0].type_.as_ref().is_some_and(is_small_integer) {
                let c = pk[0];
                let ty = c.type_.as_ref().map(|t| t.display()).unwrap_or_default();
                let better = if ty.contains("serial") { "bigserial" } else { "bigint" };
                self.push(
                    s,
                    "int_primary_key",
                    format!("primary key {}.{} is {ty}: it runs out at 2,147,483,647 rows, and widening it later rewrites the table and every referencing one", rel.sql(), quote_ident(&c.name)),
                    format!("{} {better} PRIMARY KEY  -- or uuid", quote_ident(&c.name)),
                );
            }
            // One relation for the catalog checks. A new table has the RLS the
            // script gives it; columns added to a table are judged for their
            // types only (the table's RLS is the catalog check's business).
            let rls = !is_table || self.rls_enabled.contains(&key(rel));
            let schema = rel.schema.clone().unwrap_or_else(|| "public".into());
            let mut snap = Snapshot::default();
            snap.relations.push(Relation {
                oid: 100_000 + i as u32,
                schema: schema.clone(),
                name: rel.name.clone(),
                identity: format!("{}.{}", quote_ident(&schema), quote_ident(&rel.name)),
                kind: RelKind::Table,
                owner: BOOTSTRAP_SUPERUSER,
                rls_enabled: rls,
                rls_forced: rls,
                is_partition: false,
                parent: None,
                pages: 0,
                tuples: 0.0,
                columns: cols
                    .iter()
                    .enumerate()
                    .map(|(n, c)| Column {
                        attnum: n as i16 + 1,
                        name: c.name.clone(),
                        quoted: quote_ident(&c.name),
                        type_oid: 0,
                        type_name: c.type_.as_ref().map(|t| t.display()).unwrap_or_default(),
                        not_null: c.not_null,
                    })
                    .collect(),
            });
            snap.index();
            for id in ["timestamp_without_time_zone", "money_column_float", "rls_disabled_tenant_table"] {
                let Some(check) = crate::checks::find(id) else { continue };
                for f in crate::checks::run_checks(&[check], &snap, self.config) {
                    if f.status != Status::Fail {
                        continue;
                    }
                    let obj = f.object_name.clone().unwrap_or_default();
                    let suggestion = match id {
                        "timestamp_without_time_zone" => "Declare it timestamptz (timestamp with time zone).".to_string(),
                        "money_column_float" => "Declare it numeric(12,2) (or integer minor units).".to_string(),
                        _ => f.remediation.clone().unwrap_or_default(),
                    };
                    self.push(s, check.id, format!("{obj}: {}", f.detail), suggestion);
                }
            }
        }
    }
}

/// Inserts `word` after the first whole-word, case-insensitive occurrence of
/// `after` in `text` (outside quotes is not checked: used on statement
/// heads, where the keyword comes before any name).
pub fn insert_after_word(text: &str, after: &str, word: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(i) = lower[from..].find(after) {
        let at = from + i;
        let end = at + after.len();
        let before_ok = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_' || bytes[at - 1] == b'"');
        let after_ok = end == bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b'"');
        if before_ok && after_ok {
            return Some(format!("{} {word}{}", &text[..end], &text[end..]));
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests;
