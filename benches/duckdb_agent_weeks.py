"""The agent-week table computed by DuckDB from the same files tokenaudit audits, for the
comparison in BENCHMARKS.md.

Same work as tokenaudit's aggregation: dedup by request_id, identity map (case-insensitive),
weekly sums by token class, requests, distinct sessions and active days per agent-week, and
outputs by kind per agent-week (deduplicated by kind + ref). Prints totals so the two tools
can be checked against each other.

    python3 benches/duckdb_agent_weeks.py DIR   # DIR from `tokenaudit generate`
"""

import sys
import time

import duckdb

folder = sys.argv[1]
started = time.perf_counter()
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute(f"""
CREATE TEMP TABLE ids AS
SELECT lower(trim(alias)) AS alias, agent, team
FROM read_csv('{folder}/identities.csv', all_varchar = true);

CREATE TEMP TABLE usage AS
WITH raw AS (
    SELECT * FROM read_parquet('{folder}/usage.parquet')
),
dedup AS (
    SELECT
        min(ts) AS ts, min(agent) AS agent, min(model) AS model,
        max(input_tokens) AS input_tokens, max(output_tokens) AS output_tokens,
        max(cache_read_tokens) AS cache_read_tokens, max(cache_write_tokens) AS cache_write_tokens,
        min(session_id) AS session_id
    FROM raw WHERE request_id IS NOT NULL GROUP BY request_id
)
SELECT coalesce(ids.agent, lower(trim(d.agent))) AS agent,
       CAST(d.ts AS DATE) AS day,
       date_trunc('week', d.ts) AS week,
       d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_write_tokens, d.session_id
FROM dedup d LEFT JOIN ids ON lower(trim(d.agent)) = ids.alias;

CREATE TEMP TABLE agent_weeks AS
SELECT agent, week,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
       count(*) AS requests, count(DISTINCT session_id) AS sessions, count(DISTINCT day) AS active_days
FROM usage GROUP BY agent, week;

CREATE TEMP TABLE output_weeks AS
WITH o AS (
    SELECT kind, ref, min(ts) AS ts, min(agent) AS agent, max(CAST(amount AS DOUBLE)) AS amount
    FROM read_csv('{folder}/outputs.csv', all_varchar = true, types = {{'ts': 'TIMESTAMP'}})
    GROUP BY kind, ref
)
SELECT coalesce(ids.agent, lower(trim(o.agent))) AS agent, date_trunc('week', o.ts) AS week, kind,
       sum(amount) AS amount
FROM o LEFT JOIN ids ON lower(trim(o.agent)) = ids.alias
GROUP BY ALL;
""")
totals = con.execute("""
SELECT count(*) AS agent_weeks, sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens) AS tokens,
       sum(requests) AS requests, sum(sessions) AS sessions, sum(active_days) AS active_days
FROM agent_weeks
""").fetchone()
outputs = con.execute("SELECT count(*), sum(amount) FROM output_weeks").fetchone()
elapsed = time.perf_counter() - started
print(f"duckdb {duckdb.__version__}: {elapsed:.2f}s; agent_weeks={totals[0]} tokens={totals[1]} "
      f"requests={totals[2]} sessions={totals[3]} active_days={totals[4]}; "
      f"output_weeks={outputs[0]} output_amount={outputs[1]:.0f}")
