#!/usr/bin/env bash
# The robustness matrix of README "What the detector can and cannot see": for every world of
# `tokenaudit generate --world`, 20 honest companies (seeds 301-320, 60 agents, 8 weeks at 200
# requests a week) and 6 planted ones (seeds 1-6, 60 agents, 12 weeks at 400), each scored by
# `tokenaudit eval`. Prints one line per world: honest seeds without a medium or high finding,
# agents accused at medium or high, planted precision and recall, and the planted medium or
# high findings that are on inflators. The same companies as tests/cli/worlds.rs, through the
# command line. With NO_MAP=1, each company is audited without its identity map (a new user's
# first run: no teams, no kinds, README "Without an identity map").
#
#   [NO_MAP=1] benches/worlds.sh [path/to/tokenaudit] [world ...]
set -euo pipefail
BIN="${1:-target/release/tokenaudit}"
shift || true
WORLDS=("$@")
if [ ${#WORLDS[@]} -eq 0 ]; then
  WORLDS=(default session-labels no-sessions hourly global-time-zones diverse-elasticity power-users ci-accounts review-heavy squads shared-repos squads,shared-repos all model-prices model-prices,model-migration model-migration holiday-week output-lag holiday-week,output-lag)
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

score() { # world seed weeks requests_per_week inflators(yes|no)
  local world=$1 seed=$2 weeks=$3 rate=$4 inflators=$5 dir="$WORK/$1-$2"
  local args=(--agents 60 --weeks "$weeks" --seed "$seed" --requests-per-week "$rate" --out "$dir" -q)
  [ "$world" != default ] && args+=(--world "$world")
  [ "$inflators" = no ] && args+=(--no-inflators)
  "$BIN" generate "${args[@]}"
  [ "${NO_MAP:-}" = 1 ] && rm "$dir/identities.csv"
  "$BIN" eval "$dir" --json -q
  rm -rf "$dir"
}

for world in "${WORLDS[@]}"; do
  clean=0 accused=0 flagged=0 found=0 inflators=0 serious=0 serious_found=0
  for seed in $(seq 301 320); do
    n=$(score "$world" "$seed" 8 200 no | python3 -c 'import json,sys; print(sum(s != "low" for s in json.load(sys.stdin)["severities"]))')
    accused=$((accused + n))
    [ "$n" -eq 0 ] && clean=$((clean + 1))
  done
  for seed in $(seq 1 6); do
    read -r f t i s st < <(score "$world" "$seed" 12 400 yes | python3 -c 'import json,sys; e=json.load(sys.stdin); print(e["flagged"], e["true_positives"], e["inflators"], e["serious_flagged"], e["serious_true_positives"])')
    flagged=$((flagged + f)) found=$((found + t)) inflators=$((inflators + i))
    serious=$((serious + s)) serious_found=$((serious_found + st))
  done
  python3 -c "
w, c, a, f, t, i, s, st = '$world', $clean, $accused, $flagged, $found, $inflators, $serious, $serious_found
print(f'{w:20} honest seeds clean {c}/20, agents accused (medium/high) {a} of 1200; planted precision {t/max(f,1):.2f} ({t}/{f}), recall {t/i:.2f} ({t}/{i}), medium or high on inflators {st}/{s}')"
done
