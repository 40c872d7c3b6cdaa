//! `gdpr_erase_user(subject)`: applies the `readiness_pii_columns` registry to
//! every row of one data subject, in the caller's transaction and with the
//! caller's privileges, and logs what it did in `gdpr_deletion_log`.
//!
//! Two steps, so that nothing changes unless everything can:
//!
//! 1. [`plan`] (plain Rust, tested without a server) takes the registry rows
//!    joined with what the catalog says about each table and column, rejects
//!    the first entry that cannot be applied, and otherwise returns the SQL
//!    statements to run. Identifiers arrive already quoted by the server's
//!    `quote_ident`; every value is a `$n` parameter.
//! 2. [`gdpr_erase_user`] runs them. Any error one of them raises (a CHECK
//!    constraint, a foreign key, a missing privilege) aborts the calling
//!    transaction, so a failure on the second table leaves the first one as
//!    it was.
//!
//! Idempotence: each UPDATE only touches rows where some registered column
//! still differs from its erased value, so a second call finds nothing to do.
//! NULL stays NULL under every action: there is nothing to erase in it, and
//! writing `DELETED` over it would claim data that never existed. `mask`
//! goes through [`mask_once`], which leaves values that already are a mask
//! alone, because the maskers themselves are not idempotent
//! (`mask_phone('+* *** **67')` masks the last two digits too).

use std::collections::{BTreeMap, BTreeSet};

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};
use serde_json::{json, Value};

use super::mask::{mask_card, mask_email, mask_phone};

/// What the registry asks for one column (`readiness_pii_columns.erase_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Null,
    Redact,
    Mask,
    Pseudonymize,
    DeleteRow,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "null" => Action::Null,
            "redact" => Action::Redact,
            "mask" => Action::Mask,
            "pseudonymize" => Action::Pseudonymize,
            "delete_row" => Action::DeleteRow,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Null => "null",
            Action::Redact => "redact",
            Action::Mask => "mask",
            Action::Pseudonymize => "pseudonymize",
            Action::DeleteRow => "delete_row",
        }
    }

    /// Actions that write a text value into the column.
    fn writes_text(self) -> bool {
        matches!(self, Action::Redact | Action::Mask | Action::Pseudonymize)
    }
}

/// What `redact` writes.
pub const REDACTED: &str = "DELETED";

/// The catalog facts about a table named by the registry.
#[derive(Clone, Debug, Default)]
pub struct TableFacts {
    /// `schema.table`, each part through `quote_ident`.
    pub ident: String,
    pub relkind: String,
    pub can_delete: bool,
    /// Row-level security applies to the caller: rows its policies hide are
    /// neither seen nor erased.
    pub rls_active: bool,
}

/// The catalog facts about a column named by the registry.
#[derive(Clone, Debug, Default)]
pub struct ColumnFacts {
    /// Through `quote_ident`.
    pub ident: String,
    /// `format_type()` of the column, for messages.
    pub type_name: String,
    /// Type category `S` (text, varchar, char, citext, domains over them).
    pub is_string: bool,
    /// uuid, or a domain over uuid.
    pub is_uuid: bool,
    pub not_null: bool,
    pub generated: bool,
    /// The declared length of a varchar(n) / char(n) column.
    pub max_chars: Option<usize>,
    pub can_select: bool,
    pub can_update: bool,
}

/// One `readiness_pii_columns` row with what the catalog says about it.
#[derive(Clone, Debug, Default)]
pub struct RegistryRow {
    /// The stored regclass as a number: all that is left of a dropped table.
    pub table_oid: u32,
    /// `None` when the table no longer exists.
    pub table: Option<TableFacts>,
    pub column_name: String,
    pub column: Option<ColumnFacts>,
    pub pii_kind: String,
    pub subject_column_name: String,
    pub subject: Option<ColumnFacts>,
    pub erase_action: String,
}

/// Why the registry cannot be applied; raised before anything changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EraseError {
    NullSubject,
    EmptyRegistry,
    MissingTable { oid: u32 },
    NotATable { table: String },
    MissingColumn { table: String, column: String },
    MissingSubjectColumn { table: String, column: String },
    DoesNotFit { table: String, column: String, message: String },
    UnknownValue { message: String },
    NoPrivilege { message: String },
}

