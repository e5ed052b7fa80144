#!/usr/bin/env bash
# Every experiment file runs to completion: each file in experiments/ in
# its short form (`authscale sweep --smoke`: every mode, N, fault kind and
# persistence it names, with short slices, steps and fault runs), and each
# run's run.json must say `status: complete`. CI runs this (scripts/test.sh);
# about a minute on 2 cores, two experiments at a time. The figures of a
# smoke run are not measurements.
# Usage: scripts/smoke.sh [EXPERIMENT.toml ...]    (default: experiments/*.toml)
# Environment: AUTHSCALE_BIN=PATH runs that binary instead of building one;
# SMOKE_JOBS=N runs N experiments at a time (default 2; 1: one after another).
set -uo pipefail
# Paths given are the caller's: made absolute before moving to the root.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
files=()
for file in "$@"; do files+=("$(absolute "$file")"); done
[ -z "${AUTHSCALE_BIN:-}" ] || AUTHSCALE_BIN=$(absolute "$AUTHSCALE_BIN")
cd "$(dirname "$0")/.."

if [ -n "${AUTHSCALE_BIN:-}" ]; then
  bin=$AUTHSCALE_BIN
else
  scripts/setup.sh || exit 2
  cargo build --release --locked -p authscale-cli --quiet || exit 2
  bin=target/release/authscale
fi
[ ${#files[@]} -gt 0 ] || files=(experiments/*.toml)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One experiment's short run (the $2-th file given); its verdict goes to
# $out/N-NAME.verdict, and the exit status says whether it completed.
smoke_one() {
  local file=$1 started=$SECONDS
  local dir="$out/$2-$(basename "$file" .toml)"
  "$bin" sweep --config "$file" --smoke --quiet --out "$dir" >"$dir.log" 2>&1
  local code=$?
  local run status
  run=$(ls -d "$dir"/*/run.json 2>/dev/null | head -1)
  status=$(sed -n 's/^  "status": "\(.*\)",$/\1/p' "$run" 2>/dev/null | head -1)
  if [ "$code" = 0 ] && [ "$status" = complete ]; then
    echo "smoke: $file complete ($((SECONDS - started)) s)" >"$dir.verdict"
    return 0
  fi
  {
    echo "smoke: $file FAILED: exit $code, status '${status:-no run.json}' ($((SECONDS - started)) s)"
    sed 's/^/  | /' "$dir.log" | tail -20
    local kept
    kept=$(mktemp -d /tmp/authscale-smoke-failed.XXXXXX)
    cp -r "$dir" "$dir.log" "$kept"/ 2>/dev/null
    echo "  (its results and log are kept in $kept)"
  } >"$dir.verdict"
  return 1
}

# Two at a time by default (SMOKE_JOBS): a short run spends most of its
# time waiting on its slices and fault timers, and every run has its own
# ports, cgroups and store, so two share the machine without meeting.
jobs=${SMOKE_JOBS:-2}
if ! [[ $jobs =~ ^[0-9]{1,3}$ ]] || ((10#$jobs < 1)); then
  echo "smoke: SMOKE_JOBS must be a whole number from 1 to 999, not '$jobs'" >&2
  exit 2
fi
jobs=$((10#$jobs))
pids=()
# Stopped from outside: each running sweep is asked to stop (it stops what
# it started), and the script waits for them before it removes $out.
stop() {
  trap - INT TERM
  for pid in "${pids[@]}"; do pkill -TERM -P "$pid" 2>/dev/null; done
  wait
  echo "smoke: stopped before every experiment ran" >&2
  exit 130
}
trap stop INT TERM
for i in "${!files[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  smoke_one "${files[$i]}" "$i" &
  pids+=($!)
done
failed=()
for i in "${!files[@]}"; do
  wait "${pids[$i]}" || failed+=("${files[$i]}")
  cat "$out/$i-$(basename "${files[$i]}" .toml).verdict"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "smoke: ${#failed[@]} of ${#files[@]} experiments did not complete: ${failed[*]}"
  exit 1
fi
echo "smoke: all ${#files[@]} experiments complete"
