#!/usr/bin/env bash
# The weekly run of BENCHMARKS.md "History": one new week audited over a 26-week store, against
# the same audit from 26 weeks of raw logs, wall time and peak memory of each with
# /usr/bin/time, and whether both give the same agents and findings.
#
#   benches/history.sh [path/to/tokenaudit] [AGENTS:REQUESTS_PER_WEEK:SEED]
#
# The company (default 2000:400:9, about 100M requests over 26 weeks from 2026-05-04) comes from
# `tokenaudit generate`; the last week is cut out of it with DuckDB (installed with pip into a
# virtual environment of its own, as benches/scale.sh does). Data go to $SCALE_DIR (default
# /tmp/tokenaudit-scale).
set -euo pipefail
BIN="${1:-target/release/tokenaudit}"
IFS=: read -r agents rate seed <<<"${2:-2000:400:9}"
DIR="${SCALE_DIR:-/tmp/tokenaudit-scale}/history-a${agents}-r${rate}-s${seed}"
VENV="${DUCKDB_VENV:-$HOME/.cache/tokenaudit-duckdb}"
START=2026-05-04      # a Monday; 26 weeks end on 2026-11-01
LAST=2026-10-26       # the first day of the 26th week
mkdir -p "$DIR"
if ! "$VENV/bin/python" -c "import duckdb" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check duckdb==2.0.1 polars
fi
if [ ! -f "$DIR/usage.parquet" ]; then
  "$BIN" generate -q --agents "$agents" --weeks 26 --requests-per-week "$rate" --seed "$seed" \
    --start "$START" --out "$DIR"
fi
if [ ! -f "$DIR/last-week.parquet" ]; then
  "$VENV/bin/python" -c "
import duckdb
duckdb.sql(\"copy (select * from '$DIR/usage.parquet' where ts >= timestamptz '$LAST 00:00:00+00') to '$DIR/last-week.parquet' (format parquet)\")
"
fi
rows=$("$VENV/bin/python" -c "import duckdb; print(duckdb.sql(\"select count(*) from '$DIR/usage.parquet'\").fetchall()[0][0])")
week_rows=$("$VENV/bin/python" -c "import duckdb; print(duckdb.sql(\"select count(*) from '$DIR/last-week.parquet'\").fetchall()[0][0])")
refs=(--outputs "$DIR/outputs.csv" --identities "$DIR/identities.csv")

# The store of the first 25 weeks, made once from their raw logs.
if [ ! -f "$DIR/store/history.json" ]; then
  "$BIN" -q audit --usage "$DIR/usage.parquet" "${refs[@]}" --until 2026-10-25 \
    --history "$DIR/store" --weeks 26 --format json >/dev/null
fi

measure() { # label command...
  local label=$1; shift
  /usr/bin/time -o "$DIR/.timing" -f "%e %M" "$@"
  local out
  out=$(tail -1 "$DIR/.timing")
  printf '%s\t%s s\t%s GB\n' "$label" "${out% *}" "$(awk "BEGIN { printf \"%.2f\", ${out#* } / 1048576 }")" >&2
}

printf 'company %s agents, 26 weeks, %s requests; the new week %s requests\n' "$agents" "$rows" "$week_rows" >&2
for run in 1 2; do
  rm -rf "$DIR/store-run" && cp -r "$DIR/store" "$DIR/store-run"
  measure "weekly run over the store #$run" "$BIN" -q audit --usage "$DIR/last-week.parquet" \
    "${refs[@]}" --history "$DIR/store-run" --weeks 26 --since "$LAST" --until 2026-11-01 \
    --format json >"$DIR/weekly.json"
  # The generated logs spill a few rows past the 26th week (time zones): cut both runs there.
  measure "26 weeks of raw logs #$run" "$BIN" -q audit --usage "$DIR/usage.parquet" "${refs[@]}" \
    --weeks 26 --until 2026-11-01 --format json >"$DIR/raw.json"
done
"$VENV/bin/python" - "$DIR/weekly.json" "$DIR/raw.json" <<'EOF' >&2
import json, sys
weekly, raw = (json.load(open(p)) for p in sys.argv[1:])
for f in weekly["findings"]:
    f.pop("state", None)
same = weekly["agents"] == raw["agents"] and weekly["findings"] == raw["findings"]
print("agents and findings: " + ("the same" if same else "DIFFERENT"))
print("weeks from the store:", len(weekly["history"]["weeks_from_history"]),
      "stored by the run:", weekly["history"]["weeks_stored"])
EOF
