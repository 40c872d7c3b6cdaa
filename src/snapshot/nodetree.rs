//! A reader for PostgreSQL's `pg_node_tree` text (the output of `nodeToString`,
//! as stored in `pg_policy.polqual`), and the few questions the RLS checks ask
//! of a policy expression.
//!
//! Policies are judged on this tree, never on deparsed text: PostgreSQL
//! deparses `(SELECT current_setting('x'))::uuid` as
//! `( SELECT (current_setting('x'::text))::uuid AS current_setting)`, so text
//! patterns misjudge correctly wrapped policies.

use std::collections::{HashMap, HashSet};

/// A node: `{NAME :field value ...}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub fields: Vec<(String, Vec<Value>)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Token(String),
    List(Vec<Value>),
    Node(Box<Node>),
}

impl Node {
    pub fn field(&self, name: &str) -> Option<&[Value]> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    pub fn token(&self, name: &str) -> Option<&str> {
        match self.field(name)?.first()? {
            Value::Token(t) => Some(t.as_str()),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.token(name)?.parse().ok()
    }

    /// Direct child nodes, in field order (inside lists too).
    pub fn children(&self) -> Vec<&Node> {
        fn collect<'a>(v: &'a Value, out: &mut Vec<&'a Node>) {
            match v {
                Value::Node(n) => out.push(n),
                Value::List(items) => items.iter().for_each(|i| collect(i, out)),
                Value::Token(_) => {}
            }
        }
        let mut out = Vec::new();
        for (_, values) in &self.fields {
            values.iter().for_each(|v| collect(v, &mut out));
        }
        out
    }
}

fn tokenize(s: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if matches!(c, '(' | ')' | '{' | '}') {
            tokens.push(c.to_string());
            chars.next();
            continue;
        }
        let mut tok = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || matches!(c, '(' | ')' | '{' | '}') {
                break;
            }
            chars.next();
            if c == '\\' {
                if let Some(n) = chars.next() {
                    tok.push(n);
                }
            } else {
                tok.push(c);
            }
        }
        tokens.push(tok);
    }
    tokens
}

/// Parses one node tree. Returns `None` for text that is not a node tree
/// (the checks then treat the expression as unknown, never as safe).
pub fn parse(s: &str) -> Option<Node> {
    let tokens = tokenize(s);
    let mut pos = 0;
    let node = parse_node(&tokens, &mut pos, 0)?;
    Some(node)
}

// Deeply nested trees exist (long OR chains); the bound keeps a hostile
// catalog from exhausting the stack.
const MAX_DEPTH: usize = 2000;

fn parse_node(t: &[String], pos: &mut usize, depth: usize) -> Option<Node> {
    if depth > MAX_DEPTH || t.get(*pos)? != "{" {
        return None;
    }
    *pos += 1;
    let name = t.get(*pos)?.clone();
    *pos += 1;
    let mut fields: Vec<(String, Vec<Value>)> = Vec::new();
    loop {
        let tok = t.get(*pos)?;
        if tok == "}" {
            *pos += 1;
            return Some(Node { name, fields });
        }
        if let Some(field) = tok.strip_prefix(':') {
            *pos += 1;
            fields.push((field.to_string(), Vec::new()));
            continue;
        }
        let value = parse_value(t, pos, depth + 1)?;
        match fields.last_mut() {
            Some((_, values)) => values.push(value),
            None => fields.push((String::new(), vec![value])),
        }
    }
}

fn parse_value(t: &[String], pos: &mut usize, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    match t.get(*pos)?.as_str() {
        "{" => parse_node(t, pos, depth).map(|n| Value::Node(Box::new(n))),
        "(" => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                if t.get(*pos)? == ")" {
                    *pos += 1;
                    return Some(Value::List(items));
                }
                items.push(parse_value(t, pos, depth + 1)?);
            }
        }
        ")" | "}" => None,
        tok => {
            *pos += 1;
            Some(Value::Token(tok.to_string()))
        }
    }
}

/// Does the expression reference column `attnum` of the policy's own table?
/// A `Var` at sub-query depth `d` points at the policy's row when its
/// `varlevelsup` equals `d` and its `varno` is 1 (the only range-table entry
/// of a policy expression).
pub fn references_column(node: &Node, attnum: i16) -> bool {
    fn walk(n: &Node, depth: i64, attnum: i64) -> bool {
        if n.name == "VAR"
            && n.int("varlevelsup") == Some(depth)
            && n.int("varno") == Some(1)
            && n.int("varattno") == Some(attnum)
        {
            return true;
        }
        let d = if n.name == "QUERY" { depth + 1 } else { depth };
        n.children().into_iter().any(|c| walk(c, d, attnum))
    }
    walk(node, 0, i64::from(attnum))
}