impl EraseError {
    /// The SQLSTATE this error is raised with.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            EraseError::NullSubject => "22004",
            EraseError::EmptyRegistry => "55000",
            EraseError::MissingTable { .. } => "42P01",
            EraseError::NotATable { .. } => "42809",
            EraseError::MissingColumn { .. } | EraseError::MissingSubjectColumn { .. } => "42703",
            EraseError::DoesNotFit { .. } => "42804",
            EraseError::UnknownValue { .. } => "22023",
            EraseError::NoPrivilege { .. } => "42501",
        }
    }

    pub fn message(&self) -> String {
        match self {
            EraseError::NullSubject => "gdpr_erase_user: the subject must not be NULL".into(),
            EraseError::EmptyRegistry => "gdpr_erase_user: the registry is empty, so there is nothing to erase; \
                 register the personal data columns in readiness_pii_columns first"
                .into(),
            EraseError::MissingTable { oid } => format!(
                "gdpr_erase_user: readiness_pii_columns names a table that no longer exists (OID {oid}); \
                 delete its entries or register the table again"
            ),
            EraseError::NotATable { table } => {
                format!("gdpr_erase_user: readiness_pii_columns names {table}, which is not a table")
            }
            EraseError::MissingColumn { table, column } => {
                format!("gdpr_erase_user: readiness_pii_columns names column \"{column}\" of {table}, which does not exist")
            }
            EraseError::MissingSubjectColumn { table, column } => format!(
                "gdpr_erase_user: readiness_pii_columns names subject column \"{column}\" of {table}, which does not exist"
            ),
            EraseError::DoesNotFit { table, column, message } => {
                format!("gdpr_erase_user: column \"{column}\" of {table}: {message}")
            }
            EraseError::UnknownValue { message } | EraseError::NoPrivilege { message } => {
                format!("gdpr_erase_user: {message}")
            }
        }
    }
}

/// One statement to run: `$1` is always the subject (uuid), `$2`... are `texts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub table: String,
    pub sql: String,
    pub texts: Vec<String>,
}

/// What one table contributes to the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSummary {
    pub rows: i64,
    /// Raw column name -> action.
    pub columns: BTreeMap<String, &'static str>,
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Keyed by the quoted `schema.table`.
    pub tables: BTreeMap<String, TableSummary>,
    /// Tables where row-level security limits what the caller sees.
    pub rls_tables: Vec<String>,
}

/// The value `pseudonymize` writes: the seed's `deleted_<subject>@deleted.local`
/// for e-mail columns (still a well-formed, undeliverable address, so format
/// checks and unique indexes keep working), `deleted_<subject>` otherwise.
pub fn pseudonym(subject: &str, pii_kind: &str) -> String {
    if pii_kind == "email" {
        format!("deleted_{subject}@deleted.local")
    } else {
        format!("deleted_{subject}")
    }
}

const MASKED_KINDS: [&str; 3] = ["email", "phone", "card"];
pub const PII_KINDS: [&str; 10] =
    ["email", "phone", "name", "address", "card", "national_id", "birth_date", "ip_address", "free_text", "other"];

/// Masks `value` by its kind, leaving a value that already is a mask of that
/// kind as it is, so that masking twice gives what masking once gave.
/// E-mail, phone and card values go through the maskers; every other kind has
/// no meaningful partial form and becomes `DELETED`.
pub fn mask_once(pii_kind: &str, value: &str) -> Result<String, String> {
    let masked = match pii_kind {
        "email" if is_masked_email(value) => value.to_string(),
        "email" => mask_email(value),
        "phone" if is_masked_phone(value) => value.to_string(),
        "phone" => mask_phone(value),
        "card" if is_masked_card(value) => value.to_string(),
        "card" => mask_card(value),
        k if PII_KINDS.contains(&k) => REDACTED.to_string(),
        k => return Err(format!("unknown pii_kind \"{k}\"; valid values are: {}", PII_KINDS.join(", "))),
    };
    Ok(masked)
}

/// True for every output of [`mask_email`]: up to two characters, `***@***`,
/// then optionally `.` and a label (non-empty, at most 63 characters, no dot,
/// whitespace or control character) — or, without `@`, at most one character
/// and `***`.
pub fn is_masked_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return value.strip_suffix("***").is_some_and(|p| p.chars().count() <= 1);
    };
    let Some(prefix) = local.strip_suffix("***") else { return false };
    let kept = prefix.chars().count();
    if domain == "***" {
        return kept <= 1;
    }
    let Some(label) = domain.strip_prefix("***.") else { return false };
    kept <= 2
        && !label.is_empty()
        && label.chars().nth(63).is_none()
        && !label.chars().any(|c| c == '.' || c.is_whitespace() || c.is_control())
}

/// [`mask_phone`] and [`mask_card`] keep these characters in place.
fn is_layout(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')
}

/// True for every output of [`mask_phone`]: only `*`, `+`, separators and
/// ASCII digits, and either no digit or two digits with at least two masked
/// ones before them.
pub fn is_masked_phone(value: &str) -> bool {
    let (mut digits, mut stars) = (0, 0);
    for c in value.chars() {
        match c {
            '0'..='9' => digits += 1,
            '*' => stars += 1,
            '+' => {}
            c if is_layout(c) => {}
            _ => return false,
        }
    }
    digits == 0 || (digits == 2 && stars >= 2)
}

/// True for every output of [`mask_card`]: only `*`, separators and ASCII
/// digits, and either no digit, one to four digits after at least four masked
/// ones, or ten digits with at least three masked ones between the sixth and
/// the seventh (first six, last four).
pub fn is_masked_card(value: &str) -> bool {
    let (mut digits, mut stars_before_first, mut stars_after_sixth) = (0, 0, 0);
    for c in value.chars() {
        match c {
            '0'..='9' => digits += 1,
            '*' if digits == 0 => stars_before_first += 1,
            '*' if digits == 6 => stars_after_sixth += 1,
            '*' => {}
            c if is_layout(c) => {}
            _ => return false,
        }
    }
    match digits {
        0 => true,
        1..=4 => stars_before_first >= 4,
        10 => stars_after_sixth >= 3,
        _ => false,
    }
}

