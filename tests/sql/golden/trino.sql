-- The tokenaudit stats contract, version 5, in trino SQL: written by `tokenaudit sql`.
-- Time zone Europe/Berlin, weeks start on sunday, behaviour snapshot 406800s/12h. Do not edit: the manifest
-- beside this file holds its SHA-256, and `tokenaudit audit --stats` checks it.

CREATE OR REPLACE VIEW ta_src AS
SELECT
  ts,
  NULLIF(TRIM(CAST(agent AS VARCHAR)), '') AS alias,
  NULLIF(TRIM(CAST(model AS VARCHAR)), '') AS model,
  CAST(input_tokens AS BIGINT) AS input_tokens,
  CAST(output_tokens AS BIGINT) AS output_tokens,
  COALESCE(CAST(cache_read_tokens AS BIGINT), 0) AS cache_read_tokens,
  COALESCE(CAST(cache_write_tokens AS BIGINT), 0) AS cache_write_tokens,
  COALESCE(CAST(requests AS BIGINT), 1) AS requests,
  CAST(cost_usd AS DOUBLE) AS cost_usd,
  NULLIF(TRIM(CAST(team AS VARCHAR)), '') AS team,
  NULLIF(TRIM(CAST(tool AS VARCHAR)), '') AS tool,
  NULLIF(TRIM(CAST(session_id AS VARCHAR)), '') AS session_id,
  NULLIF(TRIM(CAST(request_id AS VARCHAR)), '') AS request_id,
  NULLIF(TRIM(CAST(prompt_hash AS VARCHAR)), '') AS prompt_hash,
  NULLIF(TRIM(CAST(repo AS VARCHAR)), '') AS repo,
  NULLIF(TRIM(CAST(tier AS VARCHAR)), '') AS tier
FROM lake.ai_usage;
CREATE OR REPLACE VIEW ta_valid AS
SELECT
  COALESCE(i.agent, LOWER(s.alias)) AS agent,
  COALESCE(i.team, s.team) AS team,
  COALESCE(i.kind, 'human') AS kind,
  date_diff('day', DATE '1970-01-01', CAST((s.ts AT TIME ZONE 'Europe/Berlin') AS DATE)) AS day,
  CAST(floor(to_unixtime(s.ts)) AS BIGINT) AS second,
  s.model,
  COALESCE(s.tier, CASE WHEN s.cost_usd IS NOT NULL THEN 'billed' ELSE 'estimated' END) AS tier,
  s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens, s.requests,
  CAST(ROUND(s.cost_usd * 1000000) AS BIGINT) AS billed,
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
CREATE TABLE ta_all AS
SELECT v.*, day - MOD(MOD(day + 4, 7) + 7, 7) AS week FROM ta_valid v;
CREATE OR REPLACE VIEW ta_rows AS
SELECT * FROM ta_all WHERE TRUE;
CREATE TABLE ta_requests_all AS
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
CREATE OR REPLACE VIEW ta_requests AS
SELECT * FROM ta_requests_all WHERE TRUE;
CREATE TABLE ta_sessions AS
SELECT r.agent, r.week, r.session_id, MIN(r.second) AS first_second,
  MAX(r.second) AS last_second, COUNT(*) AS session_rows
FROM ta_rows r WHERE r.session_id IS NOT NULL GROUP BY r.agent, r.week, r.session_id;

CREATE TABLE tokenaudit_days AS
SELECT u.agent, s.team, s.kind, date_add('day', u.day, DATE '1970-01-01') AS day, u.model, u.tier,
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

CREATE TABLE tokenaudit_sessions AS
SELECT agent, date_add('day', week, DATE '1970-01-01') AS week, CAST(COUNT(DISTINCT session_id) AS BIGINT) AS sessions
FROM ta_rows GROUP BY agent, week;

CREATE TABLE tokenaudit_outputs AS
SELECT CAST(NULL AS VARCHAR) AS agent, CAST(NULL AS DATE) AS week, CAST(NULL AS VARCHAR) AS kind,
  CAST(NULL AS VARCHAR) AS repo, CAST(NULL AS BIGINT) AS amount_micro
FROM ta_valid WHERE 1 = 0;

