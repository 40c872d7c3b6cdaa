-- The PII helpers against the SQL they replace, over 1 000 000 rows.
-- Run by bench/pii_bench.sh in a fresh database; prints one line per pair.
--
-- Both sides of a pair run in the same session, alternately (ours, then the
-- baseline, six rounds, the first one a discarded warm-up), and the median
-- of the five timed rounds is reported: the machines this runs on are noisy,
-- so only ratios measured side by side mean something.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- One core per query for both sides: parallel plans would measure the
-- scheduler of a 2-core machine, not the functions.
SET max_parallel_workers_per_gather = 0;

-- The two functions under test, declared exactly as the extension declares
-- them, from the bench-ext build of its library (psql variable `library`).
CREATE FUNCTION mask_email(text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS :'library', 'mask_email_wrapper';
CREATE FUNCTION luhn_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS :'library', 'luhn_valid_wrapper';

-- Deterministic data: the same 1 000 000 rows on every run. Realistic e-mail
-- addresses (multi-label and non-ASCII domains among them) and a value column
-- mixing what a Luhn scan meets in practice: a quarter card-like numbers in
-- groups of four (about one in ten Luhn-valid), a quarter digit-and-dash
-- references that pass a card-shaped regex, a quarter phone numbers and a
-- quarter free text.
CREATE TABLE bench_values AS
SELECT i,
       (ARRAY['john', 'mary', 'li', 'ahmed', 'olga', 'jean-luc', 'sofia', 'kenji', 'ana', 'oluwaseun'])[1 + i % 10]
       || '.' || (ARRAY['smith', 'garcia', 'wang', 'müller', 'kowalski', 'dubois', 'rossi', 'tanaka', 'silva', 'okafor', 'obrien'])[1 + (i / 10) % 11]
       || CASE WHEN i % 3 = 0 THEN (i % 997)::text ELSE '' END
       || '@' || (ARRAY['gmail.com', 'example.org', 'mail.example.co.uk', 'company.io', 'uni-heidelberg.de', 'yahoo.fr',
                        'outlook.com', 'startup.dev', 'bücher.example.de'])[1 + (i / 110) % 9] AS email,
       CASE i % 4
           WHEN 0 THEN regexp_replace((4000000000000000 + (i::bigint * 2654435761) % 1000000000000000)::text,
                                      '(\d{4})(?=\d)', '\1 ', 'g')
           WHEN 1 THEN '2024-' || lpad(i::text, 8, '0') || '-' || lpad((i * 31 % 10000)::text, 4, '0')
           WHEN 2 THEN '+44 20 ' || lpad((i % 10000)::text, 4, '0') || ' ' || lpad((i * 7 % 10000)::text, 4, '0')
           ELSE 'order ' || i || ' delivered to ' || (ARRAY['Oslo', 'Lyon', 'Kraków', 'Osaka', 'Lagos'])[1 + i % 5]
       END AS value
  FROM generate_series(1, 1000000) AS i;
VACUUM ANALYZE bench_values;

-- The baseline Luhn: what a team without the extension writes.
CREATE FUNCTION plpgsql_luhn(v text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    digits text := regexp_replace(v, '[^0-9]', '', 'g');
    n int := length(digits);
    s int := 0;
    d int;
BEGIN
    IF n < 12 OR n > 19 THEN
        RETURN false;
    END IF;
    FOR i IN 1..n LOOP
        d := substr(digits, n - i + 1, 1)::int;
        IF i % 2 = 0 THEN
            d := d * 2;
            IF d > 9 THEN
                d := d - 9;
            END IF;
        END IF;
        s := s + d;
    END LOOP;
    RETURN s % 10 = 0;
END
$$;

CREATE FUNCTION bench_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    r bigint;
BEGIN
    EXECUTE q INTO r;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

CREATE TABLE bench_queries (pair text, side text, q text);
INSERT INTO bench_queries VALUES
    ('mask_email', 'ours', $q$SELECT count(mask_email(email)) FROM bench_values$q$),
    ('mask_email', 'baseline', $q$SELECT count(CONCAT(SUBSTRING(email,1,2),'***@***.',SUBSTRING(email FROM '\.([^.]+)$'))) FROM bench_values$q$),
    ('luhn', 'ours', $q$SELECT count(*) FROM bench_values WHERE luhn_valid(value)$q$),
    ('luhn', 'baseline', $q$SELECT count(*) FROM bench_values WHERE value ~ '^[0-9 -]{13,23}$' AND plpgsql_luhn(value)$q$),
    -- The floor both sides share: reading the rows and counting them.
    ('scan', 'ours', $q$SELECT count(email) + count(value) FROM bench_values$q$);

-- Both sides must find the same cards, or the timing compares different work.
SELECT format('luhn_valid finds %s card numbers, the PL/pgSQL baseline %s: %s',
              o, b, CASE WHEN o = b THEN 'same' ELSE 'DIFFERENT' END)
  FROM (SELECT count(*) FILTER (WHERE luhn_valid(value)) AS o,
               count(*) FILTER (WHERE value ~ '^[0-9 -]{13,23}$' AND plpgsql_luhn(value)) AS b
          FROM bench_values) AS c;

CREATE TABLE bench_timings (pair text, side text, round int, ms float8);
DO $$
DECLARE
    r record;
BEGIN
    FOR round IN 0..5 LOOP
        FOR r IN SELECT * FROM bench_queries ORDER BY pair, side DESC LOOP
            INSERT INTO bench_timings VALUES (r.pair, r.side, round, bench_ms(r.q));
        END LOOP;
    END LOOP;
END
$$;

WITH m AS (
    SELECT pair, side, percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS ms
      FROM bench_timings WHERE round > 0 GROUP BY pair, side
)
SELECT line FROM (
    SELECT 1 AS k, o.pair,
           format('%-10s ours %8s ms   baseline %8s ms   ratio ours/baseline %s (target <= 0.33; %sx faster)',
                  o.pair, round(o.ms::numeric, 1), round(b.ms::numeric, 1),
                  round((o.ms / b.ms)::numeric, 2), round((b.ms / o.ms)::numeric, 1)) AS line
      FROM m o JOIN m b ON b.pair = o.pair AND b.side = 'baseline'
     WHERE o.side = 'ours'
    UNION ALL
    SELECT 2, pair, format('%-10s reading and counting the 1000000 rows alone: %s ms', pair, round(ms::numeric, 1))
      FROM m WHERE pair = 'scan'
) AS lines
ORDER BY k, pair DESC;
