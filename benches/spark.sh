#!/usr/bin/env bash
# The "Past one machine" table of BENCHMARKS.md: the stats contract computed by Spark
# (local[2], from the SQL of `tokenaudit sql`) and by DuckDB (the same SQL in its dialect)
# against the local path (`tokenaudit stats`), on one generated company; wall time and the peak
# memory of the whole process tree (Spark's JVM is a child of Python), sampled every 0.2 s.
#
#   benches/spark.sh [path/to/tokenaudit] [AGENTS:WEEKS:SEED]
#
# The default company, 240:26:1, has 12.5M requests. The engines come from
# tests/sql/requirements.txt ($TOKENAUDIT_SQL_PYTHON, as .ci/run builds it).
set -euo pipefail
BIN="$(realpath "${1:-target/release/tokenaudit}")"
IFS=: read -r AGENTS WEEKS SEED <<<"${2:-240:26:1}"
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${TOKENAUDIT_SQL_PYTHON:-$HOME/.cache/tokenaudit-sql/bin/python}"
DIR="${SPARK_BENCH_DIR:-/tmp/tokenaudit-spark}/a$AGENTS-w$WEEKS-s$SEED"
mkdir -p "$DIR"
if [ ! -f "$DIR/company/usage.parquet" ]; then
  "$BIN" generate --agents "$AGENTS" --weeks "$WEEKS" --seed "$SEED" -q --out "$DIR/company"
fi
C="$DIR/company"

# Runs a command in its own process group and prints "seconds peak_GB" for the whole group.
measure() {
  local start end peak=0 rss
  start=$(date +%s.%N)
  setsid "$@" >/dev/null 2>"$DIR/.stderr" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(ps -o rss= -g "$pid" 2>/dev/null | awk '{s+=$1} END {print s+0}')
    [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.2
  done
  wait "$pid" || { echo "failed:"; cat "$DIR/.stderr"; return 1; }
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v p="$peak" 'BEGIN {printf "%.1f s, %.2f GB\n", e - s, p / 1048576}'
}

rows=$("$PY" -c "import duckdb; print(duckdb.sql(\"select count(*) from '$C/usage.parquet'\").fetchall()[0][0])")
echo "company $AGENTS:$WEEKS:$SEED, $rows requests"
rm -rf "$DIR/local" "$DIR/spark" "$DIR/duckdb"
echo -n "local path (tokenaudit stats): "
measure "$BIN" stats -q --usage "$C/usage.parquet" --identities "$C/identities.csv" --to "$DIR/local"
for engine in duckdb spark; do
  "$BIN" sql -q --dialect "$engine" --parquet "$C/usage.parquet" --identities "$C/identities.csv" --to "$DIR/$engine"
  echo -n "$engine (the SQL of tokenaudit sql): "
  measure "$PY" "$HERE/../tests/sql/run.py" "$engine" "$DIR/$engine/stats.sql"
done
# The same report from each: the audit from the engines' stats against the local path's.
for source in local duckdb spark; do
  "$BIN" audit -q --format json --stats "$DIR/$source" --outputs "$C/outputs.csv" \
    --identities "$C/identities.csv" | "$PY" -c "import json,sys; r=json.load(sys.stdin); r.pop('inputs'); print(json.dumps(r, sort_keys=True))" >"$DIR/$source.json"
done
cmp -s "$DIR/local.json" "$DIR/duckdb.json" && cmp -s "$DIR/local.json" "$DIR/spark.json" \
  && echo "the three reports are the same (inputs aside)" || echo "THE REPORTS DIFFER"
echo -n "audit from the stats: "
measure "$BIN" audit -q --format json --stats "$DIR/local" --outputs "$C/outputs.csv" --identities "$C/identities.csv"
