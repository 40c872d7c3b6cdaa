//! Each rule with a hit and a near miss, over hand-built statements (the
//! parser itself is exercised by the in-server tests).

use super::*;
use crate::migrations::catalog::{ColumnInfo, ExistingIndex, IndexInfo};

fn rel(name: &str) -> RelName {
    RelName::new(None, name)
}

fn stmt(kind: StmtKind, text: &str) -> Stmt {
    Stmt { number: 0, start: 0, text: text.into(), ignores: Vec::new(), kind }
}

fn script(mut v: Vec<Stmt>) -> Parsed {
    for (i, s) in v.iter_mut().enumerate() {
        s.number = i + 1;
    }
    Parsed::Statements(v)
}

fn col(name: &str, ty: &str) -> ColumnSpec {
    ColumnSpec { name: name.into(), type_: Some(TypeSpec::new(ty, &[])), ..ColumnSpec::default() }
}

fn set(name: &str, v: &str) -> Stmt {
    stmt(StmtKind::Set { name: name.into(), value: Some(v.into()), local: false }, &format!("SET {name} = '{v}'"))
}

fn timeouts() -> Vec<Stmt> {
    vec![set("lock_timeout", "5s"), set("statement_timeout", "60s")]
}

/// A catalog with `orders` (20 MB, id/status/amount/note varchar(100)) and
/// its index `idx_orders_status`.
fn catalog() -> CatalogView {
    let mut c = CatalogView { tenant_column: "tenant_id".into(), ..CatalogView::default() };
    c.volatile_functions.extend(crate::migrations::catalog::KNOWN_VOLATILE.iter().map(|s| s.to_string()));
    c.tables.insert(
        rel("orders"),
        TableInfo {
            identity: "public.orders".into(),
            pages: 2560,
            columns: vec![
                ColumnInfo { name: "id".into(), type_: TypeSpec::new("uuid", &[]), not_null: true },
                ColumnInfo { name: "status".into(), type_: TypeSpec::new("text", &[]), not_null: false },
                ColumnInfo { name: "note".into(), type_: TypeSpec::new("varchar", &[100]), not_null: false },
            ],
            indexes: vec![IndexInfo { name: "idx_orders_status".into(), columns: vec!["status".into()], valid: true, ..IndexInfo::default() }],
            ..TableInfo::default()
        },
    );
    c.tables.insert(rel("events"), TableInfo { identity: "public.events".into(), partitioned: true, pages: 10, ..TableInfo::default() });
    c.indexes.insert(
        rel("idx_orders_status"),
        ExistingIndex { identity: "public.idx_orders_status".into(), table: rel("orders"), table_partitioned: false },
    );
    c
}

fn lint_all(stmts: Vec<Stmt>) -> Vec<LintRow> {
    lint(&script(stmts), &catalog(), &Config::default())
}

/// Rules reported, as `statement:rule`, without the timeout rules.
fn rules(stmts: Vec<Stmt>) -> Vec<String> {
    lint_all(stmts)
        .into_iter()
        .filter(|r| !r.rule.ends_with("timeout_missing"))
        .map(|r| format!("{}:{}", r.statement, r.rule))
        .collect()
}

fn with_timeouts(v: Vec<Stmt>) -> Vec<Stmt> {
    let mut all = timeouts();
    all.extend(v);
    all
}

fn create_index(table: &str, concurrently: bool, text: &str) -> Stmt {
    stmt(
        StmtKind::CreateIndex { rel: rel(table), name: None, columns: vec!["status".into()], unique: false, concurrently, if_not_exists: false },
        text,
    )
}

fn alter(table: &str, cmds: Vec<AlterCmd>, text: &str) -> Stmt {
    stmt(StmtKind::AlterTable { rel: rel(table), if_exists: false, cmds }, text)
}

fn create_table(name: &str, columns: Vec<ColumnSpec>) -> Stmt {
    stmt(
        StmtKind::CreateTable { rel: rel(name), columns, constraints: Vec::new(), partitioned: false, partition_of: None, if_not_exists: false },
        &format!("CREATE TABLE {name} (...)"),
    )
}

