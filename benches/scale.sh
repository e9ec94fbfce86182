#!/usr/bin/env bash
# The company-scale table of BENCHMARKS.md: for each company, the whole audit against DuckDB
# computing only the agent-week table from the same files, wall time and peak memory of each,
# measured with /usr/bin/time. The companies come from `tokenaudit generate`; DuckDB is
# installed with pip into a virtual environment of its own.
#
#   benches/scale.sh [path/to/tokenaudit] [company ...]
#
# A company is AGENTS:WEEKS:REQUESTS_PER_WEEK:SEED, e.g. 240:8:1100:1 (4.5M requests),
# 2000:10:1000:9 (about 100M) or 2000:26:1000:9 (259M, the issue's company). The data go to
# $SCALE_DIR (default /tmp/tokenaudit-scale), which needs about 25 bytes a request; a company
# already there is reused. Set SCALE_SHUFFLED=1 to also audit a shuffled copy (4.5M only: it
# is rewritten through polars in memory).
set -euo pipefail
BIN="${1:-target/release/tokenaudit}"
shift || true
COMPANIES=("$@")
if [ ${#COMPANIES[@]} -eq 0 ]; then
  COMPANIES=(240:8:1100:1)
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${SCALE_DIR:-/tmp/tokenaudit-scale}"
VENV="${DUCKDB_VENV:-$HOME/.cache/tokenaudit-duckdb}"
mkdir -p "$DIR"
if ! "$VENV/bin/python" -c "import duckdb" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check duckdb==2.0.1 polars
fi

measure() { # label command...
  local label=$1; shift
  local timing="$DIR/.timing"
  local status=0
  /usr/bin/time -o "$timing" -f "%e %M" "$@" >/dev/null 2>&1 || status=$?
  local out
  out=$(tail -1 "$timing")
  local seconds=${out% *} kb=${out#* }
  local note=""
  # DuckDB fails on the 259M company once it runs out of memory to spill past: say so and go on.
  [ "$status" -ne 0 ] && note=$'\t'"exit $status"
  printf '%s\t%s s\t%s GB%s\n' "$label" "$seconds" "$(awk "BEGIN { printf \"%.2f\", $kb / 1048576 }")" "$note"
}

printf 'company\trows\ttool\twall\tpeak RSS\n'
for company in "${COMPANIES[@]}"; do
  IFS=: read -r agents weeks rate seed <<<"$company"
  data="$DIR/a${agents}-w${weeks}-r${rate}-s${seed}"
  if [ ! -f "$data/usage.parquet" ]; then
    "$BIN" generate -q --agents "$agents" --weeks "$weeks" --requests-per-week "$rate" \
      --seed "$seed" --out "$data"
  fi
  rows=$("$VENV/bin/python" -c "import duckdb,sys; print(duckdb.sql(\"select count(*) from '$data/usage.parquet'\").fetchall()[0][0])")
  for run in 1 2 3; do
    printf '%s\t%s\t' "$company" "$rows"
    measure "tokenaudit#$run" "$BIN" -q audit --usage "$data/usage.parquet" \
      --outputs "$data/outputs.csv" --identities "$data/identities.csv" --format json
    printf '%s\t%s\t' "$company" "$rows"
    measure "duckdb#$run" "$VENV/bin/python" "$HERE/duckdb_agent_weeks.py" "$data"
    # The big companies take minutes a run: one run each.
    [ "$rows" -gt 50000000 ] && break
  done
  if [ "${SCALE_SHUFFLED:-0}" = 1 ] && [ "$rows" -lt 50000000 ]; then
    shuffled="$data-shuffled"
    if [ ! -f "$shuffled/usage.parquet" ]; then
      mkdir -p "$shuffled"
      cp "$data/outputs.csv" "$data/identities.csv" "$shuffled/"
      "$VENV/bin/python" -c "
import polars as pl
pl.read_parquet('$data/usage.parquet').sample(fraction=1.0, shuffle=True, seed=7).write_parquet('$shuffled/usage.parquet')"
    fi
    printf '%s shuffled\t%s\t' "$company" "$rows"
    measure "tokenaudit" "$BIN" -q audit --usage "$shuffled/usage.parquet" \
      --outputs "$shuffled/outputs.csv" --identities "$shuffled/identities.csv" --format json
  fi
done
