-- The extension's own tables. Their rows are user data (accepted risks, the
-- history Grafana charts), so pg_dump keeps them: pg_extension_config_dump.

CREATE TABLE @extschema@.readiness_waivers (
    check_id    text        NOT NULL,
    object_name text,
    reason      text        NOT NULL CHECK (pg_catalog.btrim(reason) OPERATOR(pg_catalog.<>) ''),
    created_by  name        NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at  timestamptz
);
-- One waiver per check and object; NULL object_name waives the whole check.
CREATE UNIQUE INDEX readiness_waivers_check_object ON @extschema@.readiness_waivers (check_id, coalesce(object_name, ''));
COMMENT ON TABLE @extschema@.readiness_waivers IS 'Accepted risks: matching findings report waived instead of fail until expires_at. Write with readiness_waive().';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.readiness_waivers', '');
-- Everyone who can run the report sees which findings are waived and why;
-- writing a waiver needs INSERT/UPDATE on the table (owner, or granted).
GRANT SELECT ON @extschema@.readiness_waivers TO PUBLIC;

CREATE TABLE @extschema@.readiness_history (
    taken_at        timestamptz NOT NULL,
    check_id        text        NOT NULL,
    category        text        NOT NULL,
    severity        text        NOT NULL,
    status          text        NOT NULL,
    failing_objects integer     NOT NULL
);
CREATE INDEX readiness_history_taken_at ON @extschema@.readiness_history (taken_at);
COMMENT ON TABLE @extschema@.readiness_history IS 'Per-check results appended by readiness_snapshot(), for trends in Grafana.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.readiness_history', '');
GRANT SELECT ON @extschema@.readiness_history TO PUBLIC;
