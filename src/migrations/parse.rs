//! The only part that needs a server: runs PostgreSQL's raw parser over a
//! script and converts each raw parse tree into `super::Stmt`. The raw
//! parser does no catalog access, takes no locks and executes nothing.
//!
//! A parse error is raised by the parser as an ERROR; it is caught inside an
//! internal subtransaction and returned as `Parsed::SyntaxError`. Its cursor
//! position is read in an error context callback (`geterrposition()`),
//! because the error data handed back after the catch no longer carries it.

use std::ffi::{c_void, CStr, CString};
use std::sync::atomic::{AtomicI32, Ordering};

use pgrx::pg_sys::{self, NodeTag};
use pgrx::PgList;

use super::*;
use crate::snapshot::read::in_subtransaction;

/// Parses `script`. Never raises: a syntax error (or any other ERROR the
/// parser raises, such as a stack depth limit) becomes `SyntaxError`.
pub fn parse_script(script: &str) -> Parsed {
    let clean: String = script.replace('\0', " ");
    match raw_parse(&clean) {
        Ok(stmts) => Parsed::Statements(stmts),
        Err((message, position)) => {
            let statement = failing_statement(&clean, position);
            Parsed::SyntaxError { statement, message, position }
        }
    }
}

/// Parses one normalised statement of pg_stat_statements; `None` when it
/// does not parse or is not exactly one statement.
pub fn parse_one(text: &str) -> Option<Stmt> {
    let mut stmts = raw_parse(&text.replace('\0', " ")).ok()?;
    if stmts.len() == 1 {
        stmts.pop()
    } else {
        None
    }
}

static ERROR_POSITION: AtomicI32 = AtomicI32::new(0);

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn remember_position(_arg: *mut c_void) {
    // SAFETY: called by errfinish while the error being raised is current.
    ERROR_POSITION.store(unsafe { pg_sys::geterrposition() }, Ordering::Relaxed);
}

/// Runs the parser; on error, the message and the 1-based character position.
fn raw_parse(text: &str) -> Result<Vec<Stmt>, (String, Option<usize>)> {
    let c = CString::new(text).map_err(|_| ("script contains a NUL byte".to_string(), None))?;
    ERROR_POSITION.store(0, Ordering::Relaxed);
    let result = in_subtransaction(|| {
        // SAFETY: a stack-allocated callback pushed on error_context_stack
        // for the duration of the call, popped on every path below.
        unsafe {
            let mut cb = pg_sys::ErrorContextCallback {
                previous: pg_sys::error_context_stack,
                callback: Some(remember_position),
                arg: std::ptr::null_mut(),
            };
            let saved = pg_sys::error_context_stack;
            pg_sys::error_context_stack = &mut cb;
            let list = pgrx::PgTryBuilder::new(|| pg_sys::raw_parser(c.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT))
                .finally(|| pg_sys::error_context_stack = saved)
                .execute();
            convert_list(text, list)
        }
    });
    match result {
        Ok(stmts) => Ok(stmts),
        Err((_, message)) => {
            let pos = ERROR_POSITION.load(Ordering::Relaxed);
            Err((message, (pos > 0).then_some(pos as usize)))
        }
    }
}

/// Which statement the error is in: the statements before the error
/// position that parse on their own, plus one. Tries the `;` before the
/// error from the right, a bounded number of times.
fn failing_statement(text: &str, position: Option<usize>) -> usize {
    let Some(pos) = position else { return 1 };
    let byte = text.char_indices().nth(pos.saturating_sub(1)).map(|(b, _)| b).unwrap_or(text.len());
    let semis: Vec<usize> = text[..byte].match_indices(';').map(|(i, _)| i).collect();
    for &semi in semis.iter().rev().take(8) {
        if let Ok(stmts) = raw_parse(&text[..=semi]) {
            return stmts.len() + 1;
        }
    }
    1
}