#[test]
fn create_index_on_existing_table_is_rewritten_concurrently() {
    let rows = lint_all(with_timeouts(vec![create_index("orders", false, "CREATE INDEX idx_orders_note ON orders (note)")]));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].rule, "index_not_concurrent");
    assert_eq!(rows[0].statement, 3);
    assert_eq!(rows[0].severity, Severity::High);
    assert!(rows[0].suggestion.starts_with("CREATE INDEX CONCURRENTLY idx_orders_note ON orders (note);"), "{}", rows[0].suggestion);
    // Near misses: concurrently, a table created earlier in the script, a table that does not exist.
    assert!(rules(with_timeouts(vec![create_index("orders", true, "CREATE INDEX CONCURRENTLY i ON orders (note)")])).is_empty());
    assert!(rules(vec![create_table("orders", vec![col("id", "uuid")]), create_index("orders", false, "CREATE INDEX i ON orders (id)")]).is_empty());
    assert!(rules(vec![create_index("nowhere", false, "CREATE INDEX i ON nowhere (id)")]).is_empty());
    // A partitioned table cannot be indexed concurrently: the advice goes partition by partition.
    let rows = lint_all(with_timeouts(vec![create_index("events", false, "CREATE INDEX i ON events (starts_at)")]));
    assert_eq!(rows[0].rule, "index_not_concurrent");
    assert!(rows[0].suggestion.contains("CREATE INDEX i ON ONLY events (starts_at)"), "{}", rows[0].suggestion);
}

#[test]
fn drop_index_and_reindex_without_concurrently() {
    let drop = |c: bool| stmt(StmtKind::DropIndex { names: vec![rel("idx_orders_status")], concurrently: c, if_exists: false }, "DROP INDEX idx_orders_status");
    let rows = lint_all(with_timeouts(vec![drop(false)]));
    assert_eq!(rows[0].rule, "drop_index_not_concurrent");
    assert!(rows[0].suggestion.starts_with("DROP INDEX CONCURRENTLY idx_orders_status;"));
    assert!(rules(with_timeouts(vec![drop(true)])).is_empty());
    let missing = stmt(StmtKind::DropIndex { names: vec![rel("idx_gone")], concurrently: false, if_exists: true }, "DROP INDEX IF EXISTS idx_gone");
    assert!(rules(vec![missing]).is_empty());
    let reindex = |c: bool| stmt(StmtKind::Reindex { target: ReindexTarget::Table, rel: Some(rel("orders")), concurrently: c }, "REINDEX TABLE orders");
    assert_eq!(rules(with_timeouts(vec![reindex(false)])), vec!["3:reindex_not_concurrent"]);
    assert!(rules(with_timeouts(vec![reindex(true)])).is_empty());
}

#[test]
fn concurrently_inside_begin_commit_fails_at_run_time() {
    let begin = stmt(StmtKind::Transaction(TxKind::Begin), "BEGIN");
    let commit = stmt(StmtKind::Transaction(TxKind::Commit), "COMMIT");
    let idx = create_index("orders", true, "CREATE INDEX CONCURRENTLY i ON orders (note)");
    assert_eq!(rules(vec![begin.clone(), idx.clone(), commit.clone()]), vec!["2:concurrently_in_transaction"]);
    // Near miss: after the COMMIT.
    assert!(rules(vec![begin, commit, idx]).is_empty());
}

