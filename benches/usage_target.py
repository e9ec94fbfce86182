"""A usage target answered by a quarter of the company at once: README, "What the detector
cannot see". Rewrites a company from `tokenaudit generate` in place so that a share of its
regular people (not planted, not service accounts) send every request from the middle week
on `1 + copies` times, with new request, session and prompt ids, and output unchanged; then
audits it and prints how many of them, and of the planted inflators, were flagged.

    python3 benches/usage_target.py BIN DIR [share=0.25] [copies=2]

BIN is a built tokenaudit, DIR a folder from `BIN generate` (usage.parquet). Needs duckdb
(tests/sql/requirements.txt). Measured: seeds 1-3, 60 agents, 12 weeks, share 0.25, copies 2
(three times the spend) and 5 (six times).
"""

import datetime as dt
import json
import random
import subprocess
import sys

import duckdb

binary, folder = sys.argv[1], sys.argv[2]
share = float(sys.argv[3]) if len(sys.argv) > 3 else 0.25
copies = int(sys.argv[4]) if len(sys.argv) > 4 else 2
usage = f"{folder}/usage.parquet"
con = duckdb.connect()
con.execute(f"create table u as select * from read_parquet('{usage}')")
start, end = con.execute("select min(ts), max(ts) from u").fetchone()
monday = (start - dt.timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
weeks = (end - monday).days // 7 + 1
middle = (monday + dt.timedelta(weeks=weeks // 2)).strftime("%Y-%m-%d %H:%M:%S+00")
truth = json.load(open(f"{folder}/truth.json"))
planted = {p["agent"] for p in truth["planted"]}
inflators = {p["agent"] for p in truth["planted"] if p["inflator"]}
everyone = sorted(r[0] for r in con.execute("select distinct agent from u").fetchall())
regular = [a for a in everyone if a not in planted]
random.seed(7)
chosen = sorted(random.sample(regular, round(share * len(everyone))))
con.execute("create table chosen(agent varchar)")
con.executemany("insert into chosen values (?)", [[a] for a in chosen])
for k in range(1, copies + 1):
    con.execute(
        f"""insert into u
        select ts + to_minutes({k}), agent, model, input_tokens, output_tokens, cache_read_tokens,
               cache_write_tokens, tool, session_id || '-t{k}', request_id || '-t{k}',
               prompt_hash || '{k}'
        from u where agent in (select agent from chosen) and ts >= '{middle}'
          and request_id not like '%-t%'"""
    )
con.execute(f"copy (select * from u order by ts, agent) to '{usage}' (format parquet)")
report = json.loads(
    subprocess.run(
        [binary, "audit", "-q", "--format", "json", "--usage", usage,
         "--outputs", f"{folder}/outputs.csv", "--identities", f"{folder}/identities.csv"],
        capture_output=True, check=False,
    ).stdout
)
severity = {f["agent"]: f["severity"] for f in report["findings"]}
serious = sum(severity.get(a) in ("medium", "high") for a in chosen)
print(
    f"{len(chosen)} people at {copies + 1}x from {middle[:10]}: {sum(a in severity for a in chosen)} flagged "
    f"({serious} medium or high); planted inflators flagged {sum(a in severity for a in inflators)} of "
    f"{len(inflators)}; others flagged {sum(1 for a in severity if a not in chosen and a not in inflators)}"
)
