#!/usr/bin/env bash
# Claude Code log ingest speed: tokenaudit against ccusage on the same generated logs (about
# 1 GB: 11,568 files, sessions and their subagents, median 73 KB, every response streamed in two
# lines, tool results of 1-24 KB). Both read every session file, deduplicate and total tokens and cost per period:
#   tokenaudit spend --by week     (adapter → dedup → pricing → roll-up), twice: as JSON, which
#                                  lists every input with its SHA-256, and as CSV, which does not
#                                  and so hashes nothing
#   ccusage daily --json --offline (its own parser, dedup and pricing)
# Usage: [SHAPE=per-agent] benches/claude_code_ingest.sh [DIR]   (DIR is reused if it already
# holds the logs). The generator writes one file per session, as Claude Code does; SHAPE=per-agent
# joins them into one large file per agent, the large-file case.
# Needs a release build (TOKENAUDIT=path/to/tokenaudit to override) and ccusage (.ci/run
# installs it; TOKENAUDIT_CCUSAGE to override). Prints one line per run and the MB/s.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${TOKENAUDIT:-${CARGO_TARGET_DIR:-target}/release/tokenaudit}"
CCUSAGE="${TOKENAUDIT_CCUSAGE:-$HOME/.cache/tokenaudit-ccusage/node_modules/.bin/ccusage}"
DIR="${1:-/tmp/tokenaudit-claude-code-bench}"
RUNS="${RUNS:-3}"
if [ ! -d "$DIR/claude-code" ]; then
  "$BIN" generate --agents 40 --weeks 4 --seed 7 --usage-format claude-code --out "$DIR" -q
  # SHAPE=per-agent: one large file per agent (the shape this bench measured before the
  # generator wrote one file per session, as Claude Code does), from the same records.
  if [ "${SHAPE:-sessions}" = per-agent ]; then
    for dir in "$DIR"/claude-code/*/.claude/projects/*/; do
      agent=$(basename "$(dirname "$(dirname "$(dirname "$dir")")")")
      find "$dir" -name '*.jsonl' -print0 | sort -z | xargs -0 cat > "$dir/../$agent.all"
      find "$dir" -mindepth 1 -delete && mv "$dir/../$agent.all" "$dir/$agent.jsonl"
    done
  fi
fi
BYTES=$(du -sb "$DIR/claude-code" | cut -f1)
FILES=$(find "$DIR/claude-code" -name '*.jsonl' | wc -l)
echo "logs: $FILES files, $((BYTES / 1000000)) MB in $DIR/claude-code"
dirs=$(ls -d "$DIR"/claude-code/*/.claude | paste -sd,)
rate() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.0f MB/s", b / 1e6 / s }'; }
for format in json csv; do
  for run in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o /tmp/tokenaudit-bench-time \
      "$BIN" spend -q --usage "$DIR/claude-code" --by week --format "$format" > /dev/null
    read -r secs kb < /tmp/tokenaudit-bench-time
    echo "tokenaudit ($format) run $run: ${secs}s, $((kb / 1024)) MB peak, $(rate "$secs")"
  done
done
for run in $(seq "$RUNS"); do
  CLAUDE_CONFIG_DIR="$dirs" /usr/bin/time -f "%e %M" -o /tmp/tokenaudit-bench-time \
    "$CCUSAGE" daily --json --offline --timezone UTC > /dev/null
  read -r secs kb < /tmp/tokenaudit-bench-time
  echo "ccusage $("$CCUSAGE" --version | awk '{print $2}') run $run: ${secs}s, $((kb / 1024)) MB peak, $(rate "$secs")"
done
