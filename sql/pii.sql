-- The PII registry that drives erasure, and the log of erasures. Both are
-- user data kept by pg_dump.

CREATE TABLE @extschema@.readiness_pii_columns (
    table_name     regclass NOT NULL,
    column_name    name     NOT NULL,
    pii_kind       text     NOT NULL CHECK (pii_kind OPERATOR(pg_catalog.=) ANY (ARRAY['email', 'phone', 'name', 'address', 'card', 'national_id',
                                                         'birth_date', 'ip_address', 'free_text', 'other'])),
    subject_column name     NOT NULL,
    erase_action   text     NOT NULL CHECK (erase_action OPERATOR(pg_catalog.=) ANY (ARRAY['null', 'redact', 'mask', 'pseudonymize', 'delete_row'])),
    PRIMARY KEY (table_name, column_name)
);
COMMENT ON TABLE @extschema@.readiness_pii_columns IS 'Which column of each table identifies the data subject and what gdpr_erase_user() does with each PII column.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.readiness_pii_columns', '');
GRANT SELECT ON @extschema@.readiness_pii_columns TO PUBLIC;

CREATE TABLE @extschema@.gdpr_deletion_log (
    subject_id    uuid        NOT NULL,
    erased_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    erased_by     name        NOT NULL DEFAULT current_user,
    tables        jsonb       NOT NULL,
    rows_affected integer     NOT NULL
);
COMMENT ON TABLE @extschema@.gdpr_deletion_log IS 'One row per gdpr_erase_user() call: who erased which subject, when, and what changed.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gdpr_deletion_log', '');

-- Trigger function for the audit remediations: blocks the statement it is
-- attached to (DELETE on financial tables, UPDATE/DELETE on audit logs).
CREATE FUNCTION @extschema@.readiness_deny_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '% on %.% is not allowed: rows of this table are kept for audit',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The trigger was added by a pg_readiness remediation; drop it only with the auditors'' agreement.';
END
$$;
COMMENT ON FUNCTION @extschema@.readiness_deny_change() IS 'Trigger function that rejects the triggering statement (financial DELETE, audit log UPDATE/DELETE).';
