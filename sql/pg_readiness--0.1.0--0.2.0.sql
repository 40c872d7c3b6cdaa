-- pg_readiness 0.1.0 -> 0.2.0
-- Adds readiness_score_history, which readiness_snapshot() now also writes.
-- Functions are defined in the shared library, which the update replaces.
CREATE TABLE @extschema@.readiness_score_history (
    taken_at   timestamptz NOT NULL,
    score      numeric     NOT NULL,
    passed     integer     NOT NULL,
    applicable integer     NOT NULL,
    pass_rate  numeric     NOT NULL,
    critical   integer     NOT NULL,
    high       integer     NOT NULL,
    medium     integer     NOT NULL,
    low        integer     NOT NULL
);
CREATE INDEX readiness_score_history_taken_at ON @extschema@.readiness_score_history (taken_at);
COMMENT ON TABLE @extschema@.readiness_score_history IS 'readiness_score() at each readiness_snapshot(), for the score trend in Grafana.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.readiness_score_history', '');
GRANT SELECT ON @extschema@.readiness_score_history TO PUBLIC;
