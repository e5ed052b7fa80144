#!/usr/bin/env bash
# The deterministic layer of the performance gate: instructions per
# hot-path operation under callgrind against results/baseline/instructions.toml.
# Exit 0 pass, 1 a count grew past the bound, 2 cannot judge (another
# toolchain, an operation added or removed, valgrind missing).
#
#   scripts/gate-instructions.sh                    # judge, default bound +3%
#   scripts/gate-instructions.sh --bound 5          # another bound
#   scripts/gate-instructions.sh --write-baseline   # re-baseline (commit the file with the reason)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -qq valgrind >/dev/null
    else
        echo "gate-instructions: valgrind is needed (Debian/Ubuntu: sudo apt-get install valgrind)" >&2
        exit 2
    fi
fi

# Two builds, not one: built together, the CLI's and the benchmarks'
# dependencies would unify their features, and the measured program would
# differ from the one the baseline was counted on (and from gate.sh's CLI).
cargo build --release --locked --quiet -p authscale-bench --example icount
cargo build --release --locked --quiet -p authscale-cli
exec target/release/authscale gate-instructions "$@"
