//! SPI reads for `integrity.rs`: one query per catalog, and the sampler.

use std::collections::HashSet;

use pgrx::datum::DatumWithOid;
use pgrx::spi::SpiClient;

use super::integrity::*;
use super::read::{first_char, get, in_discarded_subtransaction, oid, req, ReadResult};
use super::{Oid, RelKind, Section, SectionState, Snapshot};
use crate::config::Config;
use crate::pii::detect;

pub(super) fn types(client: &SpiClient, snap: &mut Snapshot) -> ReadResult<()> {
    let q = "SELECT t.oid::int8, t.typtype::text, c.contypid IS NOT NULL
               FROM pg_type t
               LEFT JOIN (SELECT DISTINCT contypid FROM pg_constraint WHERE contypid <> 0 AND contype = 'c') c
                      ON c.contypid = t.oid
              WHERE t.typtype IN ('d', 'e')";
    for row in client.select(q, None, &[])? {
        snap.types.insert(oid(&row, 1)?, TypeInfo { kind: first_char(&req::<String>(&row, 2)?), has_check: req(&row, 3)? });
    }
    Ok(())
}

pub(super) fn triggers(client: &SpiClient, snap: &mut Snapshot) -> ReadResult<()> {
    let q = "SELECT tgrelid::int8, tgname::text, tgtype::int2, tgenabled <> 'D' FROM pg_trigger WHERE NOT tgisinternal";
    for row in client.select(q, None, &[])? {
        snap.triggers.push(Trigger { table: oid(&row, 1)?, name: req(&row, 2)?, tgtype: req(&row, 3)?, enabled: req(&row, 4)? });
    }
    let q = "SELECT ev_class::int8, rulename::text, ev_type::text, is_instead FROM pg_rewrite WHERE rulename <> '_RETURN'";
    for row in client.select(q, None, &[])? {
        snap.rules.push(Rule {
            table: oid(&row, 1)?,
            name: req(&row, 2)?,
            event: first_char(&req::<String>(&row, 3)?),
            instead: req(&row, 4)?,
        });
    }
    Ok(())
}

pub(super) fn sequences(client: &SpiClient, snap: &mut Snapshot) -> ReadResult<()> {
    // Serial ('a') and identity ('i') sequences, linked to their column by
    // one scan of pg_depend; the value only where the caller may read it.
    let q = "SELECT d.refobjid::int8, d.refobjsubid::int2,
                    quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                    s.seqmin, s.seqmax, s.seqincrement,
                    has_sequence_privilege(s.seqrelid, 'SELECT,USAGE'),
                    CASE WHEN has_sequence_privilege(s.seqrelid, 'SELECT,USAGE')
                         THEN pg_sequence_last_value(s.seqrelid) END,
                    d.deptype = 'i'
               FROM pg_depend d
               JOIN pg_sequence s ON s.seqrelid = d.objid
               JOIN pg_class c ON c.oid = s.seqrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0";
    for row in client.select(q, None, &[])? {
        let table = oid(&row, 1)?;
        if snap.relation(table).is_none() {
            continue;
        }
        snap.sequences.push(SequenceUse {
            table,
            attnum: req(&row, 2)?,
            identity: req(&row, 3)?,
            min: req(&row, 4)?,
            max: req(&row, 5)?,
            increment: req(&row, 6)?,
            readable: req(&row, 7)?,
            last_value: get(&row, 8)?,
            is_identity: req(&row, 9)?,
        });
    }
    Ok(())
}

pub(super) fn pii_registry(client: &SpiClient, snap: &mut Snapshot) -> ReadResult<()> {
    let Some(schema) = snap.extension_schema.clone() else { return Ok(()) };
    let q = format!(
        "SELECT r.table_name::oid::int8, r.column_name::text, r.pii_kind, r.subject_column::text, r.erase_action
           FROM {schema}.readiness_pii_columns r"
    );
    for row in client.select(q.as_str(), None, &[])? {
        snap.pii_registry.push(PiiRegistration {
            table: oid(&row, 1)?,
            column: req(&row, 2)?,
            kind: req(&row, 3)?,
            subject: req(&row, 4)?,
            action: req(&row, 5)?,
        });
    }
    Ok(())
}

pub(super) fn preload_libraries(client: &SpiClient, snap: &mut Snapshot) -> ReadResult<()> {
    // pg_settings hides this postmaster setting from roles without
    // pg_read_all_settings: then the row is absent and the check is skipped.
    let q = "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'";
    snap.preload_libraries = client.select(q, None, &[])?.into_iter().next().map(|r| req::<String>(&r, 1)).transpose()?;
    if snap.preload_libraries.is_none() {
        snap.sections.insert(
            Section::ServerLibraries,
            SectionState::Unavailable("shared_preload_libraries is not visible to this role (needs pg_read_all_settings or pg_monitor)".into()),
        );
    }
    Ok(())
}

fn top_parent(snap: &Snapshot, mut oid: Oid) -> Oid {
    for _ in 0..64 {
        match snap.relation(oid).and_then(|r| r.parent) {
            Some(p) => oid = p,
            None => break,
        }
    }
    oid
}