/// Any reference to the policy's own row (used to tell whether a function
/// call could be hoisted into an init-plan).
fn references_row(node: &Node, depth: i64) -> bool {
    if node.name == "VAR" && node.int("varlevelsup") == Some(depth) {
        return true;
    }
    let d = if node.name == "QUERY" { depth + 1 } else { depth };
    node.children().into_iter().any(|c| references_row(c, d))
}

fn strip_casts(node: &Node) -> &Node {
    let mut n = node;
    loop {
        let inner = match n.name.as_str() {
            "RELABELTYPE" | "COERCEVIAIO" | "COERCETODOMAIN" => n.field("arg"),
            _ => None,
        };
        match inner.and_then(|v| v.first()) {
            Some(Value::Node(child)) => n = child,
            _ => return n,
        }
    }
}

fn const_key(node: &Node) -> Option<(String, String)> {
    let n = strip_casts(node);
    if n.name != "CONST" || n.token("constisnull") != Some("false") {
        return None;
    }
    let value: Vec<String> = n
        .field("constvalue")?
        .iter()
        .filter_map(|v| match v {
            Value::Token(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    Some((n.token("consttype")?.to_string(), value.join(" ")))
}

fn args(node: &Node) -> Vec<&Node> {
    match node.field("args").and_then(|v| v.first()) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Node(n) => Some(n.as_ref()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Is the expression constant true? The precise rule: after removing
/// casts it is the boolean constant `true`; or `=`, `<=`, `>=` between two
/// identical non-null constants (`1 = 1`, `'a' = 'a'`); or an OR with such an
/// arm; or an AND all of whose arms are such; or `NOT` of constant `false`.
pub fn is_constant_true(node: &Node, reflexive_ops: &HashSet<u32>) -> bool {
    let n = strip_casts(node);
    match n.name.as_str() {
        "CONST" => n.token("consttype") == Some("16") && const_bool(n) == Some(true),
        "OPEXPR" => {
            let a = args(n);
            let op = n.int("opno").and_then(|o| u32::try_from(o).ok());
            a.len() == 2
                && op.is_some_and(|o| reflexive_ops.contains(&o))
                && const_key(a[0]).is_some()
                && const_key(a[0]) == const_key(a[1])
        }
        "BOOLEXPR" => {
            let a = args(n);
            match n.token("boolop") {
                Some("or") => a.iter().any(|x| is_constant_true(x, reflexive_ops)),
                Some("and") => !a.is_empty() && a.iter().all(|x| is_constant_true(x, reflexive_ops)),
                Some("not") => a.len() == 1 && {
                    let inner = strip_casts(a[0]);
                    inner.name == "CONST" && inner.token("consttype") == Some("16") && const_bool(inner) == Some(false)
                },
                _ => false,
            }
        }
        _ => false,
    }
}

fn const_bool(n: &Node) -> Option<bool> {
    if n.token("constisnull") != Some("false") {
        return None;
    }
    // A by-value bool is written as `1 [ 1 0 0 0 0 0 0 0 ]`: the first byte.
    let values = n.field("constvalue")?;
    let first_byte = values.iter().skip_while(|v| **v != Value::Token("[".into())).nth(1)?;
    match first_byte {
        Value::Token(t) => Some(t != "0"),
        _ => None,
    }
}

/// Calls of STABLE functions that PostgreSQL evaluates once per row: outside
/// any sub-select (a `(SELECT f())` becomes an init-plan, evaluated once) and
/// with no argument that depends on the row. Returns the function oids.
pub fn per_row_stable_calls(node: &Node, stable: &HashMap<u32, String>) -> Vec<u32> {
    fn walk(n: &Node, stable: &HashMap<u32, String>, out: &mut Vec<u32>) {
        if n.name == "SUBLINK" {
            return;
        }
        if n.name == "FUNCEXPR" {
            if let Some(f) = n.int("funcid").and_then(|f| u32::try_from(f).ok()) {
                if stable.contains_key(&f) && !references_row(n, 0) && !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        n.children().into_iter().for_each(|c| walk(c, stable, out));
    }
    let mut out = Vec::new();
    walk(node, stable, &mut out);
    out
}

/// Wraps each call of `function` in deparsed expression text in a scalar
/// sub-select, so it is evaluated once per statement. Only calls outside
/// string literals and not already directly inside `(SELECT ...)` are
/// wrapped. Returns `None` when the text does not look like a deparsed
/// expression we can rewrite safely.
pub fn wrap_calls(sql: &str, function: &str) -> Option<String> {
    let bytes = sql.as_bytes();
    let needle = format!("{function}(");
    let mut out = String::with_capacity(sql.len() + 32);
    let mut i = 0;
    let mut wrapped = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' {
            // Copy a string literal verbatim ('' is an escaped quote).
            let start = i;
            i += 1;
            loop {
                if i >= bytes.len() {
                    return None;
                }
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            out.push_str(&sql[start..i]);
            continue;
        }
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'.');
        if boundary && sql[i..].starts_with(&needle) {
            let already = out.trim_end().to_ascii_uppercase().ends_with("SELECT");
            let end = matching_paren(bytes, i + needle.len() - 1)?;
            let call = &sql[i..=end];
            if already {
                out.push_str(call);
            } else {
                out.push_str("(SELECT ");
                out.push_str(call);
                out.push(')');
                wrapped += 1;
            }
            i = end + 1;
            continue;
        }
        let ch = sql[i..].chars().next()?;
        out.push(ch);
        i += ch.len_utf8();
    }
    if wrapped == 0 {
        None
    } else {
        Some(out)
    }
}

fn matching_paren(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real trees from PostgreSQL 15 (`SELECT polqual FROM pg_policy`).
    const TENANT_EQ_SETTING: &str = r#"{OPEXPR :opno 2972 :opfuncid 2956 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 2950 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 58} {FUNCEXPR :funcid 2953 :funcresulttype 2950 :funcretset false :funcvariadic false :funcformat 1 :funccollid 0 :inputcollid 0 :args ({FUNCEXPR :funcid 2077 :funcresulttype 25 :funcretset false :funcvariadic false :funcformat 0 :funccollid 100 :inputcollid 100 :args ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 86 :constvalue 22 [ 88 0 0 0 97 112 112 46 99 117 114 114 101 110 116 95 116 101 110 97 110 116 ]}) :location 70}) :location 106}) :location 68}"#;

    const TENANT_EQ_WRAPPED: &str = r#"{OPEXPR :opno 2972 :opfuncid 2956 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 2950 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 58} {SUBLINK :subLinkType 4 :subLinkId 0 :testexpr <> :operName <> :subselect {QUERY :commandType 1 :querySource 0 :canSetTag true :utilityStmt <> :resultRelation 0 :hasAggs false :rtable <> :jointree {FROMEXPR :fromlist <> :quals <>} :targetList ({TARGETENTRY :expr {FUNCEXPR :funcid 2953 :funcresulttype 2950 :funcretset false :funcvariadic false :funcformat 1 :funccollid 0 :inputcollid 0 :args ({FUNCEXPR :funcid 2077 :funcresulttype 25 :funcretset false :funcvariadic false :funcformat 0 :funccollid 100 :inputcollid 100 :args ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 79 :constvalue 22 [ 88 0 0 0 97 112 112 46 99 117 114 114 101 110 116 95 116 101 110 97 110 116 ]}) :location 63}) :location 99} :resno 1 :resname current_setting :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false}) :override 0 :onConflict <> :returningList <> :groupClause <> :groupDistinct false :groupingSets <> :havingQual <> :windowClause <> :distinctClause <> :sortClause <> :limitOffset <> :limitCount <> :limitOption 0 :rowMarks <> :setOperations <> :constraintDeps <> :withCheckOptions <> :stmt_location 0 :stmt_len 0} :location 57}) :location 56}"#;

    const CONST_TRUE: &str = "{CONST :consttype 16 :consttypmod -1 :constcollid 0 :constlen 1 :constbyval true :constisnull false :location 47 :constvalue 1 [ 1 0 0 0 0 0 0 0 ]}";
    const CONST_FALSE: &str = "{CONST :consttype 16 :consttypmod -1 :constcollid 0 :constlen 1 :constbyval true :constisnull false :location 47 :constvalue 1 [ 0 0 0 0 0 0 0 0 ]}";
    const ONE_EQ_ONE: &str = "{OPEXPR :opno 96 :opfuncid 65 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 47 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 49 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]}) :location 48}";
    const ONE_EQ_TWO: &str = "{OPEXPR :opno 96 :opfuncid 65 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 47 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 49 :constvalue 4 [ 2 0 0 0 0 0 0 0 ]}) :location 48}";

    fn ops() -> HashSet<u32> {
        [96u32, 98, 2972].into_iter().collect()
    }

    fn stable() -> HashMap<u32, String> {
        [(2077u32, "pg_catalog.current_setting".to_string())].into_iter().collect()
    }

    #[test]
    fn parses_real_trees() {
        let n = parse(TENANT_EQ_SETTING).expect("parse");
        assert_eq!(n.name, "OPEXPR");
        assert_eq!(n.int("opno"), Some(2972));
        assert_eq!(n.children().len(), 2);
        assert!(parse(TENANT_EQ_WRAPPED).is_some());
        assert!(parse("not a tree").is_none());
        assert!(parse("{OPEXPR :args (").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn escaped_tokens() {
        let n = parse(r"{X :a foo\ bar :b \{x\} :c <>}").unwrap();
        assert_eq!(n.token("a"), Some("foo bar"));
        assert_eq!(n.token("b"), Some("{x}"));
        assert_eq!(n.token("c"), Some("<>"));
    }

    #[test]
    fn tenant_reference_found_at_top_level_not_on_other_columns() {
        let n = parse(TENANT_EQ_SETTING).unwrap();
        assert!(references_column(&n, 2));
        assert!(!references_column(&n, 3));
        let w = parse(TENANT_EQ_WRAPPED).unwrap();
        assert!(references_column(&w, 2));
    }

    #[test]
    fn outer_reference_from_sub_select_counts() {
        // tenant_id IN (SELECT t.id FROM t WHERE t.owner = outer.col3): the Var
        // inside the sub-select has varlevelsup 1.
        let tree = "{SUBLINK :subLinkType 2 :testexpr <> :subselect {QUERY :jointree {FROMEXPR :quals {VAR :varno 1 :varattno 3 :varlevelsup 1}}}}";
        let n = parse(tree).unwrap();
        assert!(references_column(&n, 3));
        // A Var of the sub-select's own table (varlevelsup 0 inside QUERY) does not.
        let inner = "{SUBLINK :subselect {QUERY :jointree {FROMEXPR :quals {VAR :varno 1 :varattno 3 :varlevelsup 0}}}}";
        assert!(!references_column(&parse(inner).unwrap(), 3));
    }

    #[test]
    fn constant_true_rule() {
        let ops = ops();
        assert!(is_constant_true(&parse(CONST_TRUE).unwrap(), &ops));
        assert!(!is_constant_true(&parse(CONST_FALSE).unwrap(), &ops));
        assert!(is_constant_true(&parse(ONE_EQ_ONE).unwrap(), &ops));
        assert!(!is_constant_true(&parse(ONE_EQ_TWO).unwrap(), &ops));
        assert!(!is_constant_true(&parse(TENANT_EQ_SETTING).unwrap(), &ops));
        let or_true = format!("{{BOOLEXPR :boolop or :args ({TENANT_EQ_SETTING} {CONST_TRUE}) :location 1}}");
        assert!(is_constant_true(&parse(&or_true).unwrap(), &ops));
        let and_mixed = format!("{{BOOLEXPR :boolop and :args ({TENANT_EQ_SETTING} {CONST_TRUE}) :location 1}}");
        assert!(!is_constant_true(&parse(&and_mixed).unwrap(), &ops));
        let not_false = format!("{{BOOLEXPR :boolop not :args ({CONST_FALSE}) :location 1}}");
        assert!(is_constant_true(&parse(&not_false).unwrap(), &ops));
        // 1 = 1 under an operator we do not know to be reflexive is not judged true.
        assert!(!is_constant_true(&parse(ONE_EQ_ONE).unwrap(), &HashSet::new()));
    }

    #[test]
    fn per_row_calls_only_outside_sub_selects() {
        let st = stable();
        assert_eq!(per_row_stable_calls(&parse(TENANT_EQ_SETTING).unwrap(), &st), vec![2077]);
        assert!(per_row_stable_calls(&parse(TENANT_EQ_WRAPPED).unwrap(), &st).is_empty());
        // A stable call whose argument is the row itself cannot be hoisted: not flagged.
        let row_arg = "{FUNCEXPR :funcid 2077 :args ({VAR :varno 1 :varattno 2 :varlevelsup 0})}";
        assert!(per_row_stable_calls(&parse(row_arg).unwrap(), &st).is_empty());
    }

    #[test]
    fn wrap_calls_rewrites_deparsed_text() {
        let sql = "(tenant_id = (current_setting('app.current_tenant'::text))::uuid)";
        assert_eq!(
            wrap_calls(sql, "current_setting").unwrap(),
            "(tenant_id = ((SELECT current_setting('app.current_tenant'::text)))::uuid)"
        );
        // Already wrapped, or only inside a literal: nothing to do.
        assert_eq!(wrap_calls("(x = ( SELECT current_setting('a'::text) AS current_setting))", "current_setting"), None);
        assert_eq!(wrap_calls("(x = 'current_setting(1)'::text)", "current_setting"), None);
        // A longer name that ends with the function's name is not a call of it.
        assert_eq!(wrap_calls("(x = my_current_setting('a'::text))", "current_setting"), None);
        // Unbalanced text is refused rather than guessed at.
        assert_eq!(wrap_calls("(x = current_setting('a'::text", "current_setting"), None);
    }
}
