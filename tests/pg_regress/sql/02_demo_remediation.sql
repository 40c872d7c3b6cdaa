-- Applying the remediation statements to the demo database (loaded by
-- 01_demo_report) turns every rls and indexes finding into a pass.
SELECT count(*) AS failing_before FROM readiness_report(ARRAY['rls', 'indexes']) WHERE status = 'fail';

SELECT statement FROM remediation_statements('info') ORDER BY ordinal \gexec
-- ALTER SYSTEM fixes apply once this backend has processed the reload.
SELECT pg_sleep(0.5) \g /dev/null

SELECT check_id, status, object_name, detail
  FROM readiness_report(ARRAY['rls', 'indexes'])
 WHERE status <> 'pass';

SELECT * FROM readiness_score();

-- What no SQL can fix stays for a person: advice-only findings, and checks
-- that cannot judge on a fresh test server.
SELECT check_id, status, object_name
  FROM readiness_report()
 WHERE status <> 'pass';

-- The fixed schema: the promoted primary key and the composite tenant index.
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'notification_history'::regclass AND contype = 'p';
SELECT indexdef FROM pg_indexes WHERE tablename = 'orders' AND indexdef LIKE '%(tenant_id, status, created_at)%';
SELECT rolbypassrls FROM pg_roles WHERE rolname = 'support_admin';