fn fits(row: &RegistryRow, table: &str, message: String) -> EraseError {
    EraseError::DoesNotFit { table: table.to_string(), column: row.column_name.clone(), message }
}

/// Checks one registry row against the catalog.
fn validate(row: &RegistryRow, subject: &str) -> Result<(), EraseError> {
    let Some(t) = &row.table else { return Err(EraseError::MissingTable { oid: row.table_oid }) };
    let table = t.ident.as_str();
    if !matches!(t.relkind.as_str(), "r" | "p") {
        return Err(EraseError::NotATable { table: table.to_string() });
    }
    let Some(action) = Action::parse(&row.erase_action) else {
        return Err(EraseError::UnknownValue { message: format!("unknown erase_action \"{}\" for {table}", row.erase_action) });
    };
    if !PII_KINDS.contains(&row.pii_kind.as_str()) {
        return Err(EraseError::UnknownValue { message: format!("unknown pii_kind \"{}\" for {table}", row.pii_kind) });
    }
    let Some(col) = &row.column else {
        return Err(EraseError::MissingColumn { table: table.to_string(), column: row.column_name.clone() });
    };
    let Some(subj) = &row.subject else {
        return Err(EraseError::MissingSubjectColumn { table: table.to_string(), column: row.subject_column_name.clone() });
    };
    if !subj.is_uuid && !subj.is_string {
        return Err(EraseError::DoesNotFit {
            table: table.to_string(),
            column: row.subject_column_name.clone(),
            message: format!("a subject column must be uuid or text to be compared with the subject, not {}", subj.type_name),
        });
    }
    match action {
        Action::DeleteRow => {}
        _ if col.generated => {
            return Err(fits(row, table, format!("{} cannot be applied to a generated column", action.as_str())));
        }
        Action::Null if col.not_null => {
            return Err(fits(row, table, "null cannot be applied to a NOT NULL column; use redact or pseudonymize".into()));
        }
        Action::Null => {}
        a if !col.is_string => {
            return Err(fits(
                row,
                table,
                format!("{} writes text and cannot be applied to a column of type {}; use null or delete_row", a.as_str(), col.type_name),
            ));
        }
        a => {
            let fixed = match a {
                Action::Redact => Some(REDACTED.chars().count()),
                Action::Pseudonymize => Some(pseudonym(subject, &row.pii_kind).chars().count()),
                Action::Mask if !MASKED_KINDS.contains(&row.pii_kind.as_str()) => Some(REDACTED.chars().count()),
                _ => None,
            };
            if let (Some(need), Some(max)) = (fixed, col.max_chars) {
                if need > max {
                    return Err(fits(
                        row,
                        table,
                        format!("{} writes {need} characters, more than {} holds", a.as_str(), col.type_name),
                    ));
                }
            }
        }
    }
    let denied = |what: &str| EraseError::NoPrivilege { message: format!("permission denied: {what}") };
    if !subj.can_select {
        return Err(denied(&format!("SELECT on column \"{}\" of {table}", row.subject_column_name)));
    }
    if action == Action::DeleteRow {
        if !t.can_delete {
            return Err(denied(&format!("DELETE on {table}")));
        }
    } else if !col.can_update || !col.can_select {
        return Err(denied(&format!("SELECT and UPDATE on column \"{}\" of {table}", row.column_name)));
    }
    Ok(())
}

/// Parameter numbering for one statement: `$1` is the subject, each distinct
/// text value gets the next number.
struct Params(Vec<String>);

impl Params {
    fn text(&mut self, value: String) -> String {
        let i = match self.0.iter().position(|v| *v == value) {
            Some(i) => i,
            None => {
                self.0.push(value);
                self.0.len() - 1
            }
        };
        format!("${}", i + 2)
    }
}

