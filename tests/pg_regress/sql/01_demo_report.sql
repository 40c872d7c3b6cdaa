-- The whole report over the demo fixture: every planted gap is a fail row
-- with its pg_identify_object identity, every other check a pass row.
\getenv fixtures READINESS_FIXTURES
\set demo :fixtures '/demo.sql'
\set ECHO none
\i :demo
\set ECHO all

SELECT check_id, severity, status, object_type, object_name
  FROM readiness_report();

SELECT check_id, object_name, detail, evidence
  FROM readiness_report()
 WHERE status = 'fail';

SELECT * FROM readiness_score();
SELECT * FROM readiness_summary();

-- Filters.
SELECT check_id, object_name FROM readiness_report(ARRAY['indexes'], 'high');

-- The catalog of checks.
SELECT check_id, category, severity, frameworks, enabled FROM readiness_checks ORDER BY category, check_id;

-- Every remediation, as a DBA would read it.
\pset format unaligned
\pset tuples_only on
SELECT '== ' || check_id || ' ' || object_name || E'\n' || remediation
  FROM readiness_report()
 WHERE status = 'fail';
SELECT remediation_script('info');
\pset format aligned
\pset tuples_only off
