"""Reshapes a usage file written by `tokenaudit generate` into the rows a lake really holds,
for the SQL tests: every canonical column present, and the cases engines disagree on.

    python tests/sql/hostile.py usage.parquet hostile.parquet

- copies of requests: on the same day (re-exports, one collapses), and a day later across a
  week boundary (a different day: both count), some disagreeing on tool and session;
- NULL session ids and prompt hashes, and text padded with spaces;
- rows sharing one timestamp to the microsecond, rows exactly on the hour;
- vendor costs on some rows (the billed tier), teams on some, several requests on some;
- every fifth row without a request id.
"""

import sys

import duckdb


def main(source, target):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""
        CREATE TABLE base AS
        SELECT row_number() OVER (ORDER BY ts, request_id) AS n, *
        FROM read_parquet('{source}')
        """
    )
    con.execute(
        """
        CREATE TABLE hostile AS
        SELECT
            -- equal timestamps: every 7th row takes the one of the row before it
            CASE WHEN n % 7 = 0 THEN lag(ts) OVER (ORDER BY n) ELSE ts END AS ts,
            CASE WHEN n % 11 = 0 THEN '  ' || agent || ' ' ELSE agent END AS agent,
            model,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
            CASE WHEN n % 13 = 0 THEN 3 ELSE 1 END AS requests,
            CASE WHEN n % 5 = 1 THEN round(input_tokens * 0.000003 + output_tokens * 0.000015, 6)
                 ELSE NULL END AS cost_usd,
            CASE WHEN n % 17 = 0 THEN 'team-from-logs' ELSE NULL END AS team,
            tool,
            CASE WHEN n % 9 = 0 THEN NULL ELSE session_id END AS session_id,
            CASE WHEN n % 5 = 0 THEN NULL ELSE request_id END AS request_id,
            CASE WHEN n % 4 = 0 THEN NULL ELSE prompt_hash END AS prompt_hash,
            CASE WHEN n % 3 = 0 THEN 'acme/api' WHEN n % 3 = 1 THEN 'acme/web' ELSE NULL END AS repo,
            CAST(NULL AS VARCHAR) AS tier
        FROM base
        """
    )
    # Copies: a same-day re-export of every 19th request (larger counts, another tool and
    # session on some), and a copy of every 23rd a day later, across the week's end.
    con.execute(
        """
        INSERT INTO hostile
        SELECT ts + INTERVAL 1 SECOND, agent, model, input_tokens, output_tokens + 7,
               cache_read_tokens, cache_write_tokens, requests, cost_usd, team,
               CASE WHEN hash(request_id) % 2 = 0 THEN 'aaa-tool' ELSE tool END,
               CASE WHEN hash(request_id) % 3 = 0 THEN '  zz-session' ELSE session_id END,
               request_id, prompt_hash, repo, tier
        FROM hostile WHERE request_id IS NOT NULL AND hash(request_id) % 19 = 0
        """
    )
    con.execute(
        """
        INSERT INTO hostile
        SELECT ts + INTERVAL 1 DAY, agent, model, input_tokens, output_tokens,
               cache_read_tokens, cache_write_tokens, requests, cost_usd, team, tool,
               session_id, request_id, prompt_hash, repo, tier
        FROM hostile WHERE request_id IS NOT NULL AND hash(request_id) % 23 = 0
          AND dayofweek(ts) = 0
        """
    )
    # Rows exactly on the hour.
    con.execute(
        """
        UPDATE hostile SET ts = date_trunc('hour', ts)
        WHERE hash(ts) % 29 = 0
        """
    )
    # Types as a lake holds them: signed integers, costs as doubles.
    con.execute(
        f"""
        COPY (
            SELECT ts, agent, model,
                   CAST(input_tokens AS BIGINT) AS input_tokens,
                   CAST(output_tokens AS BIGINT) AS output_tokens,
                   CAST(cache_read_tokens AS BIGINT) AS cache_read_tokens,
                   CAST(cache_write_tokens AS BIGINT) AS cache_write_tokens,
                   CAST(requests AS BIGINT) AS requests,
                   CAST(cost_usd AS DOUBLE) AS cost_usd,
                   team, tool, session_id, request_id, prompt_hash, repo, tier
            FROM hostile
        ) TO '{target}' (FORMAT PARQUET)
        """
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