/// Validates every registry row and, when all of them can be applied, builds
/// the statements. `subject` is the subject's canonical text form; `schema`
/// the extension's schema, quoted; `foreign_keys` are (referencing table OID,
/// referenced table OID) pairs among the registry's tables, so that rows are
/// deleted from a referencing table before the table it references.
pub fn plan(rows: &[RegistryRow], subject: &str, schema: &str, foreign_keys: &[(u32, u32)]) -> Result<Plan, EraseError> {
    if rows.is_empty() {
        return Err(EraseError::EmptyRegistry);
    }
    for row in rows {
        validate(row, subject)?;
    }

    // One statement per (table, subject column): a table with two subject
    // columns (sender and recipient) is erased along both.
    struct Group<'a> {
        oid: u32,
        subject: &'a ColumnFacts,
        rows: Vec<&'a RegistryRow>,
    }
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut out = Plan::default();
    for row in rows {
        let t = row.table.as_ref().expect("validated");
        let subj = row.subject.as_ref().expect("validated");
        groups
            .entry((t.ident.clone(), subj.ident.clone()))
            .or_insert_with(|| Group { oid: row.table_oid, subject: subj, rows: vec![] })
            .rows
            .push(row);
        let summary = out.tables.entry(t.ident.clone()).or_default();
        summary.columns.insert(row.column_name.clone(), Action::parse(&row.erase_action).expect("validated").as_str());
        if t.rls_active && !out.rls_tables.contains(&t.ident) {
            out.rls_tables.push(t.ident.clone());
        }
    }

    let mut deletes: Vec<(u32, Step)> = Vec::new();
    for ((table, _), g) in &groups {
        let subject_match =
            if g.subject.is_uuid { format!("{} = $1", g.subject.ident) } else { format!("{} = $1::text", g.subject.ident) };
        let mut params = Params(Vec::new());
        if g.rows.iter().any(|r| r.erase_action == "delete_row") {
            let sql = format!("DELETE FROM {table} WHERE {subject_match}");
            deletes.push((g.oid, Step { table: table.clone(), sql, texts: vec![] }));
            continue;
        }
        let mut sets = Vec::new();
        let mut pending = Vec::new();
        for r in &g.rows {
            let c = &r.column.as_ref().expect("validated").ident;
            let action = Action::parse(&r.erase_action).expect("validated");
            let (set, differs) = match action {
                Action::Null => ("NULL".to_string(), format!("{c} IS NOT NULL")),
                Action::Mask => {
                    let kind = params.text(r.pii_kind.clone());
                    let masked = format!("{schema}.pii_mask({kind}, {c}::text)");
                    (masked.clone(), format!("{c}::text <> {masked}"))
                }
                a => {
                    debug_assert!(a.writes_text());
                    let value = if a == Action::Redact { REDACTED.to_string() } else { pseudonym(subject, &r.pii_kind) };
                    let p = params.text(value);
                    (format!("CASE WHEN {c} IS NULL THEN NULL ELSE {p} END"), format!("{c}::text <> {p}"))
                }
            };
            sets.push(format!("{c} = {set}"));
            pending.push(differs);
        }
        let sql = format!("UPDATE {table} SET {} WHERE {subject_match} AND ({})", sets.join(", "), pending.join(" OR "));
        out.steps.push(Step { table: table.clone(), sql, texts: params.0 });
    }
    out.steps.extend(order_deletes(deletes, foreign_keys));
    Ok(out)
}

/// Orders DELETE steps so that a table referencing another comes first; a
/// cycle falls back to name order (an ON DELETE action or a deferred
/// constraint has to resolve it, as it would for any delete).
fn order_deletes(mut pending: Vec<(u32, Step)>, foreign_keys: &[(u32, u32)]) -> Vec<Step> {
    let mut ordered = Vec::new();
    while !pending.is_empty() {
        let oids: BTreeSet<u32> = pending.iter().map(|(o, _)| *o).collect();
        let referenced_by_pending =
            |oid: u32| foreign_keys.iter().any(|&(from, to)| to == oid && from != oid && oids.contains(&from));
        let next = pending.iter().position(|(oid, _)| !referenced_by_pending(*oid)).unwrap_or(0);
        ordered.push(pending.remove(next).1);
    }
    ordered
}

/// The summary written to the log's `tables` column.
pub fn tables_json(tables: &BTreeMap<String, TableSummary>) -> Value {
    let map = tables
        .iter()
        .map(|(name, t)| (name.clone(), json!({ "rows": t.rows, "columns": t.columns })))
        .collect::<serde_json::Map<_, _>>();
    Value::Object(map)
}

// ---------------------------------------------------------------------------
// The SQL boundary.

fn raise(e: &EraseError) -> ! {
    let code = match e {
        EraseError::NullSubject => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        EraseError::EmptyRegistry => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        EraseError::MissingTable { .. } => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
        EraseError::NotATable { .. } => PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
        EraseError::MissingColumn { .. } | EraseError::MissingSubjectColumn { .. } => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        EraseError::DoesNotFit { .. } => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        EraseError::UnknownValue { .. } => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        EraseError::NoPrivilege { .. } => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
    };
    ereport!(ERROR, code, e.message());
}