#[test]
fn foreign_key_and_check_need_not_valid() {
    let mut fk = ConstraintSpec::new(ConstraintKind::ForeignKey);
    fk.columns = vec!["customer_id".into()];
    fk.ref_table = Some(rel("customers"));
    let text = "ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id)";
    let rows = lint_all(with_timeouts(vec![alter("orders", vec![AlterCmd::AddConstraint(fk.clone())], text)]));
    assert_eq!(rows[0].rule, "constraint_not_valid_missing");
    assert_eq!(
        rows[0].suggestion.lines().next().unwrap(),
        "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;"
    );
    assert!(rows[0].suggestion.contains("ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey;"));
    // Near misses: NOT VALID; a CHECK on a new table.
    fk.not_valid = true;
    assert!(rules(with_timeouts(vec![alter("orders", vec![AlterCmd::AddConstraint(fk)], text)])).is_empty());
    let mut chk = ConstraintSpec::new(ConstraintKind::Check);
    chk.name = Some("chk_amount".into());
    let add_chk = alter("fresh", vec![AlterCmd::AddConstraint(chk.clone())], "ALTER TABLE fresh ADD CONSTRAINT chk_amount CHECK (amount > 0)");
    assert!(rules(vec![create_table("fresh", vec![col("amount", "numeric")]), add_chk]).is_empty());
    let on_orders = alter("orders", vec![AlterCmd::AddConstraint(chk)], "ALTER TABLE orders ADD CONSTRAINT chk_amount CHECK (amount > 0)");
    assert_eq!(rules(with_timeouts(vec![on_orders])), vec!["3:constraint_not_valid_missing"]);
}

#[test]
fn primary_key_and_unique_need_using_index() {
    let mut u = ConstraintSpec::new(ConstraintKind::Unique);
    u.columns = vec!["note".into()];
    let rows = lint_all(with_timeouts(vec![alter("orders", vec![AlterCmd::AddConstraint(u.clone())], "ALTER TABLE orders ADD UNIQUE (note)")]));
    assert_eq!(rows[0].rule, "unique_without_using_index");
    assert_eq!(
        rows[0].suggestion,
        "CREATE UNIQUE INDEX CONCURRENTLY orders_note_key ON orders (note);  -- outside a transaction block\nALTER TABLE orders ADD CONSTRAINT orders_note_key UNIQUE USING INDEX orders_note_key;"
    );
    u.using_index = Some("orders_note_key".into());
    assert!(rules(with_timeouts(vec![alter("orders", vec![AlterCmd::AddConstraint(u)], "ALTER TABLE orders ADD UNIQUE USING INDEX orders_note_key")])).is_empty());
}

#[test]
fn type_changes_that_rewrite_and_those_that_do_not() {
    let change = |to: TypeSpec| alter("orders", vec![AlterCmd::AlterType { column: "note".into(), type_: to, using: false }], "ALTER TABLE orders ALTER COLUMN note TYPE ...");
    assert_eq!(rules(with_timeouts(vec![change(TypeSpec::new("varchar", &[50]))])), vec!["3:column_type_rewrite"]);
    assert_eq!(rules(with_timeouts(vec![change(TypeSpec::new("int4", &[]))])), vec!["3:column_type_rewrite"]);
    assert!(rules(with_timeouts(vec![change(TypeSpec::new("varchar", &[255]))])).is_empty());
    assert!(rules(with_timeouts(vec![change(TypeSpec::new("text", &[]))])).is_empty());
}

#[test]
fn add_column_volatile_default_and_not_null_without_default() {
    let mut c = col("token", "uuid");
    c.default = Some(Expr { text: String::new(), functions: vec!["gen_random_uuid".into()], volatile_construct: false });
    assert_eq!(rules(with_timeouts(vec![alter("orders", vec![AlterCmd::AddColumn(c.clone())], "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()")])), vec!["3:add_column_volatile_default"]);
    // Near miss: now() is stable, stored once.
    c.default = Some(Expr { text: String::new(), functions: vec!["now".into()], volatile_construct: false });
    assert!(rules(with_timeouts(vec![alter("orders", vec![AlterCmd::AddColumn(c)], "...")])).is_empty());
    let mut nn = col("priority", "int4");
    nn.not_null = true;
    let rows = lint_all(with_timeouts(vec![alter("orders", vec![AlterCmd::AddColumn(nn.clone())], "ALTER TABLE orders ADD COLUMN priority int NOT NULL")]));
    assert_eq!(rows[0].rule, "add_column_not_null_no_default");
    assert!(rows[0].suggestion.starts_with("ALTER TABLE orders ADD COLUMN priority integer NOT NULL DEFAULT <constant>;"));
    nn.default = Some(Expr::default());
    assert!(rules(with_timeouts(vec![alter("orders", vec![AlterCmd::AddColumn(nn)], "...")])).is_empty());
}

