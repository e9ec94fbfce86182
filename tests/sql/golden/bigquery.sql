-- The tokenaudit stats contract, version 5, in bigquery SQL: written by `tokenaudit sql`.
-- Time zone Europe/Berlin, weeks start on sunday, behaviour snapshot 406800s/12h. Do not edit: the manifest
-- beside this file holds its SHA-256, and `tokenaudit audit --stats` checks it.

CREATE TEMP TABLE ta_src AS
SELECT
  ts,
  NULLIF(TRIM(CAST(agent AS STRING)), '') AS alias,
  NULLIF(TRIM(CAST(model AS STRING)), '') AS model,
  CAST(input_tokens AS INT64) AS input_tokens,
  CAST(output_tokens AS INT64) AS output_tokens,
  COALESCE(CAST(cache_read_tokens AS INT64), 0) AS cache_read_tokens,
  COALESCE(CAST(cache_write_tokens AS INT64), 0) AS cache_write_tokens,
  COALESCE(CAST(requests AS INT64), 1) AS requests,
  CAST(cost_usd AS FLOAT64) AS cost_usd,
  NULLIF(TRIM(CAST(team AS STRING)), '') AS team,
  NULLIF(TRIM(CAST(tool AS STRING)), '') AS tool,
  NULLIF(TRIM(CAST(session_id AS STRING)), '') AS session_id,
  NULLIF(TRIM(CAST(request_id AS STRING)), '') AS request_id,
  NULLIF(TRIM(CAST(prompt_hash AS STRING)), '') AS prompt_hash,
  NULLIF(TRIM(CAST(repo AS STRING)), '') AS repo,
  NULLIF(TRIM(CAST(tier AS STRING)), '') AS tier
FROM lake.ai_usage;
CREATE TEMP TABLE ta_valid AS
SELECT
  COALESCE(i.agent, LOWER(s.alias)) AS agent,
  COALESCE(i.team, s.team) AS team,
  COALESCE(i.kind, 'human') AS kind,
  UNIX_DATE(DATE(s.ts, 'Europe/Berlin')) AS day,
  UNIX_SECONDS(s.ts) AS second,
  s.model,
  COALESCE(s.tier, CASE WHEN s.cost_usd IS NOT NULL THEN 'billed' ELSE 'estimated' END) AS tier,
  s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens, s.requests,
  CAST(ROUND(s.cost_usd * 1000000) AS INT64) AS billed,
  s.session_id, s.prompt_hash, s.request_id, s.tool, s.repo
FROM ta_src s
LEFT JOIN (SELECT 'aiko.muller' AS alias, 'aiko.muller' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'chen.berg' AS alias, 'chen.berg' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'chen.nguyen' AS alias, 'chen.nguyen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'chen.nguyen@corp.example' AS alias, 'chen.nguyen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'ci-review-bot-1' AS alias, 'ci-review-bot-1' AS agent, 'payments' AS team, 'service' AS kind
  UNION ALL SELECT 'diego.moreau' AS alias, 'diego.moreau' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'diego.singh' AS alias, 'diego.singh' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'diego.singh@corp.example' AS alias, 'diego.singh' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'elena.novak' AS alias, 'elena.novak' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'fatima.okafor' AS alias, 'fatima.okafor' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'felix.adeyemi' AS alias, 'felix.adeyemi' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'felix.moreau' AS alias, 'felix.moreau' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'gh-noahc35' AS alias, 'noah.chen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'ines.singh' AS alias, 'ines.singh' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'james.chen' AS alias, 'james.chen' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'james.chen@corp.example' AS alias, 'james.chen' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'james.larsen' AS alias, 'james.larsen' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'james.muller' AS alias, 'james.muller' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'jonas.chen' AS alias, 'jonas.chen' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'jonas.larsen' AS alias, 'jonas.larsen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'jonas.larsen@corp.example' AS alias, 'jonas.larsen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'jonas.novak' AS alias, 'jonas.novak' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'jonas.novak@corp.example' AS alias, 'jonas.novak' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'kwame.larsen' AS alias, 'kwame.larsen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'kwame.silva' AS alias, 'kwame.silva' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'kwame.silva@corp.example' AS alias, 'kwame.silva' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'lena.adeyemi' AS alias, 'lena.adeyemi' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'lena.chen' AS alias, 'lena.chen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'lena.chen@corp.example' AS alias, 'lena.chen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'lena.novak' AS alias, 'lena.novak' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'lucas.larsen' AS alias, 'lucas.larsen' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'lucas.rossi' AS alias, 'lucas.rossi' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'noah.chen' AS alias, 'noah.chen' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'noah.costa' AS alias, 'noah.costa' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'noah.reyes' AS alias, 'noah.reyes' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'omar.adeyemi' AS alias, 'omar.adeyemi' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'omar.adeyemi@corp.example' AS alias, 'omar.adeyemi' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'omar.silva' AS alias, 'omar.silva' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'priya.chen' AS alias, 'priya.chen' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'priya.chen@corp.example' AS alias, 'priya.chen' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'priya.okafor' AS alias, 'priya.okafor' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'priya.okafor@corp.example' AS alias, 'priya.okafor' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'sofia.reyes' AS alias, 'sofia.reyes' AS agent, 'platform' AS team, 'human' AS kind
  UNION ALL SELECT 'tomas.adeyemi' AS alias, 'tomas.adeyemi' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'tomas.adeyemi@corp.example' AS alias, 'tomas.adeyemi' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'tomas.moreau' AS alias, 'tomas.moreau' AS agent, 'payments' AS team, 'human' AS kind
  UNION ALL SELECT 'tomas.tanaka' AS alias, 'tomas.tanaka' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'yara.ivanova' AS alias, 'yara.ivanova' AS agent, 'mobile' AS team, 'human' AS kind
  UNION ALL SELECT 'yara.ivanova@corp.example' AS alias, 'yara.ivanova' AS agent, 'mobile' AS team, 'human' AS kind) i ON i.alias = LOWER(s.alias)
