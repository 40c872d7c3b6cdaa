//! The `pg_readiness.*` settings. Bad values are rejected by PostgreSQL
//! through check hooks, with a DETAIL saying what was expected.

use std::ffi::{c_char, c_void, CStr, CString};

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

use crate::config::{split_identifier_list, Config};

static TENANT_COLUMN: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"tenant_id"));
static EXCLUDED_SCHEMAS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static DISABLED_CHECKS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static TENANT_SETTING: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"app.current_tenant"));
static SAMPLE_ROWS: GucSetting<i32> = GucSetting::<i32>::new(1000);
static SAMPLE_BUDGET_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// In kB (PostgreSQL's memory unit), so '10GB' fits an int setting.
static LARGE_TABLE_KB: GucSetting<i32> = GucSetting::<i32>::new(10 * 1024 * 1024);
static BLOAT_METHOD: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"estimate"));
static WORKLOAD_MIN_CALLS: GucSetting<i32> = GucSetting::<i32>::new(100);
static WORKLOAD_MIN_TOTAL_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);

fn set_detail(msg: &str) {
    let c = CString::new(msg.replace('\0', "")).unwrap_or_default();
    // SAFETY: GUC check hooks may set this palloc'd detail string.
    unsafe {
        pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(c.as_ptr());
    }
}

unsafe fn value<'a>(newval: *mut *mut c_char) -> Option<&'a str> {
    if newval.is_null() || (*newval).is_null() {
        return None;
    }
    CStr::from_ptr(*newval).to_str().ok()
}

#[pg_guard]
unsafe extern "C-unwind" fn check_identifier_list(newval: *mut *mut c_char, _extra: *mut *mut c_void, _source: pg_sys::GucSource::Type) -> bool {
    let Some(v) = value(newval) else { return true };
    match split_identifier_list(v) {
        Ok(_) => true,
        Err(e) => {
            set_detail(&format!("Expected a comma-separated list of schema names: {e}."));
            false
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn check_check_list(newval: *mut *mut c_char, _extra: *mut *mut c_void, _source: pg_sys::GucSource::Type) -> bool {
    let Some(v) = value(newval) else { return true };
    match split_identifier_list(v) {
        Ok(ids) => match ids.iter().find(|id| crate::checks::find(id).is_none()) {
            Some(bad) => {
                set_detail(&format!("\"{bad}\" is not a check_id; see SELECT check_id FROM readiness_checks."));
                false
            }
            None => true,
        },
        Err(e) => {
            set_detail(&format!("Expected a comma-separated list of check ids: {e}."));
            false
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn check_column_name(newval: *mut *mut c_char, _extra: *mut *mut c_void, _source: pg_sys::GucSource::Type) -> bool {
    let Some(v) = value(newval) else { return true };
    if v.is_empty() || v.len() > 63 {
        set_detail("Expected a column name of 1 to 63 bytes.");
        return false;
    }
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn check_bloat_method(newval: *mut *mut c_char, _extra: *mut *mut c_void, _source: pg_sys::GucSource::Type) -> bool {
    let Some(v) = value(newval) else { return true };
    if matches!(v, "estimate" | "approx" | "exact") {
        return true;
    }
    set_detail("Expected estimate (catalog and pg_stats only), approx (pgstattuple_approx) or exact (pgstattuple).");
    false
}

/// GUC_LIST_INPUT lets `SET x = a, b` work unquoted (pgrx has no constant for it).
fn list_input() -> GucFlags {
    GucFlags::from_bits_retain(pg_sys::GUC_LIST_INPUT as i32)
}

pub fn init() {
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"pg_readiness.tenant_column",
            c"Column whose presence marks a table as multi-tenant.",
            c"Tables (ordinary or partitioned) with this column are tenant tables for the rls and indexes checks. Case-sensitive, as stored in the catalog.",
            &TENANT_COLUMN,
            GucContext::Userset,
            GucFlags::default(),
            Some(check_column_name),
            None,
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"pg_readiness.excluded_schemas",
            c"Schemas never inspected, besides pg_catalog, information_schema and pg_toast.",
            c"A comma-separated list of schema names, quoted like identifiers where needed.",
            &EXCLUDED_SCHEMAS,
            GucContext::Userset,
            list_input(),
            Some(check_identifier_list),
            None,
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"pg_readiness.disabled_checks",
            c"Checks that are not run (readiness_checks.enabled is false for them).",
            c"A comma-separated list of check ids.",
            &DISABLED_CHECKS,
            GucContext::Userset,
            list_input(),
            Some(check_check_list),
            None,
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"pg_readiness.tenant_setting",
            c"Setting that holds the current tenant in generated RLS policies.",
            c"Used in remediation templates: (SELECT current_setting('<this>', true))::<tenant column type>.",
            &TENANT_SETTING,
            GucContext::Userset,
            GucFlags::default(),
            Some(check_column_name),
            None,
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"pg_readiness.bloat_method",
            c"How table and index bloat is measured: estimate, approx or exact.",
            c"estimate reads only the catalog and pg_stats; approx and exact use the pgstattuple extension (pgstattuple_approx / pgstattuple and pgstatindex) within pg_readiness.sample_budget_ms.",
            &BLOAT_METHOD,
            GucContext::Userset,
            GucFlags::default(),
            Some(check_bloat_method),
            None,
            None,
        );
    }
    GucRegistry::define_int_guc(
        c"pg_readiness.sample_rows",
        c"Rows sampled per table for value-based detection (0 disables sampling).",
        c"",
        &SAMPLE_ROWS,
        0,
        10_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pg_readiness.sample_budget_ms",
        c"Total time one report may spend sampling table data.",
        c"What the budget does not reach is reported as skipped, with the reason.",
        &SAMPLE_BUDGET_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"pg_readiness.large_table_bytes",
        c"Size above which a table counts as large.",
        c"Used by partitioning, bloat and jsonb index checks.",
        &LARGE_TABLE_KB,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"pg_readiness.workload_min_calls",
        c"Calls a statement needs in pg_stat_statements before composite_index_candidate considers it.",
        c"Statements of one shape on one table are added up.",
        &WORKLOAD_MIN_CALLS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pg_readiness.workload_min_total_ms",
        c"Total execution time a statement needs in pg_stat_statements before composite_index_candidate considers it.",
        c"Statements of one shape on one table are added up.",
        &WORKLOAD_MIN_TOTAL_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
}

fn string(s: &GucSetting<Option<CString>>) -> String {
    s.get().map(|c| c.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The configuration of this session, as the GUCs say now.
pub fn current_config() -> Config {
    Config {
        tenant_column: string(&TENANT_COLUMN),
        // The check hook already rejected malformed lists.
        excluded_schemas: split_identifier_list(&string(&EXCLUDED_SCHEMAS)).unwrap_or_default(),
        disabled_checks: split_identifier_list(&string(&DISABLED_CHECKS)).unwrap_or_default(),
        tenant_setting: string(&TENANT_SETTING),
        sample_rows: SAMPLE_ROWS.get(),
        sample_budget_ms: SAMPLE_BUDGET_MS.get(),
        large_table_bytes: i64::from(LARGE_TABLE_KB.get()) * 1024,
        bloat_method: string(&BLOAT_METHOD),
        workload_min_calls: i64::from(WORKLOAD_MIN_CALLS.get()),
        workload_min_total_ms: f64::from(WORKLOAD_MIN_TOTAL_MS.get()),
    }
}