CREATE TABLE tokenaudit_behavior AS
SELECT c.agent, date_add('day', c.week, DATE '1970-01-01') AS week,
  h.hours AS hours, h.hour_requests AS hour_requests,
  CAST(COALESCE(b.bins, 0) AS BIGINT) AS bins, CAST(COALESCE(b.bin_requests, 0) AS BIGINT) AS bin_requests,
  CAST(COALESCE(b.bin_squares, 0) AS BIGINT) AS bin_squares, COALESCE(h.bucketed, FALSE) AS bucketed,
  c.prompted, c.distinct_prompts,
  CAST(COALESCE(x.sessions, 0) AS BIGINT) AS sessions, CAST(COALESCE(w.max_starts, 0) AS BIGINT) AS max_simultaneous_starts,
  CAST(COALESCE(x.session_rows, 0) AS BIGINT) AS session_rows, CAST(COALESCE(x.long_session_rows, 0) AS BIGINT) AS long_session_rows,
  CAST(COALESCE(x.single_row_sessions, 0) AS BIGINT) AS single_row_sessions,
  c.row_count AS "rows", c.rows_on_the_hour
FROM (
  SELECT agent, week, CAST(COUNT(prompt_hash) AS BIGINT) AS prompted,
    CAST(COUNT(DISTINCT prompt_hash) AS BIGINT) AS distinct_prompts, CAST(COUNT(*) AS BIGINT) AS row_count,
    CAST(SUM(CASE WHEN MOD(MOD(second, 3600) + 3600, 3600) = 0 THEN 1 ELSE 0 END) AS BIGINT) AS rows_on_the_hour
  FROM ta_rows GROUP BY agent, week
) c
LEFT JOIN (
  SELECT agent, week, COUNT(*) AS bins, SUM(bin_requests) AS bin_requests,
    SUM(bin_requests * bin_requests) AS bin_squares
  FROM (SELECT agent, week, ((second) / 600) AS bin, SUM(requests) AS bin_requests, COUNT(*) AS bin_rows FROM ta_rows GROUP BY agent, week, ((second) / 600)) ta_bins GROUP BY agent, week
) b ON b.agent = c.agent AND b.week = c.week
LEFT JOIN (
  SELECT agent, week, array_agg(hour ORDER BY hour) AS hours, array_agg(hour_requests ORDER BY hour) AS hour_requests,
    bool_or(hour_requests > hour_rows) AS bucketed
  FROM (
    SELECT agent, week, ((MOD(MOD(bin - 1254, 1008) + 1008, 1008)) / 6) AS hour, SUM(bin_requests) AS hour_requests, SUM(bin_rows) AS hour_rows
    FROM (SELECT agent, week, ((second) / 600) AS bin, SUM(requests) AS bin_requests, COUNT(*) AS bin_rows FROM ta_rows GROUP BY agent, week, ((second) / 600)) ta_bins GROUP BY agent, week, ((MOD(MOD(bin - 1254, 1008) + 1008, 1008)) / 6)
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
    SELECT agent, week, ((first_second) / 300) AS start_window, COUNT(*) AS starts
    FROM ta_sessions GROUP BY agent, week, ((first_second) / 300)
  ) sw GROUP BY agent, week
) w ON w.agent = c.agent AND w.week = c.week;

CREATE TABLE tokenaudit_parts AS
SELECT agent, date_add('day', week, DATE '1970-01-01') AS week, dimension, value, model, tier, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, unbilled_input_tokens, unbilled_output_tokens, unbilled_cache_read_tokens, unbilled_cache_write_tokens,
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
  input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, CAST(0 AS BIGINT) AS unbilled_input_tokens, CAST(0 AS BIGINT) AS unbilled_output_tokens, CAST(0 AS BIGINT) AS unbilled_cache_read_tokens, CAST(0 AS BIGINT) AS unbilled_cache_write_tokens, CAST(0 AS BIGINT) AS billed_micro, session_rows AS requests
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

CREATE TABLE tokenaudit_accounting AS
SELECT
  (SELECT CAST(COUNT(*) AS BIGINT) FROM ta_src) AS rows_read,
  (SELECT CAST(COUNT(*) AS BIGINT) FROM ta_valid) AS rows_valid,
  (SELECT CAST(COUNT(*) AS BIGINT) FROM ta_valid) - (SELECT CAST(COUNT(*) AS BIGINT) FROM ta_requests_all) AS duplicates_removed,
  (SELECT CAST(COUNT(*) AS BIGINT) FROM ta_requests_all WHERE NOT (TRUE)) AS rows_outside_window;