WHERE s.ts IS NOT NULL AND s.alias IS NOT NULL AND s.model IS NOT NULL
  AND s.input_tokens >= 0 AND s.output_tokens >= 0 AND s.cache_read_tokens >= 0
  AND s.cache_write_tokens >= 0 AND s.requests >= 0;
CREATE TEMP TABLE ta_all AS
SELECT v.*, day - MOD(MOD(day + 4, 7) + 7, 7) AS week FROM ta_valid v;
CREATE TEMP TABLE ta_rows AS
SELECT * FROM ta_all WHERE TRUE;
CREATE TEMP TABLE ta_requests_all AS
SELECT agent, day, week, model, tier,
  requests,
  CASE WHEN output_tokens <= requests * 100 THEN requests ELSE 0 END AS trivial_requests,
  billed,
  tool, repo, session_id,
  input_tokens, CASE WHEN output_tokens <= requests * 100 THEN input_tokens ELSE 0 END AS trivial_input_tokens, CASE WHEN billed IS NULL THEN input_tokens ELSE 0 END AS unbilled_input_tokens,
  output_tokens, CASE WHEN output_tokens <= requests * 100 THEN output_tokens ELSE 0 END AS trivial_output_tokens, CASE WHEN billed IS NULL THEN output_tokens ELSE 0 END AS unbilled_output_tokens,
  cache_read_tokens, CASE WHEN output_tokens <= requests * 100 THEN cache_read_tokens ELSE 0 END AS trivial_cache_read_tokens, CASE WHEN billed IS NULL THEN cache_read_tokens ELSE 0 END AS unbilled_cache_read_tokens,
  cache_write_tokens, CASE WHEN output_tokens <= requests * 100 THEN cache_write_tokens ELSE 0 END AS trivial_cache_write_tokens, CASE WHEN billed IS NULL THEN cache_write_tokens ELSE 0 END AS unbilled_cache_write_tokens
FROM ta_all WHERE request_id IS NULL
UNION ALL
SELECT agent, day, week, model, tier,
  requests, trivial_requests, billed, tool, repo, session_id,
  input_tokens, trivial_input_tokens, unbilled_input_tokens,
  output_tokens, trivial_output_tokens, unbilled_output_tokens,
  cache_read_tokens, trivial_cache_read_tokens, unbilled_cache_read_tokens,
  cache_write_tokens, trivial_cache_write_tokens, unbilled_cache_write_tokens