unsafe fn cstr(p: *const std::ffi::c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

unsafe fn tag(n: *const pg_sys::Node) -> NodeTag {
    if n.is_null() {
        NodeTag::T_Invalid
    } else {
        (*n).type_
    }
}

unsafe fn nodes(l: *mut pg_sys::List) -> Vec<*mut pg_sys::Node> {
    PgList::<pg_sys::Node>::from_pg(l).iter_ptr().collect()
}

/// The `sval` of every String node of a list (qualified names).
unsafe fn strings(l: *mut pg_sys::List) -> Vec<String> {
    nodes(l)
        .into_iter()
        .filter(|n| tag(*n) == NodeTag::T_String)
        .filter_map(|n| cstr((*(n as *mut pg_sys::String)).sval))
        .collect()
}

unsafe fn rel_name(rv: *mut pg_sys::RangeVar) -> Option<RelName> {
    if rv.is_null() {
        return None;
    }
    Some(RelName { schema: cstr((*rv).schemaname), name: cstr((*rv).relname)? })
}

fn qualified(parts: Vec<String>) -> Option<RelName> {
    match parts.len() {
        1 => Some(RelName { schema: None, name: parts[0].clone() }),
        n if n >= 2 => Some(RelName { schema: Some(parts[n - 2].clone()), name: parts[n - 1].clone() }),
        _ => None,
    }
}

/// First byte of the statement's first token, skipping whitespace and comments.
fn first_token(text: &str, from: usize) -> usize {
    let b = text.as_bytes();
    let mut i = from;
    loop {
        while i < b.len() && (b[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else {
            return i.min(b.len());
        }
    }
}

/// Rules named by `-- readiness:ignore rule[, rule]` comments in the comment
/// block directly above the statement (the line before it, or a contiguous
/// run of comment lines ending there).
pub fn ignores_before(text: &str, start: usize) -> Vec<String> {
    let before = text.get(..start).unwrap_or("");
    let mut out = Vec::new();
    let mut lines: Vec<&str> = before.split('\n').collect();
    // The statement's own line (text before its first token on that line).
    lines.pop();
    for line in lines.iter().rev() {
        let l = line.trim();
        let Some(comment) = l.strip_prefix("--") else { break };
        if let Some(rest) = comment.trim().strip_prefix("readiness:ignore") {
            out.extend(rest.split(|c: char| c == ',' || c.is_whitespace()).filter(|r| !r.is_empty()).map(str::to_string));
        }
    }
    out
}

unsafe fn convert_list(text: &str, list: *mut pg_sys::List) -> Vec<Stmt> {
    let mut out = Vec::new();
    for (i, n) in nodes(list).into_iter().enumerate() {
        if tag(n) != NodeTag::T_RawStmt {
            continue;
        }
        let raw = n as *mut pg_sys::RawStmt;
        let loc = usize::try_from((*raw).stmt_location).unwrap_or(0).min(text.len());
        let end = match usize::try_from((*raw).stmt_len) {
            Ok(0) | Err(_) => text.len(),
            Ok(len) => (loc + len).min(text.len()),
        };
        let start = first_token(text, loc).min(end);
        let body = text.get(start..end).unwrap_or("").trim_end().trim_end_matches(';').trim_end().to_string();
        out.push(Stmt {
            number: i + 1,
            start,
            text: body,
            ignores: ignores_before(text, start),
            kind: convert_stmt((*raw).stmt),
        });
    }
    out
}

unsafe fn convert_stmt(n: *mut pg_sys::Node) -> StmtKind {
    match tag(n) {
        NodeTag::T_TransactionStmt => {
            let t = n as *mut pg_sys::TransactionStmt;
            StmtKind::Transaction(match (*t).kind {
                pg_sys::TransactionStmtKind::TRANS_STMT_BEGIN | pg_sys::TransactionStmtKind::TRANS_STMT_START => TxKind::Begin,
                pg_sys::TransactionStmtKind::TRANS_STMT_COMMIT => TxKind::Commit,
                pg_sys::TransactionStmtKind::TRANS_STMT_ROLLBACK => TxKind::Rollback,
                _ => TxKind::Other,
            })
        }
        NodeTag::T_VariableSetStmt => {
            let v = n as *mut pg_sys::VariableSetStmt;
            let value = nodes((*v).args).into_iter().next().and_then(|a| const_text(a));
            StmtKind::Set {
                name: cstr((*v).name).unwrap_or_default().to_ascii_lowercase(),
                value: if (*v).kind == pg_sys::VariableSetKind::VAR_SET_VALUE { value } else { None },
                local: (*v).is_local,
            }
        }
        NodeTag::T_CreateStmt => create_table(n as *mut pg_sys::CreateStmt),
        NodeTag::T_IndexStmt => {
            let x = n as *mut pg_sys::IndexStmt;
            let columns = nodes((*x).indexParams)
                .into_iter()
                .map(|e| {
                    let e = e as *mut pg_sys::IndexElem;
                    cstr((*e).name).unwrap_or_else(|| "(expression)".into())
                })
                .collect();
            StmtKind::CreateIndex {
                rel: rel_name((*x).relation).unwrap_or(RelName { schema: None, name: String::new() }),
                name: cstr((*x).idxname),
                columns,
                unique: (*x).unique,
                concurrently: (*x).concurrent,
                if_not_exists: (*x).if_not_exists,
            }
        }
        NodeTag::T_DropStmt => {
            let d = n as *mut pg_sys::DropStmt;
            let names: Vec<RelName> = nodes((*d).objects)
                .into_iter()
                .filter(|o| tag(*o) == NodeTag::T_List)
                .filter_map(|o| qualified(strings(o as *mut pg_sys::List)))
                .collect();
            match (*d).removeType {
                pg_sys::ObjectType::OBJECT_INDEX => {
                    StmtKind::DropIndex { names, concurrently: (*d).concurrent, if_exists: (*d).missing_ok }
                }
                pg_sys::ObjectType::OBJECT_TABLE => StmtKind::DropTable { names, if_exists: (*d).missing_ok },
                _ => StmtKind::Other("DropStmt".into()),
            }
        }
        NodeTag::T_ReindexStmt => {
            let r = n as *mut pg_sys::ReindexStmt;
            let concurrently = nodes((*r).params).into_iter().any(|p| {
                tag(p) == NodeTag::T_DefElem && cstr((*(p as *mut pg_sys::DefElem)).defname).as_deref() == Some("concurrently")
            });
            let target = match (*r).kind {
                pg_sys::ReindexObjectType::REINDEX_OBJECT_INDEX => ReindexTarget::Index,
                pg_sys::ReindexObjectType::REINDEX_OBJECT_TABLE => ReindexTarget::Table,
                _ => ReindexTarget::Other,
            };
            StmtKind::Reindex { target, rel: rel_name((*r).relation), concurrently }
        }
        NodeTag::T_AlterTableStmt => {
            let a = n as *mut pg_sys::AlterTableStmt;
            if (*a).objtype != pg_sys::ObjectType::OBJECT_TABLE {
                return StmtKind::Other("AlterTableStmt".into());
            }
            let cmds = nodes((*a).cmds).into_iter().map(|c| alter_cmd(c as *mut pg_sys::AlterTableCmd)).collect();
            StmtKind::AlterTable {
                rel: rel_name((*a).relation).unwrap_or(RelName { schema: None, name: String::new() }),
                if_exists: (*a).missing_ok,
                cmds,
            }
        }
        NodeTag::T_RenameStmt => {
            let r = n as *mut pg_sys::RenameStmt;
            let Some(rel) = rel_name((*r).relation) else { return StmtKind::Other("RenameStmt".into()) };
            let new_name = cstr((*r).newname).unwrap_or_default();
            match ((*r).renameType, (*r).relationType) {
                (pg_sys::ObjectType::OBJECT_TABLE, _) => StmtKind::RenameTable { rel, new_name },
                (pg_sys::ObjectType::OBJECT_COLUMN, pg_sys::ObjectType::OBJECT_TABLE) => {
                    StmtKind::RenameColumn { rel, column: cstr((*r).subname).unwrap_or_default(), new_name }
                }
                _ => StmtKind::Other("RenameStmt".into()),
            }
        }
        NodeTag::T_DoStmt => StmtKind::Do,
        NodeTag::T_SelectStmt => StmtKind::Select(Box::new(select(n as *mut pg_sys::SelectStmt))),
        t => StmtKind::Other(format!("{t:?}").trim_start_matches("T_").to_string()),
    }
}

/// The text of a constant (`SET x = '5s'`, `SET x = 5000`).
unsafe fn const_text(n: *mut pg_sys::Node) -> Option<String> {
    if tag(n) != NodeTag::T_A_Const {
        return None;
    }
    let c = n as *mut pg_sys::A_Const;
    if (*c).isnull {
        return None;
    }
    let v = &(*c).val;
    match v.node.type_ {
        NodeTag::T_Integer => Some(v.ival.ival.to_string()),
        NodeTag::T_Float => cstr(v.fval.fval),
        NodeTag::T_String => cstr(v.sval.sval),
        NodeTag::T_Boolean => Some(v.boolval.boolval.to_string()),
        _ => None,
    }
}

unsafe fn type_spec(t: *mut pg_sys::TypeName) -> Option<TypeSpec> {
    if t.is_null() {
        return None;
    }
    let names = strings((*t).names);
    let name = names.last()?.clone();
    let mods: Vec<i64> = nodes((*t).typmods).into_iter().filter_map(|m| const_text(m)).filter_map(|m| m.parse().ok()).collect();
    let mut spec = TypeSpec::new(&name, &mods);
    spec.array = !(*t).arrayBounds.is_null();
    Some(spec)
}

/// What a default expression calls, for the volatility judgement.
unsafe fn expr(n: *mut pg_sys::Node) -> Expr {
    let mut e = Expr::default();
    walk(n, &mut |node| match tag(node) {
        NodeTag::T_FuncCall => {
            let f = node as *mut pg_sys::FuncCall;
            if let Some(name) = strings((*f).funcname).last() {
                e.functions.push(name.to_ascii_lowercase());
            }
        }
        NodeTag::T_SubLink => e.volatile_construct = true,
        _ => {}
    });
    e
}

/// Visits the expression nodes a default or predicate can contain.
unsafe fn walk(n: *mut pg_sys::Node, f: &mut dyn FnMut(*mut pg_sys::Node)) {
    if n.is_null() {
        return;
    }
    f(n);
    match tag(n) {
        NodeTag::T_FuncCall => {
            for a in nodes((*(n as *mut pg_sys::FuncCall)).args) {
                walk(a, f);
            }
        }
        NodeTag::T_A_Expr => {
            let a = n as *mut pg_sys::A_Expr;
            walk((*a).lexpr, f);
            walk((*a).rexpr, f);
        }
        NodeTag::T_BoolExpr => {
            for a in nodes((*(n as *mut pg_sys::BoolExpr)).args) {
                walk(a, f);
            }
        }
        NodeTag::T_TypeCast => walk((*(n as *mut pg_sys::TypeCast)).arg, f),
        NodeTag::T_NullTest => walk((*(n as *mut pg_sys::NullTest)).arg as *mut pg_sys::Node, f),
        NodeTag::T_List => {
            for a in nodes(n as *mut pg_sys::List) {
                walk(a, f);
            }
        }
        NodeTag::T_CoalesceExpr => {
            for a in nodes((*(n as *mut pg_sys::CoalesceExpr)).args) {
                walk(a, f);
            }
        }
        _ => {}
    }
}

unsafe fn column_ref(n: *mut pg_sys::Node) -> Option<String> {
    if tag(n) != NodeTag::T_ColumnRef {
        return None;
    }
    strings((*(n as *mut pg_sys::ColumnRef)).fields).last().cloned()
}

unsafe fn constraint(c: *mut pg_sys::Constraint) -> ConstraintSpec {
    use pg_sys::ConstrType::*;
    let kind = match (*c).contype {
        CONSTR_PRIMARY => ConstraintKind::PrimaryKey,
        CONSTR_UNIQUE => ConstraintKind::Unique,
        CONSTR_CHECK => ConstraintKind::Check,
        CONSTR_FOREIGN => ConstraintKind::ForeignKey,
        CONSTR_EXCLUSION => ConstraintKind::Exclusion,
        _ => ConstraintKind::Other,
    };
    let mut s = ConstraintSpec::new(kind);
    s.name = cstr((*c).conname);
    s.not_valid = (*c).skip_validation;
    s.using_index = cstr((*c).indexname);
    s.columns = if kind == ConstraintKind::ForeignKey { strings((*c).fk_attrs) } else { strings((*c).keys) };
    s.ref_table = rel_name((*c).pktable);
    if kind == ConstraintKind::Check {
        let raw = (*c).raw_expr;
        let mut first = None;
        walk(raw, &mut |node| {
            if first.is_none() {
                first = column_ref(node);
            }
        });
        s.check_column = first;
        if tag(raw) == NodeTag::T_NullTest {
            let t = raw as *mut pg_sys::NullTest;
            s.is_not_null_check = (*t).nulltesttype == pg_sys::NullTestType::IS_NOT_NULL
                && column_ref((*t).arg as *mut pg_sys::Node).is_some();
        }
    }
    s
}

unsafe fn column_def(d: *mut pg_sys::ColumnDef) -> ColumnSpec {
    use pg_sys::ConstrType::*;
    let mut col = ColumnSpec {
        name: cstr((*d).colname).unwrap_or_default(),
        type_: type_spec((*d).typeName),
        not_null: (*d).is_not_null,
        ..ColumnSpec::default()
    };
    if !(*d).raw_default.is_null() {
        col.default = Some(expr((*d).raw_default));
    }
    for c in nodes((*d).constraints) {
        if tag(c) != NodeTag::T_Constraint {
            continue;
        }
        let c = c as *mut pg_sys::Constraint;
        match (*c).contype {
            CONSTR_NOTNULL => col.not_null = true,
            CONSTR_DEFAULT => col.default = Some(expr((*c).raw_expr)),
            CONSTR_PRIMARY => {
                col.primary_key = true;
                col.not_null = true;
            }
            CONSTR_UNIQUE => col.unique = true,
            CONSTR_FOREIGN => col.references = rel_name((*c).pktable),
            CONSTR_IDENTITY => col.identity = true,
            CONSTR_GENERATED => col.generated = true,
            _ => {}
        }
    }
    col
}

unsafe fn create_table(c: *mut pg_sys::CreateStmt) -> StmtKind {
    let mut columns = Vec::new();
    let mut constraints = Vec::new();
    for e in nodes((*c).tableElts) {
        match tag(e) {
            NodeTag::T_ColumnDef => columns.push(column_def(e as *mut pg_sys::ColumnDef)),
            NodeTag::T_Constraint => constraints.push(constraint(e as *mut pg_sys::Constraint)),
            _ => {}
        }
    }
    for e in nodes((*c).constraints) {
        if tag(e) == NodeTag::T_Constraint {
            constraints.push(constraint(e as *mut pg_sys::Constraint));
        }
    }
    let partition_of = if (*c).partbound.is_null() {
        None
    } else {
        nodes((*c).inhRelations).into_iter().next().and_then(|r| rel_name(r as *mut pg_sys::RangeVar))
    };
    StmtKind::CreateTable {
        rel: rel_name((*c).relation).unwrap_or(RelName { schema: None, name: String::new() }),
        columns,
        constraints,
        partitioned: !(*c).partspec.is_null(),
        partition_of,
        if_not_exists: (*c).if_not_exists,
    }
}

#[allow(non_upper_case_globals)]
unsafe fn alter_cmd(c: *mut pg_sys::AlterTableCmd) -> AlterCmd {
    use pg_sys::AlterTableType::*;
    let name = cstr((*c).name).unwrap_or_default();
    match (*c).subtype {
        AT_AddColumn | AT_AddColumnRecurse if tag((*c).def) == NodeTag::T_ColumnDef => {
            AlterCmd::AddColumn(column_def((*c).def as *mut pg_sys::ColumnDef))
        }
        AT_DropColumn | AT_DropColumnRecurse => AlterCmd::DropColumn { name, if_exists: (*c).missing_ok },
        AT_AlterColumnType if tag((*c).def) == NodeTag::T_ColumnDef => {
            let d = (*c).def as *mut pg_sys::ColumnDef;
            match type_spec((*d).typeName) {
                Some(type_) => AlterCmd::AlterType { column: name, type_, using: !(*d).raw_default.is_null() },
                None => AlterCmd::Other(AT_AlterColumnType),
            }
        }
        AT_SetNotNull => AlterCmd::SetNotNull { column: name },
        AT_ColumnDefault => AlterCmd::SetDefault { column: name },
        AT_AddConstraint | AT_AddConstraintRecurse if tag((*c).def) == NodeTag::T_Constraint => {
            AlterCmd::AddConstraint(constraint((*c).def as *mut pg_sys::Constraint))
        }
        AT_ValidateConstraint | AT_ValidateConstraintRecurse => AlterCmd::ValidateConstraint { name },
        AT_DropConstraint | AT_DropConstraintRecurse => AlterCmd::DropConstraint { name },
        AT_EnableRowSecurity => AlterCmd::EnableRls,
        AT_ForceRowSecurity => AlterCmd::ForceRls,
        other => AlterCmd::Other(other),
    }
}

// ---------------------------------------------------------------- SELECT --

/// A single-table SELECT's predicates, sort and parameters.
unsafe fn select(s: *mut pg_sys::SelectStmt) -> Query {
    let mut q = Query::default();
    let from = nodes((*s).fromClause);
    let single = (*s).op == pg_sys::SetOperation::SETOP_NONE
        && (*s).withClause.is_null()
        && from.len() == 1
        && tag(from[0]) == NodeTag::T_RangeVar;
    if single {
        q.table = rel_name(from[0] as *mut pg_sys::RangeVar);
    }
    predicate((*s).whereClause, &mut q, true);
    for sb in nodes((*s).sortClause) {
        if tag(sb) != NodeTag::T_SortBy {
            continue;
        }
        let sb = sb as *mut pg_sys::SortBy;
        if let Some(col) = column_ref((*sb).node) {
            q.order_by.push((col, (*sb).sortby_dir == pg_sys::SortByDir::SORTBY_DESC));
        }
    }
    if let Some(p) = param((*s).limitCount) {
        q.params.push(ParamUse { number: p.0, location: p.1, column: None, role: ParamRole::Limit });
    }
    if let Some(p) = param((*s).limitOffset) {
        q.params.push(ParamUse { number: p.0, location: p.1, column: None, role: ParamRole::Limit });
    }
    q.params.sort_by_key(|p| p.number);
    q
}

/// `$n` (possibly behind a cast): its number and its byte offset in the
/// text given to the parser.
unsafe fn param(n: *mut pg_sys::Node) -> Option<(i32, usize)> {
    match tag(n) {
        NodeTag::T_ParamRef => {
            let p = n as *mut pg_sys::ParamRef;
            Some(((*p).number, usize::try_from((*p).location).ok()?))
        }
        NodeTag::T_TypeCast => param((*(n as *mut pg_sys::TypeCast)).arg),
        _ => None,
    }
}

unsafe fn is_value(n: *mut pg_sys::Node) -> bool {
    match tag(n) {
        NodeTag::T_ParamRef | NodeTag::T_A_Const => true,
        NodeTag::T_TypeCast => is_value((*(n as *mut pg_sys::TypeCast)).arg),
        _ => false,
    }
}

unsafe fn predicate(n: *mut pg_sys::Node, q: &mut Query, top: bool) {
    if n.is_null() {
        return;
    }
    match tag(n) {
        NodeTag::T_BoolExpr => {
            let b = n as *mut pg_sys::BoolExpr;
            if (*b).boolop == pg_sys::BoolExprType::AND_EXPR && top {
                for a in nodes((*b).args) {
                    predicate(a, q, true);
                }
            } else {
                q.complex = true;
                collect_params(n, q);
            }
        }
        NodeTag::T_A_Expr => {
            let a = n as *mut pg_sys::A_Expr;
            let op = strings((*a).name).last().cloned().unwrap_or_default();
            let (l, r) = ((*a).lexpr, (*a).rexpr);
            // Normalise `value op column` to `column op' value`.
            let (col, val, flipped) = match (column_ref(l), column_ref(r)) {
                (Some(c), None) if is_value(r) => (Some(c), r, false),
                (None, Some(c)) if is_value(l) => (Some(c), l, true),
                _ => (None, r, false),
            };
            let role = match ((*a).kind, op.as_str(), col.is_some()) {
                (pg_sys::A_Expr_Kind::AEXPR_OP, "=", true) => Some(ParamRole::Equality),
                (pg_sys::A_Expr_Kind::AEXPR_OP, ">" | ">=", true) => {
                    Some(ParamRole::Range(if flipped { RangeOp::Upper } else { RangeOp::Lower }))
                }
                (pg_sys::A_Expr_Kind::AEXPR_OP, "<" | "<=", true) => {
                    Some(ParamRole::Range(if flipped { RangeOp::Lower } else { RangeOp::Upper }))
                }
                _ => None,
            };
            match (role, col) {
                (Some(role), Some(col)) => {
                    match role {
                        ParamRole::Equality => {
                            if !q.equality.contains(&col) {
                                q.equality.push(col.clone())
                            }
                        }
                        _ => {
                            if !q.range.contains(&col) {
                                q.range.push(col.clone())
                            }
                        }
                    }
                    if let Some((number, loc)) = param(val) {
                        q.params.push(ParamUse { number, location: loc, column: Some(col), role });
                    }
                }
                _ => {
                    // BETWEEN on a column: a range.
                    if matches!((*a).kind, pg_sys::A_Expr_Kind::AEXPR_BETWEEN) {
                        if let Some(col) = column_ref(l) {
                            if !q.range.contains(&col) {
                                q.range.push(col.clone());
                            }
                            for v in nodes((*a).rexpr as *mut pg_sys::List) {
                                if let Some((number, loc)) = param(v) {
                                    q.params.push(ParamUse {
                                        number,
                                        location: loc,
                                        column: Some(col.clone()),
                                        role: ParamRole::Range(RangeOp::Between),
                                    });
                                }
                            }
                            return;
                        }
                    }
                    q.complex = true;
                    collect_params(n, q);
                }
            }
        }
        _ => {
            q.complex = true;
            collect_params(n, q);
        }
    }
}

unsafe fn collect_params(n: *mut pg_sys::Node, q: &mut Query) {
    walk(n, &mut |node| {
        if let Some((number, loc)) = param(node) {
            if tag(node) == NodeTag::T_ParamRef {
                q.params.push(ParamUse { number, location: loc, column: None, role: ParamRole::Other });
            }
        }
    });
}