#[test]
fn set_not_null_on_a_large_table_needs_a_validated_check_first() {
    let set_nn = alter("orders", vec![AlterCmd::SetNotNull { column: "status".into() }], "ALTER TABLE orders ALTER COLUMN status SET NOT NULL");
    let rows = lint_all(with_timeouts(vec![set_nn.clone()]));
    assert_eq!(rows[0].rule, "set_not_null_scan");
    assert!(rows[0].suggestion.contains("CHECK (status IS NOT NULL) NOT VALID"));
    // Near miss: the script adds and validates the CHECK first.
    let mut chk = ConstraintSpec::new(ConstraintKind::Check);
    chk.name = Some("chk_status_nn".into());
    chk.check_column = Some("status".into());
    chk.is_not_null_check = true;
    chk.not_valid = true;
    let steps = vec![
        alter("orders", vec![AlterCmd::AddConstraint(chk)], "ALTER TABLE orders ADD CONSTRAINT chk_status_nn CHECK (status IS NOT NULL) NOT VALID"),
        alter("orders", vec![AlterCmd::ValidateConstraint { name: "chk_status_nn".into() }], "ALTER TABLE orders VALIDATE CONSTRAINT chk_status_nn"),
        set_nn,
    ];
    assert!(rules(with_timeouts(steps)).is_empty());
}

#[test]
fn lock_timeout_before_the_first_locking_statement() {
    let idx = create_index("orders", false, "CREATE INDEX i ON orders (note)");
    let rows = lint_all(vec![idx.clone()]);
    let ids: Vec<&str> = rows.iter().map(|r| r.rule).collect();
    assert_eq!(ids, vec!["lock_timeout_missing", "statement_timeout_missing", "index_not_concurrent"]);
    assert!(rows[0].suggestion.starts_with("SET lock_timeout = '5s';\nCREATE INDEX i ON orders (note);"));
    // Near misses: set before; set to 0 does not count; statements on new tables take no lock worth a timeout.
    let ids: Vec<&str> = lint_all(vec![set("lock_timeout", "3s"), idx.clone()]).iter().map(|r| r.rule).collect();
    assert_eq!(ids, vec!["statement_timeout_missing", "index_not_concurrent"]);
    let ids: Vec<&str> = lint_all(vec![set("lock_timeout", "0"), idx]).iter().map(|r| r.rule).collect();
    assert!(ids.contains(&"lock_timeout_missing"));
    assert!(lint_all(vec![create_table("fresh", vec![col("id", "int8")]), create_index("fresh", false, "CREATE INDEX i ON fresh (id)")]).is_empty());
}

#[test]
fn renames_and_drops_of_live_objects() {
    let rn = stmt(StmtKind::RenameTable { rel: rel("orders"), new_name: "purchases".into() }, "ALTER TABLE orders RENAME TO purchases");
    assert_eq!(rules(with_timeouts(vec![rn])), vec!["3:rename_table"]);
    let rc = |c: &str| stmt(StmtKind::RenameColumn { rel: rel("orders"), column: c.into(), new_name: "x".into() }, "ALTER TABLE orders RENAME COLUMN ...");
    assert_eq!(rules(with_timeouts(vec![rc("note")])), vec!["3:rename_column"]);
    assert!(rules(with_timeouts(vec![rc("no_such_column")])).is_empty());
    let dc = |c: &str| alter("orders", vec![AlterCmd::DropColumn { name: c.into(), if_exists: true }], "ALTER TABLE orders DROP COLUMN ...");
    assert_eq!(rules(with_timeouts(vec![dc("note")])), vec!["3:drop_column"]);
    assert!(rules(with_timeouts(vec![dc("gone")])).is_empty());
    let dt = |t: &str| stmt(StmtKind::DropTable { names: vec![rel(t)], if_exists: true }, "DROP TABLE ...");
    assert_eq!(rules(with_timeouts(vec![dt("orders")])), vec!["3:drop_table"]);
    assert!(rules(with_timeouts(vec![dt("scratch")])).is_empty());
}

