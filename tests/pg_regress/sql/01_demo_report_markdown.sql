-- The audit document over the demo database (loaded by 01_demo_report),
-- with the date and the server's minor version normalised.
\pset format unaligned
\pset tuples_only on
SELECT regexp_replace(
           regexp_replace(readiness_report_markdown(), '\| Date \| [0-9-]+ \|', '| Date | YYYY-MM-DD |'),
           '\| PostgreSQL \| [^|]+ \|', '| PostgreSQL | 15.x |');
\pset format aligned
\pset tuples_only off
-- JSON agrees with the rows.
SELECT jsonb_array_length(readiness_report_json()->'findings') = (SELECT count(*) FROM readiness_report()) AS same_rows,
       (readiness_report_json()->'score'->>'score')::numeric = (SELECT score FROM readiness_score()) AS same_score;
-- Waive one finding: it reports waived, and the markdown says so.
SELECT readiness_waive('redundant_index', 'public.idx_venues_tenant', 'kept for a reporting query until the rewrite ships', '2100-01-01');
SELECT check_id, object_name, status, evidence->'waiver'->>'reason' AS reason
  FROM readiness_report() WHERE check_id = 'redundant_index';
SELECT position('⚠️ WAIVED' IN readiness_report_markdown()) > 0 AS markdown_shows_waiver;
DELETE FROM readiness_waivers;
