//! PostgreSQL's own parser at work. `parse.rs` runs the server's raw parser
//! (`raw_parser`) and converts its parse trees into the small typed
//! representation below; everything else (the migration linter in `lint.rs`,
//! the workload analysis of `checks/workload.rs`) is plain Rust over these
//! types and unit-tested without a server.

pub mod catalog;
pub mod lint;
pub mod parse;
pub mod sql;
pub mod tracking;
pub mod types;
pub mod workload;

/// A relation name as written in the script (unquoted, case as the parser
/// folded it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelName {
    pub schema: Option<String>,
    pub name: String,
}

impl RelName {
    pub fn new(schema: Option<&str>, name: &str) -> RelName {
        RelName { schema: schema.map(str::to_string), name: name.to_string() }
    }

    /// The name as SQL: each part quoted where PostgreSQL needs it.
    pub fn sql(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

/// Quotes an identifier the way `quote_ident` does for names the parser
/// produced: plain lower-case names stay bare, anything else (upper case,
/// spaces, quotes, a leading digit, a reserved word) is double-quoted.
pub fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !types::is_reserved(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A type as written: its canonical name (`int4`, `varchar`, `timestamptz`,
/// see `types::canonical`) and integer modifiers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeSpec {
    pub name: String,
    pub mods: Vec<i64>,
    pub array: bool,
}

impl TypeSpec {
    pub fn new(name: &str, mods: &[i64]) -> TypeSpec {
        TypeSpec { name: types::canonical(name), mods: mods.to_vec(), array: false }
    }

    /// The type as `format_type()` prints it ("character varying(255)").
    pub fn display(&self) -> String {
        types::display(self)
    }
}

/// A column default or generation expression: the functions it calls, so
/// volatility can be judged against the catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expr {
    pub text: String,
    pub functions: Vec<String>,
    /// Contains a sequence, subquery or other construct that is volatile by nature.
    pub volatile_construct: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub type_: Option<TypeSpec>,
    pub not_null: bool,
    pub default: Option<Expr>,
    pub primary_key: bool,
    pub unique: bool,
    pub references: Option<RelName>,
    /// GENERATED ALWAYS AS IDENTITY / BY DEFAULT.
    pub identity: bool,
    /// GENERATED ALWAYS AS (...) STORED.
    pub generated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
    Exclusion,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstraintSpec {
    pub kind: ConstraintKind,
    pub name: Option<String>,
    pub not_valid: bool,
    /// `... USING INDEX name` (PRIMARY KEY / UNIQUE).
    pub using_index: Option<String>,
    pub columns: Vec<String>,
    pub ref_table: Option<RelName>,
    /// For CHECK: the first column the expression references, and whether it
    /// is exactly `col IS NOT NULL`.
    pub check_column: Option<String>,
    pub is_not_null_check: bool,
}

impl ConstraintSpec {
    pub fn new(kind: ConstraintKind) -> ConstraintSpec {
        ConstraintSpec {
            kind,
            name: None,
            not_valid: false,
            using_index: None,
            columns: Vec::new(),
            ref_table: None,
            check_column: None,
            is_not_null_check: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlterCmd {
    AddColumn(ColumnSpec),
    DropColumn { name: String, if_exists: bool },
    AlterType { column: String, type_: TypeSpec, using: bool },
    SetNotNull { column: String },
    SetDefault { column: String },
    AddConstraint(ConstraintSpec),
    ValidateConstraint { name: String },
    DropConstraint { name: String },
    EnableRls,
    ForceRls,
    /// Any other subcommand, named by its `AlterTableType` number.
    Other(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    Begin,
    Commit,
    Rollback,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReindexTarget {
    Index,
    Table,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    Transaction(TxKind),
    Set { name: String, value: Option<String>, local: bool },
    CreateTable {
        rel: RelName,
        columns: Vec<ColumnSpec>,
        constraints: Vec<ConstraintSpec>,
        partitioned: bool,
        partition_of: Option<RelName>,
        if_not_exists: bool,
    },
    CreateIndex {
        rel: RelName,
        name: Option<String>,
        columns: Vec<String>,
        unique: bool,
        concurrently: bool,
        if_not_exists: bool,
    },
    DropIndex { names: Vec<RelName>, concurrently: bool, if_exists: bool },
    DropTable { names: Vec<RelName>, if_exists: bool },
    Reindex { target: ReindexTarget, rel: Option<RelName>, concurrently: bool },
    AlterTable { rel: RelName, if_exists: bool, cmds: Vec<AlterCmd> },
    RenameTable { rel: RelName, new_name: String },
    RenameColumn { rel: RelName, column: String, new_name: String },
    Do,
    Select(Box<Query>),
    /// Anything else, with its node tag name (`InsertStmt`, `CreateFunctionStmt`, ...).
    Other(String),
}

/// One statement of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// 1-based position in the script.
    pub number: usize,
    /// Byte offset of the statement's first token in the script.
    pub start: usize,
    /// The statement's text, from its first token, without the final `;`.
    pub text: String,
    /// Rules silenced by a `-- readiness:ignore <rule>` comment on the line before.
    pub ignores: Vec<String>,
    pub kind: StmtKind,
}

/// What parsing produced: the statements, or the parser's error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Statements(Vec<Stmt>),
    SyntaxError { statement: usize, message: String, position: Option<usize> },
}

/// How a predicate uses a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    Equality,
    /// `<`, `<=`, `>`, `>=` (the operator) or BETWEEN.
    Range(RangeOp),
    Limit,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    Lower,
    Upper,
    Between,
}

/// A `$n` parameter of a normalised statement, where it stands and what it
/// is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamUse {
    pub number: i32,
    /// Byte offset of `$n` in the text that was parsed.
    pub location: usize,
    pub column: Option<String>,
    pub role: ParamRole,
}

/// A single-table SELECT as the workload analysis needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// None when the statement reads more than one relation (joins,
    /// sub-selects, set operations): not a single-table predicate.
    pub table: Option<RelName>,
    /// Columns compared with `=` to a parameter or constant, in order of appearance.
    pub equality: Vec<String>,
    /// Columns compared with a range operator (or BETWEEN).
    pub range: Vec<String>,
    /// ORDER BY columns (plain column references only), with DESC.
    pub order_by: Vec<(String, bool)>,
    /// The WHERE clause has an OR or a predicate that is not a plain
    /// column-versus-value comparison (it is then judged on its AND-ed plain parts).
    pub complex: bool,
    pub params: Vec<ParamUse>,
}
