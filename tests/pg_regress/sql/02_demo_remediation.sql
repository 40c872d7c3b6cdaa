-- Applying the remediation statements to the demo database (loaded by
-- 01_demo_report) turns every rls and indexes finding into a pass.
SELECT count(*) AS failing_before FROM readiness_report(ARRAY['rls', 'indexes']) WHERE status = 'fail';

SELECT statement FROM remediation_statements('info') ORDER BY ordinal \gexec

SELECT check_id, status, object_name, detail
  FROM readiness_report(ARRAY['rls', 'indexes'])
 WHERE status <> 'pass';

SELECT * FROM readiness_score();

-- The fixed schema: the promoted primary key and the composite tenant index.
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'notification_history'::regclass AND contype = 'p';
SELECT indexdef FROM pg_indexes WHERE tablename = 'orders' AND indexdef LIKE '%(tenant_id, status, created_at)%';
SELECT rolbypassrls FROM pg_roles WHERE rolname = 'support_admin';