#[test]
fn new_definitions_reuse_the_catalog_checks() {
    let mut id = col("id", "serial");
    id.primary_key = true;
    let mut tenant = col("tenant_id", "uuid");
    tenant.not_null = true;
    let table = create_table("invoices", vec![id, tenant, col("issued_at", "timestamp"), col("total", "float8"), col("paid_at", "timestamptz"), col("amount", "numeric")]);
    let mut got = rules(vec![table.clone()]);
    got.sort();
    assert_eq!(got, vec!["1:int_primary_key", "1:money_column_float", "1:rls_disabled_tenant_table", "1:timestamp_without_time_zone"]);
    let rows = lint_all(vec![table.clone()]);
    let rls = rows.iter().find(|r| r.rule == "rls_disabled_tenant_table").unwrap();
    assert!(rls.suggestion.contains("ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY;"), "{}", rls.suggestion);
    assert!(rows.iter().find(|r| r.rule == "timestamp_without_time_zone").unwrap().message.starts_with("public.invoices.issued_at"));
    // Near misses: bigint key, timestamptz, numeric money, RLS enabled in the script.
    let mut id = col("id", "int8");
    id.primary_key = true;
    let good = create_table("invoices", vec![id, col("tenant_id", "uuid"), col("issued_at", "timestamptz"), col("total", "numeric")]);
    let rls_on = alter("invoices", vec![AlterCmd::EnableRls, AlterCmd::ForceRls], "ALTER TABLE invoices ENABLE ROW LEVEL SECURITY");
    assert!(rules(vec![good, rls_on]).is_empty());
}

#[test]
fn do_blocks_are_reported_not_ignored() {
    let rows = lint_all(vec![stmt(StmtKind::Do, "DO $$ BEGIN END $$")]);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].rule, rows[0].severity), ("do_block_not_analysed", Severity::Info));
}

#[test]
fn ignore_comment_silences_one_rule_for_one_statement() {
    let mut idx = create_index("orders", false, "CREATE INDEX i ON orders (note)");
    idx.ignores = vec!["index_not_concurrent".into()];
    assert!(rules(with_timeouts(vec![idx.clone()])).is_empty());
    // Another rule on the same statement still reports.
    let ids: Vec<&str> = lint_all(vec![idx]).iter().map(|r| r.rule).collect();
    assert_eq!(ids, vec!["lock_timeout_missing", "statement_timeout_missing"]);
}

#[test]
fn syntax_errors_are_one_row() {
    let rows = lint(
        &Parsed::SyntaxError { statement: 2, message: "syntax error at or near \"TABEL\"".into(), position: Some(31) },
        &catalog(),
        &Config::default(),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].statement, rows[0].rule), (2, "syntax_error"));
    assert_eq!(rows[0].message, "syntax error at or near \"TABEL\" (at character 31)");
}

#[test]
fn names_needed_lists_what_the_catalog_must_answer() {
    let mut c = col("token", "uuid");
    c.default = Some(Expr { text: String::new(), functions: vec!["gen_random_uuid".into()], volatile_construct: false });
    let stmts = vec![
        alter("orders", vec![AlterCmd::AddColumn(c)], ""),
        stmt(StmtKind::DropIndex { names: vec![rel("idx_orders_status")], concurrently: false, if_exists: false }, ""),
    ];
    let (t, i, f) = names_needed(&stmts);
    assert_eq!(t, vec![rel("orders")]);
    assert_eq!(i, vec![rel("idx_orders_status")]);
    assert_eq!(f, vec!["gen_random_uuid".to_string()]);
}

#[test]
fn every_rule_id_is_unique_and_documented() {
    let mut seen = HashSet::new();
    for r in RULES {
        assert!(seen.insert(r.id), "{}", r.id);
        assert!(r.rule.len() > 30);
    }
    assert_eq!(insert_after_word("CREATE UNIQUE INDEX IF NOT EXISTS i ON t (a)", "index", "CONCURRENTLY").unwrap(), "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)");
    assert_eq!(insert_after_word("create index indexes_idx on t (a)", "index", "CONCURRENTLY").unwrap(), "create index CONCURRENTLY indexes_idx on t (a)");
}