FROM (
  SELECT agent, day, week, model, tier, session_id,
    ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY second, agent, day, model, tier, CASE WHEN session_id IS NULL THEN 1 ELSE 0 END, session_id) AS copy_order,
    MAX(requests) OVER (PARTITION BY request_id) AS requests,
    MAX(CASE WHEN output_tokens <= requests * 100 THEN requests ELSE 0 END) OVER (PARTITION BY request_id) AS trivial_requests,
    MAX(billed) OVER (PARTITION BY request_id) AS billed,
    MIN(tool) OVER (PARTITION BY request_id) AS tool, MIN(repo) OVER (PARTITION BY request_id) AS repo,
    MAX(input_tokens) OVER (PARTITION BY request_id) AS input_tokens, MAX(CASE WHEN output_tokens <= requests * 100 THEN input_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS trivial_input_tokens, MAX(CASE WHEN billed IS NULL THEN input_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS unbilled_input_tokens,
    MAX(output_tokens) OVER (PARTITION BY request_id) AS output_tokens, MAX(CASE WHEN output_tokens <= requests * 100 THEN output_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS trivial_output_tokens, MAX(CASE WHEN billed IS NULL THEN output_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS unbilled_output_tokens,
    MAX(cache_read_tokens) OVER (PARTITION BY request_id) AS cache_read_tokens, MAX(CASE WHEN output_tokens <= requests * 100 THEN cache_read_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS trivial_cache_read_tokens, MAX(CASE WHEN billed IS NULL THEN cache_read_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS unbilled_cache_read_tokens,
    MAX(cache_write_tokens) OVER (PARTITION BY request_id) AS cache_write_tokens, MAX(CASE WHEN output_tokens <= requests * 100 THEN cache_write_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS trivial_cache_write_tokens, MAX(CASE WHEN billed IS NULL THEN cache_write_tokens ELSE 0 END) OVER (PARTITION BY request_id) AS unbilled_cache_write_tokens
  FROM ta_all WHERE request_id IS NOT NULL
) copies WHERE copy_order = 1;
CREATE TEMP TABLE ta_requests AS
SELECT * FROM ta_requests_all WHERE TRUE;
CREATE TEMP TABLE ta_sessions AS
SELECT r.agent, r.week, r.session_id, MIN(r.second) AS first_second,
  MAX(r.second) AS last_second, COUNT(*) AS session_rows
FROM ta_rows r WHERE r.session_id IS NOT NULL GROUP BY r.agent, r.week, r.session_id;

EXPORT DATA OPTIONS (uri = 's3://tokenaudit-stats/2026-w49/days/*.parquet', format = 'PARQUET', overwrite = true) AS
SELECT u.agent, s.team, s.kind, DATE_FROM_UNIX_DATE(u.day) AS day, u.model, u.tier,
  input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, unbilled_input_tokens, unbilled_output_tokens, unbilled_cache_read_tokens, unbilled_cache_write_tokens, trivial_input_tokens, trivial_output_tokens, trivial_cache_read_tokens, trivial_cache_write_tokens,
  billed_micro, requests, trivial_requests
FROM (
  SELECT agent, day, model, tier, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cache_read_tokens) AS cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens, SUM(unbilled_input_tokens) AS unbilled_input_tokens, SUM(unbilled_output_tokens) AS unbilled_output_tokens, SUM(unbilled_cache_read_tokens) AS unbilled_cache_read_tokens, SUM(unbilled_cache_write_tokens) AS unbilled_cache_write_tokens, SUM(trivial_input_tokens) AS trivial_input_tokens, SUM(trivial_output_tokens) AS trivial_output_tokens, SUM(trivial_cache_read_tokens) AS trivial_cache_read_tokens, SUM(trivial_cache_write_tokens) AS trivial_cache_write_tokens,
    SUM(COALESCE(billed, 0)) AS billed_micro, SUM(requests) AS requests,
    SUM(trivial_requests) AS trivial_requests
  FROM ta_requests GROUP BY agent, day, model, tier
) u
JOIN (
  SELECT agent, day, model, tier, MIN(team) AS team, MAX(kind) AS kind
  FROM ta_rows GROUP BY agent, day, model, tier
) s ON s.agent = u.agent AND s.day = u.day AND s.model = u.model AND s.tier = u.tier;

EXPORT DATA OPTIONS (uri = 's3://tokenaudit-stats/2026-w49/sessions/*.parquet', format = 'PARQUET', overwrite = true) AS
SELECT agent, DATE_FROM_UNIX_DATE(week) AS week, CAST(COUNT(DISTINCT session_id) AS INT64) AS sessions
FROM ta_rows GROUP BY agent, week;

EXPORT DATA OPTIONS (uri = 's3://tokenaudit-stats/2026-w49/outputs/*.parquet', format = 'PARQUET', overwrite = true) AS
SELECT CAST(NULL AS STRING) AS agent, CAST(NULL AS DATE) AS week, CAST(NULL AS STRING) AS kind,
  CAST(NULL AS STRING) AS repo, CAST(NULL AS INT64) AS amount_micro
FROM ta_valid WHERE 1 = 0;

EXPORT DATA OPTIONS (uri = 's3://tokenaudit-stats/2026-w49/behavior/*.parquet', format = 'PARQUET', overwrite = true) AS
SELECT c.agent, DATE_FROM_UNIX_DATE(c.week) AS week,
  h.hours AS hours, h.hour_requests AS hour_requests,
  CAST(COALESCE(b.bins, 0) AS INT64) AS bins, CAST(COALESCE(b.bin_requests, 0) AS INT64) AS bin_requests,
  CAST(COALESCE(b.bin_squares, 0) AS INT64) AS bin_squares, COALESCE(h.bucketed, FALSE) AS bucketed,
  c.prompted, c.distinct_prompts,
  CAST(COALESCE(x.sessions, 0) AS INT64) AS sessions, CAST(COALESCE(w.max_starts, 0) AS INT64) AS max_simultaneous_starts,
  CAST(COALESCE(x.session_rows, 0) AS INT64) AS session_rows, CAST(COALESCE(x.long_session_rows, 0) AS INT64) AS long_session_rows,
  CAST(COALESCE(x.single_row_sessions, 0) AS INT64) AS single_row_sessions,
  c.row_count AS `rows`, c.rows_on_the_hour
FROM (
  SELECT agent, week, CAST(COUNT(prompt_hash) AS INT64) AS prompted,
    CAST(COUNT(DISTINCT prompt_hash) AS INT64) AS distinct_prompts, CAST(COUNT(*) AS INT64) AS row_count,
    CAST(SUM(CASE WHEN MOD(MOD(second, 3600) + 3600, 3600) = 0 THEN 1 ELSE 0 END) AS INT64) AS rows_on_the_hour
  FROM ta_rows GROUP BY agent, week
) c
LEFT JOIN (
  SELECT agent, week, COUNT(*) AS bins, SUM(bin_requests) AS bin_requests,
    SUM(bin_requests * bin_requests) AS bin_squares
  FROM (SELECT agent, week, DIV(second, 600) AS bin, SUM(requests) AS bin_requests, COUNT(*) AS bin_rows FROM ta_rows GROUP BY agent, week, DIV(second, 600)) ta_bins GROUP BY agent, week
) b ON b.agent = c.agent AND b.week = c.week
LEFT JOIN (
  SELECT agent, week, array_agg(hour ORDER BY hour) AS hours, array_agg(hour_requests ORDER BY hour) AS hour_requests,
    LOGICAL_OR(hour_requests > hour_rows) AS bucketed
  FROM (
    SELECT agent, week, DIV(MOD(MOD(bin - 1254, 1008) + 1008, 1008), 6) AS hour, SUM(bin_requests) AS hour_requests, SUM(bin_rows) AS hour_rows
    FROM (SELECT agent, week, DIV(second, 600) AS bin, SUM(requests) AS bin_requests, COUNT(*) AS bin_rows FROM ta_rows GROUP BY agent, week, DIV(second, 600)) ta_bins GROUP BY agent, week, DIV(MOD(MOD(bin - 1254, 1008) + 1008, 1008), 6)
  ) hh GROUP BY agent, week
) h ON h.agent = c.agent AND h.week = c.week
LEFT JOIN (
  SELECT agent, week, COUNT(*) AS sessions, SUM(session_rows) AS session_rows,
    SUM(CASE WHEN last_second - first_second > 86400 THEN session_rows ELSE 0 END) AS long_session_rows,
    SUM(CASE WHEN session_rows = 1 THEN 1 ELSE 0 END) AS single_row_sessions
  FROM ta_sessions GROUP BY agent, week
) x ON x.agent = c.agent AND x.week = c.week
LEFT JOIN (
  SELECT agent, week, MAX(starts) AS max_starts FROM (
    SELECT agent, week, DIV(first_second, 300) AS start_window, COUNT(*) AS starts
    FROM ta_sessions GROUP BY agent, week, DIV(first_second, 300)
  ) sw GROUP BY agent, week
) w ON w.agent = c.agent AND w.week = c.week;

EXPORT DATA OPTIONS (uri = 's3://tokenaudit-stats/2026-w49/parts/*.parquet', format = 'PARQUET', overwrite = true) AS
SELECT agent, DATE_FROM_UNIX_DATE(week) AS week, dimension, value, model, tier, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, unbilled_input_tokens, unbilled_output_tokens, unbilled_cache_read_tokens, unbilled_cache_write_tokens,
  billed_micro, requests
FROM (
SELECT agent, week, 'tool' AS dimension, tool AS value, model, tier, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cache_read_tokens) AS cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens, SUM(unbilled_input_tokens) AS unbilled_input_tokens, SUM(unbilled_output_tokens) AS unbilled_output_tokens, SUM(unbilled_cache_read_tokens) AS unbilled_cache_read_tokens, SUM(unbilled_cache_write_tokens) AS unbilled_cache_write_tokens,
  SUM(COALESCE(billed, 0)) AS billed_micro, SUM(requests) AS requests
FROM ta_requests WHERE tool IS NOT NULL GROUP BY agent, week, tool, model, tier
UNION ALL
SELECT agent, week, 'repo' AS dimension, repo AS value, model, tier, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cache_read_tokens) AS cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens, SUM(unbilled_input_tokens) AS unbilled_input_tokens, SUM(unbilled_output_tokens) AS unbilled_output_tokens, SUM(unbilled_cache_read_tokens) AS unbilled_cache_read_tokens, SUM(unbilled_cache_write_tokens) AS unbilled_cache_write_tokens,
  SUM(COALESCE(billed, 0)) AS billed_micro, SUM(requests) AS requests
FROM ta_requests WHERE repo IS NOT NULL GROUP BY agent, week, repo, model, tier
UNION ALL
SELECT agent, week, 'session' AS dimension, session_id AS value, '' AS model, '' AS tier,
  input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, CAST(0 AS INT64) AS unbilled_input_tokens, CAST(0 AS INT64) AS unbilled_output_tokens, CAST(0 AS INT64) AS unbilled_cache_read_tokens, CAST(0 AS INT64) AS unbilled_cache_write_tokens, CAST(0 AS INT64) AS billed_micro, session_rows AS requests
FROM (SELECT agent, week, session_id, session_rows, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens
FROM (
  SELECT e.agent, e.week, e.session_id, e.session_rows, COALESCE(t.input_tokens, 0) AS input_tokens, COALESCE(t.output_tokens, 0) AS output_tokens, COALESCE(t.cache_read_tokens, 0) AS cache_read_tokens, COALESCE(t.cache_write_tokens, 0) AS cache_write_tokens,
    ROW_NUMBER() OVER (PARTITION BY e.agent, e.week ORDER BY COALESCE(t.input_tokens, 0) + COALESCE(t.output_tokens, 0) + COALESCE(t.cache_read_tokens, 0) + COALESCE(t.cache_write_tokens, 0) DESC, e.session_id) AS place
  FROM ta_sessions e
  LEFT JOIN (
    SELECT agent, week, session_id, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cache_read_tokens) AS cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens
    FROM ta_requests WHERE session_id IS NOT NULL GROUP BY agent, week, session_id
  ) t ON t.agent = e.agent AND t.week = e.week AND t.session_id = e.session_id
) ranked WHERE place <= 5) top_sessions
) p;

EXPORT DATA OPTIONS (uri = 's3://tokenaudit-stats/2026-w49/accounting/*.parquet', format = 'PARQUET', overwrite = true) AS
SELECT
  (SELECT CAST(COUNT(*) AS INT64) FROM ta_src) AS rows_read,
  (SELECT CAST(COUNT(*) AS INT64) FROM ta_valid) AS rows_valid,
  (SELECT CAST(COUNT(*) AS INT64) FROM ta_valid) - (SELECT CAST(COUNT(*) AS INT64) FROM ta_requests_all) AS duplicates_removed,
  (SELECT CAST(COUNT(*) AS INT64) FROM ta_requests_all WHERE NOT (TRUE)) AS rows_outside_window;