/// Samples text and json columns of every readable table within the budget.
pub(super) fn samples(client: &SpiClient, snap: &mut Snapshot, config: &Config) -> ReadResult<()> {
    if config.sample_rows <= 0 {
        snap.samples.disabled = Some("value sampling is off (pg_readiness.sample_rows = 0)".into());
        return Ok(());
    }
    let budget = Budget::new(config.sample_budget_ms);
    // Leaf tables with columns worth reading, smallest first so the budget
    // reaches as many tables as it can.
    // Each column is (attnum in the judged table, quoted name, is json): a
    // partition's column is matched to its top parent's by name, since their
    // attnums differ after dropped columns or ATTACH PARTITION.
    let mut candidates: Vec<(Oid, String, f64, i64, Vec<(i16, String, bool)>)> = snap
        .relations
        .iter()
        .filter(|r| matches!(r.kind, RelKind::Table | RelKind::MatView))
        .filter_map(|r| {
            let judged = snap.relation(top_parent(snap, r.oid)).unwrap_or(r);
            let cols: Vec<(i16, String, bool)> = r
                .columns
                .iter()
                .filter(|c| detect::is_text_type(&c.type_name) || c.type_name == "jsonb" || c.type_name == "json")
                .filter_map(|c| Some((judged.column(&c.name)?.attnum, c.quoted.clone(), c.type_name.starts_with("json"))))
                .collect();
            (!cols.is_empty()).then(|| (r.oid, r.identity.clone(), r.tuples, r.pages, cols))
        })
        .collect();
    candidates.sort_by_key(|c| (c.3, c.0));
    if candidates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = candidates.iter().map(|c| i64::from(c.0)).collect();
    let readable: HashSet<Oid> = {
        let mut set = HashSet::new();
        let q = "SELECT t FROM unnest($1::int8[]) AS t WHERE has_table_privilege(t::oid, 'SELECT')";
        for row in client.select(q, None, &[DatumWithOid::from(ids)])? {
            set.insert(oid(&row, 1)?);
        }
        set
    };
    // Settings go through the same read-only SPI client: a nested, mutable
    // SPI call would try to assign a transaction id, which fails on a standby.
    let mut saved: Vec<Option<String>> = Vec::new();
    for g in ["statement_timeout", "lock_timeout"] {
        let q = format!("SELECT current_setting('{g}')");
        saved.push(client.select(q.as_str(), None, &[])?.into_iter().next().map(|r| req::<String>(&r, 1)).transpose()?);
    }
    for (table, identity, tuples, _, cols) in candidates {
        let judged = top_parent(snap, table);
        if !readable.contains(&table) {
            snap.samples.skipped.push((judged, format!("no SELECT privilege on {identity}: its values were not sampled")));
            continue;
        }
        let remaining = budget.remaining_ms();
        if remaining < 1.0 {
            snap.samples.skipped.push((
                judged,
                format!(
                    "the sampling budget (pg_readiness.sample_budget_ms = {} ms) ran out before {identity}",
                    config.sample_budget_ms
                ),
            ));
            continue;
        }
        let select: Vec<String> = cols.iter().map(|(_, q, _)| format!("{q}::text")).collect();
        let q = format!(
            "SELECT {} FROM {identity} TABLESAMPLE SYSTEM ({:.4}) LIMIT {}",
            select.join(", "),
            sample_percent(config.sample_rows, tuples),
            config.sample_rows
        );
        let timeout = format!("SELECT set_config('statement_timeout', '{}ms', true), set_config('lock_timeout', '100ms', true)", remaining.ceil() as i64);
        // Rolled back once read: the table's lock goes with it (see
        // in_discarded_subtransaction); the timeouts are restored below anyway.
        let result = in_discarded_subtransaction(|| -> ReadResult<Vec<ColumnSample>> {
            client.select(timeout.as_str(), None, &[])?;
            let mut acc: Vec<ColumnSample> =
                cols.iter().map(|(attnum, _, _)| ColumnSample { table: judged, attnum: *attnum, ..Default::default() }).collect();
            for row in client.select(q.as_str(), None, &[])? {
                for (i, (_, _, is_json)) in cols.iter().enumerate() {
                    if let Some(v) = get::<String>(&row, i + 1)? {
                        scan_value(&v, *is_json, &mut acc[i]);
                    }
                }
            }
            Ok(acc)
        });
        match result {
            Ok(Ok(acc)) => merge(&mut snap.samples.columns, acc),
            Ok(Err(e)) => snap.samples.skipped.push((judged, format!("sampling {identity} failed: {e}"))),
            Err((state, msg)) => snap.samples.skipped.push((judged, format!("sampling {identity} failed ({state}): {msg}"))),
        }
    }
    for (g, v) in ["statement_timeout", "lock_timeout"].iter().zip(saved) {
        if let Some(v) = v {
            client.select("SELECT set_config($1, $2, true)", None, &[DatumWithOid::from(*g), DatumWithOid::from(v)])?;
        }
    }
    snap.samples.elapsed_ms = budget.elapsed_ms();
    Ok(())
}

/// Partitions sample into their parent's columns: add counts up.
fn merge(into: &mut Vec<ColumnSample>, acc: Vec<ColumnSample>) {
    for a in acc {
        match into.iter_mut().find(|c| c.table == a.table && c.attnum == a.attnum) {
            Some(c) => {
                c.sampled += a.sampled;
                c.card_hits += a.card_hits;
                c.ssn_hits += a.ssn_hits;
                c.email_hits += a.email_hits;
                for e in a.card_examples {
                    if c.card_examples.len() < 3 && !c.card_examples.contains(&e) {
                        c.card_examples.push(e);
                    }
                }
            }
            None => into.push(a),
        }
    }
}
