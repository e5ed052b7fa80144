#!/usr/bin/env bash
# Regenerates every committed result from the checked-out code, then the
# figures that README.md and docs/ quote from them:
#   results/examples/<name>/   one sweep of experiments/<name>.toml each
#   results/examples/express-app/  an external sweep of examples/express-app
#                              (Express, Node.js: its run.sh installs it)
#   results/baseline/          the gate's baseline: a quick sweep (its
#                              thresholds.toml and ab.toml are kept)
#   results/baseline/instructions.toml   instruction counts (callgrind)
#   results/aa/                five quick sweeps of identical code (A/A)
#   results/examples/times.tsv how long each part took
# and last `authscale figures --update`. Every run records the commit it
# was measured at; the tree must be clean (commit first) so that it is
# the commit that ships, and stays clean until the last sweep: the new runs
# replace the committed ones only when every sweep is done (instruction
# counts, not a run, are written last). Run it on a quiet machine.
#
# Usage: scripts/examples.sh [--only NAME[,NAME...]] [--allow-dirty] [--list]
#   NAME: default, store-x3, all-modes, faults, durability, deadpool,
#         reach, express-app, baseline, aa, instructions
# Then: git add results README.md docs && git commit
set -euo pipefail
cd "$(dirname "$0")/.."

only=""
allow_dirty=0
list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      [ $# -ge 2 ] || { echo "examples.sh: --only needs NAME[,NAME...] (see --list)" >&2; exit 2; }
      only=$2; shift 2 ;;
    --allow-dirty) allow_dirty=1; shift ;;
    --list) list=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "examples.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# name, what it runs, the estimate in seconds when no earlier time is known
parts=(
  "default|sweep experiments/default.toml|110"
  "store-x3|sweep experiments/store-x3.toml|110"
  "all-modes|sweep experiments/all-modes.toml|400"
  "faults|sweep experiments/faults.toml|220"
  "durability|sweep experiments/durability.toml|170"
  "deadpool|sweep experiments/deadpool.toml|70"
  "reach|sweep experiments/reach.toml|150"
  "express-app|examples/express-app/run.sh|210"
  "baseline|sweep experiments/quick.toml|60"
  "aa|5 x sweep experiments/quick.toml|300"
  "instructions|scripts/gate-instructions.sh --write-baseline|120"
)
known=" "
for part in "${parts[@]}"; do known+="${part%%|*} "; done
if [ -n "$only" ]; then
  for name in ${only//,/ }; do
    [[ "$known" == *" $name "* ]] || { echo "examples.sh: unknown part '$name' (known:$known)" >&2; exit 2; }
  done
fi
chosen=()
for part in "${parts[@]}"; do
  name=${part%%|*}
  if [ -z "$only" ] || [[ ",$only," == *",$name,"* ]]; then chosen+=("$part"); fi
done

times=results/examples/times.tsv
# What each part took the last time it ran: "command<TAB>N s".
declare -A took
if [ -f "$times" ]; then
  while IFS=$'\t' read -r name command seconds; do
    [ "$name" = part ] || took[$name]="$command"$'\t'"$seconds"
  done <"$times"
fi
# The last measured time of a part, else its estimate.
estimate() {
  local last=${took[$1]:-}
  last=${last##*$'\t'}
  last=${last% s}
  echo "${last:-$2}"
}
total=0
for part in "${chosen[@]}"; do
  IFS='|' read -r name what fallback <<<"$part"
  total=$((total + $(estimate "$name" "$fallback")))
  [ "$list" = 1 ] && printf '%-13s %-48s ~%s s\n' "$name" "$what" "$(estimate "$name" "$fallback")"
done
[ "$list" = 1 ] && { echo "total ~$((total / 60)) min"; exit 0; }

if [ "$allow_dirty" = 0 ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "examples.sh: the checkout has uncommitted changes; commit them first (every run records its commit), or pass --allow-dirty" >&2
  exit 2
fi
scripts/setup.sh
cargo build --release --locked -p authscale-cli --quiet
bin=target/release/authscale
commit=$(git rev-parse --short=12 HEAD)
echo "examples.sh: ${#chosen[@]} parts at commit $commit, about $((total / 60)) min in all (from the last times, or estimates)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs one sweep into $work/NAME and prints its folder.
sweep() {
  local name=$1 config=$2
  "$bin" sweep --config "$config" --quiet --out "$work/$name" >&2
  ls -d "$work/$name"/*/
}

# Replaces folder $2's run files with those of run folder $1, keeping
# the files named in $3... (the gate's own settings). Called once every
# sweep is done: until then the checkout stays as committed.
replace_run() {
  local from=$1 to=$2
  shift 2
  mkdir -p "$to"
  for file in "$to"/*; do
    [ -e "$file" ] || continue
    local keep=0
    for kept in "$@"; do [ "$(basename "$file")" = "$kept" ] && keep=1; done
    [ "$keep" = 1 ] || rm -rf "$file"
  done
  cp -r "$from"/. "$to"/
}

# The new runs, in place of the committed ones (once every sweep is done).
replace=()
install_runs() {
  local pair from to
  for pair in "${replace[@]}"; do
    from=${pair%%|*}
    to=${pair#*|}
    case "$to" in
      results/baseline) replace_run "$from" "$to" thresholds.toml ab.toml instructions.toml ;;
      results/aa)
        find results/aa -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
        cp -r "$work"/aa?/*/ results/aa/
        ;;
      *) replace_run "$from" "$to" ;;
    esac
  done
  replace=()
}

started_all=$SECONDS
done_parts=0
for part in "${chosen[@]}"; do
  IFS='|' read -r name what fallback <<<"$part"
  done_parts=$((done_parts + 1))
  echo "== [$done_parts/${#chosen[@]}] $name: $what (~$(estimate "$name" "$fallback") s; $((SECONDS - started_all)) s so far)"
  started=$SECONDS
  case "$name" in
    baseline)
      run=$(sweep baseline experiments/quick.toml)
      replace+=("$run|results/baseline")
      ;;
    aa)
      for i in 1 2 3 4 5; do
        echo "   A/A run $i of 5"
        run=$(sweep "aa$i" experiments/quick.toml)
      done
      replace+=("aa|results/aa")
      ;;
    express-app)
      examples/express-app/run.sh --out "$work/express-app" >&2
      replace+=("$(ls -d "$work/express-app"/*/)|results/examples/express-app")
      ;;
    instructions)
      install_runs
      scripts/gate-instructions.sh --write-baseline
      ;;
    *)
      run=$(sweep "$name" "experiments/$name.toml")
      replace+=("$run|results/examples/$name")
      ;;
  esac
  took[$name]="\`${what/sweep /authscale sweep --config }\`"$'\t'"$((SECONDS - started)) s"
done
install_runs
{
  printf 'part\tcommand\twall time\n'
  for part in "${parts[@]}"; do
    name=${part%%|*}
    if [ -n "${took[$name]:-}" ]; then printf '%s\t%s\n' "$name" "${took[$name]}"; fi
  done
} >"$times"
echo "== figures in README.md and docs/ from the new results"
"$bin" figures --update
echo "examples.sh: done in $(((SECONDS - started_all) / 60)) min $(((SECONDS - started_all) % 60)) s at commit $commit; now: git add results README.md docs && git commit"