/// The extension's schema, quoted: the registry and the log live there.
fn extension_schema() -> String {
    Spi::get_one::<String>(
        "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e
           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_readiness'",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| pgrx::error!("pg_readiness is not installed in this database"))
}

/// Column facts as one composite-free list of expressions over a
/// `pg_attribute` alias `a` and its `pg_type` alias `ty`.
fn column_facts_sql(a: &str, ty: &str) -> String {
    format!(
        "{a}.attnum IS NOT NULL, pg_catalog.quote_ident({a}.attname), pg_catalog.format_type({a}.atttypid, {a}.atttypmod),
         {ty}.typcategory = 'S', 'pg_catalog.uuid'::pg_catalog.regtype::pg_catalog.oid IN ({ty}.oid, {ty}.typbasetype),
         {a}.attnotnull, {a}.attgenerated <> '',
         CASE WHEN {ty}.oid IN ('pg_catalog.varchar'::pg_catalog.regtype::pg_catalog.oid, 'pg_catalog.bpchar'::pg_catalog.regtype::pg_catalog.oid)
               AND {a}.atttypmod > 4 THEN {a}.atttypmod - 4 END,
         pg_catalog.has_column_privilege(c.oid, {a}.attnum, 'SELECT'),
         pg_catalog.has_column_privilege(c.oid, {a}.attnum, 'UPDATE')"
    )
}

fn read_registry(schema: &str) -> Vec<RegistryRow> {
    let q = format!(
        "SELECT r.table_name::pg_catalog.oid::pg_catalog.int8, c.oid IS NOT NULL,
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), c.relkind::pg_catalog.text,
                pg_catalog.has_table_privilege(c.oid, 'DELETE'), pg_catalog.row_security_active(c.oid),
                r.column_name::pg_catalog.text, r.pii_kind, r.subject_column::pg_catalog.text, r.erase_action,
                {col}, {subj}
           FROM {schema}.readiness_pii_columns r
           LEFT JOIN pg_catalog.pg_class c ON c.oid = r.table_name
           LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = r.column_name AND a.attnum > 0 AND NOT a.attisdropped
           LEFT JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
           LEFT JOIN pg_catalog.pg_attribute s ON s.attrelid = c.oid AND s.attname = r.subject_column AND s.attnum > 0 AND NOT s.attisdropped
           LEFT JOIN pg_catalog.pg_type st ON st.oid = s.atttypid
          ORDER BY 3, 7, 1",
        col = column_facts_sql("a", "at"),
        subj = column_facts_sql("s", "st"),
    );
    Spi::connect(|client| {
        let rows = client.select(q.as_str(), None, &[])?;
        let mut out = Vec::new();
        for row in rows {
            let text = |i: usize| row.get::<String>(i).ok().flatten().unwrap_or_default();
            let flag = |i: usize| row.get::<bool>(i).ok().flatten().unwrap_or(false);
            let column_at = |i: usize| -> Option<ColumnFacts> {
                flag(i).then(|| ColumnFacts {
                    ident: text(i + 1),
                    type_name: text(i + 2),
                    is_string: flag(i + 3),
                    is_uuid: flag(i + 4),
                    not_null: flag(i + 5),
                    generated: flag(i + 6),
                    max_chars: row.get::<i32>(i + 7).ok().flatten().map(|n| n as usize),
                    can_select: flag(i + 8),
                    can_update: flag(i + 9),
                })
            };
            out.push(RegistryRow {
                table_oid: row.get::<i64>(1).ok().flatten().unwrap_or_default() as u32,
                table: flag(2).then(|| TableFacts { ident: text(3), relkind: text(4), can_delete: flag(5), rls_active: flag(6) }),
                column_name: text(7),
                pii_kind: text(8),
                subject_column_name: text(9),
                erase_action: text(10),
                column: column_at(11),
                subject: column_at(21),
            });
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .unwrap_or_else(|e| pgrx::error!("gdpr_erase_user: reading readiness_pii_columns failed: {e}"))
}

fn foreign_keys_among(oids: Vec<i64>) -> Vec<(u32, u32)> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT conrelid::pg_catalog.int8, confrelid::pg_catalog.int8 FROM pg_catalog.pg_constraint
              WHERE contype = 'f' AND conrelid::pg_catalog.int8 = ANY ($1) AND confrelid::pg_catalog.int8 = ANY ($1)",
            None,
            &[DatumWithOid::from(oids)],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let from = row.get::<i64>(1)?.unwrap_or_default() as u32;
            let to = row.get::<i64>(2)?.unwrap_or_default() as u32;
            out.push((from, to));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .unwrap_or_else(|e| pgrx::error!("gdpr_erase_user: reading foreign keys failed: {e}"))
}

/// Erases one data subject as `readiness_pii_columns` says; returns (and
/// logs) what changed. Not STRICT: a NULL subject is an error, not a no-op.
#[pg_extern(volatile, parallel_unsafe)]
fn gdpr_erase_user(subject: Option<Uuid>) -> JsonB {
    let Some(subject) = subject else { raise(&EraseError::NullSubject) };
    let schema = extension_schema();
    let subject_text = subject.to_string();
    let rows = read_registry(&schema);
    let oids: Vec<i64> = rows.iter().map(|r| i64::from(r.table_oid)).collect();
    let plan = plan(&rows, &subject_text, &schema, &foreign_keys_among(oids)).unwrap_or_else(|e| raise(&e));
    let log_insert = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.has_table_privilege($1, 'INSERT')",
        &[DatumWithOid::from(format!("{schema}.gdpr_deletion_log"))],
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !log_insert {
        raise(&EraseError::NoPrivilege { message: format!("permission denied: INSERT on {schema}.gdpr_deletion_log") });
    }
    for table in &plan.rls_tables {
        pgrx::warning!(
            "gdpr_erase_user: row-level security applies to {table} for the current role; \
             rows its policies hide are not erased"
        );
    }

    let mut tables = plan.tables;
    let mut total: i64 = 0;
    Spi::connect_mut(|client| {
        for step in &plan.steps {
            let mut args = vec![DatumWithOid::from(subject)];
            args.extend(step.texts.iter().map(|t| DatumWithOid::from(t.as_str())));
            let n = client.update(step.sql.as_str(), None, &args)?.len() as i64;
            tables.get_mut(&step.table).expect("planned table").rows += n;
            total += n;
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(|e| pgrx::error!("gdpr_erase_user: {e}"));

    let q = format!(
        "INSERT INTO {schema}.gdpr_deletion_log (subject_id, tables, rows_affected) VALUES ($1, $2, $3)
         RETURNING pg_catalog.jsonb_build_object('subject_id', subject_id, 'erased_at', erased_at, 'erased_by', erased_by,
                                                 'tables', tables, 'rows_affected', rows_affected)"
    );
    let args = [
        DatumWithOid::from(subject),
        DatumWithOid::from(JsonB(tables_json(&tables))),
        DatumWithOid::from(i32::try_from(total).unwrap_or(i32::MAX)),
    ];
    Spi::connect_mut(|client| client.update(q.as_str(), None, &args)?.first().get_one::<JsonB>())
        .ok()
        .flatten()
        .unwrap_or_else(|| pgrx::error!("gdpr_erase_user: writing gdpr_deletion_log failed"))
}

/// Masks `value` as its `pii_kind` says (`mask_email`, `mask_phone`,
/// `mask_card`; `DELETED` for other kinds) unless it already is such a mask;
/// what `gdpr_erase_user` writes for `erase_action = 'mask'`.
#[pg_extern(immutable, strict, parallel_safe)]
fn pii_mask(pii_kind: &str, value: &str) -> String {
    mask_once(pii_kind, value).unwrap_or_else(|m| bad_kind(m))
}

fn bad_kind(message: String) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::mask::tests::hostile_inputs;

    const SUBJECT: &str = "aaaaaaaa-0000-4000-8000-000000000001";

    fn text_col(ident: &str) -> ColumnFacts {
        ColumnFacts {
            ident: ident.into(),
            type_name: "text".into(),
            is_string: true,
            can_select: true,
            can_update: true,
            ..Default::default()
        }
    }

    fn uuid_col(ident: &str) -> ColumnFacts {
        ColumnFacts { ident: ident.into(), type_name: "uuid".into(), is_uuid: true, not_null: true, can_select: true, ..Default::default() }
    }

    fn entry(oid: u32, table: &str, column: &str, kind: &str, subject: &str, action: &str) -> RegistryRow {
        RegistryRow {
            table_oid: oid,
            table: Some(TableFacts { ident: table.into(), relkind: "r".into(), can_delete: true, rls_active: false }),
            column_name: column.trim_matches('"').replace("\"\"", "\""),
            column: Some(text_col(column)),
            pii_kind: kind.into(),
            subject_column_name: subject.into(),
            subject: Some(uuid_col(subject)),
            erase_action: action.into(),
        }
    }

    fn plan_of(rows: &[RegistryRow]) -> Result<Plan, EraseError> {
        plan(rows, SUBJECT, "readiness", &[])
    }

    #[test]
    fn one_update_per_table_with_every_value_a_parameter() {
        let rows = [
            entry(1, "public.users", "email", "email", "id", "pseudonymize"),
            entry(1, "public.users", "full_name", "name", "id", "redact"),
            entry(1, "public.users", "phone", "phone", "id", "mask"),
            entry(1, "public.users", "nickname", "name", "id", "null"),
        ];
        let p = plan_of(&rows).unwrap();
        assert_eq!(p.steps.len(), 1);
        let s = &p.steps[0];
        assert_eq!(
            s.sql,
            "UPDATE public.users SET email = CASE WHEN email IS NULL THEN NULL ELSE $2 END, \
             full_name = CASE WHEN full_name IS NULL THEN NULL ELSE $3 END, \
             phone = readiness.pii_mask($4, phone::text), nickname = NULL \
             WHERE id = $1 AND (email::text <> $2 OR full_name::text <> $3 OR phone::text <> readiness.pii_mask($4, phone::text) OR nickname IS NOT NULL)"
        );
        assert_eq!(s.texts, vec![format!("deleted_{SUBJECT}@deleted.local"), "DELETED".into(), "phone".into()]);
        let cols: Vec<_> = p.tables["public.users"].columns.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(cols, ["email=pseudonymize", "full_name=redact", "nickname=null", "phone=mask"]);
    }

    #[test]
    fn hostile_identifiers_are_used_exactly_as_the_server_quoted_them() {
        let table = r#"public."Order ""Items""; x""#;
        let mut row = entry(7, table, r#""note; DROP TABLE y; --""#, "free_text", r#""Ünïcode id""#, "redact");
        row.subject = Some(ColumnFacts { is_uuid: false, is_string: true, ..uuid_col(r#""Ünïcode id""#) });
        let p = plan_of(&[row]).unwrap();
        assert_eq!(
            p.steps[0].sql,
            r#"UPDATE public."Order ""Items""; x" SET "note; DROP TABLE y; --" = CASE WHEN "note; DROP TABLE y; --" IS NULL THEN NULL ELSE $2 END WHERE "Ünïcode id" = $1::text AND ("note; DROP TABLE y; --"::text <> $2)"#
        );
        assert_eq!(p.steps[0].texts, ["DELETED"]);
        assert_eq!(p.tables[table].columns["note; DROP TABLE y; --"], "redact");
    }

    #[test]
    fn pseudonym_forms() {
        assert_eq!(pseudonym(SUBJECT, "email"), format!("deleted_{SUBJECT}@deleted.local"));
        assert_eq!(pseudonym(SUBJECT, "name"), format!("deleted_{SUBJECT}"));
    }

    #[test]
    fn delete_row_wins_for_its_table_and_children_go_first() {
        let rows = [
            entry(1, "public.users", "email", "email", "id", "delete_row"),
            entry(1, "public.users", "full_name", "name", "id", "redact"),
            entry(2, "public.orders", "notes", "free_text", "user_id", "delete_row"),
            entry(3, "public.profiles", "bio", "free_text", "user_id", "redact"),
        ];
        // orders references users: its rows are deleted first, whatever the names' order.
        let p = plan(&rows, SUBJECT, "readiness", &[(2, 1)]).unwrap();
        let sqls: Vec<&str> = p.steps.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(sqls[0], "UPDATE public.profiles SET bio = CASE WHEN bio IS NULL THEN NULL ELSE $2 END WHERE user_id = $1 AND (bio::text <> $2)");
        assert_eq!(&sqls[1..], ["DELETE FROM public.orders WHERE user_id = $1", "DELETE FROM public.users WHERE id = $1"]);
        let p = plan(&rows, SUBJECT, "readiness", &[(1, 2)]).unwrap();
        let sqls: Vec<&str> = p.steps.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(&sqls[1..], ["DELETE FROM public.users WHERE id = $1", "DELETE FROM public.orders WHERE user_id = $1"]);
        assert_eq!(p.tables["public.users"].columns["full_name"], "redact");
        assert_eq!(p.tables["public.users"].columns["email"], "delete_row");
    }

    #[test]
    fn two_subject_columns_give_two_statements() {
        let rows = [
            entry(4, "public.messages", "body", "free_text", "sender_id", "redact"),
            entry(4, "public.messages", "to_addr", "email", "recipient_id", "pseudonymize"),
        ];
        let p = plan_of(&rows).unwrap();
        assert_eq!(p.steps.len(), 2);
        assert!(p.steps.iter().any(|s| s.sql.contains("WHERE recipient_id = $1")));
        assert!(p.steps.iter().any(|s| s.sql.contains("WHERE sender_id = $1")));
        assert_eq!(p.tables.len(), 1);
    }

    fn err(rows: &[RegistryRow]) -> (String, String) {
        let e = plan_of(rows).unwrap_err();
        (e.sqlstate().to_string(), e.message())
    }

    #[test]
    fn errors_carry_their_sqlstate() {
        let (code, msg) = err(&[]);
        assert_eq!(code, "55000");
        assert!(msg.contains("register the personal data columns in readiness_pii_columns"), "{msg}");

        let mut gone = entry(99, "x", "email", "email", "id", "redact");
        gone.table = None;
        assert_eq!(err(&[gone]).0, "42P01");

        let mut no_col = entry(1, "public.users", "emial", "email", "id", "redact");
        no_col.column = None;
        assert_eq!(err(&[no_col]), ("42703".into(), "gdpr_erase_user: readiness_pii_columns names column \"emial\" of public.users, which does not exist".into()));
        let mut no_subj = entry(1, "public.users", "email", "email", "uid", "redact");
        no_subj.subject = None;
        assert!(err(&[no_subj]).1.contains("subject column \"uid\""));

        let mut view = entry(1, "public.v", "email", "email", "id", "redact");
        view.table.as_mut().unwrap().relkind = "v".into();
        assert_eq!(err(&[view]).0, "42809");
    }

    #[test]
    fn actions_must_fit_the_column_type() {
        let mut int_col = entry(1, "public.users", "birth_year", "birth_date", "id", "redact");
        int_col.column = Some(ColumnFacts { type_name: "integer".into(), is_string: false, ..text_col("birth_year") });
        for action in ["redact", "mask", "pseudonymize"] {
            int_col.erase_action = action.into();
            let (code, msg) = err(&[int_col.clone()]);
            assert_eq!(code, "42804");
            assert!(msg.contains("integer"), "{msg}");
        }
        for action in ["null", "delete_row"] {
            int_col.erase_action = action.into();
            assert!(plan_of(&[int_col.clone()]).is_ok(), "{action}");
        }

        let mut not_null = entry(1, "public.users", "email", "email", "id", "null");
        not_null.column.as_mut().unwrap().not_null = true;
        assert_eq!(err(&[not_null.clone()]).0, "42804");
        not_null.erase_action = "pseudonymize".into();
        assert!(plan_of(&[not_null]).is_ok());

        let mut short = entry(1, "public.users", "email", "email", "id", "pseudonymize");
        short.column.as_mut().unwrap().max_chars = Some(40);
        short.column.as_mut().unwrap().type_name = "character varying(40)".into();
        assert!(err(&[short.clone()]).1.contains("writes 58 characters"));
        short.erase_action = "redact".into();
        assert!(plan_of(&[short]).is_ok());

        let mut generated = entry(1, "public.users", "email_lower", "email", "id", "redact");
        generated.column.as_mut().unwrap().generated = true;
        assert_eq!(err(&[generated]).0, "42804");

        let mut int_subject = entry(1, "public.users", "email", "email", "id", "redact");
        int_subject.subject = Some(ColumnFacts { is_uuid: false, type_name: "bigint".into(), ..uuid_col("id") });
        assert_eq!(err(&[int_subject]).0, "42804");
    }

    #[test]
    fn the_first_bad_entry_stops_everything() {
        let good = entry(1, "public.users", "email", "email", "id", "pseudonymize");
        let mut bad = entry(2, "public.orders", "notes", "free_text", "user_id", "redact");
        bad.column = None;
        assert_eq!(err(&[good, bad]).0, "42703");
    }

    #[test]
    fn privileges_are_checked_up_front() {
        let mut row = entry(1, "public.users", "email", "email", "id", "redact");
        row.column.as_mut().unwrap().can_update = false;
        assert_eq!(err(&[row.clone()]).0, "42501");
        row.erase_action = "delete_row".into();
        assert!(plan_of(&[row.clone()]).is_ok());
        row.table.as_mut().unwrap().can_delete = false;
        assert_eq!(err(&[row]).0, "42501");
    }

    #[test]
    fn rls_tables_are_reported() {
        let mut row = entry(1, "public.users", "email", "email", "id", "redact");
        row.table.as_mut().unwrap().rls_active = true;
        assert_eq!(plan_of(&[row]).unwrap().rls_tables, ["public.users"]);
    }

    #[test]
    fn summary_json_shape() {
        let mut p = plan_of(&[entry(1, "public.users", "email", "email", "id", "pseudonymize")]).unwrap();
        p.tables.get_mut("public.users").unwrap().rows = 1;
        assert_eq!(tables_json(&p.tables), json!({"public.users": {"rows": 1, "columns": {"email": "pseudonymize"}}}));
    }

    fn sample_values() -> Vec<String> {
        let mut v = hostile_inputs();
        for s in [
            "john.doe@example.com", "a@x.com", "ab@x.com", "@x.com", "x@evil.com@example.org", "john@localhost", "noat",
            "+1 (555) 123-4567", "555-0100", "12", "123", "1234", "1-800-FLOWERS", "+44 20 7946 0958", "tel:+33 1 23 45 67 89",
            "4111 1111 1111 1111", "4111111111111111", "378282246310005", "12345", "12345678901", "41111111111111111111",
            "card 4111111111111111", "4111/1111/1111/1111", "***", "*", "****1234", "**@**",
        ] {
            v.push(s.to_string());
        }
        v
    }

    #[test]
    fn masking_twice_is_masking_once() {
        for kind in PII_KINDS {
            for s in sample_values() {
                let once = mask_once(kind, &s).unwrap();
                assert_eq!(mask_once(kind, &once).unwrap(), once, "{kind} {s:?}");
            }
        }
    }

    #[test]
    fn every_mask_output_is_recognised() {
        for s in sample_values() {
            assert!(is_masked_email(&mask_email(&s)), "{s:?} -> {:?}", mask_email(&s));
            assert!(is_masked_phone(&mask_phone(&s)), "{s:?} -> {:?}", mask_phone(&s));
            assert!(is_masked_card(&mask_card(&s)), "{s:?} -> {:?}", mask_card(&s));
        }
        for n in 0..=40 {
            let digits = "7".repeat(n);
            assert!(is_masked_card(&mask_card(&digits)), "{n}");
            assert!(is_masked_phone(&mask_phone(&digits)), "{n}");
        }
    }

    #[test]
    fn raw_values_are_not_taken_for_masks() {
        for s in ["john.doe@example.com", "jo@x.com", "a@b", "johndoe", "ab***", "abc***@***.com"] {
            assert!(!is_masked_email(s), "{s}");
        }
        for s in ["+1 (555) 123-4567", "12", "0612345678", "1-800-FLOWERS"] {
            assert!(!is_masked_phone(s), "{s}");
        }
        for s in ["4111 1111 1111 1111", "1234", "12345", "411111**1111", "card"] {
            assert!(!is_masked_card(s), "{s}");
        }
        assert_eq!(mask_once("email", "john.doe@example.com").unwrap(), "jo***@***.com");
        assert_eq!(mask_once("phone", "+1 555 123 4567").unwrap(), "+* *** *** **67");
        assert_eq!(mask_once("card", "4111 1111 1111 1111").unwrap(), "4111 11** **** 1111");
        assert_eq!(mask_once("address", "1 Main St").unwrap(), "DELETED");
        assert!(mask_once("shoe_size", "44").unwrap_err().contains("valid values are: email, phone"));
    }
}
